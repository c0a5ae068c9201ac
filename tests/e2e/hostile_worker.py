"""hostile_worker.py — a worker that sends the gateway data no client must
ever see (issue 10 items 1 and 3), written straight from ipc/PROTOCOL.md
with pyzmq and no library, for tests/e2e/hostile_worker_data.test.js.

A client of its namespace emits "hostile" (case) and the worker answers that
socket with the message the case names (an EMIT, a BROADCAST, or an ACK to
the client's "hostile" event when it asked for one).  Every ERROR the gateway
sends back is reported to the same socket with valid data:
    EMIT ["gateway-error", code, type, message]
and "ok" (case) is answered with a well-formed EMIT ["fine", case], so a
test can tell that the worker and the socket still work.
Run by the gateway: /usr/bin/python3 tests/e2e/hostile_worker.py
"""
import json
import os

import zmq

NSP = os.environ.get("IOGATE_NAMESPACE", "/")
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.connect(os.environ["IOGATE_ENDPOINT"])


def js(v):
    return json.dumps(v, separators=(",", ":")).encode()


def send_raw(typ, sid=b"", meta=b"", data=b"", att=(), nsp=None):
    nsp = NSP.encode() if nsp is None else nsp
    sock.send_multipart([b"IOG1", typ.encode(), nsp, sid, meta, data, *att])


def ph(k):
    return {"_placeholder": True, "num": k}


# case → (type, data bytes, attachment frames).  EMIT goes to the asking
# socket, BROADCAST to the whole namespace, ACK answers the "hostile" event.
CASES = {
    # The injection of the issue: a record separator and a second packet.
    "inject": ("EMIT", b'["x"]\x1e42/b,["pwned"]', ()),
    "inject-bcast": ("BROADCAST", b'["x"]\x1e42/b,["pwned"]', ()),
    "inject-ack": ("ACK", b'["x"]\x1e42/b,["pwned"]', ()),
    # An Engine.IO close packet after the separator.
    "close": ("EMIT", b'["x"]\x1e1', ()),
    "close-bracket": ("EMIT", b'["x"]\x1e1[]', ()),
    "close-in-string": ("EMIT", b'["x\x1e1"]', ()),
    # Broken JSON, broken UTF-8.
    "bad-json": ("EMIT", b"[1,}]", ()),
    "bad-json-bcast": ("BROADCAST", b'["x",}]', ()),
    "bad-utf8": ("EMIT", b'["x","\xff"]', ()),
    "lone-surrogate": ("EMIT", b'["x","\\ud800"]', ()),
    "not-array": ("EMIT", b'{"0":"x"}', ()),
    "no-data": ("EMIT", b"", ()),
    "name-not-string": ("EMIT", b"[1]", ()),
    "reserved-name": ("EMIT", b'["connect"]', ()),
    "reserved-escaped": ("EMIT", b'["disconn\\u0065ct"]', ()),
    "too-deep": ("EMIT", b'["x",' + b"[" * 40 + b"]" * 40 + b"]", ()),
    # Placeholders that do not match the attachments.
    "att-unreferenced": ("EMIT", b'["x"]', (b"abc",)),
    "att-out-of-range": ("EMIT", js(["x", ph(1)]), (b"abc",)),
    "att-missing": ("EMIT", js(["x", ph(0)]), ()),
    "att-escaped-key": ("EMIT", b'["x",{"_pl\\u0061ceholder":true,"num":3}]', (b"abc",)),
    "att-too-many": ("EMIT", js(["x"] + [ph(k) for k in range(11)]), [b"a"] * 11),
    # Item 3: more frames than a message may have, placeholders and all.
    "att-1500": ("EMIT", js(["x"] + [ph(k) for k in range(1500)]), [b"a"] * 1500),
}

# "key": the per-spawn worker key (issue 10 item 2, branch iso-authority);
# ignored by a gateway that does not check keys (rule 9).
send_raw("HELLO", meta=js({"version": 1, "incarnation": "hostile" + str(os.getpid()),
                           "pid": os.getpid(), "key": os.environ.get("IOGATE_WORKER_KEY", "")}))
last = None
while True:
    frames = sock.recv_multipart()
    if len(frames) < 6 or frames[0] != b"IOG1":
        continue
    typ, sid = frames[1].decode(), frames[3]
    meta = json.loads(frames[4]) if frames[4] else {}
    data = json.loads(frames[5]) if frames[5] else None
    if typ == "PING":
        send_raw("PONG", nsp=b"")
    elif typ == "CONNECT":
        send_raw("ACCEPT", sid)
    elif typ == "ERROR":
        if last:
            send_raw("EMIT", last, data=js(["gateway-error", meta.get("code"), meta.get("type"),
                                            meta.get("message")]))
    elif typ == "BYE":
        break
    elif typ == "EVENT":
        last = sid
        ev = data[0]
        if ev == "hostile" and data[1] in CASES:
            kind, payload, att = CASES[data[1]]
            if kind == "EMIT":
                send_raw("EMIT", sid, data=payload, att=att)
            elif kind == "BROADCAST":
                send_raw("BROADCAST", data=payload, att=att)
            elif kind == "ACK" and "ack" in meta:
                send_raw("ACK", sid, meta=js({"id": meta["ack"]}), data=payload, att=att)
        elif ev == "ok":
            send_raw("EMIT", sid, data=js(["fine", data[1] if len(data) > 1 else None]))
        send_raw("PROCESSED", meta=js({"seq": meta.get("seq", 0)}), nsp=b"")
