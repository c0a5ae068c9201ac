// echo.js — the echo worker in Node.js, the same contract as echo.c: serves
// the namespace named by IOGATE_NAMESPACE at the gateway named by
// IOGATE_ENDPOINT (both set by a gateway that spawns it) and echoes what
// clients send.  The end-to-end tests run against it with
// IOGATE_ECHO="node examples/echo/echo.js".
//
//   connection              emit "auth" with the handshake's auth object
//                           (not for a recovered socket: the client never left)
//   "message" (args…)       emit "message-back" with the same args (binary too)
//   "message-with-ack"      ack with the same args
//   "join" (room)           join, ack with the socket's rooms
//   "leave" (room)          leave, ack with the socket's rooms
//   "to-room" (room, a…)    broadcast "room-message" (a…) to room, not sender
//   "disconnect-me" (close) socket.disconnect(close)
//   "fetch"                 ack with [{id, rooms, data}…] of every socket
//   "set-data" (obj)        set the socket's data, ack with it
//   "emit-with-ack" (ms)    emit "ping-back" ("ping") asking an ack within ms;
//                           ack with the client's ack arguments, or with the
//                           error message ("operation has timed out")
//   "pid"                   ack with the worker's pid
//   "emit-reserved"         try to emit each reserved event name; emit
//                           "reserved-refused" (n) with how many were refused
//   middleware              refuse auth {"refuse":true}: "refused", {"reason":"auth"}
//   socket middleware       event "forbidden" fails with "forbidden event"
//   error                   emit "error-seen" with the error message
//   disconnecting/disconnect  log "disconnect <id> <reason> rooms=<r1,r2>"
//                             (the rooms seen at disconnecting) to stderr
'use strict';

const { Worker } = require('../../workers/node');

const io = new Worker(); // endpoint and namespace from the environment

io.use((socket, next) => {
  if (socket.handshake.auth.refuse === true) {
    const err = new Error('refused');
    err.data = { reason: 'auth' };
    next(err);
  } else {
    next();
  }
});

io.on('connection', (socket) => {
  socket.use(([event], next) => {
    if (event === 'forbidden') next(new Error('forbidden event'));
    else next();
  });
  socket.on('error', (err) => socket.emit('error-seen', err.message));

  // Handlers see (...args, ack?): the ack function is the last argument
  // only when the client asked for one.
  const withAck = (fn) => (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    fn(args, ack);
  };

  socket.on('message', withAck((args, ack) => {
    socket.emit('message-back', ...args);
    if (ack) ack(...args);
  }));
  socket.on('message-with-ack', withAck((args, ack) => {
    if (ack) ack(...args);
  }));
  socket.on('join', withAck(([room], ack) => {
    if (typeof room === 'string') socket.join(room);
    if (ack) ack([...socket.rooms]);
  }));
  socket.on('leave', withAck(([room], ack) => {
    if (typeof room === 'string') socket.leave(room);
    if (ack) ack([...socket.rooms]);
  }));
  socket.on('to-room', withAck(([room, ...rest], ack) => {
    if (typeof room !== 'string') return;
    const ok = socket.to(room).emit('room-message', ...rest);
    if (ack) ack(ok);
  }));
  socket.on('disconnect-me', withAck(([close]) => {
    socket.disconnect(close === true);
  }));
  socket.on('fetch', withAck(async (args, ack) => {
    if (!ack) return;
    const all = await io.fetchSockets();
    ack(all.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data })));
  }));
  socket.on('set-data', withAck(([data], ack) => {
    socket.data = data === undefined ? null : data;
    if (ack) ack(socket.data);
  }));
  socket.on('emit-with-ack', withAck(([t], ack) => {
    const ms = typeof t === 'number' ? t : 1000;
    const done = (err, ...res) => {
      if (!ack) return;
      if (err) ack(err.message);
      else ack(...res);
    };
    let sent;
    if (ms > 0) sent = socket.timeout(ms).emit('ping-back', 'ping', done);
    else sent = socket.emit('ping-back', 'ping', (...res) => done(null, ...res));
    if (!sent && ack) ack('socket is not connected');
  }));
  socket.on('pid', withAck((args, ack) => {
    if (ack) ack(process.pid);
  }));
  socket.on('emit-reserved', withAck((args, ack) => {
    const names = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'];
    let refused = 0;
    for (const name of names) {
      try {
        socket.emit(name);
      } catch {
        refused++;
      }
    }
    socket.emit('reserved-refused', refused);
    if (ack) ack();
  }));

  let roomsAtDisconnecting = '';
  socket.on('disconnecting', () => {
    roomsAtDisconnecting = [...socket.rooms].join(',');
  });
  socket.on('disconnect', (reason) => {
    process.stderr.write(`disconnect ${socket.id} ${reason} rooms=${roomsAtDisconnecting}\n`);
  });

  // A recovered socket (its worker restarted, PROTOCOL.md rule 16) is one
  // the client never saw leave: no second greeting.
  if (!socket.recovered) socket.emit('auth', socket.handshake.auth); // always an object
});
