// admission.js — handshake admission (ipc/PROTOCOL.md rule 39): the gateway
// started with `--admission NSP` asks NSP's worker, before any session
// exists, whether a handshake may go on.  The application answers through
// the `allowRequest` option, with socket.io's signature so that code moves
// over unchanged:
//
//   new Worker({ allowRequest: (req, callback) => callback(err, success) })
//
// `req` looks like the http.IncomingMessage socket.io passes: headers, url,
// method, _query, socket/connection.remoteAddress, plus `handshake` (the
// object PROTOCOL.md rule 39 describes).  callback(null, true) admits;
// callback("reason", false) refuses, and the client gets the reference's
// answer (403 {"code":4,"message":"reason"}, or "Forbidden" without one).
'use strict';

function requestOf(h) {
  const sock = { remoteAddress: h.address, encrypted: !!h.secure };
  return {
    method: 'GET',
    url: h.url || '',
    headers: h.headers || {},
    _query: h.query || {},
    query: h.query || {},
    socket: sock,
    connection: sock,
    handshake: h,
  };
}

// Answer one ADMIT from `link`.  Without an allowRequest the worker was not
// meant for admission: it refuses (failing closed) and says so once.
function handleAdmit(worker, link, meta, allowRequest) {
  const req = meta.req;
  let answered = false;
  const answer = (err, success) => {
    if (answered) return;
    answered = true;
    const out = { req, ok: !!success };
    if (!success && err != null && err !== '') out.message = typeof err === 'string' ? err : String(err.message ?? err);
    link.send('ADMIT', '', out, null);
  };
  if (typeof allowRequest !== 'function') {
    if (!worker._admitWarned) worker._log(1, 'the gateway asks for admission (ADMIT) but no allowRequest option was given: refusing');
    worker._admitWarned = true;
    answer(null, false);
    return;
  }
  try {
    allowRequest(requestOf(meta.handshake || {}), answer);
  } catch (e) {
    worker._log(1, `allowRequest threw (${e && e.message}): refusing the handshake`);
    answer(null, false);
  }
}

module.exports = { handleAdmit };
