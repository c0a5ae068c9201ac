/* test_ipc_server_api.c — the message types of PROTOCOL.md rules 25a and
 * 25b (BROADCAST_ACK, SERVER_EMIT, SERVER_EMIT_ACK): their names, and the
 * direction each may travel, enforced by the decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "ipc.h"

#define SID "Q2hhdFNvY2tldElkMDAx"

static int decode(const char *type, const char *sid, const char *meta, int from, ipc_msg *m,
                  const char **code)
{
    ipc_buf f[6] = {{"IOG1", 4},        {type, strlen(type)}, {"/chat", 5},
                    {sid, strlen(sid)}, {meta, strlen(meta)}, {"[\"yes\"]", 7}};
    const char *why;
    return ipc_decode(f, 6, from, m, code, &why);
}

static void names_round_trip(void **state)
{
    (void)state;
    assert_int_equal(ipc_type_parse("BROADCAST_ACK", 13), IPC_BROADCAST_ACK);
    assert_int_equal(ipc_type_parse("SERVER_EMIT", 11), IPC_SERVER_EMIT);
    assert_int_equal(ipc_type_parse("SERVER_EMIT_ACK", 15), IPC_SERVER_EMIT_ACK);
    assert_string_equal(ipc_type_name(IPC_BROADCAST_ACK), "BROADCAST_ACK");
}

static void directions(void **state)
{
    (void)state;
    ipc_msg m;
    const char *code = NULL;
    /* The gateway sends counts and answers, with and without a socket. */
    memset(&m, 0, sizeof m);
    assert_int_equal(
        decode("BROADCAST_ACK", "", "{\"id\":7,\"count\":2}", IPC_FROM_GATEWAY, &m, &code), 0);
    ipc_msg_clear(&m);
    assert_int_equal(decode("BROADCAST_ACK", SID, "{\"id\":7}", IPC_FROM_GATEWAY, &m, &code), 0);
    assert_int_equal(m.sid.len, 20);
    ipc_msg_clear(&m);
    assert_int_equal(
        decode("SERVER_EMIT_ACK", "", "{\"id\":8,\"count\":0}", IPC_FROM_GATEWAY, &m, &code), 0);
    ipc_msg_clear(&m);
    /* A worker may not send them; the gateway may not send SERVER_EMIT. */
    assert_int_equal(decode("BROADCAST_ACK", "", "{\"id\":7}", IPC_FROM_WORKER, &m, &code), -1);
    assert_string_equal(code, "type");
    assert_int_equal(decode("SERVER_EMIT_ACK", "", "{\"id\":7}", IPC_FROM_WORKER, &m, &code), -1);
    assert_string_equal(code, "type");
    assert_int_equal(decode("SERVER_EMIT", "", "{}", IPC_FROM_GATEWAY, &m, &code), -1);
    assert_string_equal(code, "type");
    assert_int_equal(
        decode("SERVER_EMIT", "", "{\"ack\":1,\"timeout\":5000}", IPC_FROM_WORKER, &m, &code), 0);
    ipc_msg_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(directions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
