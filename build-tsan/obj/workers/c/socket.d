build-tsan/obj/workers/c/socket.o: workers/c/socket.c \
 workers/c/worker_int.h workers/c/iogate_worker.h ipc/ipc.h
workers/c/worker_int.h:
workers/c/iogate_worker.h:
ipc/ipc.h:
