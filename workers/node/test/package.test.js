// package.test.js — workers/node as the npm package it claims to be: `npm
// pack` it, install the tarball into an empty directory the way a user
// would (its zeromq@6 dependency from the registry or npm's cache), require
// it from there, and compile a typed example against its TypeScript
// declarations with `tsc --noEmit --strict` (typescript and @types/node
// installed next to it in that directory: the repository's root
// package.json stays free of them).  Needs the npm registry or a warm npm
// cache, as `scripts/setup.sh` does.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PKG = path.resolve(__dirname, '..');
const TYPESCRIPT = 'typescript@5.9.3';
const TYPES_NODE = '@types/node@20';
let dir, tarball;

const npm = (args, cwd) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', timeout: 240000 });

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-node-pkg-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true }));
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('npm pack: the tarball holds the library, its declarations and README, not the tests', () => {
  const [info] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], PKG));
  tarball = path.join(dir, info.filename);
  assert.ok(fs.existsSync(tarball));
  const files = info.files.map((f) => f.path).sort();
  for (const f of ['package.json', 'index.js', 'index.d.ts', 'README.md', 'lib/worker.js', 'lib/socket.js', 'lib/link.js', 'lib/native.js']) {
    assert.ok(files.includes(f), `${f} in the package`);
  }
  assert.equal(files.filter((f) => f.startsWith('test/')).length, 0);
  const pkg = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'iogate-worker');
  assert.equal(pkg.types, 'index.d.ts');
  assert.match(pkg.dependencies.zeromq, /^\^?6\./);
});

test('installed from the tarball into an empty directory, it loads and builds a worker', () => {
  npm(['install', tarball, TYPESCRIPT, TYPES_NODE], dir);
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const m = require('iogate-worker');
       const io = new m.Worker({ endpoint: 'tcp://127.0.0.1:1, tcp://127.0.0.1:2', namespace: '/x', autoStart: false, handleSignals: false });
       console.log(JSON.stringify({ file: require.resolve('iogate-worker'), server: m.Server === m.Worker, endpoints: io.endpoints, name: io.name }));`,
    ],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } },
  );
  const r = JSON.parse(out);
  assert.equal(r.file, path.join(fs.realpathSync(dir), 'node_modules', 'iogate-worker', 'index.js'));
  assert.equal(r.server, true);
  assert.deepEqual(r.endpoints, ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:2']);
  assert.equal(r.name, '/x');
});

test('TypeScript: a typed example compiles against the installed declarations, and misuse does not', () => {
  const src = path.join(dir, 'typed-example.ts');
  fs.copyFileSync(path.join(__dirname, 'fixtures', 'typed-example.ts'), src);
  const tsc = path.join(dir, 'node_modules', '.bin', 'tsc');
  const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'commonjs', '--moduleResolution', 'node', '--types', 'node'];
  execFileSync(tsc, [...args, src], { cwd: dir, encoding: 'utf8' }); // throws with the compiler's output on error
  // Without the @ts-expect-error markers the same file has exactly those
  // errors: the declarations really constrain (they are not `any`).
  const marked = fs.readFileSync(src, 'utf8');
  const expected = (marked.match(/^\s*\/\/ @ts-expect-error/gm) || []).length;
  assert.ok(expected >= 5);
  fs.writeFileSync(src, marked.replace(/^\s*\/\/ @ts-expect-error.*\n/gm, ''));
  let output = '';
  try {
    execFileSync(tsc, [...args, src], { cwd: dir, encoding: 'utf8' });
  } catch (e) {
    output = e.stdout;
  }
  assert.equal((output.match(/error TS\d+/g) || []).length, expected, output);
});
