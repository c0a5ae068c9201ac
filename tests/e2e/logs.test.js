// logs.test.js — the gateway's log as a person and a log collector read it:
// one text format (ISO-8601 UTC with ms, level padded to five, component,
// message), --log-format json (one object per line), one debug line per
// socket connect/disconnect with namespace, id, address and reason, worker
// stdout/stderr re-emitted with the namespace and pid, a 1 MB line without
// a newline cut without harm, a last partial line flushed at exit.  Real
// gateway, real C echo workers, real socket.io-client.
'use strict';
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startGateway, freePort, once, waitFor, BUILD } = require('./sio_harness');

const ECHO = path.join(BUILD, 'examples', 'echo');
const TEXT = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (ERROR|WARN |INFO |DEBUG) (worker\[\S* pid \d+\]|\S+) (.*)$/;
// A worker that talks: a line on each stream, then a 1 MiB line without a
// newline on stdout, then becomes the echo worker (same pid: exec).
const CHATTY = `sh -c 'echo "hello on stdout"; echo "hello on stderr" >&2; ` +
  `head -c 1048576 /dev/zero | tr "\\\\000" x; exec ${ECHO}'`;

const lines = (logs) => logs.split('\n').filter((l) => l.length);

// Connect to nsp, then leave; returns the socket id.
async function connectAndLeave(gw, nsp) {
  const s = gw.client(nsp);
  await once(s, 'connect');
  const id = s.id;
  s.disconnect();
  return id;
}

describe('logs', () => {
  test('text: every line has the format; debug socket lines; worker output with namespace and pid; a 1 MB line is cut', async () => {
    const gw = await startGateway({
      workers: { '/': 'echo', '/chatty': CHATTY },
      args: ['--log-level', 'debug'],
      env: { IOGATE_WORKER_LOG: 'debug' },
    });
    try {
      const pid = +gw.logs.match(/started worker for \/chatty \(pid (\d+)\)/)[1];
      const prefix = `worker[/chatty pid ${pid}]`;
      await gw.waitLog(new RegExp(`INFO  ${prefix.replace(/[[\]/]/g, '\\$&')} hello on stdout`));
      await gw.waitLog(new RegExp(`INFO  ${prefix.replace(/[[\]/]/g, '\\$&')} hello on stderr`));
      // the long line: its first 4096 bytes, marked, and nothing more of it
      const cut = await gw.waitLog(/worker\[\/chatty pid \d+\] (x+) \[line cut at 4096 bytes; the rest of it is dropped\]/);
      assert.equal(cut[1].length, 4096);
      // the chatty worker became the echo worker and serves; so does /
      const c = gw.client('/chatty');
      await once(c, 'connect');
      assert.deepEqual(await c.emitWithAck('message-with-ack', 'still here'), 'still here');
      // connect/disconnect at debug: namespace, socket id, address, reason
      const id = await connectAndLeave(gw, '/');
      await gw.waitLog(new RegExp(`DEBUG gateway socket connect: namespace /, socket ${id}, address 127\\.0\\.0\\.1, reason: accepted by the worker`));
      await gw.waitLog(new RegExp(`DEBUG gateway socket disconnect: namespace /, socket ${id}, address 127\\.0\\.0\\.1, reason: client namespace disconnect`));
      // ... and the worker's line about the same socket can be found by the id
      await gw.waitLog(new RegExp(`worker\\[/ pid \\d+\\] .*disconnect ${id} client namespace disconnect`));
      // every line, the gateway's and the re-emitted workers', has the shape
      for (const l of lines(gw.logs)) {
        const m = TEXT.exec(l);
        assert.ok(m, `not in the log format: ${l.slice(0, 200)}`);
        assert.ok(Math.abs(Date.parse(m[1]) - Date.now()) < 600e3, l);
        assert.ok(m[3] === 'gateway' || /^worker\[\/\S* pid \d+\]$/.test(m[3]), `component ${m[3]}`);
        if (m[3].startsWith('worker[')) {
          // the C library's own lines inside: the same format again
          if (/iogate\.worker\[/.test(m[4])) assert.match(m[4], TEXT);
        }
      }
      assert.ok(gw.logs.length < 200000, `the 1 MB line did not reach the log (${gw.logs.length} bytes)`);
    } finally {
      await gw.stop();
    }
  });

  test('json: one object per line with ts, level, component, msg and the fields of socket and worker lines', async () => {
    const gw = await startGateway({
      workers: { '/': 'echo', '/chatty': CHATTY },
      args: ['--log-level', 'debug', '--log-format', 'json'],
    });
    try {
      await gw.waitLog(/"msg":"hello on stderr"/);
      await gw.waitLog(/line cut at 4096 bytes/);
      const id = await connectAndLeave(gw, '/');
      await gw.waitLog(new RegExp(`"event":"disconnect","nsp":"/","sid":"${id}"`));
      const all = lines(gw.logs).map((l) => {
        let j;
        assert.doesNotThrow(() => { j = JSON.parse(l); }, `not JSON: ${l.slice(0, 200)}`);
        assert.match(j.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(['error', 'warn', 'info', 'debug'].includes(j.level), j.level);
        assert.ok(['gateway', 'worker'].includes(j.component), j.component);
        assert.equal(typeof j.msg, 'string');
        return j;
      });
      const started = all.find((j) => /started worker for \/chatty/.test(j.msg));
      const pid = +started.msg.match(/pid (\d+)/)[1];
      assert.deepEqual({ nsp: started.nsp, pid: started.pid }, { nsp: '/chatty', pid }, 'the lifecycle lines carry fields too');
      const out = all.find((j) => j.msg === 'hello on stdout');
      assert.deepEqual({ c: out.component, nsp: out.nsp, pid: out.pid, stream: out.stream, level: out.level },
        { c: 'worker', nsp: '/chatty', pid, stream: 'stdout', level: 'info' });
      const err = all.find((j) => j.msg === 'hello on stderr');
      assert.equal(err.stream, 'stderr');
      const cut = all.find((j) => j.note && /line cut/.test(j.note));
      assert.equal(cut.stream, 'stdout');
      const conn = all.find((j) => j.event === 'connect' && j.sid === id);
      assert.deepEqual({ nsp: conn.nsp, address: conn.address, reason: conn.reason, level: conn.level },
        { nsp: '/', address: '127.0.0.1', reason: 'accepted by the worker', level: 'debug' });
      const disc = all.find((j) => j.event === 'disconnect' && j.sid === id);
      assert.equal(disc.reason, 'client namespace disconnect');
    } finally {
      await gw.stop();
    }
  });

  test('a worker\'s last words without a newline are flushed at its exit, before the exit line; bytes that are not UTF-8 stay valid JSON', async () => {
    const port = await freePort();
    const proc = spawn(path.join(BUILD, 'iogate'), ['--listen', `127.0.0.1:${port}`, '--log-format', 'json',
      '--worker-crash-limit', '1', '--worker', `/dying=printf 'bad \\377\\001 bytes\\nlast words'; exit 3`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr.on('data', (d) => { log += d; });
    try {
      await waitFor(() => /crash loop/.test(log), 8000, () => log);
      const all = lines(log).map((l) => JSON.parse(l));
      const i = all.findIndex((j) => j.component === 'worker' && j.msg === 'last words [no newline at exit]');
      assert.ok(i >= 0, log);
      assert.equal(all[i].note, 'no newline at exit');
      const exit = all.findIndex((j) => /worker for \/dying \(pid \d+\) exited with status \d+/.test(j.msg));
      assert.ok(exit > i, 'the last words come before the exit line');
      const bad = all.find((j) => j.component === 'worker' && j.msg.startsWith('bad '));
      assert.equal(bad.msg, 'bad \ufffd\u0001 bytes');
      // the given-up line says what its clients now get
      assert.ok(all.some((j) => j.level === 'error' && /crash loop, not restarting it until SIGHUP; .*new CONNECTs to \/dying get CONNECT_ERROR "Namespace unavailable"/.test(j.msg)), log);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
    }
  });

  test('the connect timeout names the client, its session and what it asked for', async () => {
    const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--connect-timeout', '300'] });
    try {
      const r = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`);
      const sid = JSON.parse((await r.text()).slice(1)).sid;
      await gw.waitLog(new RegExp(`client 127\\.0\\.0\\.1: no namespace joined within 300 ms, closing \\(session ${sid}, --connect-timeout; it sent no CONNECT\\)`));
    } finally {
      await gw.stop();
    }
  });

  test('--log-format refuses what it does not know', async () => {
    const r = spawn(path.join(BUILD, 'iogate'), ['--log-format', 'xml', '--echo'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    r.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((res) => r.on('exit', res));
    assert.equal(code, 2);
    assert.match(err, /--log-format: unknown format 'xml' \(text\|json\)/);
  });
});
