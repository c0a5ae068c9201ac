/* ws.h — WebSocket (RFC 6455) on an http_conn: the opening handshake, and
 * the glue to wslay for everything received (masking check, fragments,
 * ping/pong, close handshake, UTF-8 validation of text, message size cap).
 *
 * Outgoing data frames do NOT go through wslay: server frames are unmasked,
 * so one frame header serves every receiver; wire_msg (wire.h) keeps headroom for it
 * and a broadcast is framed once and written with writev from the shared
 * buffer to any number of sockets (wslay would copy each message into each
 * connection's queue).  wslay still writes the control frames it owns
 * (pong, close): its send callback appends to the same per-connection
 * output queue as our data frames, so bytes leave in the order queued.
 *
 * Trust: frames are untrusted client input; wslay validates them.
 */
#ifndef IOGATE_WS_H
#define IOGATE_WS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* Check an upgrade request (GET, Upgrade: websocket, version 13, a key of
 * 16 base64-encoded bytes).  NULL and accept filled, or a reason. */
const char *ws_check_handshake(const http_request *r, char accept[29]);
/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)). */
void ws_accept_key(const char *key, char out[29]);

/* Answer 101 (with `extra` header lines, may be NULL) and switch c to
 * WebSocket mode; messages over max_msg bytes are refused with close 1009.
 * Input already buffered is processed at the next safe point. */
void ws_start(http_conn *c, const char *accept, const char *extra, size_t max_msg);
/* Queue a shared message as one frame (text "4…" or binary raw). */
void ws_send_msg(http_conn *c, wire_msg *m);
/* Queue one frame (opcode 1 text, 2 binary) of `head` (copied) followed by
 * a slice of a shared message (referenced): Engine.IO v3's 0x04 type byte
 * in front of binary data, or "b4" in front of base64. */
void ws_send_parts(http_conn *c, int opcode, const void *head, size_t hn, wire_msg *m,
                   const char *p, size_t n);
/* Queue a small text frame (copied), e.g. "2" or "3probe". */
void ws_send_text(http_conn *c, const char *p, size_t n);
/* Send a close frame with code and close the connection once it is
 * written.  The owner is detached without an on_gone call. */
void ws_close(http_conn *c, uint16_t code);

#endif
