/* test_worker.c — the C worker library against a fake gateway: a real
 * ZeroMQ ROUTER bound here to an ipc:// endpoint, speaking the real codec
 * (ipc/ipc.h).  Each test drives the worker with iog_worker_process() while
 * it waits for the worker's messages, so everything runs on one thread. */
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

/* an async middleware's next(), held by a test until it decides */
static iog_next_handle *held;

/* ---- tests ---- */

static void hello_content(void **st)
{
    memset(&G, 0, sizeof G);
    G.ctx = zmq_ctx_new();
    G.router = zmq_socket(G.ctx, ZMQ_ROUTER);
    snprintf(G.ep, sizeof G.ep, "ipc:///tmp/iog-test-worker-%d-%d.sock", (int)getpid(), counter++);
    assert_int_equal(zmq_bind(G.router, G.ep), 0);
    setenv("IOGATE_ENDPOINT", G.ep, 1);
    setenv("IOGATE_NAMESPACE", NSP, 1);
    G.w = iog_worker_new(NULL, NULL);
    assert_non_null(G.w);
    assert_string_equal(iog_worker_namespace(G.w), NSP);
    assert_int_equal(iog_worker_subscribe_conn(G.w, IOG_CONN_PACKET | IOG_CONN_CLOSE), 0);
    assert_true(iog_worker_fd(G.w) >= 0);
    assert_int_equal(iog_worker_subscribe_conn(G.w, IOG_CONN_DRAIN), -1); /* started */
    expect(IPC_HELLO);
    assert_int_equal(G.m.nsp.len, 2);
    assert_memory_equal(G.m.nsp.data, NSP, 2);
    assert_int_equal(G.m.sid.len, 0);
    assert_int_equal(json_integer_value(json_object_get(G.m.meta, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(G.m.meta, "pid")), getpid());
    assert_int_equal(strlen(meta_str("incarnation")), 32);
    char *ev = json_dumps(json_object_get(G.m.meta, "conn_events"), JSON_COMPACT);
    assert_string_equal(ev, "[\"upgrade\",\"packet\",\"close\"]");
    free(ev);
    assert_false(iog_worker_connected(G.w));
    gw_send(IPC_WELCOME, NULL, "{\"version\":1,\"gateway\":\"g\",\"heartbeat_ms\":5000}", NULL,
            NULL, 0);
    pump_until(iog_worker_connected(G.w));
    assert_true(iog_worker_connected(G.w));
    unsetenv("IOGATE_ENDPOINT");
    unsetenv("IOGATE_NAMESPACE");
}

/* Namespace middleware: m1 synchronous, m2 asynchronous. */
static void mw_sync(iog_socket *s, iog_next_handle *next, void *user)
{
    rec("m1;");
    iog_next(&next);
    assert_null(next);
}
static void mw_async(iog_socket *s, iog_next_handle *next, void *user)
{
    rec("m2;");
    held = next;
}
static void mw_join(iog_socket *s, iog_next_handle *next, void *user)
{
    iog_socket_join(s, "early");
    iog_next(&next);
}

static void middleware_sync_and_async(void **st)
{
    trace[0] = 0;
    iog_use(G.w, mw_sync, NULL);
    iog_use(G.w, mw_async, NULL);
    iog_use(G.w, mw_join, NULL);
    iog_on_connection(G.w, on_connection, NULL);
    connect_socket(SID1, "{\"token\":\"x\"}");
    expect_nothing(50);
    assert_string_equal(trace, "m1;m2;");
    assert_non_null(held);
    assert_int_equal(iog_worker_socket_count(G.w), 0);
    iog_next(&held);
    assert_string_equal(trace, "m1;m2;conn(" SID1 ");");
    expect(IPC_ACCEPT);
    assert_true(sid_is(SID1));
    /* The room joined in middleware reaches the gateway after ACCEPT. */
    expect(IPC_JOIN);
    char *r = json_dumps(json_object_get(G.m.meta, "rooms"), JSON_COMPACT);
    assert_string_equal(r, "[\"early\"]");
    free(r);
    json_t *hs = iog_socket_handshake(last_socket);
    assert_string_equal(json_string_value(json_object_get(json_object_get(hs, "auth"), "token")),
                        "x");
    assert_string_equal(json_string_value(json_object_get(hs, "address")), "127.0.0.1");
    assert_string_equal(iog_socket_transport(last_socket), "polling");
    size_t n;
    const char *const *rooms = iog_socket_rooms(last_socket, &n);
    assert_int_equal(n, 2);
    assert_string_equal(rooms[0], SID1);
    assert_string_equal(rooms[1], "early");
    assert_int_equal(iog_worker_socket_count(G.w), 1);
}

static void mw_refuse(iog_socket *s, iog_next_handle *next, void *user)
{
    iog_next_error(&next, "refused", json_pack("{s:s}", "reason", "auth"));
}

static void middleware_refusal(void **st)
{
    trace[0] = 0;
    iog_use(G.w, mw_refuse, NULL);
    iog_on_connection(G.w, on_connection, NULL);
    connect_socket(SID1, NULL);
    expect(IPC_REFUSE);
    assert_true(sid_is(SID1));
    assert_string_equal(meta_str("message"), "refused");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(G.m.meta, "data"), "reason")), "auth");
    assert_string_equal(trace, "");
    assert_int_equal(iog_worker_socket_count(G.w), 0);
    /* Events for the refused id are ignored. */
    gw_send(IPC_EVENT, SID1, NULL, "[\"message\"]", NULL, 0);
    expect_nothing(30);
}

static void async_middleware_socket_gone(void **st)
{
    trace[0] = 0;
    iog_use(G.w, mw_async, NULL);
    iog_on_connection(G.w, on_connection, NULL);
    connect_socket(SID1, NULL);
    pump_until(held != NULL);
    assert_non_null(held);
    gw_send(IPC_DISCONNECT, SID1, "{\"reason\":\"transport close\"}", NULL, NULL, 0);
    pump(30);
    iog_next(&held); /* orphaned: just freed */
    expect_nothing(30);
    assert_string_equal(trace, "m2;");
}

/* Events in, with binary and acks. */
static void on_message(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    rec("message(%zu);", json_array_size(args));
    assert_string_equal(json_string_value(json_array_get(args, 0)), "hi");
    size_t len;
    const char *b0 =
        iog_binary_data(json_array_get(json_object_get(json_array_get(args, 1), "a"), 0), &len);
    assert_non_null(b0);
    assert_int_equal(len, 3);
    assert_memory_equal(b0, "abc", 3);
    const char *b1 = iog_binary_data(json_array_get(args, 2), &len);
    assert_int_equal(len, 2);
    assert_memory_equal(b1, "\0\xff", 2);
    assert_non_null(ack);
    json_t *reply = json_pack("[s,o]", "ok", iog_binary_new("zz", 2));
    assert_int_equal(iog_ack_send(&ack, reply), 0);
    assert_null(ack);
}

static void reg_message(iog_socket *s)
{
    iog_socket_on(s, "message", on_message, NULL);
}

static void event_binary_and_ack(void **st)
{
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, reg_message);
    connect_ok(SID1);
    ipc_buf att[2] = {{"abc", 3}, {"\0\xff", 2}};
    gw_send(IPC_EVENT, SID1, "{\"ack\":12345678901}",
            "[\"message\",\"hi\",{\"a\":[{\"num\":0,\"_placeholder\":true}]},"
            "{\"_placeholder\":true,\"num\":1}]",
            att, 2);
    expect(IPC_ACK);
    assert_true(sid_is(SID1));
    assert_int_equal(json_integer_value(json_object_get(G.m.meta, "id")), 12345678901LL);
    assert_int_equal(G.m.n_att, 1);
    assert_memory_equal(G.m.att[0].data, "zz", 2);
    assert_string_equal(json_string_value(json_array_get(G.data, 0)), "ok");
    assert_true(json_is_true(json_object_get(json_array_get(G.data, 1), "_placeholder")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(G.data, 1), "num")), 0);
    assert_string_equal(trace, "conn(" SID1 ");message(3);");
}

static void forged_binary_is_not_binary(void **st)
{
    json_t *v = json_loads("{\"\\u00ffiog-binary\":\"x\"}", 0, NULL);
    assert_non_null(v);
    assert_false(iog_is_binary(v));
    json_decref(v);
    /* The worker checks received placeholders with the shared codec. */
    const char *why;
    json_t *ph = json_loads("[{\"_placeholder\":true,\"num\":1}]", 0, NULL);
    assert_int_equal(ipc_check_placeholders(ph, 1, 8, &why), -1);
    json_decref(ph);
    json_t *b = iog_binary_new("", 0);
    size_t len = 9;
    assert_non_null(iog_binary_data(b, &len));
    assert_int_equal(len, 0);
    json_decref(b);
}

/* A kept ack answered later, and an unanswered one freed with the socket. */
static void on_keep(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    held_ack = ack;
}
static void reg_keep(iog_socket *s)
{
    iog_socket_on(s, "keep", on_keep, NULL);
}

static void ack_later_and_unanswered(void **st)
{
    iog_on_connection(G.w, on_connection, reg_keep);
    connect_ok(SID1);
    gw_send(IPC_EVENT, SID1, "{\"ack\":1}", "[\"keep\"]", NULL, 0);
    expect_nothing(30);
    assert_non_null(held_ack);
    assert_int_equal(iog_ack_send(&held_ack, NULL), 0);
    expect(IPC_ACK);
    assert_int_equal(json_array_size(G.data), 0);
    gw_send(IPC_EVENT, SID1, "{\"ack\":2}", "[\"keep\"]", NULL, 0);
    expect_nothing(30);
    held_ack = NULL; /* never answered: freed by the library (valgrind/ASan) */
    gw_send(IPC_DISCONNECT, SID1, "{\"reason\":\"client namespace disconnect\"}", NULL, NULL, 0);
    pump(20);
}

/* Socket middleware. */
static void pmw(iog_socket *s, json_t *packet, iog_next_handle *next, void *user)
{
    const char *ev = json_string_value(json_array_get(packet, 0));
    if (strcmp(ev, "forbidden") == 0) {
        iog_next_error(&next, "forbidden event", NULL);
    } else {
        json_array_append_new(packet, json_string("added"));
        iog_next(&next);
    }
}
static void on_err(iog_socket *s, const char *message, json_t *data, void *user)
{
    rec("error(%s);", message);
    iog_socket_emit(s, "error-seen", json_pack("[s]", message));
}
static void on_any_ev(iog_socket *s, const char *event, json_t *args, iog_ack *ack, void *user)
{
    rec("any(%s);", event);
}
static void on_ev(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    rec("%s(%s);", (char *)user, json_string_value(json_array_get(args, 0)));
}
static void reg_pmw(iog_socket *s)
{
    iog_socket_use(s, pmw, NULL);
    iog_socket_on_error(s, on_err, NULL);
    iog_socket_on_any(s, on_any_ev, NULL);
    iog_socket_on(s, "forbidden", on_ev, "forbidden");
    iog_socket_on(s, "ok", on_ev, "ok");
}

static void socket_middleware_error(void **st)
{
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, reg_pmw);
    connect_ok(SID1);
    gw_send(IPC_EVENT, SID1, "{\"ack\":3}", "[\"forbidden\",1]", NULL, 0);
    expect(IPC_EMIT);
    assert_string_equal(json_string_value(json_array_get(G.data, 0)), "error-seen");
    assert_string_equal(json_string_value(json_array_get(G.data, 1)), "forbidden event");
    gw_send(IPC_EVENT, SID1, NULL, "[\"ok\"]", NULL, 0);
    expect_nothing(30);
    assert_string_equal(trace, "conn(" SID1 ");error(forbidden event);any(ok);ok(added);");
}

/* Emits. */
static void emit_with_placeholders(void **st)
{
    iog_on_connection(G.w, on_connection, NULL);
    connect_ok(SID1);
    json_t *args = json_pack("[o,{s:[i,o]},s]", iog_binary_new("xyz", 3), "deep", 1,
                             iog_binary_new("q", 1), "plain");
    assert_int_equal(iog_socket_emit(last_socket, "bin", args), 0);
    expect(IPC_EMIT);
    assert_true(sid_is(SID1));
    assert_int_equal(json_object_size(G.m.meta), 0);
    char *d = json_dumps(G.data, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(d, "[\"bin\",{\"_placeholder\":true,\"num\":0},{\"deep\":[1,{\"_"
                           "placeholder\":true,\"num\":1}]},\"plain\"]");
    free(d);
    assert_int_equal(G.m.n_att, 2);
    assert_memory_equal(G.m.att[0].data, "xyz", 3);
    assert_memory_equal(G.m.att[1].data, "q", 1);
    /* volatile, and a single non-array argument */
    assert_int_equal(iog_socket_emit_volatile(last_socket, "v", json_integer(7)), 0);
    expect(IPC_EMIT);
    assert_true(json_is_true(json_object_get(G.m.meta, "volatile")));
    d = json_dumps(G.data, JSON_COMPACT);
    assert_string_equal(d, "[\"v\",7]");
    free(d);
}

static void reserved_names_refused(void **st)
{
    static const char *names[] = {"connect",       "connect_error", "disconnect",
                                  "disconnecting", "newListener",   "removeListener"};
    iog_on_connection(G.w, on_connection, NULL);
    connect_ok(SID1);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(iog_socket_emit(last_socket, names[i], json_array()), -1);
        assert_string_equal(iog_strerror(), "reserved event name");
        assert_int_equal(iog_socket_emit_with_ack(last_socket, names[i], NULL, 100, NULL, NULL),
                         -1);
        iog_broadcast *b = iog_socket_broadcast(last_socket);
        assert_int_equal(iog_bc_emit(&b, names[i], NULL), -1);
        assert_null(b);
    }
    expect_nothing(30);
}

static void ack_cb(iog_socket *s, const char *err, json_t *args, void *user)
{
    if (err)
        rec("ackerr(%s);", err);
    else
        rec("ack(%s);", json_string_value(json_array_get(args, 0)));
}

static void emit_with_ack_and_timeout(void **st)
{
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, NULL);
    connect_ok(SID1);
    assert_int_equal(
        iog_socket_emit_with_ack(last_socket, "q", json_pack("[i]", 42), 1000, ack_cb, NULL), 0);
    expect(IPC_EMIT);
    json_int_t id = json_integer_value(json_object_get(G.m.meta, "ack"));
    char meta[64];
    snprintf(meta, sizeof meta, "{\"id\":%lld}", (long long)id);
    gw_send(IPC_ACK, SID1, meta, "[\"answer\"]", NULL, 0);
    pump_until(strcmp(trace, "conn(" SID1 ");ack(answer);") == 0);
    assert_string_equal(trace, "conn(" SID1 ");ack(answer);");
    /* A second ack with the same id is ignored. */
    gw_send(IPC_ACK, SID1, meta, "[\"again\"]", NULL, 0);
    pump(20);
    assert_string_equal(trace, "conn(" SID1 ");ack(answer);");
    /* Timeout. */
    trace[0] = 0;
    long long t0 = now_ms();
    assert_int_equal(iog_socket_emit_with_ack(last_socket, "q", NULL, 60, ack_cb, NULL), 0);
    expect(IPC_EMIT);
    assert_int_not_equal(json_integer_value(json_object_get(G.m.meta, "ack")), id);
    assert_true(iog_worker_next_timeout_ms(G.w) <= 60);
    while (!trace[0] && now_ms() - t0 < 1000)
        pump(5);
    assert_string_equal(trace, "ackerr(operation has timed out);");
    assert_true(now_ms() - t0 >= 55);
    /* Pending at disconnect: fails with the disconnect error. */
    trace[0] = 0;
    assert_int_equal(iog_socket_emit_with_ack(last_socket, "q", NULL, 0, ack_cb, NULL), 0);
    expect(IPC_EMIT);
    gw_send(IPC_DISCONNECT, SID1, "{\"reason\":\"ping timeout\"}", NULL, NULL, 0);
    pump_until(trace[0]);
    assert_string_equal(trace, "ackerr(socket has been disconnected);");
}

static void broadcast_meta(const char *want_meta, const char *want_data)
{
    expect(IPC_BROADCAST);
    assert_int_equal(G.m.sid.len, 0);
    char *m = json_dumps(G.m.meta, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(m, want_meta);
    free(m);
    char *d = json_dumps(G.data, JSON_COMPACT);
    assert_string_equal(d, want_data);
    free(d);
}

static void rooms_and_broadcasts(void **st)
{
    iog_on_connection(G.w, on_connection, NULL);
    connect_ok(SID1);
    iog_socket *s = last_socket;
    assert_int_equal(iog_socket_join(s, "r1"), 0);
    expect(IPC_JOIN);
    assert_true(sid_is(SID1));
    char *r = json_dumps(json_object_get(G.m.meta, "rooms"), JSON_COMPACT);
    assert_string_equal(r, "[\"r1\"]");
    free(r);
    assert_int_equal(iog_socket_join(s, "r1"), 0); /* already in: nothing */
    expect_nothing(20);
    assert_true(iog_socket_in_room(s, "r1"));
    assert_true(iog_socket_in_room(s, SID1));
    assert_int_equal(iog_socket_leave(s, "nope"), 0);
    expect_nothing(20);
    assert_int_equal(iog_socket_join(s, "r2"), 0);
    expect(IPC_JOIN);
    assert_int_equal(iog_socket_leave(s, "r2"), 0);
    expect(IPC_LEAVE);
    r = json_dumps(json_object_get(G.m.meta, "rooms"), JSON_COMPACT);
    assert_string_equal(r, "[\"r2\"]");
    free(r);
    assert_false(iog_socket_in_room(s, "r2"));

    iog_broadcast *b = iog_socket_to(s, "r1");
    assert_int_equal(iog_bc_emit(&b, "say", json_pack("[s]", "hello")), 0);
    assert_null(b);
    broadcast_meta("{\"except\":[\"" SID1 "\"],\"rooms\":[\"r1\"]}", "[\"say\",\"hello\"]");
    b = iog_bc_volatile(iog_bc_except(iog_bc_to(iog_to(G.w, "a"), "b"), "c"));
    assert_int_equal(iog_bc_emit(&b, "x", NULL), 0);
    broadcast_meta("{\"except\":[\"c\"],\"rooms\":[\"a\",\"b\"],\"volatile\":true}", "[\"x\"]");
    assert_int_equal(iog_emit(G.w, "all", json_pack("[o]", iog_binary_new("B", 1))), 0);
    broadcast_meta("{}", "[\"all\",{\"_placeholder\":true,\"num\":0}]");
    assert_int_equal(G.m.n_att, 1);
    b = iog_socket_broadcast(s);
    assert_int_equal(iog_bc_emit(&b, "others", NULL), 0);
    broadcast_meta("{\"except\":[\"" SID1 "\"]}", "[\"others\"]");
}

/* Disconnect from the gateway: disconnecting sees the rooms, disconnect the
 * exact reason, and a late join is ignored. */
static void on_disconnecting(iog_socket *s, const char *reason, void *user)
{
    size_t n;
    iog_socket_rooms(s, &n);
    rec("disconnecting(%s,%zu,%d);", reason, n, iog_socket_in_room(s, "r1"));
}
static void on_disconnect(iog_socket *s, const char *reason, void *user)
{
    size_t n;
    iog_socket_rooms(s, &n);
    rec("disconnect(%s,%zu);", reason, n);
    assert_int_equal(iog_socket_join(s, "late"), 0); /* ignored */
    assert_int_equal(iog_socket_emit(s, "late", NULL), -1);
    assert_int_equal(iog_socket_disconnect(s, false), -1);
}
static void reg_disc(iog_socket *s)
{
    iog_socket_on_disconnecting(s, on_disconnecting, NULL);
    iog_socket_on_disconnect(s, on_disconnect, NULL);
    iog_socket_join(s, "r1");
}

static void disconnect_from_gateway(void **st)
{
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, reg_disc);
    connect_ok(SID1);
    expect(IPC_JOIN);
    gw_send(IPC_DISCONNECT, SID1, "{\"reason\":\"client namespace disconnect\"}", NULL, NULL, 0);
    expect_nothing(30);
    assert_string_equal(trace, "conn(" SID1 ");disconnecting(client namespace disconnect,2,1);"
                               "disconnect(client namespace disconnect,0);");
    assert_int_equal(iog_worker_socket_count(G.w), 0);
    /* A JOIN-worthy event for the gone socket is ignored. */
    gw_send(IPC_EVENT, SID1, NULL, "[\"join\",\"x\"]", NULL, 0);
    expect_nothing(20);
}

static void disconnect_from_worker(void **st)
{
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, reg_disc);
    connect_ok(SID1);
    expect(IPC_JOIN);
    assert_int_equal(iog_socket_disconnect(last_socket, true), 0);
    expect(IPC_DISCONNECT);
    assert_true(sid_is(SID1));
    assert_true(json_is_true(json_object_get(G.m.meta, "close")));
    assert_string_equal(trace, "conn(" SID1 ");disconnecting(server namespace disconnect,2,1);"
                               "disconnect(server namespace disconnect,0);");
    expect_nothing(20);
}

static void on_conn_ev(iog_socket *s, const char *event, json_t *meta, void *user)
{
    rec("conn:%s;", event);
}
static void reg_conn(iog_socket *s)
{
    iog_socket_on_conn(s, on_conn_ev, NULL);
    iog_socket_on(s, "a", on_ev, "a1");
    iog_socket_on(s, "a", on_ev, "a2");
}

static void conn_notices_and_off(void **st)
{
    teardown(st);
    assert_int_equal(setup_hb(5000, IOG_CONN_DRAIN), 0);
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, reg_conn);
    connect_ok(SID1);
    gw_send(IPC_CONN, SID1, "{\"event\":\"upgrade\",\"transport\":\"websocket\"}", NULL, NULL, 0);
    gw_send(IPC_CONN, SID1, "{\"event\":\"drain\"}", NULL, NULL, 0);
    gw_send(IPC_EVENT, SID1, NULL, "[\"a\",\"x\"]", NULL, 0);
    pump_until(strlen(trace) >= strlen("conn(" SID1 ");conn:upgrade;conn:drain;a1(x);a2(x);"));
    assert_string_equal(iog_socket_transport(last_socket), "websocket");
    assert_string_equal(trace, "conn(" SID1 ");conn:upgrade;conn:drain;a1(x);a2(x);");
    trace[0] = 0;
    iog_socket_off(last_socket, "a", on_ev);
    gw_send(IPC_EVENT, SID1, NULL, "[\"a\",\"y\"]", NULL, 0);
    pump(30);
    assert_string_equal(trace, "");
}

/* Namespace utilities. */
static void set_data(iog_socket *s)
{
    iog_socket_set_data(s, json_pack("{s:s}", "name", iog_socket_id(s)));
}

static void fetch_join_leave_disconnect(void **st)
{
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, set_data);
    connect_ok(SID1);
    connect_ok(SID2);
    connect_ok(SID3);
    iog_socket_join(last_socket, "three");
    expect(IPC_JOIN);
    json_t *all = iog_fetch_sockets(G.w, NULL);
    assert_int_equal(json_array_size(all), 3);
    json_t *first = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), SID1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "data"), "name")),
                        SID1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(first, "handshake"), "headers"), "host")),
        "x");
    json_decref(all);
    const char *r3[] = {"three", NULL};
    json_t *some = iog_fetch_sockets(G.w, r3);
    assert_int_equal(json_array_size(some), 1);
    char *rooms = json_dumps(json_object_get(json_array_get(some, 0), "rooms"), JSON_COMPACT);
    assert_string_equal(rooms, "[\"" SID3 "\",\"three\"]");
    free(rooms);
    json_decref(some);

    /* socketsJoin: every socket but SID2 joins "g". */
    iog_broadcast *b = iog_bc_except(iog_broadcast_new(G.w), SID2);
    iog_bc_sockets_join(b, "g");
    iog_bc_destroy(&b);
    expect(IPC_JOIN);
    assert_true(sid_is(SID1));
    expect(IPC_JOIN);
    assert_true(sid_is(SID3));
    const char *rg[] = {"g", NULL};
    some = iog_fetch_sockets(G.w, rg);
    assert_int_equal(json_array_size(some), 2);
    json_decref(some);
    iog_sockets_leave(G.w, r3, "g");
    expect(IPC_LEAVE);
    assert_true(sid_is(SID3));
    iog_disconnect_sockets(G.w, rg, false);
    expect(IPC_DISCONNECT);
    assert_true(sid_is(SID1));
    assert_false(json_is_true(json_object_get(G.m.meta, "close")));
    expect_nothing(20);
    assert_int_equal(iog_worker_socket_count(G.w), 2);
    iog_disconnect_sockets(G.w, NULL, true);
    expect(IPC_DISCONNECT);
    expect(IPC_DISCONNECT);
    assert_int_equal(iog_worker_socket_count(G.w), 0);
}

static void heartbeat_pong_and_ping(void **st)
{
    gw_send(IPC_PING, NULL, NULL, NULL, NULL, 0);
    expect(IPC_PONG);
    assert_int_equal(G.m.nsp.len, 0);
    teardown(st);
    assert_int_equal(setup_hb(50, 0), 0);
    expect(IPC_PING); /* the worker pings every heartbeat_ms */
    assert_int_equal(G.m.nsp.len, 0);
}

static void gateway_silence_is_transport_close(void **st)
{
    teardown(st);
    assert_int_equal(setup_hb(50, 0), 0);
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, reg_disc);
    connect_ok(SID1);
    expect(IPC_JOIN);
    assert_int_equal(iog_socket_emit_with_ack(last_socket, "q", NULL, 0, ack_cb, NULL), 0);
    expect(IPC_EMIT);
    /* Keep silent: the worker pings, nobody answers. */
    long long t0 = now_ms();
    for (;;) {
        if (gw_recv(1000, 1) != 0) fail_msg("no HELLO after silence");
        if (G.m.type == IPC_HELLO) break;
        assert_int_equal(G.m.type, IPC_PING);
    }
    assert_true(now_ms() - t0 >= 140);
    /* A fresh incarnation, so a gateway that was alive after all drops
     * what it still routes to us. */
    assert_string_not_equal(meta_str("incarnation"), G.inc);
    assert_int_equal(iog_emit(G.w, "x", NULL), -1);
    assert_string_equal(iog_strerror(), "not connected to the gateway");
    assert_string_equal(trace, "conn(" SID1 ");disconnecting(transport close,2,1);"
                               "disconnect(transport close,0);"
                               "ackerr(socket has been disconnected);");
    assert_false(iog_worker_connected(G.w));
    assert_int_equal(iog_worker_socket_count(G.w), 0);
}

static void bad_messages_ignored(void **st)
{
    iog_on_connection(G.w, on_connection, NULL);
    connect_ok(SID1);
    ipc_buf rid = {G.rid, G.rid_len};
    /* wrong version */
    ipc_buf bad[6] = {{"IOG9", 4}, {"EVENT", 5}, {NSP, 2}, {SID1, 20}, {"", 0}, {"[\"a\"]", 5}};
    zmq_send(G.router, rid.data, rid.len, ZMQ_SNDMORE);
    for (int i = 0; i < 6; i++)
        zmq_send(G.router, bad[i].data, bad[i].len, i < 5 ? ZMQ_SNDMORE : 0);
    /* meta not an object, other namespace, unknown socket, wrong placeholders */
    gw_send(IPC_EVENT, SID1, "[1]", "[\"a\"]", NULL, 0);
    gw_send(IPC_EVENT, SID2, NULL, "[\"a\"]", NULL, 0);
    gw_send(IPC_EVENT, SID1, NULL, "[\"a\",{\"_placeholder\":true,\"num\":3}]", NULL, 0);
    gw_send(IPC_EVENT, SID1, NULL, "[\"disconnect\"]", NULL, 0);
    expect_nothing(40);
    assert_int_equal(iog_worker_socket_count(G.w), 1);
}

/* A recovered socket (PROTOCOL.md rules 16, 33) comes with its rooms; only
 * the changes made in middleware go back to the gateway. */
static void mw_move(iog_socket *s, iog_next_handle *next, void *user)
{
    assert_true(iog_socket_recovered(s));
    assert_true(iog_socket_in_room(s, "r2"));
    iog_socket_leave(s, "r2");
    iog_socket_join(s, "r3");
    iog_next(&next);
}

static void recovered_socket_rooms(void **st)
{
    trace[0] = 0;
    iog_on_connection(G.w, on_connection, NULL);
    gw_send(IPC_CONNECT, SID1,
            "{\"handshake\":{\"auth\":{\"k\":1}},\"transport\":\"websocket\","
            "\"recovered\":true,\"rooms\":[\"" SID1 "\",\"r1\"]}",
            NULL, NULL, 0);
    expect(IPC_ACCEPT);
    expect_nothing(20); /* the gateway has these rooms already */
    assert_true(iog_socket_recovered(last_socket));
    assert_true(iog_socket_in_room(last_socket, "r1"));
    assert_string_equal(iog_socket_transport(last_socket), "websocket");
    iog_use(G.w, mw_move, NULL);
    gw_send(IPC_CONNECT, SID2,
            "{\"handshake\":{},\"recovered\":true,\"rooms\":[\"" SID2 "\",\"r1\",\"r2\"]}", NULL,
            NULL, 0);
    expect(IPC_ACCEPT);
    expect(IPC_JOIN);
    char *r = json_dumps(json_object_get(G.m.meta, "rooms"), JSON_COMPACT);
    assert_string_equal(r, "[\"r3\"]");
    free(r);
    expect(IPC_LEAVE);
    r = json_dumps(json_object_get(G.m.meta, "rooms"), JSON_COMPACT);
    assert_string_equal(r, "[\"r2\"]");
    free(r);
    json_t *rooms = iog_socket_rooms_json(last_socket);
    r = json_dumps(rooms, JSON_COMPACT);
    assert_string_equal(r, "[\"" SID2 "\",\"r1\",\"r3\"]");
    free(r);
    json_decref(rooms);
    /* handshake without auth gets {} */
    assert_true(json_is_object(json_object_get(iog_socket_handshake(last_socket), "auth")));
}

/* Many sockets: the id table grows, lookups and removal stay right. */
static void many_sockets(void **st)
{
    iog_on_connection(G.w, on_connection, NULL);
    char sid[21];
    for (int i = 0; i < 300; i++) {
        snprintf(sid, sizeof sid, "S%019d", i);
        connect_socket(sid, NULL);
    }
    for (int i = 0; i < 300; i++)
        expect(IPC_ACCEPT);
    assert_int_equal(iog_worker_socket_count(G.w), 300);
    for (int i = 0; i < 300; i += 2) {
        snprintf(sid, sizeof sid, "S%019d", i);
        gw_send(IPC_DISCONNECT, sid, "{\"reason\":\"transport close\"}", NULL, NULL, 0);
    }
    snprintf(sid, sizeof sid, "S%019d", 299);
    gw_send(IPC_EVENT, sid, "{\"ack\":1}", "[\"unhandled\"]", NULL, 0);
    pump_until(iog_worker_socket_count(G.w) == 150);
    assert_int_equal(iog_worker_socket_count(G.w), 150);
    json_t *all = iog_fetch_sockets(G.w, NULL);
    assert_int_equal(json_array_size(all), 150);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "id")),
                        "S0000000000000000001");
    json_decref(all);
}

/* The loop helpers: next_timeout is 0 while messages wait (ZMQ_FD is
 * edge-triggered), and iog_worker_run returns after iog_worker_stop. */
static void stop_on_connection(iog_socket *s)
{
    iog_worker_stop(iog_socket_worker(s));
}

static void loop_helpers(void **st)
{
    assert_true(iog_worker_fd(G.w) >= 0);
    assert_true(iog_worker_next_timeout_ms(G.w) > 1000); /* idle: next ping */
    gw_send(IPC_PING, NULL, NULL, NULL, NULL, 0);
    long long t0 = now_ms();
    while (iog_worker_next_timeout_ms(G.w) != 0 && now_ms() - t0 < 1000)
        usleep(1000);
    assert_int_equal(iog_worker_next_timeout_ms(G.w), 0);
    iog_worker_process(G.w);
    assert_true(iog_worker_next_timeout_ms(G.w) > 0);
    expect(IPC_PONG);
    iog_on_connection(G.w, on_connection, stop_on_connection);
    connect_socket(SID1, NULL);
    t0 = now_ms();
    assert_int_equal(iog_worker_run(G.w), 0);
    assert_true(now_ms() - t0 < 2000);
    expect(IPC_ACCEPT);
}

/* Embedding in libev as README.md shows: ev_io on the fd, an ev_prepare
 * that arms an ev_timer with next_timeout. */
static ev_timer lt;
static void lv_io(struct ev_loop *l, ev_io *io, int r)
{
    iog_worker_process(io->data);
}
static void lv_tm(struct ev_loop *l, ev_timer *t, int r)
{
    iog_worker_process(t->data);
}
static void lv_prepare(struct ev_loop *l, ev_prepare *p, int r)
{
    int ms = iog_worker_next_timeout_ms(lt.data);
    ev_timer_stop(l, &lt);
    ev_timer_set(&lt, ms / 1000.0, 0.);
    ev_timer_start(l, &lt);
}
static void lv_gw(struct ev_loop *l, ev_timer *t, int r)
{
    /* The fake gateway, polled from the same loop: answer each EMIT "n"
     * with an EVENT "n" until 50 round trips are done. */
    static int rounds;
    while (gw_recv(0, 0) == 0) {
        if (G.m.type == IPC_ACCEPT) rounds = 0;
        if (G.m.type == IPC_ACCEPT || G.m.type == IPC_EMIT) {
            if (++rounds > 50) {
                ev_break(l, EVBREAK_ALL);
                return;
            }
            gw_send(IPC_EVENT, SID1, NULL, "[\"n\"]", NULL, 0);
        }
    }
}
static int lv_timed_out;
static void lv_guard(struct ev_loop *l, ev_timer *t, int r)
{
    lv_timed_out = 1;
    ev_break(l, EVBREAK_ALL);
}
static void on_n(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    iog_socket_emit(s, "n", NULL);
}
static void reg_n(iog_socket *s)
{
    iog_socket_on(s, "n", on_n, NULL);
}

static void embedded_in_libev(void **st)
{
    struct ev_loop *l = ev_loop_new(EVFLAG_AUTO);
    ev_io io;
    ev_prepare prep;
    ev_timer gwt, guard;
    ev_io_init(&io, lv_io, iog_worker_fd(G.w), EV_READ);
    io.data = G.w;
    ev_timer_init(&lt, lv_tm, 0., 0.);
    lt.data = G.w;
    ev_prepare_init(&prep, lv_prepare);
    ev_timer_init(&gwt, lv_gw, 0.001, 0.001);
    ev_timer_init(&guard, lv_guard, 5., 0.);
    ev_io_start(l, &io);
    ev_prepare_start(l, &prep);
    ev_timer_start(l, &gwt);
    ev_timer_start(l, &guard);
    G.passive = 1;
    iog_on_connection(G.w, on_connection, reg_n);
    connect_socket(SID1, NULL);
    long long t0 = now_ms();
    ev_run(l, 0);
    G.passive = 0;
    assert_false(lv_timed_out);
    assert_true(now_ms() - t0 < 4000);
    ev_loop_destroy(l);
}

int main(void)
{
    iog_log_level = 0; /* errors only: the tests provoke warnings on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(hello_content, teardown),
        cmocka_unit_test_setup_teardown(middleware_sync_and_async, setup, teardown),
        cmocka_unit_test_setup_teardown(middleware_refusal, setup, teardown),
        cmocka_unit_test_setup_teardown(async_middleware_socket_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(event_binary_and_ack, setup, teardown),
        cmocka_unit_test(forged_binary_is_not_binary),
        cmocka_unit_test_setup_teardown(ack_later_and_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(socket_middleware_error, setup, teardown),
        cmocka_unit_test_setup_teardown(emit_with_placeholders, setup, teardown),
        cmocka_unit_test_setup_teardown(reserved_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(emit_with_ack_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(rooms_and_broadcasts, setup, teardown),
        cmocka_unit_test_setup_teardown(disconnect_from_gateway, setup, teardown),
        cmocka_unit_test_setup_teardown(disconnect_from_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(conn_notices_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(fetch_join_leave_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_pong_and_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(gateway_silence_is_transport_close, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_messages_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(recovered_socket_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(embedded_in_libev, setup, teardown),
        cmocka_unit_test_setup_teardown(many_sockets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
