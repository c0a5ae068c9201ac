"""loss_worker.py — a worker written straight from ipc/PROTOCOL.md with pyzmq
and no library, for loss_paths.test.js: it reports on stderr (which the
gateway passes through to its own) every CONNECT and DISCONNECT it hears,
so a test can see that a socket the gateway dropped is told to a worker.

Lines it prints:
  loss-worker hello pid=<pid> nsp=<nsp>
  loss-worker connect <sid> recovered=<0|1>
  loss-worker disconnect <sid> reason=<reason> cause=<cause>
Events it understands (from socket.io-client):
  "msg" n   EMIT ["back", n]
  "pid"     EMIT ["pid", <pid>]
  "crash"   SIGKILL itself (a poison packet)
After each EVENT it sends PROCESSED, unless LOSS_NO_PROCESSED=1 (a worker
that uses up its credit).  Run by the gateway:
  /usr/bin/python3 tests/e2e/loss_worker.py
"""
import json
import os
import signal
import sys

import zmq

NSP = os.environ.get("IOGATE_NAMESPACE", "/")
NO_PROCESSED = os.environ.get("LOSS_NO_PROCESSED") == "1"
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.connect(os.environ["IOGATE_ENDPOINT"])


def say(line):
    print("loss-worker " + line, file=sys.stderr, flush=True)


def send(typ, sid="", meta=None, data=None, nsp=NSP):
    sock.send_multipart([b"IOG1", typ.encode(), nsp.encode(), sid.encode(),
                         json.dumps(meta, separators=(",", ":")).encode() if meta is not None else b"",
                         json.dumps(data, separators=(",", ":")).encode() if data is not None else b""])


send("HELLO", meta={"version": 1, "incarnation": "loss" + str(os.getpid()), "pid": os.getpid(),
                    "key": os.environ.get("IOGATE_WORKER_KEY", "")})
say(f"hello pid={os.getpid()} nsp={NSP}")
while True:
    frames = sock.recv_multipart()
    if len(frames) < 6 or frames[0] != b"IOG1":
        continue
    typ, sid = frames[1].decode(), frames[3].decode()
    meta = json.loads(frames[4]) if frames[4] else {}
    if typ == "PING":
        send("PONG", nsp="")
    elif typ == "CONNECT":
        say(f"connect {sid} recovered={1 if meta.get('recovered') else 0}")
        send("ACCEPT", sid)
    elif typ == "DISCONNECT":
        say(f"disconnect {sid} reason={meta.get('reason')} cause={meta.get('cause')}")
    elif typ == "BYE":
        break
    elif typ == "EVENT":
        data = json.loads(frames[5]) if frames[5] else [None]
        ev = data[0]
        if ev == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif ev == "msg":
            send("EMIT", sid, data=["back", data[1]])
        elif ev == "pid":
            send("EMIT", sid, data=["pid", os.getpid()])
        if not NO_PROCESSED:
            send("PROCESSED", nsp="", meta={"seq": meta.get("seq", 0)})
