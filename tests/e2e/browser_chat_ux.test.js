// browser_chat_ux.test.js — the small things a user of the chat example
// sees, in headless Chromium like browser_chat.test.js: a favicon (no 404
// on any request of the page), the participant count shown in the room bar
// from the login on, long words wrapped instead of widening the page, the
// input disabled while disconnected and enabled again after the reconnect,
// and the static files answered 304 on a reload.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startGateway } = require('./sio_harness');

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

const ARGS = ['--static', 'examples/chat/public', '--client-js', 'node_modules/socket.io-client/dist/'];

async function waitText(page, sel, text, ms = 8000) {
  await page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent === t, [sel, text], { timeout: ms });
}

async function login(page, url, nick) {
  await page.goto(url);
  await page.waitForSelector('.usernameInput', { state: 'visible' });
  await page.fill('.usernameInput', nick);
  await page.press('.usernameInput', 'Enter');
  await page.waitForSelector('.inputMessage:not([disabled])', { timeout: 8000 });
}

test('chat in Chromium: favicon, participant count, long words, input while disconnected, 304 on reload', { skip }, async () => {
  let gw = await startGateway({ workers: { '/': 'chat' }, args: ARGS });
  const port = gw.port;
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const a = await (await browser.newContext({ viewport: { width: 800, height: 600 } })).newPage();
    const b = await (await browser.newContext({ viewport: { width: 800, height: 600 } })).newPage();
    const errors = [];
    const statuses = [];
    const failed = [];
    for (const p of [a, b]) {
      p.on('pageerror', (e) => errors.push(e.message));
      p.on('response', (r) => {
        statuses.push([r.status(), r.url()]);
        if (r.status() >= 400) failed.push([r.status(), r.url()]);
      });
    }

    // favicon: declared, served as SVG; the page fetches nothing that 404s
    await a.goto(gw.url);
    const icon = await a.getAttribute('link[rel="icon"]', 'href');
    assert.ok(icon, 'a <link rel="icon">');
    const r = await a.request.get(new URL(icon, gw.url).href);
    assert.equal(r.status(), 200);
    assert.match(r.headers()['content-type'], /^image\/svg\+xml/);
    // before the login answer nobody can type
    assert.equal(await a.isDisabled('.inputMessage'), true);

    // the participant count is in the room bar from the login on
    await login(a, gw.url, 'alice');
    await waitText(a, '.participantCount', '1 participant');
    await login(b, gw.url, 'bob');
    await waitText(b, '.participantCount', '2 participants');
    await waitText(a, '.participantCount', '2 participants');

    // a 400-letter word wraps: nothing overflows sideways
    const word = 'w'.repeat(400);
    await a.click('.inputMessage');
    await a.fill('.inputMessage', word);
    await a.press('.inputMessage', 'Enter');
    await b.waitForFunction((w) => [...document.querySelectorAll('.messageBody')].some((e) => e.textContent === w), word);
    for (const p of [a, b]) {
      const m = await p.$eval('.messages', (el) => ({ sw: el.scrollWidth, cw: el.clientWidth, dw: document.documentElement.scrollWidth }));
      assert.ok(m.sw <= m.cw, `messages overflow sideways: ${JSON.stringify(m)}`);
      assert.ok(m.dw <= 800, `the page is wider than the window: ${JSON.stringify(m)}`);
    }

    // the gateway goes away: the inputs are disabled; it comes back on the
    // same port: the client reconnects, logs in again, and they are enabled
    await gw.stop({ closeClients: false });
    await a.waitForSelector('.inputMessage[disabled]', { timeout: 10000 });
    assert.equal(await a.isDisabled('.roomInput'), true);
    assert.match(await a.getAttribute('.inputMessage', 'placeholder'), /disconnected/i);
    gw = await startGateway({ workers: { '/': 'chat' }, args: [...ARGS, '--listen', `127.0.0.1:${port}`] });
    // (gw.url names the harness's own --listen, overridden by the one above)
    await a.waitForSelector('.inputMessage:not([disabled])', { timeout: 20000 });
    await b.waitForSelector('.inputMessage:not([disabled])', { timeout: 20000 });
    await a.fill('.inputMessage', 'back again');
    await a.press('.inputMessage', 'Enter');
    await b.waitForFunction(() => [...document.querySelectorAll('.messageBody')].some((e) => e.textContent === 'back again'), null, { timeout: 8000 });

    // a reload revalidates the static files: 304, not the bytes again
    statuses.length = 0;
    await a.reload();
    await a.waitForSelector('.usernameInput', { state: 'visible' });
    const mainJs = statuses.filter(([, u]) => u.endsWith('/main.js'));
    assert.ok(mainJs.length >= 1, JSON.stringify(statuses));
    assert.ok(mainJs.every(([s]) => s === 304), `main.js on reload: ${JSON.stringify(mainJs)}`);

    assert.deepEqual(failed, [], 'no failed requests (a favicon.ico 404 included)');
    assert.deepEqual(errors, [], 'no JavaScript errors on the pages');
  } finally {
    await browser.close();
    await gw.stop();
  }
});
