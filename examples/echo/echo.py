#!/usr/bin/python3
"""echo.py — the echo worker in Python: serves the namespace named by
IOGATE_NAMESPACE at the gateway named by IOGATE_ENDPOINT (both set by a
gateway that spawns it) and echoes what clients send.  It behaves exactly
like examples/echo/echo.c, so the end-to-end suites can drive either
(IOGATE_ECHO="/usr/bin/python3 examples/echo/echo.py"):

  connection              emit "auth" with the handshake's auth object
                          (not for a recovered socket: the client never left)
  "message" (args...)     emit "message-back" with the same args (binary too);
                          ack with them too when asked
  "message-with-ack"      ack with the same args
  "join" (room)           join, ack with the socket's rooms
  "leave" (room)          leave, ack with the socket's rooms
  "to-room" (room, a...)  broadcast "room-message" (a...) to room, not sender;
                          ack with whether it was sent
  "disconnect-me" (close) socket.disconnect(close)
  "fetch"                 ack with [{id, rooms, data}...] of every socket
  "set-data" (obj)        set the socket's data, ack with it
  "emit-with-ack" (ms)    emit "ping-back" ("ping") asking an ack within ms;
                          ack with the client's ack arguments, or with the
                          error message ("operation has timed out")
  "pid"                   ack with the worker's pid
  "handshake"             ack with the socket's handshake object
  "sleep" (ms)            block the worker for ms, then ack
  "emit-reserved"         try to emit each reserved event name; emit
                          "reserved-refused" with how many were refused
  middleware              refuse auth {"refuse":true}: "refused", {"reason":"auth"}
  socket middleware       event "forbidden" fails with "forbidden event"
  error                   emit "error-seen" with the error message
  disconnecting/disconnect  log "disconnect <id> <reason> rooms=<r1,r2>"
                            (the rooms seen at disconnecting) to stderr
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "workers", "python"))

from iogate import RESERVED_EVENTS, ConnectError, Worker, setup_logging  # noqa: E402


def main():
    setup_logging()  # the shared format, level from IOGATE_WORKER_LOG (default info)
    try:
        worker = Worker()
    except ValueError as e:
        print("echo: %s" % e, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())

    @worker.use
    def refuse(socket, next):
        if socket.handshake["auth"].get("refuse") is True:
            next(ConnectError("refused", {"reason": "auth"}))
        else:
            next()

    @worker.on_connection
    def connection(socket):
        @socket.use
        def forbid(socket, packet, next):
            if packet[0] == "forbidden":
                next(ConnectError("forbidden event"))
            else:
                next()

        @socket.on("error")
        def on_error(err):
            socket.emit("error-seen", getattr(err, "message", None) or str(err))

        @socket.on("message")
        def message(*args, ack=None):
            socket.emit("message-back", *args)
            if ack:
                ack(*args)

        @socket.on("message-with-ack")
        def message_with_ack(*args, ack=None):
            if ack:
                ack(*args)

        @socket.on("join")
        def join(*args, ack=None):
            if args and isinstance(args[0], str):
                socket.join(args[0])
            if ack:
                ack(list(socket.rooms))

        @socket.on("leave")
        def leave(*args, ack=None):
            if args and isinstance(args[0], str):
                socket.leave(args[0])
            if ack:
                ack(list(socket.rooms))

        @socket.on("to-room")
        def to_room(*args, ack=None):
            if not args or not isinstance(args[0], str):
                return
            ok = socket.to(args[0]).emit("room-message", *args[1:])
            if ack:
                ack(bool(ok))

        @socket.on("disconnect-me")
        def disconnect_me(*args, ack=None):
            socket.disconnect(bool(args) and args[0] is True)

        @socket.on("fetch")
        def fetch(*args, ack=None):
            if ack:
                ack([{"id": s["id"], "rooms": s["rooms"], "data": s["data"]} for s in worker.fetch_sockets()])

        @socket.on("set-data")
        def set_data(*args, ack=None):
            socket.data = args[0] if args else None
            if ack:
                ack(socket.data)

        @socket.on("emit-with-ack")
        def emit_with_ack(*args, ack=None):
            t = args[0] if args else None
            ms = int(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 1000

            def done(err, *reply):
                if not ack:
                    return
                if err:
                    ack(str(err))
                else:
                    ack(*reply)

            if not socket.emit_with_ack("ping-back", "ping", callback=done, timeout=ms) and ack:
                ack("socket is not connected")

        @socket.on("pid")
        def pid(*args, ack=None):
            if ack:
                ack(os.getpid())

        @socket.on("handshake")
        def handshake(*args, ack=None):
            if ack:
                ack(socket.handshake)

        @socket.on("sleep")
        def sleep_(*args, ack=None):
            ms = args[0] if args and isinstance(args[0], int) else 0
            if 0 < ms < 60000:
                time.sleep(ms / 1000.0)
            if ack:
                ack()

        @socket.on("emit-reserved")
        def emit_reserved(*args, ack=None):
            refused = 0
            for name in sorted(RESERVED_EVENTS):
                try:
                    socket.emit(name, "x")
                except ValueError:
                    refused += 1
            socket.emit("reserved-refused", refused)
            if ack:
                ack(refused)

        @socket.on("disconnecting")
        def disconnecting(reason):
            socket.rooms_at_disconnecting = ",".join(socket.rooms)

        @socket.on("disconnect")
        def disconnect(reason):
            rooms = getattr(socket, "rooms_at_disconnecting", "")
            sys.stderr.write("disconnect %s %s rooms=%s\n" % (socket.id, reason, rooms))
            sys.stderr.flush()

        # A recovered socket (its worker restarted, PROTOCOL.md rule 16) is
        # one the client never saw leave: no second greeting.
        if not socket.recovered:
            socket.emit("auth", socket.handshake["auth"])

    worker.run()
    worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
