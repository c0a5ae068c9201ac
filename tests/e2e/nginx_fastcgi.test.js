// nginx_fastcgi.test.js — the gateway's FastCGI front (--fastcgi) behind a
// real nginx with examples/nginx/iogate-fastcgi.conf as documented:
// polling through fastcgi_pass, WebSocket through the proxy to the native
// listener, and a client that polls via FastCGI and upgrades via the proxy
// (sessions are shared).  Then: REMOTE_ADDR/HTTPS and --trust-proxy, bad
// FastCGI requests (tiny FastCGI client straight to the socket), a dropped
// poll, and 1,000 concurrent held long-polls while a client still gets
// prompt answers.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { io } = require('socket.io-client');
const { startGateway, once, waitFor, sleep } = require('./sio_harness');
const { startNginx, exampleConf, fastcgiSocketArgs } = require('./nginx_harness');
const { fcgiRequest, requestBytes, cgiParams } = require('./fcgi_client');

// Gateway (+ echo worker) with --fastcgi on a unix socket, nginx in front.
async function behindFastcgi({ gwArgs = [], connections = 1024 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-fcgi-'));
  const sock = path.join(dir, 'fastcgi.sock');
  fs.chmodSync(dir, 0o711); // nginx's workers run as another user (nginx_harness.js)
  const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--fastcgi', `unix:${sock}`, ...fastcgiSocketArgs(), ...gwArgs] });
  const conf = exampleConf('iogate-fastcgi.conf', [
    ['listen 80;', 'listen 127.0.0.1:@PORT@;'],
    ['server 127.0.0.1:3000;', `server 127.0.0.1:${gw.port};`],
    ['unix:/run/iogate/fastcgi.sock;', `unix:${sock};`],
  ]);
  const ngx = await startNginx(conf, { connections });
  const clients = [];
  const client = (opts = {}) => {
    const s = io(ngx.url, { forceNew: true, reconnection: false, ...opts });
    clients.push(s);
    return s;
  };
  const stop = async () => {
    for (const c of clients) c.close();
    await ngx.stop();
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { gw, ngx, sock, client, stop };
}

// Minimal raw HTTP/1.1 over one socket: send `req`, resolve with the
// response (status, body) once complete.  `sock.holding` tells whether
// anything arrived yet.
function rawHttp(port, req, ms = 5000) {
  const s = net.connect(port, '127.0.0.1');
  s.got = '';
  const done = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    s.on('connect', () => s.write(req));
    s.on('data', (d) => {
      s.got += d.toString('latin1');
      const end = s.got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(s.got.slice(0, end));
      if (len && s.got.length < end + 4 + Number(len[1])) return;
      clearTimeout(t);
      resolve({ status: Number(s.got.split(' ')[1]), body: s.got.slice(end + 4), text: s.got });
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
  done.catch(() => {});
  return { sock: s, done };
}

const get = (port, uri) => rawHttp(port, `GET ${uri} HTTP/1.1\r\nHost: localhost\r\n\r\n`);

describe('FastCGI front behind nginx (examples/nginx/iogate-fastcgi.conf)', () => {
  let env;
  before(async () => {
    env = await behindFastcgi();
  });
  after(async () => {
    await env.stop();
  });

  test('polling through FastCGI only', async () => {
    const s = env.client({ transports: ['polling'] });
    await once(s, 'connect');
    s.emit('message', 'hello', { n: 1 });
    assert.deepEqual(await once(s, 'message-back'), ['hello', { n: 1 }]);
    const bin = Buffer.from([0, 1, 255]);
    assert.deepEqual(Buffer.from(await s.emitWithAck('message-with-ack', bin)), bin);
    for (let i = 0; i < 10; i++) assert.equal(await s.emitWithAck('message-with-ack', i), i);
    assert.equal(s.io.engine.transport.name, 'polling');
    // the requests really went through FastCGI: the handshake came from nginx
    const hs = await s.emitWithAck('handshake');
    assert.equal(hs.address, '127.0.0.1');
    assert.equal(hs.secure, false);
    s.close();
    assert.match(env.ngx.accessLog(), /GET \/socket\.io\/\?EIO=4&transport=polling/);
  });

  test('large messages both ways over FastCGI; an oversized POST gets 413', async () => {
    const s = env.client({ transports: ['polling'] });
    await once(s, 'connect');
    const big = 'x'.repeat(600 * 1024);
    const bin = Buffer.alloc(200 * 1024, 7);
    s.emit('message', big, bin);
    const [a, b] = await once(s, 'message-back', 8000);
    assert.equal(a, big);
    assert.deepEqual(Buffer.from(b), bin);
    s.close();
    // straight to the socket (nginx would refuse it itself above 2m)
    const t = { path: env.sock };
    const r = await fcgiRequest(t, cgiParams('GET', '/socket.io/?EIO=4&transport=polling'));
    const sid = JSON.parse(r.body.slice(1)).sid;
    const body = Buffer.alloc(1500000, 0x61);
    const p = await fcgiRequest(t, cgiParams('POST', `/socket.io/?EIO=4&transport=polling&sid=${sid}`, { CONTENT_LENGTH: body.length }), body);
    assert.equal(p.status, 413);
    const chunked = await fcgiRequest(t, cgiParams('GET', '/socket.io/?EIO=4&transport=polling'));
    const sid2 = JSON.parse(chunked.body.slice(1)).sid;
    const p2 = await fcgiRequest(t, cgiParams('POST', `/socket.io/?EIO=4&transport=polling&sid=${sid2}`), body);
    assert.equal(p2.status, 413);
  });

  test('websocket through the proxy only', async () => {
    const s = env.client({ transports: ['websocket'] });
    await once(s, 'connect');
    assert.equal(s.io.engine.transport.name, 'websocket');
    s.emit('message', 'ws');
    assert.deepEqual(await once(s, 'message-back'), ['ws']);
    s.close();
  });

  test('polling via FastCGI, then upgrade to websocket via the proxy', async () => {
    const s = env.client({ transports: ['polling', 'websocket'] });
    await once(s, 'connect');
    s.emit('message', 'before');
    assert.deepEqual(await once(s, 'message-back'), ['before']);
    await waitFor(() => s.io.engine.transport.name === 'websocket', 5000);
    s.emit('message', 'after');
    assert.deepEqual(await once(s, 'message-back'), ['after']);
    assert.equal(await s.emitWithAck('message-with-ack', 7), 7);
    assert.equal(s.io.engine.transport.name, 'websocket');
    s.close();
  });

  test('an invalid WebSocket upgrade gets 400 through nginx, not 502', async () => {
    const r = await rawHttp(
      env.ngx.port,
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ).done;
    assert.equal(r.status, 400, r.text);
    // a websocket transport request without the upgrade, through FastCGI
    const r2 = await get(env.ngx.port, '/socket.io/?EIO=4&transport=websocket').done;
    assert.equal(r2.status, 400, r2.text);
    assert.doesNotMatch(env.ngx.errorLog(), /\[(error|crit|alert|emerg)\]/);
  });

  test('responses are not buffered and carry X-Accel-Buffering: no', async () => {
    const r = await get(env.ngx.port, '/socket.io/?EIO=4&transport=polling').done;
    assert.equal(r.status, 200);
    assert.match(r.body, /^0\{"sid":"/);
    // nginx consumes X-Accel-Buffering itself; ask the socket directly
    const d = await fcgiRequest({ path: env.sock }, cgiParams('GET', '/socket.io/?EIO=4&transport=polling'));
    assert.equal(d.headers['x-accel-buffering'], 'no');
  });

  test('a poll dropped by the web server closes the session like a native one', async () => {
    const hs = await get(env.ngx.port, '/socket.io/?EIO=4&transport=polling').done;
    const sid = JSON.parse(hs.body.slice(1)).sid;
    const held = get(env.ngx.port, `/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    await sleep(200);
    assert.equal(held.sock.got, '', 'the poll is held');
    held.sock.destroy(); // the browser goes away; nginx closes the FastCGI connection
    await env.gw.waitLog(new RegExp(`session ${sid} closed \\(transport error\\)|fastcgi`), 3000).catch(() => {});
    await waitFor(async () => {
      const r = await get(env.ngx.port, `/socket.io/?EIO=4&transport=polling&sid=${sid}`).done;
      return r.status === 400 && /Session ID unknown/.test(r.body);
    }, 3000);
  });
});

describe('FastCGI params: REMOTE_ADDR, HTTPS, bad requests (straight to the socket)', () => {
  // A raw Engine.IO + Socket.IO polling session over FastCGI; returns the
  // worker's view of the handshake.
  async function handshakeOver(sock, extra) {
    const t = { path: sock };
    const base = '/socket.io/?EIO=4&transport=polling';
    let r = await fcgiRequest(t, cgiParams('GET', base, extra));
    assert.equal(r.status, 200, r.body);
    const sid = JSON.parse(r.body.slice(1)).sid;
    const u = `${base}&sid=${sid}`;
    const post = async (body) => {
      const p = await fcgiRequest(t, cgiParams('POST', u, { ...extra, CONTENT_LENGTH: Buffer.byteLength(body) }), body);
      assert.equal(p.body, 'ok');
    };
    const until = async (re) => {
      for (let i = 0; i < 10; i++) {
        const g = await fcgiRequest(t, cgiParams('GET', u, extra));
        const hit = g.body.split('\x1e').find((p) => re.test(p));
        if (hit) return hit;
      }
      throw new Error(`no packet ${re}`);
    };
    await post('40');
    await until(/^40/);
    await post('420["handshake"]');
    const ack = await until(/^430/);
    return JSON.parse(ack.slice(3))[0];
  }

  let gw;
  let dir;
  let sock;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-fcgi-'));
    sock = path.join(dir, 'f.sock');
    gw = await startGateway({ workers: { '/': 'echo' }, args: ['--fastcgi', `unix:${sock}`, '--log-level', 'debug'] });
  });
  after(async () => {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('REMOTE_ADDR and HTTPS are the handshake address and secure; X-Forwarded-For ignored', async () => {
    const hs = await handshakeOver(sock, { REMOTE_ADDR: '192.0.2.5', HTTPS: 'on', HTTP_X_FORWARDED_FOR: '203.0.113.3' });
    assert.equal(hs.address, '192.0.2.5');
    assert.equal(hs.secure, true);
    assert.equal(hs.headers['x-forwarded-for'], '203.0.113.3');
    assert.equal(hs.headers.host, 'localhost');
    assert.equal(hs.headers.connection, undefined);
  });

  test('a bad FastCGI request gets a clear status and a log line, and harms nothing', async () => {
    const t = { path: sock };
    const cases = [
      [{ REQUEST_URI: '/socket.io/?EIO=4&transport=polling', REMOTE_ADDR: '127.0.0.1' }, 400, /REQUEST_METHOD/],
      [cgiParams('GET', '/socket.io/?EIO=4&transport=polling', { REMOTE_ADDR: '' }), 400, /REMOTE_ADDR/],
      [cgiParams('GET', 'socket.io/?EIO=4'), 400, /REQUEST_URI/],
      [cgiParams('GET', '/socket.io/?EIO=4&transport=polling', { HTTP_X_EVIL: 'a\r\nInjected: 1' }), 400, /control characters/],
      [cgiParams('POST', '/socket.io/?EIO=4&transport=polling&sid=x', { CONTENT_LENGTH: '12x' }), 400, /CONTENT_LENGTH/],
      [cgiParams('POST', '/socket.io/?EIO=4&transport=polling&sid=x', { CONTENT_LENGTH: '10' }), 400, /shorter than CONTENT_LENGTH/],
      // passed through: the gateway's own answers
      [cgiParams('GET', '/socket.io/?EIO=3&transport=polling'), 400, /Unsupported protocol version/],
      [cgiParams('GET', '/elsewhere'), 404, /Not Found/],
    ];
    for (const [params, status, re] of cases) {
      const r = await fcgiRequest(t, params);
      assert.equal(r.status, status, JSON.stringify(params));
      assert.match(r.body, re);
    }
    await gw.waitLog(/fastcgi: refused a request from 127\.0\.0\.1: REQUEST_METHOD missing/);
    // garbage and a connection that says nothing: closed, nothing else harmed
    await new Promise((resolve) => {
      const s = net.connect({ path: sock });
      s.on('connect', () => s.end(Buffer.from('GET / HTTP/1.1\r\n\r\n')));
      s.on('close', resolve);
      s.on('error', resolve);
    });
    const idle = net.connect({ path: sock });
    const half = net.connect({ path: sock });
    half.on('connect', () => half.write(requestBytes(cgiParams('GET', '/x')).subarray(0, 20)));
    const hs = await handshakeOver(sock, { REMOTE_ADDR: '198.51.100.1' });
    assert.equal(hs.address, '198.51.100.1');
    // a body of unknown length (no CONTENT_LENGTH) is passed on chunked
    const r = await fcgiRequest(t, cgiParams('GET', '/socket.io/?EIO=4&transport=polling'));
    const sid = JSON.parse(r.body.slice(1)).sid;
    const p = await fcgiRequest(t, cgiParams('POST', `/socket.io/?EIO=4&transport=polling&sid=${sid}`), '40');
    assert.equal(p.status, 200);
    assert.equal(p.body, 'ok');
    idle.destroy();
    half.destroy();
  });

  test('--trust-proxy naming the web server: X-Forwarded-* from it are believed', async () => {
    const g2 = await startGateway({
      workers: { '/': 'echo' },
      args: ['--fastcgi', `unix:${sock}2`, '--trust-proxy', '192.0.2.5'],
    });
    try {
      const hs = await handshakeOver(`${sock}2`, {
        REMOTE_ADDR: '192.0.2.5',
        HTTP_X_FORWARDED_FOR: '203.0.113.3',
        HTTP_X_FORWARDED_PROTO: 'https',
      });
      assert.equal(hs.address, '203.0.113.3');
      assert.equal(hs.secure, true);
      const other = await handshakeOver(`${sock}2`, { REMOTE_ADDR: '192.0.2.6', HTTP_X_FORWARDED_FOR: '203.0.113.3' });
      assert.equal(other.address, '192.0.2.6');
    } finally {
      await g2.stop();
    }
  });
});

describe('1,000 concurrent held long-polls through nginx and FastCGI', () => {
  const N = 1000;
  let env;
  before(async () => {
    env = await behindFastcgi({ gwArgs: ['--ping-interval', '60000'], connections: 4 * N + 256 });
  });
  after(async () => {
    await env.stop();
  });

  test(`${N} held GETs do not block the loop or each other`, { timeout: 90000 }, async () => {
    // handshakes, 100 at a time
    const sids = [];
    for (let i = 0; i < N; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 100); j++) batch.push(get(env.ngx.port, '/socket.io/?EIO=4&transport=polling').done);
      for (const r of await Promise.all(batch)) {
        assert.equal(r.status, 200, r.text);
        sids.push(JSON.parse(r.body.slice(1)).sid);
      }
    }
    // every session's GET, held (nothing is queued for them)
    const held = sids.map((sid) => get(env.ngx.port, `/socket.io/?EIO=4&transport=polling&sid=${sid}`));
    const threads = () => Number(/Threads:\s+(\d+)/.exec(fs.readFileSync(`/proc/${env.gw.proc.pid}/status`, 'utf8'))[1]);
    await waitFor(() => threads() >= N, 20000, () => `only ${threads()} threads for ${N} held polls`);
    await sleep(200);
    assert.equal(held.filter((h) => h.sock.got !== '').length, 0, 'every poll is held');

    // meanwhile a normal client gets prompt answers, over FastCGI and WebSocket
    for (const transports of [['polling'], ['websocket']]) {
      const t0 = Date.now();
      const s = env.client({ transports });
      await once(s, 'connect', 5000);
      for (let i = 0; i < 5; i++) assert.equal(await s.emitWithAck('message-with-ack', i), i);
      const ms = Date.now() - t0;
      // starved (every FastCGI thread held) it would not connect within
      // the 5 s of once(); 4 s leaves room for a loaded machine
      assert.ok(ms < 4000, `${transports}: connect + 5 acks took ${ms} ms`);
      s.close();
    }
    assert.equal(held.filter((h) => h.sock.got !== '').length, 0, 'still held');

    // the clients go away: nginx drops the FastCGI requests, the bridge
    // drops the polls, the sessions close, the pool shrinks back
    for (const h of held) h.sock.destroy();
    await waitFor(() => threads() < 100, 20000, () => `${threads()} threads left`);
    assert.doesNotMatch(env.gw.logs, /fastcgi: (accept|cannot|all \d+ threads)/);
  });
});

describe('the --fastcgi socket', () => {
  const { spawnSync } = require('node:child_process');
  const { BUILD, freePort } = require('./sio_harness');
  const bin = path.join(BUILD, 'iogate');

  test('HOST:PORT (TCP) works like a unix socket', async () => {
    const port = await freePort();
    const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--fastcgi', `127.0.0.1:${port}`] });
    try {
      const r = await fcgiRequest({ port, host: '127.0.0.1' }, cgiParams('GET', '/socket.io/?EIO=4&transport=polling'));
      assert.equal(r.status, 200);
      assert.match(r.body, /^0\{"sid":"/);
    } finally {
      await gw.stop();
    }
  });

  test('shutdown: a poll held through FastCGI gets the close packet, the gateway exits 0', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-fcgi-'));
    const sock = path.join(dir, 'f.sock');
    const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--fastcgi', `unix:${sock}`] });
    const t = { path: sock };
    const r = await fcgiRequest(t, cgiParams('GET', '/socket.io/?EIO=4&transport=polling'));
    const sid = JSON.parse(r.body.slice(1)).sid;
    const held = fcgiRequest(t, cgiParams('GET', `/socket.io/?EIO=4&transport=polling&sid=${sid}`), undefined, { timeout: 8000 });
    await sleep(200);
    const t0 = Date.now();
    const exit = await gw.stop({ closeClients: false });
    assert.equal(exit.code, 0);
    assert.ok(Date.now() - t0 < 4000, `shutdown took ${Date.now() - t0} ms`);
    const h = await held;
    assert.equal(h.status, 200);
    assert.equal(h.body, '1');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a stale socket file is replaced; a live one or a busy port is an error (exit 1)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-fcgi-'));
    const sock = path.join(dir, 'f.sock');
    // stale: a socket file nobody listens on
    spawnSync('/usr/bin/python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
    assert.ok(fs.existsSync(sock));
    const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--fastcgi', `unix:${sock}`] });
    try {
      const r = await fcgiRequest({ path: sock }, cgiParams('GET', '/socket.io/?EIO=4&transport=polling'));
      assert.equal(r.status, 200);
      // live: the running gateway's socket
      const port = await freePort();
      const again = spawnSync(bin, ['--echo', '--listen', `127.0.0.1:${port}`, '--fastcgi', `unix:${sock}`], {
        encoding: 'utf8',
        timeout: 5000,
      });
      assert.equal(again.status, 1, again.stderr);
      assert.match(again.stderr, /fastcgi: cannot listen on unix:.*Address already in use/);
      // a busy TCP port
      const busy = spawnSync(bin, ['--echo', '--listen', `127.0.0.1:${port}`, '--fastcgi', `127.0.0.1:${gw.port}`], {
        encoding: 'utf8',
        timeout: 5000,
      });
      assert.equal(busy.status, 1, busy.stderr);
      assert.match(busy.stderr, /fastcgi: cannot listen/);
    } finally {
      await gw.stop();
    }
    assert.ok(!fs.existsSync(sock), 'the socket file is removed at shutdown');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
