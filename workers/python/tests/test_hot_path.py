"""The per-message path of the Python worker (issue 12 item 5): what its
shortcuts must keep exactly as ipc/PROTOCOL.md says.  A real ZeroMQ ROUTER
plays the gateway (test_worker.FakeGateway).

    /usr/bin/python3 -m unittest discover -s workers/python/tests -p test_hot_path.py -v
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from iogate import protocol  # noqa: E402
from test_worker import NSP, SID_A, Base, setUpModule  # noqa: E402,F401


class TestCodecShortcuts(unittest.TestCase):
    def test_data_without_binary_is_one_json_text(self):
        self.assertEqual(protocol.dump_data(["ev", 1, (2, 3), {"k": "é"}]),
                         ['["ev",1,[2,3],{"k":"é"}]'.encode("utf-8")])

    def test_data_with_binary_takes_placeholders(self):
        self.assertEqual(protocol.dump_data(["ev", {"a": [b"x"]}, bytearray(b"y")]),
                         [b'["ev",{"a":[{"_placeholder":true,"num":0}]},{"_placeholder":true,"num":1}]',
                          b"x", b"y"])

    def test_not_json_still_refused(self):
        with self.assertRaises(TypeError):
            protocol.dump_data(["ev", object()])
        with self.assertRaises(ValueError):
            protocol.dump_data(["ev", float("nan")])

    def frames(self, meta, data, *atts):
        return [b"IOG1", b"EVENT", b"/", SID_A.encode(), meta, data, *atts]

    def test_decode_same_as_json_loads(self):
        m = protocol.decode(self.frames(b' {"seq":3, "ack":1} ', b'["e", 1.5, null, "\\u00e9"]\n'))
        self.assertEqual((m.meta, m.data), ({"seq": 3, "ack": 1}, ["e", 1.5, None, "é"]))
        for bad in (b'["e"] x', b'["e"', b"\xff", b"[1]]"):
            with self.assertRaises(protocol.ProtocolError, msg=repr(bad)):
                protocol.decode(self.frames(b"", bad))

    def test_placeholder_without_attachment_refused_even_escaped(self):
        for data in (b'["e",{"_placeholder":true,"num":0}]',
                     b'["e",{"\\u005fplaceholder":true,"num":0}]'):
            with self.assertRaises(protocol.ProtocolError, msg=repr(data)):
                protocol.decode(self.frames(b"", data))
        m = protocol.decode(self.frames(b"", b'["e",{"_placeholder":true,"num":0}]', b"ab"))
        self.assertEqual(m.data, ["e", b"ab"])


class TestDone(Base):
    def setUp(self):
        super().setUp()
        w = self.ready()
        self.connect()
        self.s = self.sockets[SID_A]
        self.w = w

    def test_reply_carries_done_and_no_processed_follows(self):
        @self.w.on("echo")
        def echo(sid, *args):
            self.w.emit("echo", args, to=sid)
            return args

        self.gw.send("EVENT", SID_A, {"seq": 1}, ["echo", "a"])
        m = self.gw.expect("EMIT")
        self.assertEqual((m.meta, m.data), ({"done": 1}, ["echo", "a"]))
        self.gw.send("EVENT", SID_A, {"seq": 2, "ack": 9}, ["echo", "b"])
        m = self.gw.expect("EMIT")
        self.assertEqual(m.meta, {"done": 2})  # the first message sent while handling it
        m = self.gw.expect("ACK")
        self.assertEqual((m.meta, m.data), ({"id": 9}, ["b"]))
        self.gw.quiet(0.1)  # both reported already: no PROCESSED

    def test_ack_carries_done_with_its_id(self):
        self.s.on("q", lambda ack=None: ack("ok"))
        self.gw.send("EVENT", SID_A, {"seq": 1, "ack": 4}, ["q"])
        m = self.gw.expect("ACK")
        self.assertEqual((m.meta, m.data), ({"id": 4, "done": 1}, ["ok"]))
        self.gw.quiet(0.1)

    def test_silent_handler_gets_processed(self):
        got = []
        self.s.on("e", lambda *a: got.append(a))
        self.gw.send("EVENT", SID_A, {"seq": 1}, ["e", 1])
        m = self.gw.expect("PROCESSED")
        self.assertEqual(m.meta, {"seq": 1})
        self.assertEqual(got, [(1,)])

    def test_burst_is_one_processed(self):
        got = []
        self.s.on("e", lambda n: got.append(n))
        for i in range(1, 301):
            self.gw.send("EVENT", SID_A, {"seq": i}, ["e", i])
        deadline = time.monotonic() + 5
        while len(got) < 300 and time.monotonic() < deadline:
            self.w.process()
            time.sleep(0.005)
        self.assertEqual(got, list(range(1, 301)))
        reports = []
        while not reports or reports[-1] != 300:
            reports.append(self.gw.expect("PROCESSED").meta["seq"])
        # one per drained batch, not one per message
        self.assertLess(len(reports), 30, reports)


class TestFraming(Base):
    def setUp(self):
        super().setUp()
        self.ready()
        self.connect()
        self.got = []
        self.sockets[SID_A].on("e", lambda *a: self.got.append(a))

    def test_short_message_before_another_does_not_swallow_it(self):
        # a broken gateway's 4-frame EVENT, then a good one in the same burst
        self.gw.send_frames([b"IOG1", b"EVENT", NSP.encode(), SID_A.encode()])
        self.gw.send("EVENT", SID_A, {"seq": 1}, ["e", "good"])
        self.gw.send("EVENT", SID_A, {"seq": 2}, ["e", "bin", {"_placeholder": True, "num": 0}],
                     atts=[b"\x00\x01"])
        deadline = time.monotonic() + 3
        while len(self.got) < 2 and time.monotonic() < deadline:
            self.worker.process()
            time.sleep(0.005)
        self.assertEqual(self.got, [("good",), ("bin", b"\x00\x01")])

    def test_short_message_alone(self):
        self.gw.send_frames([b"IOG1", b"EVENT", NSP.encode()])
        self.gw.pump(0.1)
        self.gw.send("EVENT", SID_A, {"seq": 1}, ["e", 2])
        deadline = time.monotonic() + 3
        while not self.got and time.monotonic() < deadline:
            self.worker.process()
            time.sleep(0.005)
        self.assertEqual(self.got, [(2,)])
        self.assertTrue(self.worker.connected)


if __name__ == "__main__":
    unittest.main()
