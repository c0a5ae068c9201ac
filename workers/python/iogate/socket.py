"""The server-side Socket: one client's connection to the worker's namespace."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Set
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from .errors import DisconnectedError, AckTimeoutError, NotSupportedError, error_message
from .protocol import RESERVED_EVENTS

if TYPE_CHECKING:  # pragma: no cover
    from .gateway import Gateway
    from .worker import BroadcastOperator, Worker

log = logging.getLogger("iogate.worker")

#: Events raised locally by the library; a client cannot trigger them.
LOCAL_EVENTS = frozenset(["disconnect", "disconnecting", "error"])

PENDING, CONNECTED, CLOSING, GONE = "pending", "connected", "closing", "gone"


def check_event_name(event: Any) -> None:
    if not isinstance(event, str):
        raise TypeError("event name must be a str")
    if event in RESERVED_EVENTS:
        raise ValueError('"%s" is a reserved event name' % event)


def _room_list(rooms: Union[str, Iterable[str], None]) -> List[str]:
    if rooms is None:
        return []
    if isinstance(rooms, str):
        return [rooms]
    out = list(rooms)
    for r in out:
        if not isinstance(r, str):
            raise TypeError("room names are str")
    return out


def _takes_ack_keyword(fn: Callable[..., Any]) -> bool:
    """True when fn gets the ack as keyword argument ``ack=``: it has a
    parameter named ``ack`` that can be passed by keyword, or ``**kwargs``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            return True
        if p.name == "ack" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            return True
    return False


class _Handler:
    __slots__ = ("fn", "kw")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.kw = _takes_ack_keyword(fn)

    def __call__(self, args: List[Any], ack: Optional["Ack"]) -> Any:
        if self.kw:
            return self.fn(*args, ack=ack)
        if ack is not None:
            return self.fn(*args, ack)
        return self.fn(*args)


class RoomSet(Set):
    """Read-only, ordered view of a socket's rooms (its own id first, then in
    the order joined).  Change it with ``socket.join`` / ``socket.leave``."""

    __slots__ = ("_d",)

    def __init__(self, d: Dict[str, bool]) -> None:
        self._d = d

    def __contains__(self, room: object) -> bool:
        return room in self._d

    def __iter__(self) -> Any:
        return iter(list(self._d))

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return "RoomSet(%r)" % list(self._d)


class Ack:
    """The client asked for an acknowledgement: call it once with the
    arguments to send back (``bytes`` allowed anywhere).  Returns True when
    sent, False when already answered or the socket is gone."""

    __slots__ = ("_socket", "_id", "done")

    def __init__(self, socket: "Socket", ack_id: int) -> None:
        self._socket = socket
        self._id = ack_id
        self.done = False

    @property
    def id(self) -> int:
        return self._id

    def __call__(self, *args: Any) -> bool:
        if self.done:
            return False
        self.done = True
        s = self._socket
        if s._state not in (CONNECTED, CLOSING):
            return False
        return s._gw.send_app("ACK", s.id, {"id": self._id}, list(args))

    def __repr__(self) -> str:
        return "<Ack %d of %s%s>" % (self._id, self._socket.id, " done" if self.done else "")


class _Next:
    """One-shot continuation of a middleware."""

    __slots__ = ("_fn", "_used")

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self._fn = fn
        self._used = False

    def __call__(self, err: Any = None) -> None:
        if self._used:
            log.warning("middleware next() called twice; ignored")
            return
        self._used = True
        self._fn(err)


class Conn:
    """The socket's underlying client connection, as far as a worker sees it:
    ``transport`` ("polling" or "websocket", updated on upgrade) and the conn
    notices the worker subscribed to (``Worker(conn_events=[…])``).

    ``socket.conn.on("upgrade", fn)``: fn(meta) with the notice's meta, e.g.
    ``{"event": "upgrade", "transport": "websocket"}``; events are "upgrade",
    "packet", "packetCreate", "drain", "close"."""

    def __init__(self, transport: str, worker: Optional["Worker"] = None) -> None:
        self.transport = transport
        self._handlers: Dict[str, List[Callable[..., Any]]] = {}
        self._worker = worker

    def on(self, event: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        if fn is None:
            return lambda f: self.on(event, f)
        if self._worker is not None:
            self._worker._check_fn(fn)
        self._handlers.setdefault(event, []).append(fn)
        return fn

    def off(self, event: str, fn: Optional[Callable[..., Any]] = None) -> None:
        if fn is None:
            self._handlers.pop(event, None)
        elif event in self._handlers:
            self._handlers[event] = [h for h in self._handlers[event] if h is not fn]


class _Emitter:
    """``socket.volatile``: emit that may be dropped when the gateway is slow."""

    __slots__ = ("_socket",)

    def __init__(self, socket: "Socket") -> None:
        self._socket = socket

    def emit(self, event: str, *args: Any) -> bool:
        return self._socket._emit(event, args, volatile=True)


class Socket:
    """One client in this namespace.  Created by the worker; see the README.

    Public attributes: ``id``, ``handshake`` (dict), ``rooms`` (RoomSet),
    ``data`` (anything JSON-able, visible to fetch_sockets; starts ``{}``),
    ``conn`` (Conn), ``recovered`` (bool), ``nsp`` (the Worker) and
    ``namespace`` (str).  Applications may attach their own attributes
    (names not starting with ``_``)."""

    def __init__(self, worker: "Worker", gw: "Gateway", sid: str, handshake: Dict[str, Any],
                 transport: str, recovered: bool = False, rooms: Optional[List[Any]] = None) -> None:
        self._worker = worker
        self._gw = gw
        self._state = PENDING
        self.id = sid
        self.handshake = handshake
        self.recovered = bool(recovered)
        self.restored = False  # its client recovered it (rule 16a)
        self.data = {}
        self.conn = Conn(transport, worker)
        self._rooms = {sid: True}
        for r in rooms or ():
            if isinstance(r, str):
                self._rooms[r] = True
        # what the gateway's routing copy holds once we ACCEPT
        self._gw_rooms = set(self._rooms) if recovered else {sid}
        worker.adapter._add(sid, list(self._rooms))
        self._handlers = {}
        self._any: List[_Handler] = []
        self._any_outgoing: List[Callable[..., Any]] = []
        self._middleware = []
        self._acks: Dict[int, Tuple[Callable[..., Any], Any]] = {}  # our emit ack id -> (callback, timer)
        self._next_ack = 0
        self._session: Dict[str, Any] = {}  # python-socketio's save_session / get_session
        # what the application emitted while still in middleware: sent after ACCEPT
        self._held: List[Tuple[str, Optional[Dict[str, Any]], List[Any], bool]] = []

    # -- identity ---------------------------------------------------------
    @property
    def nsp(self) -> "Worker":
        return self._worker

    @property
    def namespace(self) -> str:
        return self._worker.namespace

    @property
    def gateway(self) -> str:
        """The endpoint of the gateway this socket's client is connected to."""
        return self._gw.endpoint

    @property
    def rooms(self) -> RoomSet:
        return RoomSet(self._rooms)

    @property
    def connected(self) -> bool:
        return self._state == CONNECTED

    @property
    def disconnected(self) -> bool:
        return self._state != CONNECTED

    def __repr__(self) -> str:
        return "<Socket %s %s>" % (self.id, self._state)

    # -- listeners ----------------------------------------------------------
    def on(self, event: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """Register a handler; usable as ``@socket.on("event")``.

        Client events: ``fn(*args)``, plus the ack when the client asked for
        one — as keyword ``ack=`` if fn has a parameter named ``ack`` (then
        always passed, None when not asked) or ``**kwargs``, else as a
        trailing positional argument.  Local events: "disconnecting" and
        "disconnect" get ``fn(reason)``, "error" gets ``fn(err)`` (the
        exception a socket middleware passed to next)."""
        if fn is None:
            return lambda f: self.on(event, f)
        if not isinstance(event, str):
            raise TypeError("event name must be a str")
        self._worker._check_fn(fn)
        self._handlers.setdefault(event, []).append(_Handler(fn))
        return fn

    def once(self, event: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        if fn is None:
            return lambda f: self.once(event, f)
        self._worker._check_fn(fn)

        def wrapper(*args: Any, **kw: Any) -> Any:
            self.off(event, wrapper)
            return fn(*args, **kw)

        try:
            wrapper.__signature__ = inspect.signature(fn)
        except (TypeError, ValueError):
            pass
        return self.on(event, wrapper)

    def off(self, event: str, fn: Optional[Callable[..., Any]] = None) -> None:
        """Remove the handlers of ``event`` registered with ``fn`` (None: all)."""
        if fn is None:
            self._handlers.pop(event, None)
        elif event in self._handlers:
            self._handlers[event] = [h for h in self._handlers[event] if h.fn is not fn]

    def on_any(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Catch-all for client events, called before the event's own handlers
        as ``fn(event, *args)`` (+ ack as for ``on``).  Usable as decorator."""
        self._worker._check_fn(fn)
        self._any.append(_Handler(fn))
        return fn

    def prepend_any(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``on_any``, but before the catch-all handlers already there."""
        self._worker._check_fn(fn)
        self._any.insert(0, _Handler(fn))
        return fn

    def off_any(self, fn: Optional[Callable[..., Any]] = None) -> None:
        self._any = [] if fn is None else [h for h in self._any if h.fn is not fn]

    def listeners_any(self) -> List[Callable[..., Any]]:
        return [h.fn for h in self._any]

    def on_any_outgoing(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn(event, *args)`` for every event sent to this client — its own
        emits and the broadcasts that reach it, as socket.io's onAnyOutgoing
        (the worker owns the rooms, so it knows which broadcasts do)."""
        self._worker._check_fn(fn)
        self._any_outgoing.append(fn)
        self._worker._outgoing_listeners = True
        return fn

    def prepend_any_outgoing(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self._worker._check_fn(fn)
        self._any_outgoing.insert(0, fn)
        self._worker._outgoing_listeners = True
        return fn

    def off_any_outgoing(self, fn: Optional[Callable[..., Any]] = None) -> None:
        self._any_outgoing = [] if fn is None else [f for f in self._any_outgoing if f is not fn]

    def listeners_any_outgoing(self) -> List[Callable[..., Any]]:
        return list(self._any_outgoing)

    def _notify_outgoing(self, event: str, args: Iterable[Any]) -> None:
        for fn in list(self._any_outgoing):
            try:
                self._worker._after(fn(event, *args), fn, self._logger("on_any_outgoing listener"))
            except Exception:
                self._worker.log.exception("on_any_outgoing listener of socket %s raised", self.id)

    def use(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Per-packet middleware ``fn(socket, packet, next)``; packet is the
        list ``[event, *args]`` (may be modified in place).  ``next()``
        continues; ``next(err)`` drops the packet and raises the socket's
        "error" event with err.  next may be called later (async)."""
        self._worker._check_fn(fn)
        self._middleware.append(fn)
        return fn

    # -- out -----------------------------------------------------------------
    def emit(self, event: str, *args: Any) -> bool:
        """Emit to this client.  ``bytes`` anywhere in args travel as binary.
        ValueError for a reserved name (nothing sent).  Returns True when
        handed to the gateway (or held until ACCEPT while the socket is in
        middleware), False when the socket is not connected."""
        return self._emit(event, args)

    @property
    def volatile(self) -> _Emitter:
        return _Emitter(self)

    @property
    def local(self) -> "BroadcastOperator":
        """socket.io's socket.local: a broadcast from this socket (everyone
        but it), this server node only — exact for the only server."""
        return self.broadcast

    def compress(self, flag: bool = True) -> Any:
        raise NotSupportedError("socket.compress()")

    def emit_with_ack(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None,
                      timeout: Optional[float] = None) -> Any:
        """Emit asking the client for an acknowledgement.  ``callback(err,
        *args)`` is called exactly once: err None and the client's ack
        arguments, or err an AckTimeoutError ("operation has timed out")
        after ``timeout`` milliseconds (None or <= 0: no timeout) or a
        DisconnectedError ("socket has been disconnected").  Returns True
        when sent; False (callback never called) when not connected.

        Without ``callback`` (AsyncWorker only) it returns an awaitable:
        ``await socket.emit_with_ack(...)`` gives what python-socketio's
        ``call()`` gives — None, the one ack argument, or a tuple of them —
        or raises AckTimeoutError / DisconnectedError."""
        check_event_name(event)
        if callback is None:
            return self._worker._ack_future(self, event, args, timeout)
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._worker._check_fn(callback)
        return self._emit_ack(event, args, callback, timeout)

    def _emit_ack(self, event: str, args: Iterable[Any], callback: Callable[..., Any],
                  timeout: Optional[float]) -> bool:
        if self._state != CONNECTED:
            return False
        ack_id = self._next_ack
        self._next_ack += 1
        if not self._gw.send_app("EMIT", self.id, {"ack": ack_id}, [event, *args]):
            return False
        self._notify_outgoing(event, args)
        timer = None
        if timeout is not None and timeout > 0:
            timer = self._worker.call_later(timeout, self._ack_timeout, ack_id)
        self._acks[ack_id] = (callback, timer)
        return True

    def timeout(self, ms: float) -> "_TimeoutEmitter":
        """``socket.timeout(ms).emit(event, *args, callback=cb)`` or, in an
        AsyncWorker, ``await socket.timeout(ms).emit_with_ack(event, *args)``:
        Node style."""
        return _TimeoutEmitter(self, ms)

    def _emit(self, event: str, args: Iterable[Any], volatile: bool = False) -> bool:
        check_event_name(event)
        meta = {"volatile": True} if volatile else None
        if self._state == PENDING:
            # python-socketio lets a connect handler emit to its client: hold
            # it in order and send it right after ACCEPT
            self._held.append(("EMIT", meta, [event, *args], volatile))
            self._notify_outgoing(event, args)
            return True
        if self._state != CONNECTED:
            return False
        if not self._gw.send_app("EMIT", self.id, meta, [event, *args], volatile):
            return False
        if self._any_outgoing:
            self._notify_outgoing(event, args)
        return True

    def send(self, *args: Any) -> bool:
        """emit("message", *args)"""
        return self.emit("message", *args)

    # -- rooms ---------------------------------------------------------------
    def join(self, rooms: Union[str, Iterable[str]]) -> None:
        """Join one room (str) or several (iterable).  Joining a room twice
        does nothing; for a socket that has gone, ignored."""
        new = [r for r in dict.fromkeys(_room_list(rooms)) if r not in self._rooms]
        if self._state not in (PENDING, CONNECTED) or not new:
            return
        for r in new:
            self._rooms[r] = True
        self._worker.adapter._add(self.id, new)
        if self._state == CONNECTED:
            self._gw.send_app("JOIN", self.id, {"rooms": new})

    def leave(self, rooms: Union[str, Iterable[str]]) -> None:
        """Leave one room or several; leaving a room it is not in does nothing."""
        old = [r for r in dict.fromkeys(_room_list(rooms)) if r in self._rooms]
        if self._state not in (PENDING, CONNECTED) or not old:
            return
        for r in old:
            del self._rooms[r]
            self._worker.adapter._del(self.id, r)
        if self._state == CONNECTED:
            self._gw.send_app("LEAVE", self.id, {"rooms": old})

    # -- broadcasts from this socket ------------------------------------------
    def to(self, rooms: Union[str, Iterable[str]]) -> "BroadcastOperator":
        """Broadcast to ``rooms`` except this socket (socket.to in Node)."""
        return self._worker._operator(rooms=_room_list(rooms), excepts=[self.id])

    in_ = to

    def except_(self, rooms: Union[str, Iterable[str]]) -> "BroadcastOperator":
        return self._worker._operator(excepts=[self.id] + _room_list(rooms))

    @property
    def broadcast(self) -> "BroadcastOperator":
        """Everyone in the namespace but this socket."""
        return self._worker._operator(excepts=[self.id])

    # -- disconnect --------------------------------------------------------------
    def disconnect(self, close: bool = False) -> bool:
        """Disconnect this socket (close=True: the client's whole connection,
        every namespace).  "disconnecting" and "disconnect" run here with
        "server namespace disconnect".  Does nothing if not connected."""
        if self._state != CONNECTED:
            if self._state == PENDING:
                self._worker.log.warning("disconnect() on socket %s still in middleware: use next(err)",
                                         self.id)
            return False
        self._gw.send_app("DISCONNECT", self.id, {"close": bool(close)})
        self._close("server namespace disconnect")
        return True

    # -- library side --------------------------------------------------------
    def _emit_local(self, event: str, *args: Any) -> bool:
        handlers = list(self._handlers.get(event, ()))
        for h in handlers:
            try:
                self._worker._after(h.fn(*args), h.fn, self._logger("%s handler" % event))
            except Exception:
                self._worker.log.exception("%s handler of socket %s raised", event, self.id)
        return bool(handlers)

    def _logger(self, what: str) -> Callable[[BaseException], None]:
        """An on_error for _after: log what an async handler raised."""
        def log_it(e: BaseException) -> None:
            self._worker.log.error("%s of socket %s raised", what, self.id,
                                   exc_info=(type(e), e, e.__traceback__))
        return log_it

    def _close(self, reason: str) -> None:
        """The socket is gone: disconnecting (rooms still there), pending acks
        fail, rooms cleared, disconnect."""
        if self._state == PENDING:
            self._state = GONE
            self._worker._forget(self)
            return
        if self._state != CONNECTED:
            return
        self._state = CLOSING
        self._emit_local("disconnecting", reason)
        # python-socketio's disconnect handler: rooms and session still there
        self._worker._sio_disconnected(self, reason)
        acks, self._acks = self._acks, {}
        for cb, timer in acks.values():
            if timer:
                timer.cancel()
            self._worker._call(cb, DisconnectedError())
        self._rooms.clear()
        self._state = GONE
        self._worker._forget(self)
        self._emit_local("disconnect", reason)

    def _replaced(self) -> None:
        """Its client recovered it (rule 16a): gone without events."""
        acks, self._acks = self._acks, {}
        for cb, timer in acks.values():
            if timer:
                timer.cancel()
            self._worker._call(cb, DisconnectedError())
        self._state = GONE
        self._worker._forget(self)

    def _ack_timeout(self, ack_id: int) -> None:
        entry = self._acks.pop(ack_id, None)
        if entry:
            self._worker._call(entry[0], AckTimeoutError())

    def _on_ack(self, ack_id: Any, args: List[Any]) -> None:
        entry = self._acks.pop(ack_id, None)
        if not entry:
            self._worker.log.debug("socket %s: ack %r for no pending emit; ignored", self.id, ack_id)
            return
        if entry[1]:
            entry[1].cancel()
        self._worker._call(entry[0], None, *args)

    def _on_event(self, packet: List[Any], ack_id: Optional[int]) -> None:
        if self._state != CONNECTED:
            return
        if not self._middleware:
            self._dispatch(packet, ack_id)
            return
        mws = list(self._middleware)

        def step(i: int, err: Any = None) -> None:
            if self._state != CONNECTED:
                return
            if err is not None:
                if not self._emit_local("error", err):
                    self._worker.log.warning("socket %s: packet refused by middleware: %s", self.id,
                                             error_message(err)[0])
                return
            if i == len(mws):
                self._dispatch(packet, ack_id)
                return
            nxt = _Next(lambda e=None: step(i + 1, e))

            def done(_value: Any) -> None:
                if not nxt._used:  # an async middleware that returns continues
                    nxt()

            try:
                res = mws[i](self, packet, nxt)
            except Exception:
                self._worker.log.exception("socket middleware of %s raised; packet dropped", self.id)
                return
            self._worker._after(res, mws[i], self._logger("socket middleware"),
                                done if inspect.isawaitable(res) else None)

        step(0)

    def _dispatch(self, packet: List[Any], ack_id: Optional[int]) -> None:
        if not packet or not isinstance(packet[0], str):
            return
        event, args = packet[0], packet[1:]
        if event in RESERVED_EVENTS or event in LOCAL_EVENTS:
            self._worker.log.warning("socket %s: client event %r has a reserved name; ignored", self.id, event)
            return
        if not self._any and event not in self._handlers:
            # only a python-socketio handler (or none): the common case
            sio = self._worker._sio_handler(event)
            if sio is not None:
                self._worker._sio_dispatch(self, sio, event, args,
                                           Ack(self, ack_id) if ack_id is not None else None)
            return
        any_handlers = list(self._any)
        handlers = any_handlers + list(self._handlers.get(event, ()))
        sio = self._worker._sio_handler(event)
        if not handlers and sio is None:
            return
        ack = Ack(self, ack_id) if ack_id is not None else None
        on_error = self._logger("handler of %r" % event)
        for i, h in enumerate(handlers):
            try:
                if i < len(any_handlers):
                    self._worker._after(h([event, *args], ack), h.fn, on_error)
                else:
                    self._worker._after(h(args, ack), h.fn, on_error)
            except Exception:
                self._worker.log.exception("handler of %r on socket %s raised", event, self.id)
            if self._state != CONNECTED:
                return
        if sio is not None:
            self._worker._sio_dispatch(self, sio, event, args, ack)


class _TimeoutEmitter:
    __slots__ = ("_socket", "_timeout")

    def __init__(self, socket: Socket, timeout: float) -> None:
        self._socket = socket
        self._timeout = timeout

    def emit(self, event: str, *args: Any, callback: Callable[..., Any]) -> bool:
        return self._socket.emit_with_ack(event, *args, callback=callback, timeout=self._timeout)

    def emit_with_ack(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None) -> Any:
        return self._socket.emit_with_ack(event, *args, callback=callback, timeout=self._timeout)
