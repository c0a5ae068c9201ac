/* utf8.h — the one UTF-8 validator of the gateway (Engine.IO text packets,
 * WebSocket text frames, JSON strings, Socket.IO namespaces).  Pure.
 *
 * Trust: the input is untrusted client or worker bytes.
 */
#ifndef IOGATE_UTF8_H
#define IOGATE_UTF8_H

#include <stddef.h>

/* 1 if `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
 * else 0.  NUL bytes are valid UTF-8; callers that refuse them say so.
 * `s` may be NULL when len is 0. */
int utf8_valid(const char *s, size_t len);

#endif
