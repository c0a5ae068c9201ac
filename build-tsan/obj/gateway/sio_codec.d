build-tsan/obj/gateway/sio_codec.o: gateway/sio_codec.c \
 gateway/sio_codec.h ipc/ipc.h
gateway/sio_codec.h:
ipc/ipc.h:
