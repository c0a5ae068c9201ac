// nginx_distro.test.js — nginx run the way a distribution runs it (master
// as root, workers as www-data), in front of the FastCGI front: a socket
// the workers may not open gives the 502 a stock nginx shows, and
// --fastcgi-socket-owner / --fastcgi-socket-mode (examples/nginx/README.md)
// fix it.  The other nginx suites run nginx the same way (nginx_harness.js).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { io } = require('socket.io-client');
const { startGateway, once } = require('./sio_harness');
const { startNginx, exampleConf, fastcgiSocketArgs, AS_ROOT, NGINX_USER } = require('./nginx_harness');

const skip = AS_ROOT ? false : 'needs root (to run nginx master as root and its workers as www-data)';

function uidOf(pid) {
  return Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}
function childrenOf(pid) {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}
function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

async function setup(socketArgs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-distro-'));
  fs.chmodSync(dir, 0o711); // reachable by www-data; the socket's own mode decides
  const sock = path.join(dir, 'fastcgi.sock');
  const gw = await startGateway({ args: ['--fastcgi', `unix:${sock}`, ...socketArgs] });
  const ngx = await startNginx(
    exampleConf('iogate-fastcgi.conf', [
      ['listen 80;', 'listen 127.0.0.1:@PORT@;'],
      ['server 127.0.0.1:3000;', `server 127.0.0.1:${gw.port};`],
      ['unix:/run/iogate/fastcgi.sock;', `unix:${sock};`],
    ]),
  );
  return {
    gw,
    ngx,
    sock,
    async stop() {
      await ngx.stop();
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('nginx runs as a distribution runs it: master as root, workers as an unprivileged user', { skip }, async () => {
  const env = await setup(fastcgiSocketArgs());
  try {
    assert.equal(uidOf(env.ngx.proc.pid), 0, 'master as root');
    const kids = childrenOf(env.ngx.proc.pid);
    assert.ok(kids.length >= 1, 'a master process with workers (not master_process off)');
    const uid = Number(require('node:child_process').execFileSync('id', ['-u', NGINX_USER], { encoding: 'utf8' }));
    assert.ok(uid > 0);
    for (const k of kids) assert.equal(uidOf(k), uid, `worker ${k} runs as ${NGINX_USER}`);
  } finally {
    await env.stop();
  }
});

test('a FastCGI socket only its owner may open: nginx answers 502 (what a stock nginx shows)', { skip }, async () => {
  const env = await setup([]); // the gateway's umask: srwxr-xr-x root, not writable by www-data
  try {
    assert.equal(fs.statSync(env.sock).mode & 0o002, 0);
    const r = await get(`${env.ngx.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 502);
    assert.match(env.ngx.errorLog(), /fastcgi\.sock failed \(13: Permission denied\)/);
  } finally {
    await env.stop();
  }
});

test('--fastcgi-socket-owner :GROUP --fastcgi-socket-mode 0660: the same nginx serves polling through FastCGI', { skip }, async () => {
  const env = await setup(fastcgiSocketArgs());
  try {
    const r = await get(`${env.ngx.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /^0\{"sid":/);
    const s = io(env.ngx.url, { forceNew: true, reconnection: false, transports: ['polling'] });
    try {
      await once(s, 'connect', 8000);
      const back = once(s, 'message-back');
      s.emit('message', 'through www-data');
      assert.deepEqual(await back, ['through www-data']);
    } finally {
      s.close();
    }
  } finally {
    await env.stop();
  }
});
