/* test_worker_multigw.c — one C worker serving two gateways at once
 * (PROTOCOL.md §1: one DEALER per gateway).  Two real ZeroMQ ROUTERs bound
 * here play the gateways A and B with the real codec; everything runs on
 * one thread, the worker driven by iog_worker_process() while a gateway
 * waits for its messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iogate_worker.h"
#include "ipc.h"

#define NSP "/m"
#define SA1 "AAAAAAAAAAAAAAAAAAA1" /* sockets of gateway A */
#define SA2 "AAAAAAAAAAAAAAAAAAA2"
#define SB1 "BBBBBBBBBBBBBBBBBBB1" /* sockets of gateway B */
#define SB2 "BBBBBBBBBBBBBBBBBBB2"

/* ---- two fake gateways ---- */

typedef struct {
    void *router;
    char ep[128];
    char rid[256];
    size_t rid_len;
    char inc[64]; /* incarnation of its last HELLO */
} fgw;

static void *ctx;
static fgw A, B;
static iog_worker *W;
static ipc_frames F;
static ipc_msg M;
static int have;
static json_t *D; /* data frame of the last message */
static int counter;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void clear_msg(void)
{
    if (have) ipc_msg_clear(&M);
    have = 0;
    json_decref(D);
    D = NULL;
    ipc_frames_reset(&F);
}

/* The next message gateway g receives (PING/PONG skipped unless `pings`),
 * running the worker meanwhile.  0, or -1 after timeout_ms. */
static int recv_on(fgw *g, int timeout_ms, int pings)
{
    clear_msg();
    long long end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        iog_worker_process(W);
        zmq_pollitem_t it = {.socket = g->router, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 2) <= 0) continue;
        if (ipc_recv(g->router, &F, ZMQ_DONTWAIT) != 0) continue;
        memcpy(g->rid, F.bufs[0].data, F.bufs[0].len);
        g->rid_len = F.bufs[0].len;
        const char *code, *why;
        assert_int_equal(ipc_decode(F.bufs + 1, F.n - 1, IPC_FROM_WORKER, &M, &code, &why), 0);
        have = 1;
        if (!pings && (M.type == IPC_PING || M.type == IPC_PONG)) {
            clear_msg();
            continue;
        }
        if (M.data.len) {
            json_error_t e;
            D = json_loadb(M.data.data, M.data.len, 0, &e);
            assert_non_null(D);
        }
        return 0;
    }
    return -1;
}

static void expect_on(fgw *g, ipc_type t, const char *sid)
{
    if (recv_on(g, 2000, t == IPC_PING || t == IPC_PONG) != 0)
        fail_msg("no %s on %s", ipc_type_name(t), g == &A ? "A" : "B");
    if (M.type != t)
        fail_msg("%s: expected %s, got %s", g == &A ? "A" : "B", ipc_type_name(t),
                 ipc_type_name(M.type));
    if (sid && (M.sid.len != strlen(sid) || memcmp(M.sid.data, sid, M.sid.len) != 0))
        fail_msg("%s for %.*s, expected %s", ipc_type_name(t), (int)M.sid.len, M.sid.data, sid);
}

static void nothing_on(fgw *g, int ms)
{
    if (recv_on(g, ms, 0) == 0)
        fail_msg("unexpected %s on %s", ipc_type_name(M.type), g == &A ? "A" : "B");
}

static void pump(int ms)
{
    long long end = now_ms() + ms;
    while (now_ms() < end) {
        iog_worker_process(W);
        usleep(1000);
    }
}

/* Run the worker until `cond` holds or 5 s pass: what a test waits for is an
 * event, not a fixed time (a loaded machine can take longer than any pause). */
#define pump_until(cond)                                                                           \
    do {                                                                                           \
        long long end_ = now_ms() + 5000;                                                          \
        while (!(cond) && now_ms() < end_) {                                                       \
            iog_worker_process(W);                                                                 \
            usleep(1000);                                                                          \
        }                                                                                          \
    } while (0)

static size_t gateways_up(void)
{
    size_t up = 0;
    iog_worker_gateways(W, &up);
    return up;
}

static void send_on(fgw *g, ipc_type t, const char *sid, const char *meta, const char *data)
{
    ipc_buf rid = {g->rid, g->rid_len};
    ipc_out o = {.type = t,
                 .nsp = (t == IPC_PING || t == IPC_PONG) ? "" : NSP,
                 .sid = sid,
                 .sid_len = sid ? strlen(sid) : 0,
                 .meta = meta,
                 .meta_len = meta ? strlen(meta) : 0,
                 .data = data,
                 .data_len = data ? strlen(data) : 0};
    o.nsp_len = strlen(o.nsp);
    assert_int_equal(ipc_send(g->router, &rid, &o, 0), 0);
}

static const char *meta_str(const char *key)
{
    return json_string_value(json_object_get(M.meta, key));
}

static json_int_t meta_int(const char *key)
{
    return json_integer_value(json_object_get(M.meta, key));
}

static char *meta_dump(void)
{
    static char buf[512];
    char *t = json_dumps(M.meta, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(buf, sizeof buf, "%s", t);
    free(t);
    return buf;
}

static void bind_gw(fgw *g)
{
    memset(g, 0, sizeof *g);
    g->router = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(g->router, ZMQ_LINGER, &zero, sizeof zero);
    snprintf(g->ep, sizeof g->ep, "ipc:///tmp/iog-test-mgw-%d-%d.sock", (int)getpid(), counter++);
    assert_int_equal(zmq_bind(g->router, g->ep), 0);
}

static void welcome(fgw *g, const char *id, int hb)
{
    expect_on(g, IPC_HELLO, NULL);
    snprintf(g->inc, sizeof g->inc, "%s", meta_str("incarnation"));
    char meta[128];
    snprintf(meta, sizeof meta, "{\"version\":1,\"gateway\":\"%s\",\"heartbeat_ms\":%d}", id, hb);
    send_on(g, IPC_WELCOME, NULL, meta, NULL);
}

/* A worker for "A,B", welcomed by both (heartbeats hb_a / hb_b ms). */
static int setup_hb(int hb_a, int hb_b)
{
    ctx = zmq_ctx_new();
    bind_gw(&A);
    bind_gw(&B);
    char eps[300];
    snprintf(eps, sizeof eps, "%s , %s", A.ep, B.ep); /* spaces are allowed */
    W = iog_worker_new(eps, NSP);
    if (!W) return -1;
    if (iog_worker_start(W) != 0) return -1;
    welcome(&A, "gwA", hb_a);
    welcome(&B, "gwB", hb_b);
    pump_until(gateways_up() == 2);
    size_t up = 0;
    return iog_worker_gateways(W, &up) == 2 && up == 2 ? 0 : -1;
}

static int setup(void **st)
{
    return setup_hb(5000, 5000);
}

static int teardown(void **st)
{
    clear_msg();
    iog_worker_destroy(&W);
    ipc_frames_close(&F);
    fgw *gs[] = {&A, &B};
    for (int i = 0; i < 2; i++) {
        if (gs[i]->router) zmq_close(gs[i]->router);
        unlink(gs[i]->ep + 6); /* after "ipc://" */
    }
    zmq_ctx_term(ctx);
    return 0;
}

/* ---- a small application ---- */

static char trace[4096];
static void rec(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = strlen(trace);
    vsnprintf(trace + n, sizeof trace - n, fmt, ap);
    va_end(ap);
}

static iog_socket *by_id[4];
static iog_socket **slot(const char *id)
{
    static const char *ids[] = {SA1, SA2, SB1, SB2};
    for (int i = 0; i < 4; i++)
        if (strcmp(ids[i], id) == 0) return &by_id[i];
    fail_msg("unknown id %s", id);
    return NULL;
}

static void on_disconnect(iog_socket *s, const char *reason, void *user)
{
    rec("disconnect(%.3s,%s);", iog_socket_id(s), reason);
    *slot(iog_socket_id(s)) = NULL;
}

static void on_echo(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    iog_socket_emit(s, "echo", json_incref(args));
    if (ack) iog_ack_send(&ack, json_incref(args));
}

static void on_connection(iog_socket *s, void *user)
{
    *slot(iog_socket_id(s)) = s;
    iog_socket_set_data(s, json_pack("{s:s}", "gw", iog_socket_gateway(s)));
    iog_socket_on(s, "echo", on_echo, NULL);
    iog_socket_on_disconnect(s, on_disconnect, NULL);
}

static void connect_on(fgw *g, const char *sid)
{
    send_on(g, IPC_CONNECT, sid, "{\"handshake\":{\"auth\":{}},\"transport\":\"polling\"}", NULL);
    expect_on(g, IPC_ACCEPT, sid);
}

/* A's sockets SA1 SA2, B's SB1 SB2. */
static void four_sockets(void)
{
    trace[0] = 0;
    memset(by_id, 0, sizeof by_id);
    iog_on_connection(W, on_connection, NULL);
    connect_on(&A, SA1);
    connect_on(&B, SB1);
    connect_on(&A, SA2);
    connect_on(&B, SB2);
    assert_int_equal(iog_worker_socket_count(W), 4);
}

/* ---- tests ---- */

/* Each gateway gets its own HELLO with its own incarnation; bad lists are
 * refused; gateways can be added until the start. */
static void endpoints_and_hello(void **st)
{
    iog_worker_stop(NULL); /* from a signal handler after destroy: ignored */
    assert_null(iog_worker_new(" , ,", NSP));
    /* An endpoint ZeroMQ refuses: start fails, and can be retried. */
    iog_worker *bad = iog_worker_new("ipc:///tmp/ok.sock,nope://x", NSP);
    assert_non_null(bad);
    assert_int_equal(iog_worker_start(bad), -1);
    assert_int_equal(iog_worker_start(bad), -1);
    assert_int_equal(iog_worker_fd(bad), -1);
    iog_worker_destroy(&bad);
    assert_null(bad);
    assert_null(iog_worker_new("ipc:///tmp/x.sock,ipc:///tmp/x.sock", NSP));
    assert_int_equal(errno, EEXIST);
    ctx = zmq_ctx_new();
    bind_gw(&A);
    bind_gw(&B);
    W = iog_worker_new(A.ep, NSP);
    assert_non_null(W);
    assert_int_equal(iog_worker_add_gateway(W, A.ep), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(iog_worker_add_gateway(W, ""), -1);
    assert_int_equal(iog_worker_add_gateway(W, B.ep), 0);
    assert_int_equal(iog_worker_gateways(W, NULL), 2);
    assert_int_equal(iog_worker_start(W), 0);
    assert_int_equal(iog_worker_add_gateway(W, "ipc:///tmp/late.sock"), -1);
    assert_int_equal(errno, EBUSY);
    expect_on(&A, IPC_HELLO, NULL);
    char inc_a[64];
    snprintf(inc_a, sizeof inc_a, "%s", meta_str("incarnation"));
    expect_on(&B, IPC_HELLO, NULL);
    assert_string_not_equal(meta_str("incarnation"), inc_a);
    assert_false(iog_worker_connected(W));
    send_on(&B, IPC_WELCOME, NULL, "{\"version\":1,\"gateway\":\"gwB\",\"heartbeat_ms\":5000}",
            NULL);
    pump_until(gateways_up() == 1);
    size_t up = 9;
    assert_int_equal(iog_worker_gateways(W, &up), 2);
    assert_int_equal(up, 1);
    assert_true(iog_worker_connected(W));
    /* Not welcomed by A yet: it keeps hearing HELLO, B does not. */
    nothing_on(&B, 30);
}

/* What is about one socket goes to that socket's gateway only, and the
 * EVENT/ACK numbering of PROCESSED is per gateway (rule 36). */
static void per_socket_traffic(void **st)
{
    four_sockets();
    assert_string_equal(iog_socket_gateway(by_id[0]), A.ep);
    assert_string_equal(iog_socket_gateway(by_id[2]), B.ep);
    send_on(&B, IPC_EVENT, SB1, "{\"ack\":4,\"seq\":7}", "[\"echo\",1]");
    send_on(&A, IPC_EVENT, SA2, "{\"seq\":1}", "[\"echo\",2]");
    /* The first message sent while handling a packet carries its seq as
     * "done" (rule 36), each gateway its own numbers; no PROCESSED needed. */
    expect_on(&B, IPC_EMIT, SB1);
    assert_int_equal(meta_int("done"), 7);
    expect_on(&B, IPC_ACK, SB1);
    assert_int_equal(meta_int("id"), 4);
    assert_null(json_object_get(M.meta, "done"));
    expect_on(&A, IPC_EMIT, SA2);
    assert_int_equal(meta_int("done"), 1);
    nothing_on(&A, 20);
    nothing_on(&B, 20);
    /* A gateway cannot touch another gateway's socket. */
    send_on(&A, IPC_EVENT, SB2, "{\"seq\":2}", "[\"echo\",3]");
    send_on(&A, IPC_DISCONNECT, SB2, "{\"reason\":\"transport close\"}", NULL);
    expect_on(&A, IPC_PROCESSED, NULL); /* nothing was sent while handling it */
    assert_int_equal(meta_int("seq"), 2);
    nothing_on(&B, 20);
    assert_non_null(by_id[3]);
    /* Emits, joins and a disconnect from the worker side. */
    assert_int_equal(iog_socket_emit(by_id[3], "hi", NULL), 0);
    expect_on(&B, IPC_EMIT, SB2);
    assert_int_equal(iog_socket_join(by_id[0], "r"), 0);
    expect_on(&A, IPC_JOIN, SA1);
    assert_int_equal(iog_socket_disconnect(by_id[2], false), 0);
    expect_on(&B, IPC_DISCONNECT, SB1);
    nothing_on(&A, 20);
    assert_string_equal(trace, "disconnect(BBB,server namespace disconnect);");
    /* The gateway's own DISCONNECT still works for its own socket. */
    send_on(&B, IPC_DISCONNECT, SB2, "{\"reason\":\"client namespace disconnect\"}", NULL);
    pump_until(by_id[3] == NULL);
    assert_null(by_id[3]);
    assert_int_equal(iog_worker_socket_count(W), 2);
}

/* Broadcasts go to every gateway (each applies rooms/except to its own
 * sockets); the namespace utilities cover both and address each socket's
 * own gateway. */
static void broadcast_and_fetch_across(void **st)
{
    four_sockets();
    iog_socket_join(by_id[1], "room");
    expect_on(&A, IPC_JOIN, SA2);
    iog_socket_join(by_id[2], "room");
    expect_on(&B, IPC_JOIN, SB1);

    iog_broadcast *b = iog_socket_to(by_id[1], "room"); /* room but SA2 */
    assert_int_equal(iog_bc_emit(&b, "news", json_pack("[i]", 5)), 0);
    const char *want = "{\"except\":[\"" SA2 "\"],\"rooms\":[\"room\"]}";
    expect_on(&A, IPC_BROADCAST, "");
    assert_string_equal(meta_dump(), want);
    expect_on(&B, IPC_BROADCAST, "");
    assert_string_equal(meta_dump(), want);
    char *d = json_dumps(D, JSON_COMPACT);
    assert_string_equal(d, "[\"news\",5]");
    free(d);
    assert_int_equal(iog_emit(W, "all", NULL), 0);
    expect_on(&A, IPC_BROADCAST, "");
    expect_on(&B, IPC_BROADCAST, "");

    /* fetchSockets: every gateway's sockets, with their data. */
    json_t *all = iog_fetch_sockets(W, NULL);
    assert_int_equal(json_array_size(all), 4);
    int on_a = 0, on_b = 0;
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        const char *gw = json_string_value(json_object_get(json_object_get(e, "data"), "gw"));
        on_a += strcmp(gw, A.ep) == 0;
        on_b += strcmp(gw, B.ep) == 0;
    }
    assert_int_equal(on_a, 2);
    assert_int_equal(on_b, 2);
    json_decref(all);
    const char *r[] = {"room", NULL};
    json_t *some = iog_fetch_sockets(W, r);
    assert_int_equal(json_array_size(some), 2);
    json_decref(some);

    /* socketsJoin / disconnectSockets: to each socket's gateway. */
    iog_sockets_join(W, r, "more");
    expect_on(&A, IPC_JOIN, SA2);
    expect_on(&B, IPC_JOIN, SB1);
    nothing_on(&A, 20);
    nothing_on(&B, 20);
    iog_disconnect_sockets(W, r, true);
    expect_on(&A, IPC_DISCONNECT, SA2);
    assert_true(json_is_true(json_object_get(M.meta, "close")));
    expect_on(&B, IPC_DISCONNECT, SB1);
    assert_int_equal(iog_worker_socket_count(W), 2);
}

/* Gateway A goes silent: only its sockets go ("transport close"), A hears
 * a HELLO with a fresh incarnation, B carries on untouched. */
static void one_gateway_lost(void **st)
{
    teardown(st);
    assert_int_equal(setup_hb(50, 5000), 0);
    four_sockets();
    long long t0 = now_ms();
    for (;;) { /* A pings every 50 ms, nobody answers */
        if (recv_on(&A, 1000, 1) != 0) fail_msg("no HELLO on A after silence");
        if (M.type == IPC_HELLO) break;
        assert_int_equal(M.type, IPC_PING);
    }
    assert_true(now_ms() - t0 >= 140);
    assert_string_not_equal(meta_str("incarnation"), A.inc);
    assert_string_equal(trace, "disconnect(AAA,transport close);disconnect(AAA,transport close);");
    assert_null(by_id[0]);
    assert_null(by_id[1]);
    assert_non_null(by_id[2]);
    assert_int_equal(iog_worker_socket_count(W), 2);
    size_t up = 0;
    iog_worker_gateways(W, &up);
    assert_int_equal(up, 1);
    assert_true(iog_worker_connected(W));
    /* B: still served; broadcasts reach it alone and succeed. */
    send_on(&B, IPC_EVENT, SB1, "{\"seq\":1}", "[\"echo\",\"b\"]");
    expect_on(&B, IPC_EMIT, SB1);
    assert_int_equal(meta_int("done"), 1);
    assert_int_equal(iog_emit(W, "all", NULL), 0);
    expect_on(&B, IPC_BROADCAST, "");
    /* No HELLO to B: its incarnation and sockets stand. */
    nothing_on(&B, 30);
    /* A comes back: welcomed again, new sockets from it work. */
    send_on(&A, IPC_WELCOME, NULL, "{\"version\":1,\"gateway\":\"gwA\",\"heartbeat_ms\":5000}",
            NULL);
    pump_until(gateways_up() == 2);
    iog_worker_gateways(W, &up);
    assert_int_equal(up, 2);
    connect_on(&A, SA1);
    assert_int_equal(iog_worker_socket_count(W), 3);
}

/* A restarted gateway B (a new id in WELCOME) takes B's sockets with it. */
static void new_incarnation_of_one(void **st)
{
    four_sockets();
    send_on(&B, IPC_WELCOME, NULL, "{\"version\":1,\"gateway\":\"gwB2\",\"heartbeat_ms\":5000}",
            NULL);
    pump_until(strlen(trace) >=
               strlen("disconnect(BBB,transport close);disconnect(BBB,transport close);"));
    assert_string_equal(trace, "disconnect(BBB,transport close);disconnect(BBB,transport close);");
    assert_int_equal(iog_worker_socket_count(W), 2);
    assert_non_null(by_id[0]);
}

/* BYE from A: its sockets go, no HELLO to A again (rule 15), B carries
 * on; iog_worker_run returns once B has said BYE too. */
static void bye_from_each(void **st)
{
    four_sockets();
    send_on(&A, IPC_BYE, NULL, "{\"reason\":\"server shutting down\"}", NULL);
    pump_until(iog_worker_socket_count(W) == 2);
    assert_int_equal(iog_worker_socket_count(W), 2);
    nothing_on(&A, 100);
    send_on(&B, IPC_EVENT, SB2, "{\"seq\":1}", "[\"echo\"]");
    expect_on(&B, IPC_EMIT, SB2);
    send_on(&B, IPC_BYE, NULL, "{\"reason\":\"server shutting down\"}", NULL);
    long long t0 = now_ms();
    assert_int_equal(iog_worker_run(W), 0);
    assert_true(now_ms() - t0 < 3000); /* well before the 5 s heartbeat; margin for load */
    assert_int_equal(iog_worker_socket_count(W), 0);
    assert_false(iog_worker_connected(W));
}

/* A gateway shutting down sends DISCONNECT and BYE and closes at once,
 * before the worker has read them: they must still be read (a DEALER with
 * ZMQ_IMMEDIATE drops its pipe, and them, when the connection goes). */
static void bye_survives_gateway_close(void **st)
{
    four_sockets();
    send_on(&A, IPC_DISCONNECT, SA1, "{\"reason\":\"server shutting down\"}", NULL);
    send_on(&A, IPC_DISCONNECT, SA2, "{\"reason\":\"server shutting down\"}", NULL);
    send_on(&A, IPC_BYE, NULL, "{\"reason\":\"server shutting down\"}", NULL);
    usleep(50000); /* they are in the worker's pipe; the worker is not running */
    int linger = 100;
    zmq_setsockopt(A.router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(A.router);
    A.router = NULL;
    usleep(100000); /* the worker's I/O thread sees the connection go */
    pump_until(strlen(trace) >= strlen("disconnect(AAA,server shutting down);"
                                       "disconnect(AAA,server shutting down);"));
    assert_string_equal(trace, "disconnect(AAA,server shutting down);"
                               "disconnect(AAA,server shutting down);");
    size_t up = 0;
    iog_worker_gateways(W, &up);
    assert_int_equal(up, 1);
    assert_int_equal(iog_worker_socket_count(W), 2);
}

/* While a gateway is away its HELLOs wait in the pipe: they are repeated
 * less and less often (heartbeat, then doubling), not every heartbeat. */
static void hello_backoff_while_away(void **st)
{
    ctx = zmq_ctx_new();
    bind_gw(&A);
    bind_gw(&B);
    char eps[300];
    snprintf(eps, sizeof eps, "%s,%s", A.ep, B.ep);
    W = iog_worker_new(eps, NSP);
    assert_non_null(W);
    /* B is away: never read.  A welcomes with a 20 ms heartbeat, which is
     * also the worker's first HELLO pause after a loss. */
    welcome(&A, "gwA", 20);
    pump(10);
    for (;;) { /* A goes silent: lost after 60 ms, then HELLOs */
        if (recv_on(&A, 1000, 1) != 0) fail_msg("no HELLO on A");
        if (M.type == IPC_HELLO) break;
    }
    long long t0 = now_ms();
    int hellos = 1;
    while (now_ms() - t0 < 1000)
        if (recv_on(&A, 10, 0) == 0 && M.type == IPC_HELLO) hellos++;
    /* Every 20 ms that would be 51; doubling from 20 ms: 20, 40, 80, 160,
     * 320 (6 in all).  A 1 s window (not 400 ms) so that a test descheduled
     * for most of a second still sees the first two pauses. */
    assert_true(hellos >= 3);
    assert_true(hellos <= 8);
}

/* Loop integration: iog_worker_fds gives one fd per gateway; iog_worker_fd
 * one descriptor readable when any gateway has something. */
static void fds_for_own_loops(void **st)
{
    int fds[4] = {-1, -1, -1, -1};
    assert_int_equal(iog_worker_fds(W, fds, 4), 2);
    assert_true(fds[0] >= 0 && fds[1] >= 0 && fds[0] != fds[1]);
    assert_int_equal(iog_worker_fds(W, fds, 1), 2);
    int fd = iog_worker_fd(W);
    assert_true(fd >= 0);
    assert_int_equal(iog_worker_fd(W), fd); /* the same each time */
    fgw *gs[] = {&B, &A};
    for (int k = 0; k < 2; k++) {
        fgw *g = gs[k];
        iog_worker_process(W);
        nothing_on(&A, 5);
        nothing_on(&B, 5);
        assert_true(iog_worker_next_timeout_ms(W) > 1000);
        send_on(g, IPC_PING, NULL, NULL, NULL);
        /* Wait as an embedding loop would: on the fd, with next_timeout. */
        long long t0 = now_ms();
        int woke = 0;
        while (!woke && now_ms() - t0 < 2000) {
            int t = iog_worker_next_timeout_ms(W);
            if (t == 0) {
                woke = 1;
                break;
            }
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, t < 50 ? t : 50) > 0) woke = 1;
        }
        assert_true(woke);
        iog_worker_process(W);
        expect_on(g, IPC_PONG, NULL);
    }
}

/* Two gateways naming the same socket id: the second is refused there. */
static void duplicate_id_refused(void **st)
{
    trace[0] = 0;
    memset(by_id, 0, sizeof by_id);
    iog_on_connection(W, on_connection, NULL);
    connect_on(&A, SA1);
    send_on(&B, IPC_CONNECT, SA1, "{\"handshake\":{}}", NULL);
    expect_on(&B, IPC_REFUSE, SA1);
    assert_string_equal(meta_str("message"), "duplicate socket id");
    assert_int_equal(iog_worker_socket_count(W), 1);
    assert_string_equal(iog_socket_gateway(by_id[0]), A.ep);
}

int main(void)
{
    iog_log_level = 0; /* errors only: the tests provoke warnings on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(endpoints_and_hello, teardown),
        cmocka_unit_test_setup_teardown(per_socket_traffic, setup, teardown),
        cmocka_unit_test_setup_teardown(broadcast_and_fetch_across, setup, teardown),
        cmocka_unit_test_setup_teardown(one_gateway_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(new_incarnation_of_one, setup, teardown),
        cmocka_unit_test_setup_teardown(bye_from_each, setup, teardown),
        cmocka_unit_test_setup_teardown(bye_survives_gateway_close, setup, teardown),
        cmocka_unit_test_teardown(hello_backoff_while_away, teardown),
        cmocka_unit_test_setup_teardown(fds_for_own_loops, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_id_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
