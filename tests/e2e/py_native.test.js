// py_native.test.js — the Python worker library as a python-socketio user
// meets it, under the real gateway with the real socket.io-client:
//  - the two "after" examples of workers/python/README.md (*Coming from
//    python-socketio*), taken from the Markdown at run time (blocks marked
//    <!-- file: sync_app.py, run by … --> / async_app.py), run as the gateway's
//    spawned workers and driven through their whole contract;
//  - a middleware that raises: the client gets "Internal server error",
//    never the exception's text, and the worker's log (shared format) has
//    the traceback;
//  - one Python worker shared by two gateways (IOGATE_ENDPOINT="a,b") over
//    tcp:// with CURVE (IOGATE_CURVE_SERVERKEY).
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startGateway, freePort, once, sleep, waitFor, BUILD, ROOT } = require('./sio_harness');

const PY = '/usr/bin/python3';
const LIB = path.join(ROOT, 'workers', 'python');

// The python block marked `<!-- file: NAME_app.py, run by … -->` in the README.
function readmeExample(name) {
  const md = fs.readFileSync(path.join(LIB, 'README.md'), 'utf8');
  const re = new RegExp(`<!-- file: ${name}_app\\.py, run by [^>]*-->\\s*\\n\`\`\`python\\n([\\s\\S]*?)\\n\`\`\``);
  const m = re.exec(md);
  assert.ok(m, `README example ${name} not found`);
  return m[1] + '\n';
}

function tmpdir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  return dir;
}

const connected = async (s) => {
  if (!s.connected) await once(s, 'connect');
  return s;
};

function readmeSuite(name) {
  describe(`README example "${name}" (python-socketio migration) under the gateway`, () => {
    let dir, gw;
    before(async () => {
      dir = tmpdir('iogate-pyex-');
      const file = path.join(dir, `${name}.py`);
      fs.writeFileSync(file, readmeExample(name));
      gw = await startGateway({ workers: { '/': `${PY} ${file}` }, env: { PYTHONPATH: LIB } });
      await gw.waitLog(/worker ready: namespace \/,/, 10000);
    });
    after(async () => {
      if (gw) await gw.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('a client without the token is refused with the application message', async () => {
      const c = gw.client('/', { auth: { token: 'wrong' } });
      const [err] = await once(c, 'connect_error');
      assert.equal(err.message, 'not authorized');
      c.close();
    });

    test('chat reaches the lobby but the sender, the return value is the ack, disconnect is announced', async () => {
      const ann = await connected(gw.client('/', { auth: { token: 'secret', user: 'ann' } }));
      const bob = await connected(gw.client('/', { auth: { token: 'secret', user: 'bob' }, transports: ['websocket'] }));
      const annGot = [];
      ann.on('chat', (m) => annGot.push(m));
      const seen = once(bob, 'chat');
      assert.equal(await ann.timeout(3000).emitWithAck('chat', 'hi'), 'delivered');
      assert.deepEqual((await seen)[0], { user: 'ann', text: 'hi' });
      const left = once(bob, 'left');
      ann.close();
      assert.deepEqual(await left, ['ann']);
      assert.deepEqual(annGot, []);
      bob.close();
    });

    if (name === 'async') {
      test('call() waits for the client\'s ack from inside a handler', async () => {
        const c = await connected(gw.client('/', { auth: { token: 'secret', user: 'cy' } }));
        c.on('question', (q, ack) => ack(`yes to ${q}`));
        assert.equal(await c.timeout(3000).emitWithAck('ask', 'sure?'), 'you said yes to sure?');
        c.close();
      });
    }

    test('the worker logs in the shared format', async () => {
      // re-emitted by the gateway after its own prefix (README "Logs")
      assert.match(gw.logs, /^\S+Z INFO  worker\[\/ pid \d+\] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  iogate\.worker\[\/\] welcomed by gateway /m);
    });
  });
}

readmeSuite('sync');
readmeSuite('async');

describe('a Python middleware that raises', () => {
  let dir, gw;
  before(async () => {
    dir = tmpdir('iogate-pymw-');
    const file = path.join(dir, 'mw.py');
    fs.writeFileSync(
      file,
      [
        'from iogate import ConnectError, Worker',
        'w = Worker()',
        '@w.use',
        'def auth(socket, next):',
        '    if socket.handshake["auth"].get("explicit"):',
        '        next(ConnectError("explicit refusal", {"code": 3}))',
        '        return',
        '    socket.data = socket.handshake["auth"]["token"]  # KeyError without a token',
        '    next()',
        'w.on("echo", lambda sid, x: x)',
        'w.run()',
        'w.close()',
        '',
      ].join('\n'),
    );
    gw = await startGateway({ workers: { '/': `${PY} ${file}` }, env: { PYTHONPATH: LIB } });
    await gw.waitLog(/worker ready: namespace \/,/, 10000);
  });
  after(async () => {
    if (gw) await gw.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the client gets "Internal server error", the log gets the traceback, the worker goes on', async () => {
    const c = gw.client('/', { auth: {} });
    const [err] = await once(c, 'connect_error');
    assert.equal(err.message, 'Internal server error');
    assert.equal(err.data, undefined);
    c.close();
    // each line of the traceback re-emitted with the gateway's worker prefix
    await gw.waitLog(/ERROR iogate\.worker\[\/\] namespace middleware 'auth' raised[^\n]*\n\S+Z INFO  worker\[\/ pid \d+\] Traceback[\s\S]*KeyError: 'token'/);
    const e = gw.client('/', { auth: { explicit: true } });
    const [err2] = await once(e, 'connect_error');
    assert.equal(err2.message, 'explicit refusal');
    assert.deepEqual(err2.data, { code: 3 });
    e.close();
    const ok = await connected(gw.client('/', { auth: { token: 't' } }));
    assert.equal(await ok.timeout(3000).emitWithAck('echo', 'still here'), 'still here');
    ok.close();
  });
});

describe('one Python worker, two gateways, CURVE over tcp://', () => {
  let dir, gwA, gwB, worker;
  const wlog = { text: '' };

  before(async () => {
    dir = tmpdir('iogate-pymgw-');
    const secret = path.join(dir, 'secret');
    const pub = execFileSync(path.join(BUILD, 'iogate-keygen'), [secret]).toString().trim();
    const [epA, epB] = [`tcp://127.0.0.1:${await freePort()}`, `tcp://127.0.0.1:${await freePort()}`];
    gwA = await startGateway({ workers: {}, args: ['--ipc', epA, '--ipc-curve-secret', secret] });
    gwB = await startGateway({ workers: {}, args: ['--ipc', epB, '--ipc-curve-secret', secret] });
    worker = spawn(PY, [path.join(ROOT, 'examples', 'echo', 'echo.py')], {
      env: { ...process.env, IOGATE_ENDPOINT: `${epA}, ${epB}`, IOGATE_NAMESPACE: '/', IOGATE_CURVE_SERVERKEY: pub },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    worker.exited = new Promise((resolve) => worker.on('exit', (code, signal) => resolve({ code, signal })));
    worker.stderr.on('data', (d) => {
      wlog.text += d.toString();
      if (process.env.IOGATE_TEST_VERBOSE) process.stderr.write(d);
    });
    await gwA.waitLog(/worker ready: namespace \/,/, 10000);
    await gwB.waitLog(/worker ready: namespace \/,/, 10000);
  });

  after(async () => {
    if (gwA) await gwA.stop();
    if (gwB) await gwB.stop();
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGTERM');
      await Promise.race([worker.exited, sleep(3000)]);
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('clients of both gateways are served by the one worker, rooms span both', async () => {
    const a = await connected(gwA.client('/', { transports: ['websocket'] }));
    const b = await connected(gwB.client('/'));
    const pids = await Promise.all([a, b].map((s) => s.timeout(3000).emitWithAck('pid')));
    assert.deepEqual(pids, [worker.pid, worker.pid]);
    await b.timeout(3000).emitWithAck('join', 'r');
    const got = once(b, 'room-message');
    assert.equal(await a.timeout(3000).emitWithAck('to-room', 'r', 'across'), true);
    assert.deepEqual(await got, ['across']);
    const fetched = await a.timeout(3000).emitWithAck('fetch');
    assert.deepEqual(fetched.map((s) => s.id).sort(), [a.id, b.id].sort());
    assert.match(wlog.text, /connecting to tcp:\/\/127\.0\.0\.1:\d+ with CURVE/);
  });

  test('losing one gateway leaves the other\'s clients served', async () => {
    const b = await connected(gwB.client('/'));
    await gwA.stop();
    gwA = null;
    await waitFor(() => /gateway tcp:\S+ said BYE/.test(wlog.text), 5000, () => wlog.text.slice(-2000));
    assert.equal(await b.timeout(3000).emitWithAck('message-with-ack', 'still'), 'still');
    assert.equal(worker.exitCode, null);
  });
});
