// chat.js — the classic Socket.IO chat as an iogate worker in Node.js, with
// rooms: the same protocol as chat.c, so examples/chat/public works with
// either worker.
//
//   client → "add user" (name)        → "login" {numUsers, room} to the user;
//                                        "user joined" {username, numUsers} to the others
//   client → "new message" (text)     → "new message" {username, message, room} to the
//                                        others in the user's room
//   client → "typing" / "stop typing" → same name {username} to the others in the room
//   client → "join room" (name)       → leave the current room ("user left room" there),
//                                        join the new one ("user joined room" there);
//                                        the user gets "room joined" {room, numUsers}
//   disconnect                        → "user left" {username, numUsers} to everyone
//
// Everyone starts in the room "lobby".  Serve it with
//   build/iogate --static examples/chat/public \
//     --client-js node_modules/socket.io-client/dist/socket.io.js \
//     --worker "/=node examples/chat/chat.js"
'use strict';

const { Worker } = require('../../workers/node');

const LOBBY = 'lobby';
const MAX_NAME = 64;

const io = new Worker(); // endpoint and namespace from the environment
let numUsers = 0;

const clip = (s) => s.slice(0, MAX_NAME);

io.on('connection', (socket) => {
  let user = null; // { username, room } once "add user" was said

  socket.on('add user', (name) => {
    if (typeof name !== 'string' || !name || user) return;
    user = { username: clip(name), room: LOBBY };
    socket.join(LOBBY);
    socket.data = { username: user.username };
    numUsers++;
    socket.emit('login', { numUsers, room: user.room });
    socket.broadcast.emit('user joined', { username: user.username, numUsers });
  });

  socket.on('new message', (text) => {
    if (!user || typeof text !== 'string') return;
    socket.to(user.room).emit('new message', { username: user.username, message: text, room: user.room });
  });

  for (const event of ['typing', 'stop typing']) {
    socket.on(event, () => {
      if (user) socket.to(user.room).emit(event, { username: user.username });
    });
  }

  socket.on('join room', async (room, ack) => {
    if (!user || typeof room !== 'string' || !room || room.length > MAX_NAME) return;
    if (room !== user.room) {
      socket.to(user.room).emit('user left room', { username: user.username, room: user.room });
      socket.leave(user.room);
      user.room = room;
      socket.join(room);
      socket.to(room).emit('user joined room', { username: user.username, room });
    }
    const info = { room: user.room, numUsers: (await io.in(user.room).fetchSockets()).length };
    if (typeof ack === 'function') ack(info);
    socket.emit('room joined', info);
  });

  socket.on('disconnect', () => {
    if (!user) return;
    numUsers--;
    socket.broadcast.emit('user left', { username: user.username, numUsers });
  });
});
