// worker.js — the worker: one namespace behind the iogate gateway, shaped
// like socket.io's Server/Namespace, over one link per gateway (link.js):
// dispatch of gateway messages to sockets (one socket table and one room
// state for every gateway), namespace middleware, broadcasts and utilities.
// The wire contract is ipc/PROTOCOL.md.
'use strict';

const { EventEmitter } = require('node:events');
const codec = require('./codec');
const { GatewayLink, parseEndpoints, curveOptions, PROTOCOL_VERSION } = require('./link');
const { Socket } = require('./socket');
const { BroadcastOperator, checkReserved } = require('./broadcast');
const { BroadcastAcks } = require('./broadcast_ack');
const { Adapter } = require('./adapter');
const { settle, logLine } = require('./native');
const { handleAdmit } = require('./admission');

const STOP_GRACE_MS = 250; // close(): wait this long for the gateway's BYE
const SERVER_SIDE_EMIT_TIMEOUT_MS = 5000; // socket.io cluster adapter: requestsTimeout
const CONN_EVENTS = ['upgrade', 'packet', 'packetCreate', 'drain', 'close'];
const LEVELS = ['error', 'warn', 'info', 'debug'];
// What the client's connect_error says when a namespace middleware throws or
// rejects instead of calling next(err): the exception is the application's
// bug, logged with its stack here, and never sent to the client.
const MIDDLEWARE_FAILED = 'Internal server error';

const emitLocal = EventEmitter.prototype.emit;

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
    super({ captureRejections: true }); // an async "connection" handler that rejects is logged
    const endpoint = opts.endpoint || process.env.IOGATE_ENDPOINT;
    const nsp = opts.namespace || process.env.IOGATE_NAMESPACE || '/';
    if (!endpoint) throw new Error('no gateway endpoint (set IOGATE_ENDPOINT or pass { endpoint })');
    if (nsp[0] !== '/') throw new Error(`namespace "${nsp}" does not start with /`);
    this.endpoint = endpoint;
    this.name = nsp;
    const lv = opts.logLevel || process.env.IOGATE_WORKER_LOG;
    this._logLevel = LEVELS.includes(lv) ? LEVELS.indexOf(lv) : 2;
    this._connEvents = new Set(['upgrade', ...(opts.connEvents || [])].filter((e) => CONN_EVENTS.includes(e)));
    this._connWarned = new Set();
    this._handleSignals = opts.handleSignals !== false;
    this._exitWithParent = opts.exitWithParent ?? spawnedByGateway();
    this._mw = [];
    this._allowRequest = opts.allowRequest; // rule 37, lib/admission.js
    this._all = new Map(); // id → Socket, every state, of every gateway
    this._bcastAcks = new BroadcastAcks(this); // broadcasts waiting for acks (rule 25a)
    this.adapter = new Adapter(this); // rooms of our sockets, and their events
    this.sockets = new Map(); // id → Socket, connected ones (socket.io's namespace.sockets)
    const curve = curveOptions(opts.curveServerKey ?? process.env.IOGATE_CURVE_SERVERKEY);
    this._links = parseEndpoints(endpoint).map((ep) => new GatewayLink(this, ep, curve));
    this._started = false;
    this._closed = false;
    this._timer = null;
    this._byeWaiters = [];
    this._parentPid = 0;
    if (opts.autoStart !== false) setImmediate(() => this.start());
  }

  // ---- logging ----

  _log(level, msg) {
    if (level > this._logLevel) return;
    process.stderr.write(logLine(level, this.name, msg));
  }

  [EventEmitter.captureRejectionSymbol](err, ev) {
    this._log(0, `"${ev}" handler rejected: ${(err && err.stack) || err}`);
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

  // True while at least one gateway has welcomed us.
  get connected() {
    return this._links.some((l) => l.welcomed);
  }

  // The endpoints of the gateways served, in the order given.
  get endpoints() {
    return this._links.map((l) => l.endpoint);
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
    return new BroadcastOperator(this).local;
  }

  compress(c) {
    return new BroadcastOperator(this).compress(c);
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

  // To the other worker processes of this namespace (PROTOCOL.md rule 25b):
  // with a callback last, (err, responses) after every one answered or
  // after SERVER_SIDE_EMIT_TIMEOUT_MS (socket.io's cluster adapter's
  // requestsTimeout).  A worker alone in its namespace gets (null, []).
  serverSideEmit(ev, ...args) {
    checkReserved(ev);
    if (args.length && typeof args[args.length - 1] === 'function') {
      const cb = args.pop();
      this._bcastAcks.emit({}, [ev, ...args], SERVER_SIDE_EMIT_TIMEOUT_MS, cb, 'SERVER_EMIT');
      return true;
    }
    return this._send('SERVER_EMIT', '', {}, [ev, ...args]);
  }

  serverSideEmitWithAck(ev, ...args) {
    return new Promise((resolve, reject) => {
      this.serverSideEmit(ev, ...args, (err, responses) => (err ? reject(err) : resolve(responses)));
    });
  }

  _emitReserved(ev, ...args) {
    try {
      emitLocal.call(this, ev, ...args);
    } catch (e) {
      this._log(0, `"${ev}" handler threw: ${(e && e.stack) || e}`);
    }
  }

  // ---- life of the worker ----

  // Connect (one DEALER per gateway) and say HELLO.  Idempotent; called on
  // the next tick unless autoStart is false.
  start() {
    if (this._started || this._closed) return this;
    this._started = true;
    for (const link of this._links) link.start();
    this._restartTimer();
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
  // until every welcoming gateway's BYE (a gateway shutting down sends every
  // socket a DISCONNECT "server shutting down", then BYE, then SIGTERM),
  // then send BYE and close.  Sockets still there are dropped without
  // events.  { grace: ms } changes the wait (0: none).
  async close({ grace = STOP_GRACE_MS } = {}) {
    if (this._closed) return;
    if (this._started && this.connected && grace > 0) {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, grace);
        this._byeWaiters.push(() => {
          if (this.connected) return false; // another gateway still up
          clearTimeout(t);
          resolve();
          return true;
        });
      });
    }
    this._closed = true;
    clearInterval(this._timer);
    this._timer = null;
    this._bcastAcks.close(); // callbacks waiting for acks get an error, not silence
    this.adapter._reset();
    for (const s of this._all.values()) {
      s._state = 'closed';
    }
    this._all.clear();
    this.sockets.clear();
    await Promise.all(this._links.map((l) => l.close()));
  }

  _restartTimer() {
    clearInterval(this._timer);
    const hb = Math.min(...this._links.map((l) => l.heartbeatMs));
    const tick = Math.max(10, Math.min(1000, Math.floor(hb / 4)));
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
    for (const link of this._links) link.tick(now);
  }

  // Gateway `link` is gone: every socket it had — and only those, the
  // other gateways' sockets carry on — gets `disconnecting` / `disconnect`
  // with "transport close", and its pending acks fail (PROTOCOL.md rules 2,
  // 14, 34).
  _linkLost(link, why, wasWelcomed) {
    const mine = [...this._all.values()].filter((s) => s._link === link);
    this._log(1, `gateway ${link.endpoint} lost (${why}): ${mine.length} socket(s) of ${this.name} disconnected`);
    for (const s of mine) s._onclose('transport close');
    if (wasWelcomed) this._emitReserved('gatewayLost', why, link.endpoint);
    this._wakeByeWaiters();
  }

  _wakeByeWaiters() {
    this._byeWaiters = this._byeWaiters.filter((f) => !f());
  }

  // ---- sending ----

  // Queue one message for the gateway it concerns: a message about a
  // socket goes to that socket's gateway; a BROADCAST to every gateway (each
  // applies rooms/except to its own sockets, PROTOCOL.md rule 2).  meta:
  // object or null; data: array or null (binary values become attachments).
  // Returns false when nothing was sent (no such socket, no gateway
  // welcomed us, or a volatile message dropped).
  _send(type, sid, meta, data, opts = {}) {
    if (this._closed) return false;
    if (sid) {
      const s = this._all.get(sid);
      if (!s || !s._link) {
        this._log(3, `${type} for ${sid} not sent: unknown socket`);
        return false;
      }
      return s._link.send(type, sid, meta, data, opts);
    }
    let ok = false;
    for (const link of this._links) if (link.welcomed && link.send(type, sid, meta, data, opts)) ok = true;
    if (!ok) this._log(3, `${type} not sent: not connected to a gateway`);
    return ok;
  }

  // ---- receiving ----

  _onMessage(link, frames) {
    let m;
    try {
      m = codec.decode(frames);
    } catch (e) {
      this._log(1, `bad message from the gateway ${link.endpoint} (${e.code}: ${e.message}), dropped`);
      if (e.code === 'data' && frames.length >= 6) {
        // Dropped is handled: do not have it replayed after a crash.
        try {
          link.noteSeq(frames[1].toString(), JSON.parse(frames[4].toString() || '{}'));
        } catch {
          /* meta unreadable */
        }
      }
      return;
    }
    link.noteSeq(m.type, m.meta);
    switch (m.type) {
      case 'WELCOME':
        if (link.onWelcome(m.meta) && [...this._all.values()].some((s) => s._link === link)) {
          this._linkLost(link, 'new gateway incarnation', false); // the old gateway's sockets are gone
        }
        this._log(2, `gateway ${link.gatewayId || '?'} at ${link.endpoint} welcomes ${this.name} (heartbeat ${link.heartbeatMs} ms)`);
        this._emitReserved('ready', { gateway: link.gatewayId, heartbeatMs: link.heartbeatMs, endpoint: link.endpoint });
        return;
      case 'PING':
        link.send('PONG', '', null, null, { volatile: true });
        return;
      case 'PONG':
        return;
      case 'BYE': {
        // Rule 15: drop this gateway's sockets, but no HELLO of our own
        // (after "replaced by a new worker" it would take the namespace
        // back); once every gateway has said BYE the worker closes — like
        // the C and Python run loops returning — and raises `close`.
        const why = m.meta.reason || 'no reason';
        this._log(2, `gateway ${link.endpoint} says BYE (${why})`);
        link.lost('BYE', false);
        link.dismissed = true;
        if (this._links.every((l) => l.dismissed)) {
          this._log(2, `every gateway has said BYE: worker for ${this.name} closing`);
          this.close({ grace: 0 }).then(() => this._emitReserved('close', why));
        }
        return;
      }
      case 'ERROR':
        this._log(1, `gateway ${link.endpoint} ERROR ${m.meta.code || '?'}: ${m.meta.message || ''} (about ${m.meta.type || '?'})`);
        if (m.meta.code === 'hello') link.lost('gateway does not know us', true);
        return;
      case 'REPLY':
        return; // no QUERY is sent by this library: rooms are resolved locally
      case 'BROADCAST_ACK':
      case 'SERVER_EMIT_ACK':
        this._bcastAcks.onMessage(link, m);
        return;
      case 'ADMIT':
        handleAdmit(this, link, m.meta, this._allowRequest);
        return;
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
      const restored = m.meta.restored === true;
      let old = null;
      if (s && s._link === link && restored) {
        // Its client recovered it (PROTOCOL.md rule 16a): a new socket takes
        // the old one's place silently, with its data.
        old = s;
        s = null;
        old._replaced();
      }
      if (s && s._link === link) {
        this._log(1, `CONNECT for known socket ${m.sid} ignored`);
        return;
      }
      if (s) {
        // Ids are 20 random characters: two gateways choosing the same one
        // is a bug or an attack, not chance.  Refuse the newcomer rather
        // than mix up two clients (as the C library does).
        this._log(1, `CONNECT ${m.sid} from ${link.endpoint}: id already used by a socket of ${s._link.endpoint}, refused`);
        link.send('REFUSE', m.sid, { message: 'duplicate socket id' }, null);
        return;
      }
      s = new Socket(this, m.sid, m.meta);
      s._link = link;
      if (old) s.data = old.data;
      this._all.set(m.sid, s);
      this._runMiddleware(s, restored && m.meta.skip_middlewares === true ? Infinity : 0);
      return;
    }
    if (s && s._link !== link) s = null; // another gateway's socket: not this one's to touch
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
    // Only what the application passes to next(err) reaches the client, as
    // in socket.io; an exception (thrown, or an async middleware's
    // rejection) is logged with its stack and the client gets a fixed
    // message.  (socket.io leaves that socket pending with an unhandled
    // rejection; a worker answers every CONNECT, PROTOCOL.md rule 16.)
    const fail = (e) => {
      if (called || s._state !== 'pending') return;
      this._log(0, `namespace middleware ${i} failed for socket ${s.id}: ${(e && e.stack) || e}`);
      next(new Error(MIDDLEWARE_FAILED));
    };
    try {
      settle(this._mw[i](s, next), fail);
    } catch (e) {
      fail(e);
    }
  }

  _refuse(s, err) {
    if (s._state !== 'pending') return;
    // socket.io sends { message: err.message, data: err.data } and nothing
    // else of err: next("text") or next(true) reach the client as an empty
    // message (the client's Error("")), so here too.
    const obj = err !== null && typeof err === 'object';
    const meta = { message: obj && err.message !== undefined ? String(err.message) : '' };
    if (obj && err.data !== undefined) meta.data = err.data;
    if (!obj) this._log(3, `socket ${s.id}: next(${typeof err}) refuses with an empty message, as socket.io`);
    this._send('REFUSE', s.id, meta, null);
    this._log(3, `socket ${s.id} refused: ${meta.message}`);
    s._state = 'closed';
    this._forget(s);
    this.adapter._delAll(s.id);
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
