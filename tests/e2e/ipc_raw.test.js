// ipc_raw.test.js — the gateway's side of PROTOCOL.md, driven by a worker
// written with pyzmq straight from the spec (tests/e2e/raw_worker.py).
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, once, sleep, waitFor } = require('./sio_harness');

const RAW = '/usr/bin/python3 tests/e2e/raw_worker.py';

describe('IPC protocol, gateway side, against a raw worker', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ workers: { '/': RAW } });
  });
  after(async () => {
    await gw.stop();
  });

  test('pitfall 18: a bounded list of sockets gets one packet each, nobody else', async () => {
    const [a, b, c] = [gw.client('/'), gw.client('/'), gw.client('/')];
    await Promise.all([a, b, c].map((s) => once(s, 'connect')));
    const got = { a: 0, b: 0, c: 0 };
    a.on('listed', () => got.a++);
    b.on('listed', () => got.b++);
    c.on('listed', () => got.c++);
    a.emit('list', a.id, c.id, c.id, 'AAAAAAAAAAAAAAAAAAAA');
    // both listed sockets, in whatever order they are served; then a pause
    // in which a duplicate (c twice) or a stray (b) would show
    await waitFor(() => got.a >= 1 && got.c >= 1, 5000, () => `listed: ${JSON.stringify(got)}`);
    await sleep(150);
    assert.deepEqual(got, { a: 1, b: 0, c: 1 });
    [a, b, c].forEach((s) => s.close());
  });

  test('pitfall 15: a JOIN for a socket that is gone is ignored (no room leaks)', async () => {
    const s = gw.client('/');
    await once(s, 'connect');
    s.emit('join-ghost');
    const [list] = await once(s, 'sockets');
    assert.ok(Array.isArray(list));
    assert.ok(list.some((x) => x.id === s.id && x.rooms.includes(s.id)));
    assert.ok(!JSON.stringify(list).includes('ghost'), JSON.stringify(list));
    s.close();
  });

  test('rule 30: a malformed message is answered with ERROR "meta"; the worker carries on', async () => {
    const s = gw.client('/');
    await once(s, 'connect');
    s.emit('bad-meta');
    assert.deepEqual(await once(s, 'gateway-error'), ['meta', 'EMIT']);
    s.emit('wrong-nsp');
    assert.deepEqual(await once(s, 'gateway-error'), ['meta', 'EMIT']);
    s.emit('list', s.id);
    await once(s, 'listed');
    s.close();
  });
});
