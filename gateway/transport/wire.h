/* wire.h — an outgoing message shared by reference between any number of
 * connections (wire_msg), and the WebSocket frame header written in front
 * of it.  The transport layer's unit of zero-copy output: http.c queues
 * references to it, ws.c frames it once; the layer above decides what the
 * payload is (Engine.IO: eio.h's eio_msg is this type).  Pure, no I/O.
 *
 * Layout: [ WIRE_MSG_HEADROOM bytes | payload | NUL ].  The byte just
 * before the payload may hold a one-byte prefix that is sent with it (the
 * Engine.IO packet type '4' of a text message), so prefix + payload are
 * contiguous; the WebSocket frame header (server frames are unmasked, so
 * one header serves every receiver) is written once, right-aligned in the
 * headroom in front of that.  A broadcast is thus framed once and written
 * to any number of sockets straight from this buffer.
 */
#ifndef IOGATE_WIRE_H
#define IOGATE_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wire_msg wire_msg;

#define WIRE_MSG_HEADROOM 11 /* 10 bytes max frame header + 1 prefix byte */
#define WIRE_NO_PREFIX (-1)

/* A new message with room for `len` payload bytes, refcount 1.  `binary`
 * picks the WebSocket opcode (2, else 1); `prefix` is a byte sent in front
 * of the payload, or WIRE_NO_PREFIX.  Fill it through wire_msg_data() before
 * the first send. */
wire_msg *wire_msg_new(int binary, int prefix, size_t len);
char *wire_msg_data(wire_msg *m);
size_t wire_msg_len(const wire_msg *m);
int wire_msg_binary(const wire_msg *m);
wire_msg *wire_msg_ref(wire_msg *m);
/* Drop one reference; sets *m to NULL. */
void wire_msg_unref(wire_msg **m);

/* Prefix (if any) and payload, contiguous. */
const char *wire_msg_packet(wire_msg *m, size_t *len);
/* The complete WebSocket frame (header + prefix + payload), framed on the
 * first call.  Do not modify the payload after it. */
const char *wire_msg_ws_frame(wire_msg *m, size_t *len);

/* Another encoding of the message made by the layer above (Engine.IO's
 * `b`+base64 for polling): cached with the message, freed with it.
 * wire_msg_alt returns NULL until one is set; wire_msg_set_alt takes
 * ownership of *p (malloc'd) and sets *p to NULL. */
const char *wire_msg_alt(const wire_msg *m, size_t *len);
void wire_msg_set_alt(wire_msg *m, char **p, size_t len);

/* Write an unmasked, final WebSocket frame header for `opcode` and payload
 * length `len` into out (up to 10 bytes).  Returns its size. */
size_t wire_ws_header(unsigned char out[10], int opcode, uint64_t len);

#endif
