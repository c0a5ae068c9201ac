"""Unit tests of the iogate Python worker library.

Each test plays the gateway with a real ZeroMQ ROUTER (PROTOCOL.md §1) and
drives the Worker in embedded mode (process() / next_timeout()) from the same
thread, so every exchange is deterministic.  Run from the repository root:

    /usr/bin/python3 -m unittest discover -s workers/python/tests -v
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from iogate import (  # noqa: E402
    AckTimeoutError,
    ConnectError,
    DisconnectedError,
    RESERVED_EVENTS,
    Worker,
)
from iogate import protocol  # noqa: E402

def setUpModule():
    # the library logs warnings to stderr by default; tests check them with assertLogs
    logging.getLogger("iogate").setLevel(logging.CRITICAL)


SID_A = "AAAAAAAAAAAAAAAAAAAA"
SID_B = "BBBBBBBBBBBBBBBBBBBB"
SID_C = "CCCCCCCCCCCCCCCCCCCC"
NSP = "/chat"


def handshake(auth=None):
    return {
        "headers": {"host": "127.0.0.1:3000"},
        "query": {"EIO": "4", "transport": "polling"},
        "auth": auth if auth is not None else {},
        "time": "Sun Nov 22 2026 03:14:32 GMT+0000 (Coordinated Universal Time)",
        "issued": 1795403672000,
        "url": "/socket.io/?EIO=4&transport=polling",
        "address": "127.0.0.1",
        "xdomain": False,
        "secure": False,
    }


class Msg:
    def __init__(self, frames):
        self.frames = frames
        self.version = frames[0]
        self.type = frames[1].decode()
        self.nsp = frames[2].decode()
        self.sid = frames[3].decode()
        self.meta = json.loads(frames[4]) if frames[4] else {}
        self.raw_data = frames[5]
        self.data = json.loads(frames[5]) if frames[5] else None
        self.atts = frames[6:]

    def __repr__(self):
        return "Msg(%s %s %s %r %r %r)" % (self.type, self.nsp, self.sid, self.meta, self.data, self.atts)


class FakeGateway:
    """The gateway side: a ROUTER the worker's DEALER connects to."""

    def __init__(self, ctx, endpoint):
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.bind(endpoint)
        self.rid = None
        self.worker = None

    def close(self):
        self.router.close()

    def recv(self, timeout=2.0, skip=("PING", "PONG")):
        """Next message from the worker, pumping the worker meanwhile."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.worker is not None:
                self.worker.process()
            if self.router.poll(5, zmq.POLLIN):
                frames = self.router.recv_multipart()
                self.rid = frames[0]
                m = Msg(frames[1:])
                if m.type in skip:
                    continue
                return m
        raise AssertionError("no message from the worker within %.1f s" % timeout)

    def expect(self, mtype, timeout=2.0, skip=("PING", "PONG")):
        m = self.recv(timeout, skip)
        if m.type != mtype:
            raise AssertionError("expected %s, got %r" % (mtype, m))
        return m

    def quiet(self, duration=0.1, skip=("PING", "PONG")):
        """Assert the worker sends nothing (but skipped types) for a while."""
        end = time.monotonic() + duration
        while time.monotonic() < end:
            if self.worker is not None:
                self.worker.process()
            if self.router.poll(5, zmq.POLLIN):
                m = Msg(self.router.recv_multipart()[1:])
                if m.type not in skip:
                    raise AssertionError("unexpected %r" % m)

    def send(self, mtype, sid="", meta=None, data=None, atts=(), nsp=NSP, raw_meta=None, raw_data=None):
        frames = [b"IOG1", mtype.encode(), nsp.encode(), sid.encode()]
        frames.append(raw_meta if raw_meta is not None else (json.dumps(meta).encode() if meta else b""))
        frames.append(raw_data if raw_data is not None else (json.dumps(data).encode() if data is not None else b""))
        frames.extend(atts)
        self.send_frames(frames)

    def send_frames(self, frames):
        self.router.send_multipart([self.rid] + list(frames))

    def pump(self, duration=0.03):
        end = time.monotonic() + duration
        while time.monotonic() < end:
            self.worker.process()
            time.sleep(0.002)


class Base(unittest.TestCase):
    heartbeat_ms = 5000

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="iogate-py-")
        self.endpoint = "ipc://%s/workers.sock" % self.dir
        self.ctx = zmq.Context()
        self.gw = FakeGateway(self.ctx, self.endpoint)
        self.worker = None

    def tearDown(self):
        if self.worker is not None:
            self.worker.close()
        self.gw.close()
        self.ctx.term()
        shutil.rmtree(self.dir, ignore_errors=True)

    def make_worker(self, **kw):
        self.worker = Worker(self.endpoint, NSP, **kw)
        self.gw.worker = self.worker
        return self.worker

    def welcome(self, hb=None):
        hello = self.gw.expect("HELLO")
        self.gw.send("WELCOME", meta={"version": 1, "gateway": "G" * 20,
                                      "heartbeat_ms": hb or self.heartbeat_ms})
        self.gw.pump()
        self.assertTrue(self.worker.connected)
        return hello

    def connect(self, sid=SID_A, auth=None, expect="ACCEPT", **meta):
        m = {"handshake": handshake(auth), "transport": "polling", "recovered": False}
        m.update(meta)
        self.gw.send("CONNECT", sid, m)
        if expect:
            r = self.gw.expect(expect)
            self.assertEqual(r.sid, sid)
            return r
        return None

    def ready(self, **kw):
        """A welcomed worker whose connection handler stores sockets."""
        w = self.make_worker(**kw)
        self.sockets = {}
        w.on_connection(lambda s: self.sockets.__setitem__(s.id, s))
        self.welcome()
        return w


class TestProtocolCodec(unittest.TestCase):
    def test_encode_binary_placeholders_any_depth(self):
        f = protocol.encode("EMIT", "/", SID_A, {"ack": 1}, ["ev", b"ab", {"x": [bytearray(b"c")]}])
        self.assertEqual(f[:5], [b"IOG1", b"EMIT", b"/", SID_A.encode(), b'{"ack":1}'])
        self.assertEqual(f[5], b'["ev",{"_placeholder":true,"num":0},{"x":[{"_placeholder":true,"num":1}]}]')
        self.assertEqual(f[6:], [b"ab", b"c"])

    def test_encode_empty_frames(self):
        self.assertEqual(protocol.encode("PING"), [b"IOG1", b"PING", b"", b"", b"", b""])

    def test_encode_unicode_like_json_stringify(self):
        f = protocol.encode("EMIT", "/", SID_A, None, ["é€😀"])
        self.assertEqual(f[5], '["é€😀"]'.encode())
        f = protocol.encode("EMIT", "/", SID_A, None, ["\ud800"])  # lone surrogate
        self.assertEqual(f[5], b'["\\ud800"]')

    def test_decode_resolves_placeholders_keys_any_order(self):
        m = protocol.decode([b"IOG1", b"EVENT", b"/", SID_A.encode(), b"",
                             b'["f",{"a":[{"num":0,"_placeholder":true}]}]', b"xyz"])
        self.assertEqual(m.data, ["f", {"a": [b"xyz"]}])

    def test_decode_rejects(self):
        good = [b"IOG1", b"PING", b"", b"", b"", b""]
        protocol.decode(good)
        for bad in (good[:5], [b"IOG2"] + good[1:], [b"IOG1", b"NOPE"] + good[2:],
                    good[:4] + [b"[1]", b""], good[:4] + [b"{bad", b""],
                    [b"IOG1", b"EVENT", b"/", SID_A.encode(), b"", b'["e",{"_placeholder":true,"num":1}]', b"x"],
                    [b"IOG1", b"EVENT", b"/", SID_A.encode(), b"", b'{"not":"array"}']):
            with self.assertRaises(protocol.ProtocolError, msg=repr(bad)):
                protocol.decode(bad)


class TestLifecycle(Base):
    def test_hello_fields(self):
        self.make_worker(conn_events=["drain", "close"])
        hello = self.gw.expect("HELLO")
        self.assertEqual(hello.version, b"IOG1")
        self.assertEqual(hello.nsp, NSP)
        self.assertEqual(hello.sid, "")
        self.assertEqual(hello.meta["version"], 1)
        self.assertEqual(hello.meta["pid"], os.getpid())
        self.assertEqual(len(hello.meta["incarnation"]), 20)
        self.assertEqual(set(hello.meta["conn_events"]), {"upgrade", "drain", "close"})
        self.assertIsNone(hello.data)

    def test_env_endpoint_and_namespace(self):
        old = dict(os.environ)
        try:
            os.environ["IOGATE_ENDPOINT"] = self.endpoint
            os.environ["IOGATE_NAMESPACE"] = "/env"
            w = Worker()
            self.assertEqual((w.endpoint, w.namespace), (self.endpoint, "/env"))
            del os.environ["IOGATE_NAMESPACE"]
            self.assertEqual(Worker().namespace, "/")
            del os.environ["IOGATE_ENDPOINT"]
            with self.assertRaises(ValueError):
                Worker()
        finally:
            os.environ.clear()
            os.environ.update(old)

    def test_ping_pong_and_worker_heartbeat(self):
        self.make_worker()
        self.welcome(hb=100)
        self.gw.send("PING")
        self.assertEqual(self.gw.expect("PONG", skip=("PING",)).meta, {})
        ping = self.gw.expect("PING", skip=("PONG",), timeout=1)
        self.assertEqual((ping.nsp, ping.sid, ping.meta, ping.data), ("", "", {}, None))

    def test_hello_retried_until_welcome(self):
        self.make_worker()
        self.worker.heartbeat = 0.05
        self.gw.expect("HELLO")
        self.gw.expect("HELLO", timeout=1)

    def test_next_timeout(self):
        self.make_worker()
        self.welcome(hb=1000)
        t = self.worker.next_timeout()
        self.assertTrue(0 < t <= 1000, t)
        self.worker.call_later(10, lambda: None)
        self.assertLessEqual(self.worker.next_timeout(), 10)
        self.gw.send("PING")
        deadline = time.monotonic() + 1
        while self.worker.next_timeout() != 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        self.assertEqual(self.worker.next_timeout(), 0)
        self.assertIsInstance(self.worker.fileno(), int)

    def test_embedding_with_select_on_fileno(self):
        import select

        self.make_worker()
        self.gw.worker = None  # only the select loop below drives the worker
        fd = self.worker.fileno()
        got = []
        end = time.monotonic() + 3
        while len(got) < 4 and time.monotonic() < end:
            select.select([fd], [], [], min(self.worker.next_timeout() / 1000, 0.5))
            self.worker.process()
            while self.gw.router.poll(0, zmq.POLLIN):
                frames = self.gw.router.recv_multipart()
                self.gw.rid = frames[0]
                m = Msg(frames[1:])
                got.append(m.type)
                if m.type == "HELLO":
                    self.gw.send("WELCOME", meta={"version": 1, "gateway": "G" * 20, "heartbeat_ms": 5000})
                    self.gw.send("PING")
                elif m.type == "PONG":
                    self.gw.send("PING")
        self.assertEqual(got[:4], ["HELLO", "PONG", "PONG", "PONG"])

    def test_gateway_silent_disconnects_and_hellos_again(self):
        w = self.make_worker()
        self.sockets = {}
        w.on_connection(lambda s: self.sockets.__setitem__(s.id, s))
        first = self.welcome()
        w.heartbeat = 0.1  # as if WELCOME said 100 ms
        self.connect()
        s = self.sockets[SID_A]
        events, acks = [], []
        s.on("disconnecting", lambda r: events.append(("disconnecting", r, list(s.rooms))))
        s.on("disconnect", lambda r: events.append(("disconnect", r)))
        s.emit_with_ack("q", callback=lambda err, *a: acks.append(err))
        self.gw.expect("EMIT")
        # the gateway stops answering: no PONG, nothing
        hello = self.gw.expect("HELLO", timeout=2)
        self.assertNotEqual(hello.meta["incarnation"], first.meta["incarnation"])
        self.assertEqual(events, [("disconnecting", "transport close", [SID_A]),
                                  ("disconnect", "transport close")])
        self.assertEqual(len(acks), 1)
        self.assertIsInstance(acks[0], DisconnectedError)
        self.assertFalse(w.connected)
        self.assertFalse(s.emit("x"))
        self.assertEqual(w.fetch_sockets(), [])

    def test_error_hello_while_ready_means_forgotten(self):
        self.ready()
        self.connect()
        seen = []
        self.sockets[SID_A].on("disconnect", seen.append)
        self.gw.send("ERROR", meta={"code": "hello", "message": "HELLO first", "type": "EMIT"}, nsp="")
        self.gw.expect("HELLO")
        self.assertEqual(seen, ["transport close"])

    def test_welcome_again_same_gateway_keeps_sockets(self):
        self.ready()
        self.connect()
        self.gw.send("WELCOME", meta={"version": 1, "gateway": "G" * 20, "heartbeat_ms": 5000})
        self.gw.pump()
        self.assertTrue(self.sockets[SID_A].connected)

    def test_bye_ends_run(self):
        self.ready()
        self.connect()
        seen = []
        self.sockets[SID_A].on("disconnect", seen.append)
        self.gw.send("DISCONNECT", SID_A, {"reason": "server shutting down"})
        self.gw.send("BYE", meta={"reason": "server shutting down"}, nsp="")
        self.assertEqual(self.worker.run(), "server shutting down")
        self.assertEqual(seen, ["server shutting down"])
        self.assertFalse(self.worker.connected)

    def test_stop_from_another_thread(self):
        self.ready()
        threading.Timer(0.1, self.worker.stop).start()
        t0 = time.monotonic()
        self.assertIsNone(self.worker.run())
        self.assertLess(time.monotonic() - t0, 2)

    def test_close_says_bye(self):
        self.ready()
        self.worker.close()
        self.gw.worker = None
        self.assertEqual(self.gw.expect("BYE").nsp, NSP)
        self.worker = None

    def test_bad_messages_ignored(self):
        self.ready()
        self.gw.send_frames([b"IOG2", b"PING", b"", b"", b"", b""])
        self.gw.send_frames([b"IOG1", b"PING", b"", b""])
        self.gw.send_frames([b"IOG1", b"FROB", b"", b"", b"", b""])
        self.gw.send("CONNECT", SID_A, raw_meta=b"[1,2]")
        self.gw.send("EVENT", SID_A, raw_data=b'["x"]', meta={"foo": 1})  # unknown socket
        self.gw.quiet(0.1)
        self.gw.send("PING")
        self.gw.expect("PONG", skip=("PING",))
        self.assertTrue(self.worker.connected)

    def test_unknown_meta_keys_ignored(self):
        self.ready()
        self.connect(future_key={"x": 1})
        self.assertIn(SID_A, self.sockets)


class TestConnect(Base):
    def test_accept_and_handshake(self):
        self.ready()
        r = self.connect(auth={"token": "x"})
        self.assertEqual((r.nsp, r.meta, r.data), (NSP, {}, None))
        s = self.sockets[SID_A]
        self.assertEqual(s.id, SID_A)
        self.assertEqual(s.handshake["auth"], {"token": "x"})
        self.assertEqual(s.handshake["headers"]["host"], "127.0.0.1:3000")
        for k in ("query", "time", "issued", "url", "address", "xdomain", "secure"):
            self.assertIn(k, s.handshake)
        self.assertEqual(list(s.rooms), [SID_A])
        self.assertEqual(s.data, {})
        self.assertEqual(s.conn.transport, "polling")
        self.assertFalse(s.recovered)
        self.assertTrue(s.connected)
        s.anything = 42  # plain attributes
        self.assertEqual(s.anything, 42)
        self.gw.quiet(0.05)

    def test_middleware_order_and_refusal(self):
        w = self.ready()
        order = []

        @w.use
        def first(socket, next):
            order.append("first")
            next()

        @w.use
        def second(socket, next):
            order.append("second")
            if socket.handshake["auth"].get("refuse"):
                next(ConnectError("refused", {"reason": "auth"}))
            else:
                next()

        r = self.connect(SID_B, auth={"refuse": True}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "refused", "data": {"reason": "auth"}})
        self.assertEqual(order, ["first", "second"])
        self.assertNotIn(SID_B, self.sockets)
        self.assertEqual(w.fetch_sockets(), [])
        self.connect(SID_A)
        self.assertIn(SID_A, self.sockets)

    def test_refusal_with_plain_exception_and_without_data(self):
        w = self.ready()
        w.use(lambda s, next: next(ConnectionRefusedError("nope")))
        r = self.connect(expect="REFUSE")
        self.assertEqual(r.meta, {"message": "nope"})

    def test_middleware_raising_refuses(self):
        w = self.ready()

        def bad(socket, next):
            raise RuntimeError("boom")

        w.use(bad)
        self.assertEqual(self.connect(expect="REFUSE").meta["message"], "Internal server error")

    def test_async_middleware_and_join_before_accept(self):
        w = self.ready()

        @w.use
        def slow(socket, next):
            socket.join(["lobby", "vip"])
            socket.data = {"user": "ann"}
            w.call_later(50, next)

        self.connect(expect=None)
        self.gw.quiet(0.02)
        self.gw.expect("ACCEPT")
        j = self.gw.expect("JOIN")
        self.assertEqual((j.sid, j.meta), (SID_A, {"rooms": ["lobby", "vip"]}))
        self.assertEqual(list(self.sockets[SID_A].rooms), [SID_A, "lobby", "vip"])
        self.assertEqual(w.fetch_sockets()[0]["data"], {"user": "ann"})

    def test_disconnect_during_middleware(self):
        w = self.ready()
        nexts = []
        w.use(lambda s, next: nexts.append(next))
        self.connect(expect=None)
        self.gw.pump()
        self.gw.send("DISCONNECT", SID_A, {"reason": "transport close"})
        self.gw.pump()
        nexts[0]()
        self.gw.quiet(0.05)
        self.assertEqual(self.sockets, {})

    def test_recovered_socket(self):
        w = self.ready()
        seen = {}

        @w.use
        def mw(socket, next):
            seen["recovered"] = socket.recovered
            seen["rooms"] = list(socket.rooms)
            socket.leave("old")
            socket.join("new")
            next()

        self.connect(recovered=True, rooms=[SID_A, "old", "kept"])
        self.assertEqual(seen, {"recovered": True, "rooms": [SID_A, "old", "kept"]})
        msgs = {self.gw.recv().type: None for _ in range(2)}
        self.assertEqual(set(msgs), {"JOIN", "LEAVE"})
        self.assertEqual(list(self.sockets[SID_A].rooms), [SID_A, "kept", "new"])

    def test_conn_notices(self):
        self.ready(conn_events=["drain"])
        self.connect()
        s = self.sockets[SID_A]
        got = []
        s.conn.on("upgrade", got.append)
        s.conn.on("drain", got.append)
        self.gw.send("CONN", SID_A, {"event": "upgrade", "transport": "websocket"})
        self.gw.send("CONN", SID_A, {"event": "drain"})
        self.gw.pump()
        self.assertEqual(s.conn.transport, "websocket")
        self.assertEqual(got, [{"event": "upgrade", "transport": "websocket"}, {"event": "drain"}])


class TestEvents(Base):
    def setUp(self):
        super().setUp()
        self.ready()
        self.connect()
        self.s = self.sockets[SID_A]

    def test_event_with_ack_keyword(self):
        got = []

        @self.s.on("message")
        def message(*args, ack=None):
            got.append(args)
            ack("ok", *args)

        self.gw.send("EVENT", SID_A, {"ack": 17}, ["message", "hi", {"n": 1}])
        r = self.gw.expect("ACK")
        self.assertEqual((r.sid, r.meta, r.data), (SID_A, {"id": 17}, ["ok", "hi", {"n": 1}]))
        self.assertEqual(got, [("hi", {"n": 1})])

    def test_ack_keyword_is_none_without_request(self):
        got = []
        self.s.on("e", lambda a, ack=None: got.append((a, ack)))
        self.gw.send("EVENT", SID_A, None, ["e", 1])
        self.gw.pump()
        self.assertEqual(got, [(1, None)])

    def test_ack_trailing_positional(self):
        got = []
        self.s.on("e", lambda *args: got.append(args))
        self.gw.send("EVENT", SID_A, None, ["e", 1])
        self.gw.send("EVENT", SID_A, {"ack": 3}, ["e", 2])
        self.gw.pump()
        self.assertEqual(got[0], (1,))
        self.assertEqual(got[1][0], 2)
        self.assertTrue(got[1][1](b"\x00\x01"))
        self.assertFalse(got[1][1]("twice"))
        r = self.gw.expect("ACK")
        self.assertEqual((r.meta, r.data, r.atts), ({"id": 3}, [{"_placeholder": True, "num": 0}], [b"\x00\x01"]))

    def test_binary_in_and_out(self):
        got = []

        @self.s.on("file")
        def on_file(*args):
            got.append(args)
            self.s.emit("back", *args)

        self.gw.send("EVENT", SID_A, None, ["file", {"_placeholder": True, "num": 0}, {"d": [{"num": 1, "_placeholder": True}]}],
                     atts=[b"abc", b""])
        r = self.gw.expect("EMIT")
        self.assertEqual(got, [(b"abc", {"d": [b""]})])
        self.assertEqual(r.data, ["back", {"_placeholder": True, "num": 0}, {"d": [{"_placeholder": True, "num": 1}]}])
        self.assertEqual(r.atts, [b"abc", b""])
        self.assertEqual(r.meta, {})

    def test_on_any_before_handlers_and_several_handlers(self):
        order = []
        self.s.on("e", lambda x: order.append(("h1", x)))
        self.s.on("e", lambda x: order.append(("h2", x)))
        self.s.on_any(lambda ev, *a: order.append(("any", ev) + a))
        self.gw.send("EVENT", SID_A, None, ["e", 5])
        self.gw.pump()
        self.assertEqual(order, [("any", "e", 5), ("h1", 5), ("h2", 5)])
        self.s.off("e")
        self.gw.send("EVENT", SID_A, None, ["e", 6])
        self.gw.pump()
        self.assertEqual(order[-1], ("any", "e", 6))

    def test_handler_exception_does_not_kill_worker(self):
        def bad(*a):
            raise RuntimeError("x")

        self.s.on("e", bad)
        with self.assertLogs("iogate", "ERROR"):
            self.gw.send("EVENT", SID_A, None, ["e"])
            self.gw.pump()
        self.assertTrue(self.s.connected)

    def test_reserved_names_refused(self):
        for name in sorted(RESERVED_EVENTS):
            with self.assertRaises(ValueError):
                self.s.emit(name, 1)
            with self.assertRaises(ValueError):
                self.worker.emit(name)
            with self.assertRaises(ValueError):
                self.s.to("r").emit(name)
            with self.assertRaises(ValueError):
                self.s.emit_with_ack(name, callback=print)
        self.gw.quiet(0.05)

    def test_client_event_with_local_name_not_dispatched(self):
        seen = []
        self.s.on("disconnect", seen.append)
        self.s.on("error", seen.append)
        with self.assertLogs("iogate", "WARNING"):
            self.gw.send("EVENT", SID_A, None, ["disconnect", "fake"])
            self.gw.send("EVENT", SID_A, None, ["error", "fake"])
            self.gw.pump()
        self.assertEqual(seen, [])

    def test_socket_middleware(self):
        seen, errors = [], []

        @self.s.use
        def mw(socket, packet, next):
            if packet[0] == "forbidden":
                next(ConnectError("forbidden event"))
            else:
                packet.append("added")
                next()

        self.s.on("error", errors.append)
        self.s.on("forbidden", lambda *a: seen.append(a))
        self.s.on("ok", lambda *a: seen.append(a))
        self.gw.send("EVENT", SID_A, None, ["forbidden", 1])
        self.gw.send("EVENT", SID_A, None, ["ok", 1])
        self.gw.pump()
        self.assertEqual(seen, [(1, "added")])
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0].message, "forbidden event")

    def test_async_socket_middleware(self):
        seen, held = [], []
        self.s.use(lambda socket, packet, next: held.append(next))
        self.s.on("e", lambda *a: seen.append(a))
        self.gw.send("EVENT", SID_A, None, ["e", 1])
        self.gw.pump()
        self.assertEqual(seen, [])
        held[0]()
        self.assertEqual(seen, [(1,)])

    def test_emit_with_ack_answered(self):
        got = []
        self.assertTrue(self.s.emit_with_ack("question", 42, callback=lambda err, *a: got.append((err, a)), timeout=5000))
        r = self.gw.expect("EMIT")
        self.assertEqual(r.data, ["question", 42])
        ack_id = r.meta["ack"]
        self.assertIsInstance(ack_id, int)
        self.gw.send("ACK", SID_A, {"id": ack_id}, ["answer", {"_placeholder": True, "num": 0}], atts=[b"z"])
        self.gw.send("ACK", SID_A, {"id": ack_id}, ["again"])  # unknown now: ignored
        self.gw.send("ACK", SID_A, {"id": 999}, ["never asked"])
        self.gw.pump()
        self.assertEqual(got, [(None, ("answer", b"z"))])

    def test_emit_with_ack_ids_unique(self):
        for _ in range(3):
            self.s.emit_with_ack("q", callback=lambda *a: None)
        ids = [self.gw.expect("EMIT").meta["ack"] for _ in range(3)]
        self.assertEqual(len(set(ids)), 3)

    def test_emit_with_ack_timeout(self):
        got = []
        self.s.timeout(50).emit("q", callback=lambda err, *a: got.append(err))
        self.gw.expect("EMIT")
        self.gw.pump(0.15)
        self.assertEqual(len(got), 1)
        self.assertIsInstance(got[0], AckTimeoutError)
        self.assertEqual(str(got[0]), "operation has timed out")

    def test_emit_with_ack_fails_on_disconnect(self):
        got = []
        self.s.emit_with_ack("q", callback=lambda err, *a: got.append(err), timeout=10000)
        self.gw.expect("EMIT")
        self.gw.send("DISCONNECT", SID_A, {"reason": "ping timeout"})
        self.gw.pump()
        self.assertEqual([str(e) for e in got], ["socket has been disconnected"])

    def test_processed_reports_last_seq(self):
        self.s.on("e", lambda *a, ack=None: ack and ack("ok"))
        self.s.emit_with_ack("q", callback=lambda *a: None)
        ack_id = self.gw.expect("EMIT").meta["ack"]
        self.gw.send("EVENT", SID_A, {"seq": 1}, ["e"])
        self.gw.send("EVENT", SID_A, {"seq": 2, "ack": 5}, ["e"])
        self.gw.send("ACK", SID_A, {"seq": 3, "id": ack_id}, [])
        self.gw.send("EVENT", "Z" * 20, {"seq": 4}, ["e"])  # unknown socket: handled too
        got = []
        while not got or got[-1].type != "PROCESSED" or got[-1].meta["seq"] != 4:
            got.append(self.gw.recv())
        self.assertIn("ACK", [m.type for m in got])
        p = got[-1]
        self.assertEqual((p.nsp, p.sid, p.data), ("", "", None))
        self.gw.quiet(0.05)  # nothing new handled: no more PROCESSED

    def test_volatile_emit(self):
        self.assertTrue(self.s.volatile.emit("v", 1))
        r = self.gw.expect("EMIT")
        self.assertEqual((r.meta, r.data), ({"volatile": True}, ["v", 1]))


class TestRoomsAndDisconnect(Base):
    def setUp(self):
        super().setUp()
        self.ready()
        for sid in (SID_A, SID_B, SID_C):
            self.connect(sid)
        self.a, self.b, self.c = (self.sockets[x] for x in (SID_A, SID_B, SID_C))

    def test_join_leave_messages(self):
        self.a.join("r1")
        self.assertEqual(self.gw.expect("JOIN").meta, {"rooms": ["r1"]})
        self.a.join("r1")  # twice: nothing
        self.a.join(["r1", "r2", "r2"])
        self.assertEqual(self.gw.expect("JOIN").meta, {"rooms": ["r2"]})
        self.a.leave("nope")
        self.a.leave("r1")
        self.assertEqual(self.gw.expect("LEAVE").meta, {"rooms": ["r1"]})
        self.assertEqual(list(self.a.rooms), [SID_A, "r2"])
        self.assertIn("r2", self.a.rooms)
        self.gw.quiet(0.05)

    def test_broadcast_operators(self):
        self.a.to("r1").emit("say", "hello")
        r = self.gw.expect("BROADCAST")
        self.assertEqual((r.sid, r.meta, r.data), ("", {"rooms": ["r1"], "except": [SID_A]}, ["say", "hello"]))
        self.a.broadcast.emit("all")
        self.assertEqual(self.gw.expect("BROADCAST").meta, {"except": [SID_A]})
        self.worker.to("r1").in_("r2").except_("r3").volatile.emit("x", b"bin")
        r = self.gw.expect("BROADCAST")
        self.assertEqual(r.meta, {"rooms": ["r1", "r2"], "except": ["r3"], "volatile": True})
        self.assertEqual((r.data, r.atts), (["x", {"_placeholder": True, "num": 0}], [b"bin"]))
        self.worker.emit("everyone")
        r = self.gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({}, ["everyone"]))
        self.a.except_("r9").emit("y")
        self.assertEqual(self.gw.expect("BROADCAST").meta, {"except": [SID_A, "r9"]})

    def test_namespace_utilities_local(self):
        self.a.join("r1")
        self.b.join(["r1", "r2"])
        self.b.data = {"name": "bob"}
        self.gw.expect("JOIN")
        self.gw.expect("JOIN")
        ids = lambda lst: sorted(x["id"] for x in lst)
        self.assertEqual(ids(self.worker.fetch_sockets()), [SID_A, SID_B, SID_C])
        self.assertEqual(ids(self.worker.fetch_sockets("r1")), [SID_A, SID_B])
        self.assertEqual(ids(self.worker.to("r1").except_("r2").fetch_sockets()), [SID_A])
        fb = [x for x in self.worker.fetch_sockets(["r2"])][0]
        self.assertEqual(fb["rooms"], [SID_B, "r1", "r2"])
        self.assertEqual(fb["data"], {"name": "bob"})
        self.assertEqual(fb["handshake"]["address"], "127.0.0.1")
        self.worker.sockets_join("r3", rooms="r1")
        joins = sorted(self.gw.expect("JOIN").sid for _ in range(2))
        self.assertEqual(joins, [SID_A, SID_B])
        self.worker.sockets_leave("r1")
        self.assertEqual(sorted(self.gw.expect("LEAVE").sid for _ in range(2)), [SID_A, SID_B])
        self.gw.quiet(0.05)
        reasons = []
        self.c.on("disconnect", reasons.append)
        self.worker.disconnect_sockets(rooms=SID_C)
        r = self.gw.expect("DISCONNECT")
        self.assertEqual((r.sid, r.meta), (SID_C, {"close": False}))
        self.assertEqual(reasons, ["server namespace disconnect"])
        self.assertEqual(ids(self.worker.fetch_sockets()), [SID_A, SID_B])

    def test_client_disconnect_order_and_rooms(self):
        self.a.join("kept")
        events = []
        self.a.on("disconnecting", lambda r: events.append(("disconnecting", r, list(self.a.rooms))))
        self.a.on("disconnect", lambda r: events.append(("disconnect", r, list(self.a.rooms))))
        self.gw.send("DISCONNECT", SID_A, {"reason": "client namespace disconnect"})
        self.gw.pump()
        self.assertEqual(events, [("disconnecting", "client namespace disconnect", [SID_A, "kept"]),
                                  ("disconnect", "client namespace disconnect", [])])
        self.assertFalse(self.a.connected)
        self.assertNotIn(SID_A, [x["id"] for x in self.worker.fetch_sockets()])

    def test_server_disconnect_close(self):
        events = []
        self.a.on("disconnecting", lambda r: events.append(r))
        self.a.on("disconnect", lambda r: events.append(r))
        self.assertTrue(self.a.disconnect(close=True))
        r = self.gw.expect("DISCONNECT")
        self.assertEqual((r.sid, r.meta), (SID_A, {"close": True}))
        self.assertEqual(events, ["server namespace disconnect"] * 2)
        self.assertFalse(self.a.disconnect())
        self.assertFalse(self.a.emit("late"))
        self.gw.quiet(0.05)

    def test_join_for_gone_socket_ignored(self):
        self.gw.send("DISCONNECT", SID_A, {"reason": "transport close"})
        self.gw.pump()
        self.a.join("late")
        self.a.leave(SID_A)
        self.gw.quiet(0.05)
        self.assertEqual(list(self.a.rooms), [])

    def test_disconnect_from_handler_stops_other_handlers(self):
        seen = []
        self.a.on("e", lambda: self.a.disconnect())
        self.a.on("e", lambda: seen.append("second"))
        self.gw.send("EVENT", SID_A, None, ["e"])
        self.gw.expect("DISCONNECT")
        self.assertEqual(seen, [])

    def test_query_sockets(self):
        got = []
        self.worker.query("sockets", got.append)
        q = self.gw.expect("QUERY")
        self.assertEqual(q.meta["op"], "sockets")
        self.gw.send("REPLY", meta={"req": q.meta["req"], "sockets": []})
        self.gw.pump()
        self.assertEqual(got, [{"req": q.meta["req"], "sockets": []}])


ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


class TestEchoProcess(Base):
    """examples/echo/echo.py as a process, against the fake gateway."""

    def setUp(self):
        super().setUp()
        env = dict(os.environ, IOGATE_ENDPOINT=self.endpoint, IOGATE_NAMESPACE=NSP)
        self.proc = subprocess.Popen(["/usr/bin/python3", "examples/echo/echo.py"], cwd=ROOT, env=env,
                                     stderr=subprocess.PIPE)
        hello = self.gw.expect("HELLO", timeout=10)
        self.assertEqual(hello.meta["pid"], self.proc.pid)
        self.gw.send("WELCOME", meta={"version": 1, "gateway": "G" * 20, "heartbeat_ms": 5000})

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()
        super().tearDown()

    def event(self, *args, ack=None, atts=(), sid=SID_A):
        self.gw.send("EVENT", sid, {"ack": ack} if ack is not None else None, list(args), atts=atts)

    def test_echo_contract(self):
        gw = self.gw
        self.connect(auth={"token": "t1"})
        self.assertEqual(gw.expect("EMIT").data, ["auth", {"token": "t1"}])
        r = self.connect(SID_B, auth={"refuse": True}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "refused", "data": {"reason": "auth"}})

        self.event("message", "a", {"b": [{"_placeholder": True, "num": 0}]}, ack=7, atts=[b"\x00"])
        r = gw.expect("EMIT")
        self.assertEqual((r.data, r.atts), (["message-back", "a", {"b": [{"_placeholder": True, "num": 0}]}], [b"\x00"]))
        r = gw.expect("ACK")
        self.assertEqual((r.meta, r.data, r.atts), ({"id": 7}, ["a", {"b": [{"_placeholder": True, "num": 0}]}], [b"\x00"]))
        self.event("message-with-ack", 1, "x", ack=456)
        self.assertEqual(gw.expect("ACK").data, [1, "x"])
        self.event("forbidden", 1)
        self.assertEqual(gw.expect("EMIT").data, ["error-seen", "forbidden event"])
        self.event("emit-reserved")
        self.assertEqual(gw.expect("EMIT").data, ["reserved-refused", 6])
        self.event("join", "r1", ack=1)
        self.assertEqual(gw.expect("JOIN").meta, {"rooms": ["r1"]})
        self.assertEqual(gw.expect("ACK").data, [[SID_A, "r1"]])
        self.event("to-room", "r1", "hi", ack=2)
        r = gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({"rooms": ["r1"], "except": [SID_A]}, ["room-message", "hi"]))
        self.assertEqual(gw.expect("ACK").data, [True])
        self.event("set-data", {"name": "alice"}, ack=3)
        self.assertEqual(gw.expect("ACK").data, [{"name": "alice"}])
        self.event("fetch", ack=4)
        self.assertEqual(gw.expect("ACK").data, [[{"id": SID_A, "rooms": [SID_A, "r1"], "data": {"name": "alice"}}]])
        self.event("pid", ack=5)
        self.assertEqual(gw.expect("ACK").data, [self.proc.pid])
        self.event("emit-with-ack", 100, ack=6)
        r = gw.expect("EMIT")
        self.assertEqual(r.data, ["ping-back", "ping"])
        self.assertEqual(gw.expect("ACK").data, ["operation has timed out"])
        self.event("emit-with-ack", 2000, ack=8)
        r = gw.expect("EMIT")
        gw.send("ACK", SID_A, {"id": r.meta["ack"]}, ["pong:ping"])
        r = gw.expect("ACK")
        self.assertEqual((r.meta, r.data), ({"id": 8}, ["pong:ping"]))
        self.event("leave", "r1", ack=9)
        self.assertEqual(gw.expect("LEAVE").meta, {"rooms": ["r1"]})
        self.assertEqual(gw.expect("ACK").data, [[SID_A]])
        self.event("join", "kept")
        gw.expect("JOIN")

        self.connect(SID_C)
        gw.expect("EMIT")
        self.event("disconnect-me", True, sid=SID_C)
        r = gw.expect("DISCONNECT")
        self.assertEqual((r.sid, r.meta), (SID_C, {"close": True}))

        # gateway shutdown: DISCONNECT for every socket, BYE, then SIGTERM
        gw.send("DISCONNECT", SID_A, {"reason": "server shutting down"})
        gw.send("BYE", meta={"reason": "server shutting down"}, nsp="")
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(5), 0)
        err = self.proc.stderr.read().decode()
        self.assertIn("disconnect %s server namespace disconnect rooms=%s\n" % (SID_C, SID_C), err)
        self.assertIn("disconnect %s server shutting down rooms=%s,kept\n" % (SID_A, SID_A), err)

    def test_sigterm_without_bye_exits(self):
        self.connect()
        self.gw.expect("EMIT")
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(5), 0)
        self.assertEqual(self.gw.expect("BYE").meta["reason"], "worker closing")


if __name__ == "__main__":
    unittest.main()
