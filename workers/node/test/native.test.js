// native.test.js — what a socket.io user expects of the worker library,
// checked against the reference itself where possible: the same
// application code runs on a real socket.io Server (npm) and as a worker
// behind the real gateway (build/iogate), both driven by the real
// socket.io-client, and what the clients observe must match (handshake and
// request shape, connect_error of next(err), conn upgrade).  Then what
// socket.io leaves to chance and a worker must not (rejections, thrown
// middleware), the any/anyOutgoing family and the flags, against the fake
// gateway (a real ZeroMQ ROUTER).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { Server } = require('socket.io');
const { io: ioc } = require('socket.io-client');
const { pair, sleep, waitFor, SID1 } = require('./fake_gateway');
const { logLine, buildHandshake } = require('../lib/native');
const { startGateway, once } = require('../../../tests/e2e/sio_harness');

// The application under test, as source: it runs on both servers.  `io` is
// a socket.io Server or an iogate Worker.
const APP = `
function app(io) {
  io.use(async (socket, next) => {
    if (socket.handshake.auth.denyText) return next('not sent to the client');
    if (socket.handshake.auth.deny) {
      const e = new Error('denied');
      e.data = { why: socket.handshake.auth.deny };
      return next(e);
    }
    next();
  });
  io.on('connection', (socket) => {
    const hs = socket.handshake;
    const r = socket.request;
    socket.on('describe', (ack) => ack({
      hsKeys: Object.keys(hs),
      hsTypes: Object.fromEntries(Object.entries(hs).map(([k, v]) => [k, typeof v])),
      query: { foo: hs.query.foo, EIO: hs.query.EIO, transport: hs.query.transport },
      auth: hs.auth,
      xdomain: hs.xdomain,
      secure: hs.secure,
      url: hs.url.startsWith('/socket.io/?') && hs.url.includes('foo=bar'),
      time: !Number.isNaN(Date.parse(hs.time)),
      issued: Math.abs(Date.now() - hs.issued) < 60000,
      header: hs.headers['x-test'],
      address: hs.address,
      request: {
        method: r.method,
        url: r.url === hs.url,
        header: r.headers['x-test'],
        remoteAddress: r.connection.remoteAddress === hs.address,
        query: r._query.foo,
      },
      conn: { transport: socket.conn.transport.name, remoteAddress: socket.conn.remoteAddress === hs.address, readyState: socket.conn.readyState },
      rooms: [...socket.rooms].length,
    }));
    socket.conn.on('upgrade', (t) => socket.emit('upgraded', t.name, socket.conn.transport.name));
    const order = [];
    socket.onAny((ev, ...args) => order.push('any:' + ev + ':' + args.map((a) => typeof a).join(',')));
    socket.use(([ev], next) => {
      order.push('mw:' + ev);
      next(ev === 'blocked' ? new Error('blocked') : undefined);
    });
    socket.on('error', () => {});
    socket.on('order', (ack) => ack(order));
  });
}
`;

function reference(port) {
  const srv = http.createServer();
  const io = new Server(srv);
  new Function('io', `${APP}; app(io);`)(io);
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve({ io, srv, url: `http://127.0.0.1:${srv.address().port}` })));
}

const clientOpts = (extra = {}) => ({
  forceNew: true,
  reconnection: false,
  transports: ['polling'],
  query: { foo: 'bar' },
  auth: { token: 't' },
  extraHeaders: { 'x-test': 'yes' },
  ...extra,
});

async function observe(url) {
  const out = {};
  const c = ioc(url, clientOpts());
  await once(c, 'connect');
  out.describe = await c.timeout(3000).emitWithAck('describe');
  c.emit('blocked', 1);
  c.emit('x');
  out.order = await c.timeout(3000).emitWithAck('order');
  c.close();
  const d = ioc(url, clientOpts({ auth: { deny: 'nope' } }));
  const [err] = await once(d, 'connect_error');
  out.refused = { message: err.message, data: err.data };
  d.close();
  const t = ioc(url, clientOpts({ auth: { denyText: true } }));
  const [terr] = await once(t, 'connect_error');
  out.refusedText = { message: terr.message, data: terr.data };
  t.close();
  const u = ioc(url, clientOpts({ transports: ['polling', 'websocket'] }));
  const [name, now] = await once(u, 'upgraded', 5000);
  out.upgrade = { name, now };
  u.close();
  return out;
}

test('the same application on socket.io and on a worker: handshake, request, conn, connect_error look the same', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-node-native-'));
  const script = path.join(dir, 'app.js');
  fs.writeFileSync(script, `const { Worker } = require(${JSON.stringify(path.resolve(__dirname, '..'))});\n${APP}\napp(new Worker());\n`);
  const ref = await reference(0);
  const gw = await startGateway({ workers: { '/': `node ${script}` } });
  try {
    const want = await observe(ref.url);
    const got = await observe(gw.url);
    assert.deepEqual(got, want);
    // and the values themselves, so a shared mistake cannot pass
    assert.deepEqual(want.describe.hsKeys, ['headers', 'time', 'address', 'xdomain', 'secure', 'issued', 'url', 'query', 'auth']);
    assert.deepEqual(got.describe.auth, { token: 't' });
    assert.equal(got.describe.request.method, 'GET');
    assert.equal(got.describe.header, 'yes');
    assert.deepEqual(got.refused, { message: 'denied', data: { why: 'nope' } });
    assert.deepEqual(got.order, [ // onAny before the packet middleware, even for a refused packet
      'any:describe:function', 'mw:describe', 'any:blocked:number', 'mw:blocked', 'any:x:', 'mw:x', 'any:order:function', 'mw:order',
    ]);
    assert.deepEqual(got.refusedText, { message: '', data: undefined });
    assert.deepEqual(got.upgrade, { name: 'websocket', now: 'websocket' });
  } finally {
    ref.io.close();
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Capture what the library logs (process.stderr) while fn runs.
async function logged(fn) {
  const orig = process.stderr.write;
  let text = '';
  process.stderr.write = function (chunk, ...rest) {
    text += chunk.toString();
    return true;
  };
  try {
    await fn(() => text);
  } finally {
    process.stderr.write = orig;
  }
  return text;
}

test('async handlers and middleware: rejections are logged like throws and the worker carries on; exceptions never reach the client', async () => {
  const calls = [];
  const log = await logged(async (text) => {
    const { gw, done } = await pair((io) => {
      io.use(async (socket) => {
        if (socket.handshake.auth.throwSync) throw new Error('secret detail A');
        if (socket.handshake.auth.reject) throw new Error('secret detail B'); // async: a rejection
      });
      io.use((socket, next) => next());
      io.on('connection', async (socket) => {
        socket.on('boom', async () => {
          calls.push('boom');
          await sleep(1);
          throw new Error('kaboom');
        });
        socket.onAny(async (ev) => {
          if (ev === 'any-boom') throw new Error('any failed');
        });
        socket.use(async ([ev]) => {
          if (ev === 'mw-boom') throw new Error('packet middleware failed');
        });
        socket.on('error', (e) => socket.emit('error-seen', e.message));
        socket.on('ping', (ack) => ack('pong'));
        if (socket.handshake.auth.connBoom) throw new Error('connection handler failed');
      });
    }, { workerOpts: { logLevel: 'error' } });
    try {
      // An async namespace middleware that resolves without next() leaves
      // the socket pending (socket.io does the same); one that rejects or
      // throws refuses it without saying why.
      for (const auth of [{ throwSync: true }, { reject: true }]) {
        const sid = auth.reject ? 'BBBBBBBBBBBBBBBBBBB2' : 'BBBBBBBBBBBBBBBBBBB1';
        await gw.send('CONNECT', sid, { handshake: { auth }, transport: 'polling' });
        const r = await gw.next((m) => m.sid === sid);
        assert.equal(r.type, 'REFUSE');
        assert.deepEqual(r.meta, { message: 'Internal server error' });
      }
      assert.match(text(), /ERROR iogate\.worker\[\/\] namespace middleware 0 failed for socket BBBBBBBBBBBBBBBBBBB1: Error: secret detail A\n\s+at /);
      assert.match(text(), /secret detail B/);
      // The middleware above never calls next(): pending.
      await gw.send('CONNECT', SID1, { handshake: { auth: { connBoom: true } }, transport: 'polling' });
      assert.equal(await gw.none((m) => m.sid === SID1, 150), null);
    } finally {
      await done();
    }
    const p2 = await pair((io) => {
      io.on('connection', async (socket) => {
        socket.on('boom', async () => {
          calls.push('boom');
          throw new Error('kaboom');
        });
        socket.onAny(async (ev) => {
          if (ev === 'any-boom') throw new Error('any failed');
        });
        socket.onAnyOutgoing(async () => {
          throw new Error('outgoing listener failed');
        });
        socket.use(async ([ev], next) => {
          if (ev === 'mw-boom') throw new Error('packet middleware failed');
          next();
        });
        socket.on('error', (e) => socket.emit('error-seen', e.message));
        socket.on('ping', (ack) => ack('pong'));
        throw new Error('connection handler failed');
      });
    });
    try {
      await p2.gw.connect();
      await p2.gw.send('EVENT', SID1, {}, ['boom']);
      await p2.gw.send('EVENT', SID1, {}, ['any-boom']);
      await p2.gw.send('EVENT', SID1, {}, ['mw-boom']);
      const e = await p2.gw.next('EMIT');
      assert.deepEqual(e.data, ['error-seen', 'packet middleware failed']);
      // an async ack callback that rejects on timeout, and one that throws
      // on a late answer: logged, the worker goes on
      const s1 = p2.io.sockets.get(SID1);
      s1.timeout(20).emit('q', async (err) => {
        throw new Error(`ack callback failed: ${err.message}`);
      });
      await sleep(60);
      await p2.gw.send('EVENT', SID1, { ack: 5 }, ['ping']);
      const a = await p2.gw.next('ACK');
      assert.deepEqual(a.data, ['pong']);
      await sleep(20);
    } finally {
      await p2.done();
    }
  });
  assert.deepEqual(calls, ['boom']);
  assert.match(log, /"connection" handler rejected: Error: connection handler failed/);
  assert.match(log, /handler of "boom" rejected: Error: kaboom\n\s+at /);
  assert.match(log, /onAny listener \(event "any-boom"\) threw: Error: any failed/);
  assert.match(log, /onAnyOutgoing listener threw: Error: outgoing listener failed/);
  assert.match(log, /packet middleware \(event "mw-boom"\) threw: Error: packet middleware failed/);
  assert.match(log, /ack callback threw: Error: ack callback failed: operation has timed out/);
});

test('the any family: onAny runs before packet middleware and sees refused packets; prepend/off/listeners; outgoing too', async () => {
  let sock;
  const order = [];
  const { gw, done } = await pair((io) =>
    io.on('connection', (s) => {
      sock = s;
      s.use(([ev], next) => {
        order.push(`mw:${ev}`);
        next(ev === 'no' ? new Error('no') : undefined);
      });
      s.on('error', () => order.push('error'));
      s.on('yes', () => order.push('handler:yes'));
    }),
  );
  try {
    await gw.connect();
    const a = (ev) => order.push(`a:${ev}`);
    const b = (ev) => order.push(`b:${ev}`);
    sock.onAny(a);
    sock.prependAny(b);
    assert.deepEqual(sock.listenersAny(), [b, a]);
    await gw.send('EVENT', SID1, {}, ['no']);
    await gw.send('EVENT', SID1, {}, ['yes']);
    await waitFor(() => order.includes('handler:yes'));
    assert.deepEqual(order, ['b:no', 'a:no', 'mw:no', 'error', 'b:yes', 'a:yes', 'mw:yes', 'handler:yes']);
    sock.offAny(b);
    assert.deepEqual(sock.listenersAny(), [a]);
    sock.offAny();
    assert.deepEqual(sock.listenersAny(), []);

    const out = [];
    const o1 = (ev, ...args) => out.push(['o1', ev, ...args]);
    const o2 = (ev) => out.push(['o2', ev]);
    sock.onAnyOutgoing(o1);
    sock.prependAnyOutgoing(o2);
    assert.deepEqual(sock.listenersAnyOutgoing(), [o2, o1]);
    sock.emit('hello', 1, 2);
    assert.deepEqual(out, [['o2', 'hello'], ['o1', 'hello', 1, 2]]);
    sock.offAnyOutgoing(o2);
    sock.emit('again');
    assert.deepEqual(out.slice(2), [['o1', 'again']]);
    sock.offAnyOutgoing();
    sock.emit('quiet');
    assert.equal(out.length, 3);
  } finally {
    await done();
  }
});

test('flags: compress() is refused loudly, local is exact; join/leave take arrays; conn events not asked for are warned about', async () => {
  let sock;
  const log = await logged(async () => {
    const { gw, io, done } = await pair((io) => io.on('connection', (s) => (sock = s)), { workerOpts: { logLevel: 'warn' } });
    try {
      await gw.connect();
      assert.throws(() => sock.compress(false), /compress\(\) is not supported/);
      assert.throws(() => io.compress(true), /compress\(\) is not supported/);
      assert.throws(() => io.to('r').compress(false), /compress\(\) is not supported/);
      assert.equal(io.local.to('r').emit('x', 1), true);
      const bc = await gw.next('BROADCAST');
      assert.deepEqual(bc.meta, { rooms: ['r'] });
      assert.equal(sock.local.emit('y'), true);
      assert.deepEqual((await gw.next('EMIT')).data, ['y']);
      sock.join(['a', 'b', 'c']);
      assert.deepEqual((await gw.next('JOIN')).meta.rooms, ['a', 'b', 'c']);
      sock.leave(['a', 'c', 'zz']);
      assert.deepEqual((await gw.next('LEAVE')).meta.rooms, ['a', 'c']);
      assert.deepEqual([...sock.rooms], [SID1, 'b']);
      sock.conn.on('drain', () => {});
      sock.conn.on('drain', () => {});
      sock.conn.on('upgrade', () => {});
    } finally {
      await done();
    }
  });
  assert.equal((log.match(/socket\.conn\.on\("drain"\): never raised/g) || []).length, 1);
  assert.doesNotMatch(log, /"upgrade"\): never raised/);
});

test('log lines: ISO-8601 UTC with ms, level padded to 5, iogate.worker[nsp]', () => {
  const at = new Date(Date.UTC(2026, 10, 30, 4, 40, 0, 123));
  assert.equal(logLine(2, '/chat', 'hello', at), '2026-11-30T04:40:00.123Z INFO  iogate.worker[/chat] hello\n');
  assert.equal(logLine(0, '/', 'x', at), '2026-11-30T04:40:00.123Z ERROR iogate.worker[/] x\n');
  assert.equal(logLine(1, '/', 'x', at), '2026-11-30T04:40:00.123Z WARN  iogate.worker[/] x\n');
  assert.equal(logLine(3, '/', 'x', at), '2026-11-30T04:40:00.123Z DEBUG iogate.worker[/] x\n');
});

test('handshake from a CONNECT with missing or mistyped keys still has the reference\'s shape', () => {
  const h = buildHandshake({ headers: 'x', query: [1], auth: null, issued: 'soon', address: 5 });
  assert.deepEqual(Object.keys(h), ['headers', 'time', 'address', 'xdomain', 'secure', 'issued', 'url', 'query', 'auth']);
  assert.deepEqual([h.headers, h.query, h.auth, h.address, h.url, h.secure, h.xdomain], [{}, {}, {}, '', '', false, false]);
  assert.equal(typeof h.issued, 'number');
  assert.equal(buildHandshake({ headers: { origin: 'http://x' } }).xdomain, true);
});
