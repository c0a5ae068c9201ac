// eio_websocket.test.js — Engine.IO v4 over WebSocket against `iogate --echo`.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

describe('websocket', () => {
  let gw;
  before(async () => { gw = await h.startGateway(['--ping-interval', '400', '--ping-timeout', '300', '--max-payload', '1000']); });
  after(async () => { assert.equal(await gw.stop(), 0); });

  test('engine.io-client websocket only: text and binary echo, survives pings', async () => {
    const s = h.eioClient(gw.port, { transports: ['websocket'] });
    await h.once(s, 'open');
    assert.equal(s.transport.name, 'websocket');
    s.send('héllo €');
    assert.equal(await h.once(s, 'message'), 'héllo €');
    s.send(Buffer.from([4, 0, 255]));
    assert.deepEqual(Buffer.from(await h.once(s, 'message')), Buffer.from([4, 0, 255]));
    await h.sleep(1000); // two ping intervals: the client's pongs keep it open
    s.send('still here');
    assert.equal(await h.once(s, 'message'), 'still here');
    s.close();
  });

  test('open packet on a direct websocket announces no upgrades', async () => {
    const ws = h.wsOpen(gw.port);
    const m = await ws.next();
    const open = JSON.parse(m.data.slice(1));
    assert.equal(m.data[0], '0');
    assert.deepEqual(open, { sid: open.sid, upgrades: [], pingInterval: 400, pingTimeout: 300, maxPayload: 1000 });
    ws.close();
  });

  test('pitfall 2: EIO4 binary frames carry raw bytes, no type prefix', async () => {
    const ws = h.wsOpen(gw.port);
    await ws.next();
    ws.send(Buffer.from([0x04, 1, 2]), { binary: true });
    const m = await ws.next();
    assert.equal(m.binary, true);
    assert.deepEqual(m.data, Buffer.from([0x04, 1, 2]));
    ws.send('4text');
    assert.deepEqual(await ws.next(), { data: '4text', binary: false });
    ws.close();
  });

  test('fragmented message, ping control frame in between, close handshake', async () => {
    const frames = [
      h.upgradeHead(gw.port),
      h.clientFrame(1, '4he', { fin: false }),
      h.clientFrame(9, 'pi'),              // ping between fragments
      h.clientFrame(0, 'llo', { fin: true }),
      50,
      h.clientFrame(8, Buffer.from([0x03, 0xe8])), // close 1000
    ];
    const r = await h.raw(gw.port, frames, { timeout: 2000 });
    const a = h.afterHead(r.data);
    assert.match(a.head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(a.head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    const f = h.parseFrames(a.rest);
    assert.equal(f[0].op, 1);
    assert.match(f[0].payload.toString(), /^0\{"sid"/);
    const rest = f.slice(1).map((x) => [x.op, x.payload.toString('latin1')]);
    // the pong may go before or after the echo; the close frame comes last
    assert.deepEqual(rest.slice(0, 2).sort(), [[1, '4hello'], [10, 'pi']]);
    assert.deepEqual(rest[2], [8, '\x03\xe8']);
    assert.equal(rest.length, 3);
    assert.equal(r.closed, true);
  });

  test('pitfall 6: oversize message → close 1009, session closes with transport error', async () => {
    const ws = h.wsOpen(gw.port);
    const open = JSON.parse((await ws.next()).data.slice(1));
    const mark = gw.log().length;
    ws.send('4' + 'x'.repeat(1000));
    const c = await ws.closed;
    assert.equal(c.code, 1009);
    await gw.waitLog(new RegExp(`session ${open.sid} closed: transport error`), 2000, mark);
    // at the limit is fine
    const ws2 = h.wsOpen(gw.port);
    await ws2.next();
    ws2.send('4' + 'y'.repeat(999));
    assert.equal((await ws2.next()).data.length, 1000);
    ws2.close();
  });

  test('invalid UTF-8 in a text frame → close 1007', async () => {
    const ws = h.wsOpen(gw.port);
    const open = JSON.parse((await ws.next()).data.slice(1));
    const mark = gw.log().length;
    ws.send(Buffer.from([0x34, 0xc3, 0x28]), { binary: false });
    assert.equal((await ws.closed).code, 1007);
    await gw.waitLog(new RegExp(`session ${open.sid} closed: transport error`), 2000, mark);
  });

  test('unmasked client frame → close 1002', async () => {
    const r = await h.raw(gw.port, [h.upgradeHead(gw.port), 50, h.clientFrame(1, '4hi', { mask: false })], { timeout: 2000 });
    const f = h.parseFrames(h.afterHead(r.data).rest);
    const close = f.find((x) => x.op === 8);
    assert.ok(close, 'a close frame');
    assert.equal(close.payload.readUInt16BE(0), 1002);
  });

  test('pitfall 8: invalid Engine.IO packet on websocket → parse error', async () => {
    for (const bad of ['abc', '9', '']) {
      const ws = h.wsOpen(gw.port);
      const open = JSON.parse((await ws.next()).data.slice(1));
      const mark = gw.log().length;
      ws.send(bad);
      await ws.closed;
      await gw.waitLog(new RegExp(`session ${open.sid} closed: parse error`), 2000, mark);
    }
  });

  test('close from the client (close packet, close frame, EOF) → transport close', async () => {
    const how = [(ws) => ws.send('1'), (ws) => ws.close(1000), (ws) => ws.terminate()];
    for (const f of how) {
      const ws = h.wsOpen(gw.port);
      const open = JSON.parse((await ws.next()).data.slice(1));
      const mark = gw.log().length;
      f(ws);
      await gw.waitLog(new RegExp(`session ${open.sid} closed: transport close`), 2000, mark);
    }
  });

  test('pitfall 4: ping "2" every interval on websocket; no pong → ping timeout', async () => {
    const ws = h.wsOpen(gw.port);
    const open = JSON.parse((await ws.next()).data.slice(1));
    const t0 = Date.now();
    assert.equal((await ws.next(1000)).data, '2');
    assert.ok(Date.now() - t0 >= 330);
    ws.send('3');
    assert.equal((await ws.next(1000)).data, '2');
    const mark = gw.log().length;
    // no pong this time
    await gw.waitLog(new RegExp(`session ${open.sid} closed: ping timeout`), 2000, mark);
    assert.equal((await ws.next()).data, '1');
    assert.equal((await ws.closed).code, 1000);
  });

  test('pitfall 3: invalid upgrade requests get HTTP 400, not a dropped socket', async () => {
    const heads = [
      h.upgradeHead(gw.port, '').replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8'),
      h.upgradeHead(gw.port, '').replace('dGhlIHNhbXBsZSBub25jZQ==', 'short'),
      h.upgradeHead(gw.port, '').replace('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n', ''),
      h.upgradeHead(gw.port, 'sid=unknownsid00000000'),
      h.upgradeHead(gw.port, '').replace('EIO=4', 'EIO=3'),
      h.upgradeHead(gw.port, '').replace('transport=websocket', 'transport=polling'),
    ];
    const expect = [3, 3, 3, 1, 5, 3];
    for (let i = 0; i < heads.length; i++) {
      const r = await h.raw(gw.port, [heads[i]]);
      const s = r.data.toString();
      assert.match(s, /^HTTP\/1\.1 400 Bad Request\r\n/, heads[i]);
      assert.match(s, /\r\nConnection: close\r\n/);
      assert.equal(JSON.parse(s.slice(s.indexOf('\r\n\r\n') + 4)).code, expect[i], heads[i]);
      assert.equal(r.closed, true);
    }
    // no "Upgrade" header at all: a plain GET with transport=websocket is not a poll
    const r = await h.request(gw.port, { path: '/socket.io/?EIO=4&transport=websocket' });
    assert.equal(r.status, 400);
    assert.equal(r.body, '{"code":3,"message":"Bad request"}');
    // with the ws package and an unknown sid
    const ws = h.wsOpen(gw.port, 'sid=nope');
    await assert.rejects(ws.opened, (e) => e.status === 400 && JSON.parse(e.body).code === 1);
  });
});

describe('websocket shutdown', () => {
  test('SIGTERM: clients get a close packet and close 1001; exit code 0', async () => {
    const gw = await h.startGateway();
    const ws = h.wsOpen(gw.port);
    const open = JSON.parse((await ws.next()).data.slice(1));
    const code = await gw.stop();
    assert.equal(code, 0);
    assert.equal((await ws.next()).data, '1');
    assert.equal((await ws.closed).code, 1001);
    assert.match(gw.log(), new RegExp(`session ${open.sid} closed: server shutting down`));
  });

  test('SIGTERM: a held poll gets the close packet', async () => {
    const gw = await h.startGateway();
    const { sid } = await h.handshake(gw.port);
    const held = h.poll(gw.port, sid);
    await h.sleep(50);
    const code = await gw.stop();
    assert.equal(code, 0);
    assert.equal((await held).body, '1');
  });
});
