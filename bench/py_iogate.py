#!/usr/bin/python3
"""py_iogate.py — the Python worker `make bench` runs behind the gateway for
the Python rows (server "pyiogate"): the `echo` handler of
bench/py_socketio.py, the python-socketio server it is compared with,
written the same way on workers/python's python-socketio API.  Spawned by
the gateway, which sets IOGATE_ENDPOINT and IOGATE_NAMESPACE:

  build/iogate --worker "/=/usr/bin/python3 bench/py_iogate.py"

  "echo" (args...)   emit "echo" (args...) back; ack (args...) if asked

The synchronous Worker by default (what a Python user of iogate writes
first); --async serves with AsyncWorker and an `async def` handler, the
very text of the python-socketio one, for comparing the two.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "workers", "python"))

from iogate import AsyncWorker, Worker  # noqa: E402


def main_sync():
    sio = Worker()

    @sio.on("echo")
    def echo(sid, *args):
        sio.emit("echo", args, to=sid)
        return args  # the ack, when the client asked for one

    signal.signal(signal.SIGTERM, lambda *_: sio.stop())
    signal.signal(signal.SIGINT, lambda *_: sio.stop())
    sio.run()
    sio.close()


def main_async():
    import asyncio

    sio = AsyncWorker()

    @sio.on("echo")
    async def echo(sid, *args):
        await sio.emit("echo", args, to=sid)
        return args

    async def serve():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sio.stop)
        await sio.run()

    asyncio.run(serve())


if __name__ == "__main__":
    main_async() if "--async" in sys.argv[1:] else main_sync()
