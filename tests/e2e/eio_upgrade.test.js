// eio_upgrade.test.js — polling → WebSocket upgrade against `iogate --echo`.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

describe('upgrade', () => {
  let gw;
  before(async () => { gw = await h.startGateway(['--ping-interval', '800', '--ping-timeout', '500', '--upgrade-timeout', '400']); });
  after(async () => { assert.equal(await gw.stop(), 0); });

  test('engine.io-client: polling then upgrade, text and binary before and after', async () => {
    const s = h.eioClient(gw.port);
    await h.once(s, 'open');
    assert.equal(s.transport.name, 'polling');
    s.send('before');
    assert.equal(await h.once(s, 'message'), 'before');
    if (s.transport.name !== 'websocket') await h.once(s, 'upgrade');
    assert.equal(s.transport.name, 'websocket');
    await gw.waitLog(new RegExp(`session ${s.id} upgraded`));
    s.send(Buffer.from([1, 2, 3]));
    assert.deepEqual(Buffer.from(await h.once(s, 'message')), Buffer.from([1, 2, 3]));
    s.send('after');
    assert.equal(await h.once(s, 'message'), 'after');
    s.close();
  });

  test('messages in flight during the upgrade arrive complete and in order', async () => {
    for (const transports of [['polling'], ['polling', 'websocket'], ['websocket']]) {
      const s = h.eioClient(gw.port, { transports });
      await h.once(s, 'open');
      const got = [];
      const all = new Promise((resolve) => s.on('message', (m) => {
        got.push(typeof m === 'string' ? m : 'bin:' + Buffer.from(m).toString('hex'));
        if (got.length === 300) resolve();
      }));
      for (let i = 0; i < 300; i++) {
        if (i % 10 === 9) s.send(Buffer.from([i & 255]));
        else s.send(`m${i}`);
        if (i % 50 === 0) await h.sleep(5); // spread over the upgrade
      }
      await Promise.race([all, h.sleep(4000)]);
      const want = [];
      for (let i = 0; i < 300; i++) want.push(i % 10 === 9 ? 'bin:' + Buffer.from([i & 255]).toString('hex') : `m${i}`);
      assert.deepEqual(got, want, transports.join(','));
      s.close();
    }
  });

  test('pitfall 3: raw 2probe / 3probe / 6 / 5 sequence; queued packets move to the websocket', async () => {
    const { sid } = await h.handshake(gw.port);
    const held = h.poll(gw.port, sid);
    await h.sleep(30);
    const ws = h.wsOpen(gw.port, `sid=${sid}`);
    await ws.opened;
    ws.send('2probe');
    assert.deepEqual(await ws.next(), { data: '3probe', binary: false });
    assert.equal((await held).body, '6'); // the waiting GET is released at once
    // a GET arriving while the upgrade is pending gets "6" within ~100 ms
    const t0 = Date.now();
    assert.equal((await h.poll(gw.port, sid)).body, '6');
    assert.ok(Date.now() - t0 < 400);
    // a message queued on the polling side before "5"
    assert.equal((await h.post(gw.port, sid, '4queued')).status, 200);
    ws.send('5');
    assert.deepEqual(await ws.next(), { data: '4queued', binary: false });
    await gw.waitLog(new RegExp(`session ${sid} upgraded`));
    ws.send('4on ws');
    assert.deepEqual(await ws.next(), { data: '4on ws', binary: false });

    // pitfall 3: after the upgrade, polling on that sid is refused; a second
    // websocket is accepted and closed at once, as by the reference (11a)
    const g = await h.poll(gw.port, sid);
    assert.equal(g.status, 400);
    assert.equal(g.body, '{"code":3,"message":"Bad request"}');
    assert.equal((await h.post(gw.port, sid, '4x')).status, 400);
    const ws2 = h.wsOpen(gw.port, `sid=${sid}`);
    await ws2.opened;
    assert.equal((await ws2.closed).code, 1005);
    // the upgraded session is unharmed
    ws.send('4still');
    assert.deepEqual(await ws.next(), { data: '4still', binary: false });
    ws.close();
  });

  test('pitfall 3: an upgrade that never completes is dropped; polling continues', async () => {
    const { sid } = await h.handshake(gw.port);
    const ws = h.wsOpen(gw.port, `sid=${sid}`);
    await ws.opened;
    ws.send('2probe');
    assert.equal((await ws.next()).data, '3probe');
    const t0 = Date.now();
    await ws.closed; // upgradeTimeout = 400 ms
    assert.ok(Date.now() - t0 >= 300, `closed after ${Date.now() - t0} ms`);
    await gw.waitLog(new RegExp(`session ${sid}: upgrade timed out`));
    assert.equal((await h.post(gw.port, sid, '4still polling')).status, 200);
    assert.equal((await h.poll(gw.port, sid)).body, '4still polling');
    // and the session can upgrade later
    const ws3 = h.wsOpen(gw.port, `sid=${sid}`);
    await ws3.opened;
    ws3.send('2probe');
    assert.equal((await ws3.next()).data, '3probe');
    ws3.send('5');
    await gw.waitLog(new RegExp(`session ${sid} upgraded`));
    ws3.close();
  });

  test('pitfall 3: junk on the probe drops it; polling continues', async () => {
    const { sid } = await h.handshake(gw.port);
    const ws = h.wsOpen(gw.port, `sid=${sid}`);
    await ws.opened;
    ws.send('4not a probe');
    await ws.closed;
    assert.equal((await h.post(gw.port, sid, '4ok')).status, 200);
    assert.equal((await h.poll(gw.port, sid)).body, '4ok');
    await h.post(gw.port, sid, '1');
  });

  test('pitfall 4: the ping timer is not reset by the upgrade', async () => {
    const { sid } = await h.handshake(gw.port);
    const t0 = Date.now();
    await h.sleep(400);
    const ws = h.wsOpen(gw.port, `sid=${sid}`);
    await ws.opened;
    ws.send('2probe');
    await ws.next();
    const t5 = Date.now() - t0;
    ws.send('5');
    await gw.waitLog(new RegExp(`session ${sid} upgraded`));
    const m = await ws.next(1500);
    const dt = Date.now() - t0;
    assert.equal(m.data, '2');
    // a timer reset by the upgrade could not fire before t5 + 800 ms (the
    // upgrade happens after "5" was sent): a bound taken from the measured
    // upgrade moment, not a fixed one, holds on a loaded machine too
    assert.ok(dt >= 700 && dt < t5 + 800, `first ping ${dt} ms after the handshake (interval 800, "5" sent at ${t5} ms)`);
    ws.send('3');
    // exactly one ping per interval
    await assert.rejects(ws.next(500));
    ws.close();
  });
});
