// iogate-worker — the Node.js worker library of iogate: the server-side
// socket.io API for a process that serves one namespace behind the iogate
// gateway (see README.md here, and ipc/PROTOCOL.md for the wire contract).
//
//   const { Worker } = require('iogate-worker');  // npm install ./workers/node
//   const io = new Worker();          // IOGATE_ENDPOINT / IOGATE_NAMESPACE
//   io.on('connection', (socket) => socket.on('ping', (cb) => cb('pong')));
'use strict';

const { Worker, PROTOCOL_VERSION } = require('./lib/worker');
const { Socket, Conn } = require('./lib/socket');
const { BroadcastOperator, RESERVED_EVENTS } = require('./lib/broadcast');
const codec = require('./lib/codec');

module.exports = { Worker, Server: Worker, Socket, Conn, BroadcastOperator, RESERVED_EVENTS, PROTOCOL_VERSION, codec };
module.exports.Emitter = require('./lib/emitter').Emitter; // another process's emits (PROTOCOL.md rule 10d)
