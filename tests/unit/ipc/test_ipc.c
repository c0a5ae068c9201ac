/* test_ipc.c — the IPC codec: decoding rules of PROTOCOL.md, every worked
 * example of PROTOCOL.md, and whole messages over a real ZeroMQ
 * ROUTER/DEALER pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

#define SID "Q2hhdFNvY2tldElkMDAx"

/* Split "A|B|∅|…" into frames; ∅ is an empty frame. */
static size_t split(char *line, ipc_buf *f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == 3 && memcmp(p, "\xe2\x88\x85", 3) == 0) len = 0;
        f[n].data = p;
        f[n].len = len;
        n++;
        if (!bar) break;
        p = bar + 1;
    }
    return n;
}

static int decode_line(const char *text, int from, ipc_msg *m, const char **code)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s", text);
    static ipc_buf f[64];
    size_t n = split(buf, f, 64);
    const char *why;
    return ipc_decode(f, n, from, m, code, &why);
}

static void decodes_event_with_ack(void **st)
{
    ipc_msg m;
    const char *code = NULL;
    assert_int_equal(decode_line("IOG1|EVENT|/chat|" SID "|{\"ack\":17}|[\"message\",\"hi\"]",
                                 IPC_FROM_GATEWAY, &m, &code),
                     0);
    assert_int_equal(m.type, IPC_EVENT);
    assert_int_equal(m.nsp.len, 5);
    assert_memory_equal(m.nsp.data, "/chat", 5);
    assert_int_equal(m.sid.len, 20);
    assert_int_equal(json_integer_value(json_object_get(m.meta, "ack")), 17);
    assert_int_equal(m.data.len, 16);
    assert_int_equal(m.n_att, 0);
    ipc_msg_clear(&m);
}

static void empty_meta_is_empty_object(void **st)
{
    ipc_msg m;
    const char *code;
    assert_int_equal(
        decode_line("IOG1|ACCEPT|/|" SID "|\xe2\x88\x85|\xe2\x88\x85", IPC_FROM_WORKER, &m, &code),
        0);
    assert_true(json_is_object(m.meta));
    assert_int_equal(json_object_size(m.meta), 0);
    assert_int_equal(m.data.len, 0);
    ipc_msg_clear(&m);
}

static void attachments_counted(void **st)
{
    ipc_msg m;
    const char *code;
    assert_int_equal(decode_line("IOG1|EMIT|/|" SID
                                 "|\xe2\x88\x85|[\"f\",{\"_placeholder\":true,\"num\":0},{\"_"
                                 "placeholder\":true,\"num\":1}]|ab|cd",
                                 IPC_FROM_WORKER, &m, &code),
                     0);
    assert_int_equal(m.n_att, 2);
    assert_memory_equal(m.att[1].data, "cd", 2);
    ipc_msg_clear(&m);
}

static void expect_error(const char *line, int from, const char *want)
{
    ipc_msg m;
    const char *code = NULL;
    assert_int_equal(decode_line(line, from, &m, &code), -1);
    assert_string_equal(code, want);
    assert_null(m.meta);
}

static void refuses_bad_messages(void **st)
{
    expect_error("IOG1|EVENT|/|" SID "|\xe2\x88\x85", IPC_FROM_GATEWAY, "frames");
    expect_error("IOG2|EVENT|/|" SID "|\xe2\x88\x85|\xe2\x88\x85", IPC_FROM_GATEWAY, "version");
    expect_error("IOG1|NOPE|/|" SID "|\xe2\x88\x85|\xe2\x88\x85", IPC_FROM_GATEWAY, "type");
    /* EVENT travels gateway → worker only. */
    expect_error("IOG1|EVENT|/|" SID "|\xe2\x88\x85|[\"a\"]", IPC_FROM_WORKER, "type");
    expect_error("IOG1|EMIT|/|short|\xe2\x88\x85|[\"a\"]", IPC_FROM_WORKER, "meta");
    expect_error("IOG1|EMIT|/|" SID "|[1]|[\"a\"]", IPC_FROM_WORKER, "meta");
    expect_error("IOG1|EMIT|/|" SID "|{bad|[\"a\"]", IPC_FROM_WORKER, "meta");
    expect_error("IOG1|EMIT|/|" SID "|\xe2\x88\x85|{\"a\":1}", IPC_FROM_WORKER, "data");
    expect_error("IOG1|EMIT|/|\xe2\x88\x85|\xe2\x88\x85|[\"a\"]", IPC_FROM_WORKER, "meta");
    expect_error("IOG1|EMIT|chat|" SID "|\xe2\x88\x85|[\"a\"]", IPC_FROM_WORKER, "meta");
    expect_error("IOG1|EMIT|/|" SID "|\xe2\x88\x85|\xe2\x88\x85|att", IPC_FROM_WORKER, "data");
    expect_error("IOG1|EMIT|/|" SID "|{\"a\":1,\"a\":2}|[\"a\"]", IPC_FROM_WORKER, "meta");
}

static void type_names_round_trip(void **st)
{
    for (int t = 0; t < IPC_TYPE_COUNT; t++) {
        const char *n = ipc_type_name(t);
        assert_int_equal(ipc_type_parse(n, strlen(n)), t);
        assert_true(ipc_type_directions(t) != 0);
    }
    assert_int_equal(ipc_type_parse("EVEN", 4), -1);
}

static json_t *J(const char *s)
{
    return json_loads(s, JSON_DECODE_ANY, NULL);
}

static void placeholders(void **st)
{
    const char *why;
    json_t *v =
        J("[\"a\",{\"x\":[{\"num\":1,\"_placeholder\":true}]},{\"_placeholder\":true,\"num\":0}]");
    assert_int_equal(ipc_check_placeholders(v, 2, 32, &why), 0);
    assert_int_equal(ipc_check_placeholders(v, 3, 32, &why), -1); /* #2 unreferenced */
    assert_int_equal(ipc_check_placeholders(v, 1, 32, &why), -1); /* num 1 out of range */
    json_decref(v);
    v = J("[{\"_placeholder\":true,\"num\":\"0\"}]");
    assert_int_equal(ipc_check_placeholders(v, 1, 32, &why), -1);
    json_decref(v);
    v = J("[{\"_placeholder\":false,\"num\":0}]");
    assert_int_equal(ipc_check_placeholders(v, 1, 32, &why), -1);
    json_decref(v);
    v = J("[{\"_placeholder\":true,\"num\":-1}]");
    assert_int_equal(ipc_check_placeholders(v, 1, 32, &why), -1);
    json_decref(v);
    v = J("[[[[[1]]]]]");
    assert_int_equal(ipc_check_placeholders(v, 0, 3, &why), -1);
    assert_int_equal(ipc_check_placeholders(v, 0, 10, &why), 0);
    json_decref(v);
}

/* Every "gw → wk" / "wk → gw" line of PROTOCOL.md decodes. */
static void protocol_examples_decode(void **st)
{
    FILE *f = fopen("ipc/PROTOCOL.md", "r");
    assert_non_null(f);
    char line[4096];
    int seen = 0, admits = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        int from = 0;
        if (strncmp(line, "gw \xe2\x86\x92 wk  ", 11) == 0) from = IPC_FROM_GATEWAY;
        if (strncmp(line, "wk \xe2\x86\x92 gw  ", 11) == 0) from = IPC_FROM_WORKER;
        if (!from) continue;
        ipc_msg m;
        const char *code = "?";
        int rc = decode_line(line + 11, from, &m, &code);
        if (rc != 0) fail_msg("example does not decode (%s): %s", code, line);
        if (m.data.len && m.n_att) {
            json_t *d = json_loadb(m.data.data, m.data.len, 0, NULL);
            const char *why;
            assert_int_equal(ipc_check_placeholders(d, m.n_att, 32, &why), 0);
            json_decref(d);
        }
        if (m.type == IPC_ERROR) { /* only the codes of rule 30 */
            const char *c = json_string_value(json_object_get(m.meta, "code"));
            char word[40];
            assert_non_null(c);
            snprintf(word, sizeof word, " %s ", c);
            assert_non_null(strstr(" version frames type meta data hello state auth ", word));
        }
        if (m.type == IPC_ADMIT) /* rule 39: a req both ways, a handshake or a verdict */
            admits += json_is_integer(json_object_get(m.meta, "req")) &&
                      (json_is_object(json_object_get(m.meta, "handshake")) ||
                       json_is_boolean(json_object_get(m.meta, "ok")));
        ipc_msg_clear(&m);
        seen++;
    }
    fclose(f);
    assert_true(seen >= 10);
    assert_int_equal(admits, 4);
}

/* A message survives a real ROUTER/DEALER round trip frame for frame. */
static void zmq_round_trip(void **st)
{
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    assert_int_equal(zmq_bind(router, "inproc://t"), 0);
    assert_int_equal(zmq_connect(dealer, "inproc://t"), 0);
    ipc_buf att[2] = {{"\x00\x01", 2}, {"", 0}};
    const char *data =
        "[\"f\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
    json_t *meta = json_pack("{s:i}", "ack", 5);
    assert_int_equal(
        ipc_send_json(dealer, NULL, IPC_EMIT, "/x", SID, meta, data, strlen(data), att, 2, 0), 0);
    json_decref(meta);
    ipc_frames fr = {0};
    assert_int_equal(ipc_recv(router, &fr, 0), 0);
    assert_int_equal(fr.n, 1 + 6 + 2);
    ipc_msg m;
    const char *code, *why;
    assert_int_equal(ipc_decode(fr.bufs + 1, fr.n - 1, IPC_FROM_WORKER, &m, &code, &why), 0);
    assert_int_equal(m.type, IPC_EMIT);
    assert_int_equal(m.n_att, 2);
    assert_int_equal(m.att[0].len, 2);
    assert_int_equal(m.att[1].len, 0);
    assert_int_equal(json_integer_value(json_object_get(m.meta, "ack")), 5);
    /* Answer through the routing id. */
    ipc_buf rid = fr.bufs[0];
    char ridcopy[64];
    memcpy(ridcopy, rid.data, rid.len);
    rid.data = ridcopy;
    ipc_msg_clear(&m);
    assert_int_equal(ipc_send_json(router, &rid, IPC_PONG, NULL, NULL, NULL, NULL, 0, NULL, 0, 0),
                     0);
    assert_int_equal(ipc_recv(dealer, &fr, 0), 0);
    assert_int_equal(fr.n, 6);
    assert_int_equal(ipc_decode(fr.bufs, fr.n, IPC_FROM_GATEWAY, &m, &code, &why), 0);
    assert_int_equal(m.type, IPC_PONG);
    ipc_msg_clear(&m);
    /* Nothing more waiting. */
    assert_int_equal(ipc_recv(dealer, &fr, ZMQ_DONTWAIT), -1);
    ipc_frames_close(&fr);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_event_with_ack),   cmocka_unit_test(empty_meta_is_empty_object),
        cmocka_unit_test(attachments_counted),      cmocka_unit_test(refuses_bad_messages),
        cmocka_unit_test(type_names_round_trip),    cmocka_unit_test(placeholders),
        cmocka_unit_test(protocol_examples_decode), cmocka_unit_test(zmq_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
