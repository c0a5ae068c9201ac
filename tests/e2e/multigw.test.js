// multigw.test.js — several gateways share one worker per namespace: two
// real gateways (build/iogate) on two ports, each with its own fixed IPC
// endpoint (ipc:// in a private directory, then tcp:// on loopback as
// between machines) and no spawned worker, and one C echo worker (examples/echo)
// started here and connected to both (IOGATE_ENDPOINT="a,b").  Clients of
// both gateways are one namespace: fetchSockets sees them all with their
// data, a room broadcast reaches members on either gateway, and losing one
// gateway leaves the other's clients served.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startGateway, freePort, once, sleep, waitFor, BUILD } = require('./sio_harness');

function suite(kind) {
  describe(`several gateways, one worker (${kind}://)`, () => {
    let dir, gwA, gwB, worker, nameA;
    const wlog = { text: '' };

    before(async () => {
      // Private directories: the IPC endpoints are fixed names inside them.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-mgw-'));
      fs.chmodSync(dir, 0o700);
      const [epA, epB] =
        kind === 'ipc'
          ? [`ipc://${dir}/a.sock`, `ipc://${dir}/b.sock`]
          : [`tcp://127.0.0.1:${await freePort()}`, `tcp://127.0.0.1:${await freePort()}`];
      nameA = epA;
      gwA = await startGateway({ workers: {}, args: ['--ipc', epA] });
      gwB = await startGateway({ workers: {}, args: ['--ipc', epB] });
      // Always the C library's echo: the multi-gateway endpoint list is its
      // feature (IOGATE_ECHO swaps in other languages' workers elsewhere).
      worker = spawn(path.join(BUILD, 'examples', 'echo'), [], {
        env: { ...process.env, IOGATE_ENDPOINT: `${epA},${epB}`, IOGATE_NAMESPACE: '/' },
        stdio: ['ignore', 'inherit', 'pipe'],
      });
      worker.exited = new Promise((resolve) => worker.on('exit', (code, signal) => resolve({ code, signal })));
      worker.stderr.on('data', (d) => {
        wlog.text += d.toString();
        if (process.env.IOGATE_TEST_VERBOSE) process.stderr.write(d);
      });
      await gwA.waitLog(/worker ready: namespace \/,/);
      await gwB.waitLog(/worker ready: namespace \/,/);
    });

    after(async () => {
      if (gwA) await gwA.stop();
      if (gwB) await gwB.stop();
      if (worker && worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGTERM');
        await Promise.race([worker.exited, sleep(3000)]);
      }
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      // The harness checks the gateways' output; this worker is ours to check.
      const san = /(ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:)[^\n]*/.exec(wlog.text);
      if (san) throw new Error(`sanitizer report in worker output: ${san[0]}\n${wlog.text.slice(-4000)}`);
    });

    const connected = async (s) => {
      if (!s.connected) await once(s, 'connect');
      return s;
    };

    let a1, a2, b1, b2;

    test('clients of both gateways are sockets of the one worker', async () => {
      a1 = await connected(gwA.client('/', { transports: ['websocket'] }));
      a2 = await connected(gwA.client('/', { transports: ['polling'] }));
      b1 = await connected(gwB.client('/', { transports: ['websocket'] }));
      b2 = await connected(gwB.client('/', { transports: ['polling', 'websocket'] }));
      const pids = await Promise.all([a1, a2, b1, b2].map((s) => s.emitWithAck('pid')));
      assert.equal(new Set(pids).size, 1);
      assert.equal(pids[0], worker.pid);
      assert.equal(new Set([a1.id, a2.id, b1.id, b2.id]).size, 4);
    });

    test('a client on B emits and acks', async () => {
      b1.emit('message', 'from B', { n: 1 }, Buffer.from([1, 2, 3]));
      const [t, o, bin] = await once(b1, 'message-back');
      assert.equal(t, 'from B');
      assert.deepEqual(o, { n: 1 });
      assert.deepEqual(Buffer.from(bin), Buffer.from([1, 2, 3]));
      assert.deepEqual(await b2.emitWithAck('message-with-ack', 7, 'x'), 7);
      b1.on('ping-back', (v, cb) => cb(`pong:${v}`));
      assert.equal(await b1.emitWithAck('emit-with-ack', 2000), 'pong:ping');
    });

    test('fetchSockets from A returns the sockets of both gateways with their data', async () => {
      for (const [s, name] of [[a1, 'a1'], [a2, 'a2'], [b1, 'b1'], [b2, 'b2']])
        assert.deepEqual(await s.emitWithAck('set-data', { name }), { name });
      await b1.emitWithAck('join', 'blue');
      const list = await a1.emitWithAck('fetch');
      const byId = Object.fromEntries(list.map((e) => [e.id, e]));
      assert.equal(list.length, 4);
      assert.deepEqual(byId[a1.id].data, { name: 'a1' });
      assert.deepEqual(byId[a2.id].data, { name: 'a2' });
      assert.deepEqual(byId[b1.id].data, { name: 'b1' });
      assert.deepEqual(byId[b2.id].data, { name: 'b2' });
      assert.deepEqual(byId[b1.id].rooms, [b1.id, 'blue']);
      assert.deepEqual(byId[a2.id].rooms, [a2.id]);
    });

    test('a room broadcast from A reaches the members on A and on B', async () => {
      await a2.emitWithAck('join', 'r');
      await b1.emitWithAck('join', 'r');
      let strays = 0;
      const stray = () => strays++;
      a1.on('room-message', stray);
      b2.on('room-message', stray);
      const gotA2 = once(a2, 'room-message');
      const gotB1 = once(b1, 'room-message');
      assert.equal(await a1.emitWithAck('to-room', 'r', 'hello', 42), true);
      assert.deepEqual(await gotB1, ['hello', 42]);
      assert.deepEqual(await gotA2, ['hello', 42]);
      // The sender's exception works across gateways too: from B, to r but B1.
      const gotA2again = once(a2, 'room-message');
      assert.equal(await b1.emitWithAck('to-room', 'r', 'again'), true);
      assert.deepEqual(await gotA2again, ['again']);
      await sleep(100);
      assert.equal(strays, 0);
      a1.off('room-message', stray);
      b2.off('room-message', stray);
    });

    test('gateway A goes away: its clients are disconnected, B keeps being served', async () => {
      const a1id = a1.id; // socket.io-client forgets it on disconnect
      const a1gone = once(a1, 'disconnect');
      const r = await gwA.stop({ closeClients: false });
      assert.equal(r.code, 0);
      await a1gone;
      await waitFor(() => wlog.text.includes(`gateway ${nameA} says BYE`), 3000, () => `worker log:\n${wlog.text}`);
      // The worker let A's sockets go ("server shutting down" from A) …
      await waitFor(() => wlog.text.includes(`disconnect ${a1id} server shutting down`), 3000,
        () => `worker log:\n${wlog.text}`);
      // … and carries on for B.
      assert.equal(worker.exitCode, null);
      assert.equal(await b1.emitWithAck('pid'), worker.pid);
      assert.deepEqual(await b2.emitWithAck('message-with-ack', 'still'), 'still');
      const list = await b1.emitWithAck('fetch');
      assert.deepEqual(list.map((e) => e.id).sort(), [b1.id, b2.id].sort());
      const got = once(b2, 'room-message');
      await b2.emitWithAck('join', 'r2');
      assert.equal(await b1.emitWithAck('to-room', 'r2', 'after'), true);
      assert.deepEqual(await got, ['after']);
      // New clients on B are welcome.
      const b3 = await connected(gwB.client('/'));
      assert.equal(await b3.emitWithAck('pid'), worker.pid);
      gwA = null;
    });

    test('the worker returns from its loop once B has said BYE too', async () => {
      const r = await gwB.stop();
      gwB = null;
      assert.equal(r.code, 0);
      const w = await Promise.race([worker.exited, sleep(3000).then(() => null)]);
      assert.ok(w, `worker still running:\n${wlog.text}`);
      assert.equal(w.code, 0);
    });
  });
}

for (const kind of ['ipc', 'tcp']) suite(kind);
