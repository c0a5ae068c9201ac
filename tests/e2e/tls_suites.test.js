// tls_suites.test.js — the hostile-input and limits suites again, over TLS:
// each file below runs as a child `node --test` with IOGATE_TEST_TLS=1, so
// helpers.js and sio_harness.js start the gateway with --tls-cert/--tls-key
// and speak HTTPS/TLS/WSS to it (checking the certificate as a CA; the
// certificate is also in NODE_EXTRA_CA_CERTS for the tests' own WebSocket
// and fetch calls).  What a file cannot do over TLS it skips with the
// reason (grep `h.TLS` in tests/e2e).  helpers.js insists on "listening on
// https://", so a gateway that did not turn TLS on fails every file.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { makeCert } = require('./tls_cert');

// The sio_harness.js ones (sio_protocol, sio_reasons, hostile_worker_data)
// speak to the gateway only through it: the official client and fetch;
// reference_diff serves its reference socket.io server over TLS too.
const FILES = ['eio_http', 'eio_polling', 'eio_websocket', 'eio_upgrade', 'limits',
  'sio_protocol', 'sio_reasons', 'hostile_worker_data', 'reference_diff'];

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-tls-suites-'));
process.on('exit', () => fs.rmSync(DIR, { recursive: true, force: true }));
const cert = makeCert(DIR);

for (const f of FILES) {
  test(`${f}.test.js over TLS`, { timeout: 600000 }, async (t) => {
    const env = {
      ...process.env,
      IOGATE_TEST_TLS: '1',
      IOGATE_TEST_TLS_CERT: cert.cert,
      IOGATE_TEST_TLS_KEY: cert.key,
      NODE_EXTRA_CA_CERTS: cert.cert,
    };
    delete env.NODE_TEST_CONTEXT; // else the child thinks it is nested and runs nothing
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', path.join(__dirname, `${f}.test.js`)], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.on('exit', (c, s) => r(c === null ? s : c)));
    const pass = Number((/^# pass (\d+)/m.exec(out) || [])[1] || 0);
    const fail = Number((/^# fail (\d+)/m.exec(out) || [])[1] || 0);
    const skip = Number((/^# skipped (\d+)/m.exec(out) || [])[1] || 0);
    const failed = out.split('\n').filter((l) => /^\s*not ok /.test(l) && !/# SKIP/.test(l));
    assert.equal(code, 0, `${f} over TLS: ${fail} failed\n${failed.join('\n')}\n${out.slice(-6000)}`);
    assert.ok(pass > 0, `${f} over TLS ran nothing:\n${out.slice(-3000)}`);
    t.diagnostic(`${f}: ${pass} passed, ${skip} skipped over TLS`);
  });
}
