// hostile_worker_data.test.js — issue 10 items 1 and 3: a worker's data is
// validated as strictly as a client's before any client sees it.  A hostile
// worker written with the raw protocol (tests/e2e/hostile_worker.py) serves
// /a; the C echo worker serves /b; the official socket.io-client joins both
// on one Engine.IO connection, over polling and over WebSocket.  For every
// case the client must never see the injected or broken packet, both of its
// sockets must stay connected and keep working, the worker must get an IPC
// ERROR (rule 30) and the gateway must log one line naming the namespace.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, once, sleep } = require('./sio_harness');

const HOSTILE = '/usr/bin/python3 tests/e2e/hostile_worker.py';

// case → ERROR code the worker must get.  Kept in step with CASES in
// hostile_worker.py.
const CASES = {
  inject: 'data',
  'inject-bcast': 'data',
  'inject-ack': 'data',
  close: 'data',
  'close-bracket': 'data',
  'close-in-string': 'data',
  'bad-json': 'data',
  'bad-json-bcast': 'data',
  'bad-utf8': 'data',
  'lone-surrogate': 'data',
  'not-array': 'data',
  'no-data': 'data',
  'name-not-string': 'data',
  'reserved-name': 'data',
  'reserved-escaped': 'data',
  'too-deep': 'data',
  'att-unreferenced': 'data',
  'att-out-of-range': 'data',
  'att-missing': 'data',
  'att-escaped-key': 'data',
  'att-too-many': 'data',
  'att-1500': 'frames',
};

for (const transport of ['polling', 'websocket']) {
  describe(`a hostile worker on /a, clients on /a and /b over ${transport}`, () => {
    let gw;
    before(async () => {
      gw = await startGateway({ workers: { '/a': HOSTILE, '/b': 'echo' } });
    });
    after(async () => {
      await gw.stop();
    });

    for (const [name, code] of Object.entries(CASES)) {
      test(`${name}: refused with ERROR "${code}", no client sees it, /a and /b carry on`, async () => {
        const a = gw.client('/a', { transports: [transport] });
        const b = a.io.socket('/b'); // same Engine.IO connection
        await Promise.all([once(a, 'connect'), once(b, 'connect')]);
        const engine = a.io.engine;
        const packets = [];
        engine.on('packet', (p) => packets.push(p));
        const seenA = [];
        const seenB = [];
        a.onAny((ev, ...args) => seenA.push([ev, ...args]));
        // (The echo worker greets each socket with "auth", maybe late.)
        b.onAny((ev, ...args) => ev !== 'auth' && seenB.push([ev, ...args]));
        const drops = [];
        a.on('disconnect', (r) => drops.push(['a', r]));
        b.on('disconnect', (r) => drops.push(['b', r]));
        let acked = false;

        const logsBefore = gw.logs.length;
        const error = once(a, 'gateway-error', 8000);
        if (name === 'inject-ack') a.emit('hostile', name, () => (acked = true));
        else a.emit('hostile', name);
        const [gotCode, gotType, message] = await error;
        assert.equal(gotCode, code, `ERROR ${gotCode} (${message})`);
        assert.ok(['EMIT', 'BROADCAST', 'ACK'].includes(gotType), gotType);

        // Both sockets still work on the same connection.
        b.emit('message', 'after', name);
        assert.deepEqual(await once(b, 'message-back'), ['after', name]);
        a.emit('ok', name);
        assert.deepEqual(await once(a, 'fine'), [name]);
        await sleep(50);

        assert.deepEqual(drops, []);
        assert.ok(a.connected && b.connected);
        assert.equal(a.io.engine, engine, 'the Engine.IO connection was replaced');
        assert.equal(acked, false, 'an invalid ACK reached the client');
        assert.deepEqual(seenA.map((e) => e[0]), ['gateway-error', 'fine']);
        assert.deepEqual(seenB, [['message-back', 'after', name]]);
        for (const p of packets) {
          assert.notEqual(p.type, 'close', JSON.stringify(packets));
          assert.ok(!String(p.data).includes('pwned'), JSON.stringify(p));
          assert.ok(!String(p.data).startsWith('42/a,["x"'), JSON.stringify(p));
        }
        // One log line that names the namespace.
        const logs = gw.logs.slice(logsBefore);
        // (The IPC decoder itself refuses a data frame that does not even
        // start with '[' and end with ']', and too many frames.)
        assert.match(
          logs,
          /namespace \/a: worker \S+ sent (an EMIT|a BROADCAST|an ACK) with invalid data, refused: |bad message from worker \S+ \(namespace \/a\): .* \((data|frames)\)/,
        );
        a.close();
      });
    }
  });
}
