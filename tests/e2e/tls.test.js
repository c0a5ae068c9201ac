// tls.test.js — TLS without a front server (--tls-cert/--tls-key): the
// official socket.io-client over HTTPS polling, WSS and upgrade checking
// the certificate as its CA, curl and openssl s_client against the
// gateway (protocol versions), plain HTTP on the TLS port, SIGHUP with a
// renewed and with a broken certificate, stalled and garbage handshakes
// next to a bystander, and the config file keys.  Certificates are made
// with the openssl command line into a temporary directory.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { io } = require('socket.io-client');
const sh = require('./sio_harness');
const { makeCert } = require('./tls_cert');

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-tls-test-'));
process.on('exit', () => fs.rmSync(DIR, { recursive: true, force: true }));

// The served certificate's SHA-256 fingerprint (verification off on purpose:
// this looks at what is served, whatever it is).
function servedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

function fileFingerprint(file) {
  return new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;
}
const crypto = require('node:crypto');

function run(cmd, args, input = '') {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { timeout: 15000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
    p.stdin.end(input);
  });
}

function client(gw, ca, nsp, opts) {
  const s = io(`https://127.0.0.1:${gw.port}${nsp === '/' ? '' : nsp}`, {
    forceNew: true, reconnection: false, ca, ...opts,
  });
  gw.clients.push(s);
  return s;
}

const TRANSPORTS = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: { transports: ['polling', 'websocket'] },
};

describe('TLS with the official client', () => {
  let gw, cert;
  before(async () => {
    cert = makeCert(path.join(DIR, 'a'));
    gw = await sh.startGateway({
      workers: { '/': 'echo', '/custom': 'echo' },
      args: ['--tls-cert', cert.cert, '--tls-key', cert.key, '--log-level', 'debug'],
    });
    await gw.waitLog(/listening on https:\/\/127\.0\.0\.1:\d+/);
  });
  after(async () => { await gw.stop(); });

  for (const [name, opts] of Object.entries(TRANSPORTS)) {
    test(`${name}: namespaces, binary, acks; the worker sees handshake.secure === true`, async () => {
      const a = client(gw, cert.ca, '/', opts);
      const b = client(gw, cert.ca, '/custom', opts);
      await Promise.all([sh.once(a, 'connect'), sh.once(b, 'connect')]);
      const hs = await a.timeout(3000).emitWithAck('handshake');
      assert.equal(hs.secure, true);
      assert.equal(hs.address, '127.0.0.1');
      const hs2 = await b.timeout(3000).emitWithAck('handshake');
      assert.equal(hs2.secure, true);
      // binary, and big enough for many TLS records both ways
      const big = crypto.randomBytes(300000);
      const small = Buffer.from([0, 1, 2, 253, 254, 255]);
      b.emit('message', small, { deep: [big, 'text'] });
      const [rs, rd] = await sh.once(b, 'message-back', 8000);
      assert.deepEqual(Buffer.from(rs), small);
      assert.ok(Buffer.from(rd.deep[0]).equals(big));
      assert.equal(rd.deep[1], 'text');
      const acked = await a.timeout(3000).emitWithAck('message-with-ack', 'x'.repeat(100000));
      assert.equal(acked, 'x'.repeat(100000));
      if (name === 'upgrade') await sh.waitFor(() => a.io.engine.transport.name === 'websocket', 5000);
      assert.equal(a.io.engine.transport.name, name === 'polling' ? 'polling' : 'websocket');
      a.close();
      b.close();
    });
  }

  test('a client that does not trust the certificate cannot connect (connect_error)', async () => {
    const from = gw.logs.length;
    const s = client(gw, undefined, '/', { transports: ['websocket'] });
    const [err] = await sh.once(s, 'connect_error');
    assert.match(String(err.description && err.description.message || err.message), /self[- ]signed|certificate/i);
    // (Node checks the chain after the handshake and just closes: the
    // gateway sees an ordinary EOF, nothing to log)
    assert.doesNotMatch(gw.logs.slice(from), /session \S+ opened/);
    s.close();
  });

  test('curl --cacert gets the handshake; plain http:// on the TLS port gets a 400 that says why, and a log line', async () => {
    const url = `https://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=polling`;
    const r = await run('curl', ['-sS', '--cacert', cert.cert, url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^0\{"sid":"[\w-]{20}","upgrades":\["websocket"\],"pingInterval":25000/);
    // and localhost by name (the certificate's DNS name)
    const r2 = await run('curl', ['-sS', '--cacert', cert.cert, url.replace('127.0.0.1', 'localhost')]);
    assert.match(r2.stdout, /^0\{"sid"/, r2.stderr);
    const from = gw.logs.length;
    const p = await run('curl', ['-sS', '-i', url.replace('https', 'http')]);
    assert.match(p.stdout, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(p.stdout, /plain HTTP sent to the HTTPS port/);
    await gw.waitLog(/plain HTTP request from 127\.0\.0\.1 on the TLS port: answered 400, closing/);
    assert.ok(gw.logs.length > from);
  });

  test('openssl s_client: TLS 1.1 refused (logged), TLS 1.2 and 1.3 accepted with a verified chain', async () => {
    const base = ['s_client', '-connect', `127.0.0.1:${gw.port}`, '-CAfile', cert.cert, '-verify_return_error'];
    const from = gw.logs.length;
    const old = await run('openssl', [...base, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], 'Q\n');
    assert.notEqual(old.code, 0);
    assert.match(old.stdout, /Cipher is \(NONE\)/);
    await sh.waitFor(() => /TLS handshake from 127\.0\.0\.1 failed: .*(unsupported protocol|version)/.test(gw.logs.slice(from)), 3000,
      () => `TLS 1.1 refusal not logged:\n${gw.logs.slice(from)}`);
    for (const v of ['1_2', '1_3']) {
      const r = await run('openssl', [...base, `-tls${v}`], 'Q\n');
      assert.equal(r.code, 0, r.stderr);
      // (the session block with "Protocol :" only comes with a ticket: not under load)
      assert.match(r.stdout, new RegExp(`New, TLSv${v.replace('_', '\\.')}, Cipher is`));
      assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
      assert.match(r.stdout, /Compression: NONE/);
    }
  });

  test('stalled and garbage handshakes do not hold up a bystander; garbage is logged', async () => {
    const by = client(gw, cert.ca, '/', { transports: ['websocket'] });
    await sh.once(by, 'connect');
    const net = require('node:net');
    const socks = [];
    for (let i = 0; i < 30; i++) {
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => {});
      // a ClientHello record header, then nothing (stall), or random bytes
      s.on('connect', () => s.write(i % 2 ? Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]) : Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, 0x40]), crypto.randomBytes(64)])));
      socks.push(s);
    }
    await sh.sleep(100);
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const back = await by.timeout(3000).emitWithAck('message-with-ack', `still here ${i}`);
      assert.equal(back, `still here ${i}`);
      // stalled handshakes that blocked the loop would stall it for good;
      // 2 s leaves room for a loaded machine
      assert.ok(Date.now() - t0 < 2000, `bystander round trip took ${Date.now() - t0} ms`);
    }
    await sh.waitFor(() => /TLS handshake from 127\.0\.0\.1 failed/.test(gw.logs), 3000);
    for (const s of socks) s.destroy();
    by.close();
  });
});

// One HTTPS request checking the certificate; resolves {status, body}.
function httpsRequest(port, ca, method, p, body) {
  return new Promise((resolve, reject) => {
    const req = require('node:https').request({ host: '127.0.0.1', port, method, path: p, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('TLS transport details (echo gateway)', () => {
  test('a 900 KB POST and its 900 KB poll answer cross TLS whole (many records each way), three times on fresh connections', async () => {
    const h = require('./helpers');
    const cert = makeCert(path.join(DIR, 'f'));
    const gw = await h.startGateway(['--tls-cert', cert.cert, '--tls-key', cert.key, '--max-payload', '1000000']);
    try {
      const base = '/socket.io/?EIO=4&transport=polling';
      const open = await httpsRequest(gw.port, cert.ca, 'GET', base);
      assert.equal(open.status, 200);
      const sid = JSON.parse(open.body.slice(1)).sid;
      const big = '4' + 'é'.repeat(100) + crypto.randomBytes(450000).toString('hex');
      for (let i = 0; i < 3; i++) {
        const r = await httpsRequest(gw.port, cert.ca, 'POST', `${base}&sid=${sid}`, big);
        assert.equal(r.status, 200);
        assert.equal(r.body, 'ok');
        const g = await httpsRequest(gw.port, cert.ca, 'GET', `${base}&sid=${sid}`);
        assert.equal(g.body.length, big.length);
        assert.ok(g.body === big, 'echo differs');
      }
    } finally {
      await gw.stop();
    }
  });
});

describe('TLS handshake timeout, SIGHUP reload, config', () => {
  test('a handshake that stalls is closed after --header-timeout (logged), a bystander is unaffected', async () => {
    const cert = makeCert(path.join(DIR, 'b'));
    const gw = await sh.startGateway({ args: ['--tls-cert', cert.cert, '--tls-key', cert.key, '--header-timeout', '600'] });
    try {
      const by = client(gw, cert.ca, '/', { transports: ['websocket'] });
      await sh.once(by, 'connect');
      const net = require('node:net');
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => {});
      s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])); // half a record header's promise
      const closed = new Promise((r) => s.on('close', r));
      const t0 = Date.now();
      await closed;
      assert.ok(Date.now() - t0 >= 400, 'closed too early');
      await gw.waitLog(/request \(TLS handshake not done\) from 127\.0\.0\.1 not complete within 600 ms \(--header-timeout\), closing/);
      const back = await by.timeout(3000).emitWithAck('message-with-ack', 'ok');
      assert.equal(back, 'ok');
    } finally {
      await gw.stop();
    }
  });

  test('SIGHUP: a renewed certificate is served to new connections, open ones go on; a broken one is logged and the old kept', async () => {
    const dir = path.join(DIR, 'c');
    const cert = makeCert(dir, 'live');
    const gw = await sh.startGateway({ args: ['--tls-cert', cert.cert, '--tls-key', cert.key] });
    try {
      const fp1 = await servedFingerprint(gw.port);
      assert.equal(fp1, fileFingerprint(cert.cert));
      const open = client(gw, cert.ca, '/', { transports: ['websocket'] });
      await sh.once(open, 'connect');
      // renew in place (what certbot and friends do), then SIGHUP
      const renewed = makeCert(path.join(DIR, 'c2'), 'live');
      fs.copyFileSync(renewed.cert, cert.cert);
      fs.copyFileSync(renewed.key, cert.key);
      let from = gw.logs.length;
      gw.proc.kill('SIGHUP');
      await sh.waitFor(() => /SIGHUP: TLS certificate reloaded from /.test(gw.logs.slice(from)), 3000, () => gw.logs.slice(from));
      const fp2 = await servedFingerprint(gw.port);
      assert.notEqual(fp2, fp1);
      assert.equal(fp2, fileFingerprint(renewed.cert));
      // the connection made before the reload still works
      const back = await open.timeout(3000).emitWithAck('message-with-ack', 'across the reload');
      assert.equal(back, 'across the reload');
      // a new client trusting only the new certificate gets in
      const fresh = client(gw, renewed.ca, '/', { transports: ['polling'] });
      await sh.once(fresh, 'connect');
      // broken: a certificate that is not PEM; then a key that does not match
      fs.writeFileSync(cert.cert, 'not a certificate\n');
      from = gw.logs.length;
      gw.proc.kill('SIGHUP');
      await sh.waitFor(() => /SIGHUP: keeping the old TLS certificate: TLS: .*live\.crt/.test(gw.logs.slice(from)), 3000, () => gw.logs.slice(from));
      assert.equal(await servedFingerprint(gw.port), fp2);
      fs.copyFileSync(renewed.cert, cert.cert);
      fs.copyFileSync(path.join(dir, '..', 'a', 'gw.key'), cert.key); // another key
      from = gw.logs.length;
      gw.proc.kill('SIGHUP');
      await sh.waitFor(() => /SIGHUP: keeping the old TLS certificate: TLS: .*live\.key: .*key values mismatch/.test(gw.logs.slice(from)), 3000, () => gw.logs.slice(from));
      assert.equal(await servedFingerprint(gw.port), fp2);
      const again = client(gw, renewed.ca, '/', { transports: ['websocket'] });
      await sh.once(again, 'connect');
      assert.equal(gw.proc.exitCode, null);
    } finally {
      await gw.stop();
    }
  });

  test('--fastcgi and --trust-proxy work beside TLS: FastCGI requests are not TLS-wrapped, X-Forwarded-* from a trusted peer still apply', async () => {
    const { fcgiRequest, cgiParams } = require('./fcgi_client');
    const cert = makeCert(path.join(DIR, 'e'));
    const fport = await sh.freePort();
    const gw = await sh.startGateway({
      args: ['--tls-cert', cert.cert, '--tls-key', cert.key, '--fastcgi', `127.0.0.1:${fport}`, '--trust-proxy', 'loopback'],
    });
    try {
      // FastCGI: plain records, the web server's REMOTE_ADDR, no HTTPS → not secure
      const target = { host: '127.0.0.1', port: fport };
      const base = '/socket.io/?EIO=4&transport=polling';
      const hs = await fcgiRequest(target, cgiParams('GET', base, { REMOTE_ADDR: '10.1.2.3' }));
      assert.equal(hs.status, 200, hs.stderr);
      const sid = JSON.parse(hs.body.toString().slice(1)).sid;
      const q = `${base}&sid=${sid}`;
      const send = (body) => fcgiRequest(target, cgiParams('POST', q, { REMOTE_ADDR: '10.1.2.3', CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: String(Buffer.byteLength(body)) }), body);
      const get = () => fcgiRequest(target, cgiParams('GET', q, { REMOTE_ADDR: '10.1.2.3' }));
      assert.equal((await send('40')).status, 200);
      assert.match((await get()).body.toString(), /^40\{"sid"/);
      assert.equal((await send('421["handshake"]')).status, 200);
      let text = '';
      for (let i = 0; i < 10 && !text.includes('431['); i++) text += (await get()).body.toString();
      const fhs = JSON.parse(text.slice(text.indexOf('431[') + 3))[0];
      assert.equal(fhs.secure, false);
      assert.equal(fhs.address, '10.1.2.3');
      // TLS from a trusted proxy (loopback): its X-Forwarded-For is believed
      const c = client(gw, cert.ca, '/', { transports: ['polling'], extraHeaders: { 'x-forwarded-for': '5.6.7.8', 'x-forwarded-proto': 'https' } });
      await sh.once(c, 'connect');
      const ths = await c.timeout(3000).emitWithAck('handshake');
      assert.equal(ths.address, '5.6.7.8');
      assert.equal(ths.secure, true);
    } finally {
      await gw.stop();
    }
  });

  test('tls-cert/tls-key in a --config file; one without the other, or an unreadable file, stops the start with a message', async () => {
    const cert = makeCert(path.join(DIR, 'd'));
    const conf = path.join(DIR, 'd', 'iogate.conf');
    fs.writeFileSync(conf, `# TLS from the config file\ntls-cert = ${cert.cert}\ntls-key = ${cert.key}\n`);
    const gw = await sh.startGateway({ args: ['--config', conf] });
    try {
      await gw.waitLog(/listening on https:/);
      const r = await run('curl', ['-sS', '--cacert', cert.cert, `https://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=polling`]);
      assert.match(r.stdout, /^0\{"sid"/, r.stderr);
    } finally {
      await gw.stop();
    }
    const bin = path.join(sh.BUILD, 'iogate');
    const half = spawnSync(bin, ['--listen', '127.0.0.1:1', '--echo', '--tls-cert', cert.cert], { encoding: 'utf8' });
    assert.equal(half.status, 2);
    assert.match(half.stderr, /--tls-cert and --tls-key go together \(got only --tls-cert\)/);
    const missing = spawnSync(bin, ['--listen', '127.0.0.1:1', '--echo', '--tls-cert', cert.cert, '--tls-key', path.join(DIR, 'nope.key')], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /TLS: .*nope\.key: .*(No such file|system lib|no such)/i);
  });
});
