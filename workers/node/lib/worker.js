// worker.js — the worker: one namespace behind the iogate gateway, shaped
// like socket.io's Server/Namespace.  The ZeroMQ DEALER to the gateway,
// HELLO / WELCOME / PING / PONG / BYE, PROCESSED, dispatch of gateway
// messages to sockets, namespace middleware, broadcasts and utilities.
// The wire contract is ipc/PROTOCOL.md.
'use strict';

const { EventEmitter } = require('node:events');
const crypto = require('node:crypto');
const zmq = require('zeromq');
const codec = require('./codec');
const { Socket } = require('./socket');
const { BroadcastOperator } = require('./broadcast');

const PROTOCOL_VERSION = 1;
const DEFAULT_HEARTBEAT_MS = 5000;
const HELLO_RETRY_MS = 20;
const HWM = 100000;
const STOP_GRACE_MS = 250; // close(): wait this long for the gateway's BYE
const VOLATILE_QUEUE_LIMIT = 1000;
const BURST = 256; // messages handled in a row before the receive loop yields
const PROCESSED_EVERY = 1000; // report PROCESSED at least this often within a burst // volatile messages are dropped past this backlog
const CONN_EVENTS = ['upgrade', 'packet', 'packetCreate', 'drain', 'close'];
const LEVELS = ['error', 'warn', 'info', 'debug'];

const emitLocal = EventEmitter.prototype.emit;

function newIncarnation() {
  return crypto.randomBytes(16).toString('hex');
}

// Spawned by a gateway: IOGATE_GATEWAY_PID is set and is our parent, or
// names a gateway that is gone already (we were adopted meanwhile).  A
// process in between (a shell that did not exec) does not die with the
// gateway, so neither do we then.
function spawnedByGateway() {
  const gw = Number(process.env.IOGATE_GATEWAY_PID);
  if (!(gw > 1)) return false;
  if (process.ppid === gw) return true;
  try {
    process.kill(gw, 0);
    return false;
  } catch (e) {
    return e.code === 'ESRCH';
  }
}

class Worker extends EventEmitter {
  // options: endpoint (default env IOGATE_ENDPOINT), namespace (env
  // IOGATE_NAMESPACE, else "/"), connEvents (conn notices wanted besides
  // "upgrade"), logLevel ("error"|"warn"|"info"|"debug", env
  // IOGATE_WORKER_LOG, default "info"), autoStart (true: connect on the next
  // tick, after the caller registered its handlers), handleSignals (true:
  // SIGTERM/SIGINT close the worker gracefully and exit 0, unless the
  // process already listens to them), exitWithParent (default true when a
  // gateway spawned us, i.e. IOGATE_GATEWAY_PID is our parent's pid: exit
  // when that parent goes away, like PR_SET_PDEATHSIG; a worker started any
  // other way keeps retrying HELLO).
  constructor(opts = {}) {
    super();
    const endpoint = opts.endpoint || process.env.IOGATE_ENDPOINT;
    const nsp = opts.namespace || process.env.IOGATE_NAMESPACE || '/';
    if (!endpoint) throw new Error('no gateway endpoint (set IOGATE_ENDPOINT or pass { endpoint })');
    if (nsp[0] !== '/') throw new Error(`namespace "${nsp}" does not start with /`);
    this.endpoint = endpoint;
    this.name = nsp;
    const lv = opts.logLevel || process.env.IOGATE_WORKER_LOG;
    this._logLevel = LEVELS.includes(lv) ? LEVELS.indexOf(lv) : 2;
    this._connEvents = new Set(['upgrade', ...(opts.connEvents || [])].filter((e) => CONN_EVENTS.includes(e)));
    this._handleSignals = opts.handleSignals !== false;
    this._exitWithParent = opts.exitWithParent ?? spawnedByGateway();
    this._mw = [];
    this._all = new Map(); // id → Socket, every state
    this.sockets = new Map(); // id → Socket, connected ones (socket.io's namespace.sockets)
    this._incarnation = newIncarnation();
    this._heartbeatMs = DEFAULT_HEARTBEAT_MS;
    this._welcomed = false;
    this._gatewayId = null;
    this._started = false;
    this._closed = false;
    this._sock = null;
    this._queue = [];
    this._sending = false;
    this._helloInFlight = false;
    this._helloAt = 0;
    this._lastRx = 0;
    this._lastPing = 0;
    this._seqDone = 0;
    this._seqReported = 0;
    this._processedScheduled = false;
    this._sinceReport = 0;
    this._burst = 0;
    this._timer = null;
    this._byeWaiters = [];
    this._parentPid = 0;
    if (opts.autoStart !== false) setImmediate(() => this.start());
  }

  // ---- logging ----

  _log(level, msg) {
    if (level > this._logLevel) return;
    process.stderr.write(`iogate-worker[${process.pid}] ${LEVELS[level]}: ${msg}\n`);
  }

  // ---- namespace API ----

  // Namespace middleware: fn(socket, next) for every new socket, in order;
  // next(err) refuses it (the client's connect_error gets err.message and
  // err.data).  An async fn that rejects refuses too.
  use(fn) {
    this._mw.push(fn);
    return this;
  }

  // Kept for socket.io compatibility: a worker serves exactly one namespace.
  of(name) {
    if (name === this.name) return this;
    throw new Error(`this worker serves namespace ${this.name}, not ${name}`);
  }

  get connected() {
    return this._welcomed;
  }

  to(room) {
    return new BroadcastOperator(this).to(room);
  }

  in(room) {
    return this.to(room);
  }

  except(room) {
    return new BroadcastOperator(this).except(room);
  }

  get volatile() {
    return new BroadcastOperator(this).volatile;
  }

  get local() {
    return new BroadcastOperator(this);
  }

  compress() {
    return new BroadcastOperator(this);
  }

  timeout(ms) {
    return new BroadcastOperator(this).timeout(ms);
  }

  // io.emit: to every socket of the namespace.  (Listeners of the worker's
  // own events — connection, ready, … — are called with the EventEmitter
  // machinery internally, as socket.io's Namespace does.)
  emit(ev, ...args) {
    return new BroadcastOperator(this).emit(ev, ...args);
  }

  send(...args) {
    this.emit('message', ...args);
    return this;
  }

  write(...args) {
    return this.send(...args);
  }

  fetchSockets() {
    return new BroadcastOperator(this).fetchSockets();
  }

  socketsJoin(room) {
    new BroadcastOperator(this).socketsJoin(room);
  }

  socketsLeave(room) {
    new BroadcastOperator(this).socketsLeave(room);
  }

  disconnectSockets(close = false) {
    new BroadcastOperator(this).disconnectSockets(close);
  }

  serverSideEmit() {
    throw new Error('serverSideEmit is not supported by iogate workers');
  }

  _emitReserved(ev, ...args) {
    try {
      emitLocal.call(this, ev, ...args);
    } catch (e) {
      this._log(0, `"${ev}" handler threw: ${(e && e.stack) || e}`);
    }
  }

  // ---- life of the worker ----

  // Connect and say HELLO.  Idempotent; called on the next tick unless
  // autoStart is false.
  start() {
    if (this._started || this._closed) return this;
    this._started = true;
    const sock = new zmq.Dealer({
      immediate: true, // a HELLO waits for the connection instead of queueing on a dead pipe
      linger: 0,
      sendHighWaterMark: HWM,
      receiveHighWaterMark: HWM,
      sendTimeout: this._heartbeatMs,
    });
    this._sock = sock;
    sock.connect(this.endpoint);
    this._log(2, `worker for ${this.name} connecting to ${this.endpoint} (incarnation ${this._incarnation})`);
    this._recvLoop(sock);
    this._helloAt = Date.now();
    this._restartTimer();
    this._sendHello();
    if (this._handleSignals) {
      for (const sig of ['SIGTERM', 'SIGINT']) {
        if (process.listenerCount(sig) === 0) {
          process.once(sig, () => {
            this.close().then(() => process.exit(0));
          });
        }
      }
    }
    if (this._exitWithParent) {
      // The gateway may have died before we got here: then our parent is
      // already someone else (the first tick notices and exits).
      const gw = Number(process.env.IOGATE_GATEWAY_PID);
      this._parentPid = gw > 1 ? gw : process.ppid;
    }
    return this;
  }

  // Graceful stop: handle what is already on the way for up to 250 ms or
  // until the gateway's BYE (a gateway shutting down sends every socket a
  // DISCONNECT "server shutting down", then BYE, then SIGTERM), then send
  // BYE and close.  Sockets still there are dropped without events.
  // { grace: ms } changes the wait (0: none).
  async close({ grace = STOP_GRACE_MS } = {}) {
    if (this._closed) return;
    if (this._started && this._welcomed && grace > 0) {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, grace);
        this._byeWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this._closed = true;
    clearInterval(this._timer);
    this._timer = null;
    for (const s of this._all.values()) {
      s._state = 'closed';
    }
    this._all.clear();
    this.sockets.clear();
    const sock = this._sock;
    if (!sock) return;
    if (this._welcomed) {
      this._queue = [];
      try {
        sock.linger = 200; // let the BYE out
        sock.sendTimeout = 200;
        await this._waitIdle(300);
        await sock.send(codec.encode('BYE', this.name, '', { reason: 'worker shutting down' }, null));
      } catch {
        /* the gateway is gone already */
      }
    }
    this._welcomed = false;
    this._sock = null;
    sock.close();
  }

  async _waitIdle(ms) {
    const end = Date.now() + ms;
    while (this._sending && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  }

  _restartTimer() {
    clearInterval(this._timer);
    const tick = Math.max(10, Math.min(1000, Math.floor(this._heartbeatMs / 4)));
    this._timer = setInterval(() => this._tick(), tick);
  }

  _tick() {
    if (this._closed) return;
    const now = Date.now();
    if (this._parentPid && process.ppid !== this._parentPid) {
      this._log(1, `parent process ${this._parentPid} is gone: exiting`);
      this._parentPid = 0;
      this.close().then(() => process.exit(0));
      return;
    }
    if (!this._welcomed) {
      if (!this._helloInFlight && now >= this._helloAt) this._sendHello();
    } else if (now - this._lastRx >= 3 * this._heartbeatMs) {
      this._gatewayLost('heartbeat timeout', true);
    } else if (now - this._lastPing >= this._heartbeatMs) {
      this._lastPing = now;
      this._send('PING', '', null, null, { volatile: true });
    }
  }

  _sendHello() {
    if (this._closed || !this._sock) return;
    const meta = {
      version: PROTOCOL_VERSION,
      incarnation: this._incarnation,
      pid: process.pid,
      conn_events: CONN_EVENTS.filter((e) => this._connEvents.has(e)),
    };
    // rule 10a: the key that lets us serve the namespace
    if (process.env.IOGATE_WORKER_KEY) meta.key = process.env.IOGATE_WORKER_KEY;
    this._helloInFlight = true;
    const sock = this._sock;
    // HELLO goes straight to the socket: nothing else may be queued before
    // WELCOME (and whatever is queued is stale).
    this._enqueue(codec.encode('HELLO', this.name, '', meta, null), {
      onSent: () => {
        this._helloInFlight = false;
        const now = Date.now();
        this._log(3, `HELLO ${this.name} sent to ${this.endpoint}`);
        this._lastRx = now; // the silence clock starts now
        this._lastPing = now;
        this._helloAt = now + this._heartbeatMs; // no WELCOME within a heartbeat: again
      },
      onFail: () => {
        if (sock !== this._sock) return;
        this._helloInFlight = false;
        this._helloAt = Date.now() + HELLO_RETRY_MS;
      },
    });
  }

  // The gateway is gone (silence, BYE, a new gateway incarnation, an ERROR
  // "hello", a failed send): every socket it had is disconnected with
  // "transport close", pending acks fail, and HELLO again with a new
  // incarnation (PROTOCOL.md rules 10, 14, 34).
  _gatewayLost(why, rehello) {
    this._log(1, `gateway lost (${why}): ${this._all.size} socket(s) of ${this.name} disconnected`);
    const wasWelcomed = this._welcomed;
    this._welcomed = false;
    this._queue = this._queue.filter((q) => q.hello); // stale messages for the old gateway
    for (const s of [...this._all.values()]) s._onclose('transport close');
    if (wasWelcomed) this._emitReserved('gatewayLost', why);
    if (rehello) {
      this._incarnation = newIncarnation();
      this._helloAt = Date.now() + HELLO_RETRY_MS;
    }
    this._wakeByeWaiters();
  }

  _wakeByeWaiters() {
    const w = this._byeWaiters;
    this._byeWaiters = [];
    for (const f of w) f();
  }

  // ---- sending ----

  // Queue one message.  meta: object or null; data: array or null (binary
  // values become attachments).  Returns false (nothing sent) before the
  // gateway's WELCOME, and for a volatile message when the link is backed
  // up (PROTOCOL.md rule 32: volatile never blocks).
  _send(type, sid, meta, data, { volatile = false } = {}) {
    if (this._closed || !this._sock) return false;
    if (!this._welcomed && type !== 'PING' && type !== 'PONG') {
      this._log(3, `${type} not sent: not connected to the gateway`);
      return false;
    }
    if (volatile && this._queue.length >= VOLATILE_QUEUE_LIMIT) {
      this._log(3, `volatile ${type} to ${this.name} dropped`);
      return false;
    }
    const nsp = type === 'PING' || type === 'PONG' || type === 'PROCESSED' ? '' : this.name;
    this._enqueue(codec.encode(type, nsp, sid, meta, data), {});
    return true;
  }

  _enqueue(frames, { onSent, onFail }) {
    this._queue.push({ frames, onSent, onFail, hello: !!onSent });
    if (!this._sending) this._pump();
  }

  async _pump() {
    this._sending = true;
    const sock = this._sock;
    while (this._queue.length && sock === this._sock && !sock.closed) {
      const item = this._queue.shift();
      try {
        await sock.send(item.frames);
        if (item.onSent) item.onSent();
      } catch (e) {
        if (sock !== this._sock || sock.closed) break;
        if (item.onFail) {
          this._log(3, `HELLO not sent yet (${e.code || e.message})`);
          item.onFail(e);
          continue;
        }
        this._log(1, `send to ${this.endpoint} failed: ${e.code || e.message}`);
        // Blocked a whole heartbeat or worse: the message is lost, so the
        // gateway's view and ours differ.  Start over.
        if (this._welcomed) this._gatewayLost('send to the gateway failed', true);
      }
    }
    this._sending = false;
  }

  // ---- receiving ----

  async _recvLoop(sock) {
    while (sock === this._sock && !sock.closed) {
      let frames;
      try {
        frames = await sock.receive();
      } catch (e) {
        if (sock !== this._sock || sock.closed) return;
        this._log(0, `receive: ${e.message}`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      this._lastRx = Date.now(); // any message is a sign of life
      try {
        this._onMessage(frames);
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
  // messages were handled, how far we got (PROTOCOL.md rule 36).
  // The gateway gives each worker a credit of packets not yet reported
  // (rule 31): within a long burst, report every PROCESSED_EVERY too.
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
    if (this._welcomed && this._seqDone !== this._seqReported) {
      if (this._send('PROCESSED', '', { seq: this._seqDone }, null)) this._seqReported = this._seqDone;
    }
  }

  _noteSeq(type, meta) {
    if ((type === 'EVENT' || type === 'ACK') && meta && Number.isInteger(meta.seq)) {
      this._seqDone = meta.seq;
      this._scheduleProcessed();
    }
  }

  _onMessage(frames) {
    let m;
    try {
      m = codec.decode(frames);
    } catch (e) {
      this._log(1, `bad message from the gateway (${e.code}: ${e.message}), dropped`);
      if (e.code === 'data' && frames.length >= 6) {
        // Dropped is handled: do not have it replayed after a crash.
        try {
          this._noteSeq(frames[1].toString(), JSON.parse(frames[4].toString() || '{}'));
        } catch {
          /* meta unreadable */
        }
      }
      return;
    }
    this._noteSeq(m.type, m.meta);
    switch (m.type) {
      case 'WELCOME':
        return this._onWelcome(m.meta);
      case 'PING':
        this._send('PONG', '', null, null, { volatile: true });
        return;
      case 'PONG':
        return;
      case 'BYE':
        this._log(2, `gateway says BYE (${m.meta.reason || 'no reason'})`);
        this._gatewayLost('BYE', true);
        return;
      case 'ERROR':
        this._log(1, `gateway ERROR ${m.meta.code || '?'}: ${m.meta.message || ''} (about ${m.meta.type || '?'})`);
        if (m.meta.code === 'hello') this._gatewayLost('gateway does not know us', true);
        return;
      case 'REPLY':
        return; // no QUERY is sent by this library: rooms are resolved locally
      default:
        break;
    }
    if (m.nsp && m.nsp !== this.name) {
      this._log(1, `${m.type} for namespace ${m.nsp} ignored (serving ${this.name})`);
      return;
    }
    let s = this._all.get(m.sid);
    if (m.type === 'CONNECT') {
      if (m.sid.length !== 20) {
        this._log(1, 'CONNECT without a socket id ignored');
        return;
      }
      if (s) {
        this._log(1, `CONNECT for known socket ${m.sid} ignored`);
        return;
      }
      s = new Socket(this, m.sid, m.meta);
      this._all.set(m.sid, s);
      this._runMiddleware(s, 0);
      return;
    }
    if (!s) {
      this._log(3, `${m.type} for unknown socket ${m.sid} ignored`);
      return;
    }
    switch (m.type) {
      case 'EVENT':
        s._onevent(m.data || [], m.meta);
        return;
      case 'ACK':
        s._onack(m.data || [], m.meta);
        return;
      case 'DISCONNECT':
        s._onclose(typeof m.meta.reason === 'string' ? m.meta.reason : 'transport close');
        return;
      case 'CONN':
        s._onconn(m.meta);
        return;
      default:
        this._log(1, `unexpected ${m.type} ignored`);
    }
  }

  _onWelcome(meta) {
    const hb = meta.heartbeat_ms;
    if (Number.isInteger(hb) && hb > 0 && hb < 3600000 && hb !== this._heartbeatMs) {
      this._heartbeatMs = hb;
      if (this._sock) this._sock.sendTimeout = hb;
      this._restartTimer();
    }
    const gw = typeof meta.gateway === 'string' ? meta.gateway : null;
    if (this._gatewayId && gw && gw !== this._gatewayId && this._all.size) {
      this._gatewayLost('new gateway incarnation', false); // the old gateway's sockets are gone
    }
    this._gatewayId = gw;
    if (!this._welcomed) {
      // A new worker connection at the gateway numbers EVENT/ACK from 1.
      this._seqDone = 0;
      this._seqReported = 0;
    }
    this._welcomed = true;
    this._helloInFlight = false;
    const now = Date.now();
    this._lastRx = now;
    this._lastPing = now;
    this._log(2, `gateway ${gw || '?'} welcomes ${this.name} (heartbeat ${this._heartbeatMs} ms)`);
    this._emitReserved('ready', { gateway: gw, heartbeatMs: this._heartbeatMs });
  }

  // ---- sockets ----

  _runMiddleware(s, i) {
    if (s._state !== 'pending') return;
    if (i >= this._mw.length) {
      this._accept(s);
      return;
    }
    let called = false;
    const next = (err) => {
      if (called) return;
      called = true;
      if (err) this._refuse(s, err);
      else this._runMiddleware(s, i + 1);
    };
    try {
      const r = this._mw[i](s, next);
      if (r && typeof r.then === 'function') r.then(undefined, (e) => next(e || new Error('middleware rejected')));
    } catch (e) {
      next(e);
    }
  }

  _refuse(s, err) {
    if (s._state !== 'pending') return;
    const meta = { message: err && err.message !== undefined ? String(err.message) : String(err) };
    if (err && err.data !== undefined) meta.data = err.data;
    this._send('REFUSE', s.id, meta, null);
    this._log(3, `socket ${s.id} refused: ${meta.message}`);
    s._state = 'closed';
    this._forget(s);
  }

  _accept(s) {
    s._state = 'connected';
    this.sockets.set(s.id, s);
    this._send('ACCEPT', s.id, null, null);
    // Rooms joined or left in middleware: the gateway learns the difference
    // between what it routes (the socket's own id, plus a recovered socket's
    // rooms) and what we hold now.
    const join = [...s.rooms].filter((r) => !s._gwRooms.has(r));
    const leave = [...s._gwRooms].filter((r) => !s.rooms.has(r));
    s._gwRooms = null;
    if (join.length) this._send('JOIN', s.id, { rooms: join }, null);
    if (leave.length) this._send('LEAVE', s.id, { rooms: leave }, null);
    this._emitReserved('connect', s);
    if (s._state === 'connected') this._emitReserved('connection', s);
  }

  _forget(s) {
    if (this._all.get(s.id) === s) this._all.delete(s.id);
    if (this.sockets.get(s.id) === s) this.sockets.delete(s.id);
  }
}

module.exports = { Worker, PROTOCOL_VERSION };
