build-tsan/obj/gateway/eio_codec.o: gateway/eio_codec.c \
 gateway/eio_codec.h gateway/eio.h gateway/util.h
gateway/eio_codec.h:
gateway/eio.h:
gateway/util.h:
