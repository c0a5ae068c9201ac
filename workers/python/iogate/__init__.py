"""iogate — the Python worker library of iogate.

A worker serves one Socket.IO namespace behind the iogate gateway, which
terminates Engine.IO / Socket.IO for clients and forwards decoded packets
over ZeroMQ (ipc/PROTOCOL.md).  This package gives the familiar server-side
Socket API on top of that protocol::

    from iogate import Worker, ConnectError

    worker = Worker()                      # IOGATE_ENDPOINT, IOGATE_NAMESPACE

    @worker.use
    def auth(socket, next):
        if socket.handshake["auth"].get("token") != "secret":
            next(ConnectError("not authorized", {"code": 401}))
        else:
            next()

    @worker.on_connection
    def connection(socket):
        socket.join("lobby")

        @socket.on("message")
        def message(*args, ack=None):
            socket.to("lobby").emit("message", *args)
            if ack:
                ack("ok")

    worker.run()

``AsyncWorker`` is the same on asyncio (``async def`` everywhere, ``await
worker.run()``), and both offer python-socketio's API (``@worker.event``,
``emit(..., to=sid)``, ``enter_room``, ``call``, sessions).  Every time in
the API is in milliseconds.  See workers/python/README.md for the whole API.
"""

from .errors import (
    INTERNAL_ERROR,
    AckError,
    AckTimeoutError,
    ConnectError,
    ConnectionRefusedError,
    DisconnectedError,
    NotSupportedError,
)
from .gateway import Gateway
from .log import LogFormatter, setup_logging
from .protocol import RESERVED_EVENTS
from .socket import Ack, Conn, RoomSet, Socket
from .worker import BroadcastOperator, Timer, Worker
from .aio import AsyncWorker, Done  # noqa: E402 (needs Worker)

__all__ = [
    "Ack",
    "AckError",
    "AckTimeoutError",
    "AsyncWorker",
    "BroadcastOperator",
    "Conn",
    "ConnectError",
    "ConnectionRefusedError",
    "DisconnectedError",
    "Done",
    "Gateway",
    "NotSupportedError",
    "INTERNAL_ERROR",
    "LogFormatter",
    "RESERVED_EVENTS",
    "RoomSet",
    "Socket",
    "Timer",
    "Worker",
    "setup_logging",
]

__version__ = "0.2.0"
