build-tsan/obj/workers/c/worker.o: workers/c/worker.c \
 workers/c/worker_int.h workers/c/iogate_worker.h ipc/ipc.h
workers/c/worker_int.h:
workers/c/iogate_worker.h:
ipc/ipc.h:
