"""One gateway connection of a worker (PROTOCOL.md rules 1a and 2).

A worker serving several gateways connects one DEALER per gateway — never
one DEALER to several endpoints, which would round-robin its messages — and
is, to each, an ordinary worker: its own HELLO and incarnation, WELCOME,
heartbeat, PROCESSED numbering, loss and BYE.  This class holds that
per-connection state; the Worker keeps the one socket table and room state
for all of them and dispatches what each connection receives.
"""

from __future__ import annotations

import os
import random
import string
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

import zmq
import zmq.utils.z85

from . import protocol

if TYPE_CHECKING:  # pragma: no cover
    from .worker import Worker

DEFAULT_HEARTBEAT_MS = 5000
HWM = 100000

# The hot path calls libzmq through pyzmq's compiled Socket methods with
# plain int flags: send_multipart / recv_multipart are Python code that
# builds enum flags for every frame, and cost more than everything else a
# message needs ("Cost per message" in workers/python/README.md).
try:
    from zmq.backend import Socket as _BackendSocket
    if not issubclass(zmq.Socket, _BackendSocket):
        raise ImportError("zmq.Socket does not derive from the backend's")
    _zsend = _BackendSocket.send
    _zrecv = _BackendSocket.recv
    _zget = _BackendSocket.get
except (ImportError, AttributeError):  # pragma: no cover - another pyzmq layout
    _zsend, _zrecv, _zget = zmq.Socket.send, zmq.Socket.recv, zmq.Socket.getsockopt
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
#: message types that never carry "done" (rule 36): the C library's list
_NO_DONE = frozenset(["PING", "PONG", "HELLO", "PROCESSED"])


def recv_frames(g: "Gateway") -> List[bytes]:
    """One multipart message from ``g`` without waiting (zmq.Again when
    none).  Asking ZMQ_RCVMORE costs as much as a recv, so the first six
    frames every message has (PROTOCOL.md §2) are read without asking, and
    only then whether attachments follow.  A shorter message from a broken
    gateway still ends where it ends: either nothing follows it (a recv finds
    no more) or the next message's version frame shows up early, which no
    other frame can equal; it is kept for the next call and the short
    message goes to the decoder, which refuses it."""
    sock = g.sock
    frames = g.carry
    if frames is None:
        frames = [_zrecv(sock, _NOBLOCK)]
    else:
        g.carry = None
    while len(frames) < 6:
        try:
            f = _zrecv(sock, _NOBLOCK)
        except zmq.Again:
            return frames
        if f == protocol.VERSION_FRAME:
            g.carry = [f]
            return frames
        frames.append(f)
    while _zget(sock, _RCVMORE):
        frames.append(_zrecv(sock, _NOBLOCK))
    return frames

# connection states
NEW, HELLO, READY, BYE, CLOSED = "new", "hello", "ready", "bye", "closed"


def random_id(n: int = 20) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    rnd = random.SystemRandom()
    return "".join(rnd.choice(alphabet) for _ in range(n))


def parse_endpoints(text: str) -> List[str]:
    """The endpoints of a comma-separated list (IOGATE_ENDPOINT), as the C
    library reads it: spaces around commas allowed, empty items ignored.
    ValueError when none is left or one is given twice."""
    out: List[str] = []
    for item in text.split(","):
        ep = item.strip()
        if not ep:
            continue
        if ep in out:
            raise ValueError("gateway endpoint %s given twice" % ep)
        out.append(ep)
    if not out:
        raise ValueError("no gateway endpoint in %r" % text)
    return out


def curve_keys(server_key: str) -> Tuple[bytes, bytes, bytes]:
    """(server public, client public, client secret) for a CURVE client:
    rule 1a, one ephemeral client keypair per process for every gateway.
    ValueError for a key that is not 40 Z85 characters or a libzmq without
    CURVE — never a silent plain-text connection."""
    key = server_key.strip()
    if len(key) != 40:
        raise ValueError("IOGATE_CURVE_SERVERKEY: not a Z85 public key (40 characters)")
    try:
        zmq.utils.z85.decode(key.encode("ascii"))
    except Exception:  # not ASCII, a character outside Z85, a group past 2**32
        raise ValueError("IOGATE_CURVE_SERVERKEY: not a Z85 public key (40 characters)") from None
    if not zmq.has("curve"):
        raise ValueError("IOGATE_CURVE_SERVERKEY given but this libzmq has no CURVE support")
    public, secret = zmq.curve_keypair()
    return key.encode("ascii"), public, secret


class Gateway:
    """The state of one gateway connection.  ``endpoint``; ``id`` (the
    gateway's incarnation from WELCOME, None before); ``heartbeat_ms``;
    ``connected`` (between WELCOME and the next loss); ``bye_reason``."""

    def __init__(self, worker: "Worker", endpoint: str) -> None:
        self.worker = worker
        self.endpoint = endpoint
        self.incarnation = random_id()
        self.id: Optional[str] = None
        self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        self.sock: Optional[zmq.Socket] = None
        self.state = NEW
        self.bye_reason: Optional[str] = None
        self.last_recv = 0.0
        self.next_ping = 0.0
        self.next_hello = 0.0
        self.lost: Optional[str] = None  # reason, when a send found the gateway gone
        self.queries: Dict[int, Callable[[Dict[str, Any]], Any]] = {}
        self.seq_handled = 0  # rule 36: last EVENT/ACK seq handled ...
        self.seq_reported = 0  # ... and the last one reported with PROCESSED or "done"
        self.nsp_frame = worker.namespace.encode("utf-8")
        self.carry: Optional[List[bytes]] = None  # the start of the next message (recv_frames)

    @property
    def connected(self) -> bool:
        return self.state == READY

    @property
    def heartbeat(self) -> float:
        return self.heartbeat_ms / 1000.0

    def __repr__(self) -> str:
        return "<Gateway %s %s>" % (self.endpoint, self.state)

    def open(self, ctx: zmq.Context, curve: Optional[Tuple[bytes, bytes, bytes]]) -> None:
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDTIMEO, self.heartbeat_ms)
        s.setsockopt(zmq.SNDHWM, HWM)
        s.setsockopt(zmq.RCVHWM, HWM)
        if curve is not None:
            s.setsockopt(zmq.CURVE_SERVERKEY, curve[0])
            s.setsockopt(zmq.CURVE_PUBLICKEY, curve[1])
            s.setsockopt(zmq.CURVE_SECRETKEY, curve[2])
        s.connect(self.endpoint)
        self.sock = s

    def close(self, say_bye: bool) -> None:
        if self.sock is None:
            return
        if say_bye and self.state == READY:
            self.send(protocol.encode("BYE", self.worker.namespace, "", {"reason": "worker closing"}),
                      volatile=True)
            self.sock.setsockopt(zmq.LINGER, 500)  # let the BYE out
        self.sock.close()
        self.sock = None
        self.carry = None
        self.state = CLOSED

    def set_heartbeat(self, ms: int) -> None:
        self.heartbeat_ms = ms
        if self.sock is not None:
            self.sock.setsockopt(zmq.SNDTIMEO, ms)

    # -- sending -------------------------------------------------------------
    def send(self, frames: List[bytes], volatile: bool = False) -> bool:
        sock = self.sock
        if sock is None:
            return False
        flags = _NOBLOCK if volatile else 0
        try:
            # the first frame may block (SNDTIMEO) or fail; then the whole
            # message goes, as with send_multipart
            last = len(frames) - 1
            for i in range(last):
                _zsend(sock, frames[i], flags | _SNDMORE)
            _zsend(sock, frames[last], flags)
            if self.worker._aio:
                self.worker._sent()
            return True
        except zmq.Again:
            if not volatile and not self.lost:
                self.worker.log.warning("send to the gateway %s blocked for %d ms: treating it as lost",
                                        self.endpoint, self.heartbeat_ms)
                self.lost = "send blocked"
            return False
        except zmq.ZMQError as e:
            self.worker.log.error("send to the gateway %s failed: %s", self.endpoint, e)
            return False

    def send_app(self, mtype: str, sid: str, meta: Optional[Dict[str, Any]] = None,
                 data: Optional[List[Any]] = None, volatile: bool = False) -> bool:
        """An application message; only while welcomed."""
        if self.state != READY or self.lost:
            return False
        done = self.seq_handled
        if done != self.seq_reported and mtype not in _NO_DONE:
            # Rule 36: report what was handled on this message instead of a
            # PROCESSED of its own (the C library does the same)
            if meta:
                meta_frame = protocol._dump(dict(meta, done=done))
            else:
                meta_frame = b'{"done":%d}' % done
        else:
            done = 0
            meta_frame = protocol._dump(meta) if meta else b""
        frames = [protocol.VERSION_FRAME, mtype.encode("ascii"), self.nsp_frame, sid.encode("ascii"),
                  meta_frame]
        if data is None:
            frames.append(b"")
        else:
            frames.extend(protocol.dump_data(data))
        if not self.send(frames, volatile):
            return False
        if done:
            self.seq_reported = done
        return True

    def send_hello(self) -> None:
        meta = {"version": protocol.PROTOCOL_VERSION, "incarnation": self.incarnation,
                "pid": self.worker.pid, "conn_events": list(self.worker._conn_events)}
        if os.environ.get("IOGATE_WORKER_KEY"):  # rule 10a: who may serve the namespace
            meta["key"] = os.environ["IOGATE_WORKER_KEY"]
        self.send(protocol.encode("HELLO", self.worker.namespace, "", meta), volatile=True)
        self.next_hello = time.monotonic() + self.heartbeat

    def report_processed(self) -> None:
        if self.seq_handled != self.seq_reported and self.state == READY:
            self.seq_reported = self.seq_handled
            self.send(protocol.encode("PROCESSED", "", "", {"seq": self.seq_handled}), volatile=True)

    # -- time ----------------------------------------------------------------
    def due(self) -> List[float]:
        """Monotonic times at which this connection needs the loop."""
        if self.state == READY:
            return [self.next_ping, self.last_recv + 3 * self.heartbeat]
        if self.state == HELLO:
            return [self.next_hello]
        return []

    def readable(self) -> bool:
        return self.sock is not None and (self.carry is not None or bool(_zget(self.sock, _EVENTS) & _POLLIN))
