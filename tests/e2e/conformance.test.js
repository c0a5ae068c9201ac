// conformance.test.js — the Socket.IO conformance suites (sio_api.test.js
// and sio_protocol.test.js, which run against the C echo worker on their
// own) once more against the echo worker of every other language: the same
// tests, the same gateway, only the worker process differs (the harness
// swaps the echo command for IOGATE_ECHO).  A language whose echo is not in
// the tree yet is skipped with a message saying so.
'use strict';
const { describe, test, before, after } = require('node:test');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const SUITES = ['./sio_api.test.js', './sio_protocol.test.js'];

const LANGUAGES = [
  { name: 'Node.js', file: 'examples/echo/echo.js', command: `${process.execPath} examples/echo/echo.js` },
  { name: 'Python', file: 'examples/echo/echo.py', command: '/usr/bin/python3 examples/echo/echo.py' },
];

for (const lang of LANGUAGES) {
  if (!fs.existsSync(path.join(ROOT, lang.file))) {
    test(`conformance of the ${lang.name} echo worker`, { skip: `${lang.file} is not in the tree yet` }, () => {});
    continue;
  }
  describe(`conformance of the ${lang.name} echo worker (${lang.file})`, () => {
    let saved;
    before(() => {
      saved = process.env.IOGATE_ECHO;
      process.env.IOGATE_ECHO = lang.command;
    });
    after(() => {
      if (saved === undefined) delete process.env.IOGATE_ECHO;
      else process.env.IOGATE_ECHO = saved;
    });
    // Loading a suite file here nests its describe()/test() calls in this
    // suite; a fresh load per language.
    for (const suite of SUITES) {
      const file = require.resolve(suite);
      delete require.cache[file];
      require(file);
    }
  });
}
