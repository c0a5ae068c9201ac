build-tsan/obj/workers/c/binary.o: workers/c/binary.c \
 workers/c/worker_int.h workers/c/iogate_worker.h ipc/ipc.h
workers/c/worker_int.h:
workers/c/iogate_worker.h:
ipc/ipc.h:
