// fcgi_client.js — a tiny FastCGI client (the web server's side of the
// protocol) for talking to the gateway's --fastcgi socket directly: exact
// params in, the CGI response (Status, headers, body) out.
'use strict';
const net = require('node:net');

const T = { BEGIN: 1, END: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7 };

function record(type, id, content = Buffer.alloc(0)) {
  const pad = (8 - (content.length % 8)) % 8;
  const h = Buffer.alloc(8);
  h[0] = 1;
  h[1] = type;
  h.writeUInt16BE(id, 2);
  h.writeUInt16BE(content.length, 4);
  h[6] = pad;
  return Buffer.concat([h, content, Buffer.alloc(pad)]);
}

function lenBytes(n) {
  if (n < 128) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

function encodeParams(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(String(v));
    parts.push(lenBytes(kb.length), lenBytes(vb.length), kb, vb);
  }
  return Buffer.concat(parts);
}

// The records of one request: BEGIN_REQUEST (responder), PARAMS, STDIN.
function requestBytes(params, body = Buffer.alloc(0), id = 1) {
  const out = [record(T.BEGIN, id, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]))];
  const p = encodeParams(params);
  for (let i = 0; i < p.length; i += 65535) out.push(record(T.PARAMS, id, p.subarray(i, i + 65535)));
  out.push(record(T.PARAMS, id));
  const b = Buffer.from(body);
  for (let i = 0; i < b.length; i += 65535) out.push(record(T.STDIN, id, b.subarray(i, i + 65535)));
  out.push(record(T.STDIN, id));
  return Buffer.concat(out);
}

function parseCgi(stdout) {
  const text = stdout.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const headers = {};
  for (const line of head.split('\r\n')) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  const status = headers.status ? Number(headers.status.split(' ')[0]) : 200;
  return { status, headers, body: end < 0 ? '' : stdout.subarray(end + 4).toString('utf8') };
}

// Connect to `target` ({ path } for a unix socket, or { port, host }), send
// one request, resolve with { status, headers, body, stderr } once
// END_REQUEST arrives (or reject on close/timeout).
function fcgiRequest(target, params, body, { timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(target);
    let buf = Buffer.alloc(0);
    const stdout = [];
    const stderr = [];
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('FastCGI request timed out'));
    }, timeout);
    s.on('connect', () => s.write(requestBytes(params, body)));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const len = buf.readUInt16BE(4);
        const total = 8 + len + buf[6];
        if (buf.length < total) break;
        const type = buf[1];
        const content = buf.subarray(8, 8 + len);
        buf = buf.subarray(total);
        if (type === T.STDOUT) stdout.push(content);
        else if (type === T.STDERR) stderr.push(content);
        else if (type === T.END) {
          clearTimeout(t);
          s.destroy();
          resolve({ ...parseCgi(Buffer.concat(stdout)), stderr: Buffer.concat(stderr).toString() });
        }
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(t);
      reject(new Error('FastCGI connection closed before END_REQUEST'));
    });
  });
}

// Params for a GET/POST of `uri` as nginx would send them.
function cgiParams(method, uri, extra = {}) {
  const q = uri.indexOf('?');
  return {
    REQUEST_METHOD: method,
    REQUEST_URI: uri,
    QUERY_STRING: q < 0 ? '' : uri.slice(q + 1),
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    HTTP_HOST: 'localhost',
    ...extra,
  };
}

module.exports = { fcgiRequest, requestBytes, cgiParams };
