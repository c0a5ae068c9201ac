/* eio_codec.h — Engine.IO v4 wire format, pure: packets, the polling
 * payload (packets joined by the record separator 0x1e, binary as
 * `b` + base64), and the Engine.IO view of the shared outgoing message
 * (eio_msg is transport/wire.h's wire_msg, with '4' in front of text).
 * Base64 and UTF-8 validation are base/b64.h and base/utf8.h.  No I/O, no
 * libev.
 *
 * Trust: every decoder here takes untrusted client bytes.
 */
#ifndef IOGATE_EIO_CODEC_H
#define IOGATE_EIO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct wire_msg eio_msg;

typedef enum {
    EIO_PKT_OPEN = 0,
    EIO_PKT_CLOSE = 1,
    EIO_PKT_PING = 2,
    EIO_PKT_PONG = 3,
    EIO_PKT_MESSAGE = 4,
    EIO_PKT_UPGRADE = 5,
    EIO_PKT_NOOP = 6,
} eio_pkt_type;

#define EIO_RS '\x1e' /* record separator between polling packets */

/* The error codes of an HTTP 400 {"code":N,"message":...} answer, as the
 * reference server numbers them (its Server.errors). */
typedef enum {
    EIO_ERR_UNKNOWN_TRANSPORT = 0,            /* "Transport unknown" */
    EIO_ERR_UNKNOWN_SID = 1,                  /* "Session ID unknown" */
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2,         /* "Bad handshake method" */
    EIO_ERR_BAD_REQUEST = 3,                  /* "Bad request" */
    EIO_ERR_FORBIDDEN = 4,                    /* "Forbidden" */
    EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5, /* "Unsupported protocol version" */
} eio_error_code;

/* Decode one text packet `<digit><data>`.  0 and type, data, dlen set, or
 * -1 (empty or unknown type).  *data points into `s`. */
int eio_packet_decode(const char *s, size_t len, int *type, const char **data, size_t *dlen);

/* --- resumable polling payload decoder ------------------------------------
 * Feed a POST body in chunks of any size (a chunk may end anywhere, even
 * inside a multi-byte UTF-8 character or a base64 quad); each complete
 * packet is handed to `cb` as soon as its separator (or the end of body) is
 * seen.  Text packets: `binary` 0, data without the type digit.  `b` packets:
 * type EIO_PKT_MESSAGE, `binary` 1, data base64-decoded.  A non-zero return
 * from cb stops decoding: feed/finish return that value.  Decoding errors
 * (empty record, unknown type, bad base64, invalid UTF-8) return -1. */
typedef int (*eio_payload_cb)(void *ud, int type, const char *data, size_t len, int binary);
typedef struct {
    eio_payload_cb cb;
    void *ud;
    char *buf; /* a record split across chunks, reused between bodies */
    size_t len, cap;
    unsigned char *scratch; /* base64 output, reused */
    size_t scratch_cap;
    int failed;
} eio_payload_dec;

void eio_payload_init(eio_payload_dec *d, eio_payload_cb cb, void *ud);
/* Start a new body (keeps the buffers). */
void eio_payload_reset(eio_payload_dec *d);
int eio_payload_feed(eio_payload_dec *d, const char *p, size_t n);
/* End of body: the last record has no separator after it. */
int eio_payload_finish(eio_payload_dec *d);
void eio_payload_free(eio_payload_dec *d);

/* --- outgoing messages (eio.h declares the public part) -------------------
 * An eio_msg is a wire_msg (wire.h) whose text payloads carry the packet
 * type '4' as their prefix byte, so "4<text>" is contiguous. */

/* The Engine.IO packet for polling: "4<text>" or "b<base64>" (computed once
 * and cached).  Do not modify the payload after the first call. */
const char *eio_msg_polling(eio_msg *m, size_t *len);
/* The complete WebSocket frame (header + "4<text>" or raw binary). */
const char *eio_msg_ws_frame(eio_msg *m, size_t *len);
int eio_msg_binary(const eio_msg *m);

/* --- Engine.IO protocol v3 (--allow-eio3), pure --------------------------
 * socket.io-client 2.x speaks v3.  Its polling payload is length-prefixed
 * instead of separated: text `<n>:<packet>` where n counts the packet's
 * UTF-16 code units (JavaScript's String.length, as the reference counts
 * them: a character outside the BMP is 2), binary as `b4<base64>`; or, for
 * XHR2 clients when binary is involved, the binary payload
 *   (0 | 1) <length as decimal digit bytes 0..9> 0xff <bytes>
 * per packet, 0 for a text packet (UTF-8, length in bytes) and 1 for a
 * binary one (its first byte the packet type 4).  On WebSocket a binary
 * message carries that 0x04 type byte in front of its data. */

/* UTF-16 code units of well-formed UTF-8 `s` (4-byte sequences count 2). */
size_t eio_utf16_len(const char *s, size_t len);
/* "<units>:" into out (at most 21 bytes, no NUL); returns its length. */
size_t eio3_text_prefix(char out[24], size_t units);
/* (0|1) digits 0xff into out (at most 22 bytes); returns its length. */
size_t eio3_bin_prefix(unsigned char out[24], int binary, size_t len);

/* Decode one v3 WebSocket message (or one record of a polling payload).
 * binary_frame: a WebSocket binary frame, whose first byte is the type.
 * Text `b4<base64>` is a binary message.  0 with *type, *data, *dlen,
 * *binary set (*data may point into *scratch, grown as needed), or -1:
 * empty, unknown type, bad base64, a binary packet that is not a message,
 * or invalid UTF-8 in a text packet. */
int eio3_packet_decode(int binary_frame, const char *p, size_t n, int *type, const char **data,
                       size_t *dlen, int *binary, unsigned char **scratch, size_t *scratch_cap);

/* Resumable v3 payload decoder, same contract as eio_payload_dec (the
 * callback gets each packet as soon as it is complete; chunks may end
 * anywhere).  `binary_body`: the POST said Content-Type:
 * application/octet-stream (the binary payload above).  Empty records
 * (`0:`) are skipped as by the reference; an empty body, a length that is
 * not plain digits (at most 9 of them), a length that ends inside a
 * character, or a truncated record return -1. */
typedef struct {
    eio_payload_cb cb;
    void *ud;
    int binary_body;
    int st;   /* 0 length / kind byte, 1 length digits (binary), 2 data */
    int kind; /* binary body: 0 text record, 1 binary record */
    unsigned ndigits;
    size_t want, units; /* text: UTF-16 units wanted / seen; binary: bytes */
    unsigned pending;   /* UTF-8 continuation bytes still due */
    size_t records;
    char *buf;
    size_t len, cap;
    unsigned char *scratch;
    size_t scratch_cap;
    int failed;
} eio3_payload_dec;

void eio3_payload_init(eio3_payload_dec *d, eio_payload_cb cb, void *ud);
void eio3_payload_reset(eio3_payload_dec *d, int binary_body);
int eio3_payload_feed(eio3_payload_dec *d, const char *p, size_t n);
int eio3_payload_finish(eio3_payload_dec *d);
void eio3_payload_free(eio3_payload_dec *d);

#endif
