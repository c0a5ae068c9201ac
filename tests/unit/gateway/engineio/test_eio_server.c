/* test_eio_server.c — the eio.h contract as the Socket.IO layer sees it, in
 * process: a real eio_server on a libev loop in the main thread, a blocking
 * raw client in a second thread.  Covers what --echo cannot: close from
 * above (eio_session_close → "forced close", close packet delivered on both
 * transports), one eio_msg shared by several sessions (a broadcast), the
 * exact callback sequence and the session count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "eio.h"
#include "util.h"

/* --- server side (main thread) ------------------------------------------------ */

static struct ev_loop *loop;
static ev_async done_w;
static eio_session *open_sessions[8];
static int n_open_cb, n_close_cb, n_upgrade_cb, n_drain_cb;
static eio_close_reason last_reason;
static char events[4096]; /* a readable trace of callbacks */

static void trace(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = strlen(events);
    vsnprintf(events + n, sizeof events - n, fmt, ap);
    va_end(ap);
}

static int handshake_ok = 1;

static void on_open(eio_session *s, void *ud)
{
    n_open_cb++;
    const eio_handshake *hs = eio_session_handshake(s);
    int host = 0;
    for (size_t i = 0; i < hs->n_headers; i++)
        if (!strcmp(hs->headers[i].name, "host") && !strcmp(hs->headers[i].value, "x")) host = 1;
    if (!host || strncmp(hs->query, "EIO=4&transport=", 16) ||
        strncmp(hs->url, "/socket.io/?EIO=4", 17) || strcmp(hs->address, "127.0.0.1") ||
        hs->xdomain || hs->time_ms < 1e12 || strlen(eio_session_id(s)) != 20 ||
        eio_session_userdata(s))
        handshake_ok = 0;
    eio_session_set_userdata(s, &handshake_ok);
    for (int i = 0; i < 8; i++)
        if (!open_sessions[i]) {
            open_sessions[i] = s;
            break;
        }
    trace("open(%s);", eio_session_transport_name(s));
}

static void on_message(eio_session *s, const char *d, size_t n, int binary, void *ud)
{
    trace("msg(%.*s);", (int)n, d);
    if (n == 8 && !memcmp(d, "close-me", 8)) {
        eio_msg *m = eio_msg_copy(0, "bye", 3);
        eio_session_send(s, m); /* queued before the close packet */
        eio_msg_unref(&m);
        eio_session_close(s, EIO_CLOSE_FORCED);
        eio_session_close(s, EIO_CLOSE_FORCED); /* idempotent */
        m = eio_msg_copy(0, "late", 4);
        assert_int_equal(eio_session_send(s, m), -1); /* closing: refused */
        eio_msg_unref(&m);
    } else if (n == 5 && !memcmp(d, "bcast", 5)) {
        eio_msg *m = eio_msg_new(1, 3);
        memcpy(eio_msg_data(m), "\x01\x02\x03", 3);
        for (int i = 0; i < 8; i++)
            if (open_sessions[i]) eio_session_send(open_sessions[i], m);
        eio_msg_unref(&m); /* the sessions hold their own references */
    }
}

static void on_upgrade(eio_session *s, void *ud)
{
    n_upgrade_cb++;
}
static void on_drain(eio_session *s, void *ud)
{
    n_drain_cb++;
}

static int packets_in, packets_out;
static void on_packet(eio_session *s, int type, int outgoing, void *ud)
{
    if (outgoing)
        packets_out++;
    else
        packets_in++;
}

static void on_close(eio_session *s, eio_close_reason r, void *ud)
{
    n_close_cb++;
    if (eio_session_userdata(s) != &handshake_ok) handshake_ok = 0;
    last_reason = r;
    for (int i = 0; i < 8; i++)
        if (open_sessions[i] == s) open_sessions[i] = NULL;
    trace("close(%s);", eio_close_reason_str(r));
}

static void done_cb(struct ev_loop *l, ev_async *w, int revents)
{
    ev_break(l, EVBREAK_ALL);
}

/* --- client side (second thread) ---------------------------------------------- */

static int port;
static char failure[512];

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond) && !failure[0])                                                                \
            snprintf(failure, sizeof failure, "line %d: %s", __LINE__, #cond);                     \
    } while (0)

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;
    return fd;
}

/* One HTTP exchange on a new connection; the body goes to out. */
static int http(const char *method, const char *query, const char *body, char *out, size_t cap)
{
    int fd = dial();
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s /socket.io/?EIO=4&transport=polling%s HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     method, query, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n) return -1;
    size_t got = 0;
    char buf[8192];
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    int status = atoi(buf + 9);
    char *b = strstr(buf, "\r\n\r\n");
    snprintf(out, cap, "%s", b ? b + 4 : "");
    return status;
}

static void ws_write_text(int fd, const char *s)
{
    unsigned char f[256];
    size_t n = strlen(s);
    f[0] = 0x81;
    f[1] = (unsigned char)(0x80 | n);
    memset(f + 2, 0, 4); /* zero mask key: payload unchanged */
    memcpy(f + 6, s, n);
    if (write(fd, f, 6 + n) < 0) return;
}

/* Read one server frame; returns its opcode, payload in out. */
static int ws_read(int fd, char *out, size_t cap, size_t *len)
{
    unsigned char h[2];
    if (recv(fd, h, 2, MSG_WAITALL) != 2) return -1;
    size_t n = h[1] & 0x7f;
    if (n >= 126 || n >= cap) return -1;
    if (n && recv(fd, out, n, MSG_WAITALL) != (ssize_t)n) return -1;
    *len = n;
    return h[0] & 0x0f;
}

static int ws_connect(const char *query)
{
    int fd = dial();
    char req[512];
    int n =
        snprintf(req, sizeof req,
                 "GET /socket.io/?EIO=4&transport=websocket%s HTTP/1.1\r\nHost: x\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 query);
    if (write(fd, req, (size_t)n) != n) return -1;
    char head[1024];
    size_t got = 0;
    while (got < sizeof head - 1 && recv(fd, head + got, 1, 0) == 1) { /* up to the blank line */
        got++;
        if (got >= 4 && !memcmp(head + got - 4, "\r\n\r\n", 4)) break;
    }
    head[got] = '\0';
    return strncmp(head, "HTTP/1.1 101", 12) == 0 ? fd : -1;
}

static void *client(void *arg)
{
    char body[4096], q[64], sid[32];
    size_t len;
    /* 1. polling: close from above while no GET is held; the next GET gets "bye" + "1" */
    CHECK(http("GET", "", NULL, body, sizeof body) == 200);
    CHECK(sscanf(body, "0{\"sid\":\"%20[^\"]\"", sid) == 1);
    snprintf(q, sizeof q, "&sid=%s", sid);
    CHECK(http("POST", q, "4close-me", body, sizeof body) == 200);
    CHECK(strcmp(body, "ok") == 0);
    CHECK(http("GET", q, NULL, body, sizeof body) == 200);
    CHECK(strcmp(body, "4bye\x1e"
                       "1") == 0);
    CHECK(http("GET", q, NULL, body, sizeof body) == 400); /* gone now */

    /* 2. a broadcast to two sessions (one polling, one websocket): one eio_msg */
    CHECK(http("GET", "", NULL, body, sizeof body) == 200);
    CHECK(sscanf(body, "0{\"sid\":\"%20[^\"]\"", sid) == 1);
    snprintf(q, sizeof q, "&sid=%s", sid);
    int ws = ws_connect("");
    CHECK(ws >= 0);
    CHECK(ws_read(ws, body, sizeof body, &len) == 1 && body[0] == '0');
    ws_write_text(ws, "4bcast");
    CHECK(ws_read(ws, body, sizeof body, &len) == 2 && len == 3 &&
          !memcmp(body, "\x01\x02\x03", 3));
    CHECK(http("GET", q, NULL, body, sizeof body) == 200);
    CHECK(strcmp(body, "bAQID") == 0);

    /* 3. websocket: close from above → "4bye", "1", close frame 1000 */
    ws_write_text(ws, "4close-me");
    CHECK(ws_read(ws, body, sizeof body, &len) == 1 && len == 4 && !memcmp(body, "4bye", 4));
    CHECK(ws_read(ws, body, sizeof body, &len) == 1 && len == 1 && body[0] == '1');
    CHECK(ws_read(ws, body, sizeof body, &len) == 8 && len == 2 && body[0] == 0x03 &&
          (unsigned char)body[1] == 0xe8);
    close(ws);

    /* 4. the polling session from step 2 says goodbye */
    CHECK(http("POST", q, "1", body, sizeof body) == 200);
    usleep(50000);
    ev_async_send(loop, &done_w);
    return NULL;
}

static void test_eio_server_contract(void **st)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    port = ntohs(a.sin_port);
    close(s);

    loop = ev_loop_new(EVFLAG_AUTO);
    eio_config cfg;
    eio_config_defaults(&cfg);
    cfg.port = port;
    eio_handler h = {.on_open = on_open,
                     .on_message = on_message,
                     .on_upgrade = on_upgrade,
                     .on_drain = on_drain,
                     .on_close = on_close,
                     .on_packet = on_packet};
    eio_server *srv = eio_server_new(loop, &cfg, &h, NULL);
    assert_non_null(srv);
    assert_int_equal(eio_server_listen(srv), 0);
    ev_async_init(&done_w, done_cb);
    ev_async_start(loop, &done_w);

    pthread_t th;
    pthread_create(&th, NULL, client, NULL);
    ev_run(loop, 0);
    pthread_join(th, NULL);
    if (failure[0]) fail_msg("client: %s", failure);

    /* let the last close reach the safe point */
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(n_open_cb, 3);
    assert_int_equal(n_close_cb, 3);
    assert_int_equal(n_upgrade_cb, 0);
    assert_true(n_drain_cb >= 1);
    assert_int_equal(eio_server_sessions(srv), 0);
    assert_true(handshake_ok);
    /* in: close-me, bcast, close-me, 1; out: 3 opens, bye, 2 bcast, bye */
    assert_int_equal(packets_in, 4);
    assert_int_equal(packets_out, 7);
    assert_string_equal(events, "open(polling);msg(close-me);close(forced close);"
                                "open(polling);open(websocket);msg(bcast);"
                                "msg(close-me);close(forced close);close(transport close);");
    eio_server_shutdown(srv);
    eio_server_destroy(&srv);
    assert_null(srv);
    ev_async_stop(loop, &done_w);
    ev_loop_destroy(loop);
}

int main(void)
{
    gw_log_level = GW_LOG_WARN;
    signal(SIGPIPE, SIG_IGN); /* as main.c does (http.h) */
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_eio_server_contract)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
