// broadcast_ack.js — broadcasts that ask for acknowledgements
// (io.to(room).timeout(ms).emit(ev, …, (err, responses) => …), PROTOCOL.md
// rule 25a).  The gateways resolve the receivers: each one this BROADCAST
// went to answers BROADCAST_ACK {id, count} once, then BROADCAST_ACK {id}
// naming a socket for each client's answer.  The callback runs once: with
// (null, responses) when every gateway has counted and every receiver has
// answered, or with (Error("operation has timed out"), responses so far)
// at the timeout — socket.io's semantics.  serverSideEmit with an ack
// (SERVER_EMIT / SERVER_EMIT_ACK, rule 25b) is counted the same way: each
// gateway gives the number of other worker processes of the namespace it
// relayed to, and their answers.
'use strict';

const MAX_ID = 2 ** 53 - 1;

class BroadcastAcks {
  constructor(worker) {
    this._worker = worker;
    this._next = 0;
    this._pending = new Map(); // id → {links, expected, responses, timer, cb}
  }

  // Send one BROADCAST (or SERVER_EMIT) asking for acks on every welcomed
  // gateway.
  emit(meta, packet, timeoutMs, cb, type = 'BROADCAST') {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 3600000) {
      throw new Error('a broadcast with an acknowledgement needs timeout(ms), 1 to 3600000 ms');
    }
    const id = this._next;
    this._next = this._next >= MAX_ID ? 0 : this._next + 1;
    const p = { links: new Set(), expected: 0, responses: [], timer: null, cb };
    const m = { ...meta, ack: id, timeout: timeoutMs };
    delete m.volatile; // an emit that waits for answers is never dropped
    for (const link of this._worker._links) if (link.welcomed && link.send(type, '', m, packet)) p.links.add(link);
    p.timer = setTimeout(() => this._settle(id, new Error('operation has timed out')), timeoutMs);
    this._pending.set(id, p);
    if (p.links.size === 0) this._check(id); // nobody to wait for: no receivers
    return p.links.size > 0;
  }

  // A BROADCAST_ACK or SERVER_EMIT_ACK from `link`: the count, or one answer.
  onMessage(link, m) {
    const p = this._pending.get(m.meta.id);
    if (!p) {
      this._worker._log(3, `BROADCAST_ACK ${m.meta.id} after its callback ran, ignored`);
      return;
    }
    if (Number.isInteger(m.meta.count)) {
      if (p.links.delete(link)) p.expected += m.meta.count;
    } else {
      p.responses.push((m.data || [])[0]);
    }
    this._check(m.meta.id);
  }

  _check(id) {
    const p = this._pending.get(id);
    if (p && p.links.size === 0 && p.responses.length >= p.expected) this._settle(id, null);
  }

  _settle(id, err) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    clearTimeout(p.timer);
    try {
      p.cb(err, p.responses);
    } catch (e) {
      this._worker._log(0, `broadcast acknowledgement callback threw: ${(e && e.stack) || e}`);
    }
  }

  close() {
    for (const id of [...this._pending.keys()]) this._settle(id, new Error('worker closed'));
  }
}

module.exports = { BroadcastAcks };
