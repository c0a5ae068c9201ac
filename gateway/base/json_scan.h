/* json_scan.h — a one-pass validating scanner for the JSON text of a
 * Socket.IO packet's data, without building a tree.
 *
 * Pure: a function over a buffer; no allocation, no recursion, no libev or
 * ZeroMQ.  Input trust: hostile (worker output, PROTOCOL.md rule 30a, and
 * client payloads: sio_decode() in sio_codec.c).  The prefix is jscan_
 * because json_ is jansson's.
 *
 * What passes is exactly what the gateway's jansson calls accept (RFC 8259:
 * strict grammar, UTF-8 with no overlongs, surrogates or code points above
 * U+10FFFF, no raw control characters in strings, no lone \uD800-\uDFFF
 * escapes, no \u0000 — jansson without JSON_ALLOW_NUL), with three
 * differences, each covered by fuzz/fuzz_json_scan.c:
 *  - numbers are checked by grammar only: 1e400 and 2^64 pass (JSON.parse
 *    reads Infinity or a double; jansson reports an overflow);
 *  - repeated keys (jansson and JSON.parse keep the last one): every
 *    member is checked, so a placeholder or a deep value that a later
 *    repeated key would hide still counts, and a placeholder object must
 *    have exactly one "_placeholder" and one "num" key;
 *  - a NUL byte is refused wherever it is (jansson 2.14 skips one that
 *    follows a number: "[1\0]" loads; JSON.parse refuses it).
 * Socket.IO rules on top of JSON, as the official client's decoder applies
 * them (socket.io-parser: an EVENT's name is a string and not reserved, and
 * every object with "_placeholder":true is a valid attachment reference, or
 * the client closes the whole connection):
 *  - the shape of the top-level value (jscan_top);
 *  - nesting: at most max_depth arrays/objects, the top-level one counting 1
 *    (the count sio_codec.c and ipc_check_placeholders() use);
 *  - placeholders {"_placeholder":true,"num":k}, keys in any order (escaped
 *    key spellings included): k an integer, 0 <= k < n_att, every one of the
 *    n_att attachments referenced (two placeholders may share one), and any
 *    other object with a "_placeholder" key refused.
 */
#ifndef IOGATE_JSON_SCAN_H
#define IOGATE_JSON_SCAN_H

#include <stddef.h>

#define JSCAN_MAX_DEPTH 10000      /* --max-depth's upper bound (config.c) */
#define JSCAN_MAX_ATTACHMENTS 1024 /* more is always refused (IPC_MAX_FRAMES) */

typedef enum {
    JSCAN_ANY = 0, /* any JSON value */
    JSCAN_ARRAY,   /* an array: ACK arguments */
    JSCAN_EVENT,   /* an array whose first element is a string that is not a
                    * reserved event name (connect, connect_error,
                    * disconnect, disconnecting, newListener, removeListener) */
    JSCAN_OBJECT,  /* an object: CONNECT auth */
} jscan_top;

typedef struct {
    jscan_top top;
    int max_depth;  /* 1..JSCAN_MAX_DEPTH; larger values are taken as the cap */
    size_t n_att;   /* attachments that travel with the text */
    size_t max_att; /* n_att above this (or above JSCAN_MAX_ATTACHMENTS) is refused */
} jscan_opts;

typedef struct {
    size_t placeholders; /* placeholder objects in the text */
    size_t err_off;      /* on failure: offset of the byte the scan stopped at */
} jscan_result;

/* Check that buf[0..len) is one JSON value (surrounding whitespace allowed)
 * meeting `o`.  0 when it does; -1 with *why set to a static explanation and
 * r->err_off to where it went wrong.  `r` and `why` may be NULL. */
int jscan_check(const char *buf, size_t len, const jscan_opts *o, jscan_result *r,
                const char **why);

#endif
