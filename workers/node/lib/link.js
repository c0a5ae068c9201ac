// link.js — one gateway connection of a worker: a ZeroMQ DEALER (a CURVE
// client when IOGATE_CURVE_SERVERKEY is set, PROTOCOL.md rule 1a), its own
// HELLO / WELCOME / PING / PONG, incarnation, send queue and PROCESSED
// numbering.  A worker serving several gateways (comma list in
// IOGATE_ENDPOINT, rule 2) has one link per gateway — never one DEALER
// connected to several endpoints, which would round-robin its messages.
// What the gateway's messages mean for sockets is the worker's business
// (worker.js); this file only moves frames and keeps the link alive.
'use strict';

const crypto = require('node:crypto');
const zmq = require('zeromq');
const codec = require('./codec');

const PROTOCOL_VERSION = 1;
const DEFAULT_HEARTBEAT_MS = 5000;
const HELLO_RETRY_MS = 20; // a HELLO that could not be queued
const HELLO_MAX_MS = 60000; // longest pause between unanswered HELLOs
const HWM = 100000;
const VOLATILE_QUEUE_LIMIT = 1000; // volatile messages are dropped past this backlog
const BURST = 256; // messages handled in a row before the receive loop yields
const PROCESSED_EVERY = 1000; // report PROCESSED at least this often within a burst
const CONN_EVENTS = ['upgrade', 'packet', 'packetCreate', 'drain', 'close'];
const Z85 = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

function newIncarnation() {
  return crypto.randomBytes(16).toString('hex');
}

// Split a comma-separated endpoint list as the C library does: spaces
// around the commas allowed, empty items ignored, an endpoint given twice
// refused.  Throws when nothing is left.
function parseEndpoints(list) {
  const eps = String(list)
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (!eps.length) throw new Error(`no gateway endpoint in "${list}"`);
  const seen = new Set();
  for (const e of eps) {
    if (seen.has(e)) throw new Error(`gateway endpoint ${e} given twice`);
    seen.add(e);
  }
  return eps;
}

// The DEALER options for CURVE (rule 1a): the gateway's public key, and one
// ephemeral client keypair per process, shared by every link.  Throws when
// the key is not a Z85 key or libzmq has no CURVE: a worker that cannot
// speak to its gateway says so at start instead of connecting to nothing.
let clientKeys = null;
function curveOptions(serverKey) {
  if (!serverKey) return {};
  if (!Z85.test(serverKey)) throw new Error('IOGATE_CURVE_SERVERKEY: not a Z85 public key (40 characters)');
  if (!zmq.capability.curve) throw new Error('IOGATE_CURVE_SERVERKEY: this libzmq has no CURVE support');
  if (!clientKeys) clientKeys = zmq.curveKeyPair();
  return { curveServerKey: serverKey, curvePublicKey: clientKeys.publicKey, curveSecretKey: clientKeys.secretKey };
}

class GatewayLink {
  constructor(worker, endpoint, curve) {
    this.worker = worker;
    this.endpoint = endpoint;
    this._curve = curve;
    this.incarnation = newIncarnation();
    this.heartbeatMs = DEFAULT_HEARTBEAT_MS;
    this.welcomed = false;
    this.gatewayId = null;
    this.sock = null;
    this._queue = [];
    this._sending = false;
    this._helloInFlight = false;
    this._helloAt = 0;
    this._helloIvl = 0;
    this._lastRx = 0;
    this._lastPing = 0;
    this._seqDone = 0;
    this._seqReported = 0;
    this._processedScheduled = false;
    this._sinceReport = 0;
    this._burst = 0;
    this.dismissed = false; // said BYE: no HELLO of ours again (PROTOCOL.md rule 15)
  }

  _log(level, msg) {
    this.worker._log(level, msg);
  }

  start() {
    // Not `immediate` (ZMQ_IMMEDIATE), as in the C library: with it libzmq
    // drops the connection's pipe as soon as the connection goes, and what
    // a gateway we merely connect to sent just before closing — its
    // DISCONNECTs and BYE at shutdown — is lost unless already read (seen
    // with two gateways over tcp://).  Without it, what we send while the
    // gateway is away waits in the pipe (bounded by the high-water mark): a
    // HELLO, repeated every heartbeat until WELCOME.
    const sock = new zmq.Dealer({
      linger: 0,
      sendHighWaterMark: HWM,
      receiveHighWaterMark: HWM,
      sendTimeout: this.heartbeatMs,
      ...this._curve,
    });
    this.sock = sock;
    sock.connect(this.endpoint);
    this._log(
      2,
      `worker for ${this.worker.name} connecting to ${this.endpoint}${this._curve.curveServerKey ? ' (CURVE)' : ''} (incarnation ${this.incarnation})`,
    );
    this._recvLoop(sock);
    this._helloAt = Date.now();
    this.sendHello();
  }

  // Called every tick of the worker's timer.
  tick(now) {
    if (!this.sock || this.dismissed) return;
    if (!this.welcomed) {
      if (!this._helloInFlight && now >= this._helloAt) this.sendHello();
    } else if (now - this._lastRx >= 3 * this.heartbeatMs) {
      this.lost('heartbeat timeout', true);
    } else if (now - this._lastPing >= this.heartbeatMs) {
      this._lastPing = now;
      this.send('PING', '', null, null, { volatile: true });
    }
  }

  sendHello() {
    if (this.worker._closed || !this.sock) return;
    const meta = {
      version: PROTOCOL_VERSION,
      incarnation: this.incarnation,
      pid: process.pid,
      conn_events: CONN_EVENTS.filter((e) => this.worker._connEvents.has(e)),
    };
    // rule 10a: the key that lets us serve the namespace
    if (process.env.IOGATE_WORKER_KEY) meta.key = process.env.IOGATE_WORKER_KEY;
    this._helloInFlight = true;
    const sock = this.sock;
    // HELLO goes straight to the socket: nothing else may be queued before
    // WELCOME (and whatever is queued is stale).
    this._enqueue(codec.encode('HELLO', this.worker.name, '', meta, null), {
      onSent: () => {
        this._helloInFlight = false;
        const now = Date.now();
        this._log(3, `HELLO ${this.worker.name} sent to ${this.endpoint}`);
        this._lastRx = now; // the silence clock starts now
        this._lastPing = now;
        // No WELCOME within a heartbeat: again.  While the gateway is away
        // they all wait in the pipe and reach it together when it is back,
        // so the pauses double up to a minute, as in the C library: a long
        // absence does not pile up thousands.
        if (this._helloIvl <= 0) this._helloIvl = this.heartbeatMs;
        this._helloAt = now + this._helloIvl;
        this._helloIvl = Math.min(this._helloIvl * 2, HELLO_MAX_MS);
      },
      onFail: () => {
        if (sock !== this.sock) return;
        this._helloInFlight = false;
        this._helloAt = Date.now() + HELLO_RETRY_MS;
      },
    });
  }

  // This gateway is gone (silence, BYE, a new gateway incarnation, an ERROR
  // "hello", a failed send): its sockets — only this link's — are
  // disconnected with "transport close", and HELLO again with a new
  // incarnation (PROTOCOL.md rules 10, 14, 34).
  lost(why, rehello) {
    const wasWelcomed = this.welcomed;
    this.welcomed = false;
    this._queue = this._queue.filter((q) => q.hello); // stale messages for the old gateway
    this.worker._linkLost(this, why, wasWelcomed);
    if (rehello) {
      this.incarnation = newIncarnation();
      this._helloAt = Date.now() + HELLO_RETRY_MS;
    }
  }

  // Queue one message.  Returns false (nothing sent) before WELCOME, and for
  // a volatile message when the link is backed up (rule 32: volatile never
  // blocks).
  send(type, sid, meta, data, { volatile = false } = {}) {
    if (this.worker._closed || !this.sock) return false;
    if (!this.welcomed && type !== 'PING' && type !== 'PONG') {
      this._log(3, `${type} not sent to ${this.endpoint}: not connected to that gateway`);
      return false;
    }
    if (volatile && this._queue.length >= VOLATILE_QUEUE_LIMIT) {
      this._log(3, `volatile ${type} to ${this.endpoint} dropped`);
      return false;
    }
    const nsp = type === 'PING' || type === 'PONG' || type === 'PROCESSED' ? '' : this.worker.name;
    this._enqueue(codec.encode(type, nsp, sid, meta, data), {});
    return true;
  }

  _enqueue(frames, { onSent, onFail }) {
    this._queue.push({ frames, onSent, onFail, hello: !!onSent });
    if (!this._sending) this._pump();
  }

  async _pump() {
    this._sending = true;
    const sock = this.sock;
    while (this._queue.length && sock === this.sock && !sock.closed) {
      const item = this._queue.shift();
      try {
        await sock.send(item.frames);
        if (item.onSent) item.onSent();
      } catch (e) {
        if (sock !== this.sock || sock.closed) break;
        if (item.onFail) {
          this._log(3, `HELLO not sent yet to ${this.endpoint} (${e.code || e.message})`);
          item.onFail(e);
          continue;
        }
        this._log(1, `send to ${this.endpoint} failed: ${e.code || e.message}`);
        // Blocked a whole heartbeat or worse: the message is lost, so the
        // gateway's view and ours differ.  Start over.
        if (this.welcomed) this.lost('send to the gateway failed', true);
      }
    }
    this._sending = false;
  }

  async _recvLoop(sock) {
    while (sock === this.sock && !sock.closed) {
      let frames;
      try {
        frames = await sock.receive();
      } catch (e) {
        if (sock !== this.sock || sock.closed) return;
        this._log(0, `receive from ${this.endpoint}: ${e.message}`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      this._lastRx = Date.now(); // any message is a sign of life
      try {
        this.worker._onMessage(this, frames);
      } catch (e) {
        this._log(0, `handling a message threw: ${(e && e.stack) || e}`);
      }
      // receive() resolves at once while messages are waiting, so a flood
      // would never leave the microtask queue: yield now and then so
      // timers (heartbeats, ack timeouts) and PROCESSED get their turn.
      if (++this._burst >= BURST) {
        this._burst = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
  }

  // Tell the gateway, once per turn of the event loop in which EVENT/ACK
  // messages were handled, how far we got (PROTOCOL.md rule 36).  The
  // gateway gives each worker connection a credit of packets not yet
  // reported (rule 31): within a long burst, report every PROCESSED_EVERY.
  _scheduleProcessed() {
    if (++this._sinceReport >= PROCESSED_EVERY) this._reportProcessed();
    if (this._processedScheduled) return;
    this._processedScheduled = true;
    setImmediate(() => {
      this._processedScheduled = false;
      this._reportProcessed();
    });
  }

  _reportProcessed() {
    this._sinceReport = 0;
    if (this.welcomed && this._seqDone !== this._seqReported) {
      if (this.send('PROCESSED', '', { seq: this._seqDone }, null)) this._seqReported = this._seqDone;
    }
  }

  noteSeq(type, meta) {
    if ((type === 'EVENT' || type === 'ACK') && meta && Number.isInteger(meta.seq)) {
      this._seqDone = meta.seq;
      this._scheduleProcessed();
    }
  }

  // WELCOME: returns true when it names another gateway than before (the
  // old one's sockets are gone).
  onWelcome(meta) {
    const hb = meta.heartbeat_ms;
    if (Number.isInteger(hb) && hb > 0 && hb < 3600000 && hb !== this.heartbeatMs) {
      this.heartbeatMs = hb;
      if (this.sock) this.sock.sendTimeout = hb;
      this.worker._restartTimer();
    }
    const gw = typeof meta.gateway === 'string' ? meta.gateway : null;
    const other = !!(this.gatewayId && gw && gw !== this.gatewayId);
    this.gatewayId = gw;
    if (!this.welcomed) {
      // A new worker connection at the gateway numbers EVENT/ACK from 1.
      this._seqDone = 0;
      this._seqReported = 0;
    }
    this.welcomed = true;
    this._helloInFlight = false;
    this._helloIvl = 0; // the next HELLO series starts at one heartbeat
    const now = Date.now();
    this._lastRx = now;
    this._lastPing = now;
    return other;
  }

  async waitIdle(ms) {
    const end = Date.now() + ms;
    while (this._sending && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  }

  // Say BYE (when welcomed) and close the DEALER.
  async close() {
    const sock = this.sock;
    if (!sock) return;
    if (this.welcomed) {
      this._queue = [];
      try {
        sock.linger = 200; // let the BYE out
        sock.sendTimeout = 200;
        await this.waitIdle(300);
        await sock.send(codec.encode('BYE', this.worker.name, '', { reason: 'worker shutting down' }, null));
      } catch {
        /* the gateway is gone already */
      }
    }
    this.welcomed = false;
    this.sock = null;
    sock.close();
  }
}

module.exports = { GatewayLink, parseEndpoints, curveOptions, PROTOCOL_VERSION, CONN_EVENTS };
