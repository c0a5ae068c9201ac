// conform_ipc.test.js — the points issue 13 found open in ipc/PROTOCOL.md,
// as the gateway now settles them, against a worker written from the text
// alone (tests/e2e/conform_worker.py) and the three echo workers:
//   rule 10   a HELLO needs "incarnation" (ERROR meta), "pid" is optional
//   rule 28a  EMIT / ACK / DISCONNECT for a socket before its ACCEPT: not
//             sent, answered with ERROR "state", logged
//   rule 5a   EMIT/BROADCAST without an event name, ACK without an id:
//             ERROR, logged, nothing malformed reaches the client; an empty
//             ACK data frame is an ack with no arguments
//   rule 16   a recovered socket is not greeted again by the examples
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, once, sleep } = require('./sio_harness');

const WORKER = '/usr/bin/python3 tests/e2e/conform_worker.py';

describe('IPC rules settled by issue 13, against a worker written from the text', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ workers: { '/': WORKER }, args: ['--connect-timeout', '1500'] });
  });
  after(async () => {
    await gw.stop();
  });

  test('rule 10: HELLO without an incarnation gets ERROR meta; without a pid it is accepted', async () => {
    await gw.waitLog(/HELLO without an incarnation for \/: ERROR meta/);
    await gw.waitLog(/conform error meta HELLO HELLO needs an incarnation/);
    // its spawn key (rule 10a) tells the gateway which child it is: the pid logged is that child's
    await gw.waitLog(new RegExp(`worker ready: namespace /, pid ${gw.logs.match(/started worker for \/ \(pid (\d+)\)/)[1]}, incarnation conform\\d+`));
    const s = gw.client('/');
    await once(s, 'connect');
    s.emit('hello?');
    assert.deepEqual(await once(s, 'hello-status'), [['meta']]);
    s.close();
  });

  test('rule 28a: EMIT, ACK and DISCONNECT before ACCEPT are not sent; each gets ERROR state and a log line', async () => {
    const s = gw.client('/', { auth: { early: true } });
    let early = 0;
    s.onAny(() => early++);
    await once(s, 'connect', 8000); // the worker ACCEPTs once its three ERRORs came back
    for (const t of ['EMIT', 'ACK', 'DISCONNECT']) {
      await gw.waitLog(new RegExp(`${t} from the worker for socket ${s.id} not sent: socket not accepted yet \\(ERROR state\\)`));
      await gw.waitLog(new RegExp(`conform error state ${t} socket not accepted yet`));
    }
    await sleep(100);
    assert.equal(early, 0, 'nothing the worker sent before ACCEPT reached the client');
    assert.equal(s.connected, true);
    s.close();
  });

  test('rule 5a: EMIT/BROADCAST without an event name and ACK without an id get ERROR; the client sees nothing malformed', async () => {
    const s = gw.client('/');
    await once(s, 'connect');
    const errors = [];
    const other = [];
    s.onAny((ev, ...args) => (ev === 'gateway-error' ? errors.push(args) : other.push(ev)));
    s.emit('bad-emits');
    const end = Date.now() + 5000;
    while (errors.length < 5 && Date.now() < end) await sleep(20);
    assert.deepEqual(errors, [['data', 'EMIT'], ['data', 'EMIT'], ['data', 'EMIT'], ['data', 'BROADCAST'], ['meta', 'ACK']]);
    assert.deepEqual(other, []);
    assert.equal(s.connected, true, 'a malformed packet would have made the client close');
    await gw.waitLog(/worker \S+ sent a BROADCAST with invalid data, refused: /);
    await gw.waitLog(/worker \S+ sent an ACK with invalid meta, refused: /);
    s.close();
  });

  test('rule 16: middleware slower than --connect-timeout: the client is closed, the worker hears it, its late ACCEPT is ignored', async () => {
    const s = gw.client('/', { auth: { slow: true } });
    const closed = once(s.io, 'close', 8000);
    const [reason] = await closed;
    assert.equal(s.connected, false, reason);
    const m = await gw.waitLog(/conform disconnect (\S+) forced server close/);
    await gw.waitLog(/no namespace joined within 1500 ms, closing/);
    await sleep(200);
    // the late ACCEPT and EMIT were for a socket the gateway forgot: no ERROR
    assert.doesNotMatch(gw.logs, new RegExp(`for socket ${m[1]} not sent`));
  });

  test('rule 5a: an empty ACK data frame is an acknowledgement with no arguments', async () => {
    const s = gw.client('/');
    await once(s, 'connect');
    const got = await new Promise((resolve) => s.emit('ack-empty', (...args) => resolve(args)));
    assert.deepEqual(got, []);
    s.close();
  });
});

// Rule 16: a socket recovered after its worker restarted is one the client
// never saw leave; the example workers skip their on-connect greeting for it.
const ECHOES = [
  ['C', 'echo'],
  ['Node.js', `${process.execPath} examples/echo/echo.js`],
  ['Python', '/usr/bin/python3 examples/echo/echo.py'],
];
for (const [lang, cmd] of ECHOES) {
  test(`rule 16: the ${lang} echo worker does not greet a recovered socket twice`, async () => {
    const gw = await startGateway({ workers: { '/': cmd } });
    try {
      const s = gw.client('/');
      let greetings = 0;
      s.on('auth', () => greetings++);
      await once(s, 'connect');
      await sleep(100);
      assert.equal(greetings, 1);
      const pid = await s.emitWithAck('pid');
      process.kill(pid, 'SIGKILL');
      await gw.waitLog(new RegExp(`socket ${s.id} recovered`), 10000);
      s.emit('message', 'after');
      assert.deepEqual(await once(s, 'message-back', 8000), ['after']);
      assert.notEqual(await s.emitWithAck('pid'), pid);
      await sleep(100);
      assert.equal(greetings, 1, 'the recovered socket was greeted again');
      assert.equal(s.connected, true);
    } finally {
      await gw.stop();
    }
  });
}
