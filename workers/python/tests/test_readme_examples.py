"""The python-socketio migration examples of workers/python/README.md, taken
from the Markdown (the python blocks marked ``<!-- file: sync_app.py, run by
…`` and ``<!-- file: async_app.py, run by …``), run as worker processes against a real ZeroMQ
ROUTER playing the gateway.  tests/e2e/py_native.test.js runs the same
blocks under the real gateway with socket.io-client."""

import os
import re
import subprocess
import tempfile
import shutil

from test_worker import ROOT, SID_A, SID_B, Base

README = os.path.join(ROOT, "workers", "python", "README.md")


# the markers tests/e2e/readme_examples.test.js checks point here
FILES = {"sync": "file: sync_app.py", "async": "file: async_app.py"}


def example(name):
    with open(README, encoding="utf-8") as f:
        md = f.read()
    m = re.search(r"<!-- %s, run by [^>]*-->\s*\n```python\n(.*?)\n```" % re.escape(FILES[name]), md, re.S)
    if not m:
        raise AssertionError("README example %s not found" % name)
    return m.group(1) + "\n"


class ReadmeExample(Base):
    name = None

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="iogate-pyreadme-")
        path = os.path.join(self.tmp, "app.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(example(self.name))
        env = dict(os.environ, IOGATE_ENDPOINT=self.endpoint, IOGATE_NAMESPACE="/chat",
                   PYTHONPATH=os.path.join(ROOT, "workers", "python"), IOGATE_WORKER_LOG="error")
        self.proc = subprocess.Popen(["/usr/bin/python3", path], env=env, stderr=subprocess.PIPE)
        self.gw.expect("HELLO", timeout=10)
        self.gw.send("WELCOME", meta={"version": 1, "gateway": "G" * 20, "heartbeat_ms": 5000})

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def contract(self):
        gw = self.gw
        r = self.connect(SID_A, auth={"token": "wrong"}, expect="REFUSE")
        self.assertEqual(r.meta, {"message": "not authorized"})
        self.connect(SID_A, auth={"token": "secret", "user": "ann"})
        self.assertEqual(gw.expect("JOIN").meta, {"rooms": ["lobby"]})
        self.connect(SID_B, auth={"token": "secret", "user": "bob"})
        self.assertEqual(gw.expect("JOIN").meta, {"rooms": ["lobby"]})
        gw.send("EVENT", SID_A, {"ack": 1}, ["chat", "hi"])
        r = gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({"rooms": ["lobby"], "except": [SID_A]},
                                            ["chat", {"user": "ann", "text": "hi"}]))
        r = gw.expect("ACK")
        self.assertEqual((r.sid, r.meta, r.data), (SID_A, {"id": 1}, ["delivered"]))

    def leave_and_stop(self):
        gw = self.gw
        gw.send("DISCONNECT", SID_A, {"reason": "client namespace disconnect"})
        r = gw.expect("BROADCAST")
        self.assertEqual((r.meta, r.data), ({"rooms": ["lobby"], "except": [SID_A]}, ["left", "ann"]))
        gw.send("BYE", meta={"reason": "server shutting down"}, nsp="")
        self.assertEqual(self.proc.wait(10), 0, self.proc.stderr.read().decode(errors="replace"))


class TestSyncExample(ReadmeExample):
    name = "sync"

    def test_contract(self):
        self.contract()
        self.leave_and_stop()


class TestAsyncExample(ReadmeExample):
    name = "async"

    def test_contract(self):
        self.contract()
        self.gw.send("EVENT", SID_B, {"ack": 2}, ["ask", "sure?"])
        r = self.gw.expect("EMIT")
        self.assertEqual((r.sid, r.data), (SID_B, ["question", "sure?"]))
        self.gw.send("ACK", SID_B, {"id": r.meta["ack"]}, ["yes"])
        r = self.gw.expect("ACK")
        self.assertEqual((r.sid, r.meta, r.data), (SID_B, {"id": 2}, ["you said yes"]))
        self.leave_and_stop()


del ReadmeExample  # the base has no test of its own

if __name__ == "__main__":
    import unittest

    unittest.main()
