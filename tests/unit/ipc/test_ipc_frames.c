/* test_ipc_frames.c — issue 10 item 3: a message with more frames than
 * IPC_MAX_FRAMES reaches ipc_decode() with more than IPC_MAX_FRAMES frames
 * (refused as a whole, ERROR "frames"), on the gateway's ROUTER (whose
 * routing id is one more part) and on a worker's DEALER alike, and is never
 * cut down to a length the decoder would accept.  A real ROUTER/DEALER pair
 * over inproc://. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ipc.h"

/* An EMIT with n_att attachment frames (placeholders are not the point
 * here: the frame count is). */
static void send_emit(void *z, const ipc_buf *rid, size_t n_att)
{
    ipc_buf *att = calloc(n_att ? n_att : 1, sizeof *att);
    for (size_t i = 0; i < n_att; i++)
        att[i] = (ipc_buf){"a", 1};
    ipc_out m = {.type = IPC_EMIT,
                 .nsp = "/a",
                 .nsp_len = 2,
                 .sid = "AAAAAAAAAAAAAAAAAAAA",
                 .sid_len = IPC_ID_LEN,
                 .data = "[\"x\"]",
                 .data_len = 5,
                 .att = att,
                 .n_att = n_att};
    assert_int_equal(ipc_send(z, rid, &m, 0), 0);
    free(att);
}

typedef struct {
    void *ctx, *router, *dealer;
    ipc_frames f;
} pair;

static void open_pair(pair *p)
{
    memset(p, 0, sizeof *p);
    p->ctx = zmq_ctx_new();
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    p->dealer = zmq_socket(p->ctx, ZMQ_DEALER);
    assert_int_equal(zmq_bind(p->router, "inproc://frames"), 0);
    assert_int_equal(zmq_connect(p->dealer, "inproc://frames"), 0);
}

static void close_pair(pair *p)
{
    ipc_frames_close(&p->f);
    zmq_close(p->dealer);
    zmq_close(p->router);
    zmq_ctx_term(p->ctx);
}

/* What the gateway does with a worker's message: ROUTER side, routing id
 * first. */
static int gateway_decode(pair *p, size_t n_att, ipc_msg *m, const char **code)
{
    send_emit(p->dealer, NULL, n_att);
    assert_int_equal(ipc_recv(p->router, &p->f, 0), 0);
    const char *why = NULL;
    int rc = ipc_decode(p->f.bufs + 1, p->f.n - 1, IPC_FROM_WORKER, m, code, &why);
    return rc;
}

static void router_refuses_too_many_frames(void **st)
{
    pair p;
    open_pair(&p);
    ipc_msg m;
    const char *code = NULL;
    /* The largest valid message: 6 + 1018 = IPC_MAX_FRAMES frames. */
    assert_int_equal(gateway_decode(&p, IPC_MAX_FRAMES - 6, &m, &code), 0);
    assert_int_equal(m.n_att, IPC_MAX_FRAMES - 6);
    ipc_msg_clear(&m);
    /* One more, and the 1,500: refused, not truncated to 1,018. */
    size_t sizes[] = {IPC_MAX_FRAMES - 5, 1500, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        code = NULL;
        assert_int_equal(gateway_decode(&p, sizes[i], &m, &code), -1);
        assert_string_equal(code, "frames");
        assert_true(p.f.n - 1 > IPC_MAX_FRAMES);
    }
    /* The socket stays in step: the next message is whole. */
    assert_int_equal(gateway_decode(&p, 2, &m, &code), 0);
    assert_int_equal(m.n_att, 2);
    ipc_msg_clear(&m);
    close_pair(&p);
}

static void dealer_refuses_too_many_frames(void **st)
{
    pair p;
    open_pair(&p);
    /* Learn the dealer's routing id from one message. */
    send_emit(p.dealer, NULL, 0);
    assert_int_equal(ipc_recv(p.router, &p.f, 0), 0);
    char rid_buf[256];
    ipc_buf rid = {rid_buf, p.f.bufs[0].len};
    memcpy(rid_buf, p.f.bufs[0].data, rid.len);
    ipc_frames_reset(&p.f);

    ipc_msg m;
    const char *code = NULL, *why = NULL;
    send_emit(p.router, &rid, IPC_MAX_FRAMES - 6);
    assert_int_equal(ipc_recv(p.dealer, &p.f, 0), 0);
    /* (EMIT does not travel to a worker: the frame count is checked
     * first, so a valid count gets as far as the type check.) */
    assert_int_equal(ipc_decode(p.f.bufs, p.f.n, IPC_FROM_GATEWAY, &m, &code, &why), -1);
    assert_string_equal(code, "type");
    send_emit(p.router, &rid, 1500);
    assert_int_equal(ipc_recv(p.dealer, &p.f, 0), 0);
    assert_int_equal(ipc_decode(p.f.bufs, p.f.n, IPC_FROM_GATEWAY, &m, &code, &why), -1);
    assert_string_equal(code, "frames");
    close_pair(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(router_refuses_too_many_frames),
        cmocka_unit_test(dealer_refuses_too_many_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
