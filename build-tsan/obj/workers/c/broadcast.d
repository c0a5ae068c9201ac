build-tsan/obj/workers/c/broadcast.o: workers/c/broadcast.c \
 workers/c/worker_int.h workers/c/iogate_worker.h ipc/ipc.h
workers/c/worker_int.h:
workers/c/iogate_worker.h:
ipc/ipc.h:
