# iogate — build, test and run.  `make run` and `make test` set up what is
# missing (scripts/setup.sh), build, then run or test.  See INSTALL.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=
VERSION  := 0.1.0

# A sanitizer build lives in its own directory so it never mixes objects.
BUILD    ?= build$(if $(SANITIZE),-san)

CPPFLAGS += -I. -Igateway -Iipc -Iworkers/c -DIOGATE_VERSION='"$(VERSION)"' -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fPIC
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

GW_LIBS     := -lev -lhttp_parser -lwslay -lfcgi $(shell pkg-config --libs libzmq jansson libcrypto 2>/dev/null || echo -lzmq -ljansson -lcrypto) -lm
WORKER_LIBS := $(shell pkg-config --libs libzmq jansson 2>/dev/null || echo -lzmq -ljansson) -lcrypto
TEST_LIBS   := -lcmocka

IPC_SRC     := $(wildcard ipc/*.c)
GW_SRC      := $(filter-out gateway/main.c,$(wildcard gateway/*.c))
WORKER_SRC  := $(wildcard workers/c/*.c)
EXAMPLES    := $(notdir $(patsubst %/,%,$(dir $(wildcard examples/*/*.c))))
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
TOOL_SRC    := $(wildcard tools/*.c)

IPC_OBJ     := $(IPC_SRC:%.c=$(BUILD)/obj/%.o)
GW_OBJ      := $(GW_SRC:%.c=$(BUILD)/obj/%.o)
WORKER_OBJ  := $(WORKER_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
EXAMPLE_BIN := $(EXAMPLES:%=$(BUILD)/examples/%)
TOOL_BIN    := $(TOOL_SRC:tools/%.c=$(BUILD)/%)

.PHONY: all setup run test unit e2e clean install fuzz format
all: $(BUILD)/iogate $(BUILD)/libiogate-worker.a $(EXAMPLE_BIN) $(UNIT_BIN) $(TOOL_BIN) $(BUILD)/iogate-worker.pc

setup:
	@bash scripts/setup.sh

run: setup
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/iogate --listen 127.0.0.1:3000 --static examples/chat/public --client-js node_modules/socket.io-client/dist/socket.io.js \
	  --worker "/=$(BUILD)/examples/chat"

test: setup
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tests/run.sh

unit: all
	@BUILD=$(BUILD) ONLY=unit bash tests/run.sh

e2e: all
	@BUILD=$(BUILD) ONLY=e2e bash tests/run.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# Everything the gateway is made of except main(): tests and fuzzers link it.
$(BUILD)/libiogate.a: $(GW_OBJ) $(IPC_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/libiogate-worker.a: $(WORKER_OBJ) $(IPC_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/iogate: $(BUILD)/obj/gateway/main.o $(BUILD)/libiogate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(GW_LIBS)

$(BUILD)/examples/%: $(BUILD)/libiogate-worker.a FORCE_EXAMPLE
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(wildcard examples/$*/*.c) $(BUILD)/libiogate-worker.a $(WORKER_LIBS)
.PHONY: FORCE_EXAMPLE
FORCE_EXAMPLE:

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libiogate.a $(BUILD)/libiogate-worker.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(WORKER_OBJ) $(BUILD)/libiogate.a $(GW_LIBS) $(TEST_LIBS)

$(BUILD)/%: tools/%.c $(BUILD)/libiogate.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libiogate.a $(GW_LIBS)

$(BUILD)/iogate-worker.pc: Makefile
	@mkdir -p $(dir $@)
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: iogate-worker\nDescription: C worker library for the iogate Socket.IO gateway\nVersion: %s\nRequires.private: libzmq jansson\nLibs: -L$${libdir} -liogate-worker\nLibs.private: -lcrypto\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)' > $@

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/iogate $(DESTDIR)$(PREFIX)/bin/iogate
	install -m 644 $(BUILD)/libiogate-worker.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 workers/c/iogate_worker.h ipc/ipc.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/iogate-worker.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

format:
	clang-format -i gateway/*.[ch] ipc/*.[ch] workers/c/*.[ch] examples/*/*.c tests/unit/*.c

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The benchmark: iogate-bench (tools/bench/, a load generator linked with the
# gateway library for its utilities) and `make bench` / `make bench-smoke`
# (bench/run.sh: our gateway + bench worker vs the Node.js reference server).
BENCH_SRC := $(wildcard tools/bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
.PHONY: bench bench-smoke install-bench
all: $(BUILD)/iogate-bench
install: install-bench

$(BUILD)/iogate-bench: $(BENCH_OBJ) $(BUILD)/libiogate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(GW_LIBS)

install-bench: $(BUILD)/iogate-bench
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/iogate-bench $(DESTDIR)$(PREFIX)/bin/iogate-bench

bench: setup
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash bench/run.sh

bench-smoke: setup
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash bench/run.sh --smoke
