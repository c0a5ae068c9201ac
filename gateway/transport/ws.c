/* ws.c — WebSocket handshake and wslay glue.  See ws.h for why outgoing
 * data frames bypass wslay. */
#include "ws.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <wslay/wslay.h>

#include "b64.h"
#include "http_int.h"
#include "util.h"
#include "wire.h"

struct ws_state {
    wslay_event_context_ptr ctx;
    http_conn *c;
    int in_recv;
    int closing; /* our close frame is queued: nothing more in or out */
};

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void ws_accept_key(const char *key, char out[29])
{
    char buf[128 + sizeof ws_guid];
    size_t kl = strnlen(key, 128);
    memcpy(buf, key, kl);
    memcpy(buf + kl, ws_guid, sizeof ws_guid - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(buf, kl + sizeof ws_guid - 1, md, &mdlen, EVP_sha1(), NULL);
    b64_encode(md, mdlen, out);
}

const char *ws_check_handshake(const http_request *r, char accept[29])
{
    if (r->method != HTTP_GET) return "method is not GET";
    const char *up = http_header(r, "upgrade");
    if (!up || !http_has_token(up, "websocket")) return "no Upgrade: websocket";
    const char *conn = http_header(r, "connection");
    if (!conn || !http_has_token(conn, "upgrade")) return "no Connection: upgrade";
    const char *ver = http_header(r, "sec-websocket-version");
    if (!ver || strcmp(ver, "13") != 0) return "unsupported Sec-WebSocket-Version";
    const char *key = http_header(r, "sec-websocket-key");
    unsigned char raw[24];
    if (!key || strlen(key) != 24 || b64_decode(key, 24, raw) != 16)
        return "invalid Sec-WebSocket-Key";
    ws_accept_key(key, accept);
    return NULL;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct ws_state *w = ud;
    http_conn *c = w->c;
    size_t avail = c->in_len - c->in_off;
    if (c->life == HTTP_C_DEAD || w->closing || !avail) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > avail) len = avail;
    memcpy(buf, c->in + c->in_off, len);
    c->in_off += len;
    return (ssize_t)len;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    struct ws_state *w = ud;
    http_conn_write(w->c, data, len); /* same queue as the data frames */
    return (ssize_t)len;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    struct ws_state *w = ud;
    http_conn *c = w->c;
    if (c->life == HTTP_C_DEAD || w->closing) return;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
        /* wslay hands over an empty message as (NULL, 0): callers get "" */
        const char *msg = arg->msg_length ? (const char *)arg->msg : "";
        http_conn_deliver_ws(c, arg->opcode, msg, arg->msg_length);
    }
    /* ping: wslay queues the pong; close: wslay queues the reply */
}

/* After wslay ran: write what it queued, and notice a close handshake. */
static void after_io(http_conn *c)
{
    struct ws_state *w = c->wss;
    if (c->life == HTTP_C_DEAD) return;
    if (wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0) {
        http_conn_fail(c, HTTP_GONE_ERROR);
        return;
    }
    if (!w->closing && wslay_event_get_close_sent(w->ctx)) {
        w->closing = 1;
        http_gone why = HTTP_GONE_ERROR;
        uint16_t code = wslay_event_get_status_code_sent(w->ctx);
        if (wslay_event_get_close_received(w->ctx))
            why = HTTP_GONE_EOF;
        else if (code == WSLAY_CODE_MESSAGE_TOO_BIG)
            why = HTTP_GONE_TOOBIG;
        http_conn_detach(c, why);
        http_conn_close_after_flush(c);
    }
}

void ws_process_input(http_conn *c)
{
    struct ws_state *w = c->wss;
    if (!w || c->life == HTTP_C_DEAD || w->in_recv) return;
    if (c->hb) { /* the HTTP request head is no longer needed */
        free(c->hb);
        free(c->hoffs);
        free(c->hdrs);
        c->hb = NULL;
        c->hoffs = NULL;
        c->hdrs = NULL;
        c->hb_cap = c->hb_len = c->hoffs_cap = c->hdrs_cap = c->nh = 0;
    }
    w->in_recv = 1;
    int r = wslay_event_recv(w->ctx);
    w->in_recv = 0;
    if (c->life == HTTP_C_DEAD) return;
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
    if (r != 0) {
        http_conn_fail(c, HTTP_GONE_ERROR);
        return;
    }
    after_io(c);
}

void ws_start(http_conn *c, const char *accept, const char *extra, size_t max_msg)
{
    char h[256];
    int n = snprintf(h, sizeof h,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                     accept);
    http_conn_write(c, h, (size_t)n);
    if (extra) http_conn_write(c, extra, strlen(extra));
    http_conn_write(c, "\r\n", 2);
    static const struct wslay_event_callbacks cbs = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .on_msg_recv_callback = msg_cb,
    };
    struct ws_state *w = xcalloc(1, sizeof *w);
    w->c = c;
    if (wslay_event_context_server_init(&w->ctx, &cbs, w) != 0) {
        log_error("out of memory in wslay");
        abort();
    }
    wslay_event_config_set_max_recv_msg_length(w->ctx, max_msg);
    c->wss = w;
    c->ws = 1;
    gw_tlist_del(&c->idle); /* the session's heartbeat governs a WebSocket */
    c->upgrade_pending = 0;
    c->responded = 1;
    http_conn_mark_dirty(c); /* buffered frames are read at the safe point */
}

void ws_send_msg(http_conn *c, wire_msg *m)
{
    if (!c->wss || c->wss->closing) return;
    size_t len;
    const char *f = wire_msg_ws_frame(m, &len);
    http_conn_write_msg(c, m, f, len);
}

void ws_send_parts(http_conn *c, int opcode, const void *head, size_t hn, wire_msg *m,
                   const char *p, size_t n)
{
    if (!c->wss || c->wss->closing) return;
    unsigned char h[10];
    size_t hl = wire_ws_header(h, opcode, hn + n);
    http_conn_write(c, h, hl);
    http_conn_write(c, head, hn);
    http_conn_write_msg(c, m, p, n);
}

void ws_send_text(http_conn *c, const char *p, size_t n)
{
    if (!c->wss || c->wss->closing) return;
    unsigned char h[10];
    size_t hl = wire_ws_header(h, WSLAY_TEXT_FRAME, n);
    http_conn_write(c, h, hl);
    http_conn_write(c, p, n);
}

void ws_close(http_conn *c, uint16_t code)
{
    struct ws_state *w = c->wss;
    c->owner = NULL;
    if (!w || c->life == HTTP_C_DEAD || w->closing) return;
    wslay_event_queue_close(w->ctx, code, NULL, 0);
    if (!w->in_recv) {
        after_io(c);
    } else { /* ws_process_input sends it when wslay returns */
        w->closing = 1;
        http_conn_close_after_flush(c);
    }
}

void ws_free(http_conn *c)
{
    if (!c->wss) return;
    wslay_event_context_free(c->wss->ctx);
    free(c->wss);
    c->wss = NULL;
}
