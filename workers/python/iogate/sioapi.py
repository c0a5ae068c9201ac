"""python-socketio's server API on top of the Worker, so that namespace code
written for ``socketio.Server`` moves over with little more than a change of
import: handlers that take the socket id (``@worker.event``,
``@worker.on(event)``, connect with ``(sid, environ, auth)``), ``emit`` /
``send`` / ``call`` addressed with ``to=`` / ``room=`` / ``skip_sid=``,
``enter_room`` / ``leave_room`` / ``close_room`` / ``rooms``, ``disconnect``
and sessions.  A mixin of Worker; the Node.js-style API (``on_connection``,
``socket.on``) works next to it, on the same sockets.

Differences from python-socketio are on purpose and documented in the
README: one namespace per worker (``namespace=`` must be it or None), times
in milliseconds (``call(timeout=)`` included), and ``environ`` is built from
the Socket.IO handshake (the gateway has the HTTP request, not the worker).
"""

from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import zmq

from .errors import ConnectionRefusedError, DisconnectedError
from .socket import CONNECTED, PENDING, _room_list

if TYPE_CHECKING:  # pragma: no cover
    from .socket import Ack, Socket

Handler = Callable[..., Any]
DEFAULT_CALL_TIMEOUT_MS = 60000  # python-socketio's call() default, 60 s
#: handler results that are certainly not awaitable
_PLAIN = frozenset([tuple, list, dict, str, int, float, bool, bytes])


def sio_args(data: Tuple[Any, ...]) -> List[Any]:
    """Event arguments the python-socketio way: a lone tuple is several
    arguments (``emit("ev", (1, 2))`` sends 1 and 2), anything else as given."""
    if len(data) == 1 and isinstance(data[0], tuple):
        return list(data[0])
    return list(data)


def ack_value(args: Tuple[Any, ...]) -> Any:
    """What ``call()`` returns for the client's ack arguments, as
    python-socketio: None, the single argument, or a tuple of them."""
    if not args:
        return None
    return args[0] if len(args) == 1 else tuple(args)


def ack_args(result: Any) -> List[Any]:
    """The ack arguments for a handler's return value, as python-socketio:
    None -> none, a tuple -> several, anything else -> one."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def positional_count(fn: Handler, most: int) -> int:
    """How many positional arguments ``fn`` takes, at most ``most``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return most
    n = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return most
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return min(n, most)


def wsgi_environ(socket: "Socket") -> Dict[str, Any]:
    """A WSGI-like environ built from the handshake, for connect handlers
    written for python-socketio: REQUEST_METHOD, PATH_INFO, QUERY_STRING,
    REMOTE_ADDR, HTTP_<HEADER>, wsgi.url_scheme; plus ``iogate.handshake``."""
    hs = socket.handshake
    url = urlsplit(hs.get("url") if isinstance(hs.get("url"), str) else "")
    env: Dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "REMOTE_ADDR": hs.get("address", ""),
        "wsgi.url_scheme": "https" if hs.get("secure") else "http",
        "iogate.handshake": hs,
    }
    for name, value in (hs.get("headers") or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env["HTTP_" + key] = value
    return env


class SocketIOAPI:
    """The python-socketio-style half of Worker (see the module docstring)."""

    namespace: str
    log: Any
    _sockets: Dict[str, "Socket"]

    def __init__(self) -> None:
        self._sio_handlers: Dict[str, Handler] = {}
        self._sio_connect: Optional[Handler] = None
        self._sio_disconnect: Optional[Handler] = None
        # sockets whose async disconnect handler still runs: their session
        # stays readable, as python-socketio awaits that handler first
        self._departed: Dict[str, "Socket"] = {}

    # -- registration ------------------------------------------------------------
    def on(self, event: str, handler: Optional[Handler] = None, namespace: Optional[str] = None) -> Any:
        """Register a handler; usable as ``@worker.on("event")``.

        - ``"connection"``: ``fn(socket)`` for every accepted socket (Node
          style, same as ``on_connection``);
        - ``"connect"``: ``fn(sid, environ, auth)`` (or ``(sid, environ)``)
          before the socket is accepted, after the middleware: return False
          or raise ConnectionRefusedError to refuse (python-socketio);
        - ``"disconnect"``: ``fn(sid, reason)`` (or ``(sid)``);
        - ``"*"``: ``fn(event, sid, *args)`` for events without a handler;
        - any other event: ``fn(sid, *args)``; its return value is the
          acknowledgement when the client asked for one (a tuple is several
          arguments).  One handler per event: a second one replaces it."""
        if handler is None:
            return lambda f: self.on(event, f, namespace)
        self._check_nsp(namespace)
        self._check_fn(handler)
        if event == "connection":
            return self.on_connection(handler)
        if event == "connect":
            self._sio_connect = handler
        elif event == "disconnect":
            self._sio_disconnect = handler
        else:
            self._sio_handlers[event] = handler
        return handler

    def event(self, handler: Optional[Handler] = None, namespace: Optional[str] = None) -> Any:
        """``@worker.event def my_event(sid, data)``: the function's name is
        the event's name (python-socketio)."""
        if handler is None:
            return lambda f: self.on(f.__name__, f, namespace)
        return self.on(handler.__name__, handler, namespace)

    # -- sending ----------------------------------------------------------------
    def emit(self, event: str, *data: Any, to: Any = None, room: Any = None, skip_sid: Any = None,
             namespace: Optional[str] = None, callback: Optional[Handler] = None) -> Any:
        """Emit to the whole namespace, or ``to`` (= ``room``) a socket id,
        a room or a list of them, except ``skip_sid`` (an id or list).  With
        ``callback`` (``to`` one socket id): ``callback(*ack_args)`` when the
        client acknowledges.  ``data``: the arguments; a lone tuple is
        several (python-socketio).  Also ``io.emit(event, *args)`` of Node."""
        self._check_nsp(namespace)
        args = sio_args(data)
        target = to if to is not None else room
        if callback is not None:
            self._check_fn(callback)
            s = self._sockets.get(target) if isinstance(target, str) else None
            if s is None or s._state != CONNECTED:
                return False
            return s._emit_ack(event, args, lambda err, *a: None if err else callback(*a), None)
        if isinstance(target, str) and skip_sid is None:
            s = self._sockets.get(target)
            if s is not None:
                return s._emit(event, args)  # one socket: EMIT to its gateway
        op = self._operator(rooms=_room_list(target), excepts=_room_list(skip_sid))  # type: ignore[attr-defined]
        return op.emit(event, *args)

    def send(self, *data: Any, to: Any = None, room: Any = None, skip_sid: Any = None,
             namespace: Optional[str] = None, callback: Optional[Handler] = None) -> Any:
        """``emit("message", ...)``."""
        return SocketIOAPI.emit(self, "message", *data, to=to, room=room, skip_sid=skip_sid,
                                namespace=namespace, callback=callback)

    def call(self, event: str, *data: Any, to: Optional[str] = None, sid: Optional[str] = None,
             namespace: Optional[str] = None, timeout: Optional[float] = DEFAULT_CALL_TIMEOUT_MS) -> Any:
        """Emit to one socket and wait for its acknowledgement: returns None,
        the one ack argument or a tuple of them; raises AckTimeoutError after
        ``timeout`` ms (None: no limit) or DisconnectedError.  The
        synchronous Worker keeps serving other messages while it waits (it
        runs its loop inside this call); the AsyncWorker's ``call`` is a
        coroutine."""
        self._check_nsp(namespace)
        s = self._call_target(to if to is not None else sid)
        box: List[Tuple[Any, Tuple[Any, ...]]] = []
        if not s._emit_ack(event, sio_args(data), lambda err, *a: box.append((err, a)), timeout):
            raise DisconnectedError()
        poller = zmq.Poller()
        for g in self._gws:  # type: ignore[attr-defined]
            if g.sock is not None:
                poller.register(g.sock, zmq.POLLIN)
        while not box:
            if self._closed:  # type: ignore[attr-defined]
                raise DisconnectedError()
            poller.poll(max(0, int(self.next_timeout() + 0.999)))  # type: ignore[attr-defined]
            self.process()  # type: ignore[attr-defined]
        err, args = box[0]
        if err is not None:
            raise err
        return ack_value(args)

    def _call_target(self, sid: Optional[str]) -> "Socket":
        if not isinstance(sid, str):
            raise ValueError("call() needs to= (or sid=) one socket id")
        s = self._sockets.get(sid)
        if s is None or s._state != CONNECTED:
            raise DisconnectedError()
        return s

    # -- rooms, sessions, disconnect -------------------------------------------
    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Add socket ``sid`` to ``room`` (``socket.join``)."""
        self._check_nsp(namespace)
        s = self._sockets.get(sid)
        if s is None:
            self.log.debug("enter_room: no socket %s", sid)
            return
        s.join(room)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Remove socket ``sid`` from ``room`` (``socket.leave``)."""
        self._check_nsp(namespace)
        s = self._sockets.get(sid)
        if s is not None:
            s.leave(room)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        """Remove every socket from ``room``."""
        self._check_nsp(namespace)
        self.sockets_leave(room, rooms=room)  # type: ignore[attr-defined]

    def rooms(self, sid: str, namespace: Optional[str] = None) -> List[str]:
        """The rooms of socket ``sid`` (its own id first); [] when unknown."""
        self._check_nsp(namespace)
        s = self._sockets.get(sid)
        return list(s.rooms) if s is not None else []

    def disconnect(self, sid: str, namespace: Optional[str] = None, ignore_queue: bool = False) -> Any:
        """Disconnect socket ``sid`` (``socket.disconnect()``)."""
        self._check_nsp(namespace)
        s = self._sockets.get(sid)
        return s.disconnect() if s is not None else False

    def get_session(self, sid: str, namespace: Optional[str] = None) -> Any:
        """The session dict of socket ``sid`` (KeyError when unknown)."""
        self._check_nsp(namespace)
        return self._session_socket(sid)._session

    def save_session(self, sid: str, session: Dict[str, Any], namespace: Optional[str] = None) -> Any:
        """Replace the session of socket ``sid``."""
        self._check_nsp(namespace)
        self._session_socket(sid)._session = session
        return None

    @contextlib.contextmanager
    def session(self, sid: str, namespace: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """``with worker.session(sid) as session: session["user"] = …``"""
        self._check_nsp(namespace)
        s = self._session_socket(sid)
        yield s._session

    def _session_socket(self, sid: str) -> "Socket":
        s = self._sockets.get(sid) or self._departed.get(sid)
        if s is None:
            raise KeyError("no socket %s" % sid)
        return s

    def environ(self, sid: str) -> Dict[str, Any]:
        """The WSGI-like environ of socket ``sid`` (see the connect handler)."""
        return wsgi_environ(self._session_socket(sid))

    # -- library side ----------------------------------------------------------------
    def _check_nsp(self, namespace: Optional[str]) -> None:
        if namespace is not None and namespace != self.namespace:
            raise ValueError("this worker serves %s, not %s (one namespace per worker)"
                             % (self.namespace, namespace))

    def _check_fn(self, fn: Any) -> None:  # pragma: no cover - Worker's
        raise NotImplementedError

    def on_connection(self, fn: Handler) -> Handler:  # pragma: no cover - Worker's
        raise NotImplementedError

    def _sio_handler(self, event: str) -> Optional[Handler]:
        fn = self._sio_handlers.get(event)
        if fn is None and "*" in self._sio_handlers:
            catch_all = self._sio_handlers["*"]
            return lambda sid, *args: catch_all(event, sid, *args)
        return fn

    def _sio_dispatch(self, s: "Socket", fn: Handler, event: str, args: List[Any],
                      ack: Optional["Ack"]) -> None:
        """Run a python-socketio handler; its return value is the ack."""
        def answer(result: Any) -> None:
            if ack is not None and not ack.done:
                ack(*ack_args(result))

        try:
            res = fn(s.id, *args)
        except Exception:
            self.log.exception("handler of %r for socket %s raised", event, s.id)
            return
        if res is None or type(res) in _PLAIN:  # not awaitable: no need to ask inspect
            answer(res)
            return
        self._after(res, fn, s._logger("handler of %r" % event), answer)  # type: ignore[attr-defined]

    def _sio_connect_middleware(self, s: "Socket", next: Callable[..., None]) -> Any:
        """The python-socketio connect handler as the last middleware: False
        refuses like ConnectionRefusedError(); what it raises is handled by
        the middleware runner (a ConnectError reaches the client, anything
        else becomes "Internal server error")."""
        fn = self._sio_connect
        assert fn is not None
        args = (s.id, wsgi_environ(s), s.handshake.get("auth"))
        res = fn(*args[:max(1, positional_count(fn, 3))])

        def decide(value: Any) -> None:
            if value is False:
                next(ConnectionRefusedError())
            else:
                next()

        if inspect.isawaitable(res):
            async def wait() -> None:
                decide(await res)
            return wait()
        decide(res)
        return None

    def _sio_disconnected(self, s: "Socket", reason: str) -> None:
        fn = self._sio_disconnect
        if fn is None:
            return
        try:
            res = fn(s.id, reason) if positional_count(fn, 2) >= 2 else fn(s.id)
        except Exception:
            self.log.exception("disconnect handler for socket %s raised", s.id)
            return
        if not inspect.isawaitable(res):
            return
        self._departed[s.id] = s
        log_it = s._logger("disconnect handler")

        def done(_value: Any) -> None:
            if self._departed.get(s.id) is s:
                del self._departed[s.id]

        def failed(e: BaseException) -> None:
            done(None)
            log_it(e)

        self._after(res, fn, failed, done)  # type: ignore[attr-defined]

    def _ack_future(self, s: "Socket", event: str, args: Tuple[Any, ...], timeout: Optional[float]) -> Any:
        raise TypeError("emit_with_ack needs callback= in the synchronous Worker "
                        "(or use worker.call(), or AsyncWorker to await it)")
