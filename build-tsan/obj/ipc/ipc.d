build-tsan/obj/ipc/ipc.o: ipc/ipc.c ipc/ipc.h
ipc/ipc.h:
