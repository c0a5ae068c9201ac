// worker.test.js — the Node.js worker library against a fake gateway (a real
// ZeroMQ ROUTER speaking ipc/PROTOCOL.md), one worker per test.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { Worker } = require('..');
const codec = require('../lib/codec');
const { FakeGateway, pair, sleep, waitFor, SID1, SID2, SID3 } = require('./fake_gateway');

const isEmitOrBc = (m) => m.type === 'EMIT' || m.type === 'BROADCAST';

test('HELLO: version, incarnation, pid, conn_events; WELCOME raises ready', async () => {
  const { hello, io, done } = await pair(() => {}, { workerOpts: { connEvents: ['drain', 'bogus'] } });
  try {
    assert.equal(hello.nsp, '/');
    assert.equal(hello.sid, '');
    assert.equal(hello.meta.version, 1);
    assert.match(hello.meta.incarnation, /^[0-9a-f]{32}$/);
    assert.equal(hello.meta.pid, process.pid);
    assert.deepEqual(hello.meta.conn_events, ['upgrade', 'drain']);
    assert.equal(io.connected, true);
  } finally {
    await done();
  }
});

test('options come from IOGATE_ENDPOINT / IOGATE_NAMESPACE; bad namespace throws', () => {
  const saved = { ...process.env };
  try {
    process.env.IOGATE_ENDPOINT = 'ipc:///nonexistent/x.sock';
    process.env.IOGATE_NAMESPACE = '/env';
    const io = new Worker({ autoStart: false });
    assert.equal(io.endpoint, 'ipc:///nonexistent/x.sock');
    assert.equal(io.name, '/env');
    assert.throws(() => new Worker({ namespace: 'nope', autoStart: false }), /does not start with/);
    delete process.env.IOGATE_ENDPOINT;
    assert.throws(() => new Worker({ autoStart: false }), /no gateway endpoint/);
  } finally {
    process.env = saved;
  }
});

test('a middleware that never calls next leaves the socket pending: no ACCEPT', async () => {
  const seen = [];
  const { gw, done } = await pair((io) => {
    io.use((socket, next) => {
      seen.push(['mw1', socket.connected]);
      next();
    });
    io.use(async (socket) => {
      await sleep(5);
      seen.push(['mw2']);
    }); // resolves without calling next: the socket stays pending (as in socket.io)
    io.on('connection', () => seen.push(['conn']));
  });
  try {
    // The async middleware above never calls next: the socket stays pending.
    await gw.send('CONNECT', SID1, { handshake: { auth: { t: 1 } }, transport: 'polling' });
    assert.equal(await gw.none((m) => m.type === 'ACCEPT', 150), null);
    assert.deepEqual(seen, [['mw1', false], ['mw2']]);
  } finally {
    await done();
  }
});

test('middleware chain accepts; rooms from middleware are JOINed after ACCEPT', async () => {
  let conn;
  const { gw, io, done } = await pair((io) => {
    io.use((socket, next) => {
      socket.join(['r1', 'r2']);
      socket.data.user = 'ann';
      setTimeout(next, 5); // asynchronous middleware
    });
    io.on('connection', (socket) => (conn = socket));
  });
  try {
    const acc = await gw.connect(SID1, { auth: { t: 1 } });
    assert.equal(acc.type, 'ACCEPT');
    const join = await gw.next();
    assert.equal(join.type, 'JOIN');
    assert.deepEqual(join.meta.rooms, ['r1', 'r2']);
    assert.equal(conn.id, SID1);
    assert.deepEqual(conn.handshake.auth, { t: 1 });
    assert.equal(conn.handshake.address, '127.0.0.1');
    assert.deepEqual([...conn.rooms], [SID1, 'r1', 'r2']);
    assert.deepEqual(conn.data, { user: 'ann' });
    assert.equal(conn.recovered, false);
    assert.equal(conn.connected, true);
    assert.equal(conn.conn.transport.name, 'polling');
    assert.equal(io.sockets.get(SID1), conn);
  } finally {
    await done();
  }
});

test('middleware next(err) → REFUSE with message and data; a throwing middleware refuses too', async () => {
  const { gw, io, done } = await pair((io) => {
    io.use((socket, next) => {
      if (socket.handshake.auth.refuse) {
        const e = new Error('refused');
        e.data = { reason: 'auth' };
        return next(e);
      }
      if (socket.handshake.auth.boom) throw new Error('boom');
      next();
    });
    io.on('connection', () => assert.fail('refused socket must not connect'));
  });
  try {
    const r = await gw.connect(SID1, { auth: { refuse: true } });
    assert.equal(r.type, 'REFUSE');
    assert.deepEqual(r.meta, { message: 'refused', data: { reason: 'auth' } });
    const r2 = await gw.connect(SID2, { auth: { boom: true } });
    assert.equal(r2.type, 'REFUSE');
    assert.equal(r2.meta.message, 'Internal server error'); // the exception is logged, never sent
    assert.equal('data' in r2.meta, false);
    assert.equal(io.sockets.size, 0);
  } finally {
    await done();
  }
});

test('EVENT with ack: handler gets the args and an ack function; ACK once; PROCESSED reports seq', async () => {
  const { gw, done } = await pair((io) => {
    io.on('connection', (socket) => {
      socket.on('sum', (a, b, ack) => {
        ack(a + b, 'ok');
        ack('twice'); // ignored
      });
      socket.on('noack', (...args) => socket.emit('got', args.length, typeof args[args.length - 1]));
    });
  });
  try {
    await gw.connect();
    await gw.send('EVENT', SID1, { ack: 456 }, ['sum', 2, 3]);
    const ack = await gw.next();
    assert.equal(ack.type, 'ACK');
    assert.equal(ack.sid, SID1);
    assert.deepEqual(ack.meta, { id: 456 });
    assert.deepEqual(ack.data, [5, 'ok']);
    const p = await gw.next('PROCESSED');
    assert.equal(p.nsp, '');
    assert.equal(p.sid, '');
    assert.deepEqual(p.meta, { seq: 1 });
    await gw.send('EVENT', SID1, null, ['noack', 'x']);
    const e = await gw.next();
    assert.deepEqual(e.data, ['got', 1, 'string']);
    assert.equal(await gw.none((m) => m.type === 'ACK', 100), null);
    assert.deepEqual((await gw.next('PROCESSED')).meta, { seq: 2 });
  } finally {
    await done();
  }
});

test('binary: received placeholders become Buffers; Buffers, typed arrays and ArrayBuffers travel as attachments', async () => {
  let got;
  const { gw, done } = await pair((io) => {
    io.on('connection', (socket) => {
      socket.on('file', (x, ack) => {
        got = x;
        ack({ back: x.deep[0] });
        socket.emit('bin', Buffer.from('ab'), { u8: new Uint8Array([1, 2]), ab: new Uint8Array([9]).buffer }, 'txt');
      });
    });
  });
  try {
    await gw.connect();
    await gw.sendRaw([
      ...codec.encode('EVENT', '/', SID1, { ack: 1, seq: 1 }, null).slice(0, 5),
      '["file",{"deep":[{"num":0,"_placeholder":true}],"n":{"_placeholder":true,"num":1}}]',
      Buffer.from([0, 1, 2]),
      Buffer.from('xyz'),
    ]);
    const ack = await gw.next();
    assert.equal(ack.type, 'ACK');
    assert.ok(Buffer.isBuffer(got.deep[0]));
    assert.deepEqual(got.deep[0], Buffer.from([0, 1, 2]));
    assert.deepEqual(got.n, Buffer.from('xyz'));
    assert.deepEqual(ack.data, [{ back: Buffer.from([0, 1, 2]) }]); // decode resolves placeholders again
    const e = await gw.next();
    assert.equal(e.type, 'EMIT');
    assert.deepEqual(e.data, ['bin', Buffer.from('ab'), { u8: Buffer.from([1, 2]), ab: Buffer.from([9]) }, 'txt']);
  } finally {
    await done();
  }
});

test('binary frames on the wire: placeholders in order, one frame per attachment', () => {
  const frames = codec.encode('EMIT', '/', SID1, null, ['e', Buffer.from('a'), [new Uint16Array([1])]]);
  assert.equal(frames.length, 8);
  assert.equal(frames[5], '["e",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]');
  assert.deepEqual(frames[6], Buffer.from('a'));
  assert.deepEqual(frames[7], Buffer.from([1, 0]));
  // bad placeholders are refused (PROTOCOL.md rule 7)
  const bad = (data, atts) => () =>
    codec.decode(['IOG1', 'EVENT', '/', SID1, '', data, ...atts].map((f) => Buffer.from(f)));
  assert.throws(bad('["e",{"_placeholder":true,"num":1}]', ['x']), /out of range/);
  assert.throws(bad('["e",{"_placeholder":true,"num":"0"}]', ['x']), /out of range/);
  assert.throws(bad('["e"]', ['x']), /without placeholders/);
  assert.throws(bad('{}', []), /not a JSON array/);
  assert.throws(() => codec.decode(['IOG2', 'EVENT', '/', '', '', ''].map((f) => Buffer.from(f))), /version/);
  assert.throws(() => codec.decode(['IOG1', 'HELLO', '/', '', '', ''].map((f) => Buffer.from(f))), /type/);
  assert.throws(() => codec.decode(['IOG1', 'EVENT', '/', '', '[]', ''].map((f) => Buffer.from(f))), /meta/);
  assert.throws(() => codec.decode(['IOG1', 'EVENT'].map((f) => Buffer.from(f))), /frames/);
});

test('a malformed message from the gateway is dropped and the worker carries on', async () => {
  const { gw, done } = await pair((io) => {
    io.on('connection', (socket) => socket.on('m', (x) => socket.emit('back', x)));
  });
  try {
    await gw.connect();
    await gw.sendRaw(['IOG9', 'EVENT', '/', SID1, '', '["m",1]']);
    await gw.sendRaw(['IOG1', 'EVENT', '/', SID1, '{"seq":7}', '["m",{"_placeholder":true,"num":3}]']);
    await gw.send('EVENT', SID1, null, ['m', 2]);
    const e = await gw.next();
    assert.deepEqual(e.data, ['back', 2]);
  } finally {
    await done();
  }
});

test('socket middleware: next(err) → error event, handler not run; packet includes the ack function', async () => {
  const calls = [];
  const { gw, done } = await pair((io) => {
    io.on('connection', (socket) => {
      socket.use((packet, next) => {
        calls.push(['mw', packet[0], typeof packet[packet.length - 1]]);
        if (packet[0] === 'forbidden') return next(new Error('forbidden event'));
        packet[1] = 'changed';
        next();
      });
      socket.onAny((ev, ...args) => calls.push(['any', ev, args[0]]));
      socket.on('error', (err) => socket.emit('error-seen', err.message));
      socket.on('forbidden', () => calls.push(['handler forbidden']));
      socket.on('ok', (x, ack) => {
        calls.push(['ok', x]);
        ack();
      });
    });
  });
  try {
    await gw.connect();
    await gw.send('EVENT', SID1, { ack: 1 }, ['forbidden', 1]);
    const e = await gw.next();
    assert.deepEqual(e.data, ['error-seen', 'forbidden event']);
    await gw.send('EVENT', SID1, { ack: 2 }, ['ok', 'orig']);
    const a = await gw.next();
    assert.equal(a.type, 'ACK');
    assert.deepEqual(calls, [ // onAny before the packet middleware, as socket.io's Socket.onevent
      ['any', 'forbidden', 1],
      ['mw', 'forbidden', 'function'],
      ['any', 'ok', 'orig'],
      ['mw', 'ok', 'function'],
      ['ok', 'changed'],
    ]);
  } finally {
    await done();
  }
});

test('emit: reserved names throw; volatile flag; emit before connection fails', async () => {
  let sock;
  const { gw, done } = await pair((io) => {
    io.use((socket, next) => {
      assert.equal(socket.emit('early'), false); // not connected yet
      next();
    });
    io.on('connection', (socket) => (sock = socket));
  });
  try {
    await gw.connect();
    for (const name of ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']) {
      assert.throws(() => sock.emit(name), /reserved event name/);
      assert.throws(() => sock.to('x').emit(name), /reserved event name/);
    }
    assert.equal(sock.volatile.emit('v', 1), true);
    const v = await gw.next();
    assert.equal(v.type, 'EMIT');
    assert.deepEqual(v.meta, { volatile: true });
    assert.equal(sock.emit('plain'), true);
    const p = await gw.next();
    assert.deepEqual(p.meta, {});
    assert.deepEqual(p.data, ['plain']);
    sock.send('hi');
    assert.deepEqual((await gw.next()).data, ['message', 'hi']);
  } finally {
    await done();
  }
});

test('emit with ack: callback, emitWithAck, timeout(ms) and late acks', async () => {
  let sock;
  const { gw, done } = await pair((io) => io.on('connection', (s) => (sock = s)));
  try {
    await gw.connect();
    const got = new Promise((r) => sock.emit('q', 1, (...args) => r(args)));
    const e0 = await gw.next();
    assert.deepEqual(e0.meta, { ack: 0 });
    assert.deepEqual(e0.data, ['q', 1]);
    await gw.send('ACK', SID1, { id: 0 }, ['a', Buffer.from('b')]);
    assert.deepEqual(await got, ['a', Buffer.from('b')]);

    const p = sock.emitWithAck('q2');
    const e1 = await gw.next();
    assert.deepEqual(e1.meta, { ack: 1 });
    await gw.send('ACK', SID1, { id: 1 }, ['first', 'second']);
    assert.equal(await p, 'first');

    const t0 = Date.now();
    const timedOut = new Promise((r) => sock.timeout(50).emit('q3', (err, ...args) => r([err, args])));
    const e2 = await gw.next();
    assert.deepEqual(e2.meta, { ack: 2 });
    const [err] = await timedOut;
    assert.equal(err.message, 'operation has timed out');
    assert.ok(Date.now() - t0 >= 45);
    await gw.send('ACK', SID1, { id: 2 }, ['late']); // ignored
    await gw.send('ACK', SID1, { id: 99 }, ['unknown']); // ignored

    const ok = sock.timeout(1000).emitWithAck('q4');
    const e3 = await gw.next();
    await gw.send('ACK', SID1, { id: e3.meta.ack }, ['fine']);
    assert.equal(await ok, 'fine');
    await assert.rejects(sock.timeout(30).emitWithAck('q5'), /operation has timed out/);
  } finally {
    await done();
  }
});

test('broadcasts: to/in/except/broadcast/volatile from socket and worker; callbacks refused', async () => {
  let sock;
  const { gw, io, done } = await pair((io) => io.on('connection', (s) => (sock = s)));
  try {
    await gw.connect();
    sock.to('r1').to(['r2']).emit('a', 1);
    let m = await gw.next(isEmitOrBc);
    assert.equal(m.type, 'BROADCAST');
    assert.equal(m.sid, '');
    assert.deepEqual(m.meta, { rooms: ['r1', 'r2'], except: [SID1] });
    assert.deepEqual(m.data, ['a', 1]);
    sock.broadcast.emit('b');
    assert.deepEqual((await gw.next(isEmitOrBc)).meta, { except: [SID1] });
    sock.except('x').emit('c');
    assert.deepEqual((await gw.next(isEmitOrBc)).meta, { except: [SID1, 'x'] });
    sock.volatile.broadcast.emit('d');
    assert.deepEqual((await gw.next(isEmitOrBc)).meta, { except: [SID1], volatile: true });
    io.emit('e', Buffer.from('z'));
    m = await gw.next(isEmitOrBc);
    assert.deepEqual(m.meta, {});
    assert.deepEqual(m.data, ['e', Buffer.from('z')]);
    io.to('r').except('s').volatile.emit('f');
    assert.deepEqual((await gw.next(isEmitOrBc)).meta, { rooms: ['r'], except: ['s'], volatile: true });
    io.in('r').emit('g');
    assert.deepEqual((await gw.next(isEmitOrBc)).meta, { rooms: ['r'] });
    assert.throws(() => io.to('r').emit('h', () => {}), /needs timeout\(ms\)/); // rule 25a
    assert.throws(() => io.emit('disconnect'), /reserved/);
    // This fake gateway never answers BROADCAST_ACK: the timeout settles it.
    await assert.rejects(io.timeout(10).emitWithAck('x'), /operation has timed out/);
  } finally {
    await done();
  }
});

test('rooms: join/leave send JOIN/LEAVE once; namespace utilities resolve locally', async () => {
  const socks = {};
  const { gw, io, done } = await pair((io) => io.on('connection', (s) => (socks[s.id] = s)));
  try {
    await gw.connect(SID1);
    await gw.connect(SID2);
    await gw.connect(SID3);
    socks[SID1].join('club');
    socks[SID1].join('club'); // already in: nothing sent
    socks[SID2].join(['club', 'other']);
    assert.deepEqual((await gw.next()).meta, { rooms: ['club'] });
    const j2 = await gw.next();
    assert.equal(j2.sid, SID2);
    assert.deepEqual(j2.meta, { rooms: ['club', 'other'] });
    socks[SID2].leave('nope'); // not in: nothing sent
    socks[SID2].leave('other');
    const l = await gw.next();
    assert.equal(l.type, 'LEAVE');
    assert.deepEqual(l.meta, { rooms: ['other'] });
    socks[SID1].data = { n: 1 };

    const club = await io.in('club').fetchSockets();
    assert.deepEqual(club.map((s) => s.id).sort(), [SID1, SID2]);
    assert.deepEqual(club.find((s) => s.id === SID1).data, { n: 1 });
    assert.deepEqual((await io.except('club').fetchSockets()).map((s) => s.id), [SID3]);
    assert.equal((await io.fetchSockets()).length, 3);

    io.in('club').socketsJoin('vip');
    const vj = [await gw.next(), await gw.next()];
    assert.deepEqual(vj.map((m) => [m.type, m.meta.rooms[0]]), [['JOIN', 'vip'], ['JOIN', 'vip']]);
    io.except(SID1).socketsLeave('vip');
    const vl = await gw.next();
    assert.deepEqual([vl.type, vl.sid, vl.meta.rooms], ['LEAVE', SID2, ['vip']]);

    const reasons = [];
    socks[SID3].on('disconnect', (r) => reasons.push(r));
    io.in(SID3).disconnectSockets(true);
    const d = await gw.next();
    assert.deepEqual([d.type, d.sid, d.meta], ['DISCONNECT', SID3, { close: true }]);
    assert.deepEqual(reasons, ['server namespace disconnect']);
    assert.equal(io.sockets.size, 2);
  } finally {
    await done();
  }
});

test('DISCONNECT from the gateway: disconnecting with rooms, then disconnect with the reason; acks fail', async () => {
  const events = [];
  let sock;
  const { gw, io, done } = await pair((io) =>
    io.on('connection', (s) => {
      sock = s;
      s.join('r');
      s.on('disconnecting', (reason) => events.push(['disconnecting', reason, [...s.rooms], s.connected]));
      s.on('disconnect', (reason) => events.push(['disconnect', reason, [...s.rooms], s.connected]));
    }),
  );
  try {
    await gw.connect();
    await gw.next('JOIN');
    const pendingCb = new Promise((r) => sock.timeout(5000).emit('q', (err) => r(err)));
    const pendingPromise = sock.emitWithAck('q2');
    await gw.send('DISCONNECT', SID1, { reason: 'transport close' });
    assert.equal((await pendingCb).message, 'socket has been disconnected');
    await assert.rejects(pendingPromise, /socket has been disconnected/);
    assert.deepEqual(events, [
      ['disconnecting', 'transport close', [SID1, 'r'], false],
      ['disconnect', 'transport close', [], false],
    ]);
    assert.equal(io.sockets.size, 0);
    await gw.next((m) => m.type === 'EMIT' && m.data[0] === 'q2');
    assert.equal(sock.emit('after'), false);
    sock.join('late'); // ignored, nothing sent
    assert.deepEqual([...sock.rooms], []);
    await gw.send('EVENT', SID1, null, ['x']); // for a socket that is gone: ignored
    assert.equal(await gw.none((m) => m.type === 'JOIN' || m.type === 'EMIT', 100), null);
  } finally {
    await done();
  }
});

test('DISCONNECT while the middleware runs: neither ACCEPT nor REFUSE', async () => {
  let release;
  const { gw, done } = await pair((io) => {
    io.use((s, next) => (release = next));
    io.on('connection', () => assert.fail('must not connect'));
  });
  try {
    await gw.send('CONNECT', SID1, { handshake: {} });
    await sleep(30);
    await gw.send('DISCONNECT', SID1, { reason: 'transport close' });
    await sleep(30);
    release();
    assert.equal(await gw.none((m) => m.type === 'ACCEPT' || m.type === 'REFUSE', 150), null);
  } finally {
    await done();
  }
});

test('socket.disconnect(): DISCONNECT {close}, local events with "server namespace disconnect"', async () => {
  const { gw, done } = await pair((io) =>
    io.on('connection', (s) => {
      s.on('bye', (close) => s.disconnect(close));
      s.on('disconnect', (reason) => io.emit('gone', s.id, reason));
    }),
  );
  try {
    await gw.connect();
    await gw.send('EVENT', SID1, null, ['bye', true]);
    const d = await gw.next();
    assert.deepEqual([d.type, d.meta], ['DISCONNECT', { close: true }]);
    const g = await gw.next();
    assert.deepEqual(g.data, ['gone', SID1, 'server namespace disconnect']);
  } finally {
    await done();
  }
});

test('recovered CONNECT: rooms restored before handlers, socket.recovered, only the difference is sent', async () => {
  let seen;
  const { gw, done } = await pair((io) => {
    io.use((s, next) => {
      s.leave('old');
      s.join('new');
      next();
    });
    io.on('connection', (s) => (seen = { rooms: [...s.rooms], recovered: s.recovered }));
  });
  try {
    const acc = await gw.connect(SID1, {}, { recovered: true, rooms: [SID1, 'kept', 'old'] });
    assert.equal(acc.type, 'ACCEPT');
    const j = await gw.next();
    assert.deepEqual([j.type, j.meta.rooms], ['JOIN', ['new']]);
    const l = await gw.next();
    assert.deepEqual([l.type, l.meta.rooms], ['LEAVE', ['old']]);
    assert.deepEqual(seen, { rooms: [SID1, 'kept', 'new'], recovered: true });
  } finally {
    await done();
  }
});

test('CONNECT for a known socket is ignored; messages for another namespace are ignored', async () => {
  let n = 0;
  const { gw, done } = await pair((io) => io.on('connection', () => n++));
  try {
    await gw.connect();
    await gw.send('CONNECT', SID1, { handshake: {} });
    await gw.send('CONNECT', SID2, { handshake: {} }, null, '/other');
    assert.equal(await gw.none((m) => m.type === 'ACCEPT', 150), null);
    assert.equal(n, 1);
  } finally {
    await done();
  }
});

test('CONN notices: upgrade updates conn.transport.name and raises upgrade', async () => {
  const seen = [];
  const { gw, done } = await pair(
    (io) =>
      io.on('connection', (s) => {
        s.conn.on('upgrade', (t) => seen.push(['upgrade', t.name, s.conn.transport.name]));
        s.conn.on('packet', (p) => seen.push(['packet', p.type]));
      }),
    { workerOpts: { connEvents: ['packet'] } },
  );
  try {
    await gw.connect();
    await gw.send('CONN', SID1, { event: 'packet', type: 'ping' });
    await gw.send('CONN', SID1, { event: 'upgrade', transport: 'websocket' });
    await waitFor(() => seen.length >= 2);
    assert.deepEqual(seen, [['packet', 'ping'], ['upgrade', 'websocket', 'websocket']]);
  } finally {
    await done();
  }
});

test('heartbeats: PING answered by PONG; the worker PINGs every heartbeat_ms', async () => {
  const { gw, done } = await pair(() => {}, { heartbeatMs: 100 });
  try {
    await gw.send('PING');
    const pong = await gw.next('PONG');
    assert.equal(pong.nsp, '');
    const ping = await gw.next('PING', 500);
    assert.equal(ping.nsp, '');
    assert.equal(ping.sid, '');
  } finally {
    await done();
  }
});

test('gateway silent for 3 heartbeats: sockets disconnect with transport close, HELLO again with a new incarnation', async () => {
  const reasons = [];
  const { gw, hello, io, done } = await pair(
    (io) => io.on('connection', (s) => s.on('disconnect', (r) => reasons.push(r))),
    { heartbeatMs: 100 },
  );
  try {
    await gw.connect();
    const lost = new Promise((r) => io.once('gatewayLost', r));
    const t0 = Date.now();
    const hello2 = await gw.next('HELLO', 2000); // we never answer PINGs or send anything
    const dt = Date.now() - t0;
    assert.equal(await lost, 'heartbeat timeout');
    assert.ok(dt >= 250 && dt < 1000, `gateway declared dead after ${dt} ms`);
    assert.deepEqual(reasons, ['transport close']);
    assert.notEqual(hello2.meta.incarnation, hello.meta.incarnation);
    assert.equal(io.connected, false);
    assert.equal(io.sockets.size, 0);
    // welcomed again: works as before
    await gw.send('WELCOME', '', { version: 1, gateway: gw.gatewayId, heartbeat_ms: 100 });
    const acc = await gw.connect(SID2);
    assert.equal(acc.type, 'ACCEPT');
  } finally {
    await done();
  }
});

test('ERROR "hello" from the gateway: sockets dropped, HELLO again; BYE: sockets dropped, no HELLO, the worker closes (rule 15)', async () => {
  const reasons = [];
  let closed = null;
  const { gw, io, hello, done } = await pair((io) => {
    io.on('connection', (s) => s.on('disconnect', (r) => reasons.push(r)));
    io.on('close', (why) => (closed = why));
  });
  try {
    await gw.connect();
    await gw.send('ERROR', '', { code: 'hello', message: 'who are you', type: 'EMIT' });
    const h2 = await gw.next('HELLO');
    assert.notEqual(h2.meta.incarnation, hello.meta.incarnation);
    assert.deepEqual(reasons, ['transport close']);
    await gw.send('WELCOME', '', { version: 1, gateway: gw.gatewayId, heartbeat_ms: 100 });
    await gw.connect(SID2);
    await gw.send('BYE', '', { reason: 'replaced by a new worker' });
    await sleep(400); // several heartbeats: still no HELLO
    assert.equal(await gw.none((m) => m.type === 'HELLO', 0), null);
    assert.deepEqual(reasons, ['transport close', 'transport close']);
    assert.equal(closed, 'replaced by a new worker');
    assert.equal(io.connected, false);
  } finally {
    await done();
  }
});

test('a WELCOME from a new gateway incarnation disconnects the old sockets', async () => {
  const reasons = [];
  const { gw, io, done } = await pair((io) =>
    io.on('connection', (s) => s.on('disconnect', (r) => reasons.push(r))),
  );
  try {
    await gw.connect();
    await gw.send('WELCOME', '', { version: 1, gateway: 'AnotherGatewayIncarn', heartbeat_ms: 5000 });
    await waitFor(() => reasons.length >= 1);
    assert.deepEqual(reasons, ['transport close']);
    assert.equal(io.connected, true);
    assert.equal((await gw.connect(SID2)).type, 'ACCEPT');
  } finally {
    await done();
  }
});

test('no gateway yet: HELLO is retried until one binds; close() says BYE', async () => {
  const gw = new FakeGateway();
  const io = new Worker({ endpoint: gw.endpoint, autoStart: false, handleSignals: false, logLevel: 'error' });
  io.start();
  await sleep(150);
  await gw.start();
  try {
    const hello = await gw.welcome();
    assert.equal(hello.type, 'HELLO');
    await new Promise((r) => (io.connected ? r() : io.once('ready', r)));
    await io.close({ grace: 0 });
    const bye = await gw.next('BYE');
    assert.deepEqual(bye.meta, { reason: 'worker shutting down' });
  } finally {
    await gw.close();
  }
});

test('close() waits for the gateway BYE so shutdown disconnects still run', async () => {
  const reasons = [];
  const { gw, io, done } = await pair((io) =>
    io.on('connection', (s) => s.on('disconnect', (r) => reasons.push(r))),
  );
  try {
    await gw.connect();
    const closing = io.close(); // default grace: 250 ms
    await gw.send('DISCONNECT', SID1, { reason: 'server shutting down' });
    await gw.send('BYE', '', { reason: 'server shutting down' });
    const t0 = Date.now();
    await closing;
    assert.ok(Date.now() - t0 < 240, 'BYE ends the grace early');
    assert.deepEqual(reasons, ['server shutting down']);
  } finally {
    await done();
  }
});

test('a burst of events: PROCESSED reaches the last seq, reported along the way too', async () => {
  let n = 0;
  const { gw, done } = await pair((io) => io.on('connection', (s) => s.on('e', () => n++)));
  try {
    await gw.connect();
    const N = 3000;
    const frames = [];
    for (let i = 1; i <= N; i++) frames.push(codec.encode('EVENT', '/', SID1, { seq: i }, ['e', i]));
    for (const f of frames) await gw.sendRaw(f);
    const seqs = [];
    for (;;) {
      const p = await gw.next('PROCESSED', 5000);
      seqs.push(p.meta.seq);
      if (p.meta.seq === N) break;
    }
    assert.equal(n, N);
    assert.deepEqual([...seqs].sort((x, y) => x - y), seqs, 'increasing');
  } finally {
    await done();
  }
});
