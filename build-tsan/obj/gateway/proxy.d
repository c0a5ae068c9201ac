build-tsan/obj/gateway/proxy.o: gateway/proxy.c gateway/proxy.h \
 gateway/eio.h
gateway/proxy.h:
gateway/eio.h:
