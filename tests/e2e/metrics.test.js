// metrics.test.js — --admin-listen: /healthz and /metrics (Prometheus text
// format 0.0.4) scraped during a real run, the numbers checked against what
// the test did: clients by transport, events, a broadcast, refused
// handshakes, a killed worker's restart, a crash-looping worker given up
// (healthz 503 naming it).  Every scrape goes through a strict line parser.
// Real gateway, real C echo workers, real socket.io-client.
'use strict';
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { startGateway, freePort, once, waitFor, BUILD } = require('./sio_harness');

const ECHO = path.join(BUILD, 'examples', 'echo');

// The exposition format, strictly: HELP/TYPE once per family and before its
// samples, metric and label names by the grammar, label values with only
// \\ \" \n escapes, numeric values, counters named *_total, no series twice,
// a newline at the end.  Returns Map(series key → value) and the families.
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const families = new Map(); // name → {type, help}
  const series = new Map();
  let current = null;
  const lines = text.slice(0, -1).split('\n');
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    let m;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
      assert.match(m[1], NAME, where);
      assert.ok(!families.has(m[1]) || !families.get(m[1]).help, `HELP twice, ${where}`);
      assert.ok(!/[^\\]\\[^\\n]/.test(m[2]), `HELP escapes, ${where}`);
      families.set(m[1], { ...(families.get(m[1]) || {}), help: m[2] });
      continue;
    }
    if ((m = /^# TYPE (\S+) (counter|gauge|summary|histogram|untyped)$/.exec(line))) {
      assert.match(m[1], NAME, where);
      const f = families.get(m[1]) || {};
      assert.ok(!f.type, `TYPE twice, ${where}`);
      assert.ok(!f.samples, `TYPE after samples, ${where}`);
      families.set(m[1], { ...f, type: m[2] });
      current = m[1];
      if (m[2] === 'counter') assert.match(m[1], /_total$/, `counter name, ${where}`);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unknown comment, ${where}`);
    assert.ok(line.length > 0, `empty line, ${where}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `sample syntax, ${where}`);
    const [, name, , labelText = '', value] = m;
    assert.equal(name, current, `sample outside its family, ${where}`);
    assert.match(value, /^(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$/, `value, ${where}`);
    const labels = {};
    let rest = labelText;
    while (rest.length) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      assert.ok(lm, `label syntax at ${JSON.stringify(rest)}, ${where}`);
      assert.ok(!(lm[1] in labels), `label twice, ${where}`);
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      rest = rest.slice(lm[0].length);
    }
    const key = name + JSON.stringify(Object.entries(labels).sort());
    assert.ok(!series.has(key), `series twice, ${where}`);
    series.set(key, Number(value));
    families.get(name).samples = (families.get(name).samples || 0) + 1;
  }
  for (const [name, f] of families) {
    assert.ok(f.type, `family ${name} has a TYPE`);
    assert.ok(f.help, `family ${name} has a HELP`);
  }
  return { series, families };
}

function val(parsed, name, labels = {}) {
  const key = name + JSON.stringify(Object.entries(labels).sort());
  return parsed.series.get(key);
}

async function get(port, p) {
  const r = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
}

async function scrape(port) {
  const r = await get(port, '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return parseExposition(r.body);
}

describe('metrics and health (--admin-listen)', () => {
  test('the parser itself refuses what the format forbids', () => {
    assert.throws(() => parseExposition('# TYPE a_total counter\na_total 1'));
    assert.throws(() => parseExposition('# HELP a x\n# TYPE a counter\na 1\n'));
    assert.throws(() => parseExposition('# HELP a x\n# TYPE a gauge\na{n="x\\q"} 1\n'));
    assert.throws(() => parseExposition('# HELP a x\n# TYPE a gauge\na 1\na 2\n'));
    assert.throws(() => parseExposition('# HELP a x\n# TYPE a gauge\nb 1\n'));
    assert.throws(() => parseExposition('# HELP a x\n# TYPE a gauge\na one\n'));
    const ok = parseExposition('# HELP a x\n# TYPE a gauge\na{n="q\\"\\\\"} 1.5\n');
    assert.equal(val(ok, 'a', { n: 'q"\\' }), 1.5);
  });

  test('a run scraped: sessions, sockets, packets, broadcast, refusals, restarts, crash loop, healthz', async () => {
    const admin = await freePort();
    const flag = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-metrics-')), 'crash');
    // /c crash-loops once the flag file exists; `exec` keeps one pid.
    const crashy = `sh -c 'test -e ${flag} && exit 1; exec ${ECHO}'`;
    const weird = '/q"\\x';
    const gw = await startGateway({
      workers: { '/': 'echo', '/b': 'echo', '/c': crashy, [weird]: 'echo' },
      args: ['--admin-listen', `127.0.0.1:${admin}`, '--max-sessions-per-address', '3',
        '--worker-crash-limit', '3', '--worker-restart', '50', '--worker-heartbeat', '200'],
    });
    try {
      await gw.waitLog(/admin endpoint on http:\/\/127\.0\.0\.1:\d+ \(\/healthz, \/metrics\)/);
      // every configured worker up and listening: 200
      await waitFor(async () => (await get(admin, '/healthz')).status === 200, 5000);
      const h = await get(admin, '/healthz');
      assert.deepEqual(JSON.parse(h.body), { status: 'ok' });
      assert.match(h.type, /^application\/json/);

      const base = await scrape(admin);
      assert.equal(val(base, 'iogate_sessions', { transport: 'polling' }), 0);
      assert.equal(val(base, 'iogate_worker_up', { nsp: weird }), 1, 'label escaped and read back');
      assert.ok(val(base, 'process_open_fds') > 3);
      assert.ok(val(base, 'process_resident_memory_bytes') > 1e6);
      assert.ok(Math.abs(val(base, 'process_start_time_seconds') - Date.now() / 1000) < 120);

      // three clients: polling only, WebSocket only, polling upgraded
      const a = gw.client('/', { transports: ['polling'] });
      const b = gw.client('/', { transports: ['websocket'] });
      const c = gw.client('/');
      await Promise.all([once(a, 'connect'), once(b, 'connect'), once(c, 'connect')]);
      await waitFor(() => c.io.engine.transport.name === 'websocket', 5000);
      const cb = c.io.socket('/b'); // multiplexed on c's session
      await once(cb, 'connect');
      // a fourth session from this address: 429; a bad handshake: 400
      assert.equal((await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`)).status, 429);
      assert.equal((await fetch(`${gw.url}/socket.io/?EIO=9&transport=polling`)).status, 400);

      // events: 5 from a, 3 from b, each echoed; a and b join room r; c
      // broadcasts to it (2 deliveries)
      const echoed = (s, n) => new Promise((res) => {
        let k = 0;
        s.on('message-back', () => { if (++k === n) res(); });
      });
      const ea = echoed(a, 5), eb = echoed(b, 3);
      for (let i = 0; i < 5; i++) a.emit('message', i);
      for (let i = 0; i < 3; i++) b.emit('message', i);
      await Promise.all([ea, eb]);
      await a.emitWithAck('join', 'r');
      await b.emitWithAck('join', 'r');
      const ra = once(a, 'room-message'), rb = once(b, 'room-message');
      assert.equal(await c.emitWithAck('to-room', 'r', 'hi'), true);
      await Promise.all([ra, rb]);

      let m = await scrape(admin);
      assert.equal(val(m, 'iogate_sessions', { transport: 'polling' }), 1);
      assert.equal(val(m, 'iogate_sessions', { transport: 'websocket' }), 2);
      assert.equal(val(m, 'iogate_handshakes_total'), 3);
      assert.equal(val(m, 'iogate_upgrades_total'), 1);
      assert.equal(val(m, 'iogate_handshakes_refused_total', { status: '429', reason: 'max-sessions-per-address' }), 1);
      assert.equal(val(m, 'iogate_handshakes_refused_total', { status: '400', reason: 'bad-request' }), 1);
      assert.equal(val(m, 'iogate_handshakes_refused_total', { status: '503', reason: 'max-connections' }), 0);
      assert.equal(val(m, 'iogate_sockets', { nsp: '/' }), 3);
      assert.equal(val(m, 'iogate_sockets', { nsp: '/b' }), 1);
      // client → worker on /: 8 messages + 2 joins + 1 to-room
      assert.equal(val(m, 'iogate_packets_received_total', { nsp: '/' }), 11);
      // worker → clients on /: 3 "auth" greetings + 8 echoes + 3 acks + 2 deliveries
      assert.equal(val(m, 'iogate_packets_sent_total', { nsp: '/' }), 16);
      assert.equal(val(m, 'iogate_packets_sent_total', { nsp: '/b' }), 1);
      assert.ok(val(m, 'iogate_packet_received_bytes_total', { nsp: '/' }) > 8 * '["message",0]'.length - 1);
      assert.equal(val(m, 'iogate_broadcasts_total'), 1);
      assert.equal(val(m, 'iogate_broadcast_deliveries_total'), 2);
      assert.ok(val(m, 'iogate_http_received_bytes_total') > 0);
      assert.ok(val(m, 'iogate_http_sent_bytes_total') > 0);
      assert.ok(val(m, 'iogate_output_buffered_bytes') >= 0);
      // a heartbeat went round each worker (every 200 ms)
      await waitFor(async () => [...(await scrape(admin)).series.keys()].filter((k) => k.startsWith('iogate_ipc_rtt_seconds')).length === 4, 5000);
      m = await scrape(admin);
      for (const [k, v] of m.series) if (k.startsWith('iogate_ipc_rtt_seconds')) assert.ok(v > 0 && v < 5, `${k} ${v}`);

      // kill -9 the worker of /b: one restart, its socket recovered
      const pidOf = (nsp) => +[...gw.logs.matchAll(new RegExp(`started worker for ${nsp.replace('/', '\\/')} \\(pid (\\d+)\\)`, 'g'))].pop()[1];
      process.kill(pidOf('/b'), 'SIGKILL');
      await waitFor(async () => val(await scrape(admin), 'iogate_worker_restarts_total', { nsp: '/b' }) === 1, 5000);
      await waitFor(async () => val(await scrape(admin), 'iogate_worker_up', { nsp: '/b' }) === 1, 5000);
      assert.equal((await get(admin, '/healthz')).status, 200);

      // /c crash-loops: killed once, then it exits at start twice more → given up
      fs.writeFileSync(flag, '');
      process.kill(pidOf('/c'), 'SIGKILL');
      await gw.waitLog(/worker for \/c exited 3 times within \d+ ms: crash loop/, 10000);
      const bad = await get(admin, '/healthz');
      assert.equal(bad.status, 503);
      const j = JSON.parse(bad.body);
      assert.equal(j.status, 'unavailable');
      assert.deepEqual(j.given_up, ['/c']);
      assert.deepEqual(j.down, []);
      assert.match(j.reason, /\/c given up after a crash loop/);
      m = await scrape(admin);
      assert.equal(val(m, 'iogate_worker_crash_loops_total', { nsp: '/c' }), 1);
      assert.equal(val(m, 'iogate_worker_restarts_total', { nsp: '/c' }), 2);
      assert.equal(val(m, 'iogate_worker_given_up', { nsp: '/c' }), 1);
      assert.equal(val(m, 'iogate_worker_up', { nsp: '/c' }), 0);
      assert.equal(val(m, 'iogate_worker_given_up', { nsp: '/' }), 0);

      // a limit hit: JSON nested past --max-depth (32) closes that client
      a.close();
      await waitFor(async () => val(await scrape(admin), 'iogate_sessions', { transport: 'polling' }) === 0, 5000);
      const d = gw.client('/');
      await once(d, 'connect');
      let deep = 0;
      for (let i = 0; i < 40; i++) deep = [deep];
      const gone = once(d, 'disconnect');
      d.emit('message', deep);
      await gone;
      await waitFor(async () => val(await scrape(admin), 'iogate_limits_hit_total', { kind: 'max-depth' }) === 1, 5000);
      m = await scrape(admin);
      assert.equal(val(m, 'iogate_limits_hit_total', { kind: 'max-attachments' }), 0);
      assert.equal(val(m, 'iogate_limits_hit_total', { kind: 'connect-timeout' }), 0);

      // the admin endpoint answers only what it serves
      assert.equal((await get(admin, '/')).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${admin}/metrics`, { method: 'POST', body: 'x' })).status, 405);
      // and the public listener does not serve it
      assert.equal((await fetch(`${gw.url}/metrics`)).status, 404);
    } finally {
      await gw.stop();
      fs.rmSync(path.dirname(flag), { recursive: true, force: true });
    }
  });

  test('the admin address may not be the public one; a busy admin port stops the gateway', async () => {
    const port = await freePort();
    const iogate = path.join(BUILD, 'iogate');
    let r = spawnSync(iogate, ['--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${port}`, '--echo'], { encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--admin-listen 127\.0\.0\.1:\d+ is the public --listen address/);
    r = spawnSync(iogate, ['--listen', `0.0.0.0:${port}`, '--admin-listen', `127.0.0.1:${port}`, '--echo'], { encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 2);
    r = spawnSync(iogate, ['--listen', `127.0.0.1:${port}`, '--admin-listen', 'nonsense', '--echo'], { encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--admin-listen wants HOST:PORT/);
    // a config file line works the same
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-admin-'));
    try {
      fs.writeFileSync(path.join(dir, 'c.conf'), `listen = 127.0.0.1:${port}\nadmin-listen = 127.0.0.1:${port}\necho\n`);
      r = spawnSync(iogate, ['--config', path.join(dir, 'c.conf')], { encoding: 'utf8', timeout: 5000 });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /is the public --listen address/);
      // the admin port taken by someone else: exit 1 with a line saying so
      const net = require('node:net');
      const blocker = net.createServer();
      await new Promise((res) => blocker.listen(0, '127.0.0.1', res));
      const taken = blocker.address().port;
      r = spawnSync(iogate, ['--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${taken}`, '--echo'], { encoding: 'utf8', timeout: 5000 });
      blocker.close();
      assert.equal(r.status, 1);
      assert.match(r.stderr, /--admin-listen 127\.0\.0\.1:\d+: cannot listen; stopping/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
