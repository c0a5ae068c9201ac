build-tsan/obj/gateway/http_util.o: gateway/http_util.c gateway/http.h \
 gateway/eio.h gateway/tlist.h gateway/util.h
gateway/http.h:
gateway/eio.h:
gateway/tlist.h:
gateway/util.h:
