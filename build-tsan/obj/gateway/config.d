build-tsan/obj/gateway/config.o: gateway/config.c gateway/config.h \
 gateway/eio.h gateway/proxy.h gateway/util.h
gateway/config.h:
gateway/eio.h:
gateway/proxy.h:
gateway/util.h:
