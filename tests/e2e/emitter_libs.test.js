// emitter_libs.test.js — the emitter classes of the three worker libraries
// (C workers/c/emitter.c through examples/emit, Python iogate.emitter,
// Node.js lib/emitter.js) against the real gateway and real echo workers:
// each broadcasts to a room and emits to one socket of a namespace its key
// names, is refused (EmitterError / exit 1, code auth) for another
// namespace and with a wrong key, and the namespace's worker goes on
// serving its clients.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startGateway, once, waitFor, BUILD, ROOT } = require('./sio_harness');
const { Emitter } = require('../../workers/node');

const KEY = 'libs-emitter-' + 'k'.repeat(20);

describe('emitter classes of the worker libraries', () => {
  let gw, dir, ep, inRoom, outside, other, got;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-emit-'));
    fs.chmodSync(dir, 0o700);
    fs.writeFileSync(path.join(dir, 'emit.key'), KEY, { mode: 0o600 });
    ep = `ipc://${dir}/w.sock`;
    gw = await startGateway({ workers: { '/a': 'echo', '/b': 'echo' }, args: ['--ipc', ep, '--emitter-key', `/a=${dir}/emit.key`] });
    inRoom = gw.client('/a');
    outside = gw.client('/a');
    other = gw.client('/b');
    await Promise.all([once(inRoom, 'connect'), once(outside, 'connect'), once(other, 'connect')]);
    await inRoom.emitWithAck('join', 'lobby');
    got = { inRoom: [], outside: [], other: [] };
    for (const [k, s] of Object.entries({ inRoom, outside, other })) s.on('news', (...a) => got[k].push(a));
  });

  after(async () => {
    if (gw) await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function reset() {
    for (const k of Object.keys(got)) got[k].length = 0;
  }

  async function expectDelivered(tag) {
    // the room broadcast reaches the member only; the emit its one socket
    await waitFor(() => got.inRoom.length === 1 && got.outside.length === 1, 5000, () => JSON.stringify(got));
    assert.deepEqual(got.inRoom, [[`${tag} room`]]);
    assert.deepEqual(got.outside, [[`${tag} one`]]);
    assert.deepEqual(got.other, []);
    assert.equal(await inRoom.emitWithAck('message-with-ack', 'ok'), 'ok');
  }

  test('C (examples/emit over workers/c/emitter.c)', async () => {
    reset();
    const env = { ...process.env, IOGATE_ENDPOINT: ep, IOGATE_EMITTER_KEY: KEY };
    const emit = path.join(BUILD, 'examples', 'emit');
    let r = spawnSync(emit, ['/a', 'news', '["c room"]', '--room', 'lobby'], { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 0, r.stderr);
    r = spawnSync(emit, ['/a', 'news', '["c one"]', '--to', outside.id], { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 0, r.stderr);
    await expectDelivered('c');
    r = spawnSync(emit, ['/b', 'news', '["c pwned"]'], { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /gateway refused BROADCAST: namespace not allowed for this emitter key \(auth\)/);
    r = spawnSync(emit, ['/a', 'news', '["x"]'], { env: { ...env, IOGATE_EMITTER_KEY: 'wrong-key-wrong-key' }, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /gateway refused HELLO: wrong emitter key \(auth\)/);
    assert.deepEqual(got.other, []);
  });

  test('Python (iogate.emitter.Emitter)', async () => {
    reset();
    const script = `
import sys
from iogate.emitter import Emitter, EmitterError
with Emitter() as em:
    em.broadcast("/a", "news", "py room", rooms=["lobby"])
    em.emit("/a", sys.argv[1], "news", "py one")
    em.flush()
    em.broadcast("/b", "news", "py pwned")
    try:
        em.flush()
        print("not refused")
    except EmitterError as e:
        print("refused", e.code)
try:
    Emitter(key="wrong-key-wrong-key")
    print("wrong key accepted")
except EmitterError as e:
    print("hello refused", e.code)
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script, outside.id], {
      env: { ...process.env, IOGATE_ENDPOINT: ep, IOGATE_EMITTER_KEY: KEY, PYTHONPATH: path.join(ROOT, 'workers', 'python') },
      encoding: 'utf8',
      timeout: 15000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'refused auth\nhello refused auth\n');
    await expectDelivered('py');
  });

  test('Node.js (lib/emitter.js)', async () => {
    reset();
    const em = await new Emitter({ endpoint: ep, key: KEY }).connect();
    try {
      await em.broadcast('/a', 'news', ['node room'], { rooms: ['lobby'] });
      await em.emit('/a', outside.id, 'news', ['node one']);
      await em.flush();
      await expectDelivered('node');
      await em.broadcast('/b', 'news', ['node pwned']);
      await assert.rejects(em.flush(), (e) => e.code === 'auth');
      await assert.rejects(new Emitter({ endpoint: ep, key: 'wrong-key-wrong-key' }).connect(), (e) => e.code === 'auth');
      assert.deepEqual(got.other, []);
    } finally {
      em.close();
    }
  });
});
