// deploy_examples.test.js — examples/deploy/: the systemd unit passes
// `systemd-analyze verify` (skipped, with the reason, where that tool is
// missing); iogate.conf starts the gateway behind nginx-as-a-distribution
// with the FastCGI socket nginx's workers may open; the Dockerfile, which
// cannot be built here (no container engine), is checked statically: Debian
// 12 base images, build packages from scripts/setup.sh, run-time packages
// that those depend on, COPY sources that exist, and its CMD run with the
// paths its own COPY lines map back to this tree.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
const { io } = require('socket.io-client');
const { freePort, once, waitFor, sleep, ROOT, BUILD } = require('./sio_harness');
const { startNginx, exampleConf, AS_ROOT, NGINX_GROUP } = require('./nginx_harness');

const DEPLOY = path.join(ROOT, 'examples', 'deploy');
const read = (f) => fs.readFileSync(path.join(DEPLOY, f), 'utf8');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

// Start the built gateway with argv in cwd; resolves once it listens.
async function gateway(argv, cwd) {
  const proc = spawn(path.join(BUILD, 'iogate'), argv, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  proc.stderr.on('data', (d) => (logs += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  await waitFor(() => /listening on/.test(logs) || proc.exitCode !== null, 10000, () => `gateway did not start:\n${logs}`);
  assert.match(logs, /listening on/, `gateway exited:\n${logs}`);
  return {
    logs: () => logs,
    async stop() {
      proc.kill('SIGTERM');
      const r = await Promise.race([exited, sleep(5000).then(() => null)]);
      if (!r) {
        proc.kill('SIGKILL');
        await exited;
      }
      assert.ok(!/(ERROR: \w+Sanitizer|runtime error:)/.test(logs), logs.slice(-3000));
      return r;
    },
  };
}

test('iogate.service passes systemd-analyze verify', { skip: has('systemd-analyze') ? false : 'systemd-analyze not installed' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-unit-'));
  try {
    // verify insists that ExecStart's program exists: point it at the build
    let unit = read('iogate.service');
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/iogate --config \/etc\/iogate\/iogate\.conf$/m);
    unit = unit.replace(/^ExecStart=\/usr\/local\/bin\/iogate /m, `ExecStart=${path.join(BUILD, 'iogate')} `);
    fs.writeFileSync(path.join(dir, 'iogate.service'), unit);
    const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'iogate.service')], { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, out);
    // unknown keys and sections are only warnings to verify: not to us
    const ours = out.split('\n').filter((l) => l.includes('iogate.service'));
    assert.deepEqual(ours, [], out);
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, 'reload is SIGHUP');
    assert.match(unit, /^User=iogate$/m, 'not root');
    assert.match(unit, /^RuntimeDirectory=iogate$/m, '/run/iogate for the FastCGI socket');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('iogate.conf behind nginx (master root, workers www-data): polling over the FastCGI socket, WebSocket over the proxy', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-deploy-'));
  fs.chmodSync(dir, 0o711);
  const sock = path.join(dir, 'fastcgi.sock');
  const port = await freePort();
  let conf = read('iogate.conf');
  for (const [from, to] of [
    ['listen = 127.0.0.1:3000', `listen = 127.0.0.1:${port}`],
    ['unix:/run/iogate/fastcgi.sock', `unix:${sock}`],
  ]) {
    assert.ok(conf.includes(from), `iogate.conf no longer says ${from}`);
    conf = conf.replace(from, to);
  }
  if (!AS_ROOT) {
    conf = conf.replace(/^fastcgi-socket-owner.*$/m, '');
    t.diagnostic('not root: fastcgi-socket-owner left out (chown to www-data needs root)');
  }
  fs.writeFileSync(path.join(dir, 'iogate.conf'), conf);
  fs.symlinkSync(path.join(BUILD, 'examples', 'echo'), path.join(dir, 'my-worker')); // "worker = /=./my-worker"
  const gw = await gateway(['--config', path.join(dir, 'iogate.conf')], dir);
  let ngx;
  try {
    const st = fs.statSync(sock);
    assert.equal(st.mode & 0o777, 0o660);
    if (AS_ROOT) assert.equal(st.gid, Number(spawnSync('getent', ['group', NGINX_GROUP], { encoding: 'utf8' }).stdout.split(':')[2]));
    ngx = await startNginx(
      exampleConf('iogate-fastcgi.conf', [
        ['listen 80;', 'listen 127.0.0.1:@PORT@;'],
        ['server 127.0.0.1:3000;', `server 127.0.0.1:${port};`],
        ['unix:/run/iogate/fastcgi.sock;', `unix:${sock};`],
      ]),
    );
    const s = io(ngx.url, { forceNew: true, reconnection: false });
    try {
      await once(s, 'connect', 10000);
      const back = once(s, 'message-back');
      s.emit('message', 'deployed');
      assert.deepEqual(await back, ['deployed']);
      await waitFor(() => s.io.engine.transport.name === 'websocket', 8000, () => 'no upgrade through nginx');
    } finally {
      s.close();
    }
  } finally {
    if (ngx) await ngx.stop();
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Dockerfile: instructions with continuation lines joined.
function dockerInstructions(text) {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const sp = l.indexOf(' ');
      return { op: l.slice(0, sp).toUpperCase(), arg: l.slice(sp + 1).trim() };
    });
}
function aptPackages(run) {
  const m = /apt-get install ([^&]*)/.exec(run);
  return m ? m[1].split(/\s+/).filter((w) => w && !w.startsWith('-')) : [];
}

test('Dockerfile: Debian 12 images, packages from scripts/setup.sh and their run-time halves, COPY sources present', (t) => {
  const ins = dockerInstructions(read('Dockerfile'));
  const froms = ins.filter((i) => i.op === 'FROM');
  assert.equal(froms.length, 2, 'a build stage and a run stage');
  for (const f of froms) assert.match(f.arg, /^debian:12(\s|$)/, f.arg);
  const setup = fs.readFileSync(path.join(ROOT, 'scripts', 'setup.sh'), 'utf8');
  const setupPkgs = /PKGS="([^"]*)"/.exec(setup)[1].split(/\s+/).filter(Boolean);
  const stage2 = ins.indexOf(froms[1]);
  const buildPkgs = ins.slice(0, stage2).filter((i) => i.op === 'RUN').flatMap((i) => aptPackages(i.arg));
  const runPkgs = ins.slice(stage2).filter((i) => i.op === 'RUN').flatMap((i) => aptPackages(i.arg));
  assert.ok(buildPkgs.length > 5 && runPkgs.length > 5);
  for (const p of buildPkgs) assert.ok(setupPkgs.includes(p), `build stage installs ${p}, which scripts/setup.sh does not`);
  // every library the gateway links has its -dev package in the build stage
  for (const dev of ['libev-dev', 'libzmq3-dev', 'libjansson-dev', 'libfcgi-dev', 'libwslay-dev', 'libhttp-parser-dev', 'libssl-dev', 'libpcre2-dev'])
    assert.ok(buildPkgs.includes(dev), dev);
  if (!has('apt-cache')) {
    t.diagnostic('apt-cache not installed: run-time package names not checked against Debian');
  } else {
    const deps = new Set();
    for (const p of buildPkgs) {
      const r = spawnSync('apt-cache', ['depends', p], { encoding: 'utf8' });
      for (const m of r.stdout.matchAll(/Depends: (\S+)/g)) deps.add(m[1]);
    }
    for (const p of runPkgs) assert.ok(deps.has(p), `run stage installs ${p}: not a dependency of the build stage's -dev packages`);
    // and the gateway's actual shared libraries come from those packages
    const ldd = spawnSync('ldd', [path.join(BUILD, 'iogate')], { encoding: 'utf8' }).stdout;
    for (const lib of ldd.matchAll(/=> (\/\S+)/g)) {
      const owner = spawnSync('dpkg', ['-S', fs.realpathSync(lib[1])], { encoding: 'utf8' }).stdout.split(':')[0];
      if (!owner || /^(libc6|libgcc-s1|libstdc\+\+6|libasan\d*|libubsan\d*|libgomp1|libsodium23|libpgm-.*|libnorm1|libgssapi-krb5-2|libkrb5.*|libk5crypto3|libcom-err2|libkeyutils1|libbsd0|libmd0)$/.test(owner)) continue;
      assert.ok(runPkgs.includes(owner), `the gateway links ${lib[1]} from ${owner}, which the run stage does not install`);
    }
  }
  const ignore = read('Dockerfile.dockerignore');
  for (const c of ins.filter((i) => i.op === 'COPY' && !i.arg.startsWith('--from'))) {
    const src = c.arg.split(/\s+/)[0];
    assert.ok(fs.existsSync(path.join(ROOT, src)), `COPY ${src}: not in the tree`);
    assert.ok(!ignore.split('\n').includes(src), `COPY ${src}: excluded by Dockerfile.dockerignore`);
  }
  const user = ins.filter((i) => i.op === 'USER').pop();
  assert.ok(user && user.arg !== 'root', 'the gateway does not run as root');
});

test('Dockerfile: its CMD, with the paths its COPY lines map back to this tree, serves the chat', async () => {
  const ins = dockerInstructions(read('Dockerfile'));
  const map = []; // [container path, path here]
  for (const c of ins.filter((i) => i.op === 'COPY')) {
    const words = c.arg.split(/\s+/);
    const from = words[0].startsWith('--from') ? words.shift() : null;
    let [src, dst] = words;
    if (from) {
      if (!src.startsWith('/src/build/')) continue; // the installed bin/: the gateway itself, below
      src = path.join(BUILD, src.slice('/src/build/'.length));
    } else {
      src = path.join(ROOT, src);
    }
    map.push([dst.replace(/\/$/, ''), src]);
  }
  const cmd = JSON.parse(ins.find((i) => i.op === 'CMD').arg);
  assert.equal(cmd[0], '/usr/local/bin/iogate');
  const expose = ins.find((i) => i.op === 'EXPOSE').arg;
  const port = await freePort();
  const argv = cmd.slice(1).map((a) => {
    if (a === `0.0.0.0:${expose}`) return `127.0.0.1:${port}`;
    for (const [dst, src] of map) {
      if (a === dst || a.startsWith(dst + '/')) return src + a.slice(dst.length);
      const eq = a.indexOf('=');
      if (eq > 0 && (a.slice(eq + 1) === dst || a.slice(eq + 1).startsWith(dst + '/'))) return a.slice(0, eq + 1) + src + a.slice(eq + 1 + dst.length);
    }
    return a;
  });
  assert.ok(argv.includes(`127.0.0.1:${port}`), `CMD listens on 0.0.0.0:${expose} (EXPOSE)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-docker-'));
  const gw = await gateway(argv, dir);
  try {
    const page = await get(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<html/i);
    const js = await get(`http://127.0.0.1:${port}/socket.io/socket.io.min.js`);
    assert.equal(js.status, 200);
    const a = io(`http://127.0.0.1:${port}`, { forceNew: true, reconnection: false });
    try {
      await once(a, 'connect', 10000);
      const login = once(a, 'login');
      a.emit('add user', 'docker');
      const [l] = await login;
      assert.equal(l.numUsers, 1);
    } finally {
      a.close();
    }
  } finally {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
