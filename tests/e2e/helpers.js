// helpers.js — start the real gateway and talk to it: raw HTTP, raw TCP,
// raw WebSocket (the `ws` package) and the official engine.io-client.
//
// IOGATE_TEST_TLS=1: the gateway serves TLS (--tls-cert/--tls-key, a
// certificate made by tls_cert.js) and every helper here speaks HTTPS, TLS
// and WSS, checking that certificate as a CA (tls_suites.test.js runs whole
// suites this way).  `TLS` says which mode is on, `connect()` is the raw
// socket of the mode, `WS` the WebSocket scheme.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const tls = require('node:tls');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const WebSocket = require('ws');
const { Socket } = require('engine.io-client');

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = path.resolve(ROOT, process.env.IOGATE_BUILD || 'build');
const HOST = '127.0.0.1';
const TLS = process.env.IOGATE_TEST_TLS === '1' ? require('./tls_cert').testCert() : null;
const WS = TLS ? 'wss' : 'ws';
const tlsOpts = TLS ? { ca: TLS.ca } : {};

// A raw connection to the gateway: TCP, or TLS in TLS mode (its 'connect'
// comes before the handshake; what is written then waits for it).
function connect(port) {
  return TLS ? tls.connect({ host: HOST, port, ...tlsOpts }) : net.connect(port, HOST);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start build/iogate (--echo unless echo:false) with extra flags; resolves
// once it logged "listening on".  gw.stop() sends SIGTERM and resolves
// with the exit code.
async function startGateway(args = [], { echo = true, logLevel = 'debug', nofile } = {}) {
  const port = await freePort();
  const argv = ['--listen', `${HOST}:${port}`, '--log-level', logLevel, ...(echo ? ['--echo'] : []),
    ...(TLS ? ['--tls-cert', TLS.cert, '--tls-key', TLS.key] : []), ...args];
  const bin = path.join(BUILD, 'iogate');
  // IOGATE_WRAPPER (e.g. "valgrind --error-exitcode=99 …", see `make
  // test-valgrind`) prefixes the gateway command; sh execs it, so the pid
  // stays the gateway's.
  const wrapper = process.env.IOGATE_WRAPPER ? `${process.env.IOGATE_WRAPPER} ` : '';
  const proc = nofile || wrapper // through sh (ulimit for a descriptor limit), then exec
    ? spawn('/bin/sh', ['-c', `${nofile ? `ulimit -n ${nofile} && ` : ''}exec ${wrapper}"$0" "$@"`, bin, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const waiters = [];
  const onData = (d) => {
    log += d.toString();
    for (const w of waiters.slice()) w.check();
  };
  proc.stderr.on('data', onData);
  proc.stdout.on('data', onData);
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code === null ? sig : code)));
  const gw = {
    port,
    url: `${TLS ? 'https' : 'http'}://${HOST}:${port}`,
    proc,
    exited,
    log: () => log,
    // Wait until the log matches re (searching from `from`), or fail.
    waitLog(re, timeout = 3000, from = 0) {
      return new Promise((resolve, reject) => {
        const w = {
          check() {
            const m = log.slice(from).match(re);
            if (m) {
              waiters.splice(waiters.indexOf(w), 1);
              clearTimeout(w.timer);
              resolve(m);
            }
          },
        };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`log did not match ${re} within ${timeout} ms; log:\n${log}`));
        }, timeout);
        waiters.push(w);
        w.check();
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), wrapper ? 20000 : 3000);
      const code = await exited;
      clearTimeout(t);
      // under valgrind (or a sanitizer) a report fails the test that started it
      if (code === 99 || /==\d+== (Invalid|Conditional|Syscall param|Mismatched|Source and destination)|definitely lost in|ERROR: (Address|Leak)Sanitizer|runtime error:/.test(log))
        throw new Error(`memory error report from the gateway (exit ${code}):\n${log.slice(-6000)}`);
      return code;
    },
  };
  await Promise.race([
    gw.waitLog(TLS || args.includes('--tls-cert') ? /listening on https:\/\/127\.0\.0\.1:\d+/ : /listening on http:\/\/127\.0\.0\.1:\d+/, wrapper ? 30000 : 5000),
    exited.then((c) => { throw new Error(`iogate exited early (${c}):\n${log}`); }),
  ]);
  return gw;
}

// One HTTP request on a fresh connection.  Resolves {status, headers, body}
// (body as a string unless binary:true).
function request(port, { method = 'GET', path: p = '/', headers = {}, body, binary = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = (TLS ? https : http).request({ host: HOST, port, method, path: p, headers, agent: false, ...tlsOpts }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: binary ? buf : buf.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const eioPath = (q) => `/socket.io/?EIO=4&transport=polling${q ? '&' + q : ''}`;

// Polling handshake: returns {sid, open} (open = parsed open packet).
async function handshake(port, q) {
  const r = await request(port, { path: eioPath(q) });
  if (r.status !== 200 || r.body[0] !== '0') throw new Error(`handshake failed: ${r.status} ${r.body}`);
  const open = JSON.parse(r.body.slice(1));
  return { sid: open.sid, open, res: r };
}

const poll = (port, sid) => request(port, { path: eioPath(`sid=${sid}`) });
const post = (port, sid, body, headers = {}) =>
  request(port, { method: 'POST', path: eioPath(`sid=${sid}`), body, headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers } });

// Raw TCP: write `chunks` (strings/Buffers; numbers are pauses in ms) and
// collect everything until the server closes or `timeout` ms pass.
function raw(port, chunks, { timeout = 1500, until } = {}) {
  return new Promise((resolve, reject) => {
    const sock = connect(port);
    const got = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(got), closed });
    };
    const timer = setTimeout(() => finish(false), timeout);
    sock.on('data', (d) => {
      got.push(d);
      if (until && until(Buffer.concat(got))) finish(false);
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => (done ? null : e.code === 'ECONNRESET' || (TLS && e.code === 'EPIPE') ? finish(true) : reject(e)));
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (typeof c === 'number') await sleep(c);
        else if (!sock.destroyed) sock.write(c);
      }
    });
  });
}

// A raw WebSocket (the `ws` package) with a message queue.
function wsOpen(port, query, opts = {}) {
  const ws = new WebSocket(`${WS}://${HOST}:${port}/socket.io/?EIO=4&transport=websocket${query ? '&' + query : ''}`, { ...tlsOpts, ...opts });
  const queue = [];
  const waiting = [];
  ws.on('message', (data, isBinary) => {
    const m = { data: isBinary ? Buffer.from(data) : data.toString('utf8'), binary: isBinary };
    if (waiting.length) waiting.shift()(m);
    else queue.push(m);
  });
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  ws.next = (timeout = 2000) =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no websocket message')), timeout);
          waiting.push((m) => { clearTimeout(t); resolve(m); });
        });
  ws.opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.on('error', reject);
  });
  return ws;
}

// The official client, pointed at the gateway.
function eioClient(port, opts = {}) {
  return new Socket(`${TLS ? 'https' : 'http'}://${HOST}:${port}`, { path: '/socket.io/', ...tlsOpts, ...opts });
}

function once(emitter, event, timeout = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${timeout} ms`)), timeout);
    emitter.once(event, (...a) => { clearTimeout(t); resolve(a.length > 1 ? a : a[0]); });
  });
}

// Build one masked client frame by hand (for what `ws` refuses to send).
function clientFrame(opcode, payload, { fin = true, mask = true } = {}) {
  payload = Buffer.from(payload);
  const len = payload.length;
  const head = [(fin ? 0x80 : 0) | opcode];
  let ext = Buffer.alloc(0);
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else if (len < 65536) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  const key = mask ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

const upgradeHead = (port, q, extra = '') =>
  `GET /socket.io/?EIO=4&transport=websocket${q ? '&' + q : ''} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n` +
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  `Sec-WebSocket-Version: 13\r\n${extra}\r\n`;

// Parse server frames (unmasked) out of a buffer that starts after the 101 head.
function parseFrames(buf) {
  const frames = [];
  let o = 0;
  while (o + 2 <= buf.length) {
    const op = buf[o] & 0x0f;
    let len = buf[o + 1] & 0x7f;
    let p = o + 2;
    if (len === 126) { len = buf.readUInt16BE(p); p += 2; }
    else if (len === 127) { len = Number(buf.readBigUInt64BE(p)); p += 8; }
    if (p + len > buf.length) break;
    frames.push({ op, payload: buf.subarray(p, p + len) });
    o = p + len;
  }
  return frames;
}

function afterHead(buf) {
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? null : { head: buf.subarray(0, i).toString(), rest: buf.subarray(i + 4) };
}

module.exports = {
  TLS, WS, connect, HOST, BUILD, sleep, freePort, startGateway, request, eioPath, handshake, poll, post, raw,
  wsOpen, eioClient, once, clientFrame, upgradeHead, parseFrames, afterHead,
};
