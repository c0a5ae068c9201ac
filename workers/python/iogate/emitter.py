"""Emitting into namespaces from a process that is not their worker.

ipc/PROTOCOL.md rules 10d-10f: one DEALER says HELLO with role "emitter"
and a key the gateway was given with --emitter-key; the key names the
namespaces it may emit into.  An emitter sends EMIT (to one socket id) and
BROADCAST (to a namespace, its rooms, minus some), receives no client
packets, never displaces the namespace's worker and cannot ask for acks.

Blocking and synchronous, for a web app or a script that notifies users::

    from iogate.emitter import Emitter

    with Emitter() as em:  # IOGATE_ENDPOINT, IOGATE_EMITTER_KEY
        em.broadcast("/chat", "news", {"title": "hi"}, rooms=["lobby"])
        em.emit("/chat", socket_id, "private", "for you")
        em.flush()  # raises EmitterError if the gateway refused something
"""

import os
import time
import uuid

import zmq

from . import protocol


class EmitterError(Exception):
    """The gateway refused the emitter or one of its messages (an ERROR:
    code "auth" for a wrong key or a namespace the key does not name)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class Emitter:
    """endpoint / key None: IOGATE_ENDPOINT / IOGATE_EMITTER_KEY.  Connects
    and waits up to `timeout` seconds for the gateway's WELCOME."""

    def __init__(self, endpoint=None, key=None, timeout=5.0, context=None):
        self.endpoint = endpoint or os.environ.get("IOGATE_ENDPOINT")
        self._key = key or os.environ.get("IOGATE_EMITTER_KEY")
        if not self.endpoint:
            raise ValueError("no gateway endpoint (argument or IOGATE_ENDPOINT)")
        if not self._key:
            raise ValueError("no emitter key (argument or IOGATE_EMITTER_KEY)")
        self.timeout = timeout
        self.heartbeat = 5.0  # from WELCOME
        self._last_recv = time.monotonic()
        self.incarnation = uuid.uuid4().hex
        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        # what was sent still reaches the gateway after close(), for a while
        self._sock.setsockopt(zmq.LINGER, int(timeout * 1000))
        self._sock.connect(self.endpoint)
        try:
            self._hello()
        except Exception:
            self.close()
            raise

    def _hello(self):
        meta = {"version": protocol.PROTOCOL_VERSION, "role": "emitter", "key": self._key,
                "incarnation": self.incarnation, "pid": os.getpid()}
        self._sock.send_multipart(protocol.encode("HELLO", "", "", meta))
        if not self._pump("WELCOME", self.timeout):
            raise EmitterError("no WELCOME from the gateway at %s" % self.endpoint, "timeout")

    def _pump(self, want, wait):
        """Read what the gateway sent: answer PINGs, raise on ERROR.  True
        once a `want` message came, False when `wait` seconds passed."""
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if not self._sock.poll(max(0, int(left * 1000)), zmq.POLLIN):
                return False
            try:
                m = protocol.decode(self._sock.recv_multipart())
            except protocol.ProtocolError:
                continue
            self._last_recv = time.monotonic()
            if m.type == "WELCOME" and type(m.meta.get("heartbeat_ms")) is int:
                self.heartbeat = max(m.meta["heartbeat_ms"], 1) / 1000.0
            if m.type == "PING":
                self._sock.send_multipart(protocol.encode("PONG"))
            elif m.type == "ERROR":
                code = m.meta.get("code")
                raise EmitterError("gateway refused %s: %s" % (m.meta.get("type"), m.meta.get("message")),
                                   code)
            elif m.type == want:
                return True

    def _send(self, mtype, namespace, sid, meta, event, args):
        if not isinstance(namespace, str) or not namespace.startswith("/"):
            raise ValueError("namespace must start with '/'")
        if not isinstance(event, str):
            raise TypeError("event name must be a string")
        try:
            self._pump(None, 0)
        except EmitterError as e:
            if e.code != "hello":
                raise
            self._hello()  # the gateway restarted or forgot us: greet it again
        else:
            # Idle past its heartbeats, the gateway has forgotten us (it
            # would answer this message with ERROR hello, and drop it):
            # greet first.
            if time.monotonic() - self._last_recv > 2 * self.heartbeat:
                self._hello()
        self._sock.send_multipart(protocol.encode(mtype, namespace, sid, meta, [event] + list(args)))

    def emit(self, namespace, sid, event, *args):
        """Emit `event` with `args` (JSON values, bytes become attachments)
        to socket `sid` of `namespace`.  A socket that is gone is not an
        error.  Raises EmitterError if the gateway refused an earlier message."""
        if not isinstance(sid, str) or len(sid) != 20:
            raise ValueError("emit needs a 20-character socket id")
        self._send("EMIT", namespace, sid, None, event, args)

    def broadcast(self, namespace, event, *args, rooms=None, exclude=None, volatile=False):
        """Emit to every socket of `namespace` in any of `rooms` (None: all)
        and in none of `exclude`."""
        meta = {}
        if rooms:
            meta["rooms"] = [rooms] if isinstance(rooms, str) else list(rooms)
        if exclude:
            meta["except"] = [exclude] if isinstance(exclude, str) else list(exclude)
        if volatile:
            meta["volatile"] = True
        self._send("BROADCAST", namespace, "", meta, event, args)

    def flush(self, wait=0.3):
        """Read the gateway's answers for `wait` seconds: raises EmitterError
        if it refused something sent before (it answers only refusals)."""
        self._pump(None, wait)

    def close(self):
        if self._sock is None:
            return
        try:
            self._sock.send_multipart(protocol.encode("BYE", "", "", {"reason": "emitter done"}),
                                      zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        self._sock.close()
        self._sock = None
        if self._own_ctx:
            self._ctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
