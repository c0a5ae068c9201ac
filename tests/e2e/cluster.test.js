// cluster.test.js — iogate nodes in a @socket.io/redis-adapter cluster
// (issue 16, ipc/REDIS.md).  A real redis-server on a free port in a temp
// dir; two gateways (build/iogate --redis, each with its own C echo worker)
// and one Node.js socket.io 4.8 server with the real @socket.io/redis-adapter
// 8.3 (classic, then sharded), plus @socket.io/redis-emitter 5.1; official
// clients on every node.  Each operation crosses the cluster in both
// directions, what iogate publishes is checked byte for byte against the
// adapter's own encoder (notepack.io), and redis-server is restarted in
// the middle.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { Server } = require('socket.io');
const { io: ioc } = require('socket.io-client');
const { createClient } = require('redis');
const { createAdapter, createShardedAdapter } = require('@socket.io/redis-adapter');
const { Emitter } = require('@socket.io/redis-emitter');
const notepack = require('notepack.io');
const { startGateway, freePort, once, sleep, waitFor } = require('./sio_harness');

async function startRedis(dir, port, extra = []) {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  proc.exited = new Promise((r) => proc.on('exit', r));
  await waitFor(() => /Ready to accept connections/.test(out), 8000, () => `redis-server did not start:\n${out}`);
  return proc;
}

async function stopRedis(proc) {
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    await Promise.race([proc.exited, sleep(5000)]);
  }
}

// Collect events of name on socket s.
function collect(s, name) {
  const got = [];
  s.on(name, (...a) => got.push(a));
  return got;
}

function suite(mode) {
  const sharded = mode === 'sharded';
  describe(`mixed cluster on Redis (${mode} pub/sub)`, () => {
    let dir, rport, redis, gwA, gwB, httpSrv, io, nport, pub, sub, spy, emitter, emitterClient;
    const clients = [];
    const raw = []; // [channel, Buffer] seen by a raw subscriber

    const client = (url) => {
      const s = ioc(url, { forceNew: true, reconnection: false, transports: ['websocket'] });
      clients.push(s);
      return s;
    };

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-redis-'));
      rport = await freePort();
      redis = await startRedis(dir, rport);
      const url = `redis://127.0.0.1:${rport}`;
      pub = createClient({ url });
      sub = pub.duplicate();
      spy = pub.duplicate();
      for (const c of [pub, sub, spy]) c.on('error', () => {}); // the restart below
      await Promise.all([pub.connect(), sub.connect(), spy.connect()]);
      if (sharded) {
        // Only the room's channel: SHARDNUMSUB of the main one is the
        // sharded adapter's server count, which a spy there would change.
        await spy.sSubscribe('socket.io#/#r#', (m, ch) => raw.push([String(ch), m]), true);
      } else {
        await spy.pSubscribe('socket.io#/#*', (m, ch) => raw.push([String(ch), m]), true);
      }
      const args = ['--redis', url, ...(sharded ? ['--redis-sharded'] : [])];
      gwA = await startGateway({ args });
      gwB = await startGateway({ args });
      await gwA.waitLog(/subscribed connection to .* up/);
      await gwB.waitLog(/subscribed connection to .* up/);
      nport = await freePort();
      httpSrv = http.createServer();
      io = new Server(httpSrv, {
        adapter: sharded ? createShardedAdapter(pub, sub) : createAdapter(pub, sub, { requestsTimeout: 3000 }),
      });
      io.on('connection', (s) => {
        s.on('join', (room, ack) => {
          s.join(room);
          if (ack) ack([...s.rooms]);
        });
        s.on('to-room', (room, ...a) => s.to(room).emit('room-message', ...a));
      });
      await new Promise((r) => httpSrv.listen(nport, '127.0.0.1', r));
      emitterClient = pub.duplicate();
      emitterClient.on('error', () => {});
      await emitterClient.connect();
      emitter = new Emitter(emitterClient);
    });

    after(async () => {
      for (const c of clients) c.close();
      if (io) await new Promise((r) => io.close(() => r()));
      await sleep(200); // the adapters' UNSUBSCRIBEs before the clients go
      for (const c of [pub, sub, spy, emitterClient]) if (c) await c.disconnect().catch(() => {});
      if (gwA) await gwA.stop();
      if (gwB) await gwB.stop();
      await stopRedis(redis);
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    let cA, cB, cN;
    test('clients on the three nodes join room r', async () => {
      cA = client(gwA.url);
      cB = client(gwB.url);
      cN = client(`http://127.0.0.1:${nport}`);
      await Promise.all([once(cA, 'connect'), once(cB, 'connect'), once(cN, 'connect')]);
      for (const c of [cA, cB, cN]) {
        const rooms = await c.timeout(4000).emitWithAck('join', 'r');
        assert.ok(rooms.includes('r'));
      }
    });

    test('a Node.js broadcast reaches the iogate nodes, once each', async () => {
      const got = [cA, cB, cN].map((c) => collect(c, 'from-node'));
      io.to('r').emit('from-node', { n: 1 }, [2, 'three'], null);
      io.except('r').emit('from-node', 'not for room r');
      await waitFor(() => got.every((g) => g.length >= 1), 5000);
      await sleep(300);
      for (const g of got) assert.deepEqual(g, [[{ n: 1 }, [2, 'three'], null]]);
    });

    test('binary from Node.js arrives as a Buffer on iogate clients', async () => {
      const got = collect(cB, 'bin');
      io.emit('bin', Buffer.from([1, 2, 3, 255]), { nested: Buffer.from('hi') });
      await waitFor(() => got.length === 1, 5000);
      assert.deepEqual([...got[0][0]], [1, 2, 3, 255]);
      assert.equal(Buffer.from(got[0][1].nested).toString(), 'hi');
    });

    test('an iogate worker broadcast reaches the other iogate node and Node.js, not the sender, once', async () => {
      raw.length = 0;
      const got = [cA, cB, cN].map((c) => collect(c, 'room-message'));
      cA.emit('to-room', 'r', 'hello', 42);
      await waitFor(() => got[1].length >= 1 && got[2].length >= 1, 5000);
      await sleep(300);
      assert.deepEqual(got[0], []);
      assert.deepEqual(got[1], [['hello', 42]]);
      assert.deepEqual(got[2], [['hello', 42]]);
      // Byte for byte as the adapter itself encodes it.
      const mine = raw.filter(([ch]) => ch === 'socket.io#/#r#');
      assert.equal(mine.length, 1, `channels seen: ${raw.map(([c]) => c)}`);
      const bytes = mine[0][1];
      if (sharded) {
        const msg = JSON.parse(bytes.toString());
        assert.deepEqual(Object.keys(msg), ['type', 'data', 'uid', 'nsp']);
        assert.equal(msg.type, 3);
        assert.deepEqual(msg.data, {
          packet: { type: 2, data: ['room-message', 'hello', 42], nsp: '/' },
          opts: { rooms: ['r'], except: [cA.id], flags: {} },
        });
        assert.equal(JSON.stringify(msg), bytes.toString());
      } else {
        const [uid, packet, opts] = notepack.decode(bytes);
        assert.match(uid, /^[0-9a-f]{16}$/);
        assert.deepEqual(packet, { type: 2, data: ['room-message', 'hello', 42], nsp: '/' });
        assert.deepEqual(opts, { rooms: ['r'], except: [cA.id], flags: {} });
        assert.ok(notepack.encode([uid, packet, opts]).equals(bytes), 'notepack encodes the same bytes');
      }
    });

    test('a Node.js client broadcast reaches both iogate nodes', async () => {
      const got = [cA, cB, cN].map((c) => collect(c, 'room-message'));
      cN.emit('to-room', 'r', 'from N');
      await waitFor(() => got[0].length >= 1 && got[1].length >= 1, 5000);
      await sleep(300);
      assert.deepEqual(got, [[['from N']], [['from N']], []]);
    });

    test('an emitter process reaches every node', { skip: sharded && 'redis-emitter 5.1 publishes classic only' }, async () => {
      const got = [cA, cB, cN].map((c) => collect(c, 'from-emitter'));
      emitter.to('r').emit('from-emitter', 7);
      emitter.emit('from-emitter', 'all');
      await waitFor(() => got.every((g) => g.length >= 2), 5000);
      await sleep(300);
      for (const g of got) assert.deepEqual(g, [[7], ['all']]);
    });

    test('fetchSockets from Node.js sees the iogate sockets with handshake and rooms', async () => {
      const sockets = await io.in('r').fetchSockets();
      const ids = sockets.map((s) => s.id).sort();
      assert.deepEqual(ids, [cA.id, cB.id, cN.id].sort());
      const a = sockets.find((s) => s.id === cA.id);
      assert.ok(a.rooms.has('r') && a.rooms.has(cA.id));
      assert.equal(typeof a.handshake.headers, 'object');
      assert.equal(a.handshake.address, '127.0.0.1');
    });

    test('allRooms spans the cluster', { skip: sharded && 'the sharded adapter has no allRooms' }, async () => {
      const rooms = await io.of('/').adapter.allRooms();
      for (const r of ['r', cA.id, cB.id, cN.id]) assert.ok(rooms.has(r), `missing ${r}`);
    });

    test('socketsJoin / socketsLeave from Node.js move iogate sockets', async () => {
      io.in(cA.id).socketsJoin('s');
      await sleep(500);
      const got = [cA, cB].map((c) => collect(c, 'to-s'));
      io.to('s').emit('to-s', 1);
      await waitFor(() => got[0].length === 1, 5000);
      io.in('s').socketsLeave('s');
      await sleep(500);
      io.to('s').emit('to-s', 2);
      await sleep(500);
      assert.deepEqual(got, [[[1]], []]);
    });

    test('redis-server restarts: the gateways reconnect and resubscribe', async () => {
      await stopRedis(redis);
      await gwA.waitLog(/subscribed connection to .* lost/, 8000);
      // local delivery goes on meanwhile; cross-node messages are queued
      const local = collect(cA, 'room-message');
      const cA2 = client(gwA.url);
      await once(cA2, 'connect');
      await cA2.timeout(4000).emitWithAck('join', 'r');
      cA2.emit('to-room', 'r', 'while down');
      await waitFor(() => local.length === 1, 5000);
      redis = await startRedis(dir, rport);
      const before = gwA.logs.match(/subscribed connection to .* up/g).length;
      await waitFor(() => gwA.logs.match(/subscribed connection to .* up/g).length > before, 15000);
      await waitFor(() => gwB.logs.match(/subscribed connection to .* up/g).length > 1, 15000);
      await waitFor(() => pub.isReady && sub.isReady, 15000);
      await sleep(1000); // node-redis resubscribes on its own
      const got = [cB, cN].map((c) => collect(c, 'room-message'));
      cA.emit('to-room', 'r', 'after restart');
      await waitFor(() => got.every((g) => g.some((a) => a[0] === 'after restart')), 8000);
      const fromNode = collect(cA, 'from-node-2');
      io.emit('from-node-2', 1);
      await waitFor(() => fromNode.length === 1, 8000);
      cA2.close();
    });

    test('disconnectSockets from Node.js disconnects an iogate socket', async () => {
      const p = once(cB, 'disconnect', 5000);
      io.in(cB.id).disconnectSockets();
      const [reason] = await p;
      assert.equal(reason, 'io server disconnect');
      await gwB.waitLog(/server namespace disconnect/, 5000);
    });
  });
}

suite('classic');
suite('sharded');

test('ipc/REDIS.md: every json/msgpack example is what notepack.io (the adapter\'s encoder) writes', () => {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'ipc', 'REDIS.md'), 'utf8').split('\n');
  let pairs = 0;
  for (let i = 0; i < doc.length; i++) {
    const m = /^msgpack ([0-9a-f]+)$/.exec(doc[i]);
    if (!m) continue;
    const bytes = Buffer.from(m[1], 'hex');
    const value = notepack.decode(bytes);
    assert.ok(notepack.encode(value).equals(bytes), `line ${i + 1} re-encodes differently`);
    const j = /^json {4}(.*)$/.exec(doc[i - 1]);
    if (j) {
      assert.deepEqual(value, JSON.parse(j[1]), `line ${i + 1}`);
      pairs++;
    }
  }
  assert.ok(pairs >= 2, 'the examples are there');
});

describe('Redis faults', () => {
  let dir, rport, redis, gw, spy;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-redis-'));
    rport = await freePort();
  });
  after(async () => {
    if (spy) await spy.disconnect().catch(() => {});
    if (gw) await gw.stop();
    await stopRedis(redis);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('Redis down at start: local delivery goes on, the queue is bounded, then it connects over a unix socket', async () => {
    const sock = path.join(dir, 'redis.sock');
    const admin = await freePort();
    gw = await startGateway({ args: ['--redis', `unix:${sock}`, '--redis-queue', '2', '--admin-listen', `127.0.0.1:${admin}`] });
    await gw.waitLog(/cannot connect to unix:.*redis\.sock/);
    const a = gw.client();
    const b = gw.client();
    await Promise.all([once(a, 'connect'), once(b, 'connect')]);
    await a.timeout(4000).emitWithAck('join', 'r');
    await b.timeout(4000).emitWithAck('join', 'r');
    const got = collect(b, 'room-message');
    for (let i = 0; i < 5; i++) a.emit('to-room', 'r', i);
    await waitFor(() => got.length === 5, 5000);
    assert.deepEqual(got, [[0], [1], [2], [3], [4]]);
    await gw.waitLog(/down and 2 message\(s\) queued: message to socket\.io#\/#r# dropped/);
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(metrics, /^iogate_redis_dropped_total 3$/m);
    redis = await startRedis(dir, rport, ['--unixsocket', sock, '--unixsocketperm', '700']);
    await gw.waitLog(/2 queued message\(s\) published after the reconnect/, 15000);
    await gw.waitLog(/subscribed connection to unix:.* up, 3 subscription/, 15000);
    spy = createClient({ socket: { path: sock } });
    spy.on('error', () => {});
    await spy.connect();
    const raw = [];
    await spy.pSubscribe('socket.io#/#*', (m, ch) => raw.push(String(ch)), true);
    a.emit('to-room', 'r', 'up');
    await waitFor(() => raw.includes('socket.io#/#r#'), 5000);
  });

  test('a malformed message on a channel is logged and ignored', async () => {
    const p = spy.duplicate();
    await p.connect();
    await p.publish('socket.io#/#', Buffer.from([0xc1]));
    await p.publish('socket.io-request#/#', '{"type":0,');
    await p.disconnect();
    await gw.waitLog(/malformed message on socket\.io#\/# ignored/);
    await gw.waitLog(/malformed message on socket\.io-request#\/# ignored/);
    const c = gw.client();
    await once(c, 'connect'); // still serving
  });
});
