build-tsan/obj/gateway/ws.o: gateway/ws.c gateway/ws.h gateway/http.h \
 gateway/eio.h gateway/tlist.h gateway/eio_codec.h gateway/util.h
gateway/ws.h:
gateway/http.h:
gateway/eio.h:
gateway/tlist.h:
gateway/eio_codec.h:
gateway/util.h:
