// emitter.js — emitting into namespaces from a process that is not their
// worker (ipc/PROTOCOL.md rules 10d-10f): one DEALER says HELLO with role
// "emitter" and a key the gateway was given with --emitter-key, which names
// the namespaces it may emit into.  It sends EMIT (one socket id) and
// BROADCAST (rooms / except), receives no client packets, never displaces
// the namespace's worker and cannot ask for acks.
//
//   const { Emitter } = require('iogate-worker');
//   const em = await new Emitter().connect(); // IOGATE_ENDPOINT, IOGATE_EMITTER_KEY
//   await em.broadcast('/chat', 'news', [{ title: 'hi' }], { rooms: ['lobby'] });
//   await em.emit('/chat', socketId, 'private', ['for you']);
//   await em.flush();  // rejects if the gateway refused something
//   em.close();
'use strict';
const crypto = require('node:crypto');
const zmq = require('zeromq');
const codec = require('./codec');

const PROTOCOL_VERSION = 1;

class EmitterError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'EmitterError';
    this.code = code;
  }
}

class Emitter {
  // options: endpoint (env IOGATE_ENDPOINT), key (env IOGATE_EMITTER_KEY),
  // timeout (ms to wait for WELCOME, 5000).
  constructor(opts = {}) {
    this.endpoint = opts.endpoint || process.env.IOGATE_ENDPOINT;
    this._key = opts.key || process.env.IOGATE_EMITTER_KEY;
    if (!this.endpoint) throw new Error('no gateway endpoint (set IOGATE_ENDPOINT or pass { endpoint })');
    if (!this._key) throw new Error('no emitter key (set IOGATE_EMITTER_KEY or pass { key })');
    this.timeout = opts.timeout || 5000;
    this.incarnation = crypto.randomBytes(16).toString('hex');
    this._sock = new zmq.Dealer({ linger: this.timeout });
    this._sendChain = Promise.resolve(); // zeromq sends one message at a time
    this._errors = [];
    this._welcome = null;
    this._closed = false;
  }

  // Connect and say HELLO; resolves with this once welcomed, rejects with
  // an EmitterError (code "auth": a wrong key) or on timeout.
  async connect() {
    this._sock.connect(this.endpoint);
    this._readLoop();
    try {
      await this._hello();
    } catch (e) {
      // a refused emitter must not keep the process alive
      this._closed = true;
      this._sock.close();
      throw e;
    }
    return this;
  }

  _hello() {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this._welcome = null;
        reject(new EmitterError(`no WELCOME from the gateway at ${this.endpoint}`, 'timeout'));
      }, this.timeout);
      this._welcome = { resolve, reject, t };
      const meta = { version: PROTOCOL_VERSION, role: 'emitter', key: this._key, incarnation: this.incarnation, pid: process.pid };
      this._send(codec.encode('HELLO', '', '', meta, null)).catch(reject);
    });
  }

  async _readLoop() {
    try {
      for await (const frames of this._sock) {
        let m;
        try {
          m = codec.decode(frames);
        } catch {
          continue;
        }
        if (m.type === 'PING') {
          this._send(codec.encode('PONG', '', '', null, null)).catch(() => {});
        } else if (m.type === 'WELCOME' && this._welcome) {
          const w = this._welcome;
          this._welcome = null;
          clearTimeout(w.t);
          w.resolve();
        } else if (m.type === 'ERROR') {
          const err = new EmitterError(`gateway refused ${m.meta.type}: ${m.meta.message}`, m.meta.code);
          if (this._welcome && m.meta.type === 'HELLO') {
            const w = this._welcome;
            this._welcome = null;
            clearTimeout(w.t);
            w.reject(err);
          } else if (m.meta.code === 'hello' && !this._closed) {
            this._hello().catch((e) => this._errors.push(e)); // the gateway forgot us: greet again
          } else {
            this._errors.push(err);
          }
        }
      }
    } catch {
      /* closed */
    }
  }

  _send(frames) {
    const p = this._sendChain.then(() => this._sock.send(frames));
    this._sendChain = p.catch(() => {});
    return p;
  }

  _check() {
    if (this._errors.length) throw this._errors.shift();
  }

  _out(type, nsp, sid, meta, event, args) {
    if (typeof nsp !== 'string' || nsp[0] !== '/') throw new TypeError("namespace must start with '/'");
    if (typeof event !== 'string') throw new TypeError('event name must be a string');
    if (!Array.isArray(args)) throw new TypeError('args must be an array');
    this._check();
    return this._send(codec.encode(type, nsp, sid, meta, [event, ...args]));
  }

  // Emit event with args (JSON values; Buffers become attachments) to
  // socket sid of nsp.  A socket that is gone is not an error.
  emit(nsp, sid, event, args = []) {
    if (typeof sid !== 'string' || sid.length !== 20) throw new TypeError('emit needs a 20-character socket id');
    return this._out('EMIT', nsp, sid, null, event, args);
  }

  // Emit to every socket of nsp in any of rooms (all when absent) and in
  // none of except.
  broadcast(nsp, event, args = [], { rooms, except, volatile } = {}) {
    const meta = {};
    if (rooms && rooms.length) meta.rooms = [].concat(rooms);
    if (except && except.length) meta.except = [].concat(except);
    if (volatile) meta.volatile = true;
    return this._out('BROADCAST', nsp, '', meta, event, args);
  }

  // Wait ms for the gateway's answers (it answers only refusals); rejects
  // with the first refusal of something sent before.
  async flush(ms = 300) {
    await this._sendChain;
    await new Promise((r) => setTimeout(r, ms));
    this._check();
  }

  close() {
    if (this._closed) return;
    this._closed = true;
    this._send(codec.encode('BYE', '', '', { reason: 'emitter done' }, null))
      .catch(() => {})
      .finally(() => this._sock.close());
  }
}

module.exports = { Emitter, EmitterError };
