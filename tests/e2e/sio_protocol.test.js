// sio_protocol.test.js — Socket.IO v5 wire details, byte for byte, over raw
// Engine.IO polling against build/iogate + the C echo worker.  Each test
// names the ../shared/PITFALLS.md item it covers.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, rawPolling, sleep } = require('./sio_harness');

// Resolve when the session is closed: a poll returns the close packet or 400.
async function expectClosed(sess, ms = 3000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await sess.poll();
    if (r.status !== 200) return r.status;
    if (r.packets.includes('1')) return 'close packet';
  }
  throw new Error('session still open');
}

async function connected(gw, nsp = '', auth = '') {
  const s = await rawPolling(gw);
  await s.send(`40${nsp}${nsp ? ',' : ''}${auth}`);
  const r = await s.until((p) => p.startsWith(`40${nsp}`) || p.startsWith(`44${nsp}`));
  return { s, packet: r.packet, seen: r.seen };
}

describe('Socket.IO protocol details', () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      workers: { '/': 'echo', '/custom': 'echo' },
      args: ['--connect-timeout', '400'],
    });
  });
  after(async () => {
    await gw.stop();
  });

  test('pitfall 9: CONNECT replies carry a socket id that is never the engine sid', async () => {
    const { s, packet } = await connected(gw);
    const m = /^40\{"sid":"([A-Za-z0-9_-]{20})"\}$/.exec(packet);
    assert.ok(m, packet);
    assert.notEqual(m[1], s.sid);
    await s.send('40/custom,');
    const r = await s.until((p) => p.startsWith('40/custom,'));
    const m2 = /^40\/custom,\{"sid":"([A-Za-z0-9_-]{20})"\}$/.exec(r.packet);
    assert.ok(m2, r.packet);
    assert.notEqual(m2[1], m[1]);
    assert.notEqual(m2[1], s.sid);
  });

  test('pitfall 9: CONNECT auth reaches the worker', async () => {
    const { s } = await connected(gw, '/custom', '{"token":"t1"}');
    const r = await s.until((p) => p.startsWith('42/custom,["auth"'));
    assert.equal(r.packet, '42/custom,["auth",{"token":"t1"}]');
  });

  test('pitfall 10: unknown namespace → exact CONNECT_ERROR', async () => {
    const { packet } = await connected(gw, '/nope');
    assert.equal(packet, '44/nope,{"message":"Invalid namespace"}');
  });

  test('pitfall 10: middleware refusal → message and data', async () => {
    const { packet } = await connected(gw, '', '{"refuse":true}');
    assert.equal(packet, '44{"message":"refused","data":{"reason":"auth"}}');
  });

  test('pitfall 11: no CONNECT within connectTimeout closes', async () => {
    const s = await rawPolling(gw);
    await sleep(600);
    assert.ok(await expectClosed(s));
  });

  test('pitfall 11: EVENT before CONNECT closes', async () => {
    const s = await rawPolling(gw);
    await s.send('42["message","early"]');
    assert.ok(await expectClosed(s));
  });

  test('pitfall 11: a second CONNECT to the same namespace closes', async () => {
    const { s } = await connected(gw);
    await s.send('40');
    assert.ok(await expectClosed(s));
  });

  test('pitfall 11: the last namespace leaving keeps the connection, heartbeats go on', async () => {
    const { s } = await connected(gw);
    await s.send('41');
    // still open past the connect timeout (400 ms): a namespace can be
    // joined again (reference_diff.test.js compares this, and the
    // heartbeats, with the reference)
    await sleep(700);
    assert.equal((await s.send('40')).status, 200);
    const again = await s.until((p) => p.startsWith('40'));
    assert.match(again.packet, /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  });

  test('pitfall 12: multi-digit ack ids', async () => {
    const { s } = await connected(gw);
    await s.send('42456["message-with-ack","a",1]');
    const r = await s.until((p) => p.startsWith('43'));
    assert.equal(r.packet, '43456["a",1]');
  });

  test('pitfall 12: BINARY_ACK answers a binary event with ack', async () => {
    const { s } = await connected(gw);
    await s.send(
      '452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
      'bAQID',
      'bBAU=',
    );
    const r = await s.until((p) => p.startsWith('46'));
    assert.equal(r.packet, '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    const rest = await s.until((p) => p === 'bBAU=');
    assert.deepEqual(rest.seen.filter((p) => p.startsWith('b')), ['bAQID', 'bBAU=']);
  });

  test('pitfall 12: a non-numeric ack id closes', async () => {
    const { s } = await connected(gw);
    await s.send('42abc["message"]');
    assert.ok(await expectClosed(s));
  });

  test('pitfall 13: placeholders at any depth, keys in any order; attachment count before nsp', async () => {
    const { s } = await connected(gw, '/custom');
    await s.send(
      '451-/custom,["message",{"a":{"b":[{"num":0,"_placeholder":true}]}}]',
      'bNAAB', // base64 starting with "4": still binary
    );
    const r = await s.until((p) => p.startsWith('451-/custom,'));
    assert.equal(r.packet, '451-/custom,["message-back",{"a":{"b":[{"_placeholder":true,"num":0}]}}]');
    const b = await s.until((p) => p.startsWith('b'));
    assert.equal(b.packet, 'bNAAB');
  });

  test('pitfall 13: placeholder num out of range closes', async () => {
    const { s } = await connected(gw);
    await s.send('451-["message",{"_placeholder":true,"num":5}]', 'bAA==');
    assert.ok(await expectClosed(s));
  });

  test('pitfall 13: more attachments than the cap closes', async () => {
    const { s } = await connected(gw);
    await s.send('4511-["message"]');
    assert.ok(await expectClosed(s));
  });

  test('pitfall 13: 45 without "-" closes at once (no hang)', async () => {
    const { s } = await connected(gw);
    await s.send('45["message"]');
    assert.ok(await expectClosed(s, 1500));
  });

  test('pitfall 14: event payload not an array closes', async () => {
    const { s } = await connected(gw);
    await s.send('42{}');
    assert.ok(await expectClosed(s));
  });

  test('pitfall 14: first element not a string closes', async () => {
    const { s } = await connected(gw);
    await s.send('42[1,"a"]');
    assert.ok(await expectClosed(s));
  });

  test('pitfall 14: reserved event names are refused by the worker API', async () => {
    const { s } = await connected(gw);
    await s.send('42["emit-reserved"]');
    const r = await s.until((p) => p.startsWith('42["reserved-refused"'));
    assert.equal(r.packet, '42["reserved-refused",6]');
    assert.ok(!r.seen.some((p) => /"(connect|connect_error|disconnect|disconnecting|newListener|removeListener)"/.test(p)));
  });

  test('one bad client does not disturb another', async () => {
    const good = await connected(gw);
    const bad = await connected(gw);
    await bad.s.send('42abc');
    await expectClosed(bad.s);
    await good.s.send('42["message","ok"]');
    const r = await good.s.until((p) => p.startsWith('42["message-back"'));
    assert.equal(r.packet, '42["message-back","ok"]');
  });
});
