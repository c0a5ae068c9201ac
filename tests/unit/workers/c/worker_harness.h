/* worker_harness.h — the fake gateway the C worker library's unit tests
 * talk to (a real ZeroMQ ROUTER bound to an ipc:// endpoint, speaking the
 * real codec, ipc/ipc.h), with a small recording application and the
 * CONNECT/ACCEPT steps.  Included by test_worker.c and test_worker_raw.c
 * after their system includes; everything here is static to each test. */
#ifndef IOGATE_TEST_WORKER_HARNESS_H
#define IOGATE_TEST_WORKER_HARNESS_H

#define NSP "/t"
#define SID1 "AAAAAAAAAAAAAAAAAAA1"
#define SID2 "AAAAAAAAAAAAAAAAAAA2"
#define SID3 "AAAAAAAAAAAAAAAAAAA3"

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

static void pump(int ms)
{
    long long end = now_ms() + ms;
    while (now_ms() < end) {
        iog_worker_process(G.w);
        usleep(1000);
    }
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

static int sid_is(const char *sid)
{
    return G.m.sid.len == strlen(sid) && memcmp(G.m.sid.data, sid, G.m.sid.len) == 0;
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

/* ---- a small recording application ---- */

static char trace[4096];
static void rec(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = strlen(trace);
    vsnprintf(trace + n, sizeof trace - n, fmt, ap);
    va_end(ap);
}

static iog_socket *last_socket;
static iog_ack *held_ack;

static void on_connection(iog_socket *s, void *user)
{
    last_socket = s;
    rec("conn(%s);", iog_socket_id(s));
    if (user) ((void (*)(iog_socket *))user)(s);
}

static void connect_socket(const char *sid, const char *auth)
{
    char meta[1024];
    snprintf(meta, sizeof meta,
             "{\"handshake\":{\"headers\":{\"host\":\"x\"},\"query\":{\"EIO\":\"4\"},"
             "\"auth\":%s,\"time\":\"t\",\"issued\":1,\"url\":\"/socket.io/\","
             "\"address\":\"127.0.0.1\",\"xdomain\":false,\"secure\":false},"
             "\"transport\":\"polling\",\"recovered\":false}",
             auth ? auth : "{}");
    gw_send(IPC_CONNECT, sid, meta, NULL, NULL, 0);
}

static void connect_ok(const char *sid)
{
    connect_socket(sid, NULL);
    expect(IPC_ACCEPT);
    assert_true(sid_is(sid));
}

#endif
