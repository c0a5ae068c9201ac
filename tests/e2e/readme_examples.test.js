// readme_examples.test.js — every fenced code block of README.md, the
// libraries' READMEs (workers/README.md, workers/{c,python,node}/README.md)
// and examples/*/README.md is *extracted* from the Markdown and run as
// printed, so the documentation cannot drift from the code.  Per Markdown
// file, in a scratch directory that looks like the top of a checkout
// (build/, examples/, node_modules/ and workers/* link to this one, except
// workers/python and workers/node, which are copies: pip and npm write into
// what they install from) and with a `make install PREFIX=<tmp>` on PATH and
// PKG_CONFIG_PATH:
//
//  - `<!-- file: NAME -->` above a block saves it as NAME (C, Python, JS);
//    a C block without it is a fragment, compiled with `cc -c`;
//  - `<!-- file: NAME, run by PATH -->`: saved, syntax-checked (py_compile,
//    `node --check`), and run as printed by the test PATH, which must exist
//    and extract it by that marker (it compares the block with a reference
//    server, or drives it message by message); it may also be a gateway
//    block's worker;
//  - install blocks run for real, offline: pip gets PIP_NO_INDEX=1 and
//    PIP_NO_BUILD_ISOLATION=0 (Debian's setuptools/wheel through a
//    --system-site-packages venv), npm prefers its cache; a Markdown file
//    with an `npm install` gets its own node_modules (and a package.json
//    naming an app) instead of the link to this checkout's;
//  - `sh` blocks run in order with `sh -e`.  One that starts the gateway
//    (`iogate … --listen 127.0.0.1:3000`) runs with 3000 replaced by a free
//    port until it logs "listening on"; then every namespace of its
//    `--worker` flags is exercised with socket.io-client: a client emits
//    "message" "hello" with an ack and must get "ok"; if the worker's
//    source names "message-back" the sender gets it back, if it names
//    "said" a second client of the namespace (in the same room) gets it;
//    a worker of another contract (a README's own application) is driven
//    instead by the Markdown's clients — saved JS files that require
//    socket.io-client — each run as printed (3000 replaced) and required to
//    exit 0;
//    any other sh block must exit 0;
//  - `nginx` blocks (http {}-level text) must pass `nginx -t`;
//  - `<!-- not run: REASON -->` above a block skips it, visibly: the test
//    counts them, and each must give a reason;
//  - any other block, or a saved file no command uses, fails the test.
// Under a sanitizer build, a `cc` on PATH adds the same -fsanitize flags
// (the installed library is instrumented).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { io } = require('socket.io-client');
const { freePort, once, waitFor, sleep, ROOT, BUILD } = require('./sio_harness');
const { nginxCheck } = require('./nginx_harness');

const DOCS = ['README.md', 'workers/README.md', 'workers/c/README.md', 'workers/python/README.md',
  'workers/node/README.md', ...fs.readdirSync(path.join(ROOT, 'examples'))
  .filter((d) => fs.existsSync(path.join(ROOT, 'examples', d, 'README.md')))
  .map((d) => `examples/${d}/README.md`)];

// Fenced blocks with their language and the marker comment above them.
function extractBlocks(md) {
  const lines = md.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
    assert.ok(j < lines.length, `unterminated code block at line ${i + 1}`);
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === '') k--;
    const marker = k >= 0 ? /^<!--\s*(file|not run):\s*(.*?)\s*-->$/.exec(lines[k].trim()) : null;
    const file = marker && marker[1] === 'file' ? /^(\S+?)(?:,\s*run by\s+(\S+))?$/.exec(marker[2]) : null;
    if (marker && marker[1] === 'file') assert.ok(file, `line ${k + 1}: <!-- file: NAME --> or <!-- file: NAME, run by PATH -->`);
    blocks.push({
      line: i + 1,
      lang: open[1],
      text: lines.slice(i + 1, j).join('\n') + '\n',
      file: file ? file[1] : null,
      runBy: file ? file[2] || null : null,
      notRun: marker && marker[1] === 'not run' ? marker[2] : null,
    });
    i = j;
  }
  return blocks;
}

// One `make install PREFIX=<tmp>` for the whole file, of the build under test.
let prefix;
function installPrefix() {
  if (prefix) return prefix;
  prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-prefix-'));
  const r = spawnSync('make', ['-s', 'install', `PREFIX=${prefix}`, `BUILD=${path.relative(ROOT, BUILD)}`,
    `SANITIZE=${process.env.SANITIZE || ''}`], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `make install failed:\n${r.stdout}\n${r.stderr}`);
  // the .pc file is relocatable: move the whole prefix and it still works
  const moved = prefix + '-moved';
  fs.renameSync(prefix, moved);
  prefix = moved;
  const bin = path.join(prefix, 'test-bin');
  fs.mkdirSync(bin);
  const san = process.env.IOGATE_SANITIZE_FLAGS || '';
  fs.writeFileSync(path.join(bin, 'cc'), `#!/bin/sh\nexec /usr/bin/cc ${san} "$@"\n`, { mode: 0o755 });
  return prefix;
}

// ownModules: the Markdown runs `npm install`, which must not write into
// this checkout's node_modules (nor look above the scratch directory).
function scratchCheckout(ownModules) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-readme-'));
  fs.symlinkSync(BUILD, path.join(dir, 'build'));
  fs.symlinkSync(path.join(ROOT, 'examples'), path.join(dir, 'examples'));
  if (ownModules) fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "app", "private": true }\n');
  else fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  fs.mkdirSync(path.join(dir, 'workers'));
  const skip = new Set(['tests', 'test', 'node_modules', 'build', '__pycache__']);
  for (const d of fs.readdirSync(path.join(ROOT, 'workers'))) {
    const from = path.join(ROOT, 'workers', d);
    if (d === 'python' || d === 'node')
      fs.cpSync(from, path.join(dir, 'workers', d), {
        recursive: true,
        filter: (f) => !skip.has(path.basename(f)) && !f.endsWith('.egg-info'),
      });
    else fs.symlinkSync(from, path.join(dir, 'workers', d));
  }
  return dir;
}

function envFor(pfx) {
  return {
    ...process.env,
    PATH: `${pfx}/test-bin:${pfx}/bin:${process.env.PATH}`,
    PKG_CONFIG_PATH: `${pfx}/lib/pkgconfig`,
    // `pip install workers/python` offline: no index, Debian's setuptools
    PIP_NO_INDEX: '1',
    PIP_NO_BUILD_ISOLATION: '0', // pip's spelling of --no-build-isolation
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
}

// The --worker flags of a command line: [[nsp, command], ...].
function workerFlags(text) {
  const out = [];
  const re = /--worker\s+(?:"([^"]*)"|'([^']*)'|(\S+))/g;
  let m;
  while ((m = re.exec(text))) {
    const v = m[1] ?? m[2] ?? m[3];
    const eq = v.indexOf('=');
    out.push([v.slice(0, eq), v.slice(eq + 1)]);
  }
  return out;
}

// The saved file a worker command runs (./my-worker → my-worker.c).
function sourceOf(cmd, saved) {
  for (const [name, text] of Object.entries(saved)) {
    const base = name.replace(/\.c$/, '');
    if (cmd.split(/\s+/).some((w) => w === name || w === `./${name}` || w === `./${base}`)) return { name, text };
  }
  return null;
}

// A worker that follows the generic contract ("message" acked "ok", and
// "message-back" or "said"), which exercise() checks.
const generic = (src) => /message-back/.test(src.text) || /["']said["']/.test(src.text);

// A Markdown's client: a saved JS file of the official client.
const isClient = (name, text) => name.endsWith('.js') && /require\(['"]socket\.io-client['"]\)/.test(text);

// Run a client file as printed (3000 → port) from cwd; it must exit 0.
async function runClient(name, text, port, cwd, env) {
  const file = path.join(cwd, `.run-${name}`);
  fs.writeFileSync(file, text.split('127.0.0.1:3000').join(`127.0.0.1:${port}`));
  const proc = spawn(process.execPath, [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const r = await Promise.race([exited, sleep(20000).then(() => null)]);
  if (!r) proc.kill('SIGKILL');
  assert.ok(r && r.code === 0, `${name}: ${r ? `exit ${r.code} ${r.signal || ''}` : 'still running after 20 s'}:\n${out}`);
}

async function exercise(url, nsp, src) {
  const opts = { forceNew: true, reconnection: false };
  const a = io(url + (nsp === '/' ? '' : nsp), opts);
  const b = io(url + (nsp === '/' ? '' : nsp), opts);
  try {
    await Promise.all([once(a, 'connect', 15000), once(b, 'connect', 15000)]);
    const wantBack = /message-back/.test(src.text);
    const wantSaid = /["']said["']/.test(src.text);
    assert.ok(wantBack || wantSaid, `${src.name}: emits neither "message-back" nor "said"`);
    const back = wantBack ? once(a, 'message-back', 8000) : null;
    const said = wantSaid ? once(b, 'said', 8000) : null;
    const ack = await a.timeout(8000).emitWithAck('message', 'hello');
    assert.equal(ack, 'ok', `${nsp} (${src.name}): ack`);
    if (back) assert.deepEqual(await back, ['hello'], `${nsp} (${src.name}): message-back`);
    if (said) assert.deepEqual(await said, ['hello'], `${nsp} (${src.name}): said, to the other socket in the room`);
  } finally {
    a.close();
    b.close();
  }
}

// Run a gateway-starting sh block, exercise its namespaces, stop it.
async function runServerBlock(b, cwd, env, saved, used) {
  assert.match(b.text, /127\.0\.0\.1:3000/, `line ${b.line}: a gateway block must listen on 127.0.0.1:3000`);
  const port = await freePort();
  const script = b.text.split('127.0.0.1:3000').join(`127.0.0.1:${port}`);
  const proc = spawn('/bin/sh', ['-e', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (d) => (logs += d));
  proc.stderr.on('data', (d) => (logs += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    await waitFor(() => /listening on/.test(logs) || proc.exitCode !== null, 20000, () => `line ${b.line}: no "listening on":\n${logs}`);
    assert.match(logs, /listening on/, `line ${b.line}: the block ended before the gateway listened:\n${logs}`);
    const flags = workerFlags(b.text);
    assert.ok(flags.length > 0, `line ${b.line}: a gateway with no --worker`);
    const own = [];
    for (const [nsp, cmd] of flags) {
      const src = sourceOf(cmd, saved);
      assert.ok(src, `line ${b.line}: worker "${cmd}" runs no file saved from the Markdown`);
      used.add(src.name);
      if (!generic(src)) {
        own.push(src.name);
        continue;
      }
      await exercise(`http://127.0.0.1:${port}`, nsp, src).catch((e) => {
        e.message += `\n--- gateway/worker output ---\n${logs.slice(-3000)}`;
        throw e;
      });
    }
    // workers of their own contract: the Markdown's clients show it
    if (own.length) {
      const clients = Object.entries(saved).filter(([n, text]) => isClient(n, text));
      assert.ok(clients.length, `line ${b.line}: ${own.join(', ')} follow(s) no generic contract ("message-back"/"said"): ` +
        'the Markdown needs a client for it (a <!-- file: NAME.js --> block requiring socket.io-client)');
      for (const [name, text] of clients) {
        used.add(name);
        await runClient(name, text, port, cwd, env).catch((e) => {
          e.message += `\n--- gateway/worker output ---\n${logs.slice(-3000)}`;
          throw e;
        });
      }
    }
  } finally {
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {}
    const r = await Promise.race([exited, sleep(8000).then(() => null)]);
    if (!r) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {}
      await exited;
    }
  }
  const san = /(ERROR: (Address|Leak|Memory)Sanitizer|runtime error:)[^\n]*/.exec(logs);
  assert.ok(!san, `line ${b.line}: sanitizer report: ${san && san[0]}\n${logs.slice(-3000)}`);
}

// Run every block of one Markdown text (`doc` names it in messages).
async function runDoc(t, doc, md) {
  const blocks = extractBlocks(md);
  const pfx = installPrefix();
  const env = envFor(pfx);
  const cwd = scratchCheckout(blocks.some((b) => b.lang === 'sh' && !b.notRun && /\bnpm install\b/.test(b.text)));
  const saved = {};
  const used = new Set();
  const count = { run: 0, notRun: 0 };
  try {
    for (const b of blocks) if (b.file && !b.notRun) {
      assert.ok(!b.file.includes('/'), `${doc}:${b.line}: file names are plain`);
      assert.ok(!(b.file in saved), `${doc}:${b.line}: ${b.file} saved twice`);
      fs.writeFileSync(path.join(cwd, b.file), b.text);
      saved[b.file] = b.text;
      if (b.runBy) {
        // the test named runs it: it exists and extracts it by this marker
        const by = path.join(ROOT, b.runBy);
        assert.ok(fs.existsSync(by), `${doc}:${b.line}: run by ${b.runBy}, which does not exist`);
        assert.ok(fs.readFileSync(by, 'utf8').includes(`file: ${b.file}`), `${doc}:${b.line}: ${b.runBy} does not extract "file: ${b.file}"`);
        const check = b.lang === 'python' ? ['/usr/bin/python3', ['-m', 'py_compile', b.file]]
          : b.lang === 'js' ? [process.execPath, ['--check', b.file]] : null;
        assert.ok(check, `${doc}:${b.line}: "run by" is for python and js blocks`);
        const r = spawnSync(check[0], check[1], { cwd, encoding: 'utf8' });
        assert.equal(r.status, 0, `${doc}:${b.line}: ${b.file} does not compile:\n${r.stderr}`);
        t.diagnostic(`${doc}:${b.line}: ${b.file} run by ${b.runBy}`);
        used.add(b.file);
      }
    }
    for (const b of blocks) {
      const where = `${doc}:${b.line} (${b.lang || 'no language'})`;
      if (b.notRun !== null) {
        assert.ok(b.notRun.length >= 10, `${where}: "not run" needs a reason`);
        t.diagnostic(`not run: ${where}: ${b.notRun}`);
        count.notRun++;
        continue;
      }
      if (b.lang === 'c') {
        if (b.file) {
          count.run++; // built by an sh block; checked below that one does
          continue;
        }
        const src = path.join(cwd, `fragment-${b.line}.c`);
        fs.writeFileSync(src, b.text);
        const r = spawnSync('/bin/sh', ['-c', `cc -c ${src} -o ${src}.o $(pkg-config --cflags iogate-worker)`], { cwd, env, encoding: 'utf8' });
        assert.equal(r.status, 0, `${where}: the fragment does not compile:\n${r.stderr}`);
        count.run++;
      } else if (b.lang === 'python' || b.lang === 'js') {
        assert.ok(b.file, `${where}: a ${b.lang} block needs <!-- file: NAME --> (or <!-- not run: why -->)`);
        count.run++;
      } else if (b.lang === 'sh') {
        if (/(^|\s|\/)iogate\s[^\n]*--listen/.test(b.text.replace(/\\\n/g, ' '))) {
          await runServerBlock(b, cwd, env, saved, used);
        } else {
          const r = spawnSync('/bin/sh', ['-e', '-c', b.text], { cwd, env, encoding: 'utf8', timeout: 120000 });
          assert.equal(r.status, 0, `${where}: exit ${r.status}:\n${r.stdout}\n${r.stderr}`);
        }
        // a C file an sh block compiles is used by it
        for (const name of Object.keys(saved)) if (name.endsWith('.c') && b.text.includes(name)) used.add(name);
        count.run++;
      } else if (b.lang === 'nginx') {
        const r = nginxCheck(b.text);
        assert.ok(r.ok, `${where}: nginx -t fails:\n${r.output}\n${b.text}`);
        count.run++;
      } else {
        assert.fail(`${where}: no way to run a "${b.lang}" block: mark it <!-- not run: why --> or teach this test`);
      }
    }
    for (const name of Object.keys(saved))
      assert.ok(used.has(name), `${doc}: ${name} is saved from the Markdown but no command uses it`);
    t.diagnostic(`${doc}: ${count.run} blocks run, ${count.notRun} marked not run`);
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

for (const doc of DOCS) {
  test(`${doc}: every code block runs as printed`, (t) => runDoc(t, doc, fs.readFileSync(path.join(ROOT, doc), 'utf8')));
}

// The harness itself: what it must refuse.
test('a block that is neither runnable nor marked fails the test, as do false markers', async (t) => {
  const fence = '```';
  const worker = `<!-- file: w.py -->\n${fence}python\nprint("said")\n${fence}\n`;
  const bad = {
    'an unmarked python block': [`${fence}python\nprint(1)\n${fence}\n`, /needs <!-- file: NAME -->/],
    'an unmarked js block': [`${fence}js\nconsole.log(1)\n${fence}\n`, /needs <!-- file: NAME -->/],
    'a language it cannot run': [`${fence}ruby\nputs 1\n${fence}\n`, /no way to run a "ruby" block/],
    'a "not run" without a reason': [`<!-- not run: later -->\n${fence}sh\ntrue\n${fence}\n`, /needs a reason/],
    'a saved file nothing uses': [worker, /no command uses it/],
    'a failing sh block': [`${fence}sh\nfalse\n${fence}\n`, /exit 1/],
    '"run by" a test that does not exist': [`<!-- file: x.py, run by tests/e2e/no_such.test.js -->\n${fence}python\nx = 1\n${fence}\n`, /which does not exist/],
    '"run by" a test that does not name the file': [`<!-- file: x.py, run by tests/e2e/sio_reasons.test.js -->\n${fence}python\nx = 1\n${fence}\n`, /does not extract/],
  };
  const own = `<!-- file: w.py -->\n${fence}python\nfrom iogate import Worker\nWorker().run()\n${fence}\n` +
    `${fence}sh\nbuild/iogate --listen 127.0.0.1:3000 --worker "/=PYTHONPATH=workers/python /usr/bin/python3 w.py"\n${fence}\n`;
  bad['a worker of its own contract and no client to drive it'] = [own, /needs a client for it/];
  for (const [what, [md, why]] of Object.entries(bad)) {
    const quiet = { diagnostic() {} };
    await assert.rejects(runDoc(quiet, `(${what})`, md), (e) => e instanceof assert.AssertionError && why.test(e.message), what);
  }
  t.diagnostic(`${Object.keys(bad).length} bad Markdown texts refused`);
});

test('the README worker examples, run alone outside the gateway, say why and exit 1 (no crash)', () => {
  const pfx = installPrefix();
  const env = envFor(pfx);
  delete env.IOGATE_ENDPOINT;
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-readme-'));
  try {
    for (const doc of ['README.md', 'workers/c/README.md']) {
      const b = extractBlocks(fs.readFileSync(path.join(ROOT, doc), 'utf8')).find((x) => x.lang === 'c' && x.file);
      fs.writeFileSync(path.join(cwd, b.file), b.text);
      const c = spawnSync('/bin/sh', ['-c', `cc ${b.file} -o w $(pkg-config --cflags --libs iogate-worker)`], { cwd, env, encoding: 'utf8' });
      assert.equal(c.status, 0, c.stderr);
      const r = spawnSync(path.join(cwd, 'w'), [], { cwd, env, encoding: 'utf8', timeout: 10000 });
      assert.equal(r.signal, null, `${doc}: killed by ${r.signal}`);
      assert.equal(r.status, 1, `${doc}: ${r.stderr}`);
      assert.match(r.stderr, /IOGATE_ENDPOINT is not set/, doc);
    }
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});

test('make install writes a relocatable iogate-worker.pc', () => {
  const pfx = installPrefix(); // installed, then moved to another directory
  const env = envFor(pfx);
  const r = spawnSync('pkg-config', ['--cflags', '--libs', 'iogate-worker'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const inc = /-I(\S*?)\/?(?=\s)/.exec(r.stdout.split(/\s+/).find((f) => f.startsWith('-I') && f.includes(pfx)) + ' ');
  assert.ok(inc, r.stdout);
  assert.ok(fs.existsSync(path.join(inc[1], 'iogate_worker.h')), `header found through pkg-config: ${r.stdout}`);
  assert.match(r.stdout, new RegExp(`-L${pfx.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/lib/pkgconfig/\\.\\./\\.\\./lib`));
  assert.doesNotMatch(fs.readFileSync(path.join(pfx, 'lib/pkgconfig/iogate-worker.pc'), 'utf8'), /\/usr\/local/);
});

process.on('exit', () => {
  if (prefix) fs.rmSync(prefix, { recursive: true, force: true });
});
