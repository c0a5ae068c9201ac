// recovery.test.js — connection state recovery (issue 13; README
// "Connection state recovery", PROTOCOL.md rule 16a): the real gateway with
// --recovery-window, the real echo workers in C, Python and Node.js, the
// official socket.io-client 4.8 (which speaks it unasked), and the reference
// server (socket.io 4.8 with connectionStateRecovery, in this process) for
// the wire shape of the CONNECT reply and of the offsets.
//
// A transport is lost two ways: the client closes its engine
// (`socket.io.engine.close()`), or a TCP proxy between client and gateway
// destroys both ends of every connection (what a network drop looks like to
// both sides).  Meanwhile another client broadcasts to a room of the lost
// socket and the worker emits to it; on reconnection the socket must have
// its id and rooms back, every missed event exactly once and in order, and
// `recovered === true`.
'use strict';
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const http = require('node:http');
const { Server } = require('socket.io');
const { io } = require('socket.io-client');
const { startGateway, once, sleep, waitFor } = require('./sio_harness');

const LANGS = [
  { name: 'C', cmd: 'echo', sleep: true },
  { name: 'Python', cmd: '/usr/bin/python3 examples/echo/echo.py', sleep: true },
  { name: 'Node.js', cmd: `${process.execPath} examples/echo/echo.js` },
];
const TRANSPORTS = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: { transports: ['polling', 'websocket'] },
};

// A TCP proxy whose connections can all be cut at once, both ends; until
// resume() it then refuses new ones too (a polling client between two
// requests would otherwise just open another).
async function proxy(port) {
  const conns = new Set();
  let down = false;
  const srv = net.createServer((c) => {
    if (down) {
      c.destroy();
      return;
    }
    const u = net.connect(port, '127.0.0.1');
    conns.add(c);
    conns.add(u);
    c.pipe(u);
    u.pipe(c);
    const end = () => {
      c.destroy();
      u.destroy();
      conns.delete(c);
      conns.delete(u);
    };
    c.on('error', end);
    u.on('error', end);
    c.on('close', end);
    u.on('close', end);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    cut() {
      down = true;
      for (const s of conns) s.destroy();
      conns.clear();
    },
    resume() {
      down = false;
    },
    close() {
      this.cut();
      srv.close();
    },
  };
}

// Record every event a client socket gets, in order (the offset the gateway
// appends stays as the last argument, as with the reference).
function recorder(s) {
  const got = [];
  s.onAny((ev, ...args) => got.push([ev, ...args]));
  return got;
}

// Resolves once s is connected (it may be already: connect is not replayed).
const connected = (s) => (s.connected ? Promise.resolve() : once(s, 'connect', 15000));

const payloads = (got, ev) => got.filter((e) => e[0] === ev).map((e) => e[1]);

async function upgraded(s, transport) {
  if (transport !== 'upgrade') return;
  await waitFor(() => s.io.engine && s.io.engine.transport.name === 'websocket', 8000, 'no upgrade');
}

// One round: a connects (through the proxy when cut is set), joins "lobby",
// gets an event; its transport goes; b broadcasts to lobby and a's worker
// emits to a meanwhile; a comes back.
async function lostAndBack(gw, transport, { viaProxy = false, late = false } = {}) {
  const px = viaProxy ? await proxy(gw.port) : null;
  const a = io(px ? px.url : gw.url, { forceNew: true, reconnection: false, ...TRANSPORTS[transport] });
  const b = gw.client('/');
  gw.clients.push(a);
  try {
    await once(a, 'connect', 15000);
    await connected(b);
    await upgraded(a, transport);
    const id = a.id;
    assert.equal(a.recovered, false);
    const got = recorder(a);
    assert.deepEqual((await a.timeout(8000).emitWithAck('join', 'lobby')).sort(), [id, 'lobby'].sort());
    b.emit('to-room', 'lobby', 0);
    await waitFor(() => payloads(got, 'room-message').length === 1, 8000, 'first room message');
    // per-socket state the worker keeps across the loss
    assert.deepEqual(await a.timeout(8000).emitWithAck('set-data', { n: 7 }), { n: 7 });
    let disconnected = null;
    a.once('disconnect', (r) => { disconnected = r; });
    if (late) {
      // The worker is busy for 600 ms, then emits "message-back" to a,
      // whose transport is gone by then: an EMIT to a kept socket.
      a.emit('sleep', 600);
      a.emit('message', 'late');
      await sleep(100);
    }
    if (px) px.cut();
    else a.io.engine.close();
    await waitFor(() => disconnected, 8000, 'no disconnect');
    // the gateway keeps it (it may notice a cut TCP a little later)
    await gw.waitLog(new RegExp(`socket ${id} kept for recovery`), 8000);
    for (let i = 1; i <= 4; i++) b.emit('to-room', 'lobby', i);
    b.emit('to-room', 'lobby', Buffer.from([5])); // a binary one: offset after the placeholder
    // Emit to a itself, by its worker: b asks its worker to broadcast to
    // a's own room (its id), which is how an emit to one socket looks
    // from another (rule 25).
    b.emit('to-room', id, 'direct');
    await sleep(late ? 900 : 300); // let the worker's messages reach the gateway
    // The client comes back now (reconnection is off so that nothing races
    // the broadcasts above): its CONNECT carries its pid and last offset.
    if (px) px.resume();
    a.connect();
    await once(a, 'connect', 15000);
    const mark = got.length;
    assert.equal(a.id, id, 'same socket id');
    assert.equal(a.recovered, true, 'recovered');
    await waitFor(() => payloads(got, 'room-message').length >= 7, 8000, () => `missed events: ${JSON.stringify(got)}`);
    await sleep(200);
    const rm = payloads(got, 'room-message').map((x) => (Buffer.isBuffer(x) ? x[0] : x));
    assert.deepEqual(rm, [0, 1, 2, 3, 4, 5, 'direct'], 'every missed event once, in order');
    if (late) assert.deepEqual(payloads(got, 'message-back'), ['late'], 'the emit made while it was away');
    // rooms are back: the worker sees them and a broadcast reaches a
    assert.deepEqual((await a.timeout(8000).emitWithAck('join', 'other')).sort(), [id, 'lobby', 'other'].sort());
    b.emit('to-room', 'lobby', 'after');
    await waitFor(() => payloads(got, 'room-message').includes('after'), 8000, 'room after recovery');
    // the worker replaced its socket object: one socket of that id, its data kept
    const all = (await a.timeout(8000).emitWithAck('fetch')).filter((x) => x.id === id);
    assert.equal(all.length, 1);
    assert.deepEqual(all[0].data, { n: 7 });
    // the worker saw `recovered`: the echo workers' greeting is not repeated
    assert.deepEqual(payloads(got.slice(mark), 'auth'), []);
    return { a, b, id, got };
  } finally {
    if (px) px.close();
  }
}

describe('connection state recovery', () => {
  for (const lang of LANGS) {
    for (const transport of Object.keys(TRANSPORTS)) {
      test(`${lang.name} worker, ${transport}: engine.close(), broadcasts meanwhile, same id, rooms, every missed event once`, async () => {
        const gw = await startGateway({ workers: { '/': lang.cmd }, args: ['--recovery-window', '10000'] });
        try {
          const { a, id } = await lostAndBack(gw, transport, { late: !!lang.sleep });
          // the worker never heard a disconnect for it
          assert.doesNotMatch(gw.logs, new RegExp(`disconnect ${id} `));
          // and the client's later greeting is not repeated: no second "auth"
          assert.ok(a.connected);
          assert.match(gw.logs, new RegExp(`socket ${id} recovered by its client, \\d+ missed packet`));
        } finally {
          await gw.stop();
        }
      });
    }
    test(`${lang.name} worker: past the window, a new id, recovered false, and the worker heard the original reason`, async () => {
      const gw = await startGateway({ workers: { '/': lang.cmd }, args: ['--recovery-window', '1000'] });
      try {
        const a = gw.client('/', { transports: ['websocket'] });
        await once(a, 'connect', 15000);
        const id = a.id;
        const got = recorder(a);
        await a.timeout(8000).emitWithAck('join', 'lobby');
        a.emit('message', 'x'); // an event with an offset, so the client has one
        await waitFor(() => payloads(got, 'message-back').length === 1, 8000, 'message-back');
        a.io.engine.close();
        await gw.waitLog(new RegExp(`socket ${id} kept for recovery \\(transport close\\)`), 8000);
        await gw.waitLog(new RegExp(`disconnect ${id} transport close rooms=[^\\n]*lobby`), 8000);
        assert.match(gw.logs, new RegExp(`socket ${id} not recovered \\(its recovery window ended\\)`));
        a.connect();
        await once(a, 'connect', 15000);
        assert.notEqual(a.id, id);
        assert.equal(a.recovered, false);
        assert.deepEqual(await a.timeout(8000).emitWithAck('join', 'x'), [a.id, 'x'].sort((p, q) => (p === a.id ? -1 : q === a.id ? 1 : 0)));
      } finally {
        await gw.stop();
      }
    });
  }

  for (const transport of ['polling', 'websocket']) {
    test(`server side: the TCP connection is cut (${transport}), the socket comes back`, async () => {
      // A cut between two polling requests is noticed by the heartbeat
      // (`ping timeout`, also a recoverable reason): keep it short.
      const gw = await startGateway({ args: ['--recovery-window', '10000', '--ping-interval', '500', '--ping-timeout', '1000'] });
      try {
        await lostAndBack(gw, transport, { viaProxy: true });
      } finally {
        await gw.stop();
      }
    });
  }

  test('a forged or stale pid, or a wrong offset, gets a new session and none of another socket\'s packets', async () => {
    const gw = await startGateway({ args: ['--recovery-window', '10000'] });
    try {
      const a = gw.client('/', { transports: ['websocket'] });
      const b = gw.client('/');
      await once(a, 'connect', 15000);
      await connected(b);
      const id = a.id;
      const pid = a._pid;
      assert.equal(typeof pid, 'string');
      const got = recorder(a);
      await a.timeout(8000).emitWithAck('join', 'lobby');
      b.emit('to-room', 'lobby', 0);
      await waitFor(() => a._lastOffset, 8000, 'no offset seen');
      const offset = a._lastOffset;
      a.io.engine.close();
      await gw.waitLog(new RegExp(`socket ${id} kept for recovery`), 8000);
      b.emit('to-room', 'lobby', 'secret');
      await sleep(200);
      // forged: a pid nobody was given
      const f = gw.client('/', { transports: ['websocket'], auth: { pid: 'A'.repeat(20), offset } });
      const fgot = recorder(f);
      await once(f, 'connect', 15000);
      assert.notEqual(f.id, id);
      assert.equal(f.recovered, false);
      // the real pid on another namespace-less guess of the offset: refused,
      // and that ends the session (the worker hears the original reason)
      const g = gw.client('/', { transports: ['websocket'], auth: { pid, offset: 'zz' } });
      const ggot = recorder(g);
      await once(g, 'connect', 15000);
      assert.notEqual(g.id, id);
      await gw.waitLog(new RegExp(`disconnect ${id} transport close`), 8000);
      // stale: now the session is gone, the true pid and offset get nothing
      a.connect();
      await once(a, 'connect', 15000);
      assert.notEqual(a.id, id);
      assert.equal(a.recovered, false);
      await sleep(300);
      for (const rec of [fgot, ggot, got])
        assert.ok(!rec.some((e) => e.includes('secret')), `leaked: ${JSON.stringify(rec)}`);
      assert.equal(gw.proc.exitCode, null);
    } finally {
      await gw.stop();
    }
  });

  test('past the per-socket bound (1000 packets) the session ends at once and the worker hears the original reason', async () => {
    const gw = await startGateway({ args: ['--recovery-window', '30000'] });
    try {
      const a = gw.client('/', { transports: ['websocket'] });
      const b = gw.client('/');
      await once(a, 'connect', 15000);
      await connected(b);
      const id = a.id;
      await a.timeout(8000).emitWithAck('join', 'lobby');
      a.io.engine.close();
      await gw.waitLog(new RegExp(`socket ${id} kept for recovery`), 8000);
      for (let i = 0; i < 1100; i++) b.emit('to-room', 'lobby', i);
      await gw.waitLog(new RegExp(`socket ${id} not recovered \\(more missed packets than the recovery bounds\\)`), 15000);
      await gw.waitLog(new RegExp(`disconnect ${id} transport close`), 8000);
      a.connect();
      await once(a, 'connect', 15000);
      assert.notEqual(a.id, id);
      assert.equal(a.recovered, false);
    } finally {
      await gw.stop();
    }
  });

  test('middleware runs again for a recovered socket, unless --recovery-skip-middlewares', async () => {
    for (const skip of [false, true]) {
      const gw = await startGateway({
        args: ['--recovery-window', '10000', ...(skip ? ['--recovery-skip-middlewares'] : [])],
      });
      try {
        // echo.c's middleware refuses a recovered socket whose auth says so
        const a = gw.client('/', { transports: ['websocket'], auth: { no_recovery: true } });
        await once(a, 'connect', 15000);
        const id = a.id;
        a.emit('message', 'x');
        await once(a, 'message-back', 8000);
        a.io.engine.close();
        await gw.waitLog(new RegExp(`socket ${id} kept for recovery`), 8000);
        a.connect();
        if (skip) {
          await once(a, 'connect', 15000);
          assert.equal(a.id, id);
          assert.equal(a.recovered, true);
        } else {
          const [err] = await once(a, 'connect_error', 15000);
          assert.equal(err.message, 'recovery refused');
        }
      } finally {
        await gw.stop();
      }
    }
  });

  test('across a worker restart during the window: the new worker gets the socket back with its rooms', async () => {
    const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--recovery-window', '15000'] });
    try {
      const a = gw.client('/', { transports: ['websocket'] });
      const b = gw.client('/');
      await once(a, 'connect', 15000);
      await connected(b);
      const id = a.id;
      const got = recorder(a);
      await a.timeout(8000).emitWithAck('join', 'lobby');
      b.emit('to-room', 'lobby', 0);
      await waitFor(() => payloads(got, 'room-message').length === 1, 8000, 'first');
      const pid = await b.timeout(8000).emitWithAck('pid');
      a.io.engine.close();
      await gw.waitLog(new RegExp(`socket ${id} kept for recovery`), 8000);
      b.emit('to-room', 'lobby', 1);
      await sleep(300);
      process.kill(pid, 'SIGKILL');
      await waitFor(async () => {
        try {
          return (await b.timeout(2000).emitWithAck('pid')) !== pid;
        } catch {
          return false;
        }
      }, 15000, 'no new worker');
      b.emit('to-room', 'lobby', 2);
      await sleep(300);
      a.connect();
      await once(a, 'connect', 15000);
      assert.equal(a.id, id);
      assert.equal(a.recovered, true);
      await waitFor(() => payloads(got, 'room-message').length >= 3, 8000, () => JSON.stringify(got));
      assert.deepEqual(payloads(got, 'room-message'), [0, 1, 2]);
      assert.deepEqual((await a.timeout(8000).emitWithAck('join', 'x')).sort(), [id, 'lobby', 'x'].sort());
    } finally {
      await gw.stop();
    }
  });

  test('per namespace from a config file: on for /a, off for /b', async () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-rec-')), 'gw.conf');
    fs.writeFileSync(file, 'recovery-window = /a=5000\nrecovery-skip-middlewares = /a\n');
    const gw = await startGateway({ workers: { '/a': 'echo', '/b': 'echo' }, args: ['--config', file] });
    try {
      const a = gw.client('/a', { transports: ['websocket'] });
      const b = gw.client('/b', { transports: ['websocket'] });
      await once(a, 'connect', 15000);
      await connected(b);
      assert.equal(typeof a._pid, 'string');
      assert.equal(b._pid, undefined);
    } finally {
      await gw.stop();
    }
  });

  test('bad values are refused at start', async () => {
    const { spawnSync } = require('node:child_process');
    const path = require('node:path');
    const bin = path.join(process.env.IOGATE_BUILD || path.join(__dirname, '..', '..', 'build'), 'iogate');
    for (const bad of [['--recovery-window', 'soon'], ['--recovery-window', '/a'], ['--recovery-skip-middlewares=maybe']]) {
      const r = spawnSync(bin, bad, { encoding: 'utf8' });
      assert.equal(r.status, 2, bad.join(' '));
      assert.match(r.stderr, /recovery/);
    }
  });

  test('several gateways, one worker: back on the same gateway it recovers; on another it cannot', async () => {
    const { spawn } = require('node:child_process');
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const { BUILD } = require('./sio_harness');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-rec-mgw-'));
    const [epA, epB] = [`ipc://${dir}/a.sock`, `ipc://${dir}/b.sock`];
    const gwA = await startGateway({ workers: {}, args: ['--ipc', epA, '--recovery-window', '1500'] });
    const gwB = await startGateway({ workers: {}, args: ['--ipc', epB, '--recovery-window', '1500'] });
    let wlog = '';
    const worker = spawn(path.join(BUILD, 'examples', 'echo'), [], {
      env: { ...process.env, IOGATE_ENDPOINT: `${epA},${epB}`, IOGATE_NAMESPACE: '/' },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    worker.stderr.on('data', (d) => { wlog += d.toString(); });
    const exited = new Promise((r) => worker.on('exit', r));
    try {
      await gwA.waitLog(/worker ready: namespace \/,/, 8000);
      await gwB.waitLog(/worker ready: namespace \/,/, 8000);
      // back to A: recovered
      const a = gwA.client('/', { transports: ['websocket'] });
      await once(a, 'connect', 15000);
      const id = a.id;
      a.emit('message', 1);
      await once(a, 'message-back', 8000);
      a.io.engine.close();
      await gwA.waitLog(new RegExp(`socket ${id} kept for recovery`), 8000);
      a.connect();
      await once(a, 'connect', 15000);
      assert.equal(a.id, id);
      assert.equal(a.recovered, true);
      // to B with A's pid and offset: a new socket there; A's kept one ends
      // with its window and the worker hears the original reason
      a.emit('message', 2);
      await once(a, 'message-back', 8000);
      const auth = { pid: a._pid, offset: a._lastOffset };
      a.io.engine.close();
      await gwA.waitLog(new RegExp(`socket ${id} kept for recovery[^\n]*\n[^]*socket ${id} kept for recovery`), 8000);
      const b = gwB.client('/', { transports: ['websocket'], auth });
      await once(b, 'connect', 15000);
      assert.notEqual(b.id, id);
      assert.equal(b.recovered, false);
      await waitFor(() => new RegExp(`disconnect ${id} transport close`).test(wlog), 8000, () => `worker log:\n${wlog}`);
      b.close();
      a.close();
    } finally {
      await gwA.stop();
      await gwB.stop();
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('off by default: no pid in the CONNECT reply, no offsets', async () => {
    const gw = await startGateway();
    try {
      const a = gw.client('/', { transports: ['websocket'] });
      await once(a, 'connect', 15000);
      assert.equal(a._pid, undefined);
      a.emit('message', 'x');
      assert.deepEqual(await once(a, 'message-back', 8000), ['x']);
    } finally {
      await gw.stop();
    }
  });
});

// ---- the wire shape, against the reference ----------------------------------

// Raw Engine.IO polling: the exact packets.
async function rawSession(url) {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const open = JSON.parse((await (await fetch(base)).text()).slice(1));
  const u = `${base}&sid=${open.sid}`;
  const queue = [];
  return {
    send: (...p) => fetch(u, { method: 'POST', body: p.join('\x1e') }).then((r) => r.text()),
    async next(pred, ms = 8000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        while (queue.length) {
          const p = queue.shift();
          if (p === '2') await this.send('3');
          else if (pred(p)) return p;
        }
        const t = await (await fetch(u)).text();
        queue.push(...t.split('\x1e'));
      }
      throw new Error('packet not seen');
    },
  };
}

// What a packet looks like with ids, pids and offsets abstracted.
function shape(p) {
  const m = /^(\d\d)\d*(.*)$/s.exec(p); // type, then an ack id (left out)
  const v = JSON.parse(m[2]);
  const abs = (x) => (typeof x === 'string' && x.length >= 7 ? '<string>' : x); // ids, pids, offsets
  return [m[1], Array.isArray(v) ? v.map(abs) : Object.fromEntries(Object.keys(v).sort().map((k) => [k, typeof v[k]]))];
}

test('the CONNECT reply and the offset argument have the reference\'s shape', async () => {
  const srv = http.createServer();
  const ref = new Server(srv, { connectionStateRecovery: { maxDisconnectionDuration: 10000 } });
  ref.on('connection', (s) => {
    s.on('message', (...args) => s.emit('message-back', ...args));
    s.on('message-with-ack', (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    s.on('to-room', (room, ...rest) => s.to(room).emit('room-message', ...rest));
    s.on('emit-with-ack', (ms, ack) => {
      s.timeout(ms).emit('ping-back', 'ping', () => {});
      ack();
    });
    s.on('join', (room, ack) => {
      s.join(room);
      ack([...s.rooms]);
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const gw = await startGateway({ args: ['--recovery-window', '10000'] });
  try {
    const shapes = [];
    for (const url of [`http://127.0.0.1:${srv.address().port}`, gw.url]) {
      const c = await rawSession(url);
      await c.send('40');
      const connect = await c.next((p) => p.startsWith('40'));
      const pid = JSON.parse(connect.slice(2)).pid;
      assert.equal(typeof pid, 'string');
      await c.send('42["message","x",1]');
      const echoed = await c.next((p) => p.startsWith('42["message-back"'));
      await c.send('421["join","r"]');
      await c.next((p) => p.startsWith('431'));
      // a second client broadcasts into the room
      const d = await rawSession(url);
      await d.send('40');
      await d.next((p) => p.startsWith('40'));
      await d.send('42["to-room","r","hi"]');
      const bc = await c.next((p) => p.startsWith('42["room-message"'));
      // an emit that asks for an ack gets no offset, in both
      await c.send('422["emit-with-ack",1000]');
      const acked = await c.next((p) => /^42\d+\["ping-back"/.test(p));
      assert.deepEqual(JSON.parse(acked.slice(acked.indexOf('['))), ['ping-back', 'ping']);
      shapes.push({ connect: shape(connect), echoed: shape(echoed), bc: shape(bc), acked: shape(acked) });
      // the offset is a string, the last argument
      const off = JSON.parse(bc.slice(2)).pop();
      assert.equal(typeof off, 'string');
    }
    assert.deepEqual(shapes[1], shapes[0]);
    assert.deepEqual(shapes[0].connect, ['40', { pid: 'string', sid: 'string' }]);
  } finally {
    ref.close();
    await gw.stop();
  }
});
