// sio_api.test.js — the server-side Socket API, end to end: the real
// socket.io-client 4.8 against build/iogate and the C echo worker
// (examples/echo), over polling, websocket and polling-with-upgrade.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, once, sleep, waitFor } = require('./sio_harness');

const TRANSPORTS = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: { transports: ['polling', 'websocket'] },
};

for (const [name, opts] of Object.entries(TRANSPORTS)) {
  describe(`socket API over ${name}`, () => {
    let gw;
    before(async () => {
      gw = await startGateway({ workers: { '/': 'echo', '/custom': 'echo' } });
    });
    after(async () => {
      await gw.stop();
    });

    test('connect with auth: the worker sees handshake.auth', async () => {
      const s = gw.client('/', { ...opts, auth: { token: 'abc', n: 1 } });
      const [auth] = await once(s, 'auth');
      assert.deepEqual(auth, { token: 'abc', n: 1 });
      assert.equal(typeof s.id, 'string');
      assert.equal(s.id.length, 20);
      if (name === 'upgrade') await waitFor(() => s.io.engine.transport.name === 'websocket', 4000);
      s.close();
    });

    test('event round trip with several arguments', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      s.emit('message', 'hello', 42, { nested: [1, 2, { x: null }] }, true);
      const args = await once(s, 'message-back');
      assert.deepEqual(args, ['hello', 42, { nested: [1, 2, { x: null }] }, true]);
      s.close();
    });

    test('binary both ways, at any depth', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      const a = Buffer.from([0, 1, 2, 253, 254, 255]);
      const b = Buffer.from('4 starts like a message packet');
      s.emit('message', a, { deep: { list: [b, 'text'] } });
      const [ra, rb] = await once(s, 'message-back');
      assert.ok(Buffer.isBuffer(ra) || ra instanceof ArrayBuffer);
      assert.deepEqual(Buffer.from(ra), a);
      assert.deepEqual(Buffer.from(rb.deep.list[0]), b);
      assert.equal(rb.deep.list[1], 'text');
      s.close();
    });

    test('client emit with ack; multi-digit ack ids', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      const results = [];
      for (let i = 0; i < 12; i++) results.push(s.emitWithAck('message-with-ack', i, 'x'));
      const got = await Promise.all(results);
      // emitWithAck resolves with the first acknowledged argument
      assert.deepEqual(got, [...Array(12).keys()]);
      assert.deepEqual(await s.emitWithAck('message-with-ack', Buffer.from('bin')), Buffer.from('bin'));
      s.close();
    });

    test('server emit with ack, answered and timed out', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      s.on('ping-back', (v, cb) => cb(`pong:${v}`));
      assert.deepEqual(await s.emitWithAck('emit-with-ack', 2000), 'pong:ping');
      s.off('ping-back');
      s.on('ping-back', () => {}); // never answers
      const r = await s.emitWithAck('emit-with-ack', 200);
      assert.match(String(r), /timed out|timeout/i);
      s.close();
    });

    test('namespace middleware refusal → connect_error with message and data', async () => {
      const s = gw.client('/', { ...opts, auth: { refuse: true } });
      const [err] = await once(s, 'connect_error');
      assert.equal(err.message, 'refused');
      assert.deepEqual(err.data, { reason: 'auth' });
      assert.equal(s.connected, false);
    });

    test('socket middleware next(err) raises the error event, handler not run', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      s.emit('forbidden', 1);
      const [msg] = await once(s, 'error-seen');
      assert.equal(msg, 'forbidden event');
      // the socket is still usable
      s.emit('message', 'after');
      assert.deepEqual(await once(s, 'message-back'), ['after']);
      s.close();
    });

    test('rooms: broadcast reaches members except the sender, nobody else', async () => {
      const [a, b, c] = [gw.client('/', opts), gw.client('/', opts), gw.client('/', opts)];
      await Promise.all([a, b, c].map((s) => once(s, 'connect')));
      await a.emitWithAck('join', 'r1');
      await b.emitWithAck('join', 'r1');
      let cGot = false;
      c.on('room-message', () => (cGot = true));
      let aGot = false;
      a.on('room-message', () => (aGot = true));
      a.emit('to-room', 'r1', 'hi', Buffer.from([7]));
      const args = await once(b, 'room-message');
      assert.equal(args[0], 'hi');
      assert.deepEqual(Buffer.from(args[1]), Buffer.from([7]));
      await sleep(150);
      assert.equal(cGot, false, 'non-member received a room broadcast');
      assert.equal(aGot, false, 'sender received its own broadcast');
      // after leaving, b no longer receives
      await b.emitWithAck('leave', 'r1');
      let bAgain = false;
      b.on('room-message', () => (bAgain = true));
      await a.emitWithAck('join', 'r2');
      c.emit('to-room', 'r1', 'again');
      await sleep(150);
      assert.equal(bAgain, false);
      [a, b, c].forEach((s) => s.close());
    });

    test('fetchSockets sees rooms and data of every socket', async () => {
      const a = gw.client('/', opts);
      const b = gw.client('/', opts);
      await Promise.all([once(a, 'connect'), once(b, 'connect')]);
      await a.emitWithAck('set-data', { name: 'alice' });
      await a.emitWithAck('join', 'club');
      const list = await b.emitWithAck('fetch');
      const mine = list.find((x) => x.id === a.id);
      assert.ok(mine, `socket ${a.id} missing from ${JSON.stringify(list)}`);
      assert.deepEqual(mine.data, { name: 'alice' });
      assert.ok(mine.rooms.includes(a.id), 'rooms start with the socket id');
      assert.ok(mine.rooms.includes('club'));
      assert.ok(list.find((x) => x.id === b.id));
      a.close();
      b.close();
    });

    test('disconnect reasons: client namespace disconnect, with rooms at disconnecting', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      await s.emitWithAck('join', 'kept');
      const id = s.id;
      s.disconnect();
      const m = await gw.waitLog(new RegExp(`disconnect ${id} client namespace disconnect rooms=(\\S+)`));
      assert.ok(m[1].split(',').includes('kept'), `rooms at disconnecting: ${m[1]}`);
    });

    test('disconnect reasons: server namespace disconnect', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      const id = s.id;
      s.emit('disconnect-me', false);
      const [reason] = await once(s, 'disconnect');
      assert.equal(reason, 'io server disconnect');
      await gw.waitLog(new RegExp(`disconnect ${id} server namespace disconnect`));
    });

    test('disconnect reasons: transport close', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      const id = s.id;
      s.io.engine.close();
      await gw.waitLog(new RegExp(`disconnect ${id} transport close`));
    });

    test('disconnect reasons: parse error', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      const id = s.id;
      s.io.engine.send('2{"not":"an array"}');
      await gw.waitLog(new RegExp(`disconnect ${id} parse error`));
    });

    test('disconnect reasons: forced server close (duplicate CONNECT)', async () => {
      const s = gw.client('/', opts);
      await once(s, 'connect');
      const id = s.id;
      s.io.engine.send('0');
      await gw.waitLog(new RegExp(`disconnect ${id} forced server close`));
    });

    test('two namespaces on one connection, two worker processes', async () => {
      const root = gw.client('/', opts);
      await once(root, 'connect');
      const custom = root.io.socket('/custom'); // auto-connects on the same Manager
      await once(custom, 'connect');
      assert.notEqual(root.id, custom.id, 'each namespace has its own socket id');
      const [p1, p2] = await Promise.all([root.emitWithAck('pid'), custom.emitWithAck('pid')]);
      assert.ok(Number.isInteger(p1) && Number.isInteger(p2));
      assert.notEqual(p1, p2, 'one process per namespace');
      custom.emit('message', 'via custom');
      assert.deepEqual(await once(custom, 'message-back'), ['via custom']);
      custom.disconnect();
      root.emit('message', 'root still there');
      assert.deepEqual(await once(root, 'message-back'), ['root still there']);
      root.close();
    });

    test('unknown namespace → connect_error "Invalid namespace"', async () => {
      const s = gw.client('/nope', opts);
      const [err] = await once(s, 'connect_error');
      assert.equal(err.message, 'Invalid namespace');
      s.close();
    });
  });
}

describe('gateway lifecycle', () => {
  test('server shutting down reaches the worker; clients are closed; exit 0', async () => {
    const gw = await startGateway({ workers: { '/': 'echo' } });
    const s = gw.client('/');
    await once(s, 'connect');
    const id = s.id;
    const closed = once(s, 'disconnect');
    const r = await gw.stop({ closeClients: false });
    assert.deepEqual(r, { code: 0, signal: null });
    assert.match(gw.logs, new RegExp(`disconnect ${id} server shutting down`));
    await closed;
  });

  test('a killed worker is restarted; its sockets keep id and rooms, held packets arrive in order', async () => {
    const gw = await startGateway({ workers: { '/': 'echo', '/custom': 'echo' } });
    try {
      const root = gw.client('/');
      await once(root, 'connect');
      const custom = root.io.socket('/custom');
      await once(custom, 'connect');
      const id = custom.id;
      await custom.emitWithAck('join', 'kept-room');
      const pid = await custom.emitWithAck('pid');
      let disconnected = false;
      custom.on('disconnect', () => (disconnected = true));
      const backs = [];
      custom.on('message-back', (n) => backs.push(n));
      process.kill(pid, 'SIGKILL');
      // Sent while the worker is dead: held by the gateway, replayed in order.
      for (let i = 0; i < 5; i++) custom.emit('message', i);
      // The other namespace on the same connection does not notice.
      root.emit('message', 'still here');
      assert.deepEqual(await once(root, 'message-back'), ['still here']);
      await waitFor(() => backs.length === 5, 8000, () => `got ${JSON.stringify(backs)}`);
      assert.deepEqual(backs, [0, 1, 2, 3, 4]);
      const pid2 = await custom.emitWithAck('pid');
      assert.notEqual(pid2, pid, 'a new worker process');
      assert.equal(custom.id, id, 'same socket id');
      assert.equal(disconnected, false, 'the client never saw a disconnect');
      const list = await custom.emitWithAck('fetch');
      const me = list.find((x) => x.id === id);
      assert.ok(me && me.rooms.includes('kept-room'), JSON.stringify(list));
      await gw.waitLog(/socket \S+ recovered, \d+ held packet/);
    } finally {
      await gw.stop();
    }
  });
});
