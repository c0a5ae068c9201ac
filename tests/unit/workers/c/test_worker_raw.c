/* test_worker_raw.c — the C worker library's raw-arguments path
 * (workers/c/raw.c: iog_socket_on_raw, iog_socket_emit_raw,
 * iog_ack_send_raw, iog_bc_emit_raw, iog_raw_args_off) against a fake
 * gateway: a real ZeroMQ ROUTER on an ipc:// endpoint speaking the real
 * codec, as in test_worker.c (whose harness is repeated here, not shared,
 * so that each file stands alone).
 *
 * What "raw" promises, checked byte for byte: the data frame a handler
 * gets is the gateway's, unparsed (1.50 stays "1.50", "\u00e9" stays an
 * escape — a jansson round trip would rewrite both), and what it sends
 * reaches the gateway exactly as given. */
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

/* ---- raw handlers ---- */

#define RAW_EVENT "[\"echo\", 1.50 ,\"\\u00e9\",{\"k\" : [true]}]"
#define RAW_ARGS "[ 1.50 ,\"\\u00e9\",{\"k\" : [true]}]"

static char got[1024];
static size_t got_len, got_att;
static int raw_calls;

static void data_is(const char *want)
{
    if (G.m.data.len != strlen(want) || memcmp(G.m.data.data, want, G.m.data.len) != 0)
        fail_msg("data frame %.*s, want %s", (int)G.m.data.len, G.m.data.data, want);
}

/* Echo: the same bytes back as an EMIT, and "[" + the arguments as the ack. */
static void on_raw_echo(iog_socket *s, const char *json, size_t len, const iog_buf *att,
                        size_t n_att, iog_ack *ack, void *user)
{
    raw_calls++;
    assert_true(len < sizeof got);
    memcpy(got, json, len);
    got_len = len;
    got_att = n_att;
    assert_int_equal(iog_socket_emit_raw(s, json, len, att, n_att), 0);
    if (ack) {
        size_t off = iog_raw_args_off(json, len);
        assert_true(off > 0);
        char a[1024];
        a[0] = '[';
        memcpy(a + 1, json + off, len - off);
        assert_int_equal(iog_ack_send_raw(&ack, a, len - off + 1, att, n_att), 0);
        assert_null(ack);
    }
}
static void reg_raw_echo(iog_socket *s)
{
    iog_socket_on_raw(s, "echo", on_raw_echo, NULL);
}

static void raw_event_bytes_untouched(void **st)
{
    raw_calls = 0;
    iog_on_connection(G.w, on_connection, reg_raw_echo);
    connect_ok(SID1);
    gw_send(IPC_EVENT, SID1, NULL, RAW_EVENT, NULL, 0);
    expect(IPC_EMIT);
    assert_true(sid_is(SID1));
    data_is(RAW_EVENT);
    assert_int_equal(raw_calls, 1);
    assert_int_equal(got_len, strlen(RAW_EVENT));
    assert_memory_equal(got, RAW_EVENT, got_len);
    assert_int_equal(got_att, 0);
    /* with an ack: EMIT, then ACK carrying the arguments as written */
    gw_send(IPC_EVENT, SID1, "{\"ack\":7}", RAW_EVENT, NULL, 0);
    expect(IPC_EMIT);
    data_is(RAW_EVENT);
    expect(IPC_ACK);
    assert_int_equal(json_integer_value(json_object_get(G.m.meta, "id")), 7);
    data_is(RAW_ARGS);
    expect_nothing(20);
    assert_int_equal(raw_calls, 2);
}

/* Attachments travel as frames: the handler sees them, and emit_raw sends
 * them on with the placeholders as they are. */
static void raw_event_with_attachments(void **st)
{
    iog_on_connection(G.w, on_connection, reg_raw_echo);
    connect_ok(SID1);
    ipc_buf att[2] = {{"abc", 3}, {"\0\xff", 2}};
    const char *data =
        "[\"echo\",{\"_placeholder\":true,\"num\":1},{\"num\":0,\"_placeholder\":true}]";
    gw_send(IPC_EVENT, SID1, "{\"ack\":1}", data, att, 2);
    expect(IPC_EMIT);
    data_is(data);
    assert_int_equal(G.m.n_att, 2);
    assert_int_equal(G.m.att[0].len, 3);
    assert_memory_equal(G.m.att[0].data, "abc", 3);
    assert_int_equal(G.m.att[1].len, 2);
    assert_memory_equal(G.m.att[1].data, "\0\xff", 2);
    expect(IPC_ACK);
    data_is("[{\"_placeholder\":true,\"num\":1},{\"num\":0,\"_placeholder\":true}]");
    assert_int_equal(G.m.n_att, 2);
    assert_int_equal(got_att, 2);
}

/* Beside packet middleware, a catch-all or a parsed handler of the same
 * event, the raw handlers run last on the packet as the middleware left
 * it, serialized again (so 1.50 is now 1.5 and the middleware's "added" is
 * there). */
static void pmw_add(iog_socket *s, json_t *packet, iog_next_handle *next, void *user)
{
    json_array_append_new(packet, json_string("added"));
    iog_next(&next);
}
static void on_parsed(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    rec("parsed(%d);", raw_calls);
}
static void on_raw_rec(iog_socket *s, const char *json, size_t len, const iog_buf *att,
                       size_t n_att, iog_ack *ack, void *user)
{
    raw_calls++;
    rec("raw(%.*s);", (int)len, json);
    if (ack) iog_ack_send_raw(&ack, "[\"r\"]", 5, NULL, 0);
}
static void reg_mixed(iog_socket *s)
{
    iog_socket_use(s, pmw_add, NULL);
    iog_socket_on(s, "echo", on_parsed, NULL);
    iog_socket_on_raw(s, "echo", on_raw_rec, NULL);
}

static void raw_after_middleware_and_parsed(void **st)
{
    trace[0] = 0;
    raw_calls = 0;
    iog_on_connection(G.w, on_connection, reg_mixed);
    connect_ok(SID1);
    gw_send(IPC_EVENT, SID1, "{\"ack\":4}", "[\"echo\",1.50]", NULL, 0);
    expect(IPC_ACK);
    data_is("[\"r\"]");
    assert_string_equal(trace, "conn(" SID1 ");parsed(0);raw([\"echo\",1.5,\"added\"]);");
}

/* Removed raw handlers and events nobody handles: nothing runs, nothing is
 * sent, an ack request is not kept. */
static void reg_raw_then_off(iog_socket *s)
{
    iog_socket_on_raw(s, "echo", on_raw_rec, NULL);
    iog_socket_on_raw(s, "other", on_raw_rec, NULL);
    iog_socket_off_raw(s, "echo", on_raw_rec);
}

static void raw_off_and_unhandled(void **st)
{
    trace[0] = 0;
    raw_calls = 0;
    iog_on_connection(G.w, on_connection, reg_raw_then_off);
    connect_ok(SID1);
    gw_send(IPC_EVENT, SID1, "{\"ack\":1}", "[\"echo\",1]", NULL, 0);
    gw_send(IPC_EVENT, SID1, "{\"ack\":2}", "[\"nobody\",1]", NULL, 0);
    expect_nothing(30);
    assert_int_equal(raw_calls, 0);
    gw_send(IPC_EVENT, SID1, "{\"ack\":3}", "[\"oth\\u0065r\"]", NULL, 0); /* escaped name */
    expect(IPC_ACK);
    assert_int_equal(json_integer_value(json_object_get(G.m.meta, "id")), 3);
    assert_int_equal(raw_calls, 1);
}

/* A kept raw ack answered later, one never answered freed with its socket
 * (ASan / valgrind would see a leak). */
static void on_raw_keep(iog_socket *s, const char *json, size_t len, const iog_buf *att,
                        size_t n_att, iog_ack *ack, void *user)
{
    held_ack = ack;
}
static void reg_raw_keep(iog_socket *s)
{
    iog_socket_on_raw(s, "keep", on_raw_keep, NULL);
}

static void raw_ack_later_and_unanswered(void **st)
{
    iog_on_connection(G.w, on_connection, reg_raw_keep);
    connect_ok(SID1);
    gw_send(IPC_EVENT, SID1, "{\"ack\":1}", "[\"keep\"]", NULL, 0);
    expect_nothing(30);
    assert_non_null(held_ack);
    assert_int_equal(iog_ack_send_raw(&held_ack, " [] ", 4, NULL, 0), 0);
    expect(IPC_ACK);
    data_is(" [] ");
    gw_send(IPC_EVENT, SID1, "{\"ack\":2}", "[\"keep\"]", NULL, 0);
    expect_nothing(30);
    held_ack = NULL;
    gw_send(IPC_DISCONNECT, SID1, "{\"reason\":\"client namespace disconnect\"}", NULL, NULL, 0);
    pump(20);
}

/* Sends refused before anything goes out: not an array, no name, a
 * reserved name, an ack that is not an array (the ack is used up all the
 * same), a second answer. */
static void reg_nothing(iog_socket *s) {}

static void raw_sends_refused(void **st)
{
    iog_on_connection(G.w, on_connection, reg_nothing);
    connect_ok(SID1);
    iog_socket *s = last_socket;
    assert_int_equal(iog_socket_emit_raw(s, "{}", 2, NULL, 0), -1);
    assert_int_equal(iog_socket_emit_raw(s, "[1]", 3, NULL, 0), -1);
    assert_int_equal(iog_socket_emit_raw(s, "[]", 2, NULL, 0), -1);
    assert_int_equal(iog_socket_emit_raw(s, "[\"disconnect\"]", 14, NULL, 0), -1);
    assert_int_equal(iog_socket_emit_raw(s, "[\"conn\\u0065ct\"]", 16, NULL, 0), -1);
    assert_string_equal(iog_strerror(), "reserved event name");
    assert_int_equal(iog_socket_emit_raw(s, "[\"a\"", 3, NULL, 0), -1); /* cut inside the name */
    assert_int_equal(iog_socket_emit_raw(s, NULL, 0, NULL, 0), -1);
    iog_broadcast *b = iog_broadcast_new(G.w);
    assert_int_equal(iog_bc_emit_raw(&b, "[\"newListener\"]", 15, NULL, 0), -1);
    assert_null(b);
    iog_ack *none = NULL;
    assert_int_equal(iog_ack_send_raw(&none, "[]", 2, NULL, 0), -1);
    expect_nothing(30);
    /* a valid one still goes out, length-bounded (no NUL needed) */
    assert_int_equal(iog_socket_emit_raw(s, "[\"x\",2]garbage", 7, NULL, 0), 0);
    expect(IPC_EMIT);
    data_is("[\"x\",2]");
}

static void raw_broadcast(void **st)
{
    iog_on_connection(G.w, on_connection, reg_nothing);
    connect_ok(SID1);
    iog_broadcast *b = iog_bc_except(iog_bc_to(iog_broadcast_new(G.w), "r1"), "r2");
    assert_int_equal(iog_bc_emit_raw(&b, "[\"b\", 1.50]", 11, NULL, 0), 0);
    assert_null(b);
    expect(IPC_BROADCAST);
    data_is("[\"b\", 1.50]");
    char *r = json_dumps(G.m.meta, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(r, "{\"except\":[\"r2\"],\"rooms\":[\"r1\"]}");
    free(r);
    b = iog_bc_volatile(iog_broadcast_new(G.w));
    ipc_buf att[1] = {{"z", 1}};
    assert_int_equal(iog_bc_emit_raw(&b, "[\"f\",{\"_placeholder\":true,\"num\":0}]", 35,
                                     (const iog_buf *)att, 1),
                     0);
    expect(IPC_BROADCAST);
    assert_true(json_is_true(json_object_get(G.m.meta, "volatile")));
    assert_int_equal(G.m.n_att, 1);
}

/* iog_raw_args_off over well-formed and broken texts. */
static void args_offset(void **st)
{
    struct {
        const char *json;
        const char *args; /* "[" + json[off..]; NULL: 0 expected */
    } cases[] = {
        {"[\"a\"]", "[]"},
        {"[\"a\",1]", "[1]"},
        {" [ \"a\\\"b\" , 2 ,3] ", "[ 2 ,3] "},
        {"[\"\\ud83d\\ude00\",{}]", "[{}]"},
        {"[\"a\" ]", "[]"},
        {"{}", NULL},
        {"[1,\"a\"]", NULL},
        {"[\"a\"", NULL},
        {"[\"a\" x]", NULL},
        {"[\"\\ud83d\"]", NULL}, /* lone surrogate */
        {"[\"\\u0000\"]", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = strlen(cases[i].json);
        size_t off = iog_raw_args_off(cases[i].json, len);
        if (!cases[i].args) {
            if (off != 0) fail_msg("%s: offset %zu, want 0", cases[i].json, off);
            continue;
        }
        char buf[64];
        snprintf(buf, sizeof buf, "[%.*s", (int)(len - off), cases[i].json + off);
        if (off == 0 || strcmp(buf, cases[i].args) != 0)
            fail_msg("%s: args %s, want %s", cases[i].json, buf, cases[i].args);
    }
    assert_int_equal(iog_raw_args_off(NULL, 0), 0);
    /* a name longer than the extractor's buffer: 0, and such an event
     * takes the parsed path */
    char big[600];
    big[0] = '[', big[1] = '"';
    memset(big + 2, 'n', 500);
    memcpy(big + 502, "\",1]", 5);
    assert_int_equal(iog_raw_args_off(big, strlen(big)), 0);
}

/* A long name skips the fast path: the parsed path still reaches the raw
 * handler (re-serialized). */
static char long_name[400];
static void reg_long(iog_socket *s)
{
    iog_socket_on_raw(s, long_name, on_raw_rec, NULL);
}

static void long_event_name_takes_parsed_path(void **st)
{
    trace[0] = 0;
    raw_calls = 0;
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    iog_on_connection(G.w, on_connection, reg_long);
    connect_ok(SID1);
    char data[512];
    snprintf(data, sizeof data, "[\"%s\", 2.50]", long_name);
    gw_send(IPC_EVENT, SID1, "{\"ack\":9}", data, NULL, 0);
    expect(IPC_ACK);
    assert_int_equal(raw_calls, 1);
    assert_non_null(strstr(trace, ",2.5]);"));
}

/* Numbers the gateway passes as JSON.parse reads them: an integer past
 * int64 reaches a parsed handler as a double; a real past a double (1e400)
 * cannot be a jansson value, so only a raw handler gets that event. */
static void on_big(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    rec("big(%s,%.0f);", json_is_real(json_array_get(args, 0)) ? "real" : "?",
        json_real_value(json_array_get(args, 0)));
}
static void reg_big(iog_socket *s)
{
    iog_socket_on(s, "big", on_big, NULL);
    iog_socket_on_raw(s, "inf", on_raw_rec, NULL);
}

static void big_numbers(void **st)
{
    trace[0] = 0;
    raw_calls = 0;
    iog_on_connection(G.w, on_connection, reg_big);
    connect_ok(SID1);
    gw_send(IPC_EVENT, SID1, NULL, "[\"big\",18446744073709551616]", NULL, 0);
    gw_send(IPC_EVENT, SID1, NULL, "[\"inf\",1e400]", NULL, 0);
    expect_nothing(30);
    assert_string_equal(trace,
                        "conn(" SID1 ");big(real,18446744073709551616);raw([\"inf\",1e400]);");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(raw_event_bytes_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_event_with_attachments, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_after_middleware_and_parsed, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_off_and_unhandled, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_ack_later_and_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_sends_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_broadcast, setup, teardown),
        cmocka_unit_test(args_offset),
        cmocka_unit_test_setup_teardown(long_event_name_takes_parsed_path, setup, teardown),
        cmocka_unit_test_setup_teardown(big_numbers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
