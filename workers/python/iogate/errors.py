"""Exceptions of the iogate worker library."""


class ConnectError(Exception):
    """Refuse a connection (namespace middleware) or a packet (socket
    middleware): ``next(ConnectError("not authorized", {"code": 401}))``.

    The client gets ``connect_error`` with ``message`` and ``data``.  Any other
    exception passed to ``next`` works too: its ``message`` attribute or
    ``str(err)`` is the message, its ``data`` attribute (if any) the data."""

    def __init__(self, message, data=None):
        super().__init__(message)
        self.message = message
        self.data = data


class AckError(Exception):
    """Passed to an ``emit_with_ack`` callback when no acknowledgement came."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class AckTimeoutError(AckError):
    """The client did not acknowledge within the timeout."""

    def __init__(self, message="operation has timed out"):
        super().__init__(message)


class DisconnectedError(AckError):
    """The socket disconnected (or the gateway was lost) before the ack."""

    def __init__(self, message="socket has been disconnected"):
        super().__init__(message)


def error_message(err):
    """(message, data) of whatever was passed to ``next(err)``."""
    if isinstance(err, str):
        return err, None
    msg = getattr(err, "message", None)
    if not isinstance(msg, str):
        msg = str(err) or type(err).__name__
    return msg, getattr(err, "data", None)
