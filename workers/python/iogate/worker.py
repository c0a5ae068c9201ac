"""The Worker: one process serving one namespace behind the iogate gateway.

Speaks the worker side of ipc/PROTOCOL.md over a ZeroMQ DEALER: HELLO and
heartbeats, CONNECT -> middleware -> ACCEPT/REFUSE, events, acks both ways,
rooms, broadcasts, disconnects.  Single-threaded: everything runs inside
``process()`` (or ``run()``), called from one thread.
"""

import heapq
import itertools
import logging
import os
import random
import string
import time

import zmq

from . import protocol
from .errors import error_message
from .parent import bind_to_gateway
from .protocol import ProtocolError
from .socket import CONNECTED, PENDING, Socket, _Next, _room_list, check_event_name

log = logging.getLogger("iogate")

CONN_EVENTS = ("upgrade", "packet", "packetCreate", "drain", "close")
DEFAULT_HEARTBEAT_MS = 5000
BATCH = 1000  # messages handled per process() call before timers get a turn
STOP_GRACE = 0.25  # seconds run() keeps handling messages after stop()

# worker states
NEW, HELLO, READY, BYE, CLOSED = "new", "hello", "ready", "bye", "closed"


def _random_id(n=20):
    alphabet = string.ascii_letters + string.digits + "-_"
    rnd = random.SystemRandom()
    return "".join(rnd.choice(alphabet) for _ in range(n))


class Timer:
    """Handle of ``Worker.call_later``."""

    __slots__ = ("when", "seq", "fn", "args", "cancelled")

    def __init__(self, when, seq, fn, args):
        self.when, self.seq, self.fn, self.args = when, seq, fn, args
        self.cancelled = False

    def cancel(self):
        self.cancelled = True

    def __lt__(self, other):
        return (self.when, self.seq) < (other.when, other.seq)


class BroadcastOperator:
    """A {rooms, except, volatile} selector (io.to(room) in Node).  Immutable:
    every builder returns a new operator."""

    def __init__(self, worker, rooms=(), excepts=(), volatile=False):
        self._worker = worker
        self._rooms = tuple(dict.fromkeys(rooms))
        self._excepts = tuple(dict.fromkeys(excepts))
        self._volatile = volatile

    def to(self, rooms):
        return BroadcastOperator(self._worker, self._rooms + tuple(_room_list(rooms)), self._excepts,
                                 self._volatile)

    in_ = to

    def except_(self, rooms):
        return BroadcastOperator(self._worker, self._rooms, self._excepts + tuple(_room_list(rooms)),
                                 self._volatile)

    @property
    def volatile(self):
        return BroadcastOperator(self._worker, self._rooms, self._excepts, True)

    def emit(self, event, *args):
        """One BROADCAST to the gateway; the gateway resolves the receivers
        from its routing copy of the rooms.  ValueError for a reserved name.
        Acknowledgements are not available for broadcasts."""
        check_event_name(event)
        meta = {}
        if self._rooms:
            meta["rooms"] = list(self._rooms)
        if self._excepts:
            meta["except"] = list(self._excepts)
        if self._volatile:
            meta["volatile"] = True
        return self._worker._send_app("BROADCAST", "", meta, [event, *args], volatile=self._volatile)

    def send(self, *args):
        return self.emit("message", *args)

    # -- resolved locally, from this worker's own room state ------------------
    def sockets(self):
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

    def fetch_sockets(self):
        """[{"id", "rooms": [...], "handshake": {...}, "data": ...}, ...]"""
        return [{"id": s.id, "rooms": list(s._rooms), "handshake": s.handshake, "data": s.data}
                for s in self.sockets()]

    def sockets_join(self, room):
        for s in self.sockets():
            s.join(room)

    def sockets_leave(self, room):
        for s in self.sockets():
            s.leave(room)

    def disconnect_sockets(self, close=False):
        for s in self.sockets():
            s.disconnect(close)


class Worker:
    """Serve ``namespace`` at the gateway ``endpoint``.

    endpoint / namespace None: the environment variables IOGATE_ENDPOINT /
    IOGATE_NAMESPACE (set by a gateway that spawns its workers); namespace
    defaults to "/".  ``conn_events``: conn notices to subscribe to, among
    "upgrade" (always), "packet", "packetCreate", "drain", "close".

    Nothing is sent until ``start()`` (or the first ``fileno()``,
    ``process()``, ``run()``): register middleware and handlers first.
    """

    def __init__(self, endpoint=None, namespace=None, conn_events=None, context=None):
        bind_to_gateway()  # spawned by a gateway: SIGTERM when it dies
        if endpoint is None:
            endpoint = os.environ.get("IOGATE_ENDPOINT")
        if not endpoint:
            raise ValueError("no gateway endpoint (argument or IOGATE_ENDPOINT)")
        if namespace is None:
            namespace = os.environ.get("IOGATE_NAMESPACE") or "/"
        if not namespace.startswith("/"):
            raise ValueError("a namespace starts with '/'")
        self.endpoint = endpoint
        self.namespace = namespace
        self.incarnation = _random_id()
        self.pid = os.getpid()
        self.gateway = None  # the gateway's incarnation id, from WELCOME
        self.heartbeat = DEFAULT_HEARTBEAT_MS / 1000.0
        self._conn_events = ["upgrade"]
        self.subscribe_conn(*(conn_events or ()))
        self._ctx = context
        self._own_ctx = context is None
        self._sock = None
        self._state = NEW
        self._bye_reason = None
        self._middleware = []
        self._connection = []
        self._sockets = {}  # id -> Socket (pending and connected)
        self._timers = []
        self._seq = itertools.count()
        self._last_recv = 0.0
        self._next_ping = 0.0
        self._next_hello = 0.0
        self._lost = None  # reason, when a send found the gateway gone
        self._stop = False
        self._wake_r = self._wake_w = None
        self._queries = {}
        self._next_req = 1
        self._seq_handled = 0  # rule 36: last EVENT/ACK seq handled ...
        self._seq_reported = 0  # ... and last one reported with PROCESSED

    # -- registration --------------------------------------------------------
    def subscribe_conn(self, *events):
        """Add conn notices to ask for in HELLO (before the worker starts)."""
        if self._state_started():
            raise RuntimeError("subscribe_conn after start")
        for e in events:
            if e not in CONN_EVENTS:
                raise ValueError("unknown conn event %r" % e)
            if e not in self._conn_events:
                self._conn_events.append(e)

    def _state_started(self):
        return getattr(self, "_state", NEW) != NEW

    def use(self, fn):
        """Namespace middleware ``fn(socket, next)``, run in order for every
        new socket before "connection".  Call ``next()`` to continue or
        ``next(err)`` to refuse (the client gets connect_error with
        err.message and err.data, see ConnectError) — now or later."""
        self._middleware.append(fn)
        return fn

    def on_connection(self, fn):
        """``fn(socket)`` for every accepted socket; register its handlers here."""
        self._connection.append(fn)
        return fn

    def on(self, event, fn=None):
        """``worker.on("connection", fn)``: same as on_connection."""
        if fn is None:
            return lambda f: self.on(event, f)
        if event not in ("connection", "connect"):
            raise ValueError("a Worker only has the 'connection' event")
        return self.on_connection(fn)

    # -- namespace-wide operations ----------------------------------------------
    def _operator(self, rooms=(), excepts=(), volatile=False):
        return BroadcastOperator(self, rooms, excepts, volatile)

    def to(self, rooms):
        return self._operator(rooms=_room_list(rooms))

    in_ = to

    def except_(self, rooms):
        return self._operator(excepts=_room_list(rooms))

    @property
    def volatile(self):
        return self._operator(volatile=True)

    def emit(self, event, *args):
        """Emit to every socket of the namespace (io.emit)."""
        return self._operator().emit(event, *args)

    def send(self, *args):
        return self.emit("message", *args)

    def fetch_sockets(self, rooms=None):
        """Sockets in any of ``rooms`` (None: all): a list of dicts with id,
        rooms, handshake, data — resolved locally, the worker owns the rooms."""
        return self._operator(rooms=_room_list(rooms)).fetch_sockets()

    def sockets_join(self, room, rooms=None):
        self._operator(rooms=_room_list(rooms)).sockets_join(room)

    def sockets_leave(self, room, rooms=None):
        self._operator(rooms=_room_list(rooms)).sockets_leave(room)

    def disconnect_sockets(self, close=False, rooms=None):
        self._operator(rooms=_room_list(rooms)).disconnect_sockets(close)

    @property
    def sockets(self):
        """{id: Socket} of the connected sockets (a copy)."""
        return {k: s for k, s in self._sockets.items() if s._state == CONNECTED}

    def get_socket(self, sid):
        s = self._sockets.get(sid)
        return s if s is not None and s._state == CONNECTED else None

    @property
    def connected(self):
        """True between the gateway's WELCOME and the next loss of the gateway."""
        return self._state == READY

    def query(self, op, callback, **params):
        """QUERY the gateway (rule 29): ``callback(reply_meta)`` once the
        REPLY comes ({"error": ...} in it on failure or gateway loss).
        ``worker.query("sockets", cb)`` lists the gateway's routing copy."""
        req = self._next_req
        self._next_req += 1
        meta = dict(params, req=req, op=op)
        if not self._send_app("QUERY", "", meta):
            return False
        self._queries[req] = callback
        return True

    # -- timers ----------------------------------------------------------------
    def call_later(self, delay, fn, *args):
        """Run ``fn(*args)`` from process() after ``delay`` seconds.  Returns
        a Timer with ``cancel()``."""
        t = Timer(time.monotonic() + max(0.0, delay), next(self._seq), fn, args)
        heapq.heappush(self._timers, t)
        return t

    # -- life ------------------------------------------------------------------
    def start(self):
        """Connect and say HELLO.  Idempotent (after the gateway's BYE it
        says HELLO again)."""
        if self._state == CLOSED:
            raise RuntimeError("worker is closed")
        if self._sock is None:
            if self._ctx is None:
                self._ctx = zmq.Context()
            s = self._ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDTIMEO, int(self.heartbeat * 1000))
            s.setsockopt(zmq.SNDHWM, 100000)
            s.setsockopt(zmq.RCVHWM, 100000)
            s.connect(self.endpoint)
            self._sock = s
        if self._state in (NEW, BYE):
            self._state = HELLO
            self._bye_reason = None
            self._send_hello()

    def fileno(self):
        """The file descriptor to watch for readability (ZMQ_FD,
        edge-triggered: always call next_timeout() before waiting)."""
        self.start()
        return self._sock.getsockopt(zmq.FD)

    def next_timeout(self):
        """Seconds until process() must be called even if the fd stays
        quiet; 0 when messages are already waiting."""
        if self._sock is None or self._state == CLOSED:
            return 1.0
        if self._sock.getsockopt(zmq.EVENTS) & zmq.POLLIN or self._lost:
            return 0.0
        now = time.monotonic()
        due = []
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        if self._timers:
            due.append(self._timers[0].when)
        if self._state == READY:
            due.append(self._next_ping)
            due.append(self._last_recv + 3 * self.heartbeat)
        elif self._state == HELLO:
            due.append(self._next_hello)
        if not due:
            return 1.0
        return max(0.0, min(due) - now)

    def process(self):
        """Handle every message waiting and every timer due.  Never blocks
        (except on a full send queue to the gateway, PROTOCOL.md rule 32)."""
        self.start()
        for _ in range(BATCH):
            if self._sock is None:
                break
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self._last_recv = time.monotonic()
            self._handle(frames)
        if self._seq_handled != self._seq_reported and self._state == READY:
            self._seq_reported = self._seq_handled
            self._send(protocol.encode("PROCESSED", "", "", {"seq": self._seq_handled}), volatile=True)
        self._run_timers()
        if self._lost:
            why, self._lost = self._lost, None
            self._gateway_lost(why)

    def run(self):
        """Run the loop until stop() (then keep handling messages for up to
        0.25 s or until the gateway's BYE, so that a gateway shutting down
        still gets every disconnect handler run) or until the gateway says
        BYE.  Returns the BYE reason, or None when stopped."""
        self.start()
        if self._wake_r is None:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        deadline = None
        try:
            while self._state != CLOSED:
                if self._state == BYE:
                    return self._bye_reason
                now = time.monotonic()
                if self._stop and deadline is None:
                    deadline = now + STOP_GRACE
                if deadline is not None and now >= deadline:
                    return None
                t = self.next_timeout()
                if deadline is not None:
                    t = min(t, deadline - now)
                poller.poll(max(0, int(t * 1000 + 0.999)))
                try:
                    os.read(self._wake_r, 512)
                except (BlockingIOError, InterruptedError):
                    pass
                self.process()
            return None
        finally:
            self._stop = False

    def stop(self):
        """Make run() return soon.  Safe to call from a signal handler."""
        self._stop = True
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def close(self):
        """Say BYE (the gateway disconnects this worker's sockets), forget
        every socket without raising events, close the ZeroMQ socket."""
        if self._state == CLOSED:
            return
        if self._sock is not None:
            if self._state == READY:
                self._send(protocol.encode("BYE", self.namespace, "", {"reason": "worker closing"}),
                           volatile=True)
                self._sock.setsockopt(zmq.LINGER, 500)
            self._sock.close()
            self._sock = None
        self._sockets.clear()
        self._timers = []
        self._state = CLOSED
        if self._own_ctx and self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._wake_r = self._wake_w = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending -------------------------------------------------------------------
    def _send(self, frames, volatile=False):
        if self._sock is None:
            return False
        try:
            self._sock.send_multipart(frames, flags=zmq.NOBLOCK if volatile else 0)
            return True
        except zmq.Again:
            if not volatile and not self._lost:
                log.warning("send to the gateway blocked for %.1f s: treating the gateway as lost",
                            self.heartbeat)
                self._lost = "send blocked"
            return False
        except zmq.ZMQError as e:
            log.error("send to the gateway failed: %s", e)
            return False

    def _send_app(self, mtype, sid, meta=None, data=None, volatile=False):
        """An application message; only while welcomed."""
        if self._state != READY or self._lost:
            return False
        return self._send(protocol.encode(mtype, self.namespace, sid, meta, data), volatile)

    def _send_hello(self):
        meta = {"version": protocol.PROTOCOL_VERSION, "incarnation": self.incarnation,
                "pid": self.pid, "conn_events": list(self._conn_events)}
        self._send(protocol.encode("HELLO", self.namespace, "", meta), volatile=True)
        self._next_hello = time.monotonic() + self.heartbeat

    # -- timers --------------------------------------------------------------------
    def _run_timers(self):
        now = time.monotonic()
        while self._timers and self._timers[0].when <= now:
            t = heapq.heappop(self._timers)
            if not t.cancelled:
                t.cancelled = True
                self._call(t.fn, *t.args)
        if self._state == READY:
            if now - self._last_recv > 3 * self.heartbeat:
                self._gateway_lost("gateway silent for %.1f s" % (now - self._last_recv))
            elif now >= self._next_ping:
                self._send(protocol.encode("PING"), volatile=True)
                self._next_ping = now + self.heartbeat
        elif self._state == HELLO and now >= self._next_hello:
            log.info("no WELCOME yet from %s; HELLO again", self.endpoint)
            self._send_hello()

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except Exception:
            log.exception("callback %r raised", fn)

    # -- receiving -------------------------------------------------------------------
    def _handle(self, frames):
        try:
            m = protocol.decode(frames)
        except ProtocolError as e:
            log.error("bad message from the gateway (ignored): %s", e)
            return
        t = m.type
        if t == "PING":
            self._send(protocol.encode("PONG"), volatile=True)
            return
        if t == "PONG":
            return
        if t == "WELCOME":
            self._on_welcome(m)
            return
        if t == "ERROR":
            self._on_error(m)
            return
        if t == "BYE":
            reason = m.meta.get("reason", "")
            log.info("gateway said BYE (%s)", reason)
            self._reset_sockets()
            self._fail_queries("gateway said BYE")
            self._state = BYE
            self._bye_reason = reason if isinstance(reason, str) else ""
            return
        if self._state != READY:
            log.debug("%s before WELCOME ignored", t)
            return
        if m.namespace and m.namespace != self.namespace:
            log.error("%s for namespace %r, this worker serves %r; ignored", t, m.namespace, self.namespace)
            return
        if t == "REPLY":
            cb = self._queries.pop(m.meta.get("req"), None)
            if cb:
                self._call(cb, m.meta)
            return
        if t == "CONNECT":
            self._on_connect(m)
            return
        if t in ("EVENT", "ACK"):
            seq = m.meta.get("seq")
            if type(seq) is int:
                self._seq_handled = seq
        s = self._sockets.get(m.sid)
        if s is None:
            log.debug("%s for unknown socket %r ignored", t, m.sid)
            return
        if t == "EVENT":
            if not m.data or not isinstance(m.data[0], str):
                log.error("EVENT without an event name ignored")
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

    def _on_welcome(self, m):
        ver = m.meta.get("version")
        if ver != protocol.PROTOCOL_VERSION:
            log.error("WELCOME with protocol version %r; expected %d", ver, protocol.PROTOCOL_VERSION)
            return
        gw = m.meta.get("gateway")
        if self._state == READY and gw == self.gateway:
            return  # the answer to a repeated HELLO
        if self._state == READY:
            self._reset_sockets()  # a new gateway without us noticing the old one go
        hb = m.meta.get("heartbeat_ms")
        if type(hb) is int and hb > 0:
            self.heartbeat = hb / 1000.0
            if self._sock is not None:
                self._sock.setsockopt(zmq.SNDTIMEO, hb)
        self.gateway = gw
        self._state = READY
        self._seq_handled = self._seq_reported = 0  # numbering is per registration
        now = time.monotonic()
        self._last_recv = now
        self._next_ping = now + self.heartbeat
        log.info("welcomed by gateway %s (namespace %s, heartbeat %d ms)", gw, self.namespace,
                 int(self.heartbeat * 1000))

    def _on_error(self, m):
        code, msg, typ = m.meta.get("code"), m.meta.get("message"), m.meta.get("type")
        if code == "hello" and self._state == READY:
            log.warning("gateway no longer knows this worker (%s): HELLO again", msg)
            self._gateway_lost("gateway forgot the worker")
            return
        if code == "version" and typ == "HELLO":
            log.error("gateway refused protocol version %d: %s", protocol.PROTOCOL_VERSION, msg)
            self._state = BYE
            self._bye_reason = "version refused"
            return
        log.warning("gateway ERROR %s on %s: %s", code, typ, msg)

    def _reset_sockets(self):
        for s in list(self._sockets.values()):
            s._close("transport close")
        self._sockets.clear()

    def _fail_queries(self, why):
        qs, self._queries = self._queries, {}
        for req, cb in qs.items():
            self._call(cb, {"req": req, "error": why})

    def _gateway_lost(self, why):
        """Rule 14/34: every socket disconnects with "transport close",
        pending acks fail, HELLO again."""
        if self._state != READY:
            return
        log.warning("gateway lost (%s): %d socket(s) disconnected; HELLO again", why,
                    sum(1 for s in self._sockets.values() if s._state == CONNECTED))
        self._state = HELLO
        self._reset_sockets()
        self._fail_queries("gateway lost")
        # Rule 10: a fresh incarnation names the new (empty) socket state, so
        # a gateway that is in fact alive resets what it had for us.
        self.incarnation = _random_id()
        self._send_hello()

    def _forget(self, s):
        if self._sockets.get(s.id) is s:
            del self._sockets[s.id]

    def _on_connect(self, m):
        sid = m.sid
        if len(sid) != 20:
            log.error("CONNECT with a bad socket id %r ignored", sid)
            return
        old = self._sockets.get(sid)
        restored = m.meta.get("restored") is True
        if old is not None and restored:
            # Its client recovered it (PROTOCOL.md rule 16a): a new socket
            # takes the old one's place silently, with its data.
            old._replaced()
        elif old is not None:
            log.warning("CONNECT for known socket %s: the old one is gone", sid)
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
        s = Socket(self, sid, hs, transport if isinstance(transport, str) else "polling",
                   recovered, rooms)
        s.restored = restored
        if old is not None and restored:
            s.data = old.data
        self._sockets[sid] = s
        mws = [] if restored and m.meta.get("skip_middlewares") is True else list(self._middleware)

        def step(i, err=None):
            if s._state != PENDING or self._sockets.get(sid) is not s:
                return  # gone meanwhile (or the gateway was lost)
            if err is not None:
                message, data = error_message(err)
                meta = {"message": message}
                if data is not None:
                    meta["data"] = data
                self._send_app("REFUSE", sid, meta)
                s._state = "gone"
                self._forget(s)
                return
            if i < len(mws):
                try:
                    mws[i](s, _Next(lambda e=None: step(i + 1, e)))
                except Exception as e:
                    log.exception("namespace middleware raised")
                    step(len(mws) + 1, e)  # refuse with the exception
                return
            self._accept(s)

        step(0)

    def _accept(self, s):
        if not self._send_app("ACCEPT", s.id):
            return
        s._state = CONNECTED
        join = [r for r in s._rooms if r not in s._gw_rooms]
        leave = [r for r in s._gw_rooms if r not in s._rooms]
        if join:
            self._send_app("JOIN", s.id, {"rooms": join})
        if leave:
            self._send_app("LEAVE", s.id, {"rooms": leave})
        for fn in list(self._connection):
            if s._state != CONNECTED:
                break
            self._call(fn, s)
