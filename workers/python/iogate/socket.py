"""The server-side Socket: one client's connection to the worker's namespace."""

import inspect
import logging
from collections.abc import Set

from .errors import DisconnectedError, AckTimeoutError, error_message
from .protocol import RESERVED_EVENTS

log = logging.getLogger("iogate")

#: Events raised locally by the library; a client cannot trigger them.
LOCAL_EVENTS = frozenset(["disconnect", "disconnecting", "error"])

PENDING, CONNECTED, CLOSING, GONE = "pending", "connected", "closing", "gone"


def check_event_name(event):
    if not isinstance(event, str):
        raise TypeError("event name must be a str")
    if event in RESERVED_EVENTS:
        raise ValueError('"%s" is a reserved event name' % event)


def _room_list(rooms):
    if rooms is None:
        return []
    if isinstance(rooms, str):
        return [rooms]
    out = list(rooms)
    for r in out:
        if not isinstance(r, str):
            raise TypeError("room names are str")
    return out


def _takes_ack_keyword(fn):
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

    def __init__(self, fn):
        self.fn = fn
        self.kw = _takes_ack_keyword(fn)

    def __call__(self, args, ack):
        if self.kw:
            return self.fn(*args, ack=ack)
        if ack is not None:
            return self.fn(*args, ack)
        return self.fn(*args)


class RoomSet(Set):
    """Read-only, ordered view of a socket's rooms (its own id first, then in
    the order joined).  Change it with ``socket.join`` / ``socket.leave``."""

    __slots__ = ("_d",)

    def __init__(self, d):
        self._d = d

    def __contains__(self, room):
        return room in self._d

    def __iter__(self):
        return iter(list(self._d))

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return "RoomSet(%r)" % list(self._d)


class Ack:
    """The client asked for an acknowledgement: call it once with the
    arguments to send back (``bytes`` allowed anywhere).  Returns True when
    sent, False when already answered or the socket is gone."""

    __slots__ = ("_socket", "_id", "done")

    def __init__(self, socket, ack_id):
        self._socket = socket
        self._id = ack_id
        self.done = False

    @property
    def id(self):
        return self._id

    def __call__(self, *args):
        if self.done:
            return False
        self.done = True
        s = self._socket
        if s._state not in (CONNECTED, CLOSING):
            return False
        return s._worker._send_app("ACK", s.id, {"id": self._id}, list(args))

    def __repr__(self):
        return "<Ack %d of %s%s>" % (self._id, self._socket.id, " done" if self.done else "")


class _Next:
    """One-shot continuation of a middleware."""

    __slots__ = ("_fn", "_used")

    def __init__(self, fn):
        self._fn = fn
        self._used = False

    def __call__(self, err=None):
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

    def __init__(self, transport):
        self.transport = transport
        self._handlers = {}

    def on(self, event, fn=None):
        if fn is None:
            return lambda f: self.on(event, f)
        self._handlers.setdefault(event, []).append(fn)
        return fn

    def off(self, event, fn=None):
        if fn is None:
            self._handlers.pop(event, None)
        elif event in self._handlers:
            self._handlers[event] = [h for h in self._handlers[event] if h is not fn]


class _Emitter:
    """``socket.volatile``: emit that may be dropped when the gateway is slow."""

    __slots__ = ("_socket",)

    def __init__(self, socket):
        self._socket = socket

    def emit(self, event, *args):
        return self._socket._emit(event, args, volatile=True)


class Socket:
    """One client in this namespace.  Created by the worker; see the README.

    Public attributes: ``id``, ``handshake`` (dict), ``rooms`` (RoomSet),
    ``data`` (anything JSON-able, visible to fetch_sockets; starts ``{}``),
    ``conn`` (Conn), ``recovered`` (bool), ``nsp`` (the Worker) and
    ``namespace`` (str).  Applications may attach their own attributes
    (names not starting with ``_``)."""

    def __init__(self, worker, sid, handshake, transport, recovered=False, rooms=None):
        self._worker = worker
        self._state = PENDING
        self.id = sid
        self.handshake = handshake
        self.recovered = bool(recovered)
        self.restored = False  # its client recovered it (rule 16a)
        self.data = {}
        self.conn = Conn(transport)
        self._rooms = {sid: True}
        for r in rooms or ():
            if isinstance(r, str):
                self._rooms[r] = True
        # what the gateway's routing copy holds once we ACCEPT
        self._gw_rooms = set(self._rooms) if recovered else {sid}
        self._handlers = {}
        self._any = []
        self._middleware = []
        self._acks = {}  # our emit ack id -> (callback, timer)
        self._next_ack = 0

    # -- identity ---------------------------------------------------------
    @property
    def nsp(self):
        return self._worker

    @property
    def namespace(self):
        return self._worker.namespace

    @property
    def rooms(self):
        return RoomSet(self._rooms)

    @property
    def connected(self):
        return self._state == CONNECTED

    @property
    def disconnected(self):
        return self._state != CONNECTED

    def __repr__(self):
        return "<Socket %s %s>" % (self.id, self._state)

    # -- listeners ----------------------------------------------------------
    def on(self, event, fn=None):
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
        self._handlers.setdefault(event, []).append(_Handler(fn))
        return fn

    def once(self, event, fn=None):
        if fn is None:
            return lambda f: self.once(event, f)

        def wrapper(*args, **kw):
            self.off(event, wrapper)
            return fn(*args, **kw)

        try:
            wrapper.__signature__ = inspect.signature(fn)
        except (TypeError, ValueError):
            pass
        return self.on(event, wrapper)

    def off(self, event, fn=None):
        """Remove the handlers of ``event`` registered with ``fn`` (None: all)."""
        if fn is None:
            self._handlers.pop(event, None)
        elif event in self._handlers:
            self._handlers[event] = [h for h in self._handlers[event] if h.fn is not fn]

    def on_any(self, fn):
        """Catch-all for client events, called before the event's own handlers
        as ``fn(event, *args)`` (+ ack as for ``on``).  Usable as decorator."""
        self._any.append(_Handler(fn))
        return fn

    def off_any(self, fn=None):
        self._any = [] if fn is None else [h for h in self._any if h.fn is not fn]

    def use(self, fn):
        """Per-packet middleware ``fn(socket, packet, next)``; packet is the
        list ``[event, *args]`` (may be modified in place).  ``next()``
        continues; ``next(err)`` drops the packet and raises the socket's
        "error" event with err.  next may be called later (async)."""
        self._middleware.append(fn)
        return fn

    # -- out -----------------------------------------------------------------
    def emit(self, event, *args):
        """Emit to this client.  ``bytes`` anywhere in args travel as binary.
        ValueError for a reserved name (nothing sent).  Returns True when
        handed to the gateway, False when the socket is not connected."""
        return self._emit(event, args)

    @property
    def volatile(self):
        return _Emitter(self)

    def emit_with_ack(self, event, *args, callback, timeout=None):
        """Emit asking the client for an acknowledgement.  ``callback(err,
        *args)`` is called exactly once: err None and the client's ack
        arguments, or err an AckTimeoutError ("operation has timed out")
        after ``timeout`` seconds (None or <= 0: no timeout) or a
        DisconnectedError ("socket has been disconnected").  Returns True
        when sent; False (callback never called) when not connected."""
        check_event_name(event)
        if not callable(callback):
            raise TypeError("callback must be callable")
        if self._state != CONNECTED:
            return False
        ack_id = self._next_ack
        self._next_ack += 1
        if not self._worker._send_app("EMIT", self.id, {"ack": ack_id}, [event, *args]):
            return False
        timer = None
        if timeout is not None and timeout > 0:
            timer = self._worker.call_later(timeout, self._ack_timeout, ack_id)
        self._acks[ack_id] = (callback, timer)
        return True

    def timeout(self, seconds):
        """``socket.timeout(s).emit(event, *args, callback=cb)``, Node style."""
        return _TimeoutEmitter(self, seconds)

    def _emit(self, event, args, volatile=False):
        check_event_name(event)
        if self._state != CONNECTED:
            return False
        meta = {"volatile": True} if volatile else None
        return self._worker._send_app("EMIT", self.id, meta, [event, *args], volatile=volatile)

    def send(self, *args):
        """emit("message", *args)"""
        return self.emit("message", *args)

    # -- rooms ---------------------------------------------------------------
    def join(self, rooms):
        """Join one room (str) or several (iterable).  Joining a room twice
        does nothing; for a socket that has gone, ignored."""
        new = [r for r in dict.fromkeys(_room_list(rooms)) if r not in self._rooms]
        if self._state not in (PENDING, CONNECTED) or not new:
            return
        for r in new:
            self._rooms[r] = True
        if self._state == CONNECTED:
            self._worker._send_app("JOIN", self.id, {"rooms": new})

    def leave(self, rooms):
        """Leave one room or several; leaving a room it is not in does nothing."""
        old = [r for r in dict.fromkeys(_room_list(rooms)) if r in self._rooms]
        if self._state not in (PENDING, CONNECTED) or not old:
            return
        for r in old:
            del self._rooms[r]
        if self._state == CONNECTED:
            self._worker._send_app("LEAVE", self.id, {"rooms": old})

    # -- broadcasts from this socket ------------------------------------------
    def to(self, rooms):
        """Broadcast to ``rooms`` except this socket (socket.to in Node)."""
        return self._worker._operator(rooms=_room_list(rooms), excepts=[self.id])

    in_ = to

    def except_(self, rooms):
        return self._worker._operator(excepts=[self.id] + _room_list(rooms))

    @property
    def broadcast(self):
        """Everyone in the namespace but this socket."""
        return self._worker._operator(excepts=[self.id])

    # -- disconnect --------------------------------------------------------------
    def disconnect(self, close=False):
        """Disconnect this socket (close=True: the client's whole connection,
        every namespace).  "disconnecting" and "disconnect" run here with
        "server namespace disconnect".  Does nothing if not connected."""
        if self._state != CONNECTED:
            if self._state == PENDING:
                log.warning("disconnect() on socket %s still in middleware: use next(err)", self.id)
            return False
        self._worker._send_app("DISCONNECT", self.id, {"close": bool(close)})
        self._close("server namespace disconnect")
        return True

    # -- library side --------------------------------------------------------
    def _emit_local(self, event, *args):
        handlers = list(self._handlers.get(event, ()))
        for h in handlers:
            try:
                h.fn(*args)
            except Exception:
                log.exception("%s handler of socket %s raised", event, self.id)
        return bool(handlers)

    def _close(self, reason):
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
        acks, self._acks = self._acks, {}
        for cb, timer in acks.values():
            if timer:
                timer.cancel()
            self._worker._call(cb, DisconnectedError())
        self._rooms.clear()
        self._state = GONE
        self._worker._forget(self)
        self._emit_local("disconnect", reason)

    def _replaced(self):
        """Its client recovered it (rule 16a): gone without events."""
        acks, self._acks = self._acks, {}
        for cb, timer in acks.values():
            if timer:
                timer.cancel()
            self._worker._call(cb, DisconnectedError())
        self._state = GONE
        self._worker._forget(self)

    def _ack_timeout(self, ack_id):
        entry = self._acks.pop(ack_id, None)
        if entry:
            self._worker._call(entry[0], AckTimeoutError())

    def _on_ack(self, ack_id, args):
        entry = self._acks.pop(ack_id, None)
        if not entry:
            log.debug("socket %s: ack %r for no pending emit; ignored", self.id, ack_id)
            return
        if entry[1]:
            entry[1].cancel()
        self._worker._call(entry[0], None, *args)

    def _on_event(self, packet, ack_id):
        if self._state != CONNECTED:
            return
        mws = list(self._middleware)

        def step(i, err=None):
            if self._state != CONNECTED:
                return
            if err is not None:
                if not self._emit_local("error", err):
                    log.warning("socket %s: packet refused by middleware: %s", self.id, error_message(err)[0])
                return
            if i == len(mws):
                self._dispatch(packet, ack_id)
                return
            try:
                mws[i](self, packet, _Next(lambda e=None: step(i + 1, e)))
            except Exception:
                log.exception("socket middleware of %s raised", self.id)

        step(0)

    def _dispatch(self, packet, ack_id):
        if not packet or not isinstance(packet[0], str):
            return
        event, args = packet[0], list(packet[1:])
        if event in RESERVED_EVENTS or event in LOCAL_EVENTS:
            log.warning("socket %s: client event %r has a reserved name; ignored", self.id, event)
            return
        any_handlers = list(self._any)
        handlers = any_handlers + list(self._handlers.get(event, ()))
        if not handlers:
            return
        ack = Ack(self, ack_id) if ack_id is not None else None
        for i, h in enumerate(handlers):
            try:
                if i < len(any_handlers):
                    h([event, *args], ack)
                else:
                    h(args, ack)
            except Exception:
                log.exception("handler of %r on socket %s raised", event, self.id)
            if self._state != CONNECTED:
                break


class _TimeoutEmitter:
    __slots__ = ("_socket", "_timeout")

    def __init__(self, socket, timeout):
        self._socket = socket
        self._timeout = timeout

    def emit(self, event, *args, callback):
        return self._socket.emit_with_ack(event, *args, callback=callback, timeout=self._timeout)
