build-tsan/obj/ipc/ipc_placeholders.o: ipc/ipc_placeholders.c ipc/ipc.h
ipc/ipc.h:
