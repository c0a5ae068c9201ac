build-tsan/obj/workers/c/common.o: workers/c/common.c \
 workers/c/worker_int.h workers/c/iogate_worker.h ipc/ipc.h
workers/c/worker_int.h:
workers/c/iogate_worker.h:
ipc/ipc.h:
