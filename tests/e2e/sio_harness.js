// sio_harness.js — start the real gateway with real worker processes, and
// talk to it with the real socket.io-client or with raw Engine.IO polling
// requests (for the cases an official client will never produce).
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { io } = require('socket.io-client');

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = process.env.IOGATE_BUILD || path.join(ROOT, 'build');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// Start build/iogate.  `workers` maps namespace → command (default: the echo
// example).  Resolves once "listening on" is logged, i.e. every worker has
// said HELLO.  `logs` accumulates stderr of the gateway and its workers.
// IOGATE_TEST_TLS=1: over TLS, as in helpers.js.
const TLS = process.env.IOGATE_TEST_TLS === '1' ? require('./tls_cert').testCert() : null;

async function startGateway({ workers = { '/': 'echo' }, args = [], env = {} } = {}) {
  const port = await freePort();
  const argv = ['--listen', `127.0.0.1:${port}`, ...(TLS ? ['--tls-cert', TLS.cert, '--tls-key', TLS.key] : []), ...args];
  for (const [nsp, cmd] of Object.entries(workers)) {
    // IOGATE_ECHO swaps the echo worker for another language's (the
    // conformance suite runs once per implementation).
    const chosen = cmd === 'echo' && process.env.IOGATE_ECHO ? process.env.IOGATE_ECHO : cmd;
    const command = /\s|\//.test(chosen) ? chosen : path.join(BUILD, 'examples', chosen);
    argv.push('--worker', `${nsp}=${command}`);
  }
  // IOGATE_WRAPPER (e.g. valgrind, see `make test-valgrind`) prefixes the
  // gateway command; sh execs it, so the pid stays the gateway's.
  const wrapper = process.env.IOGATE_WRAPPER;
  const bin = path.join(BUILD, 'iogate');
  const proc = spawn(wrapper ? '/bin/sh' : bin, wrapper ? ['-c', `exec ${wrapper} "$0" "$@"`, bin, ...argv] : argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const gw = {
    port,
    url: `${TLS ? 'https' : 'http'}://127.0.0.1:${port}`,
    proc,
    logs: '',
    exited: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
    clients: [],
  };
  proc.stderr.on('data', (d) => {
    gw.logs += d.toString();
    if (process.env.IOGATE_TEST_VERBOSE) process.stderr.write(d);
  });
  await waitFor(() => /listening on/.test(gw.logs), wrapper ? 30000 : 8000, () => `gateway did not start:\n${gw.logs}`);
  // in TLS mode a gateway that did not turn TLS on fails here, not later
  if (TLS && !/listening on https:\/\//.test(gw.logs)) throw new Error(`IOGATE_TEST_TLS=1 but no "listening on https://":\n${gw.logs}`);
  gw.client = (nsp = '/', opts = {}) => {
    const s = io(gw.url + (nsp === '/' ? '' : nsp), {
      forceNew: true,
      reconnection: false,
      ...(TLS ? { ca: TLS.ca } : {}),
      ...opts,
    });
    gw.clients.push(s);
    return s;
  };
  gw.waitLog = (re, ms = 5000) =>
    waitFor(() => re.test(gw.logs), ms, () => `log ${re} not seen:\n${gw.logs.slice(-3000)}`).then(
      () => gw.logs.match(re),
    );
  // Stop the gateway (SIGTERM); resolves with its exit.  closeClients:
  // false leaves the clients connected, to see what shutdown does to them.
  gw.stop = async ({ closeClients = true } = {}) => {
    if (closeClients) for (const c of gw.clients) c.close();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const r = await Promise.race([gw.exited, sleep(wrapper ? 20000 : 5000).then(() => null)]);
    if (!r) {
      proc.kill('SIGKILL');
      await gw.exited;
    }
    // Under SANITIZE builds a report from the gateway or any worker fails
    // the test that started them.
    const san = /(ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|==\d+== (Invalid|Conditional|Syscall param|Mismatched|Source and destination)|definitely lost in)[^\n]*/.exec(gw.logs);
    if (!san && r && r.code === 99) throw new Error(`gateway exited 99 (memory error report):\n${gw.logs.slice(-4000)}`);
    if (san) throw new Error(`sanitizer report in gateway/worker output: ${san[0]}\n${gw.logs.slice(-4000)}`);
    return r;
  };
  return gw;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(pred, ms = 5000, msg = () => 'timed out') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(10);
  }
  throw new Error(typeof msg === 'function' ? msg() : msg);
}

// Resolve with the arguments of the next `event` on emitter `s`.
function once(s, event, ms = 4000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    s.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

// A raw Engine.IO v4 polling session: exact bytes in, exact bytes out.
async function rawPolling(gw, query = '') {
  const base = `${gw.url}/socket.io/?EIO=4&transport=polling${query}`;
  const res = await fetch(base);
  const body = await res.text();
  if (body[0] !== '0') throw new Error(`bad handshake: ${res.status} ${body}`);
  const open = JSON.parse(body.slice(1));
  const sid = open.sid;
  const url = `${base}&sid=${sid}`;
  return {
    sid,
    open,
    // POST Engine.IO packets (strings), joined with \x1e.
    async send(...packets) {
      const r = await fetch(url, { method: 'POST', body: packets.join('\x1e') });
      return { status: r.status, body: await r.text() };
    },
    // One GET; returns the packets it carried.
    async poll() {
      const r = await fetch(url);
      const text = await r.text();
      return { status: r.status, packets: r.status === 200 ? text.split('\x1e') : [], text };
    },
    // Poll until a packet matching `pred` arrives (answering pings).  Packets
    // after the match in the same response stay queued for the next call.
    backlog: [],
    async until(pred, ms = 5000) {
      const end = Date.now() + ms;
      const seen = [];
      for (;;) {
        while (this.backlog.length) {
          const p = this.backlog.shift();
          seen.push(p);
          if (p === '2') await this.send('3');
          if (pred(p)) return { status: 200, packet: p, seen };
        }
        if (Date.now() >= end) break;
        const { status, packets, text } = await this.poll();
        if (status !== 200) return { status, seen, text };
        this.backlog.push(...packets);
      }
      throw new Error(`no matching packet; saw ${JSON.stringify(seen)}`);
    },
  };
}

module.exports = { startGateway, freePort, sleep, waitFor, once, rawPolling, ROOT, BUILD, TLS };
