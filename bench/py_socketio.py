#!/usr/bin/python3
"""py_socketio.py — the python-socketio 5 server the Python rows of
`make bench` compare iogate + workers/python with (server "pysocketio"):
Debian's python3-socketio on python3-aiohttp (Engine.IO v4, WebSocket and
polling), one process, the `echo` handler of bench/py_iogate.py:

  "echo" (args...)   emit "echo" (args...) back; ack (args...) if asked

Usage: /usr/bin/python3 bench/py_socketio.py PORT [HOST]
Defaults otherwise: no logging, 25 s pings, path /socket.io/.
"""
import importlib.metadata
import sys

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)


@sio.on("echo")
async def echo(sid, *args):
    await sio.emit("echo", args, to=sid)
    return args  # the ack, when the client asked for one


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    app = web.Application()
    sio.attach(app)
    sys.stderr.write("py_socketio: python-socketio %s on %s:%d\n"
                     % (importlib.metadata.version("python-socketio"), host, port))
    # handle_signals: SIGTERM (what bench/run.sh sends) and SIGINT stop it;
    # open WebSockets are not waited for long
    web.run_app(app, host=host, port=port, print=None, handle_signals=True, shutdown_timeout=0.5)


if __name__ == "__main__":
    main()
