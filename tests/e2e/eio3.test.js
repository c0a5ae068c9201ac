// eio3.test.js — Engine.IO v3 clients (`--allow-eio3`): the official
// socket.io-client 2.5 (Engine.IO v3, Socket.IO protocol v4, from npm as
// socket.io-client-v2) against the real gateway and the echo workers in C,
// Python and Node.js, over polling, WebSocket and upgrade, next to a
// socket.io-client 4 on the same gateway; and raw v3 polling answers
// compared byte for byte with the reference (socket.io 4.8 with
// allowEIO3: true, in this process).
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const ioV2 = require('socket.io-client-v2');
const { Server } = require('socket.io');
const WebSocket = require('ws');
const { startGateway, sleep, waitFor, once } = require('./sio_harness');

const REFUSE_WORKER = `${process.execPath} ${path.join(__dirname, 'fixtures', 'eio3_refuse_worker.js')}`;
const LANGUAGES = [
  { name: 'C', command: 'echo' },
  { name: 'Python', command: '/usr/bin/python3 examples/echo/echo.py' },
  { name: 'Node.js', command: `${process.execPath} examples/echo/echo.js` },
];
const MODES = [
  { name: 'polling', transports: ['polling'], final: 'polling' },
  { name: 'websocket', transports: ['websocket'], final: 'websocket' },
  { name: 'upgrade', transports: ['polling', 'websocket'], final: 'websocket' },
  // b64=1 in the query: binary as "b4<base64>" text, both ways, on both transports
  { name: 'polling, forceBase64', transports: ['polling'], final: 'polling', opts: { forceBase64: true } },
  { name: 'upgrade, forceBase64', transports: ['polling', 'websocket'], final: 'websocket', opts: { forceBase64: true } },
];

function v2(gw, nsp = '/', opts = {}) {
  const s = ioV2(gw.url + (nsp === '/' ? '' : nsp), { forceNew: true, reconnection: false, ...opts });
  gw.clients.push(s);
  return s;
}

// Resolve with an ack's arguments.
const ack = (s, ...args) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ack for ${args[0]}`)), 5000);
  s.emit(...args, (...res) => {
    clearTimeout(t);
    resolve(res);
  });
});

async function connected(s) {
  if (!s.connected) await once(s, 'connect', 8000);
}

// --- the v3 text payload, decoded the way the reference does: lengths in
// UTF-16 code units (JavaScript string length) ----------------------------
function decode3(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const c = text.indexOf(':', i);
    assert.ok(c > i, `no length at ${i} in ${JSON.stringify(text)}`);
    const n = Number(text.slice(i, c));
    const p = text.slice(c + 1, c + 1 + n);
    assert.equal(p.length, n, `truncated packet in ${JSON.stringify(text)}`);
    out.push(p);
    i = c + 1 + n;
  }
  return out;
}
const encode3 = (...packets) => packets.map((p) => `${p.length}:${p}`).join('');

// --- the v3 binary payload: (0|1) digits 0xff bytes -----------------------
function decode3bin(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    const kind = buf[i++];
    let len = '';
    while (buf[i] !== 255) len += String(buf[i++]);
    i++;
    const data = buf.subarray(i, i + Number(len));
    out.push(kind === 0 ? data.toString('utf8') : data);
    i += Number(len);
  }
  return out;
}

// One HTTP request on a connection of its own: a pooled keep-alive
// connection may be closed by the server's idle timeout (1 s with the short
// heartbeat below) just as it is reused.
function req(url, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, type: res.headers['content-type'], buf, text: buf.toString('utf8') });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

// A raw v3 polling session against `url` (iogate or the reference).
async function raw3(url, query = '') {
  const base = `${url}/socket.io/?EIO=3&transport=polling${query}`;
  const res = await req(base);
  const text = res.text;
  const packets = decode3(text);
  const open = JSON.parse(packets[0].slice(1));
  const sidUrl = `${base}&sid=${open.sid}`;
  return {
    open,
    text,
    status: res.status,
    contentType: res.type,
    rest: packets.slice(1),
    async post(body, headers = {}) {
      const r = await req(sidUrl, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers } });
      return { status: r.status, body: r.text };
    },
    get() {
      return req(sidUrl);
    },
    // GET until `n` packets (after those already seen in `rest`) arrived.
    async packets(n) {
      const got = this.rest.splice(0);
      while (got.length < n) {
        const r = await this.get();
        assert.equal(r.status, 200, r.text);
        got.push(...decode3(r.text).filter((p) => p !== '6'));
      }
      return got;
    },
  };
}

// The reference: socket.io 4.8 with allowEIO3, the echo worker's behaviour
// for the events used here.
async function startReference(opts = {}) {
  const srv = http.createServer();
  const io = new Server(srv, { allowEIO3: true, ...opts });
  io.on('connection', (s) => {
    s.emit('auth', s.handshake.auth);
    s.on('message', (...a) => s.emit('message-back', ...a));
  });
  const chat = io.of('/chat');
  chat.use((socket, next) => {
    const how = socket.handshake.auth.refuse;
    if (how === 'data') next(Object.assign(new Error('refused'), { data: { reason: 'auth' } }));
    else if (how === 'message') next(new Error('refused'));
    else next();
  });
  chat.on('connection', (s) => s.emit('auth', s.handshake.auth));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    close: () => new Promise((r) => { io.close(); srv.close(() => r()); }),
  };
}

describe('without --allow-eio3', () => {
  let gw, ref;
  before(async () => {
    gw = await startGateway();
    const srv = http.createServer();
    const io = new Server(srv); // allowEIO3: false, the default
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    ref = { url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => { io.close(); srv.close(() => r()); }) };
  });
  after(async () => {
    await gw.stop();
    await ref.close();
  });

  test('EIO=3 gets the reference\'s 400 {"code":5}, on polling and WebSocket alike', async () => {
    for (const url of [gw.url, ref.url]) {
      const r = await req(`${url}/socket.io/?EIO=3&transport=polling`);
      assert.equal(r.status, 400, url);
      assert.deepEqual(JSON.parse(r.text), { code: 5, message: 'Unsupported protocol version' });
    }
    const s = v2(gw, '/', { transports: ['websocket'] });
    await once(s, 'connect_error', 5000);
    assert.equal(s.connected, false);
  });
});

for (const lang of LANGUAGES) {
  describe(`socket.io-client 2 with the ${lang.name} echo worker`, () => {
    let gw;
    before(async () => {
      gw = await startGateway({ workers: { '/': lang.command, '/chat': lang.command }, args: ['--allow-eio3'] });
    });
    after(() => gw.stop());

    for (const mode of MODES) {
      test(`${mode.name}: "/" joined without a CONNECT, text and binary both ways, acks both ways`, async () => {
        const s = v2(gw, '/', { transports: mode.transports, ...mode.opts });
        const [auth] = await once(s, 'auth', 8000); // the worker's greeting: "/" was joined implicitly
        await connected(s);
        assert.deepEqual(auth, {});
        if (mode.final === 'websocket') await waitFor(() => s.io.engine.transport.name === 'websocket', 8000, 'no upgrade');
        assert.equal(s.io.engine.transport.name, mode.final);

        const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
        const back = once(s, 'message-back', 5000);
        s.emit('message', 'héllo 😀', bin, { nested: [bin, 'x'] });
        const [text, b, obj] = await back;
        assert.equal(text, 'héllo 😀');
        assert.ok(Buffer.isBuffer(b) && b.equals(bin), `binary back: ${b}`);
        assert.ok(Buffer.from(obj.nested[0]).equals(bin));
        assert.equal(obj.nested[1], 'x');

        // client → server ack, with binary
        const [t2, b2] = await ack(s, 'message-with-ack', 'ack 😀', bin);
        assert.equal(t2, 'ack 😀');
        assert.ok(Buffer.from(b2).equals(bin));

        // server → client ack: the worker asks, the client answers
        s.on('ping-back', (x, cb) => cb('pong', bin));
        const res = await ack(s, 'emit-with-ack', 3000);
        assert.equal(res[0], 'pong');
        assert.ok(Buffer.from(res[1]).equals(bin));

        // the worker disconnects it
        const gone = once(s, 'disconnect', 5000);
        s.emit('disconnect-me', false);
        assert.deepEqual(await gone, ['io server disconnect']);
      });
    }

    test('a second namespace with query auth', async () => {
      const s = v2(gw, '/chat', { query: { token: 'abc 😀', n: '1' } });
      const [auth] = await once(s, 'auth', 8000);
      assert.deepEqual(auth, { token: 'abc 😀', n: '1' });
      await connected(s);
      if (lang.name !== 'Node.js') { // echo.js has no "handshake" event
        const [hs] = await ack(s, 'handshake');
        assert.equal(hs.query.token, 'abc 😀');
        assert.equal(hs.query.EIO, '3');
      }
      const [rooms] = await ack(s, 'join', 'r1');
      assert.ok(rooms.includes('r1'));
      const bin = Buffer.from([7, 7]);
      const back = once(s, 'message-back', 5000);
      s.emit('message', bin);
      assert.ok(Buffer.from((await back)[0]).equals(bin));
      s.close();
    });
  });
}

test('allow-eio3 = true in a config file (examples/config/eio3.conf)', async () => {
  const gw = await startGateway({ workers: {}, args: ['--config', path.join(__dirname, '..', '..', 'examples', 'config', 'eio3.conf')] });
  try {
    const s = v2(gw, '/chat', { query: { k: 'v' } });
    assert.deepEqual(await once(s, 'auth', 8000), [{ k: 'v' }]);
  } finally {
    await gw.stop();
  }
});

describe('--allow-eio3: namespaces, refusals, heartbeat, v4 clients alongside', () => {
  let gw, ref;
  before(async () => {
    gw = await startGateway({
      workers: { '/': 'echo', '/chat': REFUSE_WORKER },
      // pingTimeout 2000: the client (and a raw session) may be descheduled
      // for well over a second on a loaded machine without losing the session.
      args: ['--allow-eio3', '--ping-interval', '400', '--ping-timeout', '2000'],
    });
    ref = await startReference({ pingInterval: 400, pingTimeout: 2000 });
  });
  after(async () => {
    await gw.stop();
    await ref.close();
  });

  test('connect_error payloads as the reference sends them to v3 clients', async () => {
    for (const url of [gw.url, ref.url]) {
      const mk = (q) => {
        const s = ioV2(url + '/chat', { forceNew: true, reconnection: false, query: q });
        gw.clients.push(s);
        return s;
      };
      const a = mk({ refuse: 'data' });
      assert.deepEqual(await once(a, 'error', 5000), [{ reason: 'auth' }], url);
      const b = mk({ refuse: 'message' });
      assert.deepEqual(await once(b, 'error', 5000), ['refused'], url);
      const c = ioV2(url + '/nope', { forceNew: true, reconnection: false });
      gw.clients.push(c);
      assert.deepEqual(await once(c, 'error', 5000), [{ message: 'Invalid namespace' }], url);
      const d = mk({ token: 't' });
      assert.deepEqual(await once(d, 'auth', 5000), [{ token: 't' }], url);
      for (const s of [a, b, c, d]) s.close();
    }
  });

  test('heartbeat: the client pings, the server answers; a client that stops is closed ("ping timeout")', async () => {
    const s = v2(gw, '/', { transports: ['websocket'] });
    await connected(s);
    let pongs = 0;
    s.io.on('pong', () => pongs++);
    await sleep(2000); // five pingIntervals: the client's pings keep it alive
    assert.equal(s.connected, true);
    assert.ok(pongs >= 2, `pongs: ${pongs}`);

    // a raw v3 session that never pings: closed after pingInterval + pingTimeout
    const t0 = Date.now();
    const r = await raw3(gw.url);
    const [p40, greet] = await r.packets(2);
    assert.equal(p40, '40');
    assert.equal(greet, '42["auth",{}]');
    const from = gw.logs.length;
    const g = await r.get(); // held until the session closes
    assert.equal(g.status, 200);
    assert.deepEqual(decode3(g.text), ['1']);
    const waited = Date.now() - t0; // no earlier than 400 + 2000 ms after the handshake
    assert.ok(waited >= 2350, `closed after ${waited} ms`);
    await waitFor(() => /disconnect \S+ ping timeout/.test(gw.logs.slice(from)), 5000, 'worker did not hear "ping timeout"');
    // the reference ends the held GET of a silent v3 client the same way
    const rr = await raw3(ref.url);
    await rr.packets(2);
    const rg = await rr.get();
    assert.equal(rg.text, g.text);
    // a v3 client may not answer pings: a "3" is the wrong direction
    const r2 = await raw3(gw.url);
    assert.equal((await r2.post(encode3('3'))).body, 'ok');
    const g2 = await r2.get();
    assert.ok(g2.status === 400 || decode3(g2.text).includes('1'), g2.text);
    s.close();
  });

  test('a socket.io-client 4 and a 2 on the same gateway share rooms and broadcasts', async () => {
    const bin = Buffer.from([4, 3, 2, 1, 0]);
    const old = v2(gw, '/', { transports: ['polling'] });
    const cur = gw.client('/', { transports: ['websocket'] });
    await connected(old);
    await connected(cur);
    assert.equal(cur.io.engine.transport.name, 'websocket');
    await ack(old, 'join', 'lobby');
    await ack(cur, 'join', 'lobby');
    const toOld = once(old, 'room-message', 5000);
    cur.emit('to-room', 'lobby', 'from v4', bin);
    const [t1, b1] = await toOld;
    assert.equal(t1, 'from v4');
    assert.ok(Buffer.from(b1).equals(bin));
    const toCur = once(cur, 'room-message', 5000);
    old.emit('to-room', 'lobby', 'from v2 😀', bin);
    const [t2, b2] = await toCur;
    assert.equal(t2, 'from v2 😀');
    assert.ok(Buffer.from(b2).equals(bin));
    const [hs] = await ack(cur, 'handshake');
    assert.equal(hs.query.EIO, '4');
    old.close();
    cur.close();
  });

  test('raw v3 polling answers are the reference\'s, byte for byte', async () => {
    const seen = {};
    for (const [name, url] of [['iogate', gw.url], ['reference', ref.url]]) {
      const o = {};
      // handshake: "<len>:0{…}" with the same fields
      const r = await raw3(url);
      assert.equal(r.status, 200);
      o.handshakeType = r.contentType;
      o.handshake = Object.keys(r.open).sort();
      o.open = { ...r.open, sid: 'x' };
      assert.equal(r.text, encode3(`0${JSON.stringify(r.open)}`, ...r.rest), name);
      // "/" joined without a CONNECT, then the greeting
      o.connect = await r.packets(2);
      // a ping and two more in one body
      o.pingPost = (await r.post(encode3('2'))).body;
      o.pong = await r.packets(1);
      assert.equal((await r.post(encode3('2', '2'))).body, 'ok');
      o.pongs = await r.packets(2);
      // lengths in UTF-16 code units: 😀 is 2, é is 1
      const msg = '42["message","😀é\\u0041"]';
      o.utf16 = (await r.post(encode3(msg))).body;
      const g = await r.get();
      o.echo = g.text;
      o.echoType = g.type;
      // binary from the client (base64 on a text POST), back to an XHR2 poll: the binary payload
      o.b64post = (await r.post(encode3('451-["message",{"_placeholder":true,"num":0}]', 'b4AQID/w=='))).body;
      const gb = await r.get();
      o.binType = gb.type;
      o.binBody = gb.buf.toString('hex');
      o.binDecoded = decode3bin(gb.buf).map((p) => (Buffer.isBuffer(p) ? p.toString('hex') : p));
      // binary payload in a POST (XHR2 client): a text and a binary record
      const ev = Buffer.from('451-["message",{"_placeholder":true,"num":0}]');
      const lenDigits = (n) => Buffer.from(String(n).split('').map(Number));
      const binBody = Buffer.concat([
        Buffer.from([0]), lenDigits(ev.length), Buffer.from([255]), ev,
        Buffer.from([1]), lenDigits(4), Buffer.from([255]), Buffer.from([4, 9, 8, 7]),
      ]);
      o.binPost = (await r.post(binBody, { 'content-type': 'application/octet-stream' })).body;
      const gb2 = await r.get();
      o.binBody2 = gb2.buf.toString('hex');
      seen[name] = o;

      // b64=1: binary goes as "b4<base64>" in a text payload
      const r64 = await raw3(url, '&b64=1');
      await r64.packets(2);
      await r64.post(encode3('451-["message",{"_placeholder":true,"num":0}]', 'b4AQID/w=='));
      const g64 = await r64.get();
      o.b64Type = g64.type;
      o.b64Body = g64.text;
    }
    assert.deepEqual(seen.iogate, seen.reference);
    assert.deepEqual(seen.iogate.connect, ['40', '42["auth",{}]']);
    assert.equal(seen.iogate.echo, encode3('42["message-back","😀éA"]'));
    assert.equal(seen.iogate.echo.split(':')[0], '25'); // UTF-16 units; its UTF-8 is 28 bytes
    assert.equal(seen.iogate.b64Body, encode3('451-["message-back",{"_placeholder":true,"num":0}]', 'b4AQID/w=='));
  });

  test('raw v3 WebSocket frames are the reference\'s (the 0x04 type byte on binary)', async () => {
    const seen = {};
    for (const [name, url] of [['iogate', gw.url], ['reference', ref.url]]) {
      const frames = [];
      const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=3&transport=websocket`);
      ws.on('message', (d, isBinary) => frames.push(isBinary ? `bin:${Buffer.from(d).toString('hex')}` : `txt:${d}`));
      await once(ws, 'open', 5000);
      await waitFor(() => frames.length >= 3, 5000, `${name}: ${frames}`);
      ws.send('2');
      await waitFor(() => frames.length >= 4, 5000, `${name}: ${frames}`);
      ws.send('451-["message",{"_placeholder":true,"num":0}]');
      ws.send(Buffer.from([4, 1, 2, 255]));
      await waitFor(() => frames.length >= 6, 5000, `${name}: ${frames}`);
      const open = JSON.parse(frames[0].slice(5));
      seen[name] = [`txt:0${JSON.stringify({ ...open, sid: 'x' })}`, ...frames.slice(1)];
      ws.close();
      // an upgrade that claims the other protocol version: 400 (the reference: "Bad request")
      const r = await raw3(url);
      const up = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${r.open.sid}`);
      up.on('error', () => {}); // the refused handshake, aborted below
      const [rq, res] = await once(up, 'unexpected-response', 5000);
      seen[name].push(`upgrade:${res.statusCode}`);
      rq.destroy();
    }
    assert.deepEqual(seen.iogate, seen.reference);
    assert.deepEqual(seen.iogate.slice(1), [
      'txt:40', 'txt:42["auth",{}]', 'txt:3',
      'txt:451-["message-back",{"_placeholder":true,"num":0}]', 'bin:040102ff', 'upgrade:400',
    ]);
  });

  test('invalid v3 payloads close the session (400 on the POST; the reference answers "ok")', async () => {
    for (const bad of ['3:2', '2:2', '1:x', 'a:2', '1:2 ', '1:', '', '1:b4%%%']) {
      const r = await raw3(gw.url);
      const from = gw.logs.length;
      const res = await r.post(bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      const g = await r.get();
      assert.ok(g.status === 400 || decode3(g.text).includes('1'), `${JSON.stringify(bad)}: ${g.status} ${g.text}`);
      await waitFor(() => /invalid polling payload|parse error/.test(gw.logs.slice(from)), 3000, `no log for ${JSON.stringify(bad)}`);
    }
  });
});
