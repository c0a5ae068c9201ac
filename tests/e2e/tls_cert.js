// tls_cert.js — a throw-away certificate for the TLS tests: a self-signed
// EC P-256 certificate for localhost and 127.0.0.1 made with the openssl
// command line, usable as its own CA (so clients check it for real instead
// of turning verification off).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// Make one into dir (created if needed); returns {dir, cert, key, ca}.
function makeCert(dir, name = 'gw', cn = 'localhost') {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { dir, cert, key, ca: fs.readFileSync(cert) };
}

// The certificate of this test process: IOGATE_TEST_TLS_CERT/_KEY if a
// parent made one (and put it in NODE_EXTRA_CA_CERTS), else a new one.
let mine = null;
function testCert() {
  if (mine) return mine;
  const { IOGATE_TEST_TLS_CERT: cert, IOGATE_TEST_TLS_KEY: key } = process.env;
  if (cert && key) mine = { dir: path.dirname(cert), cert, key, ca: fs.readFileSync(cert) };
  else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iogate-tls-'));
    mine = makeCert(dir);
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return mine;
}

module.exports = { makeCert, testCert };
