// readme_example.test.js — the "worker in one screen" of README.md is
// compiled against the worker library and served, so the README cannot
// drift from the code.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startGateway, once, ROOT, BUILD } = require('./sio_harness');

test('README worker example: builds, echoes, acks, and broadcasts to the lobby', async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /```c\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has a C example');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-readme-'));
  const src = path.join(dir, 'example.c');
  const bin = path.join(dir, 'example');
  fs.writeFileSync(src, m[1]);
  const cflags = (process.env.IOGATE_SANITIZE_FLAGS || '').split(' ').filter(Boolean);
  execFileSync('cc', [...cflags, '-Iworkers/c', '-Iipc', src, '-o', bin,
    path.join(BUILD, 'libiogate-worker.a'), '-lzmq', '-ljansson', '-lcrypto'], { cwd: ROOT });
  const gw = await startGateway({ workers: { '/': bin } });
  try {
    const a = gw.client('/');
    const b = gw.client('/');
    await Promise.all([once(a, 'connect'), once(b, 'connect')]);
    const said = once(b, 'said');
    const back = once(a, 'message-back');
    const ack = await a.emitWithAck('message', 'hello');
    assert.equal(ack, 'ok');
    assert.deepEqual(await back, ['hello']);
    assert.deepEqual(await said, ['hello']);
  } finally {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
