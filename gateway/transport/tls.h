/* tls.h — TLS on the main listener (--tls-cert/--tls-key) with OpenSSL: a
 * certificate context that SIGHUP can replace, and an I/O shim so that
 * http.c reads and writes through tls_read()/tls_writev() exactly where it
 * used read()/writev().  A NULL tls_conn means a plain connection: the
 * shim then is read()/writev() itself.
 *
 * Defaults: TLS 1.2 minimum (1.3 preferred), OpenSSL's default cipher
 * lists, no compression, no renegotiation, session tickets on.  The
 * handshake is driven by the first tls_read() on a non-blocking socket; its
 * deadline is http.c's header timeout (a connection is on the `head` list
 * from accept).
 *
 * Errors follow read(2)/writev(2): -1 with errno EAGAIN when the socket
 * must become readable or writable first (tls_read_wants_write() /
 * tls_write_wants_read() say when the wait is for the OTHER direction), and
 * -1 with errno EPROTO after a TLS failure (logged here, with the address).
 *
 * Trust: the peer's bytes are untrusted; OpenSSL parses them.  The files
 * come from the operator.
 */
#ifndef IOGATE_TLS_H
#define IOGATE_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

/* Load a PEM certificate chain and its private key.  NULL with a message in
 * err if they cannot be read or do not match. */
tls_ctx *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);
/* Load the files again (SIGHUP): new connections use the new certificate,
 * open ones keep theirs.  On failure the old one stays; 0 or -1 (with err). */
int tls_ctx_reload(tls_ctx *t, const char *cert, const char *key, char *err, size_t errlen);
void tls_ctx_destroy(tls_ctx **t);

/* A server-side TLS connection on the accepted socket fd (not owned). */
tls_conn *tls_conn_new(tls_ctx *t, int fd, const char *addr);
void tls_conn_free(tls_conn **c);

/* read(2)/writev(2) through TLS; c == NULL: the plain calls. */
ssize_t tls_read(tls_conn *c, int fd, void *buf, size_t n);
ssize_t tls_writev(tls_conn *c, int fd, const struct iovec *iov, int iovcnt);
/* The last tls_read() returned EAGAIN but needs the socket writable. */
int tls_read_wants_write(const tls_conn *c);
/* The last tls_writev() returned EAGAIN but needs the socket readable. */
int tls_write_wants_read(const tls_conn *c);
/* Decrypted or received bytes wait inside OpenSSL: libev will not report
 * the socket readable for them. */
int tls_pending(const tls_conn *c);
/* 1 once the handshake is complete (and for c == NULL). */
int tls_handshake_done(const tls_conn *c);
/* Send close_notify (best effort, once) before the write side is shut. */
void tls_close_notify(tls_conn *c);

#endif
