"""The Worker: one process serving one namespace behind one or more iogate
gateways.

Speaks the worker side of ipc/PROTOCOL.md over one ZeroMQ DEALER per gateway
(gateway.py): HELLO and heartbeats, CONNECT -> middleware -> ACCEPT/REFUSE,
events, acks both ways, rooms, broadcasts, disconnects.  Single-threaded:
everything runs inside ``process()`` (or ``run()``), called from one thread.
The python-socketio style methods live in sioapi.py, the asyncio variant in
aio.py.  Every time in this API is in milliseconds.
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
import os
import select
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

import zmq

from . import admission, protocol
from .adapter import Adapter
from .bcast_ack import BroadcastAcks
from .errors import INTERNAL_ERROR, ConnectError, NotSupportedError, error_message
from .gateway import _EVENTS, _POLLIN, BYE, CLOSED, DEFAULT_HEARTBEAT_MS, HELLO, NEW, READY, Gateway, \
    _zget, curve_keys, parse_endpoints, random_id, recv_frames
from .log import NamespaceLogger, default_logging
from .parent import bind_to_gateway
from .protocol import ProtocolError
from .sioapi import SocketIOAPI
from .socket import CONNECTED, PENDING, Socket, _Next, _room_list, check_event_name


CONN_EVENTS = ("upgrade", "packet", "packetCreate", "drain", "close")
BATCH = 1000  # messages handled per gateway per process() call before timers get a turn
STOP_GRACE = 0.25  # seconds run() keeps handling messages after stop()

Rooms = Union[str, Iterable[str], None]


def is_async_callable(fn: Any) -> bool:
    """True for an ``async def`` function (also behind functools.partial or
    a callable object whose __call__ is async)."""
    while hasattr(fn, "func") and not inspect.isfunction(fn):  # functools.partial
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


class Timer:
    """Handle of ``Worker.call_later``."""

    __slots__ = ("when", "seq", "fn", "args", "cancelled")

    def __init__(self, when: float, seq: int, fn: Callable[..., Any], args: tuple) -> None:
        self.when, self.seq, self.fn, self.args = when, seq, fn, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: "Timer") -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


SERVER_SIDE_EMIT_TIMEOUT_MS = 5000  # socket.io's cluster adapter: requestsTimeout

class BroadcastOperator:
    """A {rooms, except, volatile} selector (io.to(room) in Node).  Immutable:
    every builder returns a new operator."""

    def __init__(self, worker: "Worker", rooms: Iterable[str] = (), excepts: Iterable[str] = (),
                 volatile: bool = False) -> None:
        self._worker = worker
        self._rooms = tuple(dict.fromkeys(rooms))
        self._excepts = tuple(dict.fromkeys(excepts))
        self._volatile = volatile

    _timeout: Optional[float] = None  # ms, set by timeout(): acks may be asked

    def _derive(self, op: "BroadcastOperator") -> "BroadcastOperator":
        op._timeout = self._timeout
        return op

    def to(self, rooms: Rooms) -> "BroadcastOperator":
        return self._derive(type(self)(self._worker, self._rooms + tuple(_room_list(rooms)),
                                       self._excepts, self._volatile))

    in_ = to

    def except_(self, rooms: Rooms) -> "BroadcastOperator":
        return self._derive(type(self)(self._worker, self._rooms,
                                       self._excepts + tuple(_room_list(rooms)), self._volatile))

    @property
    def volatile(self) -> "BroadcastOperator":
        return self._derive(type(self)(self._worker, self._rooms, self._excepts, True))

    def timeout(self, ms: float) -> "BroadcastOperator":
        """``worker.to(room).timeout(ms).emit(ev, *args, callback=cb)``:
        ``cb(err, responses)`` (PROTOCOL.md rule 25a, see bcast_ack.py)."""
        op = type(self)(self._worker, self._rooms, self._excepts, self._volatile)
        op._timeout = ms
        return op

    @property
    def local(self) -> "BroadcastOperator":
        """socket.io's "this server node only": exact as it is, the worker
        being the only server of its namespace."""
        return self

    def compress(self, flag: bool = True) -> Any:
        raise NotSupportedError("compress()")

    def emit(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None) -> bool:
        """One BROADCAST to each gateway; a gateway resolves the receivers
        from its routing copy of the rooms.  ValueError for a reserved name.
        With ``callback`` (after ``timeout(ms)``): ``callback(err,
        responses)`` once every receiver answered (err None) or at the
        timeout (err AckTimeoutError, the responses that came)."""
        check_event_name(event)
        meta = {}
        if self._rooms:
            meta["rooms"] = list(self._rooms)
        if self._excepts:
            meta["except"] = list(self._excepts)
        if callback is not None:
            self._worker._check_fn(callback)
            sent = self._worker._bcast_acks.emit(meta, [event, *args], self._timeout, callback)
            self._notify_outgoing(event, args)
            return sent
        if self._volatile:
            meta["volatile"] = True
        if not self._worker._broadcast(meta, [event, *args], self._volatile):
            return False
        self._notify_outgoing(event, args)
        return True

    def _notify_outgoing(self, event: str, args: Any) -> None:
        if self._worker._outgoing_listeners:  # only then pay for finding the receivers
            for s in self.sockets():  # from the worker's own room state
                if s._any_outgoing:
                    s._notify_outgoing(event, args)

    def emit_with_ack(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None) -> Any:
        """``emit(..., callback=cb)``; without callback (AsyncWorker) an
        awaitable of the responses that raises AckTimeoutError."""
        if callback is None:
            return self._worker._bcast_ack_future(self, event, args)
        return self.emit(event, *args, callback=callback)

    def send(self, *args: Any) -> bool:
        return self.emit("message", *args)

    # -- resolved locally, from this worker's own room state ------------------
    def sockets(self) -> List[Socket]:
        """The connected Socket objects this operator selects."""
        out = []
        for s in list(self._worker._sockets.values()):
            if s._state != CONNECTED:
                continue
            if self._rooms and not any(r in s._rooms for r in self._rooms):
                continue
            if any(r in s._rooms for r in self._excepts):
                continue
            out.append(s)
        return out

    def fetch_sockets(self) -> List[Dict[str, Any]]:
        """[{"id", "rooms": [...], "handshake": {...}, "data": ...}, ...]"""
        return [{"id": s.id, "rooms": list(s._rooms), "handshake": s.handshake, "data": s.data}
                for s in self.sockets()]

    def sockets_join(self, room: Rooms) -> None:
        for s in self.sockets():
            s.join(room)

    def sockets_leave(self, room: Rooms) -> None:
        for s in self.sockets():
            s.leave(room)

    def disconnect_sockets(self, close: bool = False) -> None:
        for s in self.sockets():
            s.disconnect(close)


class Worker(SocketIOAPI):
    """Serve ``namespace`` at the gateway(s) ``endpoint``.

    endpoint / namespace None: the environment variables IOGATE_ENDPOINT /
    IOGATE_NAMESPACE (set by a gateway that spawns its workers); namespace
    defaults to "/".  ``endpoint`` may name several gateways separated by
    commas: one connection each (PROTOCOL.md rule 2).  ``conn_events``: conn
    notices to subscribe to, among "upgrade" (always), "packet",
    "packetCreate", "drain", "close".  ``curve_serverkey``: the gateways'
    Z85 CURVE public key (None: IOGATE_CURVE_SERVERKEY, rule 1a).

    Nothing is sent until ``start()`` (or the first ``fileno()``,
    ``process()``, ``run()``): register middleware and handlers first.
    """

    #: True in AsyncWorker: ``async def`` callbacks run as asyncio tasks
    _aio = False
    _operator_class = BroadcastOperator

    def __init__(self, endpoint: Optional[str] = None, namespace: Optional[str] = None,
                 conn_events: Optional[Iterable[str]] = None, context: Optional[zmq.Context] = None,
                 curve_serverkey: Optional[str] = None) -> None:
        bind_to_gateway()  # spawned by a gateway: SIGTERM when it dies
        if endpoint is None:
            endpoint = os.environ.get("IOGATE_ENDPOINT")
        if not endpoint:
            raise ValueError("no gateway endpoint (argument or IOGATE_ENDPOINT)")
        if namespace is None:
            namespace = os.environ.get("IOGATE_NAMESPACE") or "/"
        if not namespace.startswith("/"):
            raise ValueError("a namespace starts with '/'")
        if curve_serverkey is None:
            curve_serverkey = os.environ.get("IOGATE_CURVE_SERVERKEY") or None
        default_logging()
        self.log = NamespaceLogger(logging.getLogger("iogate.worker"), {"nsp": namespace})
        self.endpoint = endpoint
        self.namespace = namespace
        self.pid = os.getpid()
        self._curve = curve_keys(curve_serverkey) if curve_serverkey else None
        self._gws = [Gateway(self, ep) for ep in parse_endpoints(endpoint)]
        self._conn_events = ["upgrade"]
        self._started = False
        self._closed = False
        self.subscribe_conn(*(conn_events or ()))
        self._ctx = context
        self._own_ctx = context is None
        self._middleware: List[Callable[..., Any]] = []
        self._connection: List[Callable[..., Any]] = []
        self._sockets: Dict[str, Socket] = {}  # id -> Socket (pending and connected), all gateways
        self._bcast_acks = BroadcastAcks(self)  # broadcasts waiting for answers (rule 25a)
        self.adapter = Adapter(self)  # rooms of our sockets and their events
        self._timers: List[Timer] = []
        self._seq = itertools.count()
        self._stop = False
        self._wake_r: Optional[int] = None
        self._wake_w: Optional[int] = None
        self._epoll: Optional[Any] = None
        self._next_req = 1
        self._outgoing_listeners = False  # set once any socket has on_any_outgoing
        SocketIOAPI.__init__(self)

    # -- registration --------------------------------------------------------
    def subscribe_conn(self, *events: str) -> None:
        """Add conn notices to ask for in HELLO (before the worker starts)."""
        if self._started:
            raise RuntimeError("subscribe_conn after start")
        for e in events:
            if e not in CONN_EVENTS:
                raise ValueError("unknown conn event %r" % e)
            if e not in self._conn_events:
                self._conn_events.append(e)

    def _check_fn(self, fn: Any) -> None:
        """Refuse an ``async def`` callback at registration in the synchronous
        Worker, which has no event loop to run it on (it would never run)."""
        if not callable(fn):
            raise TypeError("%r is not callable" % (fn,))
        if not self._aio and is_async_callable(fn):
            raise TypeError("%r is an async function: the synchronous Worker cannot run it; "
                            "use iogate.AsyncWorker" % (getattr(fn, "__name__", fn),))

    def use(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Namespace middleware ``fn(socket, next)``, run in order for every
        new socket before "connection".  Call ``next()`` to continue or
        ``next(err)`` to refuse (the client gets connect_error with
        err.message and err.data, see ConnectError) — now or later.  Raising
        a ConnectError refuses with it; raising anything else is logged and
        refuses with "Internal server error"."""
        self._check_fn(fn)
        self._middleware.append(fn)
        return fn

    def on_connection(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn(socket)`` for every accepted socket; register its handlers here."""
        self._check_fn(fn)
        self._connection.append(fn)
        return fn

    def allow_request(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: ``fn(handshake)`` decides whether a handshake may open a
        session, when the gateway runs with ``--admission`` (see admission.py)."""
        self._check_fn(fn)
        self._allow_request = fn
        return fn

    # -- namespace-wide operations ----------------------------------------------
    def server_side_emit(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None,
                         timeout: float = SERVER_SIDE_EMIT_TIMEOUT_MS) -> bool:
        """socket.io's ``io.serverSideEmit``: to the other worker processes
        of this namespace (PROTOCOL.md rule 25b).  ``callback(err,
        responses)`` after every one answered or after ``timeout`` ms
        (socket.io's requestsTimeout, 5000); a worker alone in its namespace
        gets ``(None, [])``."""
        check_event_name(event)
        if callback is not None:
            self._check_fn(callback)
            return self._bcast_acks.emit({}, [event, *args], timeout, callback, "SERVER_EMIT")
        sent = False
        for g in self._gws:
            if g.send_app("SERVER_EMIT", "", {}, [event, *args]):
                sent = True
        return sent

    def on_adapter(self, event: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """``@worker.on_adapter("join-room")``: ``worker.adapter.on(...)``,
        socket.io's ``io.of(nsp).adapter.on(event, fn)``."""
        return self.adapter.on(event, fn)

    def off_adapter(self, event: str, fn: Optional[Callable[..., Any]] = None) -> None:
        self.adapter.off(event, fn)

    def timeout(self, ms: float) -> BroadcastOperator:
        """``worker.timeout(ms).emit(ev, *args, callback=cb)``: every socket."""
        return self._operator().timeout(ms)

    def _bcast_ack_future(self, op: BroadcastOperator, event: str, args: Any) -> Any:
        raise TypeError("emit_with_ack on a broadcast needs callback= (or AsyncWorker)")

    def _operator(self, rooms: Iterable[str] = (), excepts: Iterable[str] = (),
                  volatile: bool = False) -> BroadcastOperator:
        return self._operator_class(self, rooms, excepts, volatile)

    def to(self, rooms: Rooms) -> BroadcastOperator:
        return self._operator(rooms=_room_list(rooms))

    in_ = to

    def except_(self, rooms: Rooms) -> BroadcastOperator:
        return self._operator(excepts=_room_list(rooms))

    @property
    def volatile(self) -> BroadcastOperator:
        return self._operator(volatile=True)

    @property
    def local(self) -> BroadcastOperator:
        """Every socket, this server node only: exact (see BroadcastOperator.local)."""
        return self._operator()

    def compress(self, flag: bool = True) -> Any:
        raise NotSupportedError("worker.compress()")

    def fetch_sockets(self, rooms: Rooms = None) -> Any:
        """Sockets in any of ``rooms`` (None: all): a list of dicts with id,
        rooms, handshake, data — resolved locally, the worker owns the rooms."""
        return self._operator(rooms=_room_list(rooms)).fetch_sockets()

    def sockets_join(self, room: Rooms, rooms: Rooms = None) -> None:
        self._operator(rooms=_room_list(rooms)).sockets_join(room)

    def sockets_leave(self, room: Rooms, rooms: Rooms = None) -> None:
        self._operator(rooms=_room_list(rooms)).sockets_leave(room)

    def disconnect_sockets(self, close: bool = False, rooms: Rooms = None) -> None:
        self._operator(rooms=_room_list(rooms)).disconnect_sockets(close)

    @property
    def sockets(self) -> Dict[str, Socket]:
        """{id: Socket} of the connected sockets (a copy)."""
        return {k: s for k, s in self._sockets.items() if s._state == CONNECTED}

    def get_socket(self, sid: str) -> Optional[Socket]:
        s = self._sockets.get(sid)
        return s if s is not None and s._state == CONNECTED else None

    @property
    def connected(self) -> bool:
        """True while at least one gateway has welcomed this worker."""
        return any(g.state == READY for g in self._gws)

    @property
    def gateways(self) -> List[Gateway]:
        """The gateway connections, in the order of the endpoint list."""
        return list(self._gws)

    @property
    def gateway(self) -> Optional[str]:
        """The first gateway's incarnation id (from WELCOME)."""
        return self._gws[0].id

    @property
    def incarnation(self) -> str:
        """The first gateway connection's incarnation (each has its own)."""
        return self._gws[0].incarnation

    @property
    def heartbeat_ms(self) -> int:
        return self._gws[0].heartbeat_ms

    @heartbeat_ms.setter
    def heartbeat_ms(self, ms: int) -> None:
        for g in self._gws:
            g.set_heartbeat(int(ms))

    @property
    def heartbeat(self) -> float:
        """Deprecated: the heartbeat in seconds (use heartbeat_ms)."""
        return self.heartbeat_ms / 1000.0

    @heartbeat.setter
    def heartbeat(self, seconds: float) -> None:
        self.heartbeat_ms = max(1, int(seconds * 1000))

    def query(self, op: str, callback: Callable[[Dict[str, Any]], Any], **params: Any) -> bool:
        """QUERY the first welcomed gateway (rule 29): ``callback(reply_meta)``
        once the REPLY comes ({"error": ...} in it on failure or gateway
        loss).  ``worker.query("sockets", cb)`` lists that gateway's routing
        copy."""
        self._check_fn(callback)
        for g in self._gws:
            if g.state == READY and not g.lost:
                req = self._next_req
                self._next_req += 1
                if not g.send_app("QUERY", "", dict(params, req=req, op=op)):
                    return False
                g.queries[req] = callback
                return True
        return False

    # -- timers ----------------------------------------------------------------
    def call_later(self, delay_ms: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run ``fn(*args)`` from process() after ``delay_ms`` milliseconds.
        Returns a Timer with ``cancel()``."""
        self._check_fn(fn)
        t = Timer(time.monotonic() + max(0.0, delay_ms) / 1000.0, next(self._seq), fn, args)
        heapq.heappush(self._timers, t)
        return t

    # -- life ------------------------------------------------------------------
    def start(self) -> None:
        """Connect and say HELLO to every gateway.  Idempotent (after a
        gateway's BYE it says HELLO to that gateway again)."""
        if self._closed:
            raise RuntimeError("worker is closed")
        if not self._started:
            if self._ctx is None:
                self._ctx = zmq.Context()
            for g in self._gws:
                g.open(self._ctx, self._curve)
                self.log.info("connecting to %s%s (incarnation %s)", g.endpoint,
                              " with CURVE" if self._curve else "", g.incarnation)
            self._started = True
        self._hello((NEW, BYE))

    def _hello(self, states: Iterable[str]) -> None:
        for g in self._gws:
            if g.state in states:
                g.state = HELLO
                g.bye_reason = None
                g.send_hello()

    def _ensure_started(self) -> None:
        """start() for process()/fileno(): a gateway that said BYE stays
        dismissed (rule 15) until the application calls start() or run()."""
        if not self._started:
            self.start()

    def fileno(self) -> int:
        """The file descriptor to watch for readability (edge-triggered:
        always call next_timeout() before waiting).  With one gateway its
        ZMQ_FD; with several an epoll descriptor watching all of them."""
        self._ensure_started()
        if len(self._gws) == 1:
            return self._gws[0].sock.getsockopt(zmq.FD)
        if self._epoll is None:
            self._epoll = select.epoll()
            for g in self._gws:
                self._epoll.register(g.sock.getsockopt(zmq.FD), select.EPOLLIN)
        return self._epoll.fileno()

    def next_timeout(self) -> float:
        """Milliseconds until process() must be called even if the fd stays
        quiet; 0 when messages are already waiting."""
        if not self._started or self._closed:
            return 1000.0
        if any(g.readable() or g.lost for g in self._gws):
            return 0.0
        now = time.monotonic()
        due: List[float] = []
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        if self._timers:
            due.append(self._timers[0].when)
        for g in self._gws:
            due.extend(g.due())
        if not due:
            return 1000.0
        return max(0.0, min(due) - now) * 1000.0

    def process(self) -> None:
        """Handle every message waiting and every timer due.  Never blocks
        (except on a full send queue to a gateway, PROTOCOL.md rule 32)."""
        self._ensure_started()
        handle = self._handle
        for g in self._gws:
            n = 0
            while n < BATCH:
                sock = g.sock
                if sock is None:
                    break
                # ZMQ_EVENTS first while messages come one at a time (a
                # failing recv raises, which costs three times as much);
                # in a burst, recv until it says there is no more.
                if n < 2 and g.carry is None and not _zget(sock, _EVENTS) & _POLLIN:
                    break
                try:
                    frames = recv_frames(g)
                except zmq.Again:
                    break
                n += 1
                handle(g, frames)
            if n:
                g.last_recv = time.monotonic()
            g.report_processed()
        self._run_timers()
        for g in self._gws:
            if g.lost:
                why, g.lost = g.lost, None
                self._gateway_lost(g, why)

    def _all_bye(self) -> bool:
        return all(g.state == BYE for g in self._gws)

    def _bye_reason(self) -> Optional[str]:
        return self._gws[-1].bye_reason if len(self._gws) == 1 else \
            next((g.bye_reason for g in reversed(self._gws) if g.bye_reason is not None), None)

    def run(self) -> Optional[str]:
        """Run the loop until stop() (then keep handling messages for up to
        0.25 s or until every gateway's BYE, so that a gateway shutting down
        still gets every disconnect handler run) or until every gateway has
        said BYE.  Returns the BYE reason, or None when stopped."""
        self.start()
        if self._wake_r is None:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
        # The sockets' ZMQ_FDs with select.poll, as zmq_poll does it but
        # without its per-call setup: they only say "look at ZMQ_EVENTS",
        # which next_timeout() does (0 when a message waits) before each wait.
        poller = select.poll()
        for g in self._gws:
            poller.register(g.sock.getsockopt(zmq.FD), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        wake_r = self._wake_r
        deadline = None
        try:
            while not self._closed:
                if self._all_bye():
                    return self._bye_reason()
                now = time.monotonic()
                if self._stop and deadline is None:
                    deadline = now + STOP_GRACE
                if deadline is not None and now >= deadline:
                    return None
                t = self.next_timeout()
                if deadline is not None:
                    t = min(t, (deadline - now) * 1000.0)
                if t > 0:
                    # only a stop() writes to the pipe: read it when it says so
                    for fd, _ in poller.poll(max(0, int(t + 0.999))):
                        if fd == wake_r:
                            try:
                                os.read(wake_r, 512)
                            except (BlockingIOError, InterruptedError):
                                pass
                self.process()
            return None
        finally:
            self._stop = False

    def stop(self) -> None:
        """Make run() return soon.  Safe to call from a signal handler."""
        self._stop = True
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def close(self) -> None:
        """Say BYE (each gateway disconnects this worker's sockets), forget
        every socket without raising events, close the ZeroMQ sockets."""
        if self._closed:
            return
        self._bcast_acks.close()  # waiting callbacks get an error, not silence
        self.adapter._reset()
        for g in self._gws:
            g.close(say_bye=True)
        self._sockets.clear()
        self._timers = []
        self._closed = True
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        if self._own_ctx and self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._wake_r = self._wake_w = None

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------
    def _broadcast(self, meta: Dict[str, Any], data: List[Any], volatile: bool) -> bool:
        """A BROADCAST to every welcomed gateway: each applies rooms/except
        to its own sockets (rule 2).  True when at least one took it."""
        sent = False
        for g in self._gws:
            if g.send_app("BROADCAST", "", meta, data, volatile):
                sent = True
        return sent

    # -- calling application code ------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._after(fn(*args), fn)
        except Exception:
            self.log.exception("callback %r raised", fn)
            return None

    def _after(self, result: Any, fn: Any, on_error: Optional[Callable[[BaseException], Any]] = None,
               on_done: Optional[Callable[[Any], Any]] = None) -> Any:
        """What a callback returned: an awaitable runs as a task (AsyncWorker)
        or is refused loudly (synchronous Worker: it would never run).
        ``on_done(value)`` / ``on_error(exc)`` follow the callback's outcome,
        now or when its task ends."""
        if not inspect.isawaitable(result):
            if on_done is not None:
                on_done(result)
            return result
        if self._aio:
            self._spawn(result, fn, on_error, on_done)
            return None
        if inspect.iscoroutine(result):
            result.close()
        self.log.error("%r returned an awaitable: the synchronous Worker cannot run it "
                       "(use iogate.AsyncWorker); ignored", getattr(fn, "__name__", fn))
        if on_error is not None:
            on_error(TypeError("async callback in a synchronous Worker"))
        return None

    def _spawn(self, awaitable: Any, fn: Any, on_error: Any, on_done: Any) -> None:
        raise NotImplementedError  # AsyncWorker

    def _sent(self) -> None:
        """After a send (AsyncWorker: wake run() when it came from a task)."""

    # -- timers --------------------------------------------------------------------
    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0].when <= now:
            t = heapq.heappop(self._timers)
            if not t.cancelled:
                t.cancelled = True
                self._call(t.fn, *t.args)
        for g in self._gws:
            if g.state == READY:
                if now - g.last_recv > 3 * g.heartbeat:
                    self._gateway_lost(g, "gateway silent for %.1f s" % (now - g.last_recv))
                elif now >= g.next_ping:
                    g.send(protocol.encode("PING"), volatile=True)
                    g.next_ping = now + g.heartbeat
            elif g.state == HELLO and now >= g.next_hello:
                self.log.info("no WELCOME yet from %s; HELLO again", g.endpoint)
                g.send_hello()

    # -- receiving -------------------------------------------------------------------
    def _handle(self, g: Gateway, frames: List[bytes]) -> None:
        try:
            m = protocol.decode(frames)
        except ProtocolError as e:
            self.log.error("bad message from the gateway %s (ignored): %s", g.endpoint, e)
            return
        t = m.type
        if t == "EVENT" and g.state == READY and (not m.namespace or m.namespace == self.namespace):
            # the hot path first; the same steps as below for EVENT
            meta = m.meta
            seq = meta.get("seq")
            if type(seq) is int:
                g.seq_handled = seq
            s = self._sockets.get(m.sid)
            if s is None or s._gw is not g:
                self.log.debug("%s for unknown socket %r ignored", t, m.sid)
                return
            data = m.data
            if not data or not isinstance(data[0], str):
                self.log.error("EVENT without an event name ignored")
                return
            ack = meta.get("ack")
            s._on_event(data, ack if type(ack) is int else None)
            return
        if t == "PING":
            g.send(protocol.encode("PONG"), volatile=True)
            return
        if t == "PONG":
            return
        if t == "WELCOME":
            self._on_welcome(g, m)
            return
        if t == "ERROR":
            self._on_error(g, m)
            return
        if t == "BYE":
            reason = m.meta.get("reason", "")
            self.log.info("gateway %s said BYE (%s)", g.endpoint, reason)
            self._reset_sockets(g)
            self._fail_queries(g, "gateway said BYE")
            g.state = BYE
            g.bye_reason = reason if isinstance(reason, str) else ""
            return
        if g.state != READY:
            self.log.debug("%s before WELCOME ignored", t)
            return
        if m.namespace and m.namespace != self.namespace:
            self.log.error("%s for namespace %r, this worker serves %r; ignored", t, m.namespace,
                           self.namespace)
            return
        if t in ("BROADCAST_ACK", "SERVER_EMIT_ACK"):
            self._bcast_acks.on_message(g, m)
            return
        if t == "ADMIT":
            admission.handle(self, g, m)
            return
        if t == "REPLY":
            cb = g.queries.pop(m.meta.get("req"), None)
            if cb:
                self._call(cb, m.meta)
            return
        if t == "CONNECT":
            self._on_connect(g, m)
            return
        if t in ("EVENT", "ACK"):
            seq = m.meta.get("seq")
            if type(seq) is int:
                g.seq_handled = seq
        s = self._sockets.get(m.sid)
        if s is None or s._gw is not g:  # another gateway's socket is not this one's to touch
            self.log.debug("%s for unknown socket %r ignored", t, m.sid)
            return
        if t == "EVENT":
            if not m.data or not isinstance(m.data[0], str):
                self.log.error("EVENT without an event name ignored")
                return
            ack = m.meta.get("ack")
            s._on_event(m.data, ack if type(ack) is int else None)
        elif t == "ACK":
            s._on_ack(m.meta.get("id"), m.data or [])
        elif t == "DISCONNECT":
            reason = m.meta.get("reason")
            s._close(reason if isinstance(reason, str) else "transport close")
        elif t == "CONN":
            ev = m.meta.get("event")
            if ev == "upgrade" and isinstance(m.meta.get("transport"), str):
                s.conn.transport = m.meta["transport"]
            for fn in list(s.conn._handlers.get(ev, ())):
                self._call(fn, m.meta)

    def _on_welcome(self, g: Gateway, m: protocol.Message) -> None:
        ver = m.meta.get("version")
        if ver != protocol.PROTOCOL_VERSION:
            self.log.error("WELCOME with protocol version %r; expected %d", ver, protocol.PROTOCOL_VERSION)
            return
        gw = m.meta.get("gateway")
        if g.state == READY and gw == g.id:
            return  # the answer to a repeated HELLO
        if g.state == READY:
            self._reset_sockets(g)  # a new gateway without us noticing the old one go
        hb = m.meta.get("heartbeat_ms")
        if type(hb) is int and 0 < hb < 3600000:
            g.set_heartbeat(hb)
        g.id = gw
        g.state = READY
        g.seq_handled = g.seq_reported = 0  # numbering is per registration
        now = time.monotonic()
        g.last_recv = now
        g.next_ping = now + g.heartbeat
        self.log.info("welcomed by gateway %s at %s (heartbeat %d ms)", gw, g.endpoint, g.heartbeat_ms)

    def _on_error(self, g: Gateway, m: protocol.Message) -> None:
        code, msg, typ = m.meta.get("code"), m.meta.get("message"), m.meta.get("type")
        if code == "hello" and g.state == READY:
            self.log.warning("gateway %s no longer knows this worker (%s): HELLO again", g.endpoint, msg)
            self._gateway_lost(g, "gateway forgot the worker")
            return
        if code == "version" and typ == "HELLO":
            self.log.error("gateway %s refused protocol version %d: %s", g.endpoint,
                           protocol.PROTOCOL_VERSION, msg)
            g.state = BYE
            g.bye_reason = "version refused"
            return
        self.log.warning("gateway %s ERROR %s on %s: %s", g.endpoint, code, typ, msg)

    def _reset_sockets(self, g: Gateway) -> None:
        for s in [s for s in self._sockets.values() if s._gw is g]:
            s._close("transport close")
            self._forget(s)

    def _fail_queries(self, g: Gateway, why: str) -> None:
        qs, g.queries = g.queries, {}
        for req, cb in qs.items():
            self._call(cb, {"req": req, "error": why})

    def _gateway_lost(self, g: Gateway, why: str) -> None:
        """Rule 14/34: every socket of that gateway (only those) disconnects
        with "transport close", its pending acks fail, HELLO again."""
        if g.state != READY:
            return
        self.log.warning("gateway %s lost (%s): %d socket(s) disconnected; HELLO again", g.endpoint, why,
                         sum(1 for s in self._sockets.values() if s._gw is g and s._state == CONNECTED))
        g.state = HELLO
        self._reset_sockets(g)
        self._fail_queries(g, "gateway lost")
        # Rule 10: a fresh incarnation names the new (empty) socket state, so
        # a gateway that is in fact alive resets what it had for us.
        g.incarnation = random_id()
        g.send_hello()

    def _forget(self, s: Socket) -> None:
        if self._sockets.get(s.id) is s:
            del self._sockets[s.id]
            self.adapter._del_all(s.id)  # its rooms go (between disconnecting and disconnect)

    def _on_connect(self, g: Gateway, m: protocol.Message) -> None:
        sid = m.sid
        if len(sid) != 20:
            self.log.error("CONNECT with a bad socket id %r ignored", sid)
            return
        old = self._sockets.get(sid)
        restored = m.meta.get("restored") is True
        if old is not None and old._gw is not g:
            # Ids are 20 random characters: two gateways choosing the same
            # one is a bug or an attack, not chance (rule 2).
            self.log.warning("CONNECT %s from %s: id already used by a socket of %s, refused", sid,
                             g.endpoint, old._gw.endpoint)
            g.send_app("REFUSE", sid, {"message": "duplicate socket id"})
            return
        if old is not None and restored:
            # Its client recovered it (PROTOCOL.md rule 16a): a new socket
            # takes the old one's place silently, with its data.
            old._replaced()
        elif old is not None:
            self.log.warning("CONNECT for known socket %s: the old one is gone", sid)
            old._close("transport close")
        hs = m.meta.get("handshake")
        hs = dict(hs) if isinstance(hs, dict) else {}
        if not isinstance(hs.get("auth"), dict):
            hs["auth"] = {}
        for k, default in (("headers", {}), ("query", {})):
            if not isinstance(hs.get(k), dict):
                hs[k] = default
        transport = m.meta.get("transport")
        # recovered, like the reference's: the client kept its state, after a
        # worker restart (rule 16) or its own reconnection (restored, 16a)
        recovered = m.meta.get("recovered") is True or restored
        rooms = m.meta.get("rooms") if recovered and isinstance(m.meta.get("rooms"), list) else None
        s = Socket(self, g, sid, hs, transport if isinstance(transport, str) else "polling",
                   recovered, rooms)
        s.restored = restored
        if old is not None and restored:
            s.data = old.data
        self._sockets[sid] = s
        mws = [] if restored and m.meta.get("skip_middlewares") is True else list(self._middleware)
        n_user = len(mws)  # python-socketio's connect handler, if any, runs after these
        if self._sio_connect is not None:
            mws.append(self._sio_connect_middleware)

        def step(i: int, err: Any = None) -> None:
            if s._state != PENDING or self._sockets.get(sid) is not s:
                return  # gone meanwhile (or the gateway was lost)
            if err is not None:
                self._refuse(s, err)
                return
            if i >= len(mws):
                self._accept(s)
                return
            nxt = _Next(lambda e=None: step(i + 1, e))

            def failed(e: BaseException) -> None:
                if isinstance(e, ConnectError):
                    nxt(e)  # the application's own refusal: its message goes to the client
                    return
                fn = self._sio_connect if i == n_user else mws[i]
                what = "connect handler" if i == n_user else "namespace middleware"
                self.log.error("%s %r raised; socket %s refused with %r", what,
                               getattr(fn, "__name__", fn), sid, INTERNAL_ERROR,
                               exc_info=(type(e), e, e.__traceback__))
                nxt(ConnectError(INTERNAL_ERROR))

            def done(_value: Any) -> None:
                # an async middleware that returns without calling next() continues
                if not nxt._used:
                    nxt()

            try:
                res = mws[i](s, nxt)
            except Exception as e:
                failed(e)
                return
            self._after(res, mws[i], failed, done if inspect.isawaitable(res) else None)

        step(0)

    def _refuse(self, s: Socket, err: Any) -> None:
        message, data = error_message(err)
        meta: Dict[str, Any] = {"message": message}
        if data is not None:
            meta["data"] = data
        s._gw.send_app("REFUSE", s.id, meta)
        if s._held:
            self.log.debug("socket %s refused: %d message(s) emitted during middleware dropped", s.id,
                           len(s._held))
        s._held = []
        s._state = "gone"
        self._forget(s)

    def _accept(self, s: Socket) -> None:
        if not s._gw.send_app("ACCEPT", s.id):
            return
        s._state = CONNECTED
        join = [r for r in s._rooms if r not in s._gw_rooms]
        leave = [r for r in s._gw_rooms if r not in s._rooms]
        if join:
            s._gw.send_app("JOIN", s.id, {"rooms": join})
        if leave:
            s._gw.send_app("LEAVE", s.id, {"rooms": leave})
        held, s._held = s._held, []
        for mtype, meta, data, volatile in held:
            s._gw.send_app(mtype, s.id, meta, data, volatile)
        for fn in list(self._connection):
            if s._state != CONNECTED:
                break
            self._call(fn, s)
