"""The Python worker library and a restored CONNECT (connection state
recovery, PROTOCOL.md rule 16a): the socket object is replaced without
disconnect events, its data carries over, ``recovered`` and ``restored``
are set, middleware runs again unless ``skip_middlewares``.  The fake
gateway is test_worker.py's (a real ZeroMQ ROUTER)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_worker import Base, SID_A, setUpModule  # noqa: E402,F401


class TestRestored(Base):
    def setup_app(self):
        w = self.ready()
        self.events = []

        @w.use
        def mw(socket, next):
            self.events.append(("mw", socket.restored))
            next()

        @w.on_connection
        def conn(socket):
            self.events.append(("conn", socket.recovered, socket.restored))

            @socket.on("disconnect")
            def disc(reason):
                self.events.append(("disconnect", reason))

        return w

    def test_replaced_silently_with_data(self):
        self.setup_app()
        self.connect()
        first = self.sockets[SID_A]
        first.data = {"n": 7}
        self.connect(restored=True, rooms=[SID_A, "lobby"])
        second = self.sockets[SID_A]
        self.assertIsNot(first, second)
        self.assertEqual(second.data, {"n": 7})
        self.assertTrue(second.recovered)
        self.assertTrue(second.restored)
        self.assertIn("lobby", list(second.rooms))
        self.assertEqual(self.events, [("mw", False), ("conn", False, False),
                                       ("mw", True), ("conn", True, True)])
        self.gw.quiet(0.05)  # nothing else sent: the gateway routes those rooms
        self.gw.send("DISCONNECT", SID_A, {"reason": "transport close"})
        self.gw.pump()
        self.assertEqual(self.events[-1], ("disconnect", "transport close"))
        self.assertEqual(sum(1 for e in self.events if e[0] == "disconnect"), 1)

    def test_skip_middlewares(self):
        self.setup_app()
        self.connect()
        self.connect(restored=True, rooms=[SID_A], skip_middlewares=True)
        self.assertEqual([e[0] for e in self.events], ["mw", "conn", "conn"])


if __name__ == "__main__":
    unittest.main()
