/* pct.h — the gateway's one percent-decoder (URL paths, query strings).
 * Pure.  Trust: the input is untrusted client bytes.
 */
#ifndef IOGATE_PCT_H
#define IOGATE_PCT_H

#include <stddef.h>

enum {
    PCT_PLUS = 1,    /* '+' decodes to ' ' (query strings, not paths) */
    PCT_LENIENT = 2, /* a '%' not followed by two hex digits is kept as is (as
                        Node's querystring does), instead of failing */
};

/* Decode [p, p+n) into out (NUL-terminated).  Returns the decoded length,
 * or -1 if it does not fit in outlen - 1 bytes or (without PCT_LENIENT)
 * a '%' is malformed.  out may hold n + 1 bytes to always fit. */
long pct_decode(const char *p, size_t n, char *out, size_t outlen, int flags);

#endif
