build-tsan/obj/gateway/fastcgi.o: gateway/fastcgi.c gateway/fastcgi.h \
 gateway/http.h gateway/eio.h gateway/tlist.h gateway/util.h
gateway/fastcgi.h:
gateway/http.h:
gateway/eio.h:
gateway/tlist.h:
gateway/util.h:
