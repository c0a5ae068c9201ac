// browser_chat.test.js — the chat example (examples/chat/public) in a real
// browser: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) with two pages against build/iogate, once with the C chat
// worker and once with the Node.js one.  Both pick nicknames, exchange
// messages both ways, see the typing notice and the join/leave notices; one
// page reloads and rejoins; one changes room.  Screenshots go to
// tests/artifacts/.
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startGateway, ROOT } = require('./sio_harness');

const CHROMIUM = process.env.IOGATE_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
const WORKERS = [
  { name: 'C', cmd: 'chat' },
  { name: 'Node.js', cmd: `${process.execPath} examples/chat/chat.js` },
];

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

// The texts of the chat's message list, one string per <li>.
async function lines(page) {
  return page.$$eval('.messages li', (els) =>
    els.map((el) => (el.classList.contains('log') ? el.textContent : [...el.children].map((c) => c.textContent).join(': '))),
  );
}

async function expectLine(page, text, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const all = await lines(page);
    if (all.includes(text)) return all;
    if (Date.now() > end) throw new Error(`"${text}" not shown; the page shows ${JSON.stringify(all)}`);
    await page.waitForTimeout(25);
  }
}

async function login(page, url, nick) {
  await page.goto(url);
  await page.waitForSelector('.usernameInput', { state: 'visible' });
  await page.fill('.usernameInput', nick);
  await page.press('.usernameInput', 'Enter');
  await page.waitForSelector('.inputMessage', { state: 'visible' });
  await expectLine(page, 'Welcome to iogate chat');
}

async function say(page, text) {
  await page.click('.inputMessage');
  await page.keyboard.type(text, { delay: 30 });
  await page.keyboard.press('Enter');
}

for (const worker of WORKERS) {
  describe(`chat in Chromium with the ${worker.name} chat worker`, { skip }, () => {
    let gw;
    let browser;
    const shots = [];
    const shot = async (page, name) => {
      const file = path.join(ARTIFACTS, `browser_chat_${worker.name.replace(/\W/g, '').toLowerCase()}_${name}.png`);
      await page.screenshot({ path: file });
      shots.push(file);
    };

    before(async () => {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      gw = await startGateway({
        workers: { '/': worker.cmd },
        args: ['--static', 'examples/chat/public', '--client-js', 'node_modules/socket.io-client/dist/socket.io.js'],
      });
      // Playwright gives each launch a fresh temporary profile directory
      // (its own --user-data-dir), removed when the browser closes.
      browser = await playwright.chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    });

    after(async () => {
      if (browser) await browser.close();
      if (gw) await gw.stop();
    });

    test('two users chat, see typing, joins and leaves; a reload rejoins; rooms separate', async () => {
      // Separate contexts: two independent browser sessions.
      const a = await (await browser.newContext({ viewport: { width: 800, height: 600 } })).newPage();
      const b = await (await browser.newContext({ viewport: { width: 800, height: 600 } })).newPage();
      const errors = [];
      for (const p of [a, b]) p.on('pageerror', (e) => errors.push(e.message));

      await shotLogin(a);
      await login(a, gw.url, 'alice');
      await expectLine(a, "there's 1 participant");

      await login(b, gw.url, 'bob');
      await expectLine(b, 'there are 2 participants');
      await expectLine(a, 'bob joined');
      await expectLine(a, 'there are 2 participants');

      // alice types: bob sees the typing notice, then the message.
      await a.click('.inputMessage');
      await a.keyboard.type('hello bob', { delay: 40 });
      await b.waitForSelector('.message.typing', { timeout: 4000 });
      assert.equal(await b.textContent('.message.typing .username'), 'alice');
      assert.equal(await b.textContent('.message.typing .messageBody'), 'is typing');
      await shot(b, 'typing');
      await a.keyboard.press('Enter');
      await expectLine(b, 'alice: hello bob');
      await expectLine(a, 'alice: hello bob'); // own message shown locally
      await b.waitForSelector('.message.typing', { state: 'detached', timeout: 4000 });

      // bob answers.
      await say(b, 'hi alice, with ünïcödé ✓');
      await expectLine(a, 'bob: hi alice, with ünïcödé ✓');
      await shot(a, 'conversation');

      // bob reloads: alice sees him leave and join again; they still talk.
      await b.reload();
      await expectLine(a, 'bob left');
      await expectLine(a, "there's 1 participant");
      await login(b, gw.url, 'bob');
      const seenByA = await expectLine(a, 'bob joined');
      assert.equal(seenByA.filter((l) => l === 'bob joined').length, 2);
      await expectLine(b, 'there are 2 participants');
      await say(a, 'welcome back');
      await expectLine(b, 'alice: welcome back');
      await say(b, 'thanks');
      await expectLine(a, 'bob: thanks');

      // alice moves to another room: bob sees her leave the lobby, and
      // messages no longer cross rooms.
      await a.fill('.roomInput', 'games');
      await a.press('.roomInput', 'Enter');
      await expectLine(a, 'you are in room games');
      assert.equal(await a.textContent('.currentRoom'), 'games');
      assert.equal(await a.textContent('.roomCount'), '(1 here)');
      await expectLine(b, 'alice left lobby');
      await say(b, 'anyone in the lobby?');
      await a.waitForTimeout(300);
      assert.ok(!(await lines(a)).includes('bob: anyone in the lobby?'), 'a message crossed rooms');
      await b.fill('.roomInput', 'games');
      await b.press('.roomInput', 'Enter');
      await expectLine(b, 'you are in room games');
      assert.equal(await b.textContent('.roomCount'), '(2 here)');
      await expectLine(a, 'bob came to games');
      await say(b, 'found you');
      await expectLine(a, 'bob: found you');
      await shot(a, 'alice');
      await shot(b, 'bob');

      assert.deepEqual(errors, [], 'no JavaScript errors on the pages');
      // The page really renders: the chat area is visible and sized.
      const box = await a.locator('.messages').boundingBox();
      assert.ok(box && box.width > 600 && box.height > 300, `messages box ${JSON.stringify(box)}`);
      const input = await a.locator('.inputMessage').boundingBox();
      assert.ok(input && input.y + input.height <= 600 + 1, `input box ${JSON.stringify(input)}`);
    });

    async function shotLogin(page) {
      await page.goto(gw.url);
      await page.waitForSelector('.usernameInput', { state: 'visible' });
      await shot(page, 'login');
    }
  });
}
