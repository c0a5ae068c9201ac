build-tsan/obj/ipc/ipc_zmq.o: ipc/ipc_zmq.c ipc/ipc.h
ipc/ipc.h:
