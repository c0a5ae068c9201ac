// admission.test.js — handshake admission, the reference's `allowRequest`
// (gateway `--admission NSP`, PROTOCOL.md rule 39, README "Refusing
// handshakes").
//
// The admission worker (fixtures/admission_worker.js, Node.js library; the
// C and Python libraries' workers in the last block) applies a policy —
// refuse Origin http://evil.example ("bad origin"), refuse the address
// 203.0.113.66 ("banned", via X-Forwarded-For from a trusted loopback
// proxy), refuse ?deny=1 without a message — and socket.io 4.8.1 runs the
// same policy in this process with allowRequest, so iogate's raw answers
// (status, content type, body) can be compared with the reference's for
// polling and for a WebSocket upgrade.  Then: the official client sees
// connect_error; a slow or silent worker and a missing one fail closed
// (503, logged); a flood while the worker is silent stays bounded
// (--admission-max-pending, 503 past it, RSS flat); and the worker sees the
// handshake's headers, query, url and address.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { Server } = require('socket.io');
const { startGateway, sleep, waitFor, once, ROOT, BUILD } = require('./sio_harness');

const NODE_WORKER = `node ${path.join(__dirname, 'fixtures', 'admission_worker.js')}`;
const EVIL = 'http://evil.example';
const BANNED = '203.0.113.66';

// ---- the reference, with the same policy -----------------------------------

function startReference() {
  return new Promise((resolve) => {
    const srv = http.createServer();
    const io = new Server(srv, {
      serveClient: false,
      allowRequest: (req, callback) => {
        if (req.headers.origin === EVIL) return callback('bad origin', false);
        const fwd = req.headers['x-forwarded-for'];
        if (fwd === BANNED) return callback('banned', false);
        if (req._query.deny === '1') return callback(null, false);
        callback(null, true);
      },
    });
    srv.listen(0, '127.0.0.1', () => resolve({ io, srv, port: srv.address().port }));
  });
}

// ---- raw requests -------------------------------------------------------------

function get(port, query, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: `/socket.io/?EIO=4&transport=polling${query}`, headers, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// A WebSocket upgrade request without sid; resolves with the status line
// and body of whatever the server answered before closing.
function upgrade(port, query, headers = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.on('connect', () =>
      sock.write(
        `GET /socket.io/?EIO=4&transport=websocket${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`,
      ),
    );
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.toString().startsWith('HTTP/1.1 101')) sock.destroy(); // admitted: enough
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const text = buf.toString('latin1');
      const i = text.indexOf('\r\n\r\n');
      const head = i < 0 ? text : text.slice(0, i);
      const type = /\r\ncontent-type: *([^\r]*)/i.exec(head);
      resolve({ status: Number(text.split(' ')[1]), type: type && type[1].toLowerCase(), body: i < 0 ? '' : text.slice(i + 4) });
    });
  });
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

// The official client, no reconnection: resolves 'connect' or the connect_error.
async function tryConnect(gw, opts) {
  const s = gw.client('/', opts);
  const hello = once(s, 'hello', 8000).catch(() => [undefined]);
  const r = await Promise.race([
    once(s, 'connect', 8000).then(() => ({ ok: true })),
    once(s, 'connect_error', 8000).then(([e]) => ({ ok: false, err: e })),
  ]);
  if (r.ok) r.hello = (await hello)[0];
  s.close();
  return r;
}

const REFUSALS = [
  { name: 'origin', query: '', headers: { origin: EVIL } },
  { name: 'address', query: '', headers: { 'x-forwarded-for': BANNED } },
  { name: 'no message', query: '&deny=1', headers: {} },
];

describe('admission by a Node.js worker (allowRequest)', () => {
  let gw, ref;
  before(async () => {
    ref = await startReference();
    gw = await startGateway({ workers: { '/': NODE_WORKER }, args: ['--admission', '/', '--trust-proxy', 'loopback'] });
  });
  after(async () => {
    ref.io.close();
    await gw.stop();
  });

  for (const transport of ['polling', 'websocket']) {
    test(`allowed → connects (${transport})`, async () => {
      const r = await tryConnect(gw, { transports: [transport] });
      assert.equal(r.ok, true, r.err && r.err.message);
      assert.equal(r.hello, 'node');
    });
    test(`refused by origin → connect_error, no session (${transport})`, async () => {
      const r = await tryConnect(gw, { transports: [transport], extraHeaders: { origin: EVIL } });
      assert.equal(r.ok, false);
      assert.match(r.err.message, transport === 'polling' ? /xhr poll error/ : /websocket error/);
      await gw.waitLog(/handshake from 127\.0\.0\.1 refused by the worker \(bad origin\)/);
    });
  }

  for (const c of REFUSALS) {
    test(`refusal by ${c.name}: polling answer equals the reference's`, async () => {
      const mine = await get(gw.port, c.query, c.headers);
      const theirs = await get(ref.port, c.query, c.headers);
      assert.equal(theirs.status, 403);
      assert.deepEqual(mine, theirs);
    });
    test(`refusal by ${c.name}: WebSocket upgrade answer equals the reference's`, async () => {
      const mine = await upgrade(gw.port, c.query, c.headers);
      const theirs = await upgrade(ref.port, c.query, c.headers);
      assert.equal(theirs.status, 400);
      assert.deepEqual(mine, theirs);
    });
  }

  test('an admitted raw handshake is the normal open packet, on both transports', async () => {
    const p = await get(gw.port, '');
    assert.equal(p.status, 200);
    assert.match(p.body, /^0\{"sid":"[^"]+","upgrades":\["websocket"\]/);
    const w = await upgrade(gw.port, '');
    assert.equal(w.status, 101);
  });

  test('the worker sees headers, query, url and address', async () => {
    const before = (gw.logs.match(/ADMIT-SEEN /g) || []).length;
    const r = await get(gw.port, '&token=abc%20d&x=1&x=2', { 'x-app': 'probe-7', 'x-forwarded-for': '198.51.100.4' });
    assert.equal(r.status, 200);
    await waitFor(() => (gw.logs.match(/ADMIT-SEEN /g) || []).length > before);
    const seen = gw.logs
      .split('\n')
      .filter((l) => l.includes('ADMIT-SEEN') && l.includes('probe-7'))
      .map((l) => JSON.parse(l.slice(l.indexOf('ADMIT-SEEN ') + 11)))[0];
    assert.equal(seen.headers['x-app'], 'probe-7');
    assert.equal(seen.headers.host, `127.0.0.1:${gw.port}`);
    assert.deepEqual(seen.query, { EIO: '4', transport: 'polling', token: 'abc d', x: ['1', '2'] });
    assert.equal(seen.url, '/socket.io/?EIO=4&transport=polling&token=abc%20d&x=1&x=2');
    assert.equal(seen.address, '198.51.100.4'); // from the trusted proxy's header
    assert.equal(seen.secure, false);
  });

  test('a client that leaves while waiting frees its slot; a late answer is ignored', async () => {
    // Nothing to observe from outside but the gateway staying healthy:
    // many handshakes cut off right after the request.
    for (let i = 0; i < 30; i++) {
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => {});
      s.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n');
      s.destroy();
    }
    await sleep(300);
    const r = await tryConnect(gw, { transports: ['polling'] });
    assert.equal(r.ok, true);
  });
});

describe('admission fails closed', () => {
  test('a slow worker: refused with 503 after --admission-timeout, logged; faster answers pass', async () => {
    const gw = await startGateway({
      workers: { '/': NODE_WORKER },
      args: ['--admission', '/', '--admission-timeout', '600'],
      env: { ADMIT_DELAY_MS: '1500' },
    });
    try {
      const t0 = Date.now();
      const r = await get(gw.port, '');
      const dt = Date.now() - t0;
      assert.equal(r.status, 503);
      assert.ok(dt >= 550, `answered after ${dt} ms, before the timeout`);
      await gw.waitLog(/no answer for the handshake from 127\.0\.0\.1 within 600 ms \(--admission-timeout\): refused with 503/);
      const c = await tryConnect(gw, { transports: ['websocket'] });
      assert.equal(c.ok, false);
      // the late answer arrives and is only logged
      await gw.waitLog(/answer for request \d+ ignored: that handshake no longer waits/, 5000);
    } finally {
      await gw.stop();
    }
  });

  test('no admission worker connected: 503 at once, logged', async () => {
    const gw = await startGateway({ workers: { '/': NODE_WORKER }, args: ['--admission', '/gatekeeper'] });
    try {
      const r = await get(gw.port, '');
      assert.equal(r.status, 503);
      await gw.waitLog(/no worker serves \/gatekeeper \(--admission\): refusing the handshake from 127\.0\.0\.1 with 503/);
      const w = await upgrade(gw.port, '');
      assert.equal(w.status, 503);
      const c = await tryConnect(gw, { transports: ['polling'] });
      assert.equal(c.ok, false);
    } finally {
      await gw.stop();
    }
  });

  test('a flood while the worker is silent: bounded pending, 503 past it, RSS bounded', async () => {
    const CAP = 40;
    const gw = await startGateway({
      workers: { '/': NODE_WORKER },
      args: ['--admission', '/', '--admission-timeout', '4000', '--admission-max-pending', String(CAP)],
      env: { ADMIT_SILENT: '1' },
    });
    try {
      // warm up, then measure around a large flood
      const TIMED_OUT = /within 4000 ms \(--admission-timeout\): refused with 503/g;
      const AT_CAP = /handshakes already wait for an answer \(--admission-max-pending\)/g;
      const count = (re, from) => (gw.logs.slice(from).match(re) || []).length;
      await Promise.all(Array.from({ length: CAP * 2 }, () => get(gw.port, '')));
      // stderr may lag the responses: the warm-up's lines before the mark
      await waitFor(() => count(TIMED_OUT, 0) + count(AT_CAP, 0) === CAP * 2, 5000, 'warm-up log lines');
      const mark = gw.logs.length;
      const rss0 = rssKb(gw.proc.pid);
      const statuses = [];
      const all = [];
      for (let round = 0; round < 5; round++) {
        all.push(...Array.from({ length: 200 }, () => get(gw.port, '').then((r) => statuses.push(r.status))));
        await sleep(50);
      }
      await Promise.all(all);
      const n503 = statuses.filter((s) => s === 503).length;
      assert.equal(n503, statuses.length, 'every handshake ends refused');
      // Each refusal logs why: at most CAP waited for the timeout, the rest
      // were refused at the cap.  (Counted from the log, not by elapsed time,
      // which a loaded machine stretches.)
      await waitFor(() => count(TIMED_OUT, mark) + count(AT_CAP, mark) === statuses.length, 5000,
        () => `refusals logged: ${count(TIMED_OUT, mark)} timed out + ${count(AT_CAP, mark)} at the cap, of ${statuses.length}`);
      const slow = count(TIMED_OUT, mark);
      assert.ok(slow <= CAP, `${slow} handshakes waited, cap is ${CAP}`);
      assert.ok(slow > 0, 'some handshakes were parked');
      const rss1 = rssKb(gw.proc.pid);
      assert.ok(rss1 - rss0 < 16 * 1024, `RSS grew by ${rss1 - rss0} kB`);
    } finally {
      await gw.stop();
    }
  });
});

describe('untrusted answers (a worker written from PROTOCOL.md alone)', () => {
  const RAW = `/usr/bin/python3 ${path.join(__dirname, 'fixtures', 'admission_raw.py')}`;
  let gw;
  before(async () => {
    gw = await startGateway({
      workers: { '/': RAW, '/other': RAW },
      args: ['--admission', '/', '--admission-timeout', '500'],
    });
  });
  after(async () => {
    await gw.stop();
  });

  test('an answer without ok, or with a message that is not a string: ERROR meta, then 503', async () => {
    for (const c of ['badmeta', 'badmsg']) {
      const r = await get(gw.port, `&case=${c}`);
      assert.equal(r.status, 503, c);
    }
    await gw.waitLog(/ADMIT from the worker not used: ADMIT needs an integer req and a boolean ok \(ERROR meta\)/);
    await gw.waitLog(/ADMIT from the worker not used: ADMIT message must be a string \(ERROR meta\)/);
    await gw.waitLog(/RAW-ERROR meta ADMIT/);
  });

  test("another namespace's worker may not answer: ERROR state", async () => {
    await gw.waitLog(/namespace \/other: ADMIT from the worker not used: this worker is not the --admission worker \(ERROR state\)/);
    await gw.waitLog(/RAW-ERROR state ADMIT/);
  });

  test('a second answer for the same request is ignored and logged; the first counts', async () => {
    const r = await get(gw.port, '&case=twice');
    assert.equal(r.status, 200);
    await gw.waitLog(/answer for request \d+ ignored: that handshake no longer waits/);
    const no = await get(gw.port, '&case=no');
    assert.deepEqual([no.status, JSON.parse(no.body)], [403, { code: 4, message: 'raw no' }]);
  });
});

describe('off by default', () => {
  test('without --admission the worker is never asked', async () => {
    const gw = await startGateway({ workers: { '/': NODE_WORKER } });
    try {
      const r = await tryConnect(gw, { transports: ['polling'], extraHeaders: { origin: EVIL } });
      assert.equal(r.ok, true);
      assert.doesNotMatch(gw.logs, /ADMIT-SEEN/);
    } finally {
      await gw.stop();
    }
  });
});

describe('the C and Python libraries', () => {
  const workers = {
    C: path.join(BUILD, 'examples', 'admission'),
    Python: `/usr/bin/python3 ${path.join(__dirname, 'fixtures', 'admission_worker.py')}`,
    'Python (callback form)': `/usr/bin/python3 ${path.join(__dirname, 'fixtures', 'admission_worker.py')}`,
    'Python (async form)': `/usr/bin/python3 ${path.join(__dirname, 'fixtures', 'admission_worker.py')}`,
  };
  for (const [lang, cmd] of Object.entries(workers)) {
    test(`${lang}: allowed connects, refused gets the reference's answer`, async () => {
      const gw = await startGateway({
        workers: { '/': cmd },
        args: ['--admission', '/', '--trust-proxy', 'loopback'],
        env: { ADMIT_FORM: (/\((\w+) form\)/.exec(lang) || [, 'return'])[1] },
      });
      try {
        for (const transport of ['polling', 'websocket']) {
          const ok = await tryConnect(gw, { transports: [transport] });
          assert.equal(ok.ok, true, ok.err && ok.err.message);
          assert.equal(ok.hello, lang === 'C' ? 'c' : 'python');
          const no = await tryConnect(gw, { transports: [transport], extraHeaders: { origin: EVIL } });
          assert.equal(no.ok, false);
        }
        for (const c of REFUSALS) {
          const mine = await get(gw.port, c.query, c.headers);
          assert.equal(mine.status, 403, c.name);
          assert.deepEqual(JSON.parse(mine.body), { code: 4, message: c.name === 'origin' ? 'bad origin' : c.name === 'address' ? 'banned' : 'Forbidden' });
          const w = await upgrade(gw.port, c.query, c.headers);
          assert.equal(w.status, 400);
        }
      } finally {
        await gw.stop();
      }
    });
  }
});
