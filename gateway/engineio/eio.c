/* eio.c — Engine.IO v4 sessions: their lifetime (close, the safe point,
 * free), sending, receiving, heartbeats and the server; implements eio.h
 * on top of http.c and ws.c, with eio_session.c (sid table, handshake),
 * eio_poll.c (long-polling) and eio_ws.c (WebSocket, upgrade) sharing
 * eio_int.h.
 *
 * A session's life, in one table (state × event → action → state):
 *
 *   OPEN     GET, none held         hold it; answer when packets wait   OPEN
 *   OPEN     GET while one held     400; held GET gets "1"              CLOSED transport error
 *   OPEN     POST                   decode packets, answer "ok"         OPEN (or CLOSED)
 *   OPEN     POST while one runs    400                                 CLOSED transport error
 *   OPEN     POST over maxPayload   413                                 CLOSED transport error
 *   OPEN     bad packet             (POST gets 400 / ws closes)         CLOSED parse error
 *   OPEN     "1", ws close, EOF     a held GET gets "6"                 CLOSED transport close
 *   OPEN     GET/POST conn drops    -                                   CLOSED transport error
 *   OPEN     ws with sid + "2probe" "3probe"; held GET gets "6" (also
 *                                   every 100 ms)                       OPEN upgrading
 *   upgrading "5" on the probe      held GET gets "6"; queue → ws;
 *                                   eio_on_upgrade                          OPEN websocket
 *   upgrading upgradeTimeout / junk probe closed                        OPEN polling
 *   upgrading, ws with the sid     101, then closed at once            (unchanged)
 *   websocket ws with the sid      101, then closed at once            (unchanged)
 *   OPEN     pingInterval elapsed   send "2", wait pingTimeout          OPEN
 *   OPEN     "3"                    schedule next ping                  OPEN
 *   OPEN     pingTimeout elapsed    "1" where possible                  CLOSED ping timeout
 *   OPEN v3  "2" (the client pings)  "3"; next ping due within
 *                                   pingInterval + pingTimeout (eio3.h) OPEN
 *   OPEN v3  no "2" in that time    "1" where possible                  CLOSED ping timeout
 *   OPEN     "2" (v4) / "3" (v3)    wrong heartbeat direction           CLOSED transport error
 *   OPEN     eio_session_close()    "1" where possible                  CLOSED reason
 *   CLOSED   (polling, "1" not yet  linger: the next GET gets the rest
 *             delivered)            and "1"                             (unchanged)
 *   CLOSED   safe point             on_close once; free when no
 *                                   connection refers to it             FREED
 *
 * In the code (eio_int.h): OPEN is S_OPEN (with `transport` and `probe`
 * for polling / upgrading / websocket); CLOSED is S_CLOSING until on_close
 * has run, then S_CLOSED; FREED is S_REAPING, then free() at the safe
 * point.  "→ CLOSED" rows are eio_session_end().
 *
 * Timeouts use gw_tlist (one ev_timer per kind of timeout): the ping
 * schedule, pong deadlines, upgrade deadlines and polling lingers.
 */
#include "eio.h"
#include "eio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uthash.h>

#include "admission.h"
#include "buf.h"
#include "eio3.h"
#include "eio_codec.h"
#include "eio_cors.h"
#include "fastcgi.h"
#include "http.h"
#include "proxy.h"
#include "tlist.h"
#include "util.h"
#include "ws.h"

const char *eio_close_reason_str(eio_close_reason r)
{
    static const char *s[] = {"transport close",    "transport error", "parse error",
                              "forced close",       "ping timeout",    "server shutting down",
                              "forced server close"};
    return (unsigned)r < sizeof s / sizeof s[0] ? s[r] : "unknown";
}

void eio_config_defaults(eio_config *c)
{
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 3000;
    c->path = "/socket.io/";
    c->ping_interval_ms = 25000;
    c->ping_timeout_ms = 20000;
    c->upgrade_timeout_ms = 10000;
    c->max_payload = 1000000;
    c->transports = EIO_TRANSPORT_POLLING | EIO_TRANSPORT_WEBSOCKET;
    c->max_header_bytes = 8192;
    c->max_url_bytes = 8192;
    c->header_timeout_ms = HTTP_HEADER_TIMEOUT_MS;
    c->fastcgi_max_threads = 4096;
    c->fastcgi_socket_uid = c->fastcgi_socket_gid = -1;
    c->admission_timeout_ms = 2000;
    c->admission_max_pending = 1024;
}

/* --- sid table ------------------------------------------------------------------ */

/* --- lifetime ---------------------------------------------------------------------- */

void eio_mark_dirty(eio_session *s)
{
    if (s->dirty) return;
    s->dirty = 1;
    s->dnext = s->srv->dirty;
    s->srv->dirty = s;
}

/* Free at the next safe point once nothing refers to the session. */
void eio_maybe_reap(eio_session *s)
{
    if (s->state != S_CLOSED || s->lingering || s->get || s->post || s->ws || s->probe) return;
    s->state = S_REAPING;
    s->rnext = s->srv->reap;
    s->srv->reap = s;
}

static void session_free(eio_session *s)
{
    eio_server *srv = s->srv;
    eio_table_del(srv, s);
    gw_tlist_del(&s->hb);
    gw_tlist_del(&s->upg);
    gw_tlist_del(&s->lng);
    for (size_t i = 0; i < s->nq; i++)
        eio_msg_unref(&s->q[i].msg);
    free(s->q);
    eio_q_clear(s);
    eio_payload_free(&s->dec);
    if (s->dec3) eio3_payload_free(s->dec3);
    free(s->dec3);
    free(s->hs_mem);
    log_debug("session %s freed, %zu open", s->sid, srv->nopen);
    free(s);
}

void eio_stop_linger(eio_session *s)
{
    if (!s->lingering) return;
    s->lingering = 0;
    gw_tlist_del(&s->lng);
    eio_table_del(s->srv, s);
    eio_maybe_reap(s);
}

void eio_drop_probe(eio_session *s, uint16_t code)
{
    gw_tlist_del(&s->upg);
    s->probed = 0;
    s->noop_due = 0;
    if (s->probe) {
        http_conn *p = s->probe;
        s->probe = NULL;
        ws_close(p, code);
    }
}

void eio_session_end(eio_session *s, eio_close_reason reason)
{
    eio_server *srv = s->srv;
    if (s->state != S_OPEN) return;
    s->state = S_CLOSING;
    s->reason = reason;
    srv->nopen--;
    gw_metrics.sessions[s->transport == EIO_TRANSPORT_WEBSOCKET]--;
    if (s->per_addr && --s->per_addr->n == 0) {
        HASH_DEL(srv->addrs, s->per_addr);
        free(s->per_addr);
    }
    s->per_addr = NULL;
    gw_tlist_del(&s->hb);
    eio_drop_probe(s, 1000);
    log_debug("session %s closed (%s), %zu open", s->sid, eio_close_reason_str(reason), srv->nopen);
    /* the client learns of it through a close packet where it can */
    s->send_close = reason != EIO_CLOSE_TRANSPORT_CLOSE;
    if (s->ws) {
        http_conn *w = s->ws;
        s->ws = NULL;
        if (s->send_close) ws_send_text(w, "1", 1);
        ws_close(w, reason == EIO_CLOSE_SHUTDOWN ? 1001 : 1000);
    } else if (s->get) {
        eio_mark_dirty(s); /* the held GET carries what waits, then "1" */
    } else if ((s->from_above || reason == EIO_CLOSE_FORCED || reason == EIO_CLOSE_FORCED_SERVER) &&
               s->transport == EIO_TRANSPORT_POLLING) {
        /* closed from above between two polls (whatever the reason, e.g. a
         * Socket.IO parse error): keep the sid a little so the client's
         * next GET gets what is queued and "1", as from the reference */
        s->lingering = 1;
        gw_tlist_add(&srv->linger_list, &s->lng);
    }
    if (!s->lingering) eio_table_del(srv, s);
    s->cnext = srv->closed;
    srv->closed = s;
}

/* --- HTTP helpers ------------------------------------------------------------------ */

/* CORS (and optionally the sid cookie) header lines for a response. */
const char *eio_extra_headers(eio_server *srv, const http_request *r, const char *cookie_sid,
                              char *buf)
{
    eio_cors_headers(&srv->cfg, http_header(r, "origin"), cookie_sid, buf, HDR_BUF);
    return buf;
}

static const char *err_msgs[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version"};

void eio_respond_error(eio_server *srv, http_conn *c, const http_request *r, int code, int close)
{
    char body[128], hdr[HDR_BUF];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, err_msgs[code]);
    http_respond(c, 400, "application/json", eio_extra_headers(srv, r, NULL, hdr), body, (size_t)n,
                 close);
}

/* --- sending ------------------------------------------------------------------------- */

static void push(eio_session *s, int type, eio_msg *m)
{
    s->q = gw_grow(s->q, &s->qcap, s->nq + 1, sizeof *s->q);
    s->q[s->nq].type = type;
    s->q[s->nq].msg = m ? eio_msg_ref(m) : NULL;
    s->nq++;
    size_t add = m ? eio_msg_len(m) + 1 : 1;
    s->q_bytes += add;
    s->srv->q_total += add;
    if (s->get) eio_mark_dirty(s);
    if (s->q_bytes > s->srv->max_buffered && s->state == S_OPEN) {
        /* a polling client that does not come back for what waits: the
         * same cap as a WebSocket's output queue */
        log_warn("session %s from %s: %zu bytes waiting for a poll (--max-buffered %zu), closing",
                 s->sid, s->hs.address, s->q_bytes, s->srv->max_buffered);
        GW_LIMIT(GW_LIMIT_MAX_BUFFERED);
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
    }
}

static void send_ctrl(eio_session *s, int type)
{
    if (s->srv->h.on_packet) s->srv->h.on_packet(s, type, 1, s->srv->ud);
    char d = (char)('0' + type);
    if (s->transport == EIO_TRANSPORT_WEBSOCKET) {
        if (s->ws) ws_send_text(s->ws, &d, 1);
    } else {
        push(s, type, NULL);
    }
}

int eio_session_send(eio_session *s, eio_msg *m)
{
    if (s->state != S_OPEN) return -1;
    if (s->srv->h.on_packet) s->srv->h.on_packet(s, EIO_PKT_MESSAGE, 1, s->srv->ud);
    if (s->state != S_OPEN) return -1;
    if (s->transport == EIO_TRANSPORT_WEBSOCKET) {
        if (s->ws && s->v3)
            eio3_ws_send(s->ws, m, s->v3_b64);
        else if (s->ws)
            ws_send_msg(s->ws, m);
    } else {
        push(s, EIO_PKT_MESSAGE, m);
    }
    return 0;
}

void eio_session_close(eio_session *s, eio_close_reason reason)
{
    if (s->state == S_OPEN) s->from_above = 1;
    eio_session_end(s, reason);
}

/* --- receiving ----------------------------------------------------------------------- */

static void got_pong(eio_session *s)
{
    if (!s->awaiting_pong) return;
    s->awaiting_pong = 0;
    gw_tlist_add(&s->srv->ping_list, &s->hb);
}

/* One packet from the client on the session's transport.  Returns 0 to go
 * on, 1 once the session is closed. */
int eio_on_pkt(eio_session *s, int type, const char *data, size_t len, int binary)
{
    eio_server *srv = s->srv;
    if (s->state != S_OPEN) return 1;
    if (srv->h.on_packet) srv->h.on_packet(s, type, 0, srv->ud);
    if (s->state != S_OPEN) return 1;
    switch (type) {
    case EIO_PKT_MESSAGE:
        srv->h.on_message(s, data, len, binary, srv->ud);
        break;
    case EIO_PKT_PONG:
        if (s->v3) goto wrong_direction;
        got_pong(s);
        break;
    case EIO_PKT_CLOSE:
        eio_session_end(s, EIO_CLOSE_TRANSPORT_CLOSE);
        break;
    case EIO_PKT_PING:
        if (!s->v3) goto wrong_direction;
        /* v3: the client pings; its next ping is due within the window */
        gw_tlist_del(&s->hb);
        gw_tlist_add(&srv->eio3_list, &s->hb);
        send_ctrl(s, EIO_PKT_PONG);
        break;
    wrong_direction:
        log_info("session %s from %s: heartbeat in the wrong direction for protocol v%d, closing",
                 s->sid, s->hs.address, s->v3 ? 3 : 4);
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
        break;
    default:
        break; /* open, upgrade, noop */
    }
    return s->state == S_OPEN ? 0 : 1;
}

int eio_on_payload(void *ud, int type, const char *data, size_t len, int binary)
{
    return eio_on_pkt(ud, type, data, len, binary);
}

/* --- heartbeat and other timeouts -------------------------------------------------------- */

static void ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&srv->ping_list))) {
        eio_session *s = gw_container_of(n, eio_session, hb);
        send_ctrl(s, EIO_PKT_PING);
        s->awaiting_pong = 1;
        gw_tlist_add(&srv->pong_list, &s->hb);
    }
    gw_tlist_rearm(&srv->ping_list);
}

static void pong_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&srv->pong_list)))
        eio_session_end(gw_container_of(n, eio_session, hb), EIO_CLOSE_PING_TIMEOUT);
    gw_tlist_rearm(&srv->pong_list);
}

static void eio3_ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&srv->eio3_list))) {
        eio_session *s = gw_container_of(n, eio_session, hb);
        log_debug("session %s: no ping from the v3 client in time", s->sid);
        eio_session_end(s, EIO_CLOSE_PING_TIMEOUT);
    }
    gw_tlist_rearm(&srv->eio3_list);
}

static void upgrade_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&srv->upgrade_list))) {
        eio_session *s = gw_container_of(n, eio_session, upg);
        log_debug("session %s: upgrade timed out", s->sid);
        eio_drop_probe(s, 1000);
    }
    gw_tlist_rearm(&srv->upgrade_list);
}

static void linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&srv->linger_list)))
        eio_stop_linger(gw_container_of(n, eio_session, lng));
    gw_tlist_rearm(&srv->linger_list);
}

static void noop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    int any = 0;
    for (gw_tnode *n = srv->upgrade_list.head.next; n != &srv->upgrade_list.head; n = n->next) {
        eio_session *s = gw_container_of(n, eio_session, upg);
        if (!s->probed) continue;
        any = 1;
        if (s->get) {
            s->noop_due = 1;
            eio_mark_dirty(s);
        }
    }
    if (!any) ev_timer_stop(loop, w);
}

/* --- sessions ------------------------------------------------------------------------- */

static void preflight(eio_server *srv, http_conn *c, const http_request *r)
{
    char hdr[HDR_BUF];
    eio_preflight_headers(&srv->cfg, http_header(r, "origin"),
                          http_header(r, "access-control-request-headers"), hdr, sizeof hdr);
    http_respond(c, 204, NULL, hdr, NULL, 0, 0);
}

/* Checks shared by polling and WebSocket requests: -1 when they pass,
 * else the eio_error_code to answer with. */
int eio_check_query(eio_server *srv, const http_request *r, char *transport, char *sid)
{
    long tl = http_query_get(r->query, "transport", transport, 16);
    unsigned mask = 0;
    if (tl > 0 && strcmp(transport, "polling") == 0) mask = EIO_TRANSPORT_POLLING;
    if (tl > 0 && strcmp(transport, "websocket") == 0) mask = EIO_TRANSPORT_WEBSOCKET;
    if (!(mask & srv->cfg.transports)) return EIO_ERR_UNKNOWN_TRANSPORT;
    if (eio3_query_protocol(r->query, srv->cfg.allow_eio3) < 0)
        return EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION;
    long sl = http_query_get(r->query, "sid", sid, GW_ID_LEN + 8);
    if (sl == -1)
        sid[0] = '\0'; /* absent: a handshake */
    else if (sl < 0 || sl == 0)
        strcpy(sid, "?"); /* present but no such sid */
    return -1;
}

int eio_is_engine_path(eio_server *srv, const char *path)
{
    return strncmp(path, srv->cfg.path, strlen(srv->cfg.path)) == 0;
}

static void on_head(http_conn *c, const http_request *r, void *ud)
{
    eio_server *srv = ud;
    const eio_config *cfg = &srv->cfg;
    char hdr[HDR_BUF];
    if (cfg->client_js) {
        size_t pl = strlen(cfg->path);
        if (strncmp(r->path, cfg->path, pl) == 0 && http_client_js_name(r->path + pl)) {
            http_respond_client_js(c, cfg->client_js, r->path + pl,
                                   eio_extra_headers(srv, r, NULL, hdr));
            return;
        }
    }
    if (!eio_is_engine_path(srv, r->path)) {
        if (cfg->static_dir) {
            http_respond_file(c, cfg->static_dir, r->path, NULL);
        } else {
            static const char nf[] = "404 Not Found\n";
            http_respond(c, 404, "text/plain; charset=UTF-8", NULL, nf, sizeof nf - 1, 0);
        }
        return;
    }
    if (r->method == HTTP_OPTIONS && cfg->cors_origins) {
        preflight(srv, c, r);
        return;
    }
    char transport[16], sid[GW_ID_LEN + 8];
    int code = eio_check_query(srv, r, transport, sid);
    if (code >= 0) {
        if (!strstr(r->query, "sid=")) GW_COUNT(refused[GW_REFUSE_BAD_REQUEST]);
        eio_respond_error(srv, c, r, code, 0);
        return;
    }
    if (strcmp(transport, "websocket") == 0) { /* a WebSocket request without the upgrade */
        eio_respond_error(srv, c, r, EIO_ERR_BAD_REQUEST, 0);
        return;
    }
    if (!sid[0]) {
        if (r->method != HTTP_GET)
            eio_respond_error(srv, c, r, EIO_ERR_BAD_HANDSHAKE_METHOD, 0);
        else
            eio_handshake_polling(srv, c, r);
        return;
    }
    eio_session *s = eio_table_get(srv, sid);
    if (!s || (s->state != S_OPEN && !(s->lingering && r->method == HTTP_GET))) {
        eio_respond_error(srv, c, r, EIO_ERR_UNKNOWN_SID, 0);
        return;
    }
    if (s->transport != EIO_TRANSPORT_POLLING) { /* upgraded: polling is over */
        eio_respond_error(srv, c, r, EIO_ERR_BAD_REQUEST, 0);
        return;
    }
    if (r->method == HTTP_GET)
        eio_poll_get(srv, s, c, r);
    else if (r->method == HTTP_POST)
        eio_poll_post(srv, s, c, r);
    else
        eio_respond_error(srv, c, r, EIO_ERR_BAD_REQUEST, 0);
}

static void on_gone(http_conn *c, void *owner, http_gone why, void *ud)
{
    eio_server *srv = ud;
    if (srv->adm && adm_owns(srv->adm, owner)) { /* a handshake waiting for admission */
        adm_gone(srv->adm, owner);
        return;
    }
    eio_session *s = owner;
    if (c == s->get) {
        s->get = NULL;
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR); /* poll closed prematurely */
    } else if (c == s->post) {
        s->post = NULL;
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
    } else if (c == s->ws) {
        s->ws = NULL;
        if (why == HTTP_GONE_TOOBIG)
            log_info("session %s from %s: WebSocket message over --max-payload %zu: close 1009",
                     s->sid, http_conn_addr(c), s->srv->cfg.max_payload);
        if (why == HTTP_GONE_TOOBIG) GW_LIMIT(GW_LIMIT_PAYLOAD);
        eio_session_end(s, why == HTTP_GONE_EOF ? EIO_CLOSE_TRANSPORT_CLOSE
                                                : EIO_CLOSE_TRANSPORT_ERROR);
    } else if (c == s->probe) {
        s->probe = NULL;
        gw_tlist_del(&s->upg);
        s->probed = 0;
        s->noop_due = 0;
    }
    eio_maybe_reap(s);
}

void eio_on_drain(http_conn *c, void *ud)
{
    eio_server *srv = ud;
    eio_session *s = http_conn_owner(c);
    if (s && srv->adm && adm_owns(srv->adm, s)) return; /* a parked handshake */
    if (s && c == s->ws && s->state == S_OPEN && srv->h.on_drain) srv->h.on_drain(s, srv->ud);
}

static int by_queue_desc(const void *a, const void *b)
{
    size_t x = (*(eio_session *const *)a)->q_bytes, y = (*(eio_session *const *)b)->q_bytes;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* --max-buffered-total over what polling clients have not come for: past
 * the cap (with what the connections hold, which http.c caps the same
 * way), the open sessions holding the most are closed first, "transport
 * error" as for --max-buffered, until the total is under it.  A closed
 * session's queue is forgotten at once for this count (it goes out with
 * the closing GET or not at all). */
static void enforce_poll_total(eio_server *srv)
{
    size_t conns = http_server_buffered(srv->http);
    if (srv->q_total + conns <= srv->max_total) return;
    size_t n = 0, k = 0;
    eio_session *s, *tmp;
    HASH_ITER(hh, srv->table, s, tmp)
        n += s->state == S_OPEN && s->q_bytes;
    if (!n) return;
    eio_session **v = xmalloc(n * sizeof *v);
    HASH_ITER(hh, srv->table, s, tmp)
        if (k < n && s->state == S_OPEN && s->q_bytes) v[k++] = s;
    qsort(v, k, sizeof *v, by_queue_desc);
    for (size_t i = 0; i < k && srv->q_total + conns > srv->max_total; i++) {
        s = v[i];
        log_warn("dropping slow poller %s (session %s): %zu bytes waiting for a poll, the most of "
                 "any session (--max-buffered-total %zu reached: %zu queued in all)",
                 s->hs.address, s->sid, s->q_bytes, srv->max_total, srv->q_total + conns);
        GW_LIMIT(GW_LIMIT_MAX_BUFFERED_TOTAL);
        eio_q_clear(s);
        eio_session_end(s, EIO_CLOSE_TRANSPORT_ERROR);
    }
    free(v);
}

/* The loop's safe point: answer polls, deliver on_close, free sessions. */
static int on_prepare(void *ud)
{
    eio_server *srv = ud;
    int work = 0;
    while (srv->dirty) {
        eio_session *s = srv->dirty;
        srv->dirty = s->dnext;
        s->dirty = 0;
        eio_answer_poll(s, 0);
        work = 1;
    }
    if (srv->max_total && srv->q_total > srv->max_total / 64) enforce_poll_total(srv);
    while (srv->closed) {
        eio_session *s = srv->closed;
        srv->closed = s->cnext;
        s->state = S_CLOSED;
        if (srv->h.on_close) srv->h.on_close(s, s->reason, srv->ud);
        eio_maybe_reap(s);
        work = 1;
    }
    while (srv->reap) {
        eio_session *s = srv->reap;
        srv->reap = s->rnext;
        session_free(s);
    }
    return work;
}

/* --- server -------------------------------------------------------------------------- */

/* An admitted handshake goes through the whole request path again (the
 * limits may have changed while it waited); admission.c lets it pass. */
static void adm_resume(http_conn *c, int upgrade, void *ud)
{
    eio_server *srv = ud;
    if (!upgrade) {
        on_head(c, http_conn_request(c), srv);
        return;
    }
    eio_on_upgrade(c, http_conn_request(c), srv);
    if (!http_conn_answered(c)) http_conn_close(c); /* as http.c does */
}

eio_server *eio_server_new(struct ev_loop *loop, const eio_config *cfg, const eio_handler *h,
                           void *ud)
{
    if (!h->on_message) {
        log_error("eio: on_message is required");
        return NULL;
    }
    eio_server *srv = xcalloc(1, sizeof *srv);
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->h = *h;
    srv->ud = ud;
    /* a client between two requests must be back within the heartbeat
     * window anyway; the same bound cuts off silent and slow-loris peers */
    double idle = (cfg->ping_interval_ms + cfg->ping_timeout_ms) / 1000.0;
    if (cfg->idle_timeout_ms) idle = cfg->idle_timeout_ms / 1000.0;
    srv->max_buffered =
        cfg->max_buffered ? cfg->max_buffered : cfg->max_payload * 4 + 16 * 1024 * 1024;
    srv->max_sessions = cfg->max_connections;
    if (!srv->max_sessions) { /* what the descriptor limit allows, keeping some for the rest */
        struct rlimit rl;
        srv->max_sessions = 10000;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < srv->max_sessions + 64)
            srv->max_sessions = rl.rlim_cur > 128 ? (size_t)rl.rlim_cur - 64 : 64;
    }
    srv->max_total = cfg->max_buffered_total                     ? cfg->max_buffered_total
                     : srv->max_buffered * 4 > ((size_t)1 << 30) ? srv->max_buffered * 4
                                                                 : (size_t)1 << 30;
    http_limits lim = {
        .max_header_bytes = cfg->max_header_bytes,
        .max_url_bytes = cfg->max_url_bytes,
        .max_output = srv->max_buffered,
        .max_output_total = srv->max_total,
        .idle_timeout = idle < 0.1 ? 0.1 : idle,
        .header_timeout =
            (cfg->header_timeout_ms ? cfg->header_timeout_ms : HTTP_HEADER_TIMEOUT_MS) / 1000.0,
        /* a polling session may hold two connections (GET + POST), plus
         * some for requests that open no session */
        .max_conns = srv->max_sessions * 2 + 64,
    };
    http_handler hh = {
        .on_head = on_head,
        .on_body = eio_on_body,
        .on_end = eio_on_end,
        .on_upgrade = eio_on_upgrade,
        .on_ws_message = eio_on_ws_message,
        .on_gone = on_gone,
        .on_drain = eio_on_drain,
        .on_prepare = on_prepare,
    };
    srv->http = http_server_new(loop, &lim, &hh, srv);
    http_server_set_tls(srv->http, cfg->tls);
    gw_tlist_init(&srv->ping_list, loop, cfg->ping_interval_ms / 1000.0, ping_cb, srv);
    gw_tlist_init(&srv->pong_list, loop, cfg->ping_timeout_ms / 1000.0, pong_cb, srv);
    gw_tlist_init(&srv->eio3_list, loop, (cfg->ping_interval_ms + cfg->ping_timeout_ms) / 1000.0,
                  eio3_ping_cb, srv);
    gw_tlist_init(&srv->upgrade_list, loop, cfg->upgrade_timeout_ms / 1000.0, upgrade_cb, srv);
    double linger = cfg->ping_timeout_ms / 1000.0;
    gw_tlist_init(&srv->linger_list, loop, linger < LINGER_MAX ? linger : LINGER_MAX, linger_cb,
                  srv);
    ev_init(&srv->noop_timer, noop_cb);
    srv->noop_timer.repeat = NOOP_PERIOD;
    srv->noop_timer.data = srv;
    if (cfg->admission && h->on_admission) {
        adm_setup as = {.loop = loop,
                        .cfg = &srv->cfg,
                        .ask = h->on_admission,
                        .ask_ud = ud,
                        .resume = adm_resume,
                        .ud = srv};
        srv->adm = adm_new(&as);
    }
    return srv;
}

int eio_admission_answer(eio_server *srv, uint64_t id, int ok, const char *message)
{
    return srv->adm ? adm_answer(srv->adm, id, ok, message) : -1;
}

size_t eio_server_buffered(const eio_server *srv)
{
    return http_server_buffered(srv->http);
}

int eio_server_bind(eio_server *srv)
{
    return http_server_bind(srv->http, srv->cfg.host, srv->cfg.port);
}

int eio_server_listen(eio_server *srv)
{
    if (http_server_listen(srv->http, srv->cfg.host, srv->cfg.port) < 0) return -1;
    if (srv->cfg.fastcgi && !srv->fcgi) {
        /* a held poll is answered within pingInterval; allow a margin */
        fastcgi_options fo = {srv->cfg.fastcgi, srv->cfg.fastcgi_max_threads,
                              srv->cfg.ping_interval_ms + srv->cfg.ping_timeout_ms + 5000};
        fo.socket_mode = srv->cfg.fastcgi_socket_mode;
        fo.socket_uid = srv->cfg.fastcgi_socket_uid;
        fo.socket_gid = srv->cfg.fastcgi_socket_gid;
        srv->fcgi = fastcgi_front_new(srv->loop, srv->http, &fo);
        if (!srv->fcgi) return -1;
    }
    /* Tests and scripts wait for this line: it means "ready". */
    int v6 = strchr(srv->cfg.host, ':') != NULL;
    log_info("listening on http%s://%s%s%s:%d", srv->cfg.tls ? "s" : "", v6 ? "[" : "",
             srv->cfg.host, v6 ? "]" : "", srv->cfg.port);
    return 0;
}

size_t eio_server_sessions(const eio_server *srv)
{
    return srv->nopen;
}

void eio_server_adopt(eio_server *srv, int fd, const char *addr)
{
    http_server_adopt(srv->http, fd, addr, 0);
}

void eio_server_shutdown(eio_server *srv)
{
    if (srv->shut) return;
    srv->shut = 1;
    http_server_stop_listening(srv->http);
    fastcgi_front_stop(srv->fcgi);
    adm_destroy(&srv->adm); /* parked handshakes get 503 */
    eio_session *s, *tmp;
    HASH_ITER(hh, srv->table, s, tmp)
        eio_session_end(s, EIO_CLOSE_SHUTDOWN);
    on_prepare(srv);                  /* answer held polls, deliver on_close */
    http_server_close_all(srv->http); /* last flush, then close every socket */
    while (srv->table) {
        s = srv->table;
        if (s->lingering)
            eio_stop_linger(s);
        else
            eio_table_del(srv, s);
    }
    on_prepare(srv);
    gw_tlist_stop(&srv->ping_list);
    gw_tlist_stop(&srv->pong_list);
    gw_tlist_stop(&srv->upgrade_list);
    gw_tlist_stop(&srv->eio3_list);
    gw_tlist_stop(&srv->linger_list);
    ev_timer_stop(srv->loop, &srv->noop_timer);
}

void eio_server_destroy(eio_server **sp)
{
    eio_server *srv = *sp;
    if (!srv) return;
    *sp = NULL;
    eio_server_shutdown(srv); /* no-op if already done */
    fastcgi_front_destroy(&srv->fcgi);
    http_server_destroy(&srv->http);
    on_prepare(srv);
    struct addr_count *a, *tmp;
    HASH_ITER(hh, srv->addrs, a, tmp) {
        HASH_DEL(srv->addrs, a);
        free(a);
    }
    HASH_CLEAR(hh, srv->table);
    free(srv);
}

/* --- session accessors ------------------------------------------------------------------ */
