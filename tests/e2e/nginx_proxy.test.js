// nginx_proxy.test.js — the gateway behind a real nginx used as a reverse
// proxy, with examples/nginx/iogate-proxy.conf as documented: the official
// client over polling, WebSocket and polling-with-upgrade through nginx; an
// invalid WebSocket upgrade gets the gateway's 400 through nginx (not a
// 502); X-Forwarded-For/Proto are honoured only with --trust-proxy.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { io } = require('socket.io-client');
const { startGateway, once, waitFor } = require('./sio_harness');
const { startNginx, exampleConf } = require('./nginx_harness');

const TRANSPORTS = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: { transports: ['polling', 'websocket'] },
};

// One raw HTTP/1.1 request; resolves with the status line and the raw text.
function rawRequest(port, text, ms = 4000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer within ${ms} ms: ${JSON.stringify(buf)}`));
    }, ms);
    s.on('connect', () => s.write(text));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
      if (len && buf.length < end + 4 + Number(len[1])) return;
      clearTimeout(t);
      s.destroy();
      resolve({ status: Number(buf.split(' ')[1]), text: buf });
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

async function behindProxy(gwArgs = []) {
  const gw = await startGateway({ workers: { '/': 'echo' }, args: gwArgs });
  const conf = exampleConf('iogate-proxy.conf', [
    ['listen 80;', 'listen 127.0.0.1:@PORT@;'],
    ['server 127.0.0.1:3000;', `server 127.0.0.1:${gw.port};`],
  ]);
  const ngx = await startNginx(conf);
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
  };
  return { gw, ngx, client, stop };
}

describe('reverse proxy (examples/nginx/iogate-proxy.conf)', () => {
  let env;
  before(async () => {
    env = await behindProxy();
  });
  after(async () => {
    await env.stop();
  });

  for (const [name, opts] of Object.entries(TRANSPORTS)) {
    test(`socket.io-client over ${name} through nginx`, async () => {
      const s = env.client(opts);
      await once(s, 'connect');
      s.emit('message', 'before', 1);
      assert.deepEqual(await once(s, 'message-back'), ['before', 1]);
      if (name === 'upgrade') {
        await waitFor(() => s.io.engine.transport.name === 'websocket', 4000);
        s.emit('message', 'after', Buffer.from([1, 2, 3]));
        const [a, b] = await once(s, 'message-back');
        assert.equal(a, 'after');
        assert.deepEqual(Buffer.from(b), Buffer.from([1, 2, 3]));
      }
      assert.equal(s.io.engine.transport.name, name === 'polling' ? 'polling' : 'websocket');
      assert.deepEqual(await s.emitWithAck('message-with-ack', 'x'), 'x');
      s.close();
    });
  }

  test('an invalid WebSocket upgrade gets 400 through nginx, not 502', async () => {
    const bad = [
      // no Sec-WebSocket-Key
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
      // unsupported Engine.IO version
      'GET /socket.io/?EIO=3&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      // unknown sid
      'GET /socket.io/?EIO=4&transport=websocket&sid=nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ];
    for (const req of bad) {
      const r = await rawRequest(env.ngx.port, req);
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /"code":\d/);
    }
    assert.doesNotMatch(env.ngx.errorLog(), /\[(error|crit|alert|emerg)\]/);
  });
});

describe('X-Forwarded-For / X-Forwarded-Proto through the proxy', () => {
  const spoof = { 'X-Forwarded-For': '198.51.100.9', 'X-Forwarded-Proto': 'https' };

  test('without --trust-proxy they are ignored', async () => {
    const env = await behindProxy();
    try {
      for (const transports of [['polling'], ['websocket']]) {
        const s = env.client({ transports, extraHeaders: spoof });
        await once(s, 'connect');
        const hs = await s.emitWithAck('handshake');
        assert.equal(hs.address, '127.0.0.1');
        assert.equal(hs.secure, false);
        // the headers themselves still reach the worker as they arrived
        assert.equal(hs.headers['x-forwarded-for'], '198.51.100.9, 127.0.0.1');
        s.close();
      }
    } finally {
      await env.stop();
    }
  });

  test('with --trust-proxy 127.0.0.1: the right-most untrusted X-Forwarded-For entry', async () => {
    const env = await behindProxy(['--trust-proxy', '127.0.0.1']);
    try {
      for (const transports of [['polling'], ['websocket']]) {
        // nginx appends the peer (127.0.0.1, trusted, skipped); the entry
        // before it is the client as far as trusted proxies can tell
        const s = env.client({ transports, extraHeaders: { 'X-Forwarded-For': '203.0.113.1, 198.51.100.9' } });
        await once(s, 'connect');
        const hs = await s.emitWithAck('handshake');
        assert.equal(hs.address, '198.51.100.9');
        // nginx sets X-Forwarded-Proto to its own scheme: http
        assert.equal(hs.secure, false);
        s.close();
      }
    } finally {
      await env.stop();
    }
  });

  test('with --trust-proxy loopback, straight to the gateway: X-Forwarded-Proto https → secure', async () => {
    const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--trust-proxy', 'loopback'] });
    try {
      const s = gw.client('/', { transports: ['websocket'], extraHeaders: spoof });
      await once(s, 'connect');
      const hs = await s.emitWithAck('handshake');
      assert.equal(hs.address, '198.51.100.9');
      assert.equal(hs.secure, true);
      s.close();
    } finally {
      await gw.stop();
    }
  });

  test('a trust list that does not name the peer changes nothing', async () => {
    const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--trust-proxy', '10.0.0.0/8'] });
    try {
      const s = gw.client('/', { transports: ['polling'], extraHeaders: spoof });
      await once(s, 'connect');
      const hs = await s.emitWithAck('handshake');
      assert.equal(hs.address, '127.0.0.1');
      assert.equal(hs.secure, false);
      s.close();
    } finally {
      await gw.stop();
    }
  });
});
