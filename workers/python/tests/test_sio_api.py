"""python-socketio idioms of the Worker (sioapi.py), errors that must not
reach clients, async callbacks refused by the synchronous Worker, and the
shared log format — against a real ZeroMQ ROUTER playing the gateway (the
harness of test_worker.py)."""

import io
import logging
import re
import time
import unittest

from test_worker import NSP, SID_A, SID_B, Base, handshake  # noqa: F401 (harness)

from iogate import AckTimeoutError, ConnectionRefusedError, DisconnectedError, LogFormatter, Worker


def setUpModule():
    # as test_worker.py: the tests check what they need with assertLogs
    logging.getLogger("iogate").setLevel(logging.CRITICAL)


class TestSocketIOHandlers(Base):
    def test_event_decorator_sid_first_and_return_value_acks(self):
        w = self.make_worker()

        @w.event
        def chat(sid, text, n):
            return ("got", sid, text, n)

        @w.on("nothing")
        def nothing(sid):
            return None

        self.welcome()
        self.connect()
        self.gw.send("EVENT", SID_A, {"ack": 4}, ["chat", "hi", 2])
        r = self.gw.expect("ACK")
        self.assertEqual((r.meta, r.data), ({"id": 4}, ["got", SID_A, "hi", 2]))
        self.gw.send("EVENT", SID_A, {"ack": 5}, ["nothing"])
        r = self.gw.expect("ACK")
        self.assertEqual((r.meta, r.data), ({"id": 5}, []))
        self.gw.send("EVENT", SID_A, None, ["chat", "no ack wanted", 0])
        self.gw.quiet(0.05)

    def test_catch_all_only_for_events_without_handler(self):
        w = self.make_worker()
        seen = []
        w.on("known", lambda sid, x: seen.append(("known", x)))
        w.on("*", lambda event, sid, *a: seen.append(("*", event, a)))
        self.welcome()
        self.connect()
        self.gw.send("EVENT", SID_A, None, ["known", 1])
        self.gw.send("EVENT", SID_A, None, ["other", 2, 3])
        self.gw.pump()
        self.assertEqual(seen, [("known", 1), ("*", "other", (2, 3))])

    def test_connect_handler_environ_auth_and_refusals(self):
        w = self.make_worker()
        got = []

        @w.event
        def connect(sid, environ, auth):
            got.append((sid, environ["HTTP_HOST"], environ["QUERY_STRING"], environ["REMOTE_ADDR"], auth))
            if auth.get("mode") == "false":
                return False
            if auth.get("mode") == "refuse":
                raise ConnectionRefusedError("bad token", {"code": 7})
            if auth.get("mode") == "bug":
                raise KeyError("token")
            w.enter_room(sid, "members")
            w.emit("welcome", "hello", to=sid)  # held until ACCEPT
            return None

        self.welcome()
        self.connect(SID_A)
        self.assertEqual(self.gw.expect("JOIN").meta, {"rooms": ["members"]})
        self.assertEqual(self.gw.expect("EMIT").data, ["welcome", "hello"])
        self.assertEqual(got[0], (SID_A, "127.0.0.1:3000", "EIO=4&transport=polling", "127.0.0.1", {}))
        r = self.connect(SID_B, auth={"mode": "false"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "Connection rejected by server"})
        r = self.connect(SID_B, auth={"mode": "refuse"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "bad token", "data": {"code": 7}})
        with self.assertLogs("iogate", "ERROR") as logs:
            r = self.connect(SID_B, auth={"mode": "bug"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "Internal server error"})  # never "'token'"
        self.assertIn("KeyError: 'token'", "\n".join(logs.output))
        self.assertEqual(w.rooms(SID_A), [SID_A, "members"])
        self.assertEqual(w.rooms(SID_B), [])

    def test_connect_handler_two_arguments(self):
        w = self.make_worker()
        w.on("connect", lambda sid, environ: None)
        self.welcome()
        self.connect()

    def test_middleware_raising_is_generic_next_err_is_explicit(self):
        w = self.make_worker()

        @w.use
        def mw(socket, next):
            mode = socket.handshake["auth"].get("mode")
            if mode == "raise":
                raise ValueError("secret detail")
            if mode == "raise-refused":
                raise ConnectionRefusedError("go away")
            next()

        self.welcome()
        with self.assertLogs("iogate", "ERROR") as logs:
            r = self.connect(SID_A, auth={"mode": "raise"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "Internal server error"})
        self.assertIn("ValueError: secret detail", "\n".join(logs.output))
        self.assertIn("Traceback", "\n".join(logs.output))
        r = self.connect(SID_A, auth={"mode": "raise-refused"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "go away"})

    def test_disconnect_handler_with_and_without_reason(self):
        w = self.make_worker()
        seen = []
        # as python-socketio: the session and rooms are still there
        w.on("disconnect", lambda sid, reason: seen.append((sid, reason, w.get_session(sid), w.rooms(sid))))
        self.welcome()
        self.connect(SID_A)
        w.enter_room(SID_A, "r")
        self.gw.expect("JOIN")
        w.save_session(SID_A, {"u": 1})
        self.gw.send("DISCONNECT", SID_A, {"reason": "client namespace disconnect"})
        self.gw.pump()
        self.assertEqual(seen, [(SID_A, "client namespace disconnect", {"u": 1}, [SID_A, "r"])])
        with self.assertRaises(KeyError):
            w.get_session(SID_A)
        w.on("disconnect", lambda sid: seen.append(sid))
        self.connect(SID_B)
        self.assertTrue(w.disconnect(SID_B))
        self.assertEqual(self.gw.expect("DISCONNECT").sid, SID_B)
        self.assertEqual(seen[-1], SID_B)

    def test_one_namespace_per_worker(self):
        w = self.make_worker()
        with self.assertRaises(ValueError):
            w.on("x", lambda sid: None, namespace="/other")
        w.on("x", lambda sid: None, namespace=NSP)


class TestSocketIOServerMethods(Base):
    def setUp(self):
        super().setUp()
        self.ready()
        self.connect(SID_A)
        self.connect(SID_B)

    def test_emit_to_room_skip_sid_and_tuple_arguments(self):
        w = self.worker
        self.assertTrue(w.emit("one", {"x": 1}, to=SID_A))
        r = self.gw.expect("EMIT")  # one socket: a plain EMIT
        self.assertEqual((r.sid, r.data), (SID_A, ["one", {"x": 1}]))
        w.emit("many", (1, 2), room="lobby", skip_sid=SID_B)
        r = self.gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({"rooms": ["lobby"], "except": [SID_B]}, ["many", 1, 2]))
        w.emit("all", [1, 2])
        r = self.gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({}, ["all", [1, 2]]))
        w.send("hey", to=["r1", "r2"], skip_sid=[SID_A])
        r = self.gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({"rooms": ["r1", "r2"], "except": [SID_A]}, ["message", "hey"]))
        with self.assertRaises(ValueError):
            w.emit("disconnect", to=SID_A)

    def test_emit_callback_gets_ack_args_only(self):
        got = []
        self.assertTrue(self.worker.emit("q", 1, to=SID_A, callback=lambda *a: got.append(a)))
        r = self.gw.expect("EMIT")
        self.gw.send("ACK", SID_A, {"id": r.meta["ack"]}, ["a", "b"])
        self.gw.pump()
        self.assertEqual(got, [("a", "b")])
        self.assertFalse(self.worker.emit("q", to="no-such-sid", callback=lambda *a: None))

    def test_rooms_enter_leave_close(self):
        w = self.worker
        w.enter_room(SID_A, "r")
        w.enter_room(SID_B, "r")
        self.assertEqual(self.gw.expect("JOIN").meta, {"rooms": ["r"]})
        self.gw.expect("JOIN")
        self.assertEqual(w.rooms(SID_A), [SID_A, "r"])
        w.leave_room(SID_A, "r")
        r = self.gw.expect("LEAVE")
        self.assertEqual((r.sid, r.meta), (SID_A, {"rooms": ["r"]}))
        w.close_room("r")
        r = self.gw.expect("LEAVE")
        self.assertEqual((r.sid, r.meta), (SID_B, {"rooms": ["r"]}))
        self.assertEqual(w.rooms(SID_B), [SID_B])
        w.enter_room("XXXXXXXXXXXXXXXXXXXX", "r")  # unknown: nothing
        self.gw.quiet(0.03)

    def test_sessions(self):
        w = self.worker
        self.assertEqual(w.get_session(SID_A), {})
        w.save_session(SID_A, {"user": "ann"})
        with w.session(SID_A) as s:
            s["n"] = 1
        self.assertEqual(w.get_session(SID_A), {"user": "ann", "n": 1})
        self.assertEqual(w.get_session(SID_B), {})
        with self.assertRaises(KeyError):
            w.get_session("XXXXXXXXXXXXXXXXXXXX")

    def test_call_blocks_serving_other_messages(self):
        w = self.worker
        seen = []
        self.sockets[SID_B].on("meanwhile", lambda: seen.append("meanwhile"))
        result = []

        def answer():
            r = self.gw.recv()
            self.assertEqual(r.type, "EMIT")
            self.gw.send("EVENT", SID_B, None, ["meanwhile"])
            self.gw.send("ACK", SID_A, {"id": r.meta["ack"]}, ["yes"])

        # the gateway answers from a timer the worker runs inside call()
        w.call_later(0, answer)
        self.gw.worker = None  # the worker's own loop inside call() pumps
        result.append(w.call("question", 42, to=SID_A, timeout=5000))
        self.assertEqual(result, ["yes"])
        self.assertEqual(seen, ["meanwhile"])

    def test_call_timeout_and_disconnected(self):
        w = self.worker
        self.gw.worker = None
        t0 = time.monotonic()
        with self.assertRaises(AckTimeoutError):
            w.call("q", to=SID_A, timeout=50)
        self.assertLess(time.monotonic() - t0, 2)
        with self.assertRaises(DisconnectedError):
            w.call("q", to="XXXXXXXXXXXXXXXXXXXX")

    def test_emit_with_ack_without_callback_needs_async(self):
        with self.assertRaises(TypeError):
            self.sockets[SID_A].emit_with_ack("q")


class TestAnyFamily(Base):
    def test_prepend_any_and_any_outgoing(self):
        self.ready()
        self.connect(SID_A)
        self.connect(SID_B)
        a, b = self.sockets[SID_A], self.sockets[SID_B]
        seen = []
        first = a.on_any(lambda ev, *x: seen.append(("any", ev)))
        a.prepend_any(lambda ev, *x: seen.append(("prepended", ev)))
        self.gw.send("EVENT", SID_A, None, ["e", 1])
        self.gw.pump()
        self.assertEqual(seen, [("prepended", "e"), ("any", "e")])
        self.assertEqual(len(a.listeners_any()), 2)
        a.off_any(first)
        self.assertEqual(len(a.listeners_any()), 1)

        out_a, out_b = [], []
        a.on_any_outgoing(lambda ev, *x: out_a.append((ev,) + x))
        b.on_any_outgoing(lambda ev, *x: out_b.append((ev,) + x))
        b.prepend_any_outgoing(lambda ev, *x: out_b.append("first"))
        a.join("room")
        a.emit("direct", 1)
        a.emit_with_ack("asked", 2, callback=lambda *r: None)
        self.worker.to("room").emit("to-room", 3)  # a only
        self.worker.emit("everyone", 4)
        b.broadcast.emit("but-b", 5)  # a only
        self.assertEqual(out_a, [("direct", 1), ("asked", 2), ("to-room", 3), ("everyone", 4), ("but-b", 5)])
        self.assertEqual(out_b, ["first", ("everyone", 4)])
        b.off_any_outgoing()
        self.worker.emit("again")
        self.assertEqual(out_b, ["first", ("everyone", 4)])
        self.assertEqual(a.listeners_any_outgoing()[0].__name__, "<lambda>")


class TestUnsupportedFlagsRefusedLoudly(Base):
    def test_local_exact_and_compress_refused(self):
        from iogate import NotSupportedError

        self.ready()
        self.connect(SID_A)
        s = self.worker.get_socket(SID_A)
        # local: "this server node only", exact for the only server of the
        # namespace — the same BROADCAST as without it (socket.local is
        # socket.io's broadcast from the socket: everyone but it).
        for obj, meta in ((self.worker, {}), (self.worker.to("r"), {"rooms": ["r"]}),
                          (s, {"except": [SID_A]}), (s.broadcast, {"except": [SID_A]})):
            self.assertTrue(obj.local.emit("x"))
            m = self.gw.expect("BROADCAST")
            self.assertEqual(m.meta, meta)
            with self.assertRaises(NotSupportedError) as cm:
                obj.compress(False).emit("x")
            self.assertIn("compress", str(cm.exception))
        self.gw.quiet(0.03)


class TestAsyncRefusedBySyncWorker(Base):
    def test_registration_refused_loudly(self):
        w = self.make_worker()

        async def handler(*a):
            pass

        for register in (w.use, w.on_connection, lambda f: w.on("ev", f), w.event,
                         lambda f: w.call_later(1, f)):
            with self.assertRaises(TypeError) as cm:
                register(handler)
            self.assertIn("AsyncWorker", str(cm.exception))
        self.welcome()
        self.connect()
        s = self.worker.get_socket(SID_A)
        for register in (lambda f: s.on("x", f), s.on_any, s.use, lambda f: s.conn.on("upgrade", f)):
            with self.assertRaises(TypeError):
                register(handler)

    def test_awaitable_returned_at_run_time_is_logged(self):
        w = self.make_worker()

        async def coro():
            pass

        w.on("ev", lambda sid: coro())  # a lambda hides the async function
        self.welcome()
        self.connect()
        with self.assertLogs("iogate", "ERROR") as logs:
            self.gw.send("EVENT", SID_A, None, ["ev"])
            self.gw.pump()
        self.assertIn("cannot run it", "\n".join(logs.output))


class TestLogFormat(unittest.TestCase):
    def test_shared_format(self):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(LogFormatter())
        logger = logging.getLogger("iogate")
        old = (logger.level, logger.handlers[:])
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        try:
            w = Worker("ipc:///nonexistent/x.sock", "/chat")
            w.log.info("hello %s", "there")
            w.log.warning("careful")
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                w.log.exception("it failed")
        finally:
            logger.handlers = old[1]
            logger.setLevel(old[0])
        lines = stream.getvalue().splitlines()
        ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        self.assertRegex(lines[0], r"^%s INFO  iogate\.worker\[/chat\] hello there$" % ts)
        self.assertRegex(lines[1], r"^%s WARN  iogate\.worker\[/chat\] careful$" % ts)
        self.assertRegex(lines[2], r"^%s ERROR iogate\.worker\[/chat\] it failed$" % ts)
        self.assertEqual(lines[3], "Traceback (most recent call last):")
        self.assertEqual(lines[-1], "RuntimeError: boom")


if __name__ == "__main__":
    unittest.main()
