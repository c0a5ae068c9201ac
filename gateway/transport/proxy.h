/* proxy.h — who the client is when the gateway sits behind reverse proxies
 * it trusts (--trust-proxy): the trust list and the X-Forwarded-For /
 * X-Forwarded-Proto rule.  Pure: no I/O, no libev.
 *
 * The rule.  Only when the direct peer matches the trust list are the
 * headers read at all; otherwise the client is the peer, whatever the
 * headers claim.  X-Forwarded-For is walked from the right (the entry the
 * nearest proxy appended) to the left, skipping entries that are trusted
 * proxies themselves: the first untrusted entry is the client.  Everything
 * to its left was written by parties we do not trust and is never used, so
 * a client cannot pick its own address by sending the header.  If every
 * entry is trusted, the left-most is the client.  A malformed entry stops
 * the walk: the last address trusted so far (the peer or a trusted hop)
 * is used.  Several X-Forwarded-For headers count as one list, in order.
 * X-Forwarded-Proto: the right-most value (what the nearest trusted proxy
 * said); "https" means secure.
 *
 * Trust: `spec` strings come from the operator (validated); addresses and
 * header values come from the network.
 */
#ifndef IOGATE_PROXY_H
#define IOGATE_PROXY_H

#include <stddef.h>

#include "http.h"

/* A --trust-proxy value: an IPv4/IPv6 address, ADDR/BITS, or "loopback"
 * (127.0.0.0/8 and ::1).  0 if valid, -1 if not. */
int proxy_trust_check(const char *spec);

/* 1 if the textual address `addr` matches one of the NULL-terminated
 * `specs` (NULL: none), else 0.  IPv4-mapped IPv6 addresses match as IPv4. */
int proxy_trust_match(const char *const *specs, const char *addr);

/* The client's address and scheme for a request from `peer` (itself secure
 * or not, e.g. HTTPS from a FastCGI web server) with these headers (names
 * lower-cased).  Writes the address (NUL-terminated, truncated to addrlen)
 * and *secure. */
void proxy_resolve(const char *const *trusted, const char *peer, int peer_secure,
                   const http_field *headers, size_t n_headers, char *addr, size_t addrlen,
                   int *secure);

#endif
