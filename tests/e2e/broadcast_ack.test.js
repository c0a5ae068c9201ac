// broadcast_ack.test.js — the gateway's side of PROTOCOL.md rule 25a
// (BROADCAST asking for acknowledgements, BROADCAST_ACK), message by
// message, against a worker written from the spec with pyzmq
// (tests/e2e/fixtures/bcast_ack_worker.py) and the real socket.io-client.
// The libraries' side is in api_conformance.test.js.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, once, sleep, waitFor } = require('./sio_harness');

const WORKER = '/usr/bin/python3 tests/e2e/fixtures/bcast_ack_worker.py';
const BASE = 2 ** 40; // the gateway's ack ids for broadcasts start here

// A client that records what the worker saw ("seen") and answers "q" as
// `answer` says: a value now, {after: ms, value} later, or null never.
async function client(gw, answer) {
  const c = gw.client('/');
  c.seen = [];
  c.asked = [];
  c.on('seen', (...a) => c.seen.push(a));
  c.on('q', (...a) => {
    const cb = a.pop();
    c.asked.push(a);
    if (answer === null) return;
    if (answer && answer.after) setTimeout(() => cb(answer.value), answer.after);
    else cb(answer);
  });
  await once(c, 'connect');
  return c;
}
const seenOf = (c, type) => c.seen.filter(([t]) => t === type);

describe('rule 25a: BROADCAST with acknowledgements, gateway side', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ workers: { '/': WORKER } });
  });
  after(async () => {
    await gw.stop();
  });

  test('count first, then one BROADCAST_ACK per answer naming its socket; a late answer is dropped and logged', async () => {
    const yes = await client(gw, 'yes');
    const late = await client(gw, { after: 2500, value: 'late' });
    const asker = await client(gw, null);
    yes.emit('join', 'r');
    late.emit('join', 'r');
    await sleep(200);
    asker.emit('bcast', { rooms: ['r'], ack: 7, timeout: 500 });
    await waitFor(() => seenOf(asker, 'BROADCAST_ACK').length >= 2, 5000);
    const [count, answer] = seenOf(asker, 'BROADCAST_ACK');
    assert.deepEqual(count, ['BROADCAST_ACK', '', { id: 7, count: 2 }, null]);
    assert.deepEqual(answer, ['BROADCAST_ACK', yes.id, { id: 7 }, ['yes']]);
    // Each receiver got the packet with an id of the gateway's range; the
    // asker (not in the room) got nothing.
    assert.deepEqual(yes.asked, [['?']]);
    assert.deepEqual(asker.asked, []);
    // The late answer comes after timeout + grace: logged, not forwarded.
    await gw.waitLog(/did not answer in time/, 5000);
    await gw.waitLog(new RegExp(`socket ${late.id} answered broadcast ack id \\d+ after its timeout`), 5000);
    await sleep(200);
    assert.equal(seenOf(asker, 'BROADCAST_ACK').length, 2, JSON.stringify(asker.seen));
    assert.ok(late.connected && yes.connected, 'answering late harms nobody');
    for (const c of [yes, late, asker]) c.close();
  });

  test('a binary answer is passed on with its attachment', async () => {
    const bin = await client(gw, Buffer.from('xyz'));
    const asker = await client(gw, null);
    bin.emit('join', 'b');
    await sleep(200);
    asker.emit('bcast', { rooms: ['b'], ack: 9, timeout: 3000 });
    await waitFor(() => seenOf(asker, 'BROADCAST_ACK').length >= 2, 5000);
    const [, answer] = seenOf(asker, 'BROADCAST_ACK');
    assert.deepEqual(answer, ['BROADCAST_ACK', bin.id, { id: 9 }, '[{"_placeholder":true,"num":0}]', ['xyz']]);
    bin.close();
    asker.close();
  });

  test('no receiver: count 0 at once', async () => {
    const asker = await client(gw, null);
    asker.emit('bcast', { rooms: ['empty-room'], ack: 8, timeout: 1000 });
    await waitFor(() => seenOf(asker, 'BROADCAST_ACK').length >= 1, 5000);
    assert.deepEqual(seenOf(asker, 'BROADCAST_ACK')[0], ['BROADCAST_ACK', '', { id: 8, count: 0 }, null]);
    asker.close();
  });

  test('a malformed ack or timeout is answered with ERROR meta and nothing is sent', async () => {
    const other = await client(gw, 'x');
    const asker = await client(gw, null);
    const bad = [
      { ack: 'seven', timeout: 500 },
      { ack: -1, timeout: 500 },
      { ack: 9 },
      { ack: 9, timeout: 0 },
      { ack: 9, timeout: 3600001 },
    ];
    for (const meta of bad) asker.emit('bcast', meta);
    await waitFor(() => seenOf(asker, 'ERROR').length >= bad.length, 5000);
    for (const [, sid, meta] of seenOf(asker, 'ERROR')) {
      assert.equal(sid, '');
      assert.equal(meta.code, 'meta');
      assert.equal(meta.type, 'BROADCAST');
    }
    await sleep(200);
    assert.deepEqual(other.asked, [], 'no client got a broadcast that was refused');
    assert.equal(seenOf(asker, 'BROADCAST_ACK').length, 0);
    assert.match(gw.logs, /BROADCAST from the worker not sent: a broadcast asking for acks needs timeout/);
    other.close();
    asker.close();
  });

  test('an EMIT ack id in the gateway range is refused with ERROR meta; below it the client answers as usual', async () => {
    const c = await client(gw, 'ok');
    c.emit('emit-ack', BASE);
    await waitFor(() => seenOf(c, 'ERROR').length >= 1, 5000);
    assert.equal(seenOf(c, 'ERROR')[0][2].code, 'meta');
    assert.deepEqual(c.asked, []);
    c.emit('emit-ack', BASE - 1);
    await waitFor(() => seenOf(c, 'ACK').length >= 1, 5000);
    assert.equal(seenOf(c, 'ACK')[0][2].id, BASE - 1);
    assert.deepEqual(seenOf(c, 'ACK')[0][3], ['ok']);
    c.close();
  });
});
