build-tsan/obj/gateway/util.o: gateway/util.c gateway/util.h
gateway/util.h:
