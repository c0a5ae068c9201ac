// server_emit.test.js — the gateway's side of PROTOCOL.md rule 25b
// (SERVER_EMIT, SERVER_EMIT_ACK) against a worker written from the spec
// with pyzmq (tests/e2e/fixtures/bcast_ack_worker.py).  The libraries'
// side (io.serverSideEmit and its callback) is in api_conformance.test.js.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, once, sleep, waitFor } = require('./sio_harness');

const WORKER = '/usr/bin/python3 tests/e2e/fixtures/bcast_ack_worker.py';

async function client(gw) {
  const c = gw.client('/');
  c.seen = [];
  c.got = [];
  c.on('seen', (...a) => c.seen.push(a));
  c.onAny((ev) => { if (ev !== 'seen') c.got.push(ev); });
  await once(c, 'connect');
  return c;
}
const seenOf = (c, type) => c.seen.filter(([t]) => t === type);

describe('rule 25b: SERVER_EMIT, gateway side', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ workers: { '/': WORKER } });
  });
  after(async () => {
    await gw.stop();
  });

  test('alone in its namespace: count 0 at once, and no client gets the event', async () => {
    const c = await client(gw);
    c.emit('server-emit', { ack: 3, timeout: 5000 }, ['reload', 'config']);
    await waitFor(() => seenOf(c, 'SERVER_EMIT_ACK').length >= 1, 5000);
    assert.deepEqual(seenOf(c, 'SERVER_EMIT_ACK'), [['SERVER_EMIT_ACK', '', { id: 3, count: 0 }, null]]);
    // Without ack: no answer at all, nothing to clients.
    c.emit('server-emit', {}, ['reload']);
    await sleep(300);
    assert.equal(seenOf(c, 'SERVER_EMIT_ACK').length, 1);
    assert.equal(seenOf(c, 'ERROR').length, 0);
    assert.deepEqual(c.got, [], 'server-side events never reach clients');
    c.close();
  });

  test('a malformed ack, timeout or data is answered with ERROR and logged', async () => {
    const c = await client(gw);
    c.emit('server-emit', { ack: 1.5, timeout: 100 }, ['x']);
    c.emit('server-emit', { ack: 4 }, ['x']);
    c.emit('server-emit', {}, [42]);
    await waitFor(() => seenOf(c, 'ERROR').length >= 3, 5000);
    const codes = seenOf(c, 'ERROR').map(([, , m]) => [m.code, m.type]);
    assert.deepEqual(codes, [['meta', 'SERVER_EMIT'], ['meta', 'SERVER_EMIT'], ['data', 'SERVER_EMIT']]);
    assert.match(gw.logs, /SERVER_EMIT from the worker not relayed: a SERVER_EMIT asking for acks needs timeout/);
    assert.equal(seenOf(c, 'SERVER_EMIT_ACK').length, 0);
    c.close();
  });
});
