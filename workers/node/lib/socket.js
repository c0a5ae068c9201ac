// socket.js — one client's socket in the namespace, shaped like socket.io's
// server-side Socket: events in (with packet middleware and acks), events
// out (with acks, timeouts, volatile), rooms, data, and the disconnect
// sequence.
//
// Life of a socket:
//   pending    CONNECT arrived; namespace middleware running (may join rooms,
//              set data; cannot emit)
//   connected  every middleware called next(): ACCEPT sent, JOIN for rooms
//              joined meanwhile, `connection` raised
//   closed     refused (REFUSE, no events), or DISCONNECT from the gateway /
//              socket.disconnect() / gateway lost: `disconnecting` (rooms
//              still there), rooms cleared, `disconnect` (reason), pending
//              acks failed
'use strict';

const { EventEmitter } = require('node:events');
const { BroadcastOperator, RESERVED_EVENTS, checkReserved, roomList } = require('./broadcast');
const { settle, buildHandshake, buildRequest } = require('./native');

const emitLocal = EventEmitter.prototype.emit;
const CONN_NOTICES = ['upgrade', 'packet', 'packetCreate', 'drain', 'close'];

// socket.conn: the underlying connection (engine.io's Socket) as far as a
// worker can see it.  Its events come from the gateway's CONN notices
// (PROTOCOL.md rule 20), only of the kinds asked for in HELLO: listening to
// one that was not asked for (Worker option connEvents) is logged once, not
// silently never called.
class Conn extends EventEmitter {
  constructor(socket, transport) {
    super({ captureRejections: true });
    this._socket = socket;
    this.transport = { name: transport };
    this.protocol = 4;
    this.upgrading = false;
    this.on('newListener', (ev) => {
      if (CONN_NOTICES.includes(ev) && !socket.nsp._connEvents.has(ev) && !socket.nsp._connWarned.has(ev)) {
        socket.nsp._connWarned.add(ev);
        socket.nsp._log(1, `socket.conn.on("${ev}"): never raised, the worker did not ask for it (new Worker({ connEvents: ["${ev}"] }))`);
      }
    });
  }

  get request() {
    return this._socket.request;
  }

  get remoteAddress() {
    return this._socket.handshake.address;
  }

  get readyState() {
    return this._socket.connected ? 'open' : 'closed';
  }

  get upgraded() {
    return this.transport.name === 'websocket' || this.transport.name === 'webtransport';
  }

  [EventEmitter.captureRejectionSymbol](err, ev) {
    this._socket.nsp._log(0, `socket ${this._socket.id}: conn "${ev}" handler rejected: ${(err && err.stack) || err}`);
  }
}

class Socket extends EventEmitter {
  constructor(worker, id, meta) {
    // captureRejections: an async listener that rejects is logged (below),
    // as a throwing one is, instead of an unhandled rejection killing us.
    super({ captureRejections: true });
    this.nsp = worker;
    this.id = id;
    this.handshake = buildHandshake(meta.handshake);
    this.request = buildRequest(this.handshake);
    // As the reference's socket.recovered: the client kept its state, after a
    // worker restart (rule 16) or its own reconnection (restored, rule 16a).
    this.restored = meta.restored === true;
    this.recovered = meta.recovered === true || this.restored;
    this.data = {};
    this.rooms = new Set([id]);
    // A recovered socket comes back with the rooms of the gateway's routing
    // copy (PROTOCOL.md rule 16): restore them before any handler runs.
    if (this.recovered && Array.isArray(meta.rooms)) {
      for (const r of meta.rooms) if (typeof r === 'string') this.rooms.add(r);
    }
    this._gwRooms = new Set(this.rooms); // what the gateway routes before ACCEPT
    worker.adapter._add(id, [...this.rooms]);
    this.conn = new Conn(this, typeof meta.transport === 'string' ? meta.transport : 'polling');
    this.flags = {};
    this._state = 'pending';
    this._fns = []; // packet middleware
    this._any = [];
    this._anyOut = [];
    this._acks = new Map(); // ack id → { cb, timer, withErr, onClose }
    this._nextAck = 0;
  }

  get connected() {
    return this._state === 'connected';
  }

  get disconnected() {
    return this._state !== 'connected';
  }

  get client() {
    return { conn: this.conn, request: this.request };
  }

  [EventEmitter.captureRejectionSymbol](err, ev) {
    this.nsp._log(0, `socket ${this.id}: handler of "${ev}" rejected: ${(err && err.stack) || err}`);
  }

  // ---- events out ----

  // Emit to this client.  A function as last argument asks for an
  // acknowledgement: cb(...args), or cb(err, ...args) after timeout(ms).
  // Throws for reserved names; returns false when nothing was sent (the
  // socket is not connected, no gateway, or a volatile message dropped).
  emit(ev, ...args) {
    checkReserved(ev);
    const flags = this.flags;
    this.flags = {};
    let cb = null;
    if (args.length && typeof args[args.length - 1] === 'function') cb = args.pop();
    return this._emit(ev, args, cb, flags, null);
  }

  _emit(ev, args, cb, flags, onClose) {
    if (this._state !== 'connected') {
      this.nsp._log(3, `emit ${ev} to ${this.id}: socket is not connected`);
      if (cb && onClose) onClose(new Error('socket is not connected'));
      else if (cb && flags.timeout !== undefined) process.nextTick(() => this._callAck(cb, new Error('socket is not connected')));
      return false;
    }
    this._notifyOutgoing(ev, args);
    const meta = {};
    let id = -1;
    if (cb) {
      id = this._nextAck++;
      meta.ack = id;
    } else if (flags.volatile) {
      meta.volatile = true;
    }
    const ok = this.nsp._send('EMIT', this.id, meta, [ev, ...args], { volatile: !cb && !!flags.volatile });
    if (cb) {
      if (!ok) {
        const err = new Error('not connected to the gateway');
        if (onClose) onClose(err);
        else if (flags.timeout !== undefined) process.nextTick(() => this._callAck(cb, err));
        return false;
      }
      const entry = { cb, timer: null, withErr: flags.timeout !== undefined, onClose };
      if (entry.withErr) {
        entry.timer = setTimeout(() => {
          this._acks.delete(id);
          this._callAck(cb, new Error('operation has timed out'));
        }, flags.timeout);
      }
      this._acks.set(id, entry);
    }
    return ok;
  }

  // Promise of the client's acknowledgement (its first argument).  With
  // timeout(ms) it rejects when the time is up; it also rejects when the
  // socket disconnects first.
  emitWithAck(ev, ...args) {
    checkReserved(ev);
    const flags = this.flags;
    this.flags = {};
    return new Promise((resolve, reject) => {
      const withErr = flags.timeout !== undefined;
      const cb = withErr ? (err, res) => (err ? reject(err) : resolve(res)) : (res) => resolve(res);
      this._emit(ev, args, cb, flags, reject);
    });
  }

  send(...args) {
    this.emit('message', ...args);
    return this;
  }

  write(...args) {
    return this.send(...args);
  }

  timeout(ms) {
    this.flags.timeout = ms;
    return this;
  }

  get volatile() {
    this.flags.volatile = true;
    return this;
  }

  // The worker is the only server of its namespace (no adapter between
  // server nodes): every emit is already local.  Kept as a real flag on
  // broadcasts made from here.
  get local() {
    this.flags.local = true;
    return this;
  }

  // The gateway decides compression: refused loudly rather than ignored.
  compress() {
    throw new Error('compress() is not supported by iogate workers: the gateway decides compression (PROTOCOL.md has no such flag)');
  }

  _notifyOutgoing(ev, args) {
    for (const fn of this._anyOut.slice()) {
      try {
        settle(fn.call(this, ev, ...args), (e) => this._logThrow('onAnyOutgoing listener', e));
      } catch (e) {
        this._logThrow('onAnyOutgoing listener', e);
      }
    }
  }

  // An ack callback called by us (timeout, failure): a throw or a rejection
  // is logged, never fatal.
  _callAck(cb, ...args) {
    try {
      settle(cb(...args), (e) => this._logThrow('ack callback', e));
    } catch (e) {
      this._logThrow('ack callback', e);
    }
  }

  _logThrow(what, e) {
    this.nsp._log(0, `socket ${this.id}: ${what} threw: ${(e && e.stack) || e}`);
  }

  _newBroadcastOperator() {
    const flags = this.flags;
    this.flags = {};
    return new BroadcastOperator(this.nsp, new Set(), new Set([this.id]), flags);
  }

  // Everyone in the namespace but this socket.
  get broadcast() {
    return this._newBroadcastOperator();
  }

  to(room) {
    return this._newBroadcastOperator().to(room);
  }

  in(room) {
    return this.to(room);
  }

  except(room) {
    return this._newBroadcastOperator().except(room);
  }

  // ---- rooms ----

  // Join one room or an array of rooms.  For a socket still in middleware
  // the gateway learns them at ACCEPT; for a socket that has gone, ignored.
  join(rooms) {
    if (this._state === 'closed') return;
    const added = [];
    for (const r of roomList(rooms)) {
      const name = String(r);
      if (!this.rooms.has(name)) {
        this.rooms.add(name);
        added.push(name);
      }
    }
    if (added.length) this.nsp.adapter._add(this.id, added);
    if (added.length && this._state === 'connected') this.nsp._send('JOIN', this.id, { rooms: added }, null);
  }

  leave(room) {
    if (this._state === 'closed') return;
    const removed = [];
    for (const r of roomList(room)) {
      const name = String(r);
      if (this.rooms.delete(name)) {
        removed.push(name);
        this.nsp.adapter._del(this.id, name);
      }
    }
    if (removed.length && this._state === 'connected') this.nsp._send('LEAVE', this.id, { rooms: removed }, null);
  }

  // ---- events in ----

  // Per-packet middleware: fn([event, ...args], next); next(err) drops the
  // packet and raises the socket's `error` event.
  use(fn) {
    this._fns.push(fn);
    return this;
  }

  onAny(fn) {
    this._any.push(fn);
    return this;
  }

  prependAny(fn) {
    this._any.unshift(fn);
    return this;
  }

  offAny(fn) {
    if (!fn) this._any = [];
    else if (this._any.indexOf(fn) >= 0) this._any.splice(this._any.indexOf(fn), 1);
    return this;
  }

  // The array itself, as socket.io's (it may be changed in place).
  listenersAny() {
    return this._any;
  }

  onAnyOutgoing(fn) {
    this._anyOut.push(fn);
    return this;
  }

  prependAnyOutgoing(fn) {
    this._anyOut.unshift(fn);
    return this;
  }

  offAnyOutgoing(fn) {
    if (!fn) this._anyOut = [];
    else if (this._anyOut.indexOf(fn) >= 0) this._anyOut.splice(this._anyOut.indexOf(fn), 1);
    return this;
  }

  listenersAnyOutgoing() {
    return this._anyOut;
  }

  // EVENT from the gateway.  data: ["event", arg…] with binaries resolved.
  _onevent(data, meta) {
    if (this._state !== 'connected') {
      this.nsp._log(3, `EVENT for socket ${this.id} not connected, dropped`);
      return;
    }
    if (!Array.isArray(data) || typeof data[0] !== 'string') {
      this.nsp._log(1, `EVENT for ${this.id} without an event name, dropped`);
      return;
    }
    if (RESERVED_EVENTS.has(data[0])) {
      this.nsp._log(1, `EVENT ${data[0]} for ${this.id}: reserved name, dropped`);
      return;
    }
    const packet = data.slice();
    if (Number.isInteger(meta.ack) && meta.ack >= 0) packet.push(this._ackFn(meta.ack));
    // As socket.io's Socket.onevent: the onAny listeners see every packet,
    // before the packet middleware (which may still refuse it).
    for (const fn of this._any.slice()) {
      if (this._state !== 'connected') return;
      try {
        settle(fn.apply(this, packet), (e) => this._logThrow(`onAny listener (event "${data[0]}")`, e));
      } catch (e) {
        this._logThrow(`onAny listener (event "${data[0]}")`, e);
      }
    }
    this._runMiddleware(packet, 0);
  }

  _ackFn(id) {
    let sent = false;
    return (...args) => {
      if (sent) return;
      sent = true;
      if (this._state !== 'connected') return;
      this.nsp._send('ACK', this.id, { id }, args);
    };
  }

  _runMiddleware(packet, i) {
    if (this._state !== 'connected') return;
    if (i >= this._fns.length) {
      this._dispatch(packet);
      return;
    }
    let called = false;
    const next = (err) => {
      if (called) return;
      called = true;
      if (err) {
        if (this._state === 'connected') this._onerror(err);
      } else {
        this._runMiddleware(packet, i + 1);
      }
    };
    // A middleware that throws or rejects is a bug in the application:
    // logged with its stack, and the packet refused as with next(err) (the
    // socket's `error` event; nothing reaches the client).  socket.io would
    // let the exception escape instead (a thrown one closes the client's
    // whole connection, a rejected one is an unhandled rejection).
    const fail = (e) => {
      this._logThrow(`packet middleware (event "${packet[0]}")`, e);
      next(e instanceof Error ? e : new Error(String(e)));
    };
    try {
      settle(this._fns[i].call(this, packet, next), fail);
    } catch (e) {
      fail(e);
    }
  }

  _dispatch(packet) {
    const [ev, ...args] = packet;
    if (typeof ev !== 'string') return; // a middleware broke the packet
    try {
      if (this._state === 'connected') emitLocal.call(this, ev, ...args);
    } catch (e) {
      this.nsp._log(0, `socket ${this.id}: handler of "${ev}" threw: ${(e && e.stack) || e}`);
    }
  }

  _onerror(err) {
    if (this.listenerCount('error')) {
      try {
        emitLocal.call(this, 'error', err);
      } catch (e) {
        this.nsp._log(0, `socket ${this.id}: error handler threw: ${(e && e.stack) || e}`);
      }
    } else {
      this.nsp._log(1, `socket ${this.id}: unhandled error: ${(err && err.message) || err}`);
    }
  }

  // ACK from the gateway: the client answered an emit with a callback.
  _onack(data, meta) {
    const entry = this._acks.get(meta.id);
    if (!entry) {
      this.nsp._log(3, `ACK ${meta.id} for ${this.id}: no such pending ack (late?)`);
      return;
    }
    this._acks.delete(meta.id);
    if (entry.timer) clearTimeout(entry.timer);
    const args = Array.isArray(data) ? data : [];
    try {
      const fail = (e) => this._logThrow('ack callback', e);
      if (entry.withErr) settle(entry.cb(null, ...args), fail);
      else settle(entry.cb(...args), fail);
    } catch (e) {
      this.nsp._log(0, `socket ${this.id}: ack callback threw: ${(e && e.stack) || e}`);
    }
  }

  // CONN notice (PROTOCOL.md rule 20).
  _onconn(meta) {
    const ev = meta.event;
    if (typeof ev !== 'string') return;
    try {
      if (ev === 'upgrade') {
        if (typeof meta.transport === 'string') this.conn.transport = { name: meta.transport };
        this.conn.emit('upgrade', this.conn.transport);
      } else if (ev === 'packet' || ev === 'packetCreate') {
        this.conn.emit(ev, { type: meta.type });
      } else if (ev === 'close') {
        this.conn.emit('close', meta.reason);
      } else {
        this.conn.emit(ev, meta);
      }
    } catch (e) {
      this.nsp._log(0, `socket ${this.id}: conn "${ev}" handler threw: ${(e && e.stack) || e}`);
    }
  }

  // ---- disconnect ----

  // Disconnect from the server side: the client gets a DISCONNECT packet
  // (close = also close its whole connection, every namespace); then
  // `disconnecting` and `disconnect` run here with "server namespace
  // disconnect".
  disconnect(close = false) {
    if (this._state !== 'connected') return this;
    this.nsp._send('DISCONNECT', this.id, { close: !!close }, null);
    this._onclose('server namespace disconnect');
    return this;
  }

  // Its client recovered it (rule 16a): gone without events.
  _replaced() {
    this._state = 'closed';
    this.nsp._forget(this);
    const acks = [...this._acks.values()];
    this._acks.clear();
    for (const a of acks) {
      if (a.timer) clearTimeout(a.timer);
      const err = new Error('socket has been disconnected');
      try {
        if (a.onClose) a.onClose(err);
        else if (a.withErr) a.cb(err);
      } catch (e) {
        this.nsp._log(0, `socket ${this.id}: ack handler threw: ${(e && e.stack) || e}`);
      }
    }
  }

  _onclose(reason) {
    if (this._state === 'closed') return;
    const wasConnected = this._state === 'connected';
    this._state = 'closed'; // no emit, no join from here on
    this.nsp._forget(this);
    if (!wasConnected) {
      this.nsp.adapter._delAll(this.id); // its rooms go, without socket events
      return; // refused or never accepted: no events
    }
    const safe = (what, fn) => {
      try {
        settle(fn(), (e) => this.nsp._log(0, `socket ${this.id}: ${what} handler rejected: ${(e && e.stack) || e}`));
      } catch (e) {
        this.nsp._log(0, `socket ${this.id}: ${what} handler threw: ${(e && e.stack) || e}`);
      }
    };
    safe('disconnecting', () => emitLocal.call(this, 'disconnecting', reason));
    this.rooms.clear();
    this.nsp.adapter._delAll(this.id);
    safe('disconnect', () => emitLocal.call(this, 'disconnect', reason));
    const acks = [...this._acks.values()];
    this._acks.clear();
    for (const a of acks) {
      if (a.timer) clearTimeout(a.timer);
      const err = new Error('socket has been disconnected');
      if (a.onClose) safe('ack', () => a.onClose(err));
      else if (a.withErr) safe('ack', () => a.cb(err));
    }
  }
}

module.exports = { Socket, Conn };
