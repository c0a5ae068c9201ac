/* fuzz_ws.c — libFuzzer driver for WebSocket frames as the gateway consumes
 * them: a wslay server context configured like ws.c's (message cap,
 * callbacks), its recv callback reading the fuzz input in slices, every
 * complete message handed to what eio.c does with it (Engine.IO packet
 * decode of text frames, UTF-8 is wslay's job), and the control frames
 * wslay queues (pong, close) written through its send callback.
 *
 * fuzz_http reaches the same code through a real upgrade; this driver
 * spends all its time on framing: masking, 7/16/64-bit lengths,
 * fragmentation, interleaved control frames, close codes, the 1009 cap.
 *
 * Input: byte 0 picks the recv slice size (1..32, or all) and the message
 * cap (small or large); the rest is the client's byte stream after the 101.
 * Checks: a delivered message is never over the cap; a text message is
 * valid UTF-8; once wslay sent a close nothing more is delivered.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "eio_codec.h"
#include "utf8.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    const uint8_t *p;
    size_t len, off, slice;
    size_t cap;
    size_t msgs, sent;
    int close_seen;
} feed;

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    feed *f = ud;
    size_t avail = f->len - f->off;
    if (!avail) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > avail) len = avail;
    if (len > f->slice) len = f->slice;
    memcpy(buf, f->p + f->off, len);
    f->off += len;
    return (ssize_t)len;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    feed *f = ud;
    f->sent += len; /* the gateway queues it on the connection */
    return (ssize_t)len;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    feed *f = ud;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME) return;
    CHECK(!f->close_seen);
    CHECK(arg->msg_length <= f->cap);
    f->msgs++;
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        /* what eio.c's on_ws_message does with a text frame */
        CHECK(utf8_valid((const char *)arg->msg, arg->msg_length));
        int type;
        const char *data;
        size_t dlen;
        if (eio_packet_decode((const char *)arg->msg, arg->msg_length, &type, &data, &dlen) == 0)
            CHECK(dlen <= arg->msg_length && type >= 0 && type <= 6);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    feed f = {.p = data + 1, .len = size - 1};
    f.slice = data[0] % 33 ? data[0] % 33 : SIZE_MAX;
    f.cap = data[0] & 0x80 ? 1000000 : 64;
    static const struct wslay_event_callbacks cbs = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .on_msg_recv_callback = msg_cb,
    };
    wslay_event_context_ptr ctx;
    if (wslay_event_context_server_init(&ctx, &cbs, &f) != 0) abort();
    wslay_event_config_set_max_recv_msg_length(ctx, f.cap);
    /* as ws_process_input: recv until it would block, then flush what
     * wslay queued, until the input is used up or the connection fails */
    while (f.off < f.len) {
        size_t before = f.off;
        if (wslay_event_recv(ctx) != 0) break; /* the gateway drops the connection */
        if (wslay_event_want_write(ctx) && wslay_event_send(ctx) != 0) break;
        if (wslay_event_get_close_sent(ctx)) f.close_seen = 1;
        if (f.off == before) break;
    }
    wslay_event_context_free(ctx);
    return 0;
}
