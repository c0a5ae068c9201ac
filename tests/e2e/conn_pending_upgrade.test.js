// conn_pending_upgrade.test.js — PROTOCOL.md rule 20: an upgrade that
// completes while a socket waits for its worker's ACCEPT (slow middleware)
// reaches the worker as CONN "upgrade" right after the ACCEPT, so the
// worker's socket.conn agrees with the client's transport.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { startGateway, once } = require('./sio_harness');

test('an upgrade during slow middleware reaches the worker after ACCEPT', async () => {
  const gw = await startGateway({ workers: { '/': `node ${path.join(__dirname, 'fixtures', 'slow_mw_upgrade.js')}` } });
  try {
    const c = gw.client('/', { transports: ['polling', 'websocket'] });
    const at = once(c, 'at-connect', 8000);
    const up = once(c, 'upgraded', 5000);
    const [atConnect] = await at;
    assert.equal(c.io.engine.transport.name, 'websocket', 'the client upgraded during the middleware');
    assert.equal(atConnect, 'polling', 'the worker saw the CONNECT while polling');
    assert.deepEqual(await up, ['websocket']);
    c.close();
  } finally {
    await gw.stop();
  }
});
