// migration.test.js — the "Migrating from socket.io" guide of README.md is
// executed as printed: the block marked <!-- file: before.js, run by … -->
// runs as a real socket.io server (npm), the one marked
// <!-- file: after.js, run by … --> as a
// worker spawned by the real gateway (build/iogate) with `iogate-worker`
// resolving to this package, and the same socket.io-client session against
// both must observe the same things.  So the guide cannot drift from
// either library.  The README's first example (require('iogate-worker'))
// is loaded the same way.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { io: ioc } = require('socket.io-client');
const { startGateway, freePort, once, waitFor, sleep, ROOT } = require('../../../tests/e2e/sio_harness');

const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

// marker: "file: before.js" — tests/e2e/readme_examples.test.js checks that
// every block marked "run by" this file is named here.
function block(marker) {
  const m = new RegExp(`<!-- ${marker.replace('.', '\\.')}, run by [^>]*-->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(README);
  assert.ok(m, `README.md has a js block marked <!-- ${marker}, run by … -->`);
  return m[1];
}

// A directory where require('iogate-worker') is this package, as after
// `npm install ./workers/node` (a symlink, which is what npm makes too).
function appDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-node-mig-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(dir, 'node_modules', 'iogate-worker'));
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'socket.io'), path.join(dir, 'node_modules', 'socket.io'));
  return dir;
}

const opts = (auth, query = {}) => ({ forceNew: true, reconnection: false, auth, query });

// The session the guide's application is driven with; returns what the
// clients saw, in a form that does not depend on ids or ports.
async function session(url) {
  const seen = {};
  const bad = ioc(url, opts({}));
  const [err] = await once(bad, 'connect_error');
  seen.refused = { message: err.message, data: err.data };
  bad.close();

  const ann = ioc(url, opts({ user: 'ann' }, { room: 'r1' }));
  const annWelcome = once(ann, 'welcome');
  await once(ann, 'connect');
  seen.annWelcome = await annWelcome;
  const bob = ioc(url, opts({ user: 'bob' }));
  const bobWelcome = once(bob, 'welcome');
  await once(bob, 'connect');
  seen.bobWelcome = await bobWelcome;

  let annGotOwn = 0;
  ann.on('said', () => annGotOwn++);
  const bobHears = once(bob, 'said');
  seen.sayAck = await ann.timeout(3000).emitWithAck('say', 'hello');
  seen.bobHeard = await bobHears;
  seen.who = await bob.timeout(3000).emitWithAck('who');
  await sleep(100);
  seen.annGotOwn = annGotOwn;
  ann.close();
  bob.close();
  return seen;
}

test('README migration guide: the socket.io "before" and the iogate "after" behave the same', async () => {
  const before = block('file: before.js');
  const after = block('file: after.js');
  const dir = appDir();
  fs.writeFileSync(path.join(dir, 'before.js'), before);
  fs.writeFileSync(path.join(dir, 'after.js'), after);
  const port = await freePort();
  const ref = spawn(process.execPath, [path.join(dir, 'before.js')], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'inherit', 'inherit'] });
  const gw = await startGateway({ workers: { '/': `node ${path.join(dir, 'after.js')}` } });
  try {
    // The reference is up once its port answers the Engine.IO handshake.
    await waitFor(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`)).status === 200;
      } catch {
        return false;
      }
    }, 10000, 'the socket.io "before" example did not listen');
    const want = await session(`http://127.0.0.1:${port}`);
    const got = await session(gw.url);
    assert.deepEqual(got, want);
    assert.deepEqual(got, {
      refused: { message: 'not authorized', data: { hint: 'send auth.user' } },
      annWelcome: ['ann', 'r1'],
      bobWelcome: ['bob', 'none'],
      sayAck: { ok: true, rooms: ['lobby', 'user:ann'] },
      bobHeard: ['ann', 'hello'],
      who: ['ann', 'bob'],
      annGotOwn: 0,
    });
  } finally {
    ref.kill('SIGTERM');
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('README first example: require(\'iogate-worker\') as printed loads, serves, and refuses without a token', async () => {
  const m = /```js\n(const \{ Worker \} = require\('iogate-worker'\);[\s\S]*?)```/.exec(README);
  assert.ok(m, 'README.md starts with an example requiring iogate-worker');
  const dir = appDir();
  fs.writeFileSync(path.join(dir, 'app.js'), m[1]);
  const gw = await startGateway({ workers: { '/': `node ${path.join(dir, 'app.js')}` } });
  try {
    const bad = gw.client('/');
    const [err] = await once(bad, 'connect_error');
    assert.equal(err.message, 'not authorized');
    assert.deepEqual(err.data, { hint: 'send a token' });
    const a = gw.client('/', { auth: { token: 'x' } });
    const b = gw.client('/', { auth: { token: 'y' } });
    await Promise.all([once(a, 'connect'), once(b, 'connect')]);
    const heard = once(b, 'message');
    assert.equal(await a.timeout(3000).emitWithAck('message', 'hi'), 'ok');
    assert.deepEqual(await heard, [a.id, 'hi']);
  } finally {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
