// broadcast.js — {rooms, except, flags} selectors (socket.io's
// BroadcastOperator): one BROADCAST message to the gateway, which holds a
// routing copy of the rooms (PROTOCOL.md rule 25), and the namespace
// utilities (fetchSockets, socketsJoin/Leave, disconnectSockets) resolved
// locally: the worker owns its namespace's room state.
'use strict';

const RESERVED_EVENTS = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

function checkReserved(ev) {
  if (typeof ev !== 'string') throw new TypeError('event name must be a string');
  if (RESERVED_EVENTS.has(ev)) throw new Error(`"${ev}" is a reserved event name`);
}

function roomList(room) {
  return Array.isArray(room) ? room : [room];
}

class BroadcastOperator {
  constructor(worker, rooms = new Set(), exceptRooms = new Set(), flags = {}) {
    this._worker = worker;
    this.rooms = rooms;
    this.exceptRooms = exceptRooms;
    this.flags = flags;
  }

  // Receivers are the sockets in at least one of these rooms (all when none).
  to(room) {
    const rooms = new Set(this.rooms);
    for (const r of roomList(room)) rooms.add(String(r));
    return new BroadcastOperator(this._worker, rooms, this.exceptRooms, this.flags);
  }

  in(room) {
    return this.to(room);
  }

  // …minus the sockets in any of these rooms.
  except(room) {
    const ex = new Set(this.exceptRooms);
    for (const r of roomList(room)) ex.add(String(r));
    return new BroadcastOperator(this._worker, this.rooms, ex, this.flags);
  }

  // May be dropped when the gateway is slow (PROTOCOL.md rule 32).
  get volatile() {
    return new BroadcastOperator(this._worker, this.rooms, this.exceptRooms, { ...this.flags, volatile: true });
  }

  // socket.io: "only to the clients of this server node", as opposed to
  // every node behind the adapter.  A worker is the only server of its
  // namespace, so every broadcast is local already: exact, not ignored.
  get local() {
    return new BroadcastOperator(this._worker, this.rooms, this.exceptRooms, { ...this.flags, local: true });
  }

  // The gateway decides compression: refused loudly rather than ignored.
  compress() {
    throw new Error('compress() is not supported by iogate workers: the gateway decides compression (PROTOCOL.md has no such flag)');
  }

  timeout(ms) {
    return new BroadcastOperator(this._worker, this.rooms, this.exceptRooms, { ...this.flags, timeout: ms });
  }

  // One BROADCAST.  Acknowledgements cannot be asked of a broadcast in
  // protocol version 1.  Returns true when handed to the gateway link.
  emit(ev, ...args) {
    checkReserved(ev);
    const meta = {};
    if (this.rooms.size) meta.rooms = [...this.rooms];
    if (this.exceptRooms.size) meta.except = [...this.exceptRooms];
    if (args.length && typeof args[args.length - 1] === 'function') {
      // Acknowledgements (rule 25a): the gateways count the receivers.
      const cb = args.pop();
      return this._worker._bcastAcks.emit(meta, [ev, ...args], this.flags.timeout, cb);
    }
    if (this.flags.volatile) meta.volatile = true;
    const sent = this._worker._send('BROADCAST', '', meta, [ev, ...args], { volatile: !!this.flags.volatile });
    // socket.io calls onAnyOutgoing listeners for the broadcasts that reach
    // a socket too; the worker owns the rooms, so it knows which do.
    if (sent) for (const s of this._match()) if (s._anyOut.length) s._notifyOutgoing(ev, args);
    return sent;
  }

  emitWithAck(ev, ...args) {
    return new Promise((resolve, reject) => {
      this.emit(ev, ...args, (err, responses) => (err ? reject(err) : resolve(responses)));
    });
  }

  send(...args) {
    return this.emit('message', ...args);
  }

  write(...args) {
    return this.emit('message', ...args);
  }

  // The connected sockets this selector matches, from local room state.
  _match() {
    const out = [];
    for (const s of this._worker.sockets.values()) {
      let inRoom = this.rooms.size === 0;
      if (!inRoom) {
        for (const r of this.rooms) {
          if (s.rooms.has(r)) {
            inRoom = true;
            break;
          }
        }
      }
      if (!inRoom) continue;
      let excepted = false;
      for (const r of this.exceptRooms) {
        if (s.rooms.has(r)) {
          excepted = true;
          break;
        }
      }
      if (!excepted) out.push(s);
    }
    return out;
  }

  // The matching Socket objects themselves (they have id, rooms, data,
  // handshake, emit, join, leave, disconnect — what a RemoteSocket has).
  fetchSockets() {
    return Promise.resolve(this._match());
  }

  socketsJoin(room) {
    for (const s of this._match()) s.join(room);
  }

  socketsLeave(room) {
    for (const s of this._match()) for (const r of roomList(room)) s.leave(r);
  }

  disconnectSockets(close = false) {
    for (const s of this._match()) if (s.connected) s.disconnect(close);
  }
}

module.exports = { BroadcastOperator, RESERVED_EVENTS, checkReserved, roomList };
