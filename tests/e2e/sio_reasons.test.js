// sio_reasons.test.js — the disconnect reasons a worker receives for
// transport-level endings, asserted by their exact strings (the others are
// in sio_api.test.js): ping timeout and transport error.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, rawPolling, once, sleep } = require('./sio_harness');

test('ping timeout: a client that stops answering pings', async () => {
  const gw = await startGateway({
    workers: { '/': 'echo' },
    args: ['--ping-interval', '200', '--ping-timeout', '200'],
  });
  try {
    const s = await rawPolling(gw);
    await s.send('40');
    const r = await s.until((p) => p.startsWith('40{'));
    const id = JSON.parse(r.packet.slice(2)).sid;
    // no more polls: the server's ping goes unanswered
    await gw.waitLog(new RegExp(`disconnect ${id} ping timeout`), 4000);
  } finally {
    await gw.stop();
  }
});

test('transport error: an oversize WebSocket message', async () => {
  const gw = await startGateway({ workers: { '/': 'echo' }, args: ['--max-payload', '1000'] });
  try {
    const s = gw.client('/', { transports: ['websocket'] });
    await once(s, 'connect');
    const id = s.id;
    const closed = once(s, 'disconnect');
    s.emit('message', 'x'.repeat(5000));
    await gw.waitLog(new RegExp(`disconnect ${id} transport error`));
    await closed;
  } finally {
    await gw.stop();
  }
});

test('transport error: a second concurrent GET on one session', async () => {
  const gw = await startGateway({ workers: { '/': 'echo' } });
  try {
    const s = await rawPolling(gw);
    await s.send('40');
    const r = await s.until((p) => p.startsWith('40{'));
    const id = JSON.parse(r.packet.slice(2)).sid;
    await s.until((p) => p.startsWith('42["auth"')); // nothing left to send now
    const first = s.poll(); // held: nothing is queued
    await sleep(200);
    const second = await s.poll(); // concurrent: 400, and the session closes
    assert.equal(second.status, 400);
    await first;
    await gw.waitLog(new RegExp(`disconnect ${id} transport error`));
  } finally {
    await gw.stop();
  }
});
