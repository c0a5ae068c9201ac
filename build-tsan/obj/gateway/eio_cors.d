build-tsan/obj/gateway/eio_cors.o: gateway/eio_cors.c gateway/eio_cors.h \
 gateway/eio.h
gateway/eio_cors.h:
gateway/eio.h:
