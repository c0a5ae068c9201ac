"""Several gateways (a comma list in IOGATE_ENDPOINT: one DEALER each,
PROTOCOL.md rule 2) and CURVE (IOGATE_CURVE_SERVERKEY, rule 1a), against
real ZeroMQ ROUTERs playing the gateways."""

import logging
import os
import select
import shutil
import tempfile
import time
import unittest

import zmq

from test_worker import NSP, SID_A, SID_B, SID_C, FakeGateway, Msg, handshake  # noqa: F401

from iogate import Worker
from iogate.gateway import parse_endpoints


def setUpModule():
    logging.getLogger("iogate").setLevel(logging.CRITICAL)


def connect_meta(auth=None):
    return {"handshake": handshake(auth), "transport": "polling", "recovered": False}


class TestSeveralGateways(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="iogate-pymgw-")
        self.ctx = zmq.Context()
        self.eps = ["ipc://%s/a.sock" % self.dir, "ipc://%s/b.sock" % self.dir]
        self.a = FakeGateway(self.ctx, self.eps[0])
        self.b = FakeGateway(self.ctx, self.eps[1])
        self.worker = Worker(" %s ,, %s " % tuple(self.eps), NSP)
        self.a.worker = self.b.worker = self.worker
        self.sockets = {}
        self.worker.on_connection(lambda s: self.sockets.__setitem__(s.id, s))

    def tearDown(self):
        self.worker.close()
        self.a.close()
        self.b.close()
        self.ctx.term()
        shutil.rmtree(self.dir, ignore_errors=True)

    def welcome(self, hb=5000):
        hellos = []
        for gw, name in ((self.a, "A" * 20), (self.b, "B" * 20)):
            hellos.append(gw.expect("HELLO"))
            gw.send("WELCOME", meta={"version": 1, "gateway": name, "heartbeat_ms": hb})
        self.a.pump()
        return hellos

    def test_endpoint_list(self):
        self.assertEqual(parse_endpoints("a, b ,,c"), ["a", "b", "c"])
        with self.assertRaises(ValueError):
            parse_endpoints(" , ")
        with self.assertRaises(ValueError):
            Worker("tcp://127.0.0.1:1,tcp://127.0.0.1:1", NSP)
        self.assertEqual([g.endpoint for g in self.worker.gateways], self.eps)

    def test_one_connection_per_gateway(self):
        ha, hb = self.welcome()
        self.assertNotEqual(ha.meta["incarnation"], hb.meta["incarnation"])
        self.assertEqual([g.connected for g in self.worker.gateways], [True, True])
        self.a.send("CONNECT", SID_A, connect_meta())
        self.a.expect("ACCEPT")
        self.b.send("CONNECT", SID_B, connect_meta())
        self.b.expect("ACCEPT")
        sa, sb = self.sockets[SID_A], self.sockets[SID_B]
        self.assertEqual((sa.gateway, sb.gateway), tuple(self.eps))
        # everything about one socket goes to its own gateway
        sb.emit("to-b")
        sa.join("room")
        self.assertEqual(self.b.expect("EMIT").data, ["to-b"])
        self.assertEqual(self.a.expect("JOIN").sid, SID_A)
        self.b.quiet(0.03)
        # broadcasts go to every gateway
        self.worker.to("room").emit("all")
        self.assertEqual(self.a.expect("BROADCAST").meta, {"rooms": ["room"]})
        self.assertEqual(self.b.expect("BROADCAST").meta, {"rooms": ["room"]})
        # one socket table: fetch_sockets sees both gateways' sockets
        self.assertEqual(sorted(s["id"] for s in self.worker.fetch_sockets()), [SID_A, SID_B])
        # a message about A's socket that comes from B is not B's to send
        self.b.send("DISCONNECT", SID_A, {"reason": "transport close"})
        self.b.pump()
        self.assertTrue(sa.connected)

    def test_duplicate_id_from_another_gateway_refused(self):
        self.welcome()
        self.a.send("CONNECT", SID_A, connect_meta())
        self.a.expect("ACCEPT")
        self.b.send("CONNECT", SID_A, connect_meta())
        r = self.b.expect("REFUSE")
        self.assertEqual((r.sid, r.meta), (SID_A, {"message": "duplicate socket id"}))
        self.assertTrue(self.sockets[SID_A].connected)
        self.assertEqual(self.sockets[SID_A].gateway, self.eps[0])

    def test_losing_one_gateway_keeps_the_others_sockets(self):
        self.welcome(hb=100)
        self.a.send("CONNECT", SID_A, connect_meta())
        self.a.expect("ACCEPT")
        self.b.send("CONNECT", SID_B, connect_meta())
        self.b.expect("ACCEPT")
        gone = []
        self.sockets[SID_A].on("disconnect", lambda r: gone.append((SID_A, r)))
        self.sockets[SID_B].on("disconnect", lambda r: gone.append((SID_B, r)))
        # B keeps answering, A goes silent: A's sockets go, HELLO again to A only
        end = time.monotonic() + 3
        hello = None
        while time.monotonic() < end and hello is None:
            self.worker.process()
            while self.b.router.poll(0):
                m = Msg(self.b.router.recv_multipart()[1:])
                if m.type == "PING":
                    self.b.send("PONG")
            while self.a.router.poll(0):
                m = Msg(self.a.router.recv_multipart()[1:])
                if m.type == "HELLO":
                    hello = m
            time.sleep(0.01)
        self.assertIsNotNone(hello)
        self.assertEqual(gone, [(SID_A, "transport close")])
        self.assertTrue(self.sockets[SID_B].connected)
        self.assertTrue(self.worker.connected)
        self.assertEqual([g.connected for g in self.worker.gateways], [False, True])

    def test_run_returns_after_every_gateways_bye(self):
        self.welcome()
        self.b.send("CONNECT", SID_B, connect_meta())
        self.b.expect("ACCEPT")
        self.a.send("BYE", meta={"reason": "server shutting down"}, nsp="")
        self.worker.call_later(200, lambda: self.b.send("BYE", meta={"reason": "replaced"}, nsp=""))
        seen = []
        self.sockets[SID_B].on("disconnect", seen.append)
        self.a.worker = self.b.worker = None
        t0 = time.monotonic()
        self.assertEqual(self.worker.run(), "replaced")
        self.assertGreater(time.monotonic() - t0, 0.15)  # A's BYE alone did not end it
        self.assertEqual(seen, ["transport close"])

    def test_fileno_watches_every_gateway(self):
        self.welcome()
        fd = self.worker.fileno()
        self.assertNotIn(fd, [g.sock.getsockopt(zmq.FD) for g in self.worker.gateways])
        self.worker.process()
        self.b.send("PING")
        r, _, _ = select.select([fd], [], [], 2)
        self.assertEqual(r, [fd])
        self.worker.process()
        self.assertEqual(self.b.expect("PONG", skip=("PING",)).type, "PONG")


@unittest.skipUnless(zmq.has("curve"), "libzmq without CURVE")
class TestCurve(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="iogate-pycurve-")
        self.ctx = zmq.Context()
        self.endpoint = "ipc://%s/curve.sock" % self.dir
        self.public, secret = zmq.curve_keypair()
        self.gw = FakeGateway.__new__(FakeGateway)
        self.gw.router = self.ctx.socket(zmq.ROUTER)
        self.gw.router.setsockopt(zmq.LINGER, 0)
        self.gw.router.setsockopt(zmq.CURVE_SERVER, 1)
        self.gw.router.setsockopt(zmq.CURVE_SECRETKEY, secret)
        self.gw.router.bind(self.endpoint)
        self.gw.rid = None
        self.gw.worker = None
        self.workers = []

    def tearDown(self):
        for w in self.workers:
            w.close()
        self.gw.close()
        self.ctx.term()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_with_the_server_key_hello_arrives(self):
        old = os.environ.get("IOGATE_CURVE_SERVERKEY")
        os.environ["IOGATE_CURVE_SERVERKEY"] = self.public.decode()
        try:
            w = Worker(self.endpoint, NSP)
        finally:
            if old is None:
                del os.environ["IOGATE_CURVE_SERVERKEY"]
            else:
                os.environ["IOGATE_CURVE_SERVERKEY"] = old
        self.workers.append(w)
        self.gw.worker = w
        self.assertEqual(self.gw.expect("HELLO", timeout=5).nsp, NSP)
        self.gw.send("WELCOME", meta={"version": 1, "gateway": "G" * 20, "heartbeat_ms": 5000})
        self.gw.pump()
        self.assertTrue(w.connected)

    def test_without_or_with_a_wrong_key_nothing_arrives(self):
        wrong, _ = zmq.curve_keypair()
        for key in (None, wrong.decode()):
            w = Worker(self.endpoint, NSP, curve_serverkey=key)
            self.workers.append(w)
            self.gw.worker = w
            if key is None:
                os.environ.pop("IOGATE_CURVE_SERVERKEY", None)
            self.gw.quiet(0.3)
            self.assertFalse(w.connected)

    def test_bad_key_is_an_error_not_plain_text(self):
        for key in ("short", "é" * 40, "~" * 40):
            with self.assertRaises(ValueError):
                Worker(self.endpoint, NSP, curve_serverkey=key)


if __name__ == "__main__":
    unittest.main()
