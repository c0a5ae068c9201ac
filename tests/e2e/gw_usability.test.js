// gw_usability.test.js — the small things a user of the gateway sees (issue
// 14): -h / -v, a bare unknown flag, a config line without '=', static
// files with ETag / Last-Modified / 304, the client bundle's directory
// behind --client-js, --worker commands with VAR=value prefixes, and the
// FastCGI socket's --fastcgi-socket-mode / --fastcgi-socket-owner.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { startGateway, once, ROOT, BUILD, sleep } = require('./sio_harness');

const bin = path.join(BUILD, 'iogate');
const run = (args) => spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 });

function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

test('-h and -v are --help and --version', () => {
  const h = run(['-h']);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /^Usage: iogate/);
  assert.match(h.stdout, /-h, --help/);
  const v = run(['-v']);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^iogate \d+\.\d+\.\d+\n$/);
});

test('a bare unknown --flag says "unknown option", even as the last argument', () => {
  for (const args of [['--bogus'], ['--echo', '--bogus'], ['--bogus', '--echo'], ['--listenx']]) {
    const r = run(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, new RegExp(`^iogate: unknown option ${args.find((a) => a !== '--echo')}\\n`), args.join(' '));
  }
  // a known option without its value still says that
  const r = run(['--listen']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--listen needs a value/);
});

test('a config line without "=" is named with its line number', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-usab-'));
  try {
    const f = path.join(dir, 'gw.conf');
    fs.writeFileSync(f, '# comment\necho\nping-interval 5000\n');
    let r = run(['--config', f]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`${f}:3: 'ping-interval 5000' has no '='`));
    fs.writeFileSync(f, 'echo = true\n\nlisten\n');
    r = run(['--config', f]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`${f}:3: 'listen' has no '=' \\(lines are 'key = value'\\)`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('static files: ETag and Last-Modified; 304 on If-None-Match / If-Modified-Since; a changed file is sent again', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-usab-'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<p>one</p>\n');
  const gw = await startGateway({ args: ['--static', dir] });
  try {
    const a = await get(gw.url + '/');
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), '<p>one</p>\n');
    const etag = a.headers.etag;
    const lm = a.headers['last-modified'];
    assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(!Number.isNaN(Date.parse(lm)), lm);
    assert.equal(new Date(lm).getTime(), Math.floor(fs.statSync(path.join(dir, 'index.html')).mtimeMs / 1000) * 1000);

    const b = await get(gw.url + '/', { 'If-None-Match': etag });
    assert.equal(b.status, 304);
    assert.equal(b.body.length, 0);
    assert.equal(b.headers.etag, etag);
    assert.equal((await get(gw.url + '/', { 'If-None-Match': 'W/' + etag })).status, 304);
    assert.equal((await get(gw.url + '/', { 'If-None-Match': '"other"' })).status, 200);
    assert.equal((await get(gw.url + '/', { 'If-Modified-Since': lm })).status, 304);
    assert.equal((await get(gw.url + '/', { 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status, 200);
    // If-None-Match wins over If-Modified-Since
    assert.equal((await get(gw.url + '/', { 'If-None-Match': '"other"', 'If-Modified-Since': lm })).status, 200);

    fs.writeFileSync(path.join(dir, 'index.html'), '<p>two, longer</p>\n');
    const c = await get(gw.url + '/', { 'If-None-Match': etag });
    assert.equal(c.status, 200);
    assert.equal(c.body.toString(), '<p>two, longer</p>\n');
    assert.notEqual(c.headers.etag, etag);
  } finally {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--client-js DIR serves socket.io.js, socket.io.min.js and their maps from the bundle; --client-js FILE its map too', async () => {
  const dist = path.join(ROOT, 'node_modules', 'socket.io-client', 'dist');
  const gw = await startGateway({ args: ['--client-js', dist + '/'] });
  try {
    for (const f of ['socket.io.js', 'socket.io.min.js', 'socket.io.js.map', 'socket.io.min.js.map']) {
      const r = await get(`${gw.url}/socket.io/${f}`);
      assert.equal(r.status, 200, f);
      assert.ok(r.body.equals(fs.readFileSync(path.join(dist, f))), `${f}: the bundle's bytes`);
      assert.match(r.headers['content-type'], f.endsWith('.map') ? /^application\/json/ : /^application\/javascript/);
      assert.ok(r.headers.etag, f);
    }
    assert.equal((await get(`${gw.url}/socket.io/socket.io.nope.js`)).status, 404);
    // the min bundle's own sourceMappingURL names a file we serve
    const min = fs.readFileSync(path.join(dist, 'socket.io.min.js'), 'utf8');
    const m = /sourceMappingURL=(\S+)/.exec(min);
    assert.ok(m);
    assert.equal((await get(`${gw.url}/socket.io/${m[1]}`)).status, 200);
  } finally {
    await gw.stop();
  }
  const gw2 = await startGateway({ args: ['--client-js', path.join(dist, 'socket.io.js')] });
  try {
    assert.equal((await get(`${gw2.url}/socket.io/socket.io.js`)).status, 200);
    const map = await get(`${gw2.url}/socket.io/socket.io.js.map`);
    assert.equal(map.status, 200);
    assert.ok(map.body.equals(fs.readFileSync(path.join(dist, 'socket.io.js.map'))));
    assert.equal((await get(`${gw2.url}/socket.io/socket.io.min.js`)).status, 404);
  } finally {
    await gw2.stop();
  }
});

test('--worker "NSP=VAR=value … command": the variables reach the worker', async () => {
  // Without PYTHONPATH the Python echo worker cannot import iogate: it
  // connects only if the VAR=value prefix was honoured.
  const gw = await startGateway({
    workers: { '/py': 'PYTHONPATH=workers/python IOGATE_TEST_MARK=1 /usr/bin/python3 examples/echo/echo.py' },
  });
  try {
    const s = gw.client('/py');
    await once(s, 'connect', 10000);
    const back = once(s, 'message-back');
    s.emit('message', 'hi');
    assert.deepEqual(await back, ['hi']);
    const m = /started worker for \/py \(pid (\d+)\)/.exec(gw.logs);
    assert.ok(m, gw.logs);
    // same pid as the gateway watches: the shell and env both exec'd
    const environ = fs.readFileSync(`/proc/${m[1]}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('IOGATE_TEST_MARK=1'), 'the watched pid is the worker, with the variable');
    assert.ok(environ.includes('IOGATE_NAMESPACE=/py'));
  } finally {
    await gw.stop();
  }
});

test('--fastcgi-socket-mode and --fastcgi-socket-owner set the unix socket\'s permissions and owner', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-usab-'));
  const sock = path.join(dir, 'fcgi.sock');
  const group = ['www-data', 'nogroup', 'daemon'].find((g) => spawnSync('getent', ['group', g]).status === 0);
  const gid = Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
  const gw = await startGateway({
    args: ['--fastcgi', `unix:${sock}`, '--fastcgi-socket-mode', '0660', '--fastcgi-socket-owner', `:${group}`],
  });
  try {
    const st = fs.statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o7777, 0o660);
    if (process.getuid() === 0) assert.equal(st.gid, gid);
    else t.diagnostic('not root: the group is only checked when chown to it is allowed');
  } finally {
    await gw.stop();
  }
  const bad = [
    ['--fastcgi-socket-mode', '0999'],
    ['--fastcgi-socket-mode', 'rw'],
    ['--fastcgi-socket-owner', 'no-such-user-iogate'],
    ['--fastcgi-socket-owner', ':no-such-group-iogate'],
    ['--fastcgi-socket-owner', ':'],
  ];
  for (const a of bad) {
    const r = run(['--echo', ...a]);
    assert.equal(r.status, 2, a.join(' '));
    assert.match(r.stderr, /^iogate: --fastcgi-socket-/, a.join(' '));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('make run HOST=… PORT=… serves the chat there (with the client bundle directory)', async () => {
  const { freePort, waitFor } = require('./sio_harness');
  const { spawn } = require('node:child_process');
  const port = await freePort();
  const proc = spawn('make', ['--no-print-directory', 'run', 'HOST=127.0.0.1', `PORT=${port}`, `BUILD=${path.relative(ROOT, BUILD)}`,
    `SANITIZE=${process.env.SANITIZE || ''}`], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (d) => (logs += d));
  proc.stderr.on('data', (d) => (logs += d));
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  try {
    await waitFor(() => /listening on/.test(logs) || proc.exitCode !== null, 120000, () => `make run did not start:\n${logs}`);
    assert.match(logs, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}`), logs);
    const page = await get(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /iogate chat/);
    assert.equal((await get(`http://127.0.0.1:${port}/socket.io/socket.io.min.js`)).status, 200);
    const s = require('socket.io-client').io(`http://127.0.0.1:${port}`, { forceNew: true, reconnection: false });
    try {
      await once(s, 'connect', 10000);
      const login = once(s, 'login');
      s.emit('add user', 'make-run');
      assert.equal((await login)[0].numUsers, 1);
    } finally {
      s.close();
    }
  } finally {
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {}
    await Promise.race([exited, sleep(8000)]);
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {}
  }
});
