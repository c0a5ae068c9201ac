/* test_tls.c — the TLS shim (tls.h) over a socketpair against an OpenSSL
 * client: loading and reloading certificates (a bad one keeps the old),
 * the non-blocking handshake, tls_writev's short writes and EAGAIN with
 * tiny socket buffers (retried with the same, then a longer, front of the
 * queue as http.c does), tls_read filling the buffer, EOF by close_notify,
 * plain HTTP answered 400, and the plain fallback (NULL conn). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

static char g_dir[64];

/* A self-signed P-256 certificate and its key as PEM files dir/name.{crt,key}. */
static void make_cert(const char *name, char *crt, char *key)
{
    snprintf(crt, 128, "%s/%s.crt", g_dir, name);
    snprintf(key, 128, "%s/%s.key", g_dir, name);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(pk);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *f = fopen(crt, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

typedef struct {
    tls_ctx *ctx;
    tls_conn *srv;
    SSL_CTX *cctx;
    SSL *cli;
    int sfd, cfd;
} pair;

static void pair_open(pair *p, const char *crt, const char *key, int small)
{
    char err[512];
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    p->sfd = sv[0];
    p->cfd = sv[1];
    if (small) { /* tiny buffers: writes come back short or EAGAIN */
        int sz = 4096;
        setsockopt(p->sfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        setsockopt(p->cfd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    nonblock(p->sfd);
    nonblock(p->cfd);
    p->ctx = tls_ctx_new(crt, key, err, sizeof err);
    assert_non_null(p->ctx);
    p->srv = tls_conn_new(p->ctx, p->sfd, "test");
    p->cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
    p->cli = SSL_new(p->cctx);
    SSL_set_fd(p->cli, p->cfd);
    SSL_set_connect_state(p->cli);
}

static void pair_close(pair *p)
{
    tls_conn_free(&p->srv);
    assert_null(p->srv);
    tls_ctx_destroy(&p->ctx);
    assert_null(p->ctx);
    SSL_free(p->cli);
    SSL_CTX_free(p->cctx);
    close(p->sfd);
    close(p->cfd);
}

/* Drive both ends until the handshake is done (the server through tls_read). */
static void handshake(pair *p)
{
    char b[16];
    for (int i = 0; i < 100 && !(tls_handshake_done(p->srv) && SSL_is_init_finished(p->cli)); i++) {
        SSL_do_handshake(p->cli);
        ssize_t n = tls_read(p->srv, p->sfd, b, sizeof b);
        assert_true(n < 0);
        assert_int_equal(errno, EAGAIN);
    }
    assert_true(tls_handshake_done(p->srv));
    assert_true(SSL_is_init_finished(p->cli));
}

static void test_load_and_reload(void **st)
{
    char crt[128], key[128], crt2[128], key2[128], err[512];
    make_cert("a", crt, key);
    make_cert("b", crt2, key2);
    assert_null(tls_ctx_new("/nonexistent.crt", key, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent.crt"));
    assert_null(tls_ctx_new(crt, key2, err, sizeof err)); /* key of another certificate */
    assert_non_null(strstr(err, "mismatch"));
    tls_ctx *t = tls_ctx_new(crt, key, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(tls_ctx_reload(t, crt2, key, err, sizeof err), -1); /* kept */
    assert_int_equal(tls_ctx_reload(t, crt2, key2, err, sizeof err), 0);
    tls_ctx_destroy(&t);
    assert_null(t);
}

static void test_round_trip(void **st)
{
    char crt[128], key[128];
    make_cert("rt", crt, key);
    pair p;
    pair_open(&p, crt, key, 1);
    handshake(&p);
    /* client → server: a request split over records, read in one call */
    char req[40000];
    for (size_t i = 0; i < sizeof req; i++)
        req[i] = (char)('a' + i % 26);
    size_t sent = 0, got = 0;
    static char in[65536];
    while (got < sizeof req) {
        if (sent < sizeof req) {
            int w = SSL_write(p.cli, req + sent, (int)(sizeof req - sent));
            if (w > 0) sent += (size_t)w;
        }
        ssize_t n = tls_read(p.srv, p.sfd, in + got, sizeof in - got);
        if (n > 0)
            got += (size_t)n;
        else
            assert_int_equal(errno, EAGAIN);
    }
    assert_memory_equal(in, req, sizeof req);
    /* a record read into a small buffer: the rest waits inside OpenSSL,
     * where no socket readiness will announce it (http.c feeds the event) */
    assert_int_equal(SSL_write(p.cli, req, 1000), 1000);
    ssize_t k;
    while ((k = tls_read(p.srv, p.sfd, in, 10)) < 0)
        assert_int_equal(errno, EAGAIN);
    assert_int_equal(k, 10);
    assert_true(tls_pending(p.srv));
    assert_int_equal(tls_read(p.srv, p.sfd, in + 10, sizeof in - 10), 990);
    assert_false(tls_pending(p.srv));
    assert_memory_equal(in, req, 1000);
    /* server → client through tiny buffers: short writes and EAGAIN; each
     * retry starts with what was not taken and is never shorter */
    static char out[300000], back[300000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)(i * 7);
    size_t off = 0, rd = 0;
    int eagain = 0;
    while (rd < sizeof out) {
        if (off < sizeof out) {
            size_t left = sizeof out - off;
            struct iovec iov[3] = {{out + off, left < 100 ? left : 100},
                                   {out + off + (left < 100 ? left : 100), 0},
                                   {NULL, 0}};
            iov[1].iov_len = left - iov[0].iov_len;
            ssize_t w = tls_writev(p.srv, p.sfd, iov, iov[1].iov_len ? 2 : 1);
            if (w > 0)
                off += (size_t)w;
            else {
                assert_int_equal(errno, EAGAIN);
                assert_false(tls_write_wants_read(p.srv));
                eagain++;
            }
        }
        int r = SSL_read(p.cli, back + rd, (int)(sizeof back - rd));
        if (r > 0) rd += (size_t)r;
    }
    assert_true(eagain > 0);
    assert_memory_equal(back, out, sizeof out);
    /* close_notify from the client: EOF */
    SSL_shutdown(p.cli);
    char b[16];
    assert_int_equal(tls_read(p.srv, p.sfd, b, sizeof b), 0);
    tls_close_notify(p.srv);
    tls_close_notify(p.srv); /* once */
    pair_close(&p);
}

static void test_plain_http_gets_400(void **st)
{
    char crt[128], key[128];
    make_cert("plain", crt, key);
    pair p;
    pair_open(&p, crt, key, 0);
    const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(p.cfd, get, sizeof get - 1), (ssize_t)(sizeof get - 1));
    char b[512];
    assert_int_equal(tls_read(p.srv, p.sfd, b, sizeof b), -1);
    assert_int_equal(errno, EPROTO);
    ssize_t n = read(p.cfd, b, sizeof b - 1);
    assert_true(n > 0);
    b[n] = 0;
    assert_non_null(strstr(b, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(b, "plain HTTP sent to the HTTPS port"));
    /* and it stays failed */
    assert_int_equal(tls_read(p.srv, p.sfd, b, sizeof b), -1);
    assert_int_equal(errno, EPROTO);
    pair_close(&p);
}

static void test_garbage_handshake(void **st)
{
    char crt[128], key[128];
    make_cert("junk", crt, key);
    pair p;
    pair_open(&p, crt, key, 0);
    const unsigned char junk[] = {0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5};
    assert_int_equal(write(p.cfd, junk, sizeof junk), (ssize_t)sizeof junk);
    char b[64];
    assert_int_equal(tls_read(p.srv, p.sfd, b, sizeof b), -1);
    assert_int_equal(errno, EPROTO);
    assert_false(tls_handshake_done(p.srv));
    assert_false(tls_pending(p.srv));
    struct iovec iov = {b, 1};
    assert_int_equal(tls_writev(p.srv, p.sfd, &iov, 1), -1);
    pair_close(&p);
}

static void test_plain_fallback(void **st)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    assert_int_equal(tls_writev(NULL, sv[0], iov, 2), 4);
    char b[8];
    assert_int_equal(tls_read(NULL, sv[1], b, sizeof b), 4);
    assert_memory_equal(b, "abcd", 4);
    assert_false(tls_pending(NULL));
    assert_false(tls_read_wants_write(NULL));
    assert_false(tls_write_wants_read(NULL));
    assert_true(tls_handshake_done(NULL));
    tls_close_notify(NULL);
    close(sv[0]);
    close(sv[1]);
}

static int setup(void **st)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/iogate-test-tls.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **st)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_reload),     cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_plain_http_gets_400), cmocka_unit_test(test_garbage_handshake),
        cmocka_unit_test(test_plain_fallback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
