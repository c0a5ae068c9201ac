// tls_browser.test.js — the chat example over TLS in a real browser:
// headless Chromium (playwright-core, as browser_chat.test.js) loads the page
// and the client script over HTTPS from build/iogate --tls-cert and chats
// over WSS.  Chromium trusts the throw-away certificate by its public key
// (--ignore-certificate-errors-spki-list pins exactly that key; any other
// certificate would still fail), and every socket's handshake says secure.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startGateway } = require('./sio_harness');
const { makeCert } = require('./tls_cert');

const CHROMIUM = process.env.IOGATE_CHROMIUM || '/usr/bin/chromium';
let playwright = null;
try {
  playwright = require('playwright-core');
} catch {
  /* reported by the skip below */
}
const skip = !playwright
  ? 'playwright-core is not installed (npm ci)'
  : !fs.existsSync(CHROMIUM)
    ? `${CHROMIUM} is missing (apt-get install chromium)`
    : false;

test('chat over HTTPS and WSS in Chromium, the certificate pinned by its key', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-tls-browser-'));
  const cert = makeCert(dir);
  const spki = crypto.createHash('sha256')
    .update(new crypto.X509Certificate(cert.ca).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const gw = await startGateway({
    workers: { '/': 'chat' },
    args: ['--tls-cert', cert.cert, '--tls-key', cert.key, '--log-level', 'debug',
      '--static', 'examples/chat/public', '--client-js', 'node_modules/socket.io-client/dist/socket.io.js'],
  });
  let browser;
  try {
    browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--ignore-certificate-errors-spki-list=${spki}`],
    });
    const url = `https://127.0.0.1:${gw.port}/`;
    const pages = [];
    for (const nick of ['alice', 'bob']) {
      const p = await (await browser.newContext()).newPage();
      const res = await p.goto(url);
      assert.equal(res.status(), 200);
      assert.equal(new URL(res.url()).protocol, 'https:');
      await p.waitForSelector('.usernameInput', { state: 'visible' });
      await p.fill('.usernameInput', nick);
      await p.press('.usernameInput', 'Enter');
      await p.waitForSelector('.inputMessage', { state: 'visible' });
      // connected: the chat's welcome line
      await p.waitForFunction(() => [...document.querySelectorAll('.messages li')].some((li) => li.textContent.includes('Welcome to iogate chat')), null, { timeout: 15000 });
      pages.push(p);
    }
    const [a, b] = pages;
    await a.click('.inputMessage');
    await a.keyboard.type('hello over TLS', { delay: 20 });
    await a.keyboard.press('Enter');
    await b.waitForFunction(() => [...document.querySelectorAll('.messages li')].some((li) => li.textContent.includes('hello over TLS')), null, { timeout: 15000 });
    // both upgraded to WebSocket (WSS), nothing was refused as plain HTTP
    await gw.waitLog(/session \S+ upgraded to websocket[\s\S]*session \S+ upgraded to websocket/, 8000);
    assert.doesNotMatch(gw.logs, /plain HTTP request|TLS handshake from .* failed/);
    assert.match(gw.logs, /listening on https:/);
  } finally {
    if (browser) await browser.close();
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
