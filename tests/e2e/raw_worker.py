"""raw_worker.py — a worker written straight from ipc/PROTOCOL.md with pyzmq
and no library, for tests of the gateway's side of the protocol: address a
list of sockets, JOIN for a socket that is gone, ERROR answers, QUERY.

Events it understands (from socket.io-client):
  "list" (ids...)     BROADCAST {"sockets": ids} ["listed", "hi"]
  "join-ghost"        JOIN an unknown socket id to "ghost-room", then QUERY
                      sockets and emit "sockets" (the reply's list) back
  "bad-meta"          send EMIT with meta [1]: the gateway answers ERROR; the
                      error's code is emitted back as "gateway-error"
  "wrong-nsp"         send EMIT naming another namespace: ERROR again
Run by the gateway: /usr/bin/python3 tests/e2e/raw_worker.py
"""
import json
import os
import sys

import zmq

NSP = os.environ.get("IOGATE_NAMESPACE", "/")
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.connect(os.environ["IOGATE_ENDPOINT"])


def send(typ, sid="", meta=None, data=None, nsp=NSP):
    sock.send_multipart([b"IOG1", typ.encode(), nsp.encode(), sid.encode(),
                         json.dumps(meta, separators=(",", ":")).encode() if meta is not None else b"",
                         json.dumps(data, separators=(",", ":")).encode() if data is not None else b""])


send("HELLO", meta={"version": 1, "incarnation": "raw" + str(os.getpid()), "pid": os.getpid(),
                    "key": os.environ.get("IOGATE_WORKER_KEY", "")})
last_client = None
while True:
    frames = sock.recv_multipart()
    if len(frames) < 6 or frames[0] != b"IOG1":
        continue
    typ, sid = frames[1].decode(), frames[3].decode()
    meta = json.loads(frames[4]) if frames[4] else {}
    data = json.loads(frames[5]) if frames[5] else None
    if typ == "PING":
        send("PONG", nsp="")
    elif typ == "CONNECT":
        send("ACCEPT", sid)
    elif typ == "DISCONNECT":
        print(f"raw disconnect {sid} {meta.get('reason')}", file=sys.stderr, flush=True)
    elif typ == "ERROR":
        if last_client:
            send("EMIT", last_client, data=["gateway-error", meta.get("code"), meta.get("type")])
    elif typ == "REPLY":
        if last_client:
            send("EMIT", last_client, data=["sockets", meta.get("sockets")])
    elif typ == "BYE":
        break
    elif typ == "EVENT":
        last_client = sid
        ev, args = data[0], data[1:]
        if ev == "list":
            send("BROADCAST", meta={"sockets": args}, data=["listed", "hi"])
        elif ev == "join-ghost":
            send("JOIN", "GhostGhostGhostGhost", meta={"rooms": ["ghost-room"]})
            send("QUERY", meta={"req": 1, "op": "sockets"})
        elif ev == "bad-meta":
            sock.send_multipart([b"IOG1", b"EMIT", NSP.encode(), sid.encode(), b"[1]", b'["x"]'])
        elif ev == "wrong-nsp":
            send("EMIT", sid, data=["x"], nsp="/elsewhere")
        send("PROCESSED", meta={"seq": meta.get("seq", 0)}, nsp="")
