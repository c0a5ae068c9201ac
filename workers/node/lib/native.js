// native.js — what makes a worker look like socket.io to the application:
// socket.handshake and socket.request shaped as the reference builds them
// from the gateway's CONNECT meta (PROTOCOL.md rule 16), the log line format
// shared by the three worker libraries, and promise handling for async
// handlers.  Pure functions.
'use strict';

// Call onError when `ret` (what a handler returned) is a promise that
// rejects; a handler that returns anything else is done.
function settle(ret, onError) {
  if (ret && typeof ret.then === 'function') {
    ret.then(undefined, (e) => onError(e === undefined ? new Error('promise rejected without a reason') : e));
  }
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// socket.handshake exactly as socket.io's Socket.buildHandshake lays it out
// (same keys, same order, same types), filled from what the gateway sent;
// a missing or mistyped key gets the reference's value for "unknown".
function buildHandshake(hs) {
  const h = isObj(hs) ? hs : {};
  const headers = isObj(h.headers) ? h.headers : {};
  const issued = Number.isFinite(h.issued) ? h.issued : Date.now();
  return {
    headers,
    time: typeof h.time === 'string' ? h.time : new Date(issued) + '',
    address: typeof h.address === 'string' ? h.address : '',
    xdomain: typeof h.xdomain === 'boolean' ? h.xdomain : !!headers.origin,
    secure: h.secure === true,
    issued,
    url: typeof h.url === 'string' ? h.url : '',
    query: isObj(h.query) ? h.query : {},
    auth: isObj(h.auth) ? h.auth : {},
  };
}

// socket.request: socket.io hands out the Node IncomingMessage of the
// Engine.IO handshake.  A worker has no HTTP request, so this is the part
// of it the handshake carries: method (a handshake is always a GET), url,
// headers, HTTP version, the peer address as connection/socket
// remoteAddress, TLS as connection.encrypted, and engine.io's parsed
// `_query`.
function buildRequest(hs) {
  const connection = { remoteAddress: hs.address, encrypted: hs.secure };
  return {
    method: 'GET',
    url: hs.url,
    headers: hs.headers,
    httpVersion: '1.1',
    connection,
    socket: connection,
    _query: hs.query,
  };
}

const LEVEL_NAMES = ['ERROR', 'WARN', 'INFO', 'DEBUG'];

// One log line in the format of every iogate worker library:
//   2026-11-30T04:40:00.123Z INFO  iogate.worker[/nsp] message
function logLine(level, nsp, msg, now = new Date()) {
  return `${now.toISOString()} ${LEVEL_NAMES[level].padEnd(5)} iogate.worker[${nsp}] ${msg}\n`;
}

module.exports = { settle, buildHandshake, buildRequest, logLine, LEVEL_NAMES };
