build-tsan/obj/gateway/eio.o: gateway/eio.c gateway/eio.h \
 gateway/eio_codec.h gateway/eio_cors.h gateway/fastcgi.h gateway/http.h \
 gateway/tlist.h gateway/proxy.h gateway/util.h gateway/ws.h
gateway/eio.h:
gateway/eio_codec.h:
gateway/eio_cors.h:
gateway/fastcgi.h:
gateway/http.h:
gateway/tlist.h:
gateway/proxy.h:
gateway/util.h:
gateway/ws.h:
