/* test_admission.c — handshake admission (engineio/admission.[ch]) through
 * the eio.h contract, in one thread: a real eio_server on a libev loop, its
 * clients connected through socketpairs (eio_server_adopt), the upper
 * layer's on_admission recording each question.  What the e2e test cannot
 * see from outside: no session exists while a handshake waits, an answer
 * for a slot that was freed and reused goes nowhere, the cap and the
 * timeout answer 503 without asking, and a connection that closes while
 * waiting frees its slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eio.h"
#include "util.h"

static struct ev_loop *loop;
static eio_server *srv;
static uint64_t asked[16];
static char asked_url[16][128];
static int n_asked, refuse_to_ask, n_open;

static int on_admission(uint64_t id, const struct eio_handshake *hs, void *ud)
{
    if (refuse_to_ask) return -1;
    snprintf(asked_url[n_asked], sizeof asked_url[0], "%s %s", hs->url, hs->address);
    asked[n_asked++] = id;
    return 0;
}
static void on_open(eio_session *s, void *ud)
{
    n_open++;
}
static void on_message(eio_session *s, const char *d, size_t n, int b, void *ud) {}

static void turn(int n)
{
    for (int i = 0; i < n; i++)
        ev_run(loop, EVRUN_NOWAIT);
}

/* A client: one end of a socketpair, the other adopted by the server. */
static int client(const char *request)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    eio_server_adopt(srv, sv[1], "127.0.0.1");
    assert_int_equal(write(sv[0], request, strlen(request)), (ssize_t)strlen(request));
    turn(5);
    return sv[0];
}

static int poll_get(const char *query)
{
    char req[256];
    snprintf(req, sizeof req,
             "GET /socket.io/?EIO=4&transport=polling%s HTTP/1.1\r\nHost: x\r\n\r\n", query);
    return client(req);
}

/* What the server answered so far ("" if nothing). */
static const char *answer(int fd)
{
    static char buf[4096];
    turn(5);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void setup_server(unsigned timeout_ms, size_t max_pending)
{
    eio_config cfg;
    eio_config_defaults(&cfg);
    cfg.admission = "/";
    cfg.admission_timeout_ms = timeout_ms;
    cfg.admission_max_pending = max_pending;
    static const eio_handler h = {
        .on_open = on_open, .on_message = on_message, .on_admission = on_admission};
    srv = eio_server_new(loop, &cfg, &h, NULL);
    assert_non_null(srv);
    n_asked = n_open = refuse_to_ask = 0;
}

static void teardown_server(void)
{
    eio_server_shutdown(srv);
    eio_server_destroy(&srv);
}

static void parked_then_admitted_or_refused(void **st)
{
    setup_server(60000, 4);
    int a = poll_get("&who=a"), b = poll_get("&who=b");
    assert_int_equal(n_asked, 2);
    assert_string_equal(asked_url[0], "/socket.io/?EIO=4&transport=polling&who=a 127.0.0.1");
    /* waiting: no answer, no session */
    assert_string_equal(answer(a), "");
    assert_int_equal(eio_server_sessions(srv), 0);
    assert_int_equal(n_open, 0);

    assert_int_equal(eio_admission_answer(srv, asked[0], 1, NULL), 0);
    const char *r = answer(a);
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "0{\"sid\":\""));
    assert_int_equal(eio_server_sessions(srv), 1);
    assert_int_equal(n_open, 1);

    assert_int_equal(eio_admission_answer(srv, asked[1], 0, "no \"you\""), 0);
    r = answer(b);
    assert_non_null(strstr(r, "HTTP/1.1 403"));
    assert_non_null(strstr(r, "application/json"));
    assert_non_null(strstr(r, "\r\n\r\n{\"code\":4,\"message\":\"no \\\"you\\\"\"}"));
    assert_int_equal(eio_server_sessions(srv), 1); /* nothing for the refused one */

    /* answered already: a second answer finds nothing */
    assert_int_equal(eio_admission_answer(srv, asked[1], 1, NULL), -1);
    assert_int_equal(eio_admission_answer(srv, 12345, 1, NULL), -1);
    close(a);
    close(b);
    teardown_server();
}

static void websocket_refused_like_the_reference(void **st)
{
    setup_server(60000, 4);
    int c = client("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assert_int_equal(n_asked, 1);
    assert_string_equal(answer(c), "");
    assert_int_equal(eio_admission_answer(srv, asked[0], 0, NULL), 0);
    const char *r = answer(c);
    assert_non_null(strstr(r, "HTTP/1.1 400"));
    assert_non_null(strstr(r, "text/html"));
    assert_non_null(strstr(r, "\r\n\r\nForbidden"));
    close(c);

    c = client("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assert_int_equal(eio_admission_answer(srv, asked[1], 1, NULL), 0);
    r = answer(c);
    assert_non_null(strstr(r, "HTTP/1.1 101"));
    assert_int_equal(eio_server_sessions(srv), 1);
    close(c);
    teardown_server();
}

static void cap_leave_and_reuse(void **st)
{
    setup_server(60000, 2);
    int a = poll_get(""), b = poll_get("");
    int c = poll_get(""); /* past the cap: 503 without asking */
    assert_int_equal(n_asked, 2);
    assert_non_null(strstr(answer(c), "HTTP/1.1 503"));
    close(c);

    /* a leaves while waiting: its slot is freed, and reused by d under a
     * new id; the old id's answer reaches nobody */
    close(a);
    turn(5);
    int d = poll_get("");
    assert_int_equal(n_asked, 3);
    assert_true(asked[2] != asked[0]);
    assert_int_equal(eio_admission_answer(srv, asked[0], 1, NULL), -1);
    assert_string_equal(answer(d), "");
    assert_int_equal(eio_admission_answer(srv, asked[2], 1, NULL), 0);
    assert_non_null(strstr(answer(d), "HTTP/1.1 200"));
    assert_int_equal(eio_admission_answer(srv, asked[1], 1, NULL), 0);
    assert_non_null(strstr(answer(b), "HTTP/1.1 200"));
    assert_int_equal(eio_server_sessions(srv), 2);
    close(b);
    close(d);
    teardown_server();
}

static void timeout_and_nobody_to_ask(void **st)
{
    setup_server(50, 4);
    int a = poll_get("");
    assert_int_equal(n_asked, 1);
    const char *r = "";
    for (int i = 0; i < 200 && !*r; i++) {
        usleep(5000);
        ev_run(loop, EVRUN_NOWAIT);
        r = answer(a);
    }
    assert_non_null(strstr(r, "HTTP/1.1 503"));
    assert_int_equal(eio_admission_answer(srv, asked[0], 1, NULL), -1); /* late */
    assert_int_equal(eio_server_sessions(srv), 0);
    close(a);

    refuse_to_ask = 1;
    int b = poll_get("");
    assert_non_null(strstr(answer(b), "HTTP/1.1 503"));
    close(b);

    /* shutdown answers whoever still waits */
    refuse_to_ask = 0;
    int c = poll_get("");
    eio_server_shutdown(srv);
    assert_non_null(strstr(answer(c), "HTTP/1.1 503"));
    close(c);
    eio_server_destroy(&srv);
}

int main(void)
{
    gw_log_level = GW_LOG_ERROR; /* the refusals log warnings by design */
    signal(SIGPIPE, SIG_IGN);    /* as main.c does (http.h) */
    loop = ev_default_loop(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parked_then_admitted_or_refused),
        cmocka_unit_test(websocket_refused_like_the_reference),
        cmocka_unit_test(cap_leave_and_reuse),
        cmocka_unit_test(timeout_and_nobody_to_ask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
