"""conform_worker.py — a worker written straight from ipc/PROTOCOL.md with
pyzmq and no library, for conform_ipc.test.js: what the gateway answers to
messages it cannot act on (rule 30), and which HELLO keys it requires
(rule 10).

At start it says HELLO without "incarnation" (the gateway must answer ERROR
meta), then HELLO without "pid" (accepted).  Every ERROR it receives is
printed to stderr as "conform error <code> <type> <message>", and emitted
as "gateway-error" (code, type) to the last socket that sent an EVENT.

On CONNECT with auth {"slow": true} it does not answer; when DISCONNECT
comes (the client's --connect-timeout), it logs "conform disconnect <id>
<reason>" and sends its ACCEPT and an EMIT late.
On CONNECT, when the auth object has "early": true, it first sends, before
its ACCEPT, an EMIT ["early"], an ACK {"id":1} and a DISCONNECT for the
socket; it ACCEPTs once three ERRORs came back.

Events it understands (from socket.io-client):
  "bad-emits"   EMIT with an empty data frame, EMIT with data [], EMIT
                with data [1], BROADCAST with an empty data frame, ACK
                without an id: each must be answered with ERROR
  "ack-empty"   (with an ack) ACK with an empty data frame: the client
                gets its ack with no arguments
  "hello?"      emit "hello-status" (the ERROR codes seen before WELCOME)
Run by the gateway: /usr/bin/python3 tests/e2e/conform_worker.py
"""
import json
import os
import sys

import zmq

NSP = os.environ.get("IOGATE_NAMESPACE", "/")
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.connect(os.environ["IOGATE_ENDPOINT"])


def send(typ, sid="", meta=None, data=None, nsp=NSP, raw_data=None):
    if raw_data is None:
        raw_data = json.dumps(data, separators=(",", ":")).encode() if data is not None else b""
    sock.send_multipart([b"IOG1", typ.encode(), nsp.encode(), sid.encode(),
                         json.dumps(meta, separators=(",", ":")).encode() if meta is not None else b"",
                         raw_data])


def recv():
    while True:
        frames = sock.recv_multipart()
        if len(frames) < 6 or frames[0] != b"IOG1":
            continue
        meta = json.loads(frames[4]) if frames[4] else {}
        data = json.loads(frames[5]) if frames[5] else None
        return frames[1].decode(), frames[3].decode(), meta, data


def log(*a):
    print("conform", *a, file=sys.stderr, flush=True)


# Rule 10: "incarnation" is required, "pid" is not.
before_welcome = []
send("HELLO", meta={"version": 1, "pid": os.getpid()})
while True:
    typ, sid, meta, data = recv()
    if typ == "ERROR":
        log("error", meta.get("code"), meta.get("type"), meta.get("message"))
        before_welcome.append(meta.get("code"))
        send("HELLO", meta={"version": 1, "incarnation": "conform" + str(os.getpid()),
                            "key": os.environ.get("IOGATE_WORKER_KEY", "")})
    elif typ == "WELCOME":
        log("welcome")
        break

last_client = None
early = {}  # socket id -> ERRORs still due before its ACCEPT
slow = set()  # sockets whose CONNECT is never answered in time
while True:
    typ, sid, meta, data = recv()
    if typ == "PING":
        send("PONG", nsp="")
    elif typ == "CONNECT":
        auth = meta.get("handshake", {}).get("auth", {})
        if auth.get("slow") is True:
            slow.add(sid)  # middleware that outlasts --connect-timeout
        elif auth.get("early") is True:
            early[sid] = 3
            send("EMIT", sid, data=["early"])
            send("ACK", sid, meta={"id": 1}, data=["early"])
            send("DISCONNECT", sid, meta={"close": False})
        else:
            send("ACCEPT", sid)
    elif typ == "ERROR":
        log("error", meta.get("code"), meta.get("type"), meta.get("message"))
        if sid in early:
            early[sid] -= 1
            if early[sid] == 0:
                del early[sid]
                send("ACCEPT", sid)
                last_client = sid
        elif last_client:
            send("EMIT", last_client, data=["gateway-error", meta.get("code"), meta.get("type")])
    elif typ == "DISCONNECT":
        log("disconnect", sid, meta.get("reason"))
        if sid in slow:
            slow.discard(sid)
            send("ACCEPT", sid)  # too late: ignored (rule 28)
            send("EMIT", sid, data=["late"])
    elif typ == "BYE":
        break
    elif typ == "EVENT":
        last_client = sid
        send("PROCESSED", nsp="", meta={"seq": meta.get("seq")})
        ev = data[0]
        if ev == "bad-emits":
            send("EMIT", sid)                          # no data frame
            send("EMIT", sid, data=[])                 # no event name
            send("EMIT", sid, data=[1, "x"])           # a name that is not a string
            send("BROADCAST", meta={"rooms": [sid]})   # no data frame
            send("ACK", sid, meta={}, data=["x"])      # no id
        elif ev == "ack-empty" and "ack" in meta:
            send("ACK", sid, meta={"id": meta["ack"]})
        elif ev == "hello?":
            send("EMIT", sid, data=["hello-status", before_welcome])
