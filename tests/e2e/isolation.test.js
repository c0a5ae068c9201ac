// isolation.test.js — one process per namespace, for real: what happens to
// clients when a worker is killed, hangs, is slow, crash-loops, or is
// added/removed by SIGHUP, and what SIGTERM tells everyone.  Real gateway,
// real C echo workers, real socket.io-client.
'use strict';
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startGateway, once, sleep, waitFor, BUILD } = require('./sio_harness');

const ECHO = path.join(BUILD, 'examples', 'echo');

// Emit `count` numbered messages on `s` ('message' → 'message-back'),
// `window` at a time, and resolve with the numbers that came back, in the
// order they came back.
function pump(s, count, window = 8) {
  return new Promise((resolve) => {
    const got = [];
    let sent = 0;
    const send = () => {
      while (sent < count && sent - got.length < window) s.emit('message', sent++);
    };
    s.on('message-back', (n) => {
      got.push(n);
      if (got.length >= count) resolve(got);
      else send();
    });
    send();
  });
}

function inOrderOnce(list, count) {
  assert.deepEqual(list, [...Array(count).keys()]);
}

describe('process isolation', () => {
  test('kill -9 under load: the other namespace loses nothing; the killed one keeps ids, rooms and order', async () => {
    const gw = await startGateway({ workers: { '/': 'echo', '/custom': 'echo' } });
    try {
      const root = gw.client('/');
      await once(root, 'connect');
      const custom = root.io.socket('/custom'); // same Engine.IO connection
      await once(custom, 'connect');
      const other = gw.client('/custom');
      await once(other, 'connect');
      await custom.emitWithAck('join', 'survivors');
      const ids = [custom.id, other.id];
      const pid = await custom.emitWithAck('pid');
      let disconnects = 0;
      for (const s of [root, custom, other]) s.on('disconnect', () => disconnects++);

      const N = 400;
      const rootDone = pump(root, N);
      const customDone = pump(custom, N);
      const otherDone = pump(other, N);
      await waitFor(async () => true, 10);
      await sleep(30);
      process.kill(pid, 'SIGKILL');
      const [r, c, o] = await Promise.all([rootDone, customDone, otherDone]);
      inOrderOnce(r, N);
      inOrderOnce(c, N);
      inOrderOnce(o, N);
      assert.equal(disconnects, 0, 'no client saw a disconnect');
      assert.deepEqual([custom.id, other.id], ids);
      assert.notEqual(await custom.emitWithAck('pid'), pid);
      const list = await other.emitWithAck('fetch');
      const me = list.find((x) => x.id === custom.id);
      assert.ok(me && me.rooms.includes('survivors'), JSON.stringify(list));
      // and the room still routes broadcasts
      other.emit('to-room', 'survivors', 'hello again');
      assert.deepEqual(await once(custom, 'room-message'), ['hello again']);
    } finally {
      await gw.stop();
    }
  });

  test('100 worker kills under load: the other namespace is untouched', async () => {
    const gw = await startGateway({
      workers: { '/': 'echo', '/victim': 'echo' },
      args: ['--worker-restart', '5', '--worker-restart-max', '20', '--worker-crash-limit', '1000'],
    });
    try {
      const root = gw.client('/', { transports: ['websocket'] });
      const victim = gw.client('/victim', { transports: ['websocket'] });
      await Promise.all([once(root, 'connect'), once(victim, 'connect')]);
      const N = 3000;
      const rootDone = pump(root, N, 16);
      const victimBacks = [];
      victim.on('message-back', (n) => victimBacks.push(n));
      let kills = 0;
      let stop = false;
      const deadline = Date.now() + 40000;
      const killer = (async () => {
        while (kills < 100 && !stop && Date.now() < deadline) {
          let pid;
          try {
            pid = await victim.timeout(3000).emitWithAck('pid');
          } catch {
            continue;
          }
          victim.emit('message', kills);
          process.kill(pid, 'SIGKILL');
          kills++;
        }
      })();
      const r = await rootDone;
      await killer;
      stop = true;
      inOrderOnce(r, N);
      assert.equal(kills, 100, `only ${kills} kills happened while root did ${N} round trips`);
      // every message sent to the victim around a kill arrived, once, in order
      await waitFor(() => victimBacks.length >= 100, 10000, () => `victim got ${victimBacks.length}`);
      inOrderOnce(victimBacks, 100);
      assert.equal(root.connected && victim.connected, true);
    } finally {
      await gw.stop();
    }
  });

  test('a restarted worker may refuse a recovered socket: the client gets a server disconnect', async () => {
    const gw = await startGateway({ workers: { '/': 'echo', '/custom': 'echo' } });
    try {
      const keep = gw.client('/custom');
      const refuse = gw.client('/custom', { auth: { no_recovery: true } });
      await Promise.all([once(keep, 'connect'), once(refuse, 'connect')]);
      const pid = await keep.emitWithAck('pid');
      const gone = once(refuse, 'disconnect', 8000);
      process.kill(pid, 'SIGKILL');
      const [reason] = await gone;
      assert.equal(reason, 'io server disconnect');
      await gw.waitLog(/worker refused recovered socket \S+ \(recovery refused\)/);
      keep.emit('message', 'kept');
      assert.deepEqual(await once(keep, 'message-back', 8000), ['kept']);
      assert.equal(keep.connected, true);
    } finally {
      await gw.stop();
    }
  });

  test('a hung worker (SIGSTOP) is detected by heartbeats, killed and replaced; nothing is lost', async () => {
    const gw = await startGateway({
      workers: { '/': 'echo', '/custom': 'echo' },
      args: ['--worker-heartbeat', '200'],
    });
    try {
      const root = gw.client('/');
      const custom = gw.client('/custom');
      await Promise.all([once(root, 'connect'), once(custom, 'connect')]);
      const pid = await custom.emitWithAck('pid');
      process.kill(pid, 'SIGSTOP');
      const backs = [];
      custom.on('message-back', (n) => backs.push(n));
      for (let i = 0; i < 5; i++) custom.emit('message', i);
      root.emit('message', 'unaffected');
      assert.deepEqual(await once(root, 'message-back'), ['unaffected']);
      await gw.waitLog(/is hung: killing it/, 5000);
      await waitFor(() => backs.length === 5, 8000, () => `got ${JSON.stringify(backs)}`);
      assert.deepEqual(backs, [0, 1, 2, 3, 4]);
      assert.notEqual(await custom.emitWithAck('pid'), pid);
      assert.equal(custom.connected, true);
    } finally {
      await gw.stop();
    }
  });

  test('a slow worker gets at most its credit; past it the sending socket is disconnected, others carry on', async () => {
    const gw = await startGateway({
      workers: { '/': 'echo', '/slow': 'echo' },
      args: ['--worker-credit', '20'],
    });
    try {
      const root = gw.client('/', { transports: ['websocket'] });
      const slow = gw.client('/slow', { transports: ['websocket'] });
      await Promise.all([once(root, 'connect'), once(slow, 'connect')]);
      slow.emit('sleep', 3000); // the worker is busy for 3 s
      const gone = once(slow, 'disconnect', 5000);
      for (let i = 0; i < 50; i++) slow.emit('message', i);
      const t0 = Date.now();
      root.emit('message', 'fast');
      assert.deepEqual(await once(root, 'message-back'), ['fast']);
      // well under the 3 s the slow worker is busy, with room for a loaded machine
      assert.ok(Date.now() - t0 < 2000, `the other namespace was not slowed by the slow worker (${Date.now() - t0} ms)`);
      const [reason] = await gone;
      assert.equal(reason, 'io server disconnect');
      await gw.waitLog(/namespace \/slow: worker has \d+ packets in flight; it is too slow/);
      // the slow worker recovers and serves new sockets
      const again = gw.client('/slow');
      await once(again, 'connect', 8000);
      again.emit('message', 'later');
      assert.deepEqual(await once(again, 'message-back', 8000), ['later']);
    } finally {
      await gw.stop();
    }
  });

  test('a crash-looping worker backs off, then is given up; its namespace answers "Namespace unavailable"', async () => {
    const gw = await startGateway({
      workers: { '/': 'echo', '/broken': 'exit 3' },
      args: ['--worker-restart', '20', '--worker-restart-max', '80', '--worker-crash-limit', '5'],
    });
    try {
      const s = gw.client('/broken');
      const [err] = await once(s, 'connect_error', 8000);
      assert.equal(err.message, 'Namespace unavailable');
      await gw.waitLog(/worker for \/broken exited 5 times within \d+ ms: crash loop, not restarting it/);
      const delays = [...gw.logs.matchAll(/restarting worker for \/broken in (\d+) ms/g)].map((m) => +m[1]);
      assert.deepEqual(delays, [20, 40, 80, 80]);
      const root = gw.client('/');
      await once(root, 'connect');
      root.emit('message', 'fine');
      assert.deepEqual(await once(root, 'message-back'), ['fine']);
    } finally {
      await gw.stop();
    }
  });

  test('SIGTERM: workers hear "server shutting down" for every socket, clients see the transport close, exit 0', async () => {
    const gw = await startGateway({ workers: { '/': 'echo', '/custom': 'echo' } });
    // WebSocket for both: a polling client between two polls learns of the
    // shutdown only from its next request, which may meet a closed port
    // ("transport error") — as with the reference server.
    const a = gw.client('/', { transports: ['websocket'] });
    const b = gw.client('/custom', { transports: ['websocket'] });
    await Promise.all([once(a, 'connect'), once(b, 'connect')]);
    const ids = [a.id, b.id];
    const reasons = Promise.all([once(a, 'disconnect'), once(b, 'disconnect')]);
    const r = await gw.stop({ closeClients: false });
    assert.deepEqual(r, { code: 0, signal: null });
    for (const id of ids) assert.match(gw.logs, new RegExp(`disconnect ${id} server shutting down`));
    const got = (await reasons).map(([x]) => x);
    assert.deepEqual(got, ['transport close', 'transport close']);
  });

  test('SIGHUP adds a namespace and drains a removed one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-hup-'));
    const conf = path.join(dir, 'iogate.conf');
    fs.writeFileSync(conf, `worker = /=${ECHO}\nworker = /old=${ECHO}\n`);
    const gw = await startGateway({ workers: {}, args: ['--config', conf] });
    try {
      const old = gw.client('/old');
      await once(old, 'connect');
      const pidOld = await old.emitWithAck('pid');
      fs.writeFileSync(conf, `worker = /=${ECHO}\nworker = /new=${ECHO}\n`);
      gw.proc.kill('SIGHUP');
      await gw.waitLog(/namespace \/new added/);
      await gw.waitLog(/namespace \/old removed from the configuration: draining/);
      const fresh = gw.client('/new');
      await once(fresh, 'connect', 6000);
      fresh.emit('message', 'new ns');
      assert.deepEqual(await once(fresh, 'message-back'), ['new ns']);
      // the removed namespace keeps its existing socket while it drains ...
      old.emit('message', 'still served');
      assert.deepEqual(await once(old, 'message-back'), ['still served']);
      // ... refuses new ones ...
      const late = gw.client('/old');
      const [err] = await once(late, 'connect_error');
      assert.equal(err.message, 'Invalid namespace');
      // ... and its worker stops once the last socket has gone.
      old.disconnect();
      await gw.waitLog(/namespace \/old drained: stopping its worker/, 6000);
      await waitFor(() => {
        try {
          process.kill(pidOld, 0);
          return false;
        } catch {
          return true;
        }
      }, 5000, 'the drained worker is still running');
    } finally {
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dynamic namespaces: a pattern starts one worker process per matching namespace', async () => {
    const gw = await startGateway({
      workers: { '/': 'echo', '^/room-\\d+$': 'echo' },
      args: ['--worker-idle', '400'],
    });
    try {
      const nope = gw.client('/room-x');
      const refused = once(nope, 'connect_error');
      const a = gw.client('/room-12');
      const b = gw.client('/room-13');
      await Promise.all([once(a, 'connect', 8000), once(b, 'connect', 8000)]);
      assert.equal((await refused)[0].message, 'Invalid namespace');
      const [pa, pb] = await Promise.all([a.emitWithAck('pid'), b.emitWithAck('pid')]);
      assert.notEqual(pa, pb, 'one process per namespace');
      a.emit('message', 'in 12');
      assert.deepEqual(await once(a, 'message-back'), ['in 12']);
      // an unused dynamic namespace's worker is stopped
      b.disconnect();
      await gw.waitLog(/namespace \/room-13 unused for 400 ms: stopping its worker/, 5000);
      a.emit('message', 'still 12');
      assert.deepEqual(await once(a, 'message-back'), ['still 12']);
      // and started again on demand
      const b2 = gw.client('/room-13');
      await once(b2, 'connect', 8000);
      assert.notEqual(await b2.emitWithAck('pid'), pb);
    } finally {
      await gw.stop();
    }
  });
});
