# iogate — build, test and run.  `make run` and `make test` set up what is
# missing (scripts/setup.sh), build, then run or test.  See INSTALL.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=
VERSION  := 0.1.0

# A sanitizer build lives in its own directory so it never mixes objects.
BUILD    ?= build$(if $(SANITIZE),-san)

# The gateway's layers are folders (README "Reading the source"); headers are
# included by name, and tests/layers.sh checks no include points up a layer.
GW_LAYERS   := base transport engineio workers cluster socketio
CPPFLAGS += -I. -Igateway $(GW_LAYERS:%=-Igateway/%) -Iipc -Iworkers/c -DIOGATE_VERSION='"$(VERSION)"' -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fPIC
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

GW_LIBS     := -pthread -lev -lhttp_parser -lwslay -lfcgi -lpcre2-8 $(shell pkg-config --libs libzmq jansson libssl libcrypto hiredis msgpack 2>/dev/null || echo -lzmq -ljansson -lssl -lcrypto -lhiredis -lmsgpackc) -lm
WORKER_LIBS := $(shell pkg-config --libs libzmq jansson 2>/dev/null || echo -lzmq -ljansson) -lcrypto
TEST_LIBS   := -lcmocka

IPC_SRC     := $(wildcard ipc/*.c)
GW_SRC      := $(filter-out gateway/main.c,$(wildcard gateway/*.c $(GW_LAYERS:%=gateway/%/*.c)))
WORKER_SRC  := $(wildcard workers/c/*.c)
EXAMPLES    := $(notdir $(patsubst %/,%,$(dir $(wildcard examples/*/*.c))))
UNIT_SRC    := $(sort $(shell find tests/unit -name 'test_*.c'))
TOOL_SRC    := $(wildcard tools/*.c)

IPC_OBJ     := $(IPC_SRC:%.c=$(BUILD)/obj/%.o)
GW_OBJ      := $(GW_SRC:%.c=$(BUILD)/obj/%.o)
WORKER_OBJ  := $(WORKER_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN    := $(addprefix $(BUILD)/tests/,$(basename $(notdir $(UNIT_SRC))))
EXAMPLE_BIN := $(EXAMPLES:%=$(BUILD)/examples/%)
TOOL_BIN    := $(TOOL_SRC:tools/%.c=$(BUILD)/%)

.PHONY: all setup run test test-valgrind unit e2e clean install fuzz format
all: $(BUILD)/iogate $(BUILD)/libiogate-worker.a $(EXAMPLE_BIN) $(UNIT_BIN) $(TOOL_BIN) $(BUILD)/iogate-worker.pc

setup:
	@bash scripts/setup.sh

# make run HOST=0.0.0.0 PORT=8080 moves the chat elsewhere.
HOST ?= 127.0.0.1
PORT ?= 3000
run: setup
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/iogate --listen $(HOST):$(PORT) --static examples/chat/public --client-js node_modules/socket.io-client/dist/ \
	  --worker "/=$(BUILD)/examples/chat"

# With CI=true in the environment (CI sets it) and no SANITIZE given,
# `make test` runs the whole suite twice: the ordinary build, then the
# ASan/UBSan build; the closing line sums both passes (.ci/run is `make test`).
CI_SANITIZE ?= address,undefined
TEST_ALSO   := $(if $(and $(filter true,$(CI)),$(if $(SANITIZE),,yes)),build-san)

test: setup
	@$(MAKE) --no-print-directory all
	$(if $(TEST_ALSO),@$(MAKE) --no-print-directory all SANITIZE=$(CI_SANITIZE))
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) ALSO_BUILDS="$(TEST_ALSO)" ALSO_SANITIZE=$(CI_SANITIZE) bash tests/run.sh

# The end-to-end suite with the gateway under valgrind memcheck: any error
# or definite leak fails (slow: not part of `make test`).
VALGRIND ?= valgrind --quiet --error-exitcode=99 --max-threads=5000 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
test-valgrind: setup
	@$(MAKE) --no-print-directory all
	@IOGATE_WRAPPER="$(VALGRIND)" BUILD=$(BUILD) ONLY=e2e bash tests/run.sh

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

.SECONDEXPANSION:
$(BUILD)/examples/%: $(BUILD)/libiogate-worker.a $$(wildcard examples/$$*/*.c) workers/c/iogate_worker.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(wildcard examples/$*/*.c) $(BUILD)/libiogate-worker.a $(WORKER_LIBS)

# Unit tests mirror the source tree (tests/unit/gateway/transport/test_http.c
# tests gateway/transport/http.c); their binaries sit side by side in $(BUILD)/tests.
define unit_rule
$(BUILD)/tests/$(basename $(notdir $(1))): $(1) $(BUILD)/libiogate.a $(BUILD)/libiogate-worker.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(LDFLAGS) -MMD -MP -o $$@ $$< $$(WORKER_OBJ) $$(BUILD)/libiogate.a $$(GW_LIBS) $$(TEST_LIBS)
endef
$(foreach s,$(UNIT_SRC),$(eval $(call unit_rule,$(s))))

$(BUILD)/%: tools/%.c $(BUILD)/libiogate.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libiogate.a $(GW_LIBS)

# Relocatable: pkg-config sets pcfiledir to the directory the .pc file is
# found in ($(PREFIX)/lib/pkgconfig), so the prefix is wherever it was
# installed (make install PREFIX=…, DESTDIR, or a copied tree).
$(BUILD)/iogate-worker.pc: Makefile
	@mkdir -p $(dir $@)
	@printf 'prefix=$${pcfiledir}/../..\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: iogate-worker\nDescription: C worker library for the iogate Socket.IO gateway\nVersion: %s\nRequires: libzmq jansson libcrypto\nLibs: -L$${libdir} -liogate-worker\nCflags: -I$${includedir}\n' '$(VERSION)' > $@

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/iogate $(DESTDIR)$(PREFIX)/bin/iogate
	install -m 755 $(BUILD)/iogate-keygen $(DESTDIR)$(PREFIX)/bin/iogate-keygen
	install -m 644 $(BUILD)/libiogate-worker.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 workers/c/iogate_worker.h ipc/ipc.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/iogate-worker.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

# Both cover every C file of the repository (scripts/check_format.sh --list):
# `make format` rewrites them as .clang-format says, `make format-check`
# lists the files it would change and fails if there is one.
.PHONY: format-check
format:
	@bash scripts/check_format.sh --fix

format-check:
	@bash scripts/check_format.sh

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)

# ---- Fuzzing (fuzz/README.md) ---------------------------------------------
# Every fuzz/fuzz_<name>.c is one libFuzzer driver for one parser a peer can
# reach; its seeds are fuzz/corpus/<name>/, its dictionary fuzz/<name>.dict,
# and the crashers it found, fixed, fuzz/regressions/<name>/.
#  - `make fuzz FUZZ_SECONDS=N` builds each with clang -fsanitize=fuzzer,
#    address,undefined (library sources compiled by clang, not the gcc .a)
#    and runs each for N seconds; new inputs go to build/libfuzzer/corpus/,
#    crashes to build/libfuzzer/artifacts/<name>/.
#  - the replay tier: each driver is also linked with fuzz/replay_main.c
#    against $(BUILD)/libiogate.a (and the worker library, for fuzz_worker)
#    into $(BUILD)/fuzz/<name>; tests/run.sh
#    runs it over its corpus and regressions (ONLY=fuzz).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_BUILD   := build/libfuzzer
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(GW_SRC) $(IPC_SRC) $(WORKER_SRC))
FUZZ_REPLAY  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

.PHONY: fuzz-build
all: $(FUZZ_REPLAY)

$(BUILD)/fuzz/%: fuzz/fuzz_%.c fuzz/replay_main.c $(BUILD)/libiogate.a $(BUILD)/libiogate-worker.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -DFUZZ_REPLAY -o $@ $< fuzz/replay_main.c $(BUILD)/libiogate.a $(BUILD)/libiogate-worker.a $(GW_LIBS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libiogate-fuzz.a: $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/%: fuzz/fuzz_%.c $(FUZZ_BUILD)/libiogate-fuzz.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libiogate-fuzz.a $(GW_LIBS)

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)

fuzz: fuzz-build
	@status=0; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/artifacts/$$n fuzz/corpus/$$n; \
	  dict=; [ -f fuzz/$$n.dict ] && dict=-dict=fuzz/$$n.dict; \
	  echo "== fuzz $$n for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_BUILD)/$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 $$dict \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n/ $(FUZZ_ARGS) \
	    $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n > $(FUZZ_BUILD)/$$n.log 2>&1 \
	    || { status=1; echo "!! $$n FAILED: see $(FUZZ_BUILD)/$$n.log and $(FUZZ_BUILD)/artifacts/$$n/"; }; \
	  grep -E '^stat::number_of_executed_units|^Done ' $(FUZZ_BUILD)/$$n.log | sed "s/^/   $$n: /"; \
	done; exit $$status

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

# The benchmark: iogate-bench (tools/bench/, a load generator linked with the
# gateway library for its utilities) and `make bench` / `make bench-smoke`
# (bench/run.sh: our gateway + bench worker vs the Node.js reference server).
# iogate-zmq-floor (tools/bench/zmq_floor.c, with the histogram of stats.c)
# is ZeroMQ alone, ROUTER ⇄ DEALER: the floor rows of `make bench`.
BENCH_SRC := $(filter-out tools/bench/zmq_floor.c,$(wildcard tools/bench/*.c))
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
.PHONY: bench bench-smoke install-bench
all: $(BUILD)/iogate-bench $(BUILD)/iogate-zmq-floor
install: install-bench

$(BUILD)/iogate-bench: $(BENCH_OBJ) $(BUILD)/libiogate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(GW_LIBS)

$(BUILD)/iogate-zmq-floor: $(BUILD)/obj/tools/bench/zmq_floor.o $(BUILD)/obj/tools/bench/stats.o
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
