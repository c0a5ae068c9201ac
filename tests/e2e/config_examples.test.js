// config_examples.test.js — every file in examples/config/ starts a working
// gateway (its listen address replaced by a free port).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startGateway, once, freePort, ROOT } = require('./sio_harness');

const DIR = path.join(ROOT, 'examples', 'config');
const NSP = { 'chat.conf': '/', 'namespaces.conf': '/py', 'dynamic.conf': '/room-7', 'deploy.conf': '/' };

for (const file of fs.readdirSync(DIR).filter((f) => f.endsWith('.conf'))) {
  test(`examples/config/${file} starts a working gateway`, async () => {
    // The harness adds --listen on a free port (flags win over the file);
    // a FastCGI address in the file gets a free port too.
    let text = fs.readFileSync(path.join(DIR, file), 'utf8');
    text = text.replace(/^fastcgi = .*$/m, `fastcgi = 127.0.0.1:${await freePort()}`);
    const admin = await freePort();
    text = text.replace(/^admin-listen = .*$/m, `admin-listen = 127.0.0.1:${admin}`);
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-conf-')), file);
    fs.writeFileSync(tmp, text);
    const gw = await startGateway({ workers: {}, args: ['--config', tmp] });
    try {
      const nsp = NSP[file] || '/';
      const s = gw.client(nsp, { extraHeaders: { origin: 'https://chat.example.com' } });
      await once(s, 'connect', 8000).catch((e) => {
        throw new Error(`${e.message}\n${gw.logs.slice(-3000)}`);
      });
      assert.equal(s.connected, true);
      if (/^admin-listen/m.test(text)) assert.equal((await fetch(`http://127.0.0.1:${admin}/healthz`)).status, 200);
    } finally {
      await gw.stop();
    }
  });
}
