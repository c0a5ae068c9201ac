// tidy_env.test.js — the environment a spawned worker gets is built by the
// gateway for it (gateway/workers spawn()), never by editing the gateway's
// own environment: with --ipc-curve-secret the worker gets the gateway's
// public key in IOGATE_CURVE_SERVERKEY (whatever the gateway inherited),
// and without CURVE it gets none, not even one the gateway inherited
// (PROTOCOL.md rule 1a).  Real gateway, real C echo worker behind a shell
// that records its environment first.
'use strict';
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const sh = require('./sio_harness');

// A worker command that writes its environment to `file`, then becomes the
// echo worker (same pid: exec).
function recordingEcho(file) {
  return `sh -c 'env > ${file}; exec ${path.join(sh.BUILD, 'examples', 'echo')}'`;
}

function envOf(file) {
  const vars = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
  }
  return vars;
}

async function roundTrip(gw) {
  const c = gw.client('/');
  await sh.once(c, 'connect');
  assert.equal(await c.timeout(3000).emitWithAck('message-with-ack', 'env'), 'env');
}

describe('spawned workers: environment', () => {
  test('without CURVE, an IOGATE_CURVE_SERVERKEY the gateway inherited is not passed on', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-tidy-'));
    const file = path.join(dir, 'env');
    // not a Z85 key: a C worker given it would refuse to start
    const gw = await sh.startGateway({ workers: { '/': recordingEcho(file) }, env: { IOGATE_CURVE_SERVERKEY: 'not-a-key' } });
    try {
      await roundTrip(gw);
      const env = envOf(file);
      assert.equal(env.IOGATE_CURVE_SERVERKEY, undefined);
      assert.equal(env.IOGATE_NAMESPACE, '/');
      assert.match(env.IOGATE_ENDPOINT, /^ipc:\/\//);
      assert.match(env.IOGATE_WORKER_KEY, /^[0-9a-f]+$/);
      assert.equal(env.IOGATE_GATEWAY_PID, String(gw.proc.pid));
    } finally {
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with CURVE, the worker gets the gateway\'s public key, not an inherited one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-tidy-'));
    const file = path.join(dir, 'env');
    const secret = path.join(dir, 'secret');
    const pub = execFileSync(path.join(sh.BUILD, 'iogate-keygen'), [secret]).toString().trim();
    const other = execFileSync(path.join(sh.BUILD, 'iogate-keygen'), [path.join(dir, 'other')]).toString().trim();
    assert.notEqual(pub, other);
    const endpoint = `tcp://127.0.0.1:${await sh.freePort()}`;
    const gw = await sh.startGateway({
      workers: { '/': recordingEcho(file) },
      args: ['--ipc', endpoint, '--ipc-curve-secret', secret],
      env: { IOGATE_CURVE_SERVERKEY: other },
    });
    try {
      await roundTrip(gw);
      const env = envOf(file);
      assert.equal(env.IOGATE_CURVE_SERVERKEY, pub);
      assert.equal(Object.keys(env).filter((k) => k === 'IOGATE_CURVE_SERVERKEY').length, 1);
    } finally {
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
