// fake_gateway.js — a real ZeroMQ ROUTER bound to a private ipc:// endpoint,
// playing the gateway side of ipc/PROTOCOL.md for the library's tests.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zmq = require('zeromq');
const { Worker } = require('..');
const codec = require('../lib/codec');

const SID1 = 'AAAAAAAAAAAAAAAAAAA1';
const SID2 = 'AAAAAAAAAAAAAAAAAAA2';
const SID3 = 'AAAAAAAAAAAAAAAAAAA3';

class FakeGateway {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-node-test-'));
    this.endpoint = `ipc://${this.dir}/workers.sock`;
    this.router = new zmq.Router({ mandatory: true, linger: 0 });
    this.inbox = []; // decoded messages from the worker
    this.waiters = [];
    this.identity = null;
    this.gatewayId = 'GatewayIncarnation01';
    this.seq = 0;
  }

  async start() {
    await this.router.bind(this.endpoint);
    (async () => {
      try {
        for await (const [id, ...frames] of this.router) {
          this.identity = id;
          const m = codec.decode(frames, codec.FROM_WORKER);
          this.inbox.push(m);
          for (const w of this.waiters.slice()) w();
        }
      } catch {
        /* closed */
      }
    })();
    return this;
  }

  // The next message of the worker matching `pred` (by default anything but
  // heartbeats and PROCESSED); earlier non-matching ones are discarded
  // unless keep is set.
  next(pred = null, ms = 3000) {
    const want = pred || ((m) => !['PING', 'PONG', 'PROCESSED'].includes(m.type));
    const match = typeof want === 'string' ? (m) => m.type === want : want;
    return new Promise((resolve, reject) => {
      const check = () => {
        while (this.inbox.length) {
          const m = this.inbox.shift();
          if (match(m)) {
            this.waiters = this.waiters.filter((w) => w !== check);
            clearTimeout(t);
            resolve(m);
            return;
          }
        }
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no matching message from the worker within ${ms} ms`));
      }, ms);
      this.waiters.push(check);
      check();
    });
  }

  // The first message matching pred that arrives within ms, or null; the
  // inbox is left as it is.
  async none(pred, ms = 200) {
    await new Promise((r) => setTimeout(r, ms));
    return this.inbox.find(pred) || null;
  }

  send(type, sid = '', meta = null, data = null, nsp = '/') {
    if (type === 'EVENT' || type === 'ACK') meta = { ...meta, seq: ++this.seq };
    return this.router.send([this.identity, ...codec.encode(type, nsp, sid, meta, data)]);
  }

  sendRaw(frames) {
    return this.router.send([this.identity, ...frames]);
  }

  // Wait for HELLO, answer WELCOME.  Returns the HELLO.
  async welcome(heartbeatMs = 5000) {
    const hello = await this.next('HELLO');
    await this.send('WELCOME', '', { version: 1, gateway: this.gatewayId, heartbeat_ms: heartbeatMs }, null, hello.nsp);
    return hello;
  }

  // A connected socket: CONNECT, expect ACCEPT.
  async connect(sid = SID1, handshake = {}, extra = {}) {
    await this.send('CONNECT', sid, {
      handshake: { headers: { host: 'x' }, query: { EIO: '4' }, auth: {}, address: '127.0.0.1', ...handshake },
      transport: 'polling',
      recovered: false,
      ...extra,
    });
    const m = await this.next((x) => x.sid === sid && (x.type === 'ACCEPT' || x.type === 'REFUSE'));
    return m;
  }

  async close() {
    this.router.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// A gateway and a worker connected to it (welcomed).  setup(io) registers
// the worker's handlers before it starts.
async function pair(setup = () => {}, { heartbeatMs = 5000, workerOpts = {} } = {}) {
  const gw = await new FakeGateway().start();
  const io = new Worker({
    endpoint: gw.endpoint,
    namespace: '/',
    autoStart: false,
    handleSignals: false,
    logLevel: process.env.IOGATE_WORKER_LOG || 'error',
    ...workerOpts,
  });
  setup(io);
  const ready = new Promise((r) => io.once('ready', r));
  io.start();
  const hello = await gw.welcome(heartbeatMs);
  await ready;
  const done = async () => {
    await io.close({ grace: 0 });
    await gw.close();
  };
  return { gw, io, hello, done };
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Resolve once pred() holds (checked every 5 ms), or after ms anyway: the
// assertion that follows reports what was there.  Tests wait for the event
// they need, not a fixed pause a loaded machine may outlast.
async function waitFor(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(5);
}

module.exports = { FakeGateway, pair, sleep, waitFor, SID1, SID2, SID3 };
