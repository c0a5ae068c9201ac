"""Exceptions of the iogate worker library."""

from __future__ import annotations

from typing import Any, Optional, Tuple

#: What a client gets when middleware or a connect handler raises something
#: that is not a ConnectError: the exception's text stays in the log (with
#: its traceback), it never reaches the client.
INTERNAL_ERROR = "Internal server error"


class ConnectError(Exception):
    """Refuse a connection (namespace middleware) or a packet (socket
    middleware): ``next(ConnectError("not authorized", {"code": 401}))``.

    The client gets ``connect_error`` with ``message`` and ``data``.  Any other
    exception passed to ``next`` works too: its ``message`` attribute or
    ``str(err)`` is the message, its ``data`` attribute (if any) the data."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ConnectionRefusedError(ConnectError):  # noqa: A001 (python-socketio's name)
    """python-socketio's ``socketio.exceptions.ConnectionRefusedError``: raise
    it in a connect handler or middleware to refuse with a message for the
    client.  ``ConnectionRefusedError()`` -> "Connection rejected by server";
    ``(msg)`` -> msg; ``(msg, data)`` -> msg and data; more arguments -> msg
    and the rest as a list.  Any other exception raised there is logged and
    the client only gets "Internal server error"."""

    def __init__(self, *args: Any) -> None:
        message = str(args[0]) if args else "Connection rejected by server"
        data = None if len(args) < 2 else args[1] if len(args) == 2 else list(args[1:])
        super().__init__(message, data)
        self.error_args = {"message": message}
        if data is not None:
            self.error_args["data"] = data


class NotSupportedError(AttributeError):
    """A socket.io flag the IPC protocol cannot carry yet (``local``,
    ``compress``): refused loudly rather than silently ignored.  An
    AttributeError, so ``hasattr`` still answers False."""

    def __init__(self, name: str) -> None:
        super().__init__("%s is not supported: the iogate IPC protocol (version 1) cannot carry it" % name)


class AckError(Exception):
    """Passed to an ``emit_with_ack`` callback when no acknowledgement came."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AckTimeoutError(AckError):
    """The client did not acknowledge within the timeout."""

    def __init__(self, message: str = "operation has timed out") -> None:
        super().__init__(message)


class DisconnectedError(AckError):
    """The socket disconnected (or the gateway was lost) before the ack."""

    def __init__(self, message: str = "socket has been disconnected") -> None:
        super().__init__(message)


def error_message(err: Any) -> Tuple[str, Optional[Any]]:
    """(message, data) of whatever was passed to ``next(err)``."""
    if isinstance(err, str):
        return err, None
    msg = getattr(err, "message", None)
    if not isinstance(msg, str):
        msg = str(err) or type(err).__name__
    return msg, getattr(err, "data", None)
