build-tsan/obj/gateway/echo.o: gateway/echo.c gateway/echo.h \
 gateway/eio.h gateway/util.h
gateway/echo.h:
gateway/eio.h:
gateway/util.h:
