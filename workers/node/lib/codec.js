// codec.js — the iogate IPC message format (ipc/PROTOCOL.md §2): frames in,
// frames out, and binary values <-> attachment frames with placeholders.
// Pure functions, no ZeroMQ.
'use strict';

const VERSION = 'IOG1';

// Types each direction may carry (§3).  A message of another type is not
// acted on (rule 8).
const FROM_GATEWAY = new Set([
  'WELCOME', 'PING', 'PONG', 'BYE', 'CONNECT', 'EVENT', 'ACK', 'DISCONNECT', 'CONN', 'REPLY', 'ERROR',
  'ADMIT', 'BROADCAST_ACK', 'SERVER_EMIT_ACK',
]);
const FROM_WORKER = new Set([
  'HELLO', 'PING', 'PONG', 'BYE', 'ACCEPT', 'REFUSE', 'EMIT', 'ACK', 'BROADCAST', 'JOIN', 'LEAVE',
  'DISCONNECT', 'QUERY', 'PROCESSED',
  'ADMIT', 'SERVER_EMIT',
]);

const MAX_DEPTH = 64; // nesting of arguments we walk (a client's JSON is bounded by the gateway)

function isBinary(v) {
  return Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

function toBuffer(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength); // typed array, DataView
}

function hasBinary(v, depth = 0) {
  if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) return false;
  if (isBinary(v)) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (hasBinary(x, depth + 1)) return true;
    return false;
  }
  if (typeof v.toJSON === 'function') return false; // serialised by its toJSON (Date, …)
  for (const k of Object.keys(v)) if (hasBinary(v[k], depth + 1)) return true;
  return false;
}

// Replace every binary value in `v` by a placeholder; the buffers go to
// `atts` in order.  Returns a copy (the caller's objects are not modified).
function deconstruct(v, atts, depth = 0) {
  if (v === null || typeof v !== 'object') return v;
  if (isBinary(v)) {
    atts.push(toBuffer(v));
    return { _placeholder: true, num: atts.length - 1 };
  }
  if (depth > MAX_DEPTH) return v;
  if (Array.isArray(v)) return v.map((x) => deconstruct(x, atts, depth + 1));
  if (typeof v.toJSON === 'function') return v;
  const out = {};
  for (const k of Object.keys(v)) out[k] = deconstruct(v[k], atts, depth + 1);
  return out;
}

// JSON text of the array `arr` plus its attachment buffers.
function encodeData(arr) {
  if (!hasBinary(arr)) return { text: JSON.stringify(arr), atts: [] };
  const atts = [];
  const copy = deconstruct(arr, atts);
  return { text: JSON.stringify(copy), atts };
}

function isPlaceholder(v) {
  return (
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    v._placeholder === true &&
    Object.prototype.hasOwnProperty.call(v, 'num')
  );
}

// Replace placeholders by the attachment buffers, in place.  Throws when a
// placeholder is invalid or out of range, or an attachment is unreferenced
// (§2 rule 7).
function resolvePlaceholders(data, atts) {
  const used = new Set();
  const walk = (v, depth) => {
    if (v === null || typeof v !== 'object') return v;
    if (depth > MAX_DEPTH) throw new Error('arguments nested too deeply');
    if (isPlaceholder(v)) {
      const n = v.num;
      if (!Number.isInteger(n) || n < 0 || n >= atts.length) throw new Error(`placeholder num ${n} out of range`);
      used.add(n);
      return atts[n];
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = walk(v[i], depth + 1);
    } else {
      for (const k of Object.keys(v)) v[k] = walk(v[k], depth + 1);
    }
    return v;
  };
  const out = walk(data, 0);
  if (used.size !== atts.length) throw new Error('attachments without placeholders');
  return out;
}

// Frames of one message.  meta: object or null; data: array or null (binary
// values anywhere become attachments).
function encode(type, nsp, sid, meta, data) {
  const frames = [VERSION, type, nsp || '', sid || '', meta ? JSON.stringify(meta) : ''];
  if (data) {
    const { text, atts } = encodeData(data);
    frames.push(text, ...atts);
  } else {
    frames.push('');
  }
  return frames;
}

// Decode the frames of a message from the gateway.  Returns {type, nsp,
// sid, meta, data} (data: array with binaries resolved, or null when the
// frame is empty), or throws an Error with a `code` (§3.4 codes).
function decode(frames, allowed = FROM_GATEWAY) {
  const fail = (code, message) => {
    const e = new Error(message);
    e.code = code;
    throw e;
  };
  if (frames.length < 6) fail('frames', `${frames.length} frames, at least 6 needed`);
  if (frames[0].toString('latin1') !== VERSION) fail('version', 'bad version frame');
  const type = frames[1].toString('latin1');
  if (!allowed.has(type)) fail('type', `unknown or wrong-direction type ${JSON.stringify(type.slice(0, 32))}`);
  const nsp = frames[2].toString('utf8');
  const sid = frames[3].toString('latin1');
  let meta = {};
  if (frames[4].length) {
    try {
      meta = JSON.parse(frames[4].toString('utf8'));
    } catch {
      fail('meta', 'meta is not JSON');
    }
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) fail('meta', 'meta is not a JSON object');
  }
  const atts = frames.slice(6);
  let data = null;
  if (frames[5].length) {
    try {
      data = JSON.parse(frames[5].toString('utf8'));
    } catch {
      fail('data', 'data is not JSON');
    }
    if (!Array.isArray(data)) fail('data', 'data is not a JSON array');
    try {
      data = resolvePlaceholders(data, atts);
    } catch (e) {
      fail('data', e.message);
    }
  } else if (atts.length) {
    fail('data', 'attachments without data');
  }
  return { type, nsp, sid, meta, data };
}

module.exports = {
  VERSION,
  FROM_GATEWAY,
  FROM_WORKER,
  isBinary,
  hasBinary,
  encodeData,
  resolvePlaceholders,
  encode,
  decode,
};
