// gw_cli.test.js — the gateway's command line: --help, --version, bad
// flags (exit 2), --config files, the non-echo mode switch.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers');

const bin = path.join(h.BUILD, 'iogate');
const run = (args) => spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 });

test('--help and --version exit 0', () => {
  const hp = run(['--help']);
  assert.equal(hp.status, 0);
  assert.match(hp.stdout, /--listen HOST:PORT/);
  assert.match(hp.stdout, /--worker NSP=COMMAND/);
  const v = run(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^iogate \d+\.\d+\.\d+/);
});

test('invalid flags and values: a message on stderr and exit code 2', () => {
  const bad = [
    ['--bogus'], ['--listen', 'nope'], ['--ping-interval', 'soon'], ['--transports', 'smoke'],
    ['--log-level', 'chatty'], ['--worker', 'noslash'], ['--max-payload'], ['--config', '/nonexistent'],
  ];
  for (const a of bad) {
    const r = run([...a, '--echo']);
    assert.equal(r.status, 2, a.join(' '));
    assert.match(r.stderr, /^iogate: /, a.join(' '));
  }
});

test('--config file; command-line flags win', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-conf-'));
  const file = path.join(dir, 'iogate.conf');
  fs.writeFileSync(file, '# test config\nping-interval = 12345\nmax-payload = 777 # bytes\necho\n');
  const gw = await h.startGateway(['--config', file, '--ping-interval', '4321'], { echo: false });
  const { open } = await h.handshake(gw.port);
  assert.equal(open.pingInterval, 4321);
  assert.equal(open.maxPayload, 777);
  assert.equal(await gw.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('listen failure exits 1', async () => {
  const gw = await h.startGateway();
  const r = run(['--echo', '--listen', `127.0.0.1:${gw.port}`]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /listen/);
  await gw.stop();
});
