// multigw_curve.test.js — the Node.js library serving several gateways
// (comma list in IOGATE_ENDPOINT, one DEALER each, PROTOCOL.md rule 2) over
// CURVE (IOGATE_CURVE_SERVERKEY, rule 1a): two real gateways (build/iogate)
// on tcp:// with one CURVE secret, no spawned worker, and the Node echo
// (examples/echo/echo.js) started here and connected to both; clients are
// the real socket.io-client.  Plus the refusals at start (bad key, an
// endpoint given twice) that used to connect to nothing silently.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('..');
const { startGateway, freePort, once, sleep, waitFor, ROOT, BUILD } = require('../../../tests/e2e/sio_harness');

const connected = async (s) => {
  if (!s.connected) await once(s, 'connect');
  return s;
};

describe('one Node worker, two gateways, CURVE', () => {
  let dir, gwA, gwB, worker, epA, pub;
  const wlog = { text: '' };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-node-mgw-'));
    const secret = path.join(dir, 'gw.key');
    pub = execFileSync(path.join(BUILD, 'iogate-keygen'), [secret]).toString().trim();
    epA = `tcp://127.0.0.1:${await freePort()}`;
    const epB = `tcp://127.0.0.1:${await freePort()}`;
    gwA = await startGateway({ workers: {}, args: ['--ipc', epA, '--ipc-curve-secret', secret] });
    gwB = await startGateway({ workers: {}, args: ['--ipc', epB, '--ipc-curve-secret', secret] });
    worker = spawn(process.execPath, [path.join(ROOT, 'examples', 'echo', 'echo.js')], {
      env: { ...process.env, IOGATE_ENDPOINT: ` ${epA} , ${epB},`, IOGATE_NAMESPACE: '/', IOGATE_CURVE_SERVERKEY: pub },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    worker.exited = new Promise((resolve) => worker.on('exit', (code, signal) => resolve({ code, signal })));
    worker.stderr.on('data', (d) => {
      wlog.text += d.toString();
      if (process.env.IOGATE_TEST_VERBOSE) process.stderr.write(d);
    });
    await gwA.waitLog(/worker ready: namespace \/,/, 8000);
    await gwB.waitLog(/worker ready: namespace \/,/, 8000);
  });

  after(async () => {
    if (gwA) await gwA.stop();
    if (gwB) await gwB.stop();
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGTERM');
      await Promise.race([worker.exited, sleep(3000)]);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  let a1, a2, b1, b2;

  test('clients of both gateways are sockets of the one worker; its log names both links and CURVE', async () => {
    a1 = await connected(gwA.client('/', { transports: ['websocket'] }));
    a2 = await connected(gwA.client('/', { transports: ['polling'] }));
    b1 = await connected(gwB.client('/', { transports: ['websocket'] }));
    b2 = await connected(gwB.client('/'));
    const pids = await Promise.all([a1, a2, b1, b2].map((s) => s.emitWithAck('pid')));
    assert.deepEqual(new Set(pids), new Set([worker.pid]));
    assert.match(wlog.text, new RegExp(`INFO  iogate\\.worker\\[/\\] worker for / connecting to ${epA.replace(/\./g, '\\.')} \\(CURVE\\)`));
    assert.equal((wlog.text.match(/ welcomes \/ /g) || []).length, 2);
  });

  test('fetchSockets sees the sockets of both gateways; a room broadcast reaches members on both, sender excepted', async () => {
    for (const [s, name] of [[a1, 'a1'], [a2, 'a2'], [b1, 'b1'], [b2, 'b2']]) {
      assert.deepEqual(await s.emitWithAck('set-data', { name }), { name });
    }
    const list = await b2.emitWithAck('fetch');
    assert.deepEqual(list.map((e) => e.data.name).sort(), ['a1', 'a2', 'b1', 'b2']);
    await a2.emitWithAck('join', 'r');
    await b1.emitWithAck('join', 'r');
    await b2.emitWithAck('join', 'r');
    let strays = 0;
    const stray = () => strays++;
    a1.on('room-message', stray);
    b2.on('room-message', stray);
    const gotA2 = once(a2, 'room-message');
    const gotB1 = once(b1, 'room-message');
    assert.equal(await b2.emitWithAck('to-room', 'r', 'hello', 42), true);
    assert.deepEqual(await gotA2, ['hello', 42]);
    assert.deepEqual(await gotB1, ['hello', 42]);
    await sleep(100);
    assert.equal(strays, 0, 'the sender and non-members got nothing');
    a1.off('room-message', stray);
    b2.off('room-message', stray);
  });

  test('emits with acks go to the socket\'s own gateway', async () => {
    b1.on('ping-back', (v, cb) => cb(`pong:${v}`));
    a2.on('ping-back', (v, cb) => cb(`pong-a:${v}`));
    assert.equal(await b1.emitWithAck('emit-with-ack', 3000), 'pong:ping');
    assert.equal(await a2.emitWithAck('emit-with-ack', 3000), 'pong-a:ping');
  });

  test('gateway A goes away: only its sockets disconnect, B is still served', async () => {
    const a1id = a1.id;
    const r = await gwA.stop({ closeClients: false });
    gwA = null;
    assert.equal(r.code, 0);
    await waitFor(() => wlog.text.includes(`disconnect ${a1id} server shutting down`), 4000, () => `worker log:\n${wlog.text}`);
    assert.equal(worker.exitCode, null);
    assert.equal(await b1.emitWithAck('pid'), worker.pid);
    const list = await b1.emitWithAck('fetch');
    assert.deepEqual(list.map((e) => e.id).sort(), [b1.id, b2.id].sort());
    const b3 = await connected(gwB.client('/'));
    assert.equal(await b3.emitWithAck('message-with-ack', 'still'), 'still');
  });

  test('once B has said BYE too, the worker closes and its process ends with 0 (rule 15)', async () => {
    const r = await gwB.stop();
    gwB = null;
    assert.equal(r.code, 0);
    const w = await Promise.race([worker.exited, sleep(5000).then(() => null)]);
    assert.ok(w, `worker still running:\n${wlog.text}`);
    assert.equal(w.code, 0);
    assert.match(wlog.text, /every gateway has said BYE: worker for \/ closing/);
  });
});

test('a worker without the CURVE key never reaches a CURVE gateway; a bad key or a repeated endpoint throws at construction', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-node-curve-'));
  const secret = path.join(dir, 'gw.key');
  const pub = execFileSync(path.join(BUILD, 'iogate-keygen'), [secret]).toString().trim();
  const other = execFileSync(path.join(BUILD, 'iogate-keygen'), [path.join(dir, 'other.key')]).toString().trim();
  const ep = `tcp://127.0.0.1:${await freePort()}`;
  const gw = await startGateway({ workers: {}, args: ['--ipc', ep, '--ipc-curve-secret', secret] });
  const opts = { endpoint: ep, namespace: '/', autoStart: false, handleSignals: false, logLevel: 'error' };
  try {
    for (const key of ['', other]) {
      const io = new Worker({ ...opts, curveServerKey: key });
      let ready = false;
      io.on('ready', () => (ready = true));
      io.start();
      await sleep(600);
      assert.equal(ready, false, `worker with key "${key}" must not be welcomed`);
      await io.close({ grace: 0 });
    }
    assert.doesNotMatch(gw.logs, /worker ready/);
    const io = new Worker({ ...opts, curveServerKey: pub });
    const ready = once(io, 'ready', 5000);
    io.start();
    const [info] = await ready;
    assert.equal(info.endpoint, ep);
    await io.close({ grace: 0 });
  } finally {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => new Worker({ ...opts, curveServerKey: 'short' }), /not a Z85 public key/);
  assert.throws(() => new Worker({ ...opts, endpoint: `${ep},${ep}` }), /given twice/);
  assert.throws(() => new Worker({ ...opts, endpoint: ' , ' }), /no gateway endpoint/);
});
