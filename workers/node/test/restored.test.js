// restored.test.js — the Node.js worker library and a restored CONNECT
// (connection state recovery, PROTOCOL.md rule 16a): the socket object is
// replaced without disconnect events, its data carries over, `recovered` and
// `restored` are set, middleware runs again unless skip_middlewares.  Fake
// gateway: a real ZeroMQ ROUTER (fake_gateway.js).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { pair, sleep, waitFor, SID1 } = require('./fake_gateway');

function app(events, sockets) {
  return (io) => {
    io.use((socket, next) => {
      events.push(['mw', socket.restored]);
      next();
    });
    io.on('connection', (socket) => {
      sockets.push(socket);
      events.push(['conn', socket.recovered, socket.restored]);
      socket.on('disconnect', (reason) => events.push(['disconnect', reason]));
    });
  };
}

test('a restored CONNECT replaces the socket silently and keeps its data', async () => {
  const events = [];
  const sockets = [];
  const { gw, done } = await pair(app(events, sockets));
  try {
    assert.equal((await gw.connect(SID1)).type, 'ACCEPT');
    sockets[0].data = { n: 7 };
    const m = await gw.connect(SID1, {}, { restored: true, rooms: [SID1, 'lobby'] });
    assert.equal(m.type, 'ACCEPT');
    assert.notEqual(sockets[1], sockets[0]);
    assert.deepEqual(sockets[1].data, { n: 7 });
    assert.equal(sockets[1].recovered, true);
    assert.equal(sockets[1].restored, true);
    assert.ok(sockets[1].rooms.has('lobby'));
    assert.deepEqual(events, [['mw', false], ['conn', false, false], ['mw', true], ['conn', true, true]]);
    await gw.send('DISCONNECT', SID1, { reason: 'transport close' });
    await waitFor(() => events.some((e) => e[0] === 'disconnect'));
    await sleep(50); // a second disconnect would show
    assert.deepEqual(events.filter((e) => e[0] === 'disconnect'), [['disconnect', 'transport close']]);
  } finally {
    await done();
  }
});

test('skip_middlewares: the namespace middleware does not run again', async () => {
  const events = [];
  const sockets = [];
  const { gw, done } = await pair(app(events, sockets));
  try {
    await gw.connect(SID1);
    assert.equal((await gw.connect(SID1, {}, { restored: true, rooms: [SID1], skip_middlewares: true })).type, 'ACCEPT');
    assert.deepEqual(events.map((e) => e[0]), ['mw', 'conn', 'conn']);
  } finally {
    await done();
  }
});
