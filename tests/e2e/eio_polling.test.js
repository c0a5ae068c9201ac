// eio_polling.test.js — Engine.IO v4 long-polling against `iogate --echo`.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

describe('polling', () => {
  // Two gateways: `hb` with a 400 ms ping interval for the heartbeat tests,
  // `gw` with a long one for every test that expects an exact poll body: on a
  // loaded machine a ping could otherwise land inside (or instead of) the body.
  let gw, hb;
  before(async () => {
    gw = await h.startGateway(['--ping-interval', '25000', '--ping-timeout', '20000', '--max-payload', '1000']);
    hb = await h.startGateway(['--ping-interval', '400', '--ping-timeout', '300', '--max-payload', '1000']);
  });
  after(async () => { assert.equal(await gw.stop(), 0); assert.equal(await hb.stop(), 0); });

  test('handshake: open packet, content type, sid', async () => {
    const { open, res } = await h.handshake(hb.port);
    assert.equal(res.headers['content-type'], 'text/plain; charset=UTF-8');
    assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
    assert.deepEqual(open, { sid: open.sid, upgrades: ['websocket'], pingInterval: 400, pingTimeout: 300, maxPayload: 1000 });
    assert.equal(res.body, `0{"sid":"${open.sid}","upgrades":["websocket"],"pingInterval":400,"pingTimeout":300,"maxPayload":1000}`);
  });

  test('engine.io-client polling only: text and binary echo', async () => {
    const s = h.eioClient(gw.port, { transports: ['polling'] });
    await h.once(s, 'open');
    s.send('héllo €');
    assert.equal(await h.once(s, 'message'), 'héllo €');
    s.send(Buffer.from([0xe1, 0, 255]));
    const b = await h.once(s, 'message');
    assert.deepEqual(Buffer.from(b), Buffer.from([0xe1, 0, 255]));
    assert.equal(s.transport.name, 'polling');
    s.close();
  });

  test('pitfall 1: a batch in one poll response keeps its \\x1e separators', async () => {
    const { sid } = await h.handshake(gw.port);
    const r = await h.post(gw.port, sid, '4a\x1e4b\x1eb4QID\x1e4c');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.equal(r.headers['content-type'], 'text/html');
    const p = await h.poll(gw.port, sid);
    assert.equal(p.body, '4a\x1e4b\x1eb4QID\x1e4c');
    await h.post(gw.port, sid, '1');
  });

  test('pitfall 1: a batch written to an already waiting GET keeps its separators', async () => {
    const { sid } = await h.handshake(gw.port);
    const waiting = h.poll(gw.port, sid);
    await h.sleep(50);
    await h.post(gw.port, sid, '4x\x1e4y\x1e4z');
    assert.equal((await waiting).body, '4x\x1e4y\x1e4z');
    await h.post(gw.port, sid, '1');
  });

  test('pitfall 1: POST body split at every byte, inside UTF-8 and base64', { skip: h.TLS ? 'over TLS its ~50 handshakes outlast the 400 ms ping interval' : false }, async () => {
    const { sid } = await h.handshake(gw.port);
    const body = Buffer.from('4h€é\x1eb4QID\x1e4😀', 'utf8');
    // every split point, each as two TCP writes with a pause between
    for (let i = 1; i < body.length; i++) {
      const head = `POST ${h.eioPath('sid=' + sid)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`;
      const r = await h.raw(gw.port, [head, body.subarray(0, i), 15, body.subarray(i)], {
        until: (b) => b.toString().endsWith('ok'),
      });
      assert.match(r.data.toString(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/, `split at ${i}`);
      const p = await h.poll(gw.port, sid);
      assert.equal(p.body, '4h€é\x1eb4QID\x1e4😀', `split at ${i}`);
    }
    // chunked transfer encoding, split inside the euro sign
    const eur = Buffer.from('4€', 'utf8');
    const r = await h.raw(gw.port, [
      `POST ${h.eioPath('sid=' + sid)} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`,
      `2\r\n`, eur.subarray(0, 2), `\r\n`, 10, `2\r\n`, eur.subarray(2), `\r\n0\r\n\r\n`,
    ], { until: (b) => b.toString().endsWith('ok') });
    assert.match(r.data.toString(), /200 OK[\s\S]*ok$/);
    assert.equal((await h.poll(gw.port, sid)).body, '4€');
    await h.post(gw.port, sid, '1');
  });

  test('pitfall 2: a b-packet whose base64 starts with 4 is binary, both ways', async () => {
    const s = h.eioClient(gw.port, { transports: ['polling'] });
    await h.once(s, 'open');
    const { sid } = await h.handshake(gw.port);
    await h.post(gw.port, sid, 'b4QID');
    assert.equal((await h.poll(gw.port, sid)).body, 'b4QID');
    s.send(Buffer.from([0xe1, 2, 3]));
    const m = await h.once(s, 'message');
    assert.ok(m instanceof ArrayBuffer || Buffer.isBuffer(m));
    assert.deepEqual(Buffer.from(m), Buffer.from([0xe1, 2, 3]));
    s.close();
    await h.post(gw.port, sid, '1');
  });

  test('pitfall 5: 400 with the reference JSON for bad requests', async () => {
    const cases = [
      ['/socket.io/?transport=polling', 5, 'Unsupported protocol version'],
      ['/socket.io/?EIO=3&transport=polling', 5, 'Unsupported protocol version'],
      ['/socket.io/?EIO=4', 0, 'Transport unknown'],
      ['/socket.io/?EIO=4&transport=carrier', 0, 'Transport unknown'],
      ['/socket.io/?EIO=4&transport=polling&sid=nosuchsid', 1, 'Session ID unknown'],
      ['/socket.io/?EIO=4&transport=polling&sid=' + 'x'.repeat(100), 1, 'Session ID unknown'],
      ['/socket.io/?EIO=4&transport=websocket', 3, 'Bad request'],
    ];
    for (const [p, code, message] of cases) {
      const r = await h.request(gw.port, { path: p });
      assert.equal(r.status, 400, p);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(r.body), { code, message }, p);
    }
    const m = await h.request(gw.port, { method: 'POST', path: h.eioPath(), body: '4x' });
    assert.equal(m.status, 400);
    assert.equal(m.body, '{"code":2,"message":"Bad handshake method"}');
    const { sid } = await h.handshake(gw.port);
    const put = await h.request(gw.port, { method: 'PUT', path: h.eioPath('sid=' + sid), body: '4x' });
    assert.equal(put.status, 400);
    assert.equal(put.body, '{"code":3,"message":"Bad request"}');
  });

  test('pitfall 5: two concurrent GETs → 400 and the session closes', async () => {
    const { sid } = await h.handshake(gw.port);
    const mark = gw.log().length;
    const first = h.poll(gw.port, sid);
    await h.sleep(50);
    const second = await h.poll(gw.port, sid);
    assert.equal(second.status, 400);
    assert.equal(second.body, '{"code":3,"message":"Bad request"}');
    assert.equal((await first).body, '1'); // the held GET learns of the close
    await gw.waitLog(new RegExp(`session ${sid} closed: transport error`), 2000, mark);
    assert.equal((await h.poll(gw.port, sid)).status, 400);
  });

  test('pitfall 5: two concurrent POSTs → 400 and the session closes', async () => {
    const { sid } = await h.handshake(gw.port);
    const mark = gw.log().length;
    const head = `POST ${h.eioPath('sid=' + sid)} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n4a`;
    const slow = h.raw(gw.port, [head, 600], { timeout: 700 }); // body never completes
    await h.sleep(100);
    const second = await h.post(gw.port, sid, '4b');
    assert.equal(second.status, 400);
    await gw.waitLog(new RegExp(`session ${sid} closed: transport error`), 2000, mark);
    await slow;
  });

  test('pitfall 6: maxPayload is announced and an oversize POST gets 413 and closes the session', async () => {
    const { sid, open } = await h.handshake(gw.port);
    assert.equal(open.maxPayload, 1000);
    const mark = gw.log().length;
    const r = await h.post(gw.port, sid, '4' + 'x'.repeat(1000));
    assert.equal(r.status, 413);
    await gw.waitLog(new RegExp(`session ${sid} closed: transport error`), 2000, mark);
    // chunked (no Content-Length): noticed while streaming
    const s2 = (await h.handshake(gw.port)).sid;
    const big = 'x'.repeat(600);
    const rr = await h.raw(gw.port, [
      `POST ${h.eioPath('sid=' + s2)} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`,
      `259\r\n4${big}\r\n`, 20, `259\r\n4${big}\r\n`, 20, `0\r\n\r\n`,
    ]);
    assert.match(rr.data.toString(), /^HTTP\/1\.1 413 /);
    await gw.waitLog(new RegExp(`session ${s2} closed: transport error`), 2000, mark);
    // exactly maxPayload is fine
    const s3 = (await h.handshake(gw.port)).sid;
    assert.equal((await h.post(gw.port, s3, '4' + 'y'.repeat(999))).status, 200);
    await h.post(gw.port, s3, '1');
  });

  test('pitfall 8: invalid Engine.IO input closes the session (parse error)', async () => {
    for (const bad of ['abc', '7', '4ok\x1e\x1e4x', 'b!!!', '']) {
      const { sid } = await h.handshake(gw.port);
      const mark = gw.log().length;
      const r = await h.post(gw.port, sid, bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      await gw.waitLog(new RegExp(`session ${sid} closed: parse error`), 2000, mark);
      assert.equal((await h.poll(gw.port, sid)).status, 400);
    }
  });

  test('close packet from the client → transport close', async () => {
    const { sid } = await h.handshake(gw.port);
    const mark = gw.log().length;
    const waiting = h.poll(gw.port, sid);
    await h.sleep(30);
    assert.equal((await h.post(gw.port, sid, '1')).status, 200);
    assert.equal((await waiting).body, '6'); // the reference's noop (PITFALLS 11a)
    await gw.waitLog(new RegExp(`session ${sid} closed: transport close`), 2000, mark);
    assert.equal((await h.poll(gw.port, sid)).status, 400);
  });

  test('engine.io-client close from the client side', async () => {
    const s = h.eioClient(gw.port, { transports: ['polling'] });
    await h.once(s, 'open');
    const sid = s.id;
    const mark = gw.log().length;
    s.close();
    await gw.waitLog(new RegExp(`session ${sid} closed: transport close`), 2000, mark);
  });

  test('pitfall 4: server pings once per interval, client pong keeps it alive', async () => {
    const { sid } = await h.handshake(hb.port);
    const t0 = Date.now();
    const p1 = await h.poll(hb.port, sid);
    assert.equal(p1.body, '2');
    assert.ok(Date.now() - t0 >= 330, `first ping after ${Date.now() - t0} ms`);
    // no second ping before the pong: the next GET stays held
    const held = h.poll(hb.port, sid);
    const raced = await Promise.race([held.then(() => 'answered'), h.sleep(150).then(() => 'held')]);
    assert.equal(raced, 'held');
    await h.post(hb.port, sid, '3');
    const t1 = Date.now();
    assert.equal((await held).body, '2'); // the next ping, one interval after the pong
    assert.ok(Date.now() - t1 >= 330, `second ping after ${Date.now() - t1} ms`);
    await h.post(hb.port, sid, '1');
  });

  test('pitfall 4: no pong within pingTimeout → ping timeout', async () => {
    const { sid } = await h.handshake(hb.port);
    const mark = hb.log().length;
    assert.equal((await h.poll(hb.port, sid)).body, '2');
    const held = await h.poll(hb.port, sid); // never answer the ping
    assert.equal(held.body, '1');
    await hb.waitLog(new RegExp(`session ${sid} closed: ping timeout`), 2000, mark);
  });

  test('pitfall 7: an abandoned polling session is freed after pingInterval + pingTimeout', async () => {
    const mark = hb.log().length;
    const sids = [];
    for (let i = 0; i < 5; i++) sids.push((await h.handshake(hb.port)).sid);
    const t0 = Date.now();
    for (const sid of sids) await hb.waitLog(new RegExp(`session ${sid} closed: ping timeout`), 3000, mark);
    assert.ok(Date.now() - t0 >= 500);
    for (const sid of sids) await hb.waitLog(new RegExp(`session ${sid} freed`), 3000, mark);
    // back to the baseline: nothing open
    await h.sleep(50);
    const m = [...hb.log().slice(mark).matchAll(/freed, (\d+) open/g)];
    assert.equal(m[m.length - 1][1], '0');
  });
});

describe('polling only, websocket disabled', () => {
  let gw;
  before(async () => { gw = await h.startGateway(['--transports', 'polling']); });
  after(async () => { await gw.stop(); });

  test('open packet announces no upgrades; websocket refused', async () => {
    const { open } = await h.handshake(gw.port);
    assert.deepEqual(open.upgrades, []);
    const ws = h.wsOpen(gw.port);
    await assert.rejects(ws.opened, (e) => e.status === 400);
  });
});
