/* client.c — one load-generator connection speaking Engine.IO v4 and
 * Socket.IO v5 over a WebSocket (RFC 6455 client side: masked frames) or
 * over HTTP long-polling, on libev.  Only what the scenarios need: connect
 * a namespace, answer pings, emit text events, and recognise events and
 * acks by their heads without parsing their JSON (the client must cost far
 * less than the server it measures).  Binary packets are counted as
 * protocol errors: the scenarios never ask for them. */
#include "bench.h"
#include "util.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

bconn_stats g_cstats;

static struct ev_loop *g_loop;
static bconn *g_dirty;          /* connections with output to flush */
static char g_rbuf[256 * 1024]; /* shared read buffer */
static uint8_t g_rand[4096];    /* pool of random bytes for frame masks */
static size_t g_rand_off = sizeof(g_rand);
static size_t g_src_next; /* round robin over source addresses */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void random_bytes(void *out, size_t n)
{
    uint8_t *o = out;
    while (n > 0) {
        if (g_rand_off == sizeof(g_rand)) {
            if (RAND_bytes(g_rand, sizeof(g_rand)) != 1) abort();
            g_rand_off = 0;
        }
        size_t k = sizeof(g_rand) - g_rand_off;
        if (k > n) k = n;
        memcpy(o, g_rand + g_rand_off, k);
        g_rand_off += k;
        o += k;
        n -= k;
    }
}

/* ------------------------------------------------------------------ */
/* Buffers */

static void bbuf_reserve(bbuf *b, size_t extra)
{
    if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return;
    if (b->off > 0) { /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void bbuf_add(bbuf *b, const void *p, size_t n)
{
    bbuf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void bbuf_drop(bbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------ */
/* Output */

static void mark_dirty(bconn *c)
{
    if (c->dirty) return;
    c->dirty = true;
    c->next_dirty = g_dirty;
    g_dirty = c;
}

/* A masked client frame (FIN set) holding the concatenation of parts. */
static void ws_frame(bconn *c, int opcode, const char *a, size_t alen, const char *b, size_t blen,
                     const char *d, size_t dlen)
{
    size_t n = alen + blen + dlen;
    bbuf_reserve(&c->out, n + 14);
    uint8_t *h = (uint8_t *)c->out.p + c->out.len;
    size_t hl = 2;
    h[0] = 0x80 | (uint8_t)opcode;
    if (n < 126) {
        h[1] = 0x80 | (uint8_t)n;
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    uint8_t mask[4];
    random_bytes(mask, 4);
    memcpy(h + hl, mask, 4);
    hl += 4;
    uint8_t *p = h + hl;
    if (alen) memcpy(p, a, alen);
    if (blen) memcpy(p + alen, b, blen);
    if (dlen) memcpy(p + alen + blen, d, dlen);
    /* Mask eight bytes at a time: the payload starts at an arbitrary
     * address, so go through memcpy (compiles to plain loads/stores). */
    uint64_t m8;
    uint8_t m[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
    memcpy(&m8, m, 8);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t v;
        memcpy(&v, p + k, 8);
        v ^= m8;
        memcpy(p + k, &v, 8);
    }
    for (; k < n; k++)
        p[k] ^= mask[k & 3];
    c->out.len += hl + n;
    g_cstats.msgs_out++;
    mark_dirty(c);
}

static void http_request(bconn *c, const char *method, const char *query, const char *body,
                         size_t body_len);

/* One Engine.IO message (text) on whichever transport. */
static void eio_send(bconn *c, const char *a, size_t alen, const char *b, size_t blen,
                     const char *d, size_t dlen)
{
    if (c->transport == BT_WEBSOCKET) {
        ws_frame(c, 1, a, alen, b, blen, d, dlen);
        return;
    }
    /* Polling: only the scenario's few short packets go this way. */
    char body[512];
    size_t n = alen + blen + dlen;
    if (n > sizeof(body)) return;
    /* memcpy with a NULL source is undefined even for 0 bytes (UBSan). */
    if (alen) memcpy(body, a, alen);
    if (blen) memcpy(body + alen, b, blen);
    if (dlen) memcpy(body + alen + blen, d, dlen);
    char q[128];
    snprintf(q, sizeof(q), "&sid=%s", c->sid);
    http_request(c, "POST", q, body, n);
    g_cstats.msgs_out++;
}

static void conn_fail(bconn *c, const char *why);

/* TLS targets: read(2)/write(2) through OpenSSL.  -1 with errno EAGAIN
 * when the socket must become readable or writable; both watchers are then
 * kept running and each retries the other direction (a handshake or a
 * write may need to read first, a read may need to write).  EPROTO for a
 * TLS failure. */
static ssize_t ssl_io(bconn *c, void *buf, size_t n, bool wr)
{
    if (!c->ssl) return wr ? write(c->fd, buf, n) : read(c->fd, buf, n);
    ERR_clear_error();
    int k = n > INT32_MAX ? INT32_MAX : (int)n;
    int r = wr ? SSL_write(c->ssl, buf, k) : SSL_read(c->ssl, buf, k);
    if (!wr) c->ssl_read_ww = false;
    if (r > 0) return r;
    int saved = errno;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_WRITE:
        if (!wr) c->ssl_read_ww = true;
        if (!ev_is_active(&c->wio)) ev_io_start(g_loop, &c->wio);
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        errno = saved ? saved : EPIPE;
        return saved ? -1 : 0;
    default:
        errno = EPROTO;
        return -1;
    }
}

static void try_write(bconn *c)
{
    while (c->out.off < c->out.len) {
        ssize_t w = ssl_io(c, c->out.p + c->out.off, c->out.len - c->out.off, true);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (c->ssl && SSL_want_read(c->ssl)) { /* on_read retries */
                    if (ev_is_active(&c->wio) && !c->ssl_read_ww) ev_io_stop(g_loop, &c->wio);
                    return;
                }
                if (!ev_is_active(&c->wio)) ev_io_start(g_loop, &c->wio);
                return;
            }
            conn_fail(c, strerror(errno));
            return;
        }
        c->out.off += (size_t)w;
        g_cstats.bytes_out += (uint64_t)w;
    }
    c->out.off = c->out.len = 0;
    if (ev_is_active(&c->wio) && !c->ssl_read_ww) ev_io_stop(g_loop, &c->wio);
}

void bconn_flush_all(void)
{
    while (g_dirty) {
        bconn *c = g_dirty;
        g_dirty = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        if (c->fd >= 0 && c->state != BC_TCP) try_write(c);
    }
}

/* ------------------------------------------------------------------ */
/* Closing */

static void conn_teardown(bconn *c)
{
    if (c->fd < 0) return;
    ev_io_stop(g_loop, &c->rio);
    ev_io_stop(g_loop, &c->wio);
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->ssl_read_ww = false;
    close(c->fd);
    c->fd = -1;
    c->in.off = c->in.len = 0;
    c->out.off = c->out.len = 0;
    c->msg.off = c->msg.len = 0;
}

static void conn_fail(bconn *c, const char *why)
{
    if (c->state == BC_CLOSED || c->state == BC_IDLE) return;
    conn_teardown(c);
    c->state = BC_CLOSED;
    g_cstats.conn_errors++;
    g_cstats.last_error = why;
    if (c->ops->closed) c->ops->closed(c, why, true);
}

static void conn_done(bconn *c)
{
    if (c->state == BC_CLOSED || c->state == BC_IDLE) return;
    conn_teardown(c);
    c->state = BC_CLOSED;
    if (c->ops->closed) c->ops->closed(c, "closed", false);
}

void bconn_close(bconn *c, bool now)
{
    if (c->state == BC_CLOSED || c->state == BC_IDLE || c->state == BC_CLOSING) return;
    if (!now && c->transport == BT_POLLING && c->sid[0] && c->state == BC_READY) {
        eio_send(c, "1", 1, NULL, 0, NULL, 0);
        c->state = BC_CLOSING;
        try_write(c);
        return;
    }
    if (!now && c->transport == BT_WEBSOCKET && c->state >= BC_EIO_OPEN) {
        static const char code[2] = {0x03, (char)0xe8}; /* 1000 normal closure */
        ws_frame(c, 8, code, 2, NULL, 0, NULL, 0);
        try_write(c);
    }
    conn_done(c);
}

void bconn_free(bconn *c)
{
    conn_teardown(c);
    bbuf_drop(&c->in);
    bbuf_drop(&c->out);
    bbuf_drop(&c->msg);
}

/* ------------------------------------------------------------------ */
/* Socket.IO */

/* The namespace of the current target: kept static, every connection of a
 * run uses the same one. */
static const bench_target *g_target;

static void send_sio_connect(bconn *c)
{
    if (g_target->nsp_len == 1)
        eio_send(c, "40", 2, NULL, 0, NULL, 0);
    else
        eio_send(c, "40", 2, g_target->nsp, g_target->nsp_len, ",", 1);
    c->state = BC_SIO_WAIT;
}

void bconn_emit(bconn *c, const char *event, const char *args, size_t args_len, int64_t ack_id)
{
    char head[256];
    size_t n = 0;
    head[n++] = '4';
    head[n++] = '2';
    if (g_target->nsp_len > 1) {
        memcpy(head + n, g_target->nsp, g_target->nsp_len);
        n += g_target->nsp_len;
        head[n++] = ',';
    }
    if (ack_id >= 0) n += (size_t)snprintf(head + n, 24, "%lld", (long long)ack_id);
    head[n++] = '[';
    head[n++] = '"';
    size_t el = strlen(event);
    if (el > 100) el = 100;
    memcpy(head + n, event, el);
    n += el;
    head[n++] = '"';
    if (args_len) head[n++] = ',';
    eio_send(c, head, n, args, args_len, "]", 1);
}

/* One Socket.IO packet (the text after the Engine.IO '4'). */
static void sio_packet(bconn *c, const char *p, size_t n)
{
    if (n < 1) goto bad;
    char type = p[0];
    size_t i = 1;
    /* namespace */
    const char *nsp = "/";
    size_t nsp_len = 1;
    if (i < n && p[i] == '/') {
        size_t j = i;
        while (j < n && p[j] != ',')
            j++;
        if (j == n) {
            nsp = p + i;
            nsp_len = j - i;
            i = j;
        } else {
            nsp = p + i;
            nsp_len = j - i;
            i = j + 1;
        }
    }
    if (nsp_len != g_target->nsp_len || memcmp(nsp, g_target->nsp, nsp_len) != 0) goto bad;
    int64_t id = -1;
    if (i < n && p[i] >= '0' && p[i] <= '9') {
        id = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9' && id < (INT64_MAX - 9) / 10)
            id = id * 10 + (p[i++] - '0');
    }
    switch (type) {
    case '0':
        if (c->state == BC_SIO_WAIT) {
            c->state = BC_READY;
            if (c->ops->ready) c->ops->ready(c);
        }
        return;
    case '1':
        conn_fail(c, "server disconnected the namespace");
        return;
    case '4':
        conn_fail(c, "connect_error");
        return;
    case '2': {
        /* ["name", …] — the name is a JSON string; ours have no escapes. */
        if (i + 2 > n || p[i] != '[' || p[i + 1] != '"') goto bad;
        size_t s = i + 2, e = s;
        while (e < n && p[e] != '"')
            e++;
        if (e == n) goto bad;
        if (c->ops->event) c->ops->event(c, p + s, e - s, p, n, id);
        return;
    }
    case '3':
        if (id < 0) goto bad;
        if (c->ops->ack) c->ops->ack(c, id);
        return;
    default:
        goto bad;
    }
bad:
    g_cstats.proto_errors++;
}

/* One Engine.IO packet. */
static void eio_packet(bconn *c, const char *p, size_t n)
{
    g_cstats.msgs_in++;
    if (n < 1) {
        g_cstats.proto_errors++;
        return;
    }
    switch (p[0]) {
    case '0': /* open */
        if (c->state == BC_EIO_OPEN) send_sio_connect(c);
        return;
    case '1':
        conn_fail(c, "engine.io close");
        return;
    case '2': /* ping → pong with the same payload */
        g_cstats.pings++;
        eio_send(c, "3", 1, p + 1, n - 1, NULL, 0);
        return;
    case '4':
        sio_packet(c, p + 1, n - 1);
        return;
    case '6':
        return;
    default:
        g_cstats.proto_errors++;
    }
}

/* ------------------------------------------------------------------ */
/* WebSocket frames from the server */

/* Parse frames from buf[0..len); returns bytes consumed (a partial frame
 * is left), or -1 on a protocol error / the connection closed. */
static ssize_t ws_input(bconn *c, uint8_t *buf, size_t len)
{
    size_t off = 0;
    uint64_t gen = c->gen;
    while (len - off >= 2) {
        uint8_t *h = buf + off;
        int fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (len - off < 4) break;
            plen = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | h[2 + i];
            hl = 10;
        }
        if (plen > (64u << 20)) {
            conn_fail(c, "websocket frame too large");
            return -1;
        }
        if (masked) hl += 4;
        if (len - off < hl + plen) break;
        uint8_t *p = h + hl;
        if (masked)
            for (uint64_t i = 0; i < plen; i++)
                p[i] ^= h[hl - 4 + (i & 3)];
        off += hl + (size_t)plen;
        switch (op) {
        case 0x0: /* continuation */
        case 0x1:
        case 0x2:
            if (op != 0 && c->msg.len == 0) c->msg_op = op;
            if (fin && c->msg.len == 0) {
                if (op == 0x2 || (op == 0 && c->msg_op == 2))
                    g_cstats.proto_errors++;
                else
                    eio_packet(c, (const char *)p, (size_t)plen);
            } else {
                bbuf_add(&c->msg, p, (size_t)plen);
                if (fin) {
                    if (c->msg_op == 2)
                        g_cstats.proto_errors++;
                    else
                        eio_packet(c, c->msg.p, c->msg.len);
                    c->msg.len = c->msg.off = 0;
                }
            }
            break;
        case 0x8:
            conn_done(c);
            return -1;
        case 0x9: /* ping → pong */
            ws_frame(c, 0xA, (const char *)p, (size_t)plen, NULL, 0, NULL, 0);
            break;
        case 0xA:
            break;
        default:
            conn_fail(c, "bad websocket opcode");
            return -1;
        }
        if (c->gen != gen || c->fd < 0) return -1; /* closed by a callback */
    }
    return (ssize_t)off;
}

/* ------------------------------------------------------------------ */
/* HTTP (upgrade and polling) */

static int on_hdr_field(http_parser *hp, const char *at, size_t n)
{
    bconn *c = hp->data;
    c->hdr_accept = n == 20 && strncasecmp(at, "Sec-WebSocket-Accept", 20) == 0;
    return 0;
}

static int on_hdr_value(http_parser *hp, const char *at, size_t n)
{
    bconn *c = hp->data;
    if (c->hdr_accept) c->accept_ok = n == strlen(c->ws_accept) && memcmp(at, c->ws_accept, n) == 0;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    bconn *c = hp->data;
    bbuf_add(&c->msg, at, n);
    return 0;
}

static int on_complete(http_parser *hp)
{
    bconn *c = hp->data;
    c->http_done = 1;
    return 0;
}

static const http_parser_settings g_http_settings = {
    .on_header_field = on_hdr_field,
    .on_header_value = on_hdr_value,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static void http_request(bconn *c, const char *method, const char *query, const char *body,
                         size_t body_len)
{
    char head[1024];
    int n;
    if (body)
        n = snprintf(head, sizeof(head),
                     "%s %s?EIO=4&transport=polling%s HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n",
                     method, g_target->path, query, g_target->hostport, body_len);
    else
        n = snprintf(head, sizeof(head),
                     "%s %s?EIO=4&transport=polling%s HTTP/1.1\r\nHost: %s\r\n\r\n", method,
                     g_target->path, query, g_target->hostport);
    bbuf_add(&c->out, head, (size_t)n);
    if (body) bbuf_add(&c->out, body, body_len);
    http_parser_init(&c->hp, HTTP_RESPONSE);
    c->hp.data = c;
    c->http_done = 0;
    c->poll_post = body != NULL;
    c->msg.len = c->msg.off = 0;
    mark_dirty(c);
}

static void ws_request(bconn *c)
{
    uint8_t key[16];
    char key64[32];
    random_bytes(key, sizeof(key));
    EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
    char cat[96];
    int kn = snprintf(cat, sizeof(cat), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key64);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((unsigned char *)cat, (size_t)kn, sha);
    EVP_EncodeBlock((unsigned char *)c->ws_accept, sha, SHA_DIGEST_LENGTH);
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "GET %s?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     g_target->path, g_target->hostport, key64);
    bbuf_add(&c->out, head, (size_t)n);
    http_parser_init(&c->hp, HTTP_RESPONSE);
    c->hp.data = c;
    c->http_done = 0;
    c->accept_ok = 0;
    c->msg.len = c->msg.off = 0;
    mark_dirty(c);
}

/* A complete polling response: act on it by state. */
static void polling_response(bconn *c)
{
    if (c->hp.status_code != 200) {
        conn_fail(c, "polling: HTTP status not 200");
        return;
    }
    const char *b = c->msg.p ? c->msg.p : "";
    size_t n = c->msg.len;
    char q[128];
    if (c->state == BC_CLOSING) {
        conn_done(c);
        return;
    }
    if (c->sid[0] == 0) { /* handshake: 0{"sid":"…",…} */
        const char *s = n > 1 && b[0] == '0' ? memmem(b, n, "\"sid\":\"", 7) : NULL;
        if (!s) {
            conn_fail(c, "polling: no sid in handshake");
            return;
        }
        s += 7;
        size_t k = 0;
        while (s + k < b + n && s[k] != '"' && k < sizeof(c->sid) - 1)
            k++;
        memcpy(c->sid, s, k);
        c->sid[k] = 0;
        g_cstats.msgs_in++;
        send_sio_connect(c); /* POST 40 */
        return;
    }
    if (c->poll_post) {
        /* our POST was taken: poll for the answer */
        snprintf(q, sizeof(q), "&sid=%s", c->sid);
        http_request(c, "GET", q, NULL, 0);
        return;
    }
    /* a GET's payload: packets separated by 0x1e */
    size_t i = 0;
    uint64_t gen = c->gen;
    while (i <= n && c->gen == gen && c->fd >= 0) {
        const char *e = memchr(b + i, 0x1e, n - i);
        size_t end = e ? (size_t)(e - b) : n;
        if (end > i) eio_packet(c, b + i, end - i);
        if (!e) break;
        i = end + 1;
    }
    if (c->gen == gen && c->fd >= 0 && c->state == BC_SIO_WAIT && !c->out.len) {
        snprintf(q, sizeof(q), "&sid=%s", c->sid);
        http_request(c, "GET", q, NULL, 0);
    }
}

/* Feed bytes to the HTTP parser; returns bytes consumed or -1. */
static ssize_t http_input(bconn *c, uint8_t *buf, size_t len)
{
    size_t used = http_parser_execute(&c->hp, &g_http_settings, (const char *)buf, len);
    if (c->hp.http_errno != HPE_OK) {
        conn_fail(c, http_errno_name(HTTP_PARSER_ERRNO(&c->hp)));
        return -1;
    }
    if (c->transport == BT_WEBSOCKET) {
        if (!c->hp.upgrade && !c->http_done) return (ssize_t)used;
        if (c->hp.status_code != 101 || !c->accept_ok) {
            conn_fail(c, "websocket upgrade refused");
            return -1;
        }
        c->state = BC_EIO_OPEN;
        c->msg.len = c->msg.off = 0;
        return (ssize_t)used;
    }
    if (c->http_done) {
        uint64_t gen = c->gen;
        polling_response(c);
        if (c->gen != gen || c->fd < 0) return -1;
    }
    return (ssize_t)used;
}

/* ------------------------------------------------------------------ */
/* I/O */

static ssize_t consume(bconn *c, uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t k;
        if (c->state == BC_HTTP || (c->transport == BT_POLLING && c->fd >= 0))
            k = http_input(c, buf + off, len - off);
        else
            k = ws_input(c, buf + off, len - off);
        if (k < 0) return -1;
        if (k == 0) break;
        off += (size_t)k;
        if (c->transport == BT_POLLING && c->http_done) break; /* the rest is garbage */
    }
    return (ssize_t)off;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    bconn *c = (bconn *)((char *)w - offsetof(bconn, rio));
    /* TLS: a write waiting for the handshake (or for a read) goes now */
    if (c->ssl && c->out.off < c->out.len) {
        uint64_t gen = c->gen;
        try_write(c);
        if (c->gen != gen || c->fd < 0) return;
    }
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t r = ssl_io(c, g_rbuf, sizeof(g_rbuf), false);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            conn_fail(c, strerror(errno));
            return;
        }
        if (r == 0) {
            if (c->state == BC_CLOSING)
                conn_done(c);
            else
                conn_fail(c, "connection closed by server");
            return;
        }
        g_cstats.bytes_in += (uint64_t)r;
        uint64_t gen = c->gen;
        ssize_t k;
        if (c->in.len == c->in.off) {
            k = consume(c, (uint8_t *)g_rbuf, (size_t)r);
            if (k < 0 || c->gen != gen || c->fd < 0) return;
            c->in.off = c->in.len = 0;
            if ((size_t)k < (size_t)r) bbuf_add(&c->in, g_rbuf + k, (size_t)r - (size_t)k);
        } else {
            bbuf_add(&c->in, g_rbuf, (size_t)r);
            k = consume(c, (uint8_t *)c->in.p + c->in.off, c->in.len - c->in.off);
            if (k < 0 || c->gen != gen || c->fd < 0) return;
            c->in.off += (size_t)k;
        }
        if ((size_t)r < sizeof(g_rbuf) && !(c->ssl && SSL_pending(c->ssl) > 0)) break;
    }
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    bconn *c = (bconn *)((char *)w - offsetof(bconn, wio));
    if (c->state == BC_TCP) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            conn_fail(c, strerror(err));
            return;
        }
        c->state = BC_HTTP;
        ev_io_start(g_loop, &c->rio);
    }
    if (c->ssl_read_ww) on_read(loop, &c->rio, EV_READ);
    if (c->fd >= 0) try_write(c);
}

void bconn_global_init(struct ev_loop *loop)
{
    g_loop = loop;
}

int bconn_open(bconn *c, const bench_target *t, enum bconn_transport tr, const bconn_ops *ops)
{
    g_target = t;
    c->ops = ops;
    c->transport = tr;
    c->gen++;
    c->sid[0] = 0;
    c->in.off = c->in.len = 0;
    c->out.off = c->out.len = 0;
    c->msg.off = c->msg.len = 0;
    c->t_start = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) goto fail;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (t->nsrc > 0) {
        /* Bind the address only: the port is chosen at connect() for the
         * whole 4-tuple, so each source address brings its own ~28k ports. */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = t->src[g_src_next++ % t->nsrc]};
        if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) goto fail;
    }
    ev_io_init(&c->rio, on_read, c->fd, EV_READ);
    ev_io_init(&c->wio, on_write, c->fd, EV_WRITE);
    if (t->tls) { /* the handshake starts with the first write */
        c->ssl = SSL_new(t->tls);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
            errno = ENOMEM;
            goto fail;
        }
        SSL_set_connect_state(c->ssl);
    }
    if (tr == BT_WEBSOCKET)
        ws_request(c);
    else
        http_request(c, "GET", "", NULL, 0);
    if (connect(c->fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) < 0) {
        if (errno != EINPROGRESS) goto fail;
        c->state = BC_TCP;
        ev_io_start(g_loop, &c->wio);
        return 0;
    }
    c->state = BC_HTTP;
    ev_io_start(g_loop, &c->rio);
    return 0;
fail:
    g_cstats.conn_errors++;
    g_cstats.last_error = strerror(errno);
    SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = BC_CLOSED;
    return -1;
}
