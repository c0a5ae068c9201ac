/* eio_poll.c — Engine.IO over HTTP long-polling: the polling handshake,
 * a held GET answered with what waits, a POST decoded packet by packet as
 * its body arrives. */
#include "eio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answer the held GET with everything queued (joined by 0x1e), plus "1"
 * when the session is closed, or a lone "6" for a pending upgrade. */
void eio_answer_poll(eio_session *s, int noop_only)
{
    eio_server *srv = s->srv;
    http_conn *c = s->get;
    if (!noop_only && s->state != S_OPEN && !s->send_close && c) {
        /* The client closed ("1" by POST) while this GET waited: like the
         * reference, end the GET with a noop; what was queued is for a
         * client that has gone (its sockets' workers hear the close). */
        if (s->nq)
            log_debug("session %s: client closed, %zu queued packet(s) not sent", s->sid, s->nq);
        noop_only = 1;
    }
    size_t nq = noop_only ? 0 : s->nq;
    int closing = s->state != S_OPEN && !noop_only;
    int noop = !nq && !closing && (s->noop_due || noop_only);
    if (!c || (!nq && !closing && !noop)) return;
    s->noop_due = 0;
    if (noop && srv->h.on_packet) srv->h.on_packet(s, EIO_PKT_NOOP, 1, srv->ud);
    size_t total = 0, count = nq + (size_t)closing + (size_t)noop;
    for (size_t i = 0; i < nq; i++) {
        size_t len = 1;
        if (s->q[i].msg) eio_msg_polling(s->q[i].msg, &len);
        total += len;
    }
    total += (size_t)closing + (size_t)noop + (count ? count - 1 : 0);
    char hdr[HDR_BUF];
    if (s->v3)
        eio3_poll_respond(c, s->q, nq,
                          closing ? '1'
                          : noop  ? '6'
                                  : 0,
                          s->v3_b64, eio_extra_headers(srv, http_conn_request(c), NULL, hdr));
    else
        http_response_head(c, 200, "text/plain; charset=UTF-8",
                           eio_extra_headers(srv, http_conn_request(c), NULL, hdr), total, 0);
    if (!s->v3 && http_conn_request(c)->method != HTTP_HEAD) {
        for (size_t i = 0; i < nq; i++) {
            if (i) http_conn_write(c, "\x1e", 1);
            if (s->q[i].msg) {
                size_t len;
                const char *p = eio_msg_polling(s->q[i].msg, &len);
                http_conn_write_msg(c, s->q[i].msg, p, len);
                eio_msg_unref(&s->q[i].msg);
            } else {
                char d = (char)('0' + s->q[i].type);
                http_conn_write(c, &d, 1);
            }
        }
        if (closing || noop) {
            if (nq) http_conn_write(c, "\x1e", 1);
            http_conn_write(c, closing ? "1" : "6", 1);
        }
    }
    if (!noop_only) {
        for (size_t i = 0; i < s->nq; i++)
            eio_msg_unref(&s->q[i].msg);
        s->nq = 0;
        eio_q_clear(s);
    }
    s->get = NULL;
    eio_detach(c);
    http_response_end(c);
    if (s->state == S_OPEN && srv->h.on_drain) srv->h.on_drain(s, srv->ud);
    eio_stop_linger(s);
    eio_maybe_reap(s);
}

void eio_handshake_polling(eio_server *srv, http_conn *c, const http_request *r)
{
    int st = eio_admit(srv, r);
    if (st) {
        eio_refuse_handshake(srv, c, r, st);
        return;
    }
    if (srv->adm && adm_check(srv->adm, c, r, 0)) return; /* parked or refused */
    eio_session *s = eio_session_new(srv, r, EIO_TRANSPORT_POLLING);
    char body[512], hdr[HDR_BUF];
    int n = eio_open_packet(srv, s, body, sizeof body);
    if (s->v3) {
        char open[512];
        memcpy(open, body, (size_t)n + 1);
        n = eio3_open_payload(body, sizeof body, open, (size_t)n);
    }
    http_respond(c, 200, "text/plain; charset=UTF-8", eio_extra_headers(srv, r, s->sid, hdr), body,
                 (size_t)n, 0);
    eio_opened(srv, s);
}

void eio_poll_get(eio_server *srv, eio_session *s, http_conn *c, const http_request *r)
{
    if (s->get) {
        log_debug("session %s: overlapping GET", s->sid);
        eio_respond_error(srv, c, r, EIO_ERR_BAD_REQUEST, 0);
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
        return;
    }
    s->get = c;
    http_conn_set_owner(c, s);
    if (s->nq || s->state != S_OPEN) eio_mark_dirty(s);
}

void eio_poll_post(eio_server *srv, eio_session *s, http_conn *c, const http_request *r)
{
    if (s->post) {
        log_debug("session %s: overlapping POST", s->sid);
        eio_respond_error(srv, c, r, EIO_ERR_BAD_REQUEST, 0);
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
        return;
    }
    if (r->content_length != UINT64_MAX && r->content_length > srv->cfg.max_payload) {
        char hdr[HDR_BUF];
        log_info("session %s from %s: POST of %llu bytes over --max-payload %zu: 413, closing",
                 s->sid, r->address, (unsigned long long)r->content_length, srv->cfg.max_payload);
        GW_LIMIT(GW_LIMIT_PAYLOAD);
        http_respond(c, 413, "text/plain; charset=UTF-8", eio_extra_headers(srv, r, NULL, hdr),
                     "Payload Too Large", 17, 1);
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
        return;
    }
    s->post = c;
    s->post_bytes = 0;
    s->post_bad = 0;
    eio_payload_reset(&s->dec);
    if (s->v3) {
        const char *ct = http_header(r, "content-type");
        eio3_payload_reset(s->dec3, ct && strncmp(ct, "application/octet-stream", 24) == 0);
    }
    http_conn_set_owner(c, s);
    http_conn_want_body(c);
}

static void post_done(eio_session *s, http_conn *c)
{
    s->post = NULL;
    eio_detach(c);
    eio_maybe_reap(s);
}

void eio_on_body(http_conn *c, const char *p, size_t n, void *ud)
{
    eio_server *srv = ud;
    eio_session *s = http_conn_owner(c);
    if (!s || s->post != c) return;
    s->post_bytes += n;
    if (s->post_bytes > srv->cfg.max_payload) {
        char hdr[HDR_BUF];
        log_info("session %s from %s: POST body over --max-payload %zu: 413, closing", s->sid,
                 http_conn_addr(c), srv->cfg.max_payload);
        GW_LIMIT(GW_LIMIT_PAYLOAD);
        http_respond(c, 413, "text/plain; charset=UTF-8",
                     eio_extra_headers(srv, http_conn_request(c), NULL, hdr), "Payload Too Large",
                     17, 1);
        post_done(s, c);
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
        return;
    }
    if (s->state != S_OPEN || s->post_bad) return;
    if ((s->v3 ? eio3_payload_feed(s->dec3, p, n) : eio_payload_feed(&s->dec, p, n)) < 0) {
        log_info("session %s from %s: invalid polling payload, closing (parse error)", s->sid,
                 http_conn_addr(c));
        s->post_bad = 1;
        eio_session_end(s, EIO_CLOSE_PARSE_ERROR);
    }
}

void eio_on_end(http_conn *c, void *ud)
{
    eio_server *srv = ud;
    eio_session *s = http_conn_owner(c);
    if (!s || s->post != c) return;
    if (s->state == S_OPEN && !s->post_bad &&
        (s->v3 ? eio3_payload_finish(s->dec3) : eio_payload_finish(&s->dec)) < 0) {
        log_info("session %s from %s: invalid polling payload, closing (parse error)", s->sid,
                 http_conn_addr(c));
        s->post_bad = 1;
        eio_session_end(s, EIO_CLOSE_PARSE_ERROR);
    }
    post_done(s, c);
    if (s->post_bad) {
        eio_respond_error(srv, c, http_conn_request(c), EIO_ERR_BAD_REQUEST, 0);
        return;
    }
    char hdr[HDR_BUF];
    /* text/html like the reference: text/plain made some browsers download */
    http_respond(c, 200, "text/html", eio_extra_headers(srv, http_conn_request(c), NULL, hdr), "ok",
                 2, 0);
}
