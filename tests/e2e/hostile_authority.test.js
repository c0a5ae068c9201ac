// hostile_authority.test.js — who may speak for a namespace (ipc/PROTOCOL.md
// rules 10a-10f, issue 10 items 2, 10, 13).  Hostile peers here are raw ZeroMQ
// DEALERs written from PROTOCOL.md (not the worker libraries), connected to
// the real gateway's endpoint the way a spawned worker of another namespace
// could: a HELLO that takes over /b is refused and logged, the real /b
// worker keeps its pid and its clients; a worker key configured for an
// external worker is required and checked; a spawned worker's own key
// works, and its exit after the BYE that follows is not a crash; a PING
// from a connection the gateway does not know is answered with ERROR hello,
// so a library worker re-greets a restarted gateway within a heartbeat
// while CONNECTs wait out the grace; and an emitter may EMIT/BROADCAST into
// the namespaces its key names, and nothing else.
'use strict';
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zmq = require('zeromq');
const { startGateway, freePort, once, sleep, waitFor, BUILD } = require('./sio_harness');

const ECHO = path.join(BUILD, 'examples', 'echo');

function tmpdir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-auth-'));
  fs.chmodSync(d, 0o700);
  return d;
}

function writeKey(dir, name, key) {
  const f = path.join(dir, name);
  fs.writeFileSync(f, key + '\n', { mode: 0o600 });
  return f;
}

// The echo worker, saving the key its gateway gave it (IOGATE_WORKER_KEY)
// where the test can play a process that stole it.
function keyDumper(file) {
  return `/bin/sh -c 'printf %s "$IOGATE_WORKER_KEY" > ${file}; exec ${ECHO}'`;
}

// A raw peer: one DEALER, every message it receives decoded into {type,
// nsp, sid, meta, data}.
class RawPeer {
  constructor(endpoint) {
    this.sock = new zmq.Dealer({ linger: 0 });
    this.sock.connect(endpoint);
    this.inbox = [];
    (async () => {
      try {
        for await (const f of this.sock) {
          if (f.length < 6 || f[0].toString() !== 'IOG1') continue;
          const m = {
            type: f[1].toString(),
            nsp: f[2].toString(),
            sid: f[3].toString(),
            meta: f[4].length ? JSON.parse(f[4].toString()) : {},
            data: f[5].length ? JSON.parse(f[5].toString()) : null,
          };
          this.inbox.push(m);
          if (m.type === 'PING') this.send('PONG', '', '', {});
        }
      } catch {
        /* closed */
      }
    })();
  }
  send(type, nsp, sid, meta, data) {
    return this.sock.send(['IOG1', type, nsp, sid, meta ? JSON.stringify(meta) : '', data ? JSON.stringify(data) : '']);
  }
  hello(nsp, extra = {}) {
    return this.send('HELLO', nsp, '', { version: 1, incarnation: `raw${Math.random().toString(36).slice(2, 12)}`, pid: process.pid, ...extra });
  }
  async next(type, ms = 5000) {
    let m;
    await waitFor(() => (m = this.inbox.find((x) => x.type === type)), ms, () => `no ${type}; got ${this.inbox.map((x) => x.type).join(',')}`);
    this.inbox.splice(this.inbox.indexOf(m), 1);
    return m;
  }
  types() {
    return this.inbox.map((x) => x.type).filter((t) => t !== 'PING');
  }
  close() {
    this.sock.close();
  }
}

async function connected(gw, nsp) {
  const c = gw.client(nsp);
  await once(c, 'connect', 8000);
  return c;
}

describe('who may speak for a namespace', () => {
  test('a takeover of a spawned namespace is refused and logged; its worker keeps its pid and its clients', async () => {
    const dir = tmpdir();
    const ep = `ipc://${dir}/w.sock`;
    const aKey = path.join(dir, 'a.key');
    const gw = await startGateway({ workers: { '/a': keyDumper(aKey), '/b': 'echo' }, args: ['--ipc', ep] });
    const peers = [];
    try {
      const b = await connected(gw, '/b');
      const pid = await b.emitWithAck('pid');
      const stolen = fs.readFileSync(aKey, 'utf8');
      assert.match(stolen, /^[0-9a-f]{64}$/);
      // no key; /a's own key (a spawned worker of /a opening a second
      // DEALER); a made-up key; an empty one
      for (const key of [undefined, stolen, 'x'.repeat(64), '']) {
        const p = new RawPeer(ep);
        peers.push(p);
        await p.hello('/b', key === undefined ? {} : { key });
        const err = await p.next('ERROR');
        assert.equal(err.meta.code, 'auth');
        assert.equal(err.meta.type, 'HELLO');
      }
      await gw.waitLog(/HELLO for \/b refused \(pid \d+, incarnation raw\w+\): no key: the gateway spawns/);
      await gw.waitLog(/HELLO for \/b refused .*: wrong key for this namespace/);
      // a new client of /b: its CONNECT reaches the real worker, never a hostile peer
      const b2 = await connected(gw, '/b');
      assert.equal(await b2.emitWithAck('pid'), pid);
      assert.equal(await b.emitWithAck('pid'), pid);
      assert.deepEqual(await b.emitWithAck('message-with-ack', 'still here'), 'still here');
      for (const p of peers) assert.deepEqual(p.types(), []); // no CONNECT ever reached them
      assert.doesNotMatch(gw.logs, /replaced by a new worker|worker gone \(/);
      assert.equal((gw.logs.match(/worker ready: namespace \/b,/g) || []).length, 1);
      // the /a worker whose key was tried elsewhere still serves /a
      const a = await connected(gw, '/a');
      assert.equal(typeof (await a.emitWithAck('pid')), 'number');
    } finally {
      for (const p of peers) p.close();
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a spawned worker's own key works; an operator's key takes over, and the spawned worker's exit after BYE is not a crash", async () => {
    const dir = tmpdir();
    const ep = `ipc://${dir}/w.sock`;
    const bKey = path.join(dir, 'b.key');
    const op = 'operator-' + 'o'.repeat(24);
    const opFile = writeKey(dir, 'op.key', op);
    // crash limit 2: three counted exits would give up on /b for good.
    // /raw is the raw worker of ipc_raw.test.js: it presents IOGATE_WORKER_KEY.
    const gw = await startGateway({
      workers: { '/b': keyDumper(bKey), '/raw': '/usr/bin/python3 tests/e2e/raw_worker.py' },
      args: ['--ipc', ep, '--worker-crash-limit', '2', '--worker-heartbeat', '1000', '--worker-key', `/b=${opFile}`],
    });
    try {
      await gw.waitLog(/worker ready: namespace \/raw, pid \d+/);
      assert.doesNotMatch(gw.logs, /HELLO for \/raw refused/);
      for (let round = 1; round <= 3; round++) {
        await waitFor(() => (gw.logs.match(/worker ready: namespace \/b, pid \d+, incarnation [0-9a-f]{32}/g) || []).length === round, 8000, () => gw.logs);
        const c = await connected(gw, '/b');
        const pid = await c.emitWithAck('pid');
        const key = fs.readFileSync(bKey, 'utf8');
        const p = new RawPeer(ep);
        await p.hello('/b', { key: op });
        await p.next('WELCOME');
        // the spawned worker got BYE and left; that is no crash
        await waitFor(() => (gw.logs.match(/worker for \/b exited after BYE: not counted as a crash; another worker serves/g) || []).length === round, 8000, () => gw.logs);
        // the key of a process that is gone is dead
        const q = new RawPeer(ep);
        await q.hello('/b', { key });
        assert.equal((await q.next('ERROR')).meta.code, 'auth');
        q.close();
        assert.equal(typeof pid, 'number');
        // the operator's worker leaves: the dismissed namespace's process starts again
        await p.send('BYE', '/b', '', { reason: 'done' });
        await sleep(50);
        p.close();
      }
      await waitFor(() => (gw.logs.match(/worker ready: namespace \/b, pid \d+, incarnation [0-9a-f]{32}/g) || []).length === 4, 8000, () => gw.logs);
      assert.doesNotMatch(gw.logs, /crash loop|restarting worker for \/b in/);
      const c = await connected(gw, '/b');
      assert.equal(typeof (await c.emitWithAck('pid')), 'number');
    } finally {
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--worker-key: an external worker needs the right key; once keys are configured, key-less HELLOs are refused everywhere', async () => {
    const dir = tmpdir();
    const ep = `ipc://${dir}/w.sock`;
    const secret = 'k-' + 'Z'.repeat(30);
    const keyFile = writeKey(dir, 'ext.key', secret);
    const gw = await startGateway({ workers: {}, args: ['--ipc', ep, '--worker-key', `/ext=${keyFile}`] });
    const peers = [];
    try {
      for (const [nsp, key] of [['/ext', undefined], ['/ext', secret + 'x'], ['/ext', secret.slice(0, -1)], ['/other', undefined], ['/other', secret]]) {
        const p = new RawPeer(ep);
        peers.push(p);
        await p.hello(nsp, key === undefined ? {} : { key });
        const err = await p.next('ERROR');
        assert.equal(err.meta.code, 'auth', `${nsp} ${key}`);
      }
      await gw.waitLog(/HELLO for \/ext refused .*: no key: worker keys are configured/);
      await gw.waitLog(/HELLO for \/other refused .*: wrong key/);
      // the library worker with the key
      const w = spawn(ECHO, [], { env: { ...process.env, IOGATE_ENDPOINT: ep, IOGATE_NAMESPACE: '/ext', IOGATE_WORKER_KEY: secret }, stdio: 'ignore' });
      try {
        await gw.waitLog(/worker ready: namespace \/ext, pid (\d+)/);
        assert.equal(+gw.logs.match(/worker ready: namespace \/ext, pid (\d+)/)[1], w.pid);
        const c = await connected(gw, '/ext');
        assert.equal(await c.emitWithAck('pid'), w.pid);
        // and a refused HELLO did not replace it
        const p = new RawPeer(ep);
        peers.push(p);
        await p.hello('/ext', { key: 'nope'.repeat(8) });
        await p.next('ERROR');
        assert.equal(await c.emitWithAck('pid'), w.pid);
      } finally {
        w.kill('SIGTERM');
      }
    } finally {
      for (const p of peers) p.close();
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a PING from a connection the gateway does not know gets ERROR hello', async () => {
    const dir = tmpdir();
    const ep = `ipc://${dir}/w.sock`;
    const gw = await startGateway({ workers: {}, args: ['--ipc', ep] });
    const p = new RawPeer(ep);
    try {
      await p.send('PING', '', '', {});
      const err = await p.next('ERROR');
      assert.equal(err.meta.code, 'hello');
      assert.equal(err.meta.type, 'PING');
      await p.send('PROCESSED', '', '', { seq: 3 });
      assert.equal((await p.next('ERROR')).meta.code, 'hello');
    } finally {
      p.close();
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('after a gateway restart a surviving external worker re-greets within a heartbeat; CONNECTs meanwhile wait and succeed', async () => {
    const dir = tmpdir();
    const ep = `tcp://127.0.0.1:${await freePort()}`;
    const secret = 'restart-key-' + 'q'.repeat(20);
    const keyFile = writeKey(dir, 'ext.key', secret);
    const args = ['--ipc', ep, '--worker-key', `/ext=${keyFile}`, '--worker-heartbeat', '1000', '--worker-grace', '6000'];
    let gw = await startGateway({ workers: {}, args });
    const w = spawn(ECHO, [], { env: { ...process.env, IOGATE_ENDPOINT: ep, IOGATE_NAMESPACE: '/ext', IOGATE_WORKER_KEY: secret }, stdio: 'ignore' });
    try {
      await gw.waitLog(/worker ready: namespace \/ext/);
      const c = await connected(gw, '/ext');
      assert.equal(await c.emitWithAck('pid'), w.pid);
      gw.proc.kill('SIGKILL'); // no BYE: the worker does not know
      await gw.exited;
      gw = await startGateway({ workers: {}, args });
      const t0 = Date.now();
      // a client connecting at once waits for the worker instead of
      // getting "Invalid namespace"
      const c2 = gw.client('/ext');
      const outcome = await Promise.race([once(c2, 'connect', 8000).then(() => 'connect'), once(c2, 'connect_error', 8000).then(([e]) => e.message)]);
      assert.equal(outcome, 'connect');
      await gw.waitLog(/worker ready: namespace \/ext/);
      // one heartbeat (1 s, the worker's PING) plus room for a loaded machine
      assert.ok(Date.now() - t0 < 4000, `re-greeted after ${Date.now() - t0} ms`);
      assert.equal(await c2.emitWithAck('pid'), w.pid);
      assert.doesNotMatch(gw.logs, /Invalid namespace/);
    } finally {
      w.kill('SIGTERM');
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the grace ends: a CONNECT still waiting gets "Namespace unavailable", a later one "Invalid namespace"', async () => {
    const dir = tmpdir();
    const keyFile = writeKey(dir, 'ext.key', 'g'.repeat(32));
    const gw = await startGateway({ workers: {}, args: ['--ipc', `ipc://${dir}/w.sock`, '--worker-key', `/ext=${keyFile}`, '--worker-grace', '800'] });
    try {
      const c = gw.client('/ext');
      const [err] = await once(c, 'connect_error', 5000);
      assert.equal(err.message, 'Namespace unavailable');
      await gw.waitLog(/namespace \/ext: worker gone \(no worker said HELLO within the grace period\)/);
      const c2 = gw.client('/ext');
      const [err2] = await once(c2, 'connect_error', 5000);
      assert.equal(err2.message, 'Invalid namespace');
    } finally {
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an emitter emits and broadcasts into the namespaces its key names, nothing else; it displaces no worker and hears no client', async () => {
    const dir = tmpdir();
    const ep = `ipc://${dir}/w.sock`;
    const ekey = 'emitter-' + 'e'.repeat(24);
    const ef = writeKey(dir, 'emit.key', ekey);
    const gw = await startGateway({ workers: { '/a': 'echo', '/b': 'echo' }, args: ['--ipc', ep, '--emitter-key', `/a=${ef}`] });
    const peers = [];
    try {
      const a = await connected(gw, '/a');
      const b = await connected(gw, '/b');
      const pidA = await a.emitWithAck('pid');
      const got = { a: [], b: [] };
      a.on('news', (...args) => got.a.push(args));
      b.on('news', (...args) => got.b.push(args));
      // wrong key, no key, and a worker key are no emitter keys
      for (const key of ['x'.repeat(32), undefined]) {
        const p = new RawPeer(ep);
        peers.push(p);
        await p.hello('', { role: 'emitter', ...(key ? { key } : {}) });
        assert.equal((await p.next('ERROR')).meta.code, 'auth');
      }
      await gw.waitLog(/emitter HELLO refused .*: wrong emitter key/);
      const e = new RawPeer(ep);
      peers.push(e);
      await e.hello('', { role: 'emitter', key: ekey });
      await e.next('WELCOME');
      await gw.waitLog(/emitter ready/);
      await e.send('BROADCAST', '/a', '', {}, ['news', 'to all of /a']);
      await e.send('EMIT', '/a', a.id, {}, ['news', 'to one']);
      await waitFor(() => got.a.length === 2, 5000, () => JSON.stringify(got));
      assert.deepEqual(got.a, [['to all of /a'], ['to one']]);
      // /b is not its namespace; acks and socket control are not its business
      await e.send('BROADCAST', '/b', '', {}, ['news', 'pwned']);
      assert.equal((await e.next('ERROR')).meta.code, 'auth');
      await e.send('EMIT', '/b', b.id, {}, ['news', 'pwned']);
      assert.equal((await e.next('ERROR')).meta.code, 'auth');
      await e.send('EMIT', '/a', a.id, { ack: 1 }, ['news', 'answer me']);
      assert.equal((await e.next('ERROR')).meta.code, 'meta');
      for (const t of ['JOIN', 'DISCONNECT', 'ACCEPT']) {
        await e.send(t, '/a', a.id, t === 'JOIN' ? { rooms: ['x'] } : {});
        const err = await e.next('ERROR');
        assert.equal(err.meta.code, 'type');
        assert.equal(err.meta.type, t);
      }
      await gw.waitLog(/emitter \w+ \(pid \d+\): BROADCAST into \/b refused: its key \(.*emit\.key\) does not name that namespace/);
      // the worker still serves /a; clients' packets and CONNECTs go to it only
      assert.equal(await a.emitWithAck('pid'), pidA);
      const a2 = await connected(gw, '/a');
      assert.equal(await a2.emitWithAck('message-with-ack', 'hi'), 'hi');
      assert.ok(a.connected && b.connected);
      await sleep(200);
      assert.deepEqual(got.b, []);
      assert.deepEqual(got.a.length, 2);
      assert.deepEqual(e.types().filter((t) => t !== 'PONG'), []);
      assert.doesNotMatch(gw.logs, /replaced by a new worker/);
    } finally {
      for (const p of peers) p.close();
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
