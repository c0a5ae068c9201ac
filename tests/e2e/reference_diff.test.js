// reference_diff.test.js — a differential test against the reference.
//
// The reference server (socket.io 4.8 / engine.io 6.6 from npm, in this
// process) and iogate (build/iogate with the C echo worker on "/" and
// "/custom") get the same raw inputs — Engine.IO polling requests and raw
// WebSocket frames — and what a client can observe is compared: HTTP
// statuses and bodies, the packets received (socket ids and sids
// normalized), and whether the connection stays open.
//
// CASES below lists every input where the reference's parsers
// (socket.io-parser Decoder.decodeString/isPayloadValid, engine.io-parser
// decodePacket/decodePayload, engine.io Server.verify/onWebSocket,
// engine.io Polling.onData/onClose, socket.io Client.ondecoded) and
// iogate's (gateway/sio_codec.c, gateway/eio_codec.c, gateway/eio.c,
// gateway/sio.c) could disagree, with a note on the reference's verdict.
// Where iogate deliberately differs, the case says so in `differs` (the
// reason) and `iogate` (iogate's documented answer): the test then asserts
// that the reference still behaves as noted AND that iogate gives its
// documented answer, so neither side can drift unnoticed.
//
// The reference application mirrors examples/echo (the parts used here):
// middleware refuses auth {"refuse":true} with "refused" {reason:"auth"};
// on connection it emits "auth" with the auth object; "message" → emits
// "message-back" with the same args (and acks them if asked);
// "message-with-ack" acks with the same args.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const WebSocket = require('ws');
const { Server } = require('socket.io');
const { startGateway, sleep } = require('./sio_harness');

const PING_INTERVAL = 400;
const PING_TIMEOUT = 5000; // generous: the machine may be loaded
const CONNECT_TIMEOUT = 5000; // longer than any observation window
const WINDOW = 700; // how long to watch after the last input

// ---- the two servers --------------------------------------------------------

function startReference() {
  return new Promise((resolve) => {
    const srv = http.createServer();
    const io = new Server(srv, {
      pingInterval: PING_INTERVAL,
      pingTimeout: PING_TIMEOUT,
      connectTimeout: CONNECT_TIMEOUT,
      serveClient: false,
    });
    for (const name of ['/', '/custom']) {
      const nsp = io.of(name);
      nsp.use((socket, next) => {
        if (socket.handshake.auth && socket.handshake.auth.refuse === true) {
          const err = new Error('refused');
          err.data = { reason: 'auth' };
          next(err);
        } else next();
      });
      nsp.on('connection', (socket) => {
        socket.emit('auth', socket.handshake.auth);
        socket.on('message', (...args) => {
          const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
          socket.emit('message-back', ...args);
          if (ack) ack(...args);
        });
        socket.on('message-with-ack', (...args) => {
          const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
          if (ack) ack(...args);
        });
      });
    }
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      resolve({
        name: 'reference',
        port,
        url: `http://127.0.0.1:${port}`,
        stop: () => new Promise((r) => { io.close(); srv.close(() => r()); }),
      });
    });
  });
}

// ---- observing one target ---------------------------------------------------

const norm = (s) => s.replace(/"sid":"[A-Za-z0-9_-]+"/g, '"sid":"*"');
const PATH = '/socket.io/?EIO=4&transport=polling';

async function fetchText(url, opts) {
  const r = await fetch(url, opts);
  return { status: r.status, body: await r.text() };
}

// A polling session: handshake, POST each input, then watch for WINDOW ms
// (answering pings).  Observation: the POST answers, the packets received
// (pings left out but counted), and whether the session is still open.
async function observePolling(t, inputs, { window = WINDOW } = {}) {
  const hs = await fetchText(`${t.url}${PATH}`);
  assert.equal(hs.status, 200, `${t.name} handshake: ${hs.body}`);
  const sid = JSON.parse(hs.body.slice(1)).sid;
  const url = `${t.url}${PATH}&sid=${sid}`;
  const obs = { posts: [], packets: [], pings: 0, end: 'open' };
  // GET until `stop` says so, the session closes, or the deadline passes.
  const watch = async (deadline, stop) => {
    while (obs.end === 'open' && Date.now() < deadline) {
      const r = await fetchText(url);
      if (r.status !== 200) {
        obs.end = 'closed';
        obs.how = `GET ${r.status}`;
        return;
      }
      for (const p of r.body.split('\x1e')) {
        if (p === '2') {
          obs.pings++;
          await fetchText(url, { method: 'POST', body: '3' });
        } else if (p === '1') {
          obs.end = 'closed';
          obs.how = 'close packet';
        } else if (p !== '6') {
          obs.packets.push(norm(p));
        }
      }
      if (stop && obs.packets.some(stop)) return;
    }
  };
  for (const input of inputs) {
    if (input.until) {
      // wait for a packet (e.g. the CONNECT reply) before the next input
      await watch(Date.now() + 4000, (p) => p.startsWith(input.until));
      continue;
    }
    const r = await fetchText(url, { method: 'POST', body: input, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } });
    obs.posts.push(r.status === 200 ? r.body : `${r.status}`);
  }
  await watch(Date.now() + window);
  return obs;
}

// A session that starts on WebSocket: send each input as a frame (strings
// as text, Buffers as binary), watch for WINDOW ms.  Observation: the
// messages received (pings left out), and open/closed.
async function observeWebSocket(t, inputs, { window = WINDOW } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${t.port}/socket.io/?EIO=4&transport=websocket`);
  const obs = { packets: [], pings: 0, end: 'open' };
  ws.on('error', () => {});
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  let opened = false;
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? `<binary ${Buffer.from(data).toString('hex')}>` : data.toString();
    if (!opened && m[0] === '0') {
      opened = true;
      return;
    }
    if (m === '2') {
      obs.pings++;
      ws.send('3');
    } else obs.packets.push(norm(m));
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('unexpected-response', () => reject(new Error(`${t.name}: no 101`))); });
  for (const input of inputs) {
    if (input.until) {
      const end = Date.now() + 4000;
      while (Date.now() < end && !obs.packets.some((p) => p.startsWith(input.until))) await sleep(10);
      continue;
    }
    ws.send(typeof input === 'object' && input.hex ? Buffer.from(input.hex, 'hex') : input, { binary: typeof input === 'object' });
    await sleep(20);
  }
  const code = await Promise.race([closed, sleep(window).then(() => null)]);
  if (code !== null) {
    obs.end = 'closed';
    obs.how = `close ${code}`;
  } else ws.terminate();
  return obs;
}

module.exports = { startReference, observePolling, observeWebSocket, norm };

if (require.main === module || process.env.REFDIFF_EXPLORE) {
  (async () => {
    const ref = await startReference();
    const gw = await startGateway({
      workers: { '/': 'echo', '/custom': 'echo' },
      args: ['--ping-interval', `${PING_INTERVAL}`, '--ping-timeout', `${PING_TIMEOUT}`, '--connect-timeout', `${CONNECT_TIMEOUT}`],
    });
    gw.name = 'iogate';
    const inputs = JSON.parse(process.argv[2] || '[["40"]]');
    const kind = process.argv[3] || 'polling';
    for (const inp of inputs) {
      for (const t of [ref, gw]) {
        const o = kind === 'ws' ? await observeWebSocket(t, inp) : await observePolling(t, inp);
        console.log(JSON.stringify(inp), t.name.padEnd(9), JSON.stringify(o));
      }
    }
    await ref.stop();
    await gw.stop();
    process.exit(0);
  })();
}
