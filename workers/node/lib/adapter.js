// adapter.js — `io.adapter` (socket.io's in-memory Adapter as far as an
// application sees it): the rooms of this worker's sockets, `rooms`
// (room → Set of ids) and `sids` (id → Set of rooms), and the events
// create-room (room), join-room (room, id), leave-room (room, id) and
// delete-room (room), in socket.io's order.  The worker owns its
// namespace's room state (every join and leave goes through it), so it
// raises them itself; the gateway has nothing to add (PROTOCOL.md rule 26).
// As in socket.io, a socket's own id is a room: joined when the socket
// arrives (here at its CONNECT, before the middleware; socket.io joins it at
// connection), left with every other room between `disconnecting` and
// `disconnect`.
'use strict';

const { EventEmitter } = require('node:events');

class Adapter extends EventEmitter {
  constructor(nsp) {
    super();
    this.nsp = nsp;
    this.rooms = new Map();
    this.sids = new Map();
  }

  _safeEmit(...args) {
    try {
      this.emit(...args);
    } catch (e) {
      this.nsp._log(0, `adapter "${args[0]}" listener threw: ${(e && e.stack) || e}`);
    }
  }

  _add(id, rooms) {
    if (!this.sids.has(id)) this.sids.set(id, new Set());
    for (const room of rooms) {
      this.sids.get(id).add(room);
      if (!this.rooms.has(room)) {
        this.rooms.set(room, new Set());
        this._safeEmit('create-room', room);
      }
      if (!this.rooms.get(room).has(id)) {
        this.rooms.get(room).add(id);
        this._safeEmit('join-room', room, id);
      }
    }
  }

  _del(id, room) {
    if (this.sids.has(id)) this.sids.get(id).delete(room);
    const members = this.rooms.get(room);
    if (!members) return;
    if (members.delete(id)) this._safeEmit('leave-room', room, id);
    if (members.size === 0 && this.rooms.delete(room)) this._safeEmit('delete-room', room);
  }

  _delAll(id) {
    const rooms = this.sids.get(id);
    if (!rooms) return;
    for (const room of [...rooms]) this._del(id, room);
    this.sids.delete(id);
  }

  // Forget everything without events (the worker is closing).
  _reset() {
    this.rooms.clear();
    this.sids.clear();
  }
}

module.exports = { Adapter };
