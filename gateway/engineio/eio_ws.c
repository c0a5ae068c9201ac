/* eio_ws.c — Engine.IO over WebSocket: a session that starts on
 * WebSocket, and the upgrade of a polling session (probe, noop, "5"),
 * then every message received on it. */
#include "eio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

void eio_on_upgrade(http_conn *c, const http_request *r, void *ud)
{
    eio_server *srv = ud;
    if (!eio_is_engine_path(srv, r->path)) {
        static const char nf[] = "404 Not Found\n";
        http_respond(c, 404, "text/plain; charset=UTF-8", NULL, nf, sizeof nf - 1, 1);
        return;
    }
    char transport[16], sid[GW_ID_LEN + 8], accept[29], hdr[HDR_BUF];
    int code = eio_check_query(srv, r, transport, sid);
    if (code >= 0) {
        eio_respond_error(srv, c, r, code, 1);
        return;
    }
    const char *why = ws_check_handshake(r, accept);
    if (why || strcmp(transport, "websocket") != 0) {
        log_debug("refused upgrade from %s: %s", r->address,
                  why ? why : "transport is not websocket");
        eio_respond_error(srv, c, r, EIO_ERR_BAD_REQUEST, 1);
        return;
    }
    if (!sid[0]) { /* a session that starts on WebSocket */
        int st = eio_admit(srv, r);
        if (st) {
            eio_refuse_handshake(srv, c, r, st);
            return;
        }
        if (srv->adm && adm_check(srv->adm, c, r, 1)) return; /* parked or refused */
        eio_session *s = eio_session_new(srv, r, EIO_TRANSPORT_WEBSOCKET);
        ws_start(c, accept, eio_extra_headers(srv, r, s->sid, hdr), srv->cfg.max_payload);
        s->ws = c;
        http_conn_set_owner(c, s);
        char open[512];
        int n = eio_open_packet(srv, s, open, sizeof open);
        ws_send_text(c, open, (size_t)n);
        eio_opened(srv, s);
        return;
    }
    eio_session *s = eio_table_get(srv, sid);
    if (!s || s->state != S_OPEN) {
        eio_respond_error(srv, c, r, EIO_ERR_UNKNOWN_SID, 1);
        return;
    }
    if ((int)s->v3 != (eio3_query_protocol(r->query, srv->cfg.allow_eio3) == 3)) {
        /* as the reference: "unexpected protocol version during upgrade" */
        log_info("session %s from %s: upgrade with another protocol version, 400", s->sid,
                 r->address);
        eio_respond_error(srv, c, r, EIO_ERR_BAD_REQUEST, 1);
        return;
    }
    if (s->transport != EIO_TRANSPORT_POLLING || s->probe) {
        /* Upgraded or upgrading already: the reference accepts this second
         * WebSocket and closes it at once (a close frame without a code);
         * the first one is not touched (PITFALLS.md 11a). */
        log_info("session %s from %s: a second WebSocket for an %s session, closing it", s->sid,
                 r->address, s->probe ? "upgrading" : "upgraded");
        ws_start(c, accept, eio_extra_headers(srv, r, NULL, hdr), srv->cfg.max_payload);
        ws_close(c, 0);
        return;
    }
    ws_start(c, accept, eio_extra_headers(srv, r, NULL, hdr), srv->cfg.max_payload);
    s->probe = c;
    http_conn_set_owner(c, s);
    gw_tlist_add(&srv->upgrade_list, &s->upg);
}

static void complete_upgrade(eio_session *s)
{
    eio_server *srv = s->srv;
    gw_tlist_del(&s->upg);
    s->probed = 0;
    s->ws = s->probe;
    s->probe = NULL;
    if (s->transport == EIO_TRANSPORT_POLLING && s->state == S_OPEN)
        gw_metrics.sessions[0]--, gw_metrics.sessions[1]++;
    s->transport = EIO_TRANSPORT_WEBSOCKET;
    for (size_t i = 0; i < s->nq; i++) {
        if (s->q[i].msg) {
            if (s->v3)
                eio3_ws_send(s->ws, s->q[i].msg, s->v3_b64);
            else
                ws_send_msg(s->ws, s->q[i].msg);
            eio_msg_unref(&s->q[i].msg);
        } else {
            char d = (char)('0' + s->q[i].type);
            ws_send_text(s->ws, &d, 1);
        }
    }
    s->nq = 0;
    eio_q_clear(s);
    /* a GET still held: finish it with a noop (the queue went to the websocket) */
    if (s->get) eio_answer_poll(s, 1);
    log_debug("session %s upgraded to websocket", s->sid);
    GW_COUNT(upgrades);
    if (srv->h.on_upgrade) srv->h.on_upgrade(s, srv->ud);
}

static void on_probe_message(eio_session *s, http_conn *c, int opcode, const char *p, size_t n)
{
    eio_server *srv = s->srv;
    if (opcode == 1 && n == 6 && memcmp(p, "2probe", 6) == 0) {
        ws_send_text(c, "3probe", 6);
        s->probed = 1;
        if (s->get) {
            s->noop_due = 1;
            eio_mark_dirty(s);
        }
        if (!ev_is_active(&srv->noop_timer)) ev_timer_again(srv->loop, &srv->noop_timer);
    } else if (opcode == 1 && n == 1 && p[0] == '5') {
        complete_upgrade(s);
    } else {
        log_debug("session %s: unexpected packet on the probe, dropping it", s->sid);
        eio_drop_probe(s, 1000);
    }
}

void eio_on_ws_message(http_conn *c, int opcode, const char *p, size_t n, void *ud)
{
    eio_session *s = http_conn_owner(c);
    if (!s || s->state != S_OPEN) return;
    if (c == s->probe) {
        on_probe_message(s, c, opcode, p, n);
        return;
    }
    if (c != s->ws) return;
    if (s->v3) {
        int type, binary;
        const char *data;
        size_t dlen;
        if (eio3_packet_decode(opcode == 2, p, n, &type, &data, &dlen, &binary, &s->dec3->scratch,
                               &s->dec3->scratch_cap) < 0) {
            log_info("session %s from %s: invalid Engine.IO v3 packet, closing (parse error)",
                     s->sid, http_conn_addr(c));
            eio_session_end(s, EIO_CLOSE_PARSE_ERROR);
            return;
        }
        eio_on_pkt(s, type, data, dlen, binary);
        return;
    }
    if (opcode == 2) { /* EIO4: a binary frame is a message, raw bytes */
        eio_on_pkt(s, EIO_PKT_MESSAGE, p, n, 1);
        return;
    }
    int type;
    const char *data;
    size_t dlen;
    if (eio_packet_decode(p, n, &type, &data, &dlen) < 0) {
        log_info("session %s from %s: invalid Engine.IO packet, closing (parse error)", s->sid,
                 http_conn_addr(c));
        eio_session_end(s, EIO_CLOSE_PARSE_ERROR);
        return;
    }
    eio_on_pkt(s, type, data, dlen, 0);
}
