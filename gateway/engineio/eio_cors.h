/* eio_cors.h — the CORS and cookie header lines of Engine.IO responses,
 * pure (no I/O), so the policy is unit-tested on its own:
 *  - no configured origins: no CORS headers at all;
 *  - "*" without credentials: `Access-Control-Allow-Origin: *`;
 *  - credentials: never "*" — the request Origin is echoed if allowed
 *    (any origin when "*" is configured), with Allow-Credentials and
 *    `Vary: Origin`;
 *  - a listed origin is echoed with `Vary: Origin`; others get nothing.
 * Trust: `origin` and `req_headers` are untrusted request header values;
 * overlong ones (> 1024 bytes) are ignored. */
#ifndef IOGATE_EIO_CORS_H
#define IOGATE_EIO_CORS_H

#include <stddef.h>

#include "eio.h"

/* Header lines ("Name: value\r\n"…) for a normal response; with cookie_sid
 * and cfg->cookie also the Set-Cookie line.  NUL-terminated in buf;
 * returns the length (truncated to cap - 1). */
size_t eio_cors_headers(const eio_config *cfg, const char *origin, const char *cookie_sid,
                        char *buf, size_t cap);
/* Header lines for an OPTIONS preflight answer (204). */
size_t eio_preflight_headers(const eio_config *cfg, const char *origin, const char *req_headers,
                             char *buf, size_t cap);

#endif
