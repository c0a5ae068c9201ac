/* test_worker_raw.c — the C worker library's raw-arguments path
 * (workers/c/raw.c: iog_socket_on_raw, iog_socket_emit_raw,
 * iog_ack_send_raw, iog_bc_emit_raw, iog_raw_args_off) against a fake
 * gateway: a real ZeroMQ ROUTER on an ipc:// endpoint speaking the real
 * codec (worker_harness.h, shared with test_worker.c).
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

#include "worker_harness.h"

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
