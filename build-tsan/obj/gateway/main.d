build-tsan/obj/gateway/main.o: gateway/main.c gateway/config.h \
 gateway/eio.h gateway/echo.h gateway/gw_app.h gateway/util.h
gateway/config.h:
gateway/eio.h:
gateway/echo.h:
gateway/gw_app.h:
gateway/util.h:
