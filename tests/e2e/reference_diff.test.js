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
// iogate's (gateway/socketio/sio_codec.c, gateway/engineio/eio_codec.c, gateway/engineio/eio.c,
// gateway/socketio/sio.c) could disagree, with a note on the reference's verdict.
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
//
// With IOGATE_TEST_TLS=1 (tls_suites.test.js) both servers serve TLS with
// the same certificate, and every input goes over HTTPS / WSS / TLS.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');
const WebSocket = require('ws');
const { Server } = require('socket.io');
const { startGateway, sleep, TLS } = require('./sio_harness');
const WS = TLS ? 'wss' : 'ws';
const tlsOpts = TLS ? { ca: TLS.ca } : {};

const PING_INTERVAL = 400;
const PING_TIMEOUT = 5000; // generous: the machine may be loaded
const CONNECT_TIMEOUT = 5000; // longer than any observation window
const WINDOW = 700; // how long to watch after the last input

// ---- the two servers --------------------------------------------------------

function startReference(pingInterval = PING_INTERVAL) {
  return new Promise((resolve) => {
    const srv = TLS ? https.createServer({ cert: fs.readFileSync(TLS.cert), key: fs.readFileSync(TLS.key) }) : http.createServer();
    const io = new Server(srv, {
      pingInterval,
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
        url: `${TLS ? 'https' : 'http'}://127.0.0.1:${port}`,
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
  const ws = new WebSocket(`${WS}://127.0.0.1:${t.port}/socket.io/?EIO=4&transport=websocket`, tlsOpts);
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
    } else if (m === '1') obs.closePacket = true;
    else obs.packets.push(norm(m));
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


// ---- scenarios that need more than a list of inputs ---------------------------

async function handshakeSid(t) {
  const hs = await fetchText(`${t.url}${PATH}`);
  return JSON.parse(hs.body.slice(1)).sid;
}

// A raw HTTP/1.1 request on its own TCP connection, written in parts
// (numbers are pauses in ms).  Resolves "<status> <body>".
function rawHttp(port, parts) {
  return new Promise((resolve) => {
    const sock = TLS ? tls.connect({ host: '127.0.0.1', port, ...tlsOpts }) : net.connect(port, '127.0.0.1');
    let data = '';
    const done = () => {
      const m = /^HTTP\/1\.1 (\d+)/.exec(data);
      const i = data.indexOf('\r\n\r\n');
      let body = i < 0 ? '' : data.slice(i + 4);
      if (/transfer-encoding: chunked/i.test(data.slice(0, i))) body = body.split('\r\n')[1] || '';
      resolve(m ? `${m[1]} ${body}` : 'no answer');
    };
    sock.on('data', (d) => { data += d; });
    sock.on('close', done);
    sock.on('error', () => {});
    sock.setTimeout(3000, () => sock.destroy());
    sock.on(TLS ? 'secureConnect' : 'connect', async () => {
      for (const p of parts) {
        if (typeof p === 'number') await sleep(p);
        else sock.write(p);
      }
    });
  });
}

const reqHead = (t, method, sid, extra = '') =>
  `${method} ${PATH}&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1:${t.port}\r\nConnection: close\r\n${extra}\r\n`;

// Item 2: a client close ("1" by POST) and a GET, in three orders.
const closeByPost = {
  // the GET waits first, then the POST carries "1"
  async getWaits(t) {
    const sid = await handshakeSid(t);
    const get = rawHttp(t.port, [reqHead(t, 'GET', sid)]);
    await sleep(300); // the GET is held by then, even on a loaded machine
    const post = await rawHttp(t.port, [reqHead(t, 'POST', sid, 'Content-Length: 1\r\n'), '1']);
    const held = await get;
    await sleep(50);
    const later = await rawHttp(t.port, [reqHead(t, 'GET', sid)]);
    return { held, post, later };
  },
  // the POST's head arrives, then the GET, then the POST's body "1"
  async postHeadFirst(t) {
    const sid = await handshakeSid(t);
    const post = rawHttp(t.port, [reqHead(t, 'POST', sid, 'Content-Length: 1\r\n'), 400, '1']);
    await sleep(100);
    const get = rawHttp(t.port, [reqHead(t, 'GET', sid)]);
    const [p, held] = await Promise.all([post, get]);
    await sleep(50);
    const later = await rawHttp(t.port, [reqHead(t, 'GET', sid)]);
    return { held, post: p, later };
  },
  // the whole POST is handled before the GET arrives
  async postFirst(t) {
    const sid = await handshakeSid(t);
    const post = await rawHttp(t.port, [reqHead(t, 'POST', sid, 'Content-Length: 1\r\n'), '1']);
    const get = await rawHttp(t.port, [reqHead(t, 'GET', sid)]);
    return { post, get };
  },
};

// A raw WebSocket with a message queue; `opened` rejects with the HTTP
// status when the server does not answer 101.
function wsConnect(t, query) {
  const ws = new WebSocket(`${WS}://127.0.0.1:${t.port}/socket.io/?EIO=4&transport=websocket${query ? `&${query}` : ''}`, tlsOpts);
  const queue = [];
  ws.on('message', (d) => queue.push(d.toString()));
  ws.on('error', () => {});
  ws.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
  });
  ws.next = async (pred = () => true, ms = 3000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const i = queue.findIndex(pred);
      if (i >= 0) return queue.splice(i, 1)[0];
      await sleep(10);
    }
    throw new Error('no such websocket message');
  };
  return ws;
}

// What a second WebSocket for the same sid gets: its HTTP answer, whether
// it is closed at once (and with which code), and whether the first
// connection still works afterwards (it connects "/" and gets the reply).
async function secondWebSocket(ws2, first) {
  const out = {};
  try {
    await ws2.opened;
    out.status = 101;
    const code = await Promise.race([ws2.closed, sleep(500).then(() => null)]);
    out.closed = code === null ? 'stays open' : `closed ${code}`;
  } catch (e) {
    out.status = e.status;
    out.body = e.body;
  }
  ws2.terminate();
  first.send('40');
  out.first = norm(await first.next((m) => m.startsWith('40')));
  first.terminate();
  return out;
}

// Item 3: a second WebSocket for a sid that has upgraded already.
async function secondWsUpgraded(t) {
  const sid = await handshakeSid(t);
  const ws = wsConnect(t, `sid=${sid}`);
  await ws.opened;
  ws.send('2probe');
  await ws.next((m) => m === '3probe');
  ws.send('5');
  await sleep(100);
  return secondWebSocket(wsConnect(t, `sid=${sid}`), ws);
}

// ... and while its upgrade is still pending (probe answered, no "5" yet);
// the first then completes its upgrade.
async function secondWsUpgrading(t) {
  const sid = await handshakeSid(t);
  const ws = wsConnect(t, `sid=${sid}`);
  await ws.opened;
  ws.send('2probe');
  await ws.next((m) => m === '3probe');
  const ws2 = wsConnect(t, `sid=${sid}`);
  const out = {};
  try {
    await ws2.opened;
    out.status = 101;
    const code = await Promise.race([ws2.closed, sleep(500).then(() => null)]);
    out.closed = code === null ? 'stays open' : `closed ${code}`;
  } catch (e) {
    out.status = e.status;
  }
  ws2.terminate();
  ws.send('5');
  await sleep(100);
  ws.send('40');
  out.first = norm(await ws.next((m) => m.startsWith('40')));
  ws.terminate();
  return out;
}

// ... and for a session that started on WebSocket (never upgraded).
async function secondWsOnWsSession(t) {
  const ws = wsConnect(t);
  await ws.opened;
  const sid = JSON.parse((await ws.next((m) => m[0] === '0')).slice(1)).sid;
  return secondWebSocket(wsConnect(t, `sid=${sid}`), ws);
}

async function wsUnknownSid(t) {
  const ws = wsConnect(t, 'sid=AAAAAAAAAAAAAAAAAAAA');
  try {
    await ws.opened;
    ws.terminate();
    return { status: 101 };
  } catch (e) {
    return { status: e.status, body: e.body };
  }
}

// Item 1: the last namespace leaves; is the connection still there, with
// heartbeats, and can a namespace be joined again?
async function lastNamespaceLeaves(t, transport) {
  const inputs = ['40', { until: '42["auth"' }, '41'];
  const o = transport === 'websocket'
    ? await observeWebSocket(t, inputs, { window: 1500 })
    : await observePolling(t, inputs, { window: 1500 });
  return { end: o.end, heartbeats: o.pings > 0 };
}

// ---- the table ------------------------------------------------------------------
//
// Each row: name, transport ('polling' | 'websocket'), inputs (strings are
// POST bodies or text frames, {hex} a binary frame, {until} waits for a
// packet), `end` — the reference's verdict, 'open' or 'closed' — and `ref`,
// a note on why the reference answers so.  Rows with `differs` are
// deliberate differences: `iogate` is iogate's documented answer.

const A = ['40', { until: '42["auth"' }]; // connected to "/" (and its "auth" event seen)
const nest = (n) => '['.repeat(n) + ']'.repeat(n);

const CASES = [
  // -- Socket.IO packets (socket.io-parser Decoder, socket.io Client.ondecoded)
  { name: '40', inputs: ['40'], end: 'open', ref: 'CONNECT to "/": 40{"sid"} and the app\'s "auth" event' },
  { name: '40123 (issue 13)', inputs: ['40123'], end: 'open', ref: 'digits after the type are read as an ack id, which CONNECT ignores' },
  { name: '40/custom,123', inputs: ['40/custom,123'], end: 'open', ref: 'the same after a namespace' },
  { name: '40/custom,5{auth}', inputs: ['40/custom,5{"token":"x"}'], end: 'open', ref: 'an id, then the auth object' },
  { name: '40/custom without a comma', inputs: ['40/custom'], end: 'open', ref: 'the namespace runs to the end' },
  { name: 'CONNECT auth with trailing whitespace', inputs: ['40{"a":1} '], end: 'open', ref: 'JSON.parse allows it' },
  { name: 'CONNECT auth an array', inputs: ['40[]'], end: 'closed', ref: 'isPayloadValid: CONNECT data must be a plain object' },
  { name: 'CONNECT auth null', inputs: ['40null'], end: 'closed', ref: 'not a plain object' },
  { name: 'CONNECT auth a string', inputs: ['40"x"'], end: 'closed', ref: 'not a plain object' },
  { name: 'CONNECT with junk', inputs: ['40abc'], end: 'closed', ref: 'invalid JSON → invalid payload' },
  { name: 'unknown namespace', inputs: ['40/nope,'], end: 'open', ref: '44/nope,{"message":"Invalid namespace"}; the connection stays' },
  { name: 'middleware refusal', inputs: ['40/custom,{"refuse":true}'], end: 'open', ref: '44 with message and data' },
  { name: '41123 on the last namespace', inputs: [...A, '41123'], end: 'open', ref: 'DISCONNECT ignores an id; the last namespace leaving keeps the connection' },
  { name: 'the first of two namespaces leaves', inputs: [...A, '40/custom,', { until: '42/custom,["auth"' }, '41'], end: 'open', ref: '/custom stays' },
  { name: 'a second CONNECT once connected', inputs: [...A, '40'], end: 'closed', ref: 'Client.ondecoded: invalid state' },
  { name: 'EVENT before CONNECT', inputs: ['42["message","x"]'], end: 'closed', ref: 'no socket for the namespace: invalid state' },
  { name: 'CONNECT and EVENT in one POST', inputs: ['40\x1e42["message","x"]'], end: 'closed', ref: 'the EVENT comes while the CONNECT is still in its middleware' },
  { name: 'EVENT', inputs: [...A, '42["message","x"]'], end: 'open', ref: 'echoed by the app' },
  { name: 'EVENT not an array', inputs: [...A, '42{}'], end: 'closed', ref: 'invalid payload' },
  { name: 'EVENT empty array', inputs: [...A, '42[]'], end: 'closed', ref: 'no event name: invalid payload' },
  { name: 'EVENT with a reserved name', inputs: [...A, '42["connect"]'], end: 'closed', ref: 'RESERVED_EVENTS: invalid payload' },
  { name: 'EVENT with a non-numeric id', inputs: [...A, '42abc'], end: 'closed', ref: 'invalid JSON' },
  { name: 'EVENT with trailing junk', inputs: [...A, '42["message"]x'], end: 'closed', ref: 'invalid JSON' },
  { name: 'EVENT with a multi-digit ack id', inputs: [...A, '42456["message-with-ack","a"]'], end: 'open', ref: '43456["a"]' },
  { name: 'ACK for an unknown id', inputs: [...A, '43999["x"]'], end: 'open', ref: 'Socket.onack: no such ack, ignored' },
  { name: 'CONNECT_ERROR from a client', inputs: [...A, '44{"message":"x"}'], end: 'closed', ref: 'Client.ondecoded: invalid state' },
  { name: 'unknown packet type 7', inputs: [...A, '47'], end: 'closed', ref: 'unknown packet type' },
  { name: 'packet type x', inputs: ['4x'], end: 'closed', ref: 'unknown packet type' },
  { name: 'empty message', inputs: ['4'], end: 'closed', ref: 'engine.io-parser gives no data; Decoder.add(undefined) throws' },
  { name: 'EVENT to a namespace not joined', inputs: [...A, '42/custom,["message"]'], end: 'closed', ref: 'invalid state' },
  { name: 'DISCONNECT from a namespace never joined', inputs: ['41/custom,'], end: 'closed', ref: 'invalid state' },
  { name: 'DISCONNECT from another namespace', inputs: [...A, '41/custom,'], end: 'closed', ref: 'invalid state' },
  { name: 'BINARY_EVENT', inputs: [...A, '451-["message",{"_placeholder":true,"num":0}]\x1ebAQID'], end: 'open', ref: 'echoed with its attachment' },
  { name: 'BINARY_EVENT without a count', inputs: [...A, '45-["message"]'], end: 'closed', ref: 'Illegal attachments' },
  { name: 'BINARY_EVENT with zero attachments', inputs: [...A, '450-["message"]'], end: 'closed', ref: 'Illegal attachments' },
  { name: 'BINARY_EVENT over maxAttachments', inputs: [...A, '4511-["message"]'], end: 'closed', ref: 'too many attachments (10)' },
  { name: 'placeholder num out of range', inputs: [...A, '451-["message",{"_placeholder":true,"num":1}]\x1ebAQ=='], end: 'closed', ref: 'illegal attachments' },
  { name: 'a NUL after a number', inputs: [...A, '42["message",1\u0000]'], end: 'closed', ref: 'JSON.parse refuses it (jansson would skip it; the scanner refuses it too)' },
  { name: 'text while attachments are due', inputs: [...A, '451-["message"]\x1e42["message"]'], end: 'closed', ref: 'got plaintext data when reconstructing a packet' },
  { name: 'binary with no binary packet', inputs: [...A, 'bAQID'], end: 'closed', ref: 'got binary data when not reconstructing a packet' },

  // -- Engine.IO over polling (engine.io-parser decodePayload, engine.io Socket.onPacket)
  { name: 'unsolicited pong', inputs: ['3'], end: 'open', ref: 'ignored' },
  { name: 'upgrade packet on polling', inputs: ['5'], end: 'open', ref: 'ignored' },
  { name: 'noop from the client', inputs: ['6'], end: 'open', ref: 'ignored' },
  { name: 'open packet from the client', inputs: ['0'], end: 'open', ref: 'ignored' },
  { name: 'ping from the client (v4)', inputs: ['2'], end: 'closed', ref: 'invalid heartbeat direction' },

  // -- deliberate differences
  {
    name: 'invalid Engine.IO payload', inputs: ['abc'], end: 'closed', ref: 'POST 200 "ok", then the session is closed (parse error)',
    differs: 'the POST itself is answered 400 {"code":3,"message":"Bad request"}: the client is told its payload was refused (a clear answer for bad input)',
    iogate: { posts: ['400'], end: 'closed' },
  },
  { name: 'empty POST body', inputs: [''], end: 'closed', ref: 'POST "ok", closed', differs: 'POST 400, as above', iogate: { posts: ['400'], end: 'closed' } },
  { name: 'unknown Engine.IO type 7', inputs: ['7'], end: 'closed', ref: 'POST "ok", closed', differs: 'POST 400, as above', iogate: { posts: ['400'], end: 'closed' } },
  { name: 'trailing record separator', inputs: ['40\x1e'], end: 'closed', ref: 'an empty packet: POST "ok", closed', differs: 'POST 400, as above', iogate: { posts: ['400'], end: 'closed' } },
  {
    name: 'invalid base64', inputs: ['b!!!'], end: 'closed', ref: 'Buffer.from is lenient: a binary message with no packet, then closed',
    differs: 'base64 is checked strictly by the Engine.IO layer: POST 400, closed', iogate: { posts: ['400'], end: 'closed' },
  },
  {
    name: 'a space as a packet', inputs: ['4 '], end: 'open', ref: 'Number(" ") is 0: a CONNECT to "/"',
    differs: 'JavaScript coercion quirks are left out of the grammar (sio_codec.c): unknown packet type, closed', iogate: { end: 'closed' },
  },
  {
    name: 'a space before the data', inputs: [...A, '42 ["message"]'], end: 'open', ref: 'Number(" ") == " ": an ack id 0, so the app also answers 430[]',
    refPackets: ['40{"sid":"*"}', '42["auth",{}]', '42["message-back"]', '430[]'],
    differs: 'no coercion: JSON allows the whitespace, no ack id, no 430[]', iogate: { end: 'open', packets: ['40{"sid":"*"}', '42["auth",{}]', '42["message-back"]'] },
  },
  {
    name: 'a numeric event name', inputs: [...A, '42[1,"x"]'], end: 'open', ref: 'isPayloadValid allows a number as the name',
    differs: 'event names are strings for every worker library: closed', iogate: { end: 'closed' },
  },
  {
    name: 'an ack id over 15 digits', inputs: [...A, '42123456789012345678["message-with-ack"]'], end: 'open', ref: 'Number() rounds it: the ack says 43123456789012345680[], another id',
    refPackets: ['40{"sid":"*"}', '42["auth",{}]', '43123456789012345680[]'],
    differs: 'ids stay exact (below 2^53) or the packet is refused: closed', iogate: { end: 'closed' },
  },
  {
    name: 'ACK without an id', inputs: [...A, '43["x"]'], end: 'open', ref: 'Socket.onack finds no ack for undefined; ignored',
    differs: 'an ACK that names no id can match nothing: closed (sio_codec.c)', iogate: { end: 'closed' },
  },
  {
    name: 'a placeholder in a plain EVENT', inputs: [...A, '42["message",{"_placeholder":true,"num":0}]'], end: 'open', ref: 'no reconstruction for type 2: the object is data',
    differs: 'a worker library would resolve it against attachments that do not exist: closed', iogate: { end: 'closed' },
  },
  {
    name: 'a placeholder key repeated', inputs: [...A, '451-["message",{"_placeholder":false,"_placeholder":true,"num":0}]\x1ebAQID'], end: 'open', ref: 'JSON.parse keeps the last key: a valid placeholder',
    differs: 'the scanner checks every member (json_scan.h): a placeholder object has exactly one _placeholder and one num; closed', iogate: { end: 'closed' },
  },
  {
    name: 'a lone surrogate escape', inputs: [...A, '42["message","\\ud800"]'], end: 'open', ref: 'JSON.parse accepts it',
    differs: 'not valid Unicode: the scanner refuses it (as jansson does), closed', iogate: { end: 'closed' },
  },
  {
    name: 'a NUL in a string', inputs: [...A, '42["message","a\\u0000b"]'], end: 'open', ref: 'JSON.parse accepts it',
    differs: 'refused on purpose: strings reach workers as C strings; closed', iogate: { end: 'closed' },
  },
  {
    name: 'JSON nested 33 deep', inputs: [...A, `42["message",${nest(32)}]`], end: 'open', ref: 'accepted (the reference itself fails one level deeper)',
    differs: 'nesting is bounded by --max-depth (32 by default): closed', iogate: { end: 'closed' },
  },
  {
    name: 'two CONNECTs in one POST', inputs: ['40\x1e40'], end: 'open', ref: 'the second arrives while the first is in middleware: two sockets, two replies',
    refPackets: ['40{"sid":"*"}', '42["auth",{}]', '40{"sid":"*"}', '42["auth",{}]'],
    differs: 'a CONNECT repeated while the first is pending gets one answer (socket.io-client repeats it on connect())', iogate: { end: 'open', packets: ['40{"sid":"*"}', '42["auth",{}]'] },
  },

  // -- WebSocket frames
  { name: 'ws: 40', transport: 'websocket', inputs: ['40'], end: 'open', ref: 'CONNECT' },
  { name: 'ws: 40123', transport: 'websocket', inputs: ['40123'], end: 'open', ref: 'the id is ignored' },
  { name: 'ws: BINARY_EVENT and a binary frame', transport: 'websocket', inputs: [...A, '451-["message",{"_placeholder":true,"num":0}]', { hex: '010203' }], end: 'open', ref: 'echoed' },
  { name: 'ws: unsolicited pong', transport: 'websocket', inputs: ['3'], end: 'open', ref: 'ignored' },
  { name: 'ws: the last namespace leaves', transport: 'websocket', inputs: [...A, '41'], end: 'open', ref: 'the connection stays' },
  { name: 'ws: an empty text frame', transport: 'websocket', inputs: [''], end: 'closed', ref: 'parse error' },
  { name: 'ws: ping from the client', transport: 'websocket', inputs: ['2'], end: 'closed', ref: 'invalid heartbeat direction' },
  { name: 'ws: empty message', transport: 'websocket', inputs: ['4'], end: 'closed', ref: 'no data for the decoder' },
  { name: 'ws: EIO3 binary prefix', transport: 'websocket', inputs: ['b4AQ=='], end: 'closed', ref: 'binary with no binary packet' },
  { name: 'ws: binary frame with no packet', transport: 'websocket', inputs: [...A, { hex: '0102' }], end: 'closed', ref: 'got binary data when not reconstructing' },
  { name: 'ws: bad Socket.IO packet', transport: 'websocket', inputs: [...A, '42abc'], end: 'closed', ref: 'invalid JSON' },
  {
    name: 'ws: how an invalid packet closes', transport: 'websocket', inputs: ['abc'], end: 'closed', ref: 'the socket is closed with no code (1005), no close packet',
    refHow: 'close 1005',
    differs: 'a close packet "1", then code 1000: a client can tell a server close from a network drop', iogate: { end: 'closed', closePacket: true, how: 'close 1000' },
  },
  {
    name: 'ws: a close packet from the client', transport: 'websocket', inputs: ['1'], end: 'open', ref: 'only the polling transport handles "1"; on WebSocket it is ignored',
    differs: 'the Engine.IO protocol says "1" closes the transport, so it does (the official client never sends it on WebSocket)', iogate: { end: 'closed' },
  },
];

const pick = (o, keys) => Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
const view = (o) => pick(o, ['posts', 'packets', 'end']);

// ---- the scenarios, compared the same way ------------------------------------------

const SCENARIOS = [
  { name: 'item 1: the last namespace leaves (polling): open, heartbeats go on', run: (t) => lastNamespaceLeaves(t, 'polling'), want: { end: 'open', heartbeats: true } },
  { name: 'item 1: the last namespace leaves (websocket): open, heartbeats go on', run: (t) => lastNamespaceLeaves(t, 'websocket'), want: { end: 'open', heartbeats: true } },
  {
    name: 'item 2: "1" by POST while a GET waits: the GET gets 200 "6", the session is gone',
    run: closeByPost.getWaits,
    quiet: true, // no ping may answer the held GET first
    want: { held: '200 6', post: '200 ok', later: '400 {"code":1,"message":"Session ID unknown"}' },
  },
  {
    name: 'item 2: the POST head first, then the GET, then the body "1": the same',
    run: closeByPost.postHeadFirst,
    quiet: true, // no ping may answer the held GET first
    want: { held: '200 6', post: '200 ok', later: '400 {"code":1,"message":"Session ID unknown"}' },
  },
  {
    name: 'item 2: the whole POST "1" first, then the GET: 400 (the session is gone)',
    run: closeByPost.postFirst,
    quiet: true, // no ping may answer the held GET first
    want: { post: '200 ok', get: '400 {"code":1,"message":"Session ID unknown"}' },
  },
  {
    name: 'item 3: a second WebSocket for an upgraded sid: 101, closed at once; the first works on',
    run: secondWsUpgraded,
    want: { status: 101, closed: 'closed 1005', first: '40{"sid":"*"}' },
  },
  {
    name: 'item 3: a second WebSocket while the upgrade is pending: 101, closed; the first completes',
    run: secondWsUpgrading,
    want: { status: 101, closed: 'closed 1005', first: '40{"sid":"*"}' },
  },
  {
    name: 'a WebSocket for an unknown sid: 400',
    run: wsUnknownSid,
    // engine.io's abortUpgrade writes the bare message as text/html
    ref: { status: 400, body: 'Session ID unknown' },
    differs: 'the body is the same JSON as on polling ({"code":1,…}), so a client can read the code',
    want: { status: 400, body: '{"code":1,"message":"Session ID unknown"}' },
  },
  {
    name: 'a second WebSocket for a session that started on WebSocket',
    run: secondWsOnWsSession,
    // the reference starts a WebSocket-to-WebSocket upgrade and waits for a probe
    ref: { status: 101, closed: 'stays open', first: '40{"sid":"*"}' },
    differs: 'treated like an upgraded session: 101 and closed at once, the first untouched',
    want: { status: 101, closed: 'closed 1005', first: '40{"sid":"*"}' },
  },
];

const startIogate = async (pingInterval = PING_INTERVAL) => {
  const gw = await startGateway({
    workers: { '/': 'echo', '/custom': 'echo' },
    args: ['--ping-interval', `${pingInterval}`, '--ping-timeout', `${PING_TIMEOUT}`, '--connect-timeout', `${CONNECT_TIMEOUT}`],
  });
  gw.name = 'iogate';
  return gw;
};

describe('differential: iogate against the reference (socket.io 4.8 / engine.io 6.6)', { concurrency: 4 }, () => {
  let ref;
  let gw;
  // a second pair without heartbeats in the way, for held-GET timings
  let quietRef;
  let quietGw;
  before(async () => {
    [ref, gw, quietRef, quietGw] = await Promise.all([startReference(), startIogate(), startReference(60000), startIogate(60000)]);
  });
  after(async () => {
    await Promise.all([ref.stop(), gw.stop(), quietRef.stop(), quietGw.stop()]);
  });

  for (const c of CASES) {
    const title = `${c.transport === 'websocket' ? '' : 'polling: '}${c.name} — reference: ${c.end}${c.differs ? ' (iogate differs on purpose)' : ''}`;
    test(title, async () => {
      const observe = c.transport === 'websocket' ? observeWebSocket : observePolling;
      const [r, g] = await Promise.all([observe(ref, c.inputs), observe(gw, c.inputs)]);
      const ctx = `\nreference: ${JSON.stringify(r)}\niogate:    ${JSON.stringify(g)}`;
      // the table's note on the reference is still true
      assert.equal(r.end, c.end, `reference verdict changed${ctx}`);
      if (c.refPackets) assert.deepEqual(r.packets, c.refPackets, `reference packets changed${ctx}`);
      if (c.refHow) assert.equal(r.how, c.refHow, `reference close changed${ctx}`);
      if (!c.differs) {
        assert.deepEqual(view(g), view(r), `iogate differs from the reference${ctx}`);
      } else {
        assert.notDeepEqual(pick(r, Object.keys(c.iogate)), c.iogate, `the reference now agrees with iogate; drop 'differs'${ctx}`);
        assert.deepEqual(pick(g, Object.keys(c.iogate)), c.iogate, `iogate's documented answer${ctx}`);
      }
    });
  }

  for (const s of SCENARIOS) {
    test(`${s.name}${s.differs ? ' (iogate differs on purpose)' : ''}`, async () => {
      const [r, g] = await Promise.all(s.quiet ? [s.run(quietRef), s.run(quietGw)] : [s.run(ref), s.run(gw)]);
      const ctx = `\nreference: ${JSON.stringify(r)}\niogate:    ${JSON.stringify(g)}`;
      assert.deepEqual(r, s.ref || s.want, `reference answer changed${ctx}`);
      assert.deepEqual(g, s.want, `iogate${ctx}`);
    });
  }

  test('iogate logged the second WebSockets it closed', async () => {
    await gw.waitLog(/a second WebSocket for an upgraded session, closing it/);
    await gw.waitLog(/a second WebSocket for an upgrading session, closing it/);
  });
});
