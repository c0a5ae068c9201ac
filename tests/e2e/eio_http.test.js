// eio_http.test.js — HTTP details: CORS, cookie, keep-alive, pipelining,
// limits, static files, client JS.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers');

describe('http', () => {
  let gw, dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-static-'));
    fs.mkdirSync(path.join(dir, 'pub'));
    fs.writeFileSync(path.join(dir, 'pub', 'index.html'), '<h1>hi</h1>');
    fs.writeFileSync(path.join(dir, 'pub', 'app.js'), 'console.log(1)');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret');
    fs.writeFileSync(path.join(dir, 'client.js'), '/* client */');
    gw = await h.startGateway([
      '--static', path.join(dir, 'pub'), '--client-js', path.join(dir, 'client.js'),
      '--cors-origin', 'http://good.example', '--cookie', 'io',
    ]);
  });
  after(async () => {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('CORS: allowed origin echoed, others get no header; preflight 204', async () => {
    const ok = await h.request(gw.port, { path: h.eioPath(), headers: { Origin: 'http://good.example' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'http://good.example');
    assert.equal(ok.headers['access-control-allow-credentials'], undefined);
    const bad = await h.request(gw.port, { path: h.eioPath(), headers: { Origin: 'http://evil.example' } });
    assert.equal(bad.status, 200);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    const pre = await h.request(gw.port, {
      method: 'OPTIONS', path: h.eioPath(),
      headers: { Origin: 'http://good.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.body, '');
    assert.equal(pre.headers['access-control-allow-origin'], 'http://good.example');
    assert.match(pre.headers['access-control-allow-methods'], /POST/);
    assert.equal(pre.headers['access-control-allow-headers'], 'content-type');
  });

  test('cookie on handshake only', async () => {
    const { sid, res } = await h.handshake(gw.port);
    assert.deepEqual(res.headers['set-cookie'], [`io=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
    await h.post(gw.port, sid, '4x');
    const p = await h.poll(gw.port, sid);
    assert.equal(p.headers['set-cookie'], undefined);
    await h.post(gw.port, sid, '1');
  });

  test('keep-alive and pipelining: responses in order on one connection', async () => {
    const { sid } = await h.handshake(gw.port);
    const body = '4pipelined';
    const reqs =
      `POST ${h.eioPath('sid=' + sid)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      `GET ${h.eioPath('sid=' + sid)} HTTP/1.1\r\nHost: x\r\n\r\n` +
      `GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n`;
    const r = await h.raw(gw.port, [reqs], { until: (b) => b.toString().includes('404 Not Found\n') });
    const s = r.data.toString();
    const statuses = [...s.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '404']);
    assert.match(s, /\r\n\r\nok/);
    assert.match(s, /\r\n\r\n4pipelined/);
    assert.equal(r.closed, false);
    assert.equal((s.match(/Connection: keep-alive/g) || []).length, 3);
    // a held GET blocks the pipelined request behind it until answered
    const r2 = h.raw(gw.port, [
      `GET ${h.eioPath('sid=' + sid)} HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n`,
    ], { timeout: 2000, until: (b) => b.toString().includes('404 Not Found\n') });
    await h.sleep(100);
    await h.post(gw.port, sid, '4release');
    const s2 = (await r2).data.toString();
    assert.ok(s2.indexOf('4release') < s2.indexOf('404'), s2);
    await h.post(gw.port, sid, '1');
  });

  test('HTTP/1.0 and Connection: close end the connection', async () => {
    const r = await h.raw(gw.port, ['GET /nothing HTTP/1.0\r\n\r\n']);
    assert.match(r.data.toString(), /^HTTP\/1\.1 404 [\s\S]*Connection: close/);
    assert.equal(r.closed, true);
    const r2 = await h.raw(gw.port, ['GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n']);
    assert.equal(r2.closed, true);
  });

  test('431 for a huge header, 414 for a huge URL, 400 for garbage', async () => {
    const big = await h.raw(gw.port, [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`]);
    assert.match(big.data.toString(), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.equal(big.closed, true);
    const url = await h.raw(gw.port, [`GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    assert.match(url.data.toString(), /^HTTP\/1\.1 414 URI Too Long\r\n/);
    const junk = await h.raw(gw.port, ['\x00\x01garbage\r\n\r\n']);
    assert.match(junk.data.toString(), /^HTTP\/1\.1 400 /);
    assert.equal(junk.closed, true);
  });

  test('static files, index.html, no escape from the directory, 404', async () => {
    const idx = await h.request(gw.port, { path: '/' });
    assert.equal(idx.status, 200);
    assert.equal(idx.body, '<h1>hi</h1>');
    assert.equal(idx.headers['content-type'], 'text/html; charset=UTF-8');
    const js = await h.request(gw.port, { path: '/app.js?v=1' });
    assert.equal(js.headers['content-type'], 'application/javascript; charset=UTF-8');
    const head = await h.request(gw.port, { method: 'HEAD', path: '/app.js' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '14');
    assert.equal(head.body, '');
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/pub/../../secret.txt', '/missing.html']) {
      const r = await h.raw(gw.port, [`GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`], { until: (b) => b.includes('\r\n\r\n') });
      assert.match(r.data.toString(), /^HTTP\/1\.1 404 /, p);
      assert.ok(!r.data.toString().includes('secret'), p);
    }
    const cj = await h.request(gw.port, { path: '/socket.io/socket.io.js' });
    assert.equal(cj.status, 200);
    assert.equal(cj.body, '/* client */');
  });
});

describe('http without static dir', () => {
  test('non-Engine.IO path → 404', async () => {
    const gw = await h.startGateway();
    const r = await h.request(gw.port, { path: '/index.html' });
    assert.equal(r.status, 404);
    await gw.stop();
  });
});

describe('CORS variants', () => {
  test('wildcard without credentials → *', async () => {
    const gw = await h.startGateway(['--cors-origin', '*']);
    const r = await h.request(gw.port, { path: h.eioPath(), headers: { Origin: 'http://any.example' } });
    assert.equal(r.headers['access-control-allow-origin'], '*');
    await gw.stop();
  });

  test('wildcard with credentials → the request origin, never *', async () => {
    const gw = await h.startGateway(['--cors-origin', '*', '--cors-credentials']);
    const r = await h.request(gw.port, { path: h.eioPath(), headers: { Origin: 'http://any.example' } });
    assert.equal(r.headers['access-control-allow-origin'], 'http://any.example');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.match(r.headers.vary, /Origin/);
    const pre = await h.request(gw.port, { method: 'OPTIONS', path: h.eioPath(), headers: { Origin: 'http://any.example' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://any.example');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');
    await gw.stop();
  });
});
