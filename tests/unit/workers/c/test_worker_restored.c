/* test_worker_restored.c — the C worker library and a restored CONNECT
 * (connection state recovery, PROTOCOL.md rule 16a): the socket object is
 * replaced without disconnect events, its data carries over, recovered and
 * restored are set, the namespace middleware runs again unless
 * "skip_middlewares", and a REFUSE of it leaves nothing behind.  The fake
 * gateway is test_worker.c's: a real ROUTER on an ipc:// endpoint speaking
 * the real codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "iogate_worker.h"
#include "ipc.h"

#define NSP "/t"
#define SID1 "AAAAAAAAAAAAAAAAAAA1"

/* ---- the fake gateway ---- */

typedef struct {
    void *ctx, *router;
    char ep[128];
    char rid[256];
    size_t rid_len;
    ipc_frames f;
    ipc_msg m;
    int have_msg;
    json_t *data; /* parsed data frame of the last message */
    iog_worker *w;
    char inc[64]; /* incarnation of the first HELLO */
    int passive;  /* gw_recv must not run the worker (it has its own loop) */
} gw_t;

static gw_t G;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void clear_msg(void)
{
    if (G.have_msg) ipc_msg_clear(&G.m);
    G.have_msg = 0;
    json_decref(G.data);
    G.data = NULL;
    ipc_frames_reset(&G.f);
}

/* Receive the next message from the worker other than PING/PONG (unless
 * `pings`), running the worker meanwhile.  0, or -1 after timeout_ms. */
static int gw_recv(int timeout_ms, int pings)
{
    clear_msg();
    long long end = now_ms() + timeout_ms;
    while (now_ms() < end || G.passive) {
        zmq_pollitem_t it = {.socket = G.router, .events = ZMQ_POLLIN};
        if (!G.passive) iog_worker_process(G.w);
        if (zmq_poll(&it, 1, G.passive ? 0 : 2) <= 0) {
            if (G.passive) break;
            continue;
        }
        if (ipc_recv(G.router, &G.f, ZMQ_DONTWAIT) != 0) continue;
        assert_true(G.f.n >= 1);
        memcpy(G.rid, G.f.bufs[0].data, G.f.bufs[0].len);
        G.rid_len = G.f.bufs[0].len;
        const char *code, *why;
        assert_int_equal(ipc_decode(G.f.bufs + 1, G.f.n - 1, IPC_FROM_WORKER, &G.m, &code, &why),
                         0);
        G.have_msg = 1;
        if (!pings && (G.m.type == IPC_PING || G.m.type == IPC_PONG)) {
            clear_msg();
            continue;
        }
        if (G.m.data.len) {
            json_error_t e;
            G.data = json_loadb(G.m.data.data, G.m.data.len, 0, &e);
            assert_non_null(G.data);
        }
        return 0;
    }
    return -1;
}

static ipc_msg *expect(ipc_type t)
{
    if (gw_recv(2000, t == IPC_PING || t == IPC_PONG) != 0) fail_msg("no %s", ipc_type_name(t));
    if (G.m.type != t) fail_msg("expected %s, got %s", ipc_type_name(t), ipc_type_name(G.m.type));
    return &G.m;
}

static void expect_nothing(int ms)
{
    if (gw_recv(ms, 0) == 0) fail_msg("unexpected %s", ipc_type_name(G.m.type));
}

#define WORKER_ G.w
/* Run the worker until `cond` holds or 5 s pass: what a test waits for is an
 * event, not a fixed time (a loaded machine can take longer than any pause). */
#define pump_until(cond)                                                                           \
    do {                                                                                           \
        long long end_ = now_ms() + 5000;                                                          \
        while (!(cond) && now_ms() < end_) {                                                       \
            iog_worker_process(WORKER_);                                                           \
            usleep(1000);                                                                          \
        }                                                                                          \
    } while (0)

static void gw_send(ipc_type t, const char *sid, const char *meta, const char *data,
                    const ipc_buf *att, size_t n_att)
{
    ipc_buf rid = {G.rid, G.rid_len};
    ipc_out o = {.type = t,
                 .nsp = (t == IPC_PING || t == IPC_PONG) ? "" : NSP,
                 .sid = sid,
                 .sid_len = sid ? strlen(sid) : 0,
                 .meta = meta,
                 .meta_len = meta ? strlen(meta) : 0,
                 .data = data,
                 .data_len = data ? strlen(data) : 0,
                 .att = att,
                 .n_att = n_att};
    o.nsp_len = strlen(o.nsp);
    assert_int_equal(ipc_send(G.router, &rid, &o, 0), 0);
}

static const char *meta_str(const char *key)
{
    return json_string_value(json_object_get(G.m.meta, key));
}

static int counter;

/* A worker connected and welcomed (heartbeat hb ms). */
static int setup_hb(int hb, int conn_mask)
{
    memset(&G, 0, sizeof G);
    G.ctx = zmq_ctx_new();
    G.router = zmq_socket(G.ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(G.router, ZMQ_LINGER, &zero, sizeof zero);
    snprintf(G.ep, sizeof G.ep, "ipc:///tmp/iog-test-worker-%d-%d.sock", (int)getpid(), counter++);
    if (zmq_bind(G.router, G.ep) != 0) return -1;
    G.w = iog_worker_new(G.ep, NSP);
    if (!G.w) return -1;
    if (conn_mask) iog_worker_subscribe_conn(G.w, conn_mask);
    if (iog_worker_start(G.w) != 0) return -1;
    if (gw_recv(2000, 0) != 0 || G.m.type != IPC_HELLO) return -1;
    snprintf(G.inc, sizeof G.inc, "%s", meta_str("incarnation"));
    char meta[128];
    snprintf(meta, sizeof meta, "{\"version\":1,\"gateway\":\"gw1\",\"heartbeat_ms\":%d}", hb);
    gw_send(IPC_WELCOME, NULL, meta, NULL, NULL, 0);
    pump_until(iog_worker_connected(G.w));
    return iog_worker_connected(G.w) ? 0 : -1;
}

static int setup(void **st)
{
    return setup_hb(5000, 0);
}

static int teardown(void **st)
{
    clear_msg();
    iog_worker_destroy(&G.w);
    ipc_frames_close(&G.f);
    zmq_close(G.router);
    zmq_ctx_term(G.ctx);
    char path[sizeof G.ep];
    strcpy(path, G.ep + 6); /* after "ipc://" */
    unlink(path);
    return 0;
}

/* ---- the application ---- */

static int n_conn, n_disc, n_mw;
static iog_socket *last;

static void on_disconnect(iog_socket *s, const char *reason, void *user)
{
    n_disc++;
}

static void on_connection(iog_socket *s, void *user)
{
    n_conn++;
    last = s;
    iog_socket_on_disconnect(s, on_disconnect, NULL);
}

static void mw(iog_socket *s, iog_next_handle *next, void *user)
{
    n_mw++;
    json_t *auth = json_object_get(iog_socket_handshake(s), "auth");
    if (iog_socket_restored(s) && json_is_true(json_object_get(auth, "refuse_restore")))
        iog_next_error(&next, "no", NULL);
    else
        iog_next(&next);
}

static void connect_plain(void)
{
    gw_send(IPC_CONNECT, SID1, "{\"handshake\":{\"auth\":{}},\"recovered\":false}", NULL, NULL, 0);
    expect(IPC_ACCEPT);
}

static void connect_restored(const char *extra)
{
    char meta[512];
    snprintf(meta, sizeof meta,
             "{\"handshake\":{\"auth\":{%s}},\"recovered\":false,\"restored\":true,"
             "\"rooms\":[\"" SID1 "\",\"lobby\"]%s}",
             extra && strstr(extra, "refuse") ? "\"refuse_restore\":true" : "",
             extra && strstr(extra, "skip") ? ",\"skip_middlewares\":true" : "");
    gw_send(IPC_CONNECT, SID1, meta, NULL, NULL, 0);
}

static void reset(void)
{
    n_conn = n_disc = n_mw = 0;
    last = NULL;
    iog_on_connection(G.w, on_connection, NULL);
    iog_use(G.w, mw, NULL);
}

static void restored_replaces_silently(void **st)
{
    reset();
    connect_plain();
    iog_socket *first = last;
    assert_false(iog_socket_restored(first));
    iog_socket_set_data(first, json_pack("{s:i}", "n", 7));
    connect_restored(NULL);
    expect(IPC_ACCEPT);
    expect_nothing(20); /* the gateway routes these rooms already */
    assert_int_equal(n_conn, 2);
    assert_int_equal(n_mw, 2);   /* middleware ran again */
    assert_int_equal(n_disc, 0); /* the old object went without events */
    assert_true(last != first);
    assert_true(iog_socket_restored(last));
    assert_true(iog_socket_recovered(last));
    assert_true(iog_socket_in_room(last, "lobby"));
    assert_int_equal(json_integer_value(json_object_get(iog_socket_data(last), "n")), 7);
    assert_int_equal(iog_worker_socket_count(G.w), 1);
    /* a later DISCONNECT reaches the new object once */
    gw_send(IPC_DISCONNECT, SID1, "{\"reason\":\"transport close\"}", NULL, NULL, 0);
    pump_until(n_disc >= 1 && iog_worker_socket_count(G.w) == 0);
    assert_int_equal(n_disc, 1);
    assert_int_equal(iog_worker_socket_count(G.w), 0);
}

static void restored_skips_middleware(void **st)
{
    reset();
    connect_plain();
    connect_restored("skip");
    expect(IPC_ACCEPT);
    assert_int_equal(n_mw, 1);
    assert_int_equal(n_conn, 2);
    assert_true(iog_socket_restored(last));
}

static void restored_refused(void **st)
{
    reset();
    connect_plain();
    connect_restored("refuse");
    expect(IPC_REFUSE);
    assert_int_equal(n_disc, 0);
    assert_int_equal(iog_worker_socket_count(G.w), 0);
    /* and a restored CONNECT for a socket this worker never knew (it
     * restarted meanwhile) makes it, with its rooms */
    connect_restored(NULL);
    expect(IPC_ACCEPT);
    assert_true(iog_socket_restored(last));
    assert_true(iog_socket_in_room(last, "lobby"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(restored_replaces_silently, setup, teardown),
        cmocka_unit_test_setup_teardown(restored_skips_middleware, setup, teardown),
        cmocka_unit_test_setup_teardown(restored_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
