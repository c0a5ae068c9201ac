build-tsan/obj/gateway/sio.o: gateway/sio.c gateway/app.h gateway/eio.h \
 ipc/ipc.h gateway/sio_codec.h gateway/gw_app.h gateway/util.h
gateway/app.h:
gateway/eio.h:
ipc/ipc.h:
gateway/sio_codec.h:
gateway/gw_app.h:
gateway/util.h:
