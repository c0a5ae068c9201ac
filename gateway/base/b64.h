/* b64.h — base64 (standard alphabet, RFC 4648), backed by OpenSSL's EVP
 * block coder with the strictness it lacks added in front.  Pure.
 *
 * Trust: b64_decode takes untrusted client bytes.
 */
#ifndef IOGATE_B64_H
#define IOGATE_B64_H

#include <stddef.h>

/* Encoded size of n bytes, without NUL. */
size_t b64_len(size_t n);
/* Writes b64_len(n) chars (plus a NUL) to out. Returns that length. */
size_t b64_encode(const void *in, size_t n, char *out);
/* Strict decode: alphabet only, '=' padding only at the end (padding may be
 * omitted).  out needs (n/4+1)*3 bytes.  Returns the decoded length or -1. */
long b64_decode(const char *in, size_t n, unsigned char *out);

#endif
