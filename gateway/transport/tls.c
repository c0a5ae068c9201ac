/* tls.c — OpenSSL server contexts and the read/writev shim.  See tls.h. */
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

struct tls_ctx {
    SSL_CTX *cur; /* new connections; each SSL holds its own reference */
};

struct tls_conn {
    SSL *ssl;
    int fd;
    unsigned peeked : 1;   /* the first byte was checked for plain HTTP */
    unsigned read_ww : 1;  /* last read wants the socket writable */
    unsigned write_wr : 1; /* last write wants the socket readable */
    unsigned failed : 1;   /* a TLS error: nothing more goes through */
    unsigned shut : 1;     /* close_notify sent */
    char addr[64];
};

/* OpenSSL's queued errors as one line (and the queue emptied). */
static void ssl_errors(char *out, size_t outlen)
{
    unsigned long e;
    size_t n = 0;
    out[0] = 0;
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        if (n < outlen) n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? "; " : "", one);
    }
    if (!out[0]) snprintf(out, outlen, "unknown error");
}

static SSL_CTX *load(const char *cert, const char *key, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char why[512];
    if (!ctx) {
        ssl_errors(why, sizeof why);
        snprintf(err, errlen, "TLS: cannot create a context: %s", why);
        return NULL;
    }
    /* TLS 1.2 and 1.3 with OpenSSL's default cipher lists for each; no
     * compression (CRIME); no renegotiation asked by a client (a cheap way
     * to make the server do handshakes); session tickets stay on.  A peer
     * that closes TCP without close_notify is an ordinary EOF: browsers do. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* PARTIAL_WRITE: a write reports each record sent, like writev's short
     * count.  ACCEPT_MOVING: a retried write comes from the output queue,
     * whose buffer may have been reallocated since.  RELEASE_BUFFERS: an
     * idle connection holds no 16 KiB record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    const char *what = cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) goto fail;
    what = key;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) goto fail;
    what = "the key does not match the certificate";
    if (SSL_CTX_check_private_key(ctx) != 1) goto fail;
    return ctx;
fail:
    ssl_errors(why, sizeof why);
    snprintf(err, errlen, "TLS: %s: %s", what, why);
    SSL_CTX_free(ctx);
    return NULL;
}

tls_ctx *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = load(cert, key, err, errlen);
    if (!ctx) return NULL;
    tls_ctx *t = xcalloc(1, sizeof *t);
    t->cur = ctx;
    return t;
}

int tls_ctx_reload(tls_ctx *t, const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = load(cert, key, err, errlen);
    if (!ctx) return -1;
    SSL_CTX_free(t->cur); /* open connections hold their own reference */
    t->cur = ctx;
    return 0;
}

void tls_ctx_destroy(tls_ctx **tp)
{
    tls_ctx *t = *tp;
    if (!t) return;
    *tp = NULL;
    SSL_CTX_free(t->cur);
    free(t);
}

tls_conn *tls_conn_new(tls_ctx *t, int fd, const char *addr)
{
    SSL *ssl = SSL_new(t->cur);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        /* the only way SSL_new fails with a valid context: the same
         * policy as xmalloc (util.h) */
        fprintf(stderr, "iogate: out of memory creating a TLS connection\n");
        abort();
    }
    SSL_set_accept_state(ssl);
    tls_conn *c = xcalloc(1, sizeof *c);
    c->ssl = ssl;
    c->fd = fd;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    return c;
}

void tls_conn_free(tls_conn **cp)
{
    tls_conn *c = *cp;
    if (!c) return;
    *cp = NULL;
    SSL_free(c->ssl);
    free(c);
}

/* The first byte of a TLS connection is 0x16 (a handshake record).  A
 * letter means someone spoke plain HTTP to the TLS port: like nginx, answer
 * 400 in plain text so a person using http:// sees why, then close.
 * Anything else is closed at once.  1 = TLS, 0 = not yet known, -1 = closed
 * (errno EPROTO), -2 = EOF. */
static int check_first_byte(tls_conn *c)
{
    unsigned char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK);
    if (n == 0) return -2;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    c->peeked = 1;
    if (b == 0x16) return 1;
    c->failed = 1;
    if (b >= 'A' && b <= 'Z') {
        static const char resp[] =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 51\r\n"
            "Connection: close\r\n\r\n"
            "400 Bad Request: plain HTTP sent to the HTTPS port\n";
        char sink[4096];
        /* read what came, so closing does not reset the answer away */
        for (int i = 0; i < 16 && recv(c->fd, sink, sizeof sink, 0) > 0; i++)
            ;
        ssize_t w = write(c->fd, resp, sizeof resp - 1);
        (void)w;
        shutdown(c->fd, SHUT_WR);
        log_info("plain HTTP request from %s on the TLS port: answered 400, closing", c->addr);
    } else {
        log_info("connection from %s is not TLS (first byte 0x%02x): closing", c->addr, b);
    }
    errno = EPROTO;
    return -1;
}

static void fail_log(tls_conn *c, const char *op)
{
    char why[512];
    ssl_errors(why, sizeof why);
    c->failed = 1;
    log_info("TLS %s from %s failed: %s", SSL_is_init_finished(c->ssl) ? op : "handshake", c->addr,
             why);
}

ssize_t tls_read(tls_conn *c, int fd, void *buf, size_t n)
{
    if (!c) return read(fd, buf, n);
    c->read_ww = 0;
    if (c->failed) {
        errno = EPROTO;
        return -1;
    }
    if (!c->peeked) {
        int k = check_first_byte(c);
        if (k == -2) return 0;
        if (k == 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) errno = EAGAIN;
            return -1;
        }
        if (k < 0) return -1;
    }
    /* Fill the buffer as read() would (one record is at most 16 KiB), so
     * that a short count still means "the socket is drained". */
    size_t total = 0;
    while (total < n) {
        size_t want = n - total > INT_MAX ? INT_MAX : n - total;
        ERR_clear_error();
        int r = SSL_read(c->ssl, (char *)buf + total, (int)want);
        if (r > 0) {
            total += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        int saved = errno;
        if (total) {
            if (e == SSL_ERROR_WANT_WRITE) c->read_ww = 1;
            if (e == SSL_ERROR_SSL) fail_log(c, "read");
            return (ssize_t)total; /* a later call reports EOF or the error */
        }
        switch (e) {
        case SSL_ERROR_WANT_WRITE:
            c->read_ww = 1; /* fall through */
        case SSL_ERROR_WANT_READ:
            errno = EAGAIN;
            return -1;
        case SSL_ERROR_ZERO_RETURN:
            return 0; /* close_notify (or EOF, see load) */
        case SSL_ERROR_SYSCALL:
            ERR_clear_error();
            if (!saved) return 0;
            errno = saved;
            return -1;
        default:
            fail_log(c, "read");
            errno = EPROTO;
            return -1;
        }
    }
    return (ssize_t)total;
}

ssize_t tls_writev(tls_conn *c, int fd, const struct iovec *iov, int iovcnt)
{
    if (!c) return writev(fd, iov, iovcnt);
    /* One record per call: small pieces (a response head, then its body)
     * are gathered into one record here rather than sent as several.  The
     * shared buffer is enough because a retried write starts with the same
     * bytes (the queue's front) and is never shorter. */
    static char gather[16384];
    c->write_wr = 0;
    if (c->failed || c->shut) {
        errno = EPIPE;
        return -1;
    }
    const void *p = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    if (iovcnt > 1 && len < sizeof gather) {
        len = 0;
        for (int i = 0; i < iovcnt && len < sizeof gather; i++) {
            size_t k = iov[i].iov_len < sizeof gather - len ? iov[i].iov_len : sizeof gather - len;
            memcpy(gather + len, iov[i].iov_base, k);
            len += k;
        }
        p = gather;
    }
    if (len > INT_MAX) len = INT_MAX;
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, (int)len);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    int saved = errno;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->write_wr = 1; /* fall through */
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        errno = saved ? saved : EPIPE;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        errno = EPIPE;
        return -1;
    default:
        fail_log(c, "write");
        errno = EPROTO;
        return -1;
    }
}

int tls_read_wants_write(const tls_conn *c)
{
    return c && c->read_ww;
}
int tls_write_wants_read(const tls_conn *c)
{
    return c && c->write_wr;
}

int tls_pending(const tls_conn *c)
{
    return c && !c->failed && (SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl));
}

int tls_handshake_done(const tls_conn *c)
{
    return !c || SSL_is_init_finished(c->ssl);
}

void tls_close_notify(tls_conn *c)
{
    if (!c || c->shut || c->failed || !SSL_is_init_finished(c->ssl)) return;
    c->shut = 1;
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* one try: we do not wait for the peer's */
    ERR_clear_error();
}
