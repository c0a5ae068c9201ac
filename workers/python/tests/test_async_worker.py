"""AsyncWorker (aio.py): async def handlers, middleware, connect handlers and
acks awaited on asyncio, against a real ZeroMQ ROUTER playing the gateway
(here an asyncio one, so that the worker's own ``await worker.run()`` drives
it as in production)."""

import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import unittest

import zmq
import zmq.asyncio

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from iogate import AckTimeoutError, AsyncWorker, ConnectionRefusedError, DisconnectedError  # noqa: E402
from test_worker import NSP, SID_A, SID_B, Msg, handshake  # noqa: E402


def setUpModule():
    logging.getLogger("iogate").setLevel(logging.CRITICAL)


class AsyncGateway:
    def __init__(self, endpoint):
        self.ctx = zmq.asyncio.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.bind(endpoint)
        self.rid = None

    def close(self):
        self.router.close()
        self.ctx.term()

    async def recv(self, timeout=3.0, skip=("PING", "PONG", "PROCESSED")):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not await self.router.poll(int(left * 1000) + 1, zmq.POLLIN):
                raise AssertionError("no message from the worker within %.1f s" % timeout)
            frames = await self.router.recv_multipart()
            self.rid = frames[0]
            m = Msg(frames[1:])
            if m.type not in skip:
                return m

    async def expect(self, mtype, timeout=3.0):
        m = await self.recv(timeout)
        if m.type != mtype:
            raise AssertionError("expected %s, got %r" % (mtype, m))
        return m

    async def quiet(self, duration=0.1):
        try:
            m = await self.recv(duration)
        except AssertionError:
            return
        raise AssertionError("unexpected %r" % m)

    async def send(self, mtype, sid="", meta=None, data=None, nsp=NSP):
        frames = [self.rid, b"IOG1", mtype.encode(), nsp.encode(), sid.encode(),
                  json.dumps(meta).encode() if meta else b"",
                  json.dumps(data).encode() if data is not None else b""]
        await self.router.send_multipart(frames)

    async def connect(self, sid=SID_A, auth=None, expect="ACCEPT"):
        await self.send("CONNECT", sid, {"handshake": handshake(auth), "transport": "polling", "recovered": False})
        if expect:
            r = await self.expect(expect)
            assert r.sid == sid, r
            return r
        return None


class AsyncBase(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.dir = tempfile.mkdtemp(prefix="iogate-pyaio-")
        self.gw = AsyncGateway("ipc://%s/workers.sock" % self.dir)
        self.worker = AsyncWorker("ipc://%s/workers.sock" % self.dir, NSP)
        self.task = None

    async def asyncTearDown(self):
        if self.task is not None and not self.task.done():
            self.worker.stop()
            await asyncio.wait_for(self.task, 5)
        self.worker.close()
        self.gw.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def run_worker(self):
        self.task = asyncio.ensure_future(self.worker.run())
        await self.gw.expect("HELLO")
        await self.gw.send("WELCOME", meta={"version": 1, "gateway": "G" * 20, "heartbeat_ms": 5000})


class TestAsyncWorker(AsyncBase):
    async def test_async_handler_awaits_emit_with_ack(self):
        w = self.worker

        @w.on_connection
        async def connection(socket):
            # handlers first: events may arrive as soon as the socket is accepted
            @socket.on("ask")
            async def ask(question, ack=None):
                reply = await socket.emit_with_ack("q", question, timeout=3000)
                two = await socket.timeout(3000).emit_with_ack("q2")
                ack(reply, list(two))

            await asyncio.sleep(0.01)

        await self.run_worker()
        await self.gw.connect()
        await self.gw.send("EVENT", SID_A, {"ack": 9, "seq": 1}, ["ask", "why?"])
        r = await self.gw.expect("EMIT")
        self.assertEqual(r.data, ["q", "why?"])
        await self.gw.send("ACK", SID_A, {"id": r.meta["ack"], "seq": 2}, ["because"])
        r = await self.gw.expect("EMIT")
        self.assertEqual(r.data, ["q2"])
        await self.gw.send("ACK", SID_A, {"id": r.meta["ack"], "seq": 3}, ["x", 2])
        r = await self.gw.expect("ACK")
        self.assertEqual((r.meta, r.data), ({"id": 9}, ["because", ["x", 2]]))

    async def test_ack_timeout_and_disconnect_raise(self):
        w = self.worker
        results = []

        @w.on_connection
        async def connection(socket):
            for timeout in (50, None):
                try:
                    await socket.emit_with_ack("q", timeout=timeout)
                except Exception as e:  # noqa: BLE001 - the test records which
                    results.append((type(e), str(e)))

        await self.run_worker()
        t0 = time.monotonic()
        await self.gw.connect()
        await self.gw.expect("EMIT")
        await self.gw.expect("EMIT")  # the timer woke the loop: the first one has timed out
        self.assertLess(time.monotonic() - t0, 2.5)
        await self.gw.send("DISCONNECT", SID_A, {"reason": "transport close"})
        for _ in range(100):
            if len(results) == 2:
                break
            await asyncio.sleep(0.01)
        self.assertEqual(results, [(AckTimeoutError, "operation has timed out"),
                                   (DisconnectedError, "socket has been disconnected")])

    async def test_async_middleware_awaited_in_order(self):
        w = self.worker
        order = []

        @w.use
        async def first(socket, next):
            await asyncio.sleep(0.02)
            order.append("first")
            socket.join("checked")  # returns without next(): continues

        @w.use
        async def second(socket, next):
            order.append("second")
            mode = socket.handshake["auth"].get("mode")
            if mode == "refuse":
                raise ConnectionRefusedError("not you", {"why": "test"})
            if mode == "bug":
                raise RuntimeError("internal detail")
            next()

        await self.run_worker()
        await self.gw.connect(SID_A)
        self.assertEqual((await self.gw.expect("JOIN")).meta, {"rooms": ["checked"]})
        self.assertEqual(order, ["first", "second"])
        r = await self.gw.connect(SID_B, auth={"mode": "refuse"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "not you", "data": {"why": "test"}})
        with self.assertLogs("iogate", "ERROR") as logs:
            r = await self.gw.connect(SID_B, auth={"mode": "bug"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "Internal server error"})
        self.assertIn("RuntimeError: internal detail", "\n".join(logs.output))

    async def test_python_socketio_async_style(self):
        w = self.worker

        @w.event
        async def connect(sid, environ, auth):
            if not auth.get("token"):
                return False
            await w.save_session(sid, {"token": auth["token"]})
            await w.enter_room(sid, "lobby")

        @w.event
        async def chat(sid, text):
            async with w.session(sid) as session:
                session["said"] = text
            await w.emit("chat", text, room="lobby", skip_sid=sid)
            answer = await w.call("confirm", text, to=sid, timeout=3000)
            sockets = await w.fetch_sockets()
            return answer, [s["id"] for s in sockets], (await w.get_session(sid))["said"]

        await self.run_worker()
        r = await self.gw.connect(SID_B, auth={}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "Connection rejected by server"})
        await self.gw.connect(SID_A, auth={"token": "t"})
        self.assertEqual((await self.gw.expect("JOIN")).meta, {"rooms": ["lobby"]})
        await self.gw.send("EVENT", SID_A, {"ack": 1, "seq": 1}, ["chat", "hi"])
        r = await self.gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({"rooms": ["lobby"], "except": [SID_A]}, ["chat", "hi"]))
        r = await self.gw.expect("EMIT")
        self.assertEqual(r.data, ["confirm", "hi"])
        await self.gw.send("ACK", SID_A, {"id": r.meta["ack"], "seq": 2}, ["confirmed"])
        r = await self.gw.expect("ACK")
        self.assertEqual((r.meta, r.data), ({"id": 1}, ["confirmed", [SID_A], "hi"]))

    async def test_emit_works_with_and_without_await(self):
        w = self.worker
        await self.run_worker()
        await self.gw.connect()
        self.assertTrue(w.emit("plain", 1))  # Node style, no await
        self.assertTrue(await w.emit("awaited", 2))  # python-socketio AsyncServer style
        self.assertEqual((await self.gw.expect("BROADCAST")).data, ["plain", 1])
        self.assertEqual((await self.gw.expect("BROADCAST")).data, ["awaited", 2])
        self.assertEqual([s["id"] for s in await w.in_(SID_A).fetch_sockets()], [SID_A])

    async def test_handler_exception_logged_worker_goes_on(self):
        w = self.worker

        @w.on("boom")
        async def boom(sid):
            await asyncio.sleep(0)
            raise KeyError("secret")

        @w.on("ping")
        async def ping(sid):
            return "pong"

        await self.run_worker()
        await self.gw.connect()
        with self.assertLogs("iogate", "ERROR") as logs:
            await self.gw.send("EVENT", SID_A, {"ack": 1, "seq": 1}, ["boom"])
            await self.gw.quiet(0.1)
        self.assertIn("KeyError: 'secret'", "\n".join(logs.output))
        await self.gw.send("EVENT", SID_A, {"ack": 2, "seq": 2}, ["ping"])
        self.assertEqual((await self.gw.expect("ACK")).data, ["pong"])

    async def test_bye_ends_run_and_stop(self):
        await self.run_worker()
        await self.gw.send("BYE", meta={"reason": "server shutting down"}, nsp="")
        self.assertEqual(await asyncio.wait_for(self.task, 3), "server shutting down")
        self.task = asyncio.ensure_future(self.worker.run())
        await self.gw.expect("HELLO")  # run() again says HELLO again
        t0 = time.monotonic()
        asyncio.get_running_loop().call_later(0.05, self.worker.stop)
        self.assertIsNone(await asyncio.wait_for(self.task, 3))
        self.assertLess(time.monotonic() - t0, 2)


if __name__ == "__main__":
    unittest.main()
