/* eio.c — Engine.IO v4 sessions: handshake, long-polling, WebSocket,
 * upgrade, heartbeat, close; implements eio.h on top of http.c and ws.c.
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
 *                                   on_upgrade                          OPEN websocket
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
 *             delivered)            and "1"                             FREED
 *   CLOSED   safe point             on_close once; free when no
 *                                   connection refers to it             FREED
 *
 * Timeouts use gw_tlist (one ev_timer per kind of timeout): the ping
 * schedule, pong deadlines, upgrade deadlines and polling lingers.
 */
#include "eio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uthash.h>

#include "admission.h"
#include "eio3.h"
#include "eio_codec.h"
#include "eio_cors.h"
#include "fastcgi.h"
#include "http.h"
#include "proxy.h"
#include "tlist.h"
#include "util.h"
#include "ws.h"

#define LINGER_MAX 2.0   /* seconds a closed polling session waits for a GET */
#define NOOP_PERIOD 0.1  /* noop cadence while an upgrade is pending */
#define HDR_BUF 4096

enum { S_OPEN = 0, S_CLOSED };

struct eio_session {
    eio_server *srv;
    char sid[GW_ID_LEN + 1];
    int transport;
    int state;
    eio_close_reason reason;
    unsigned dirty : 1, close_delivered : 1, in_table : 1, lingering : 1, reaping : 1;
    unsigned probed : 1, noop_due : 1, awaiting_pong : 1, post_bad : 1, send_close : 1;
    unsigned from_above : 1; /* closed by eio_session_close() */
    unsigned v3 : 1, v3_b64 : 1; /* Engine.IO v3 client (eio3.h); `b64` in its query */
    eio3_payload_dec *dec3;      /* v3 POST bodies, NULL for v4 */
    http_conn *get, *post, *ws, *probe;
    eio_pend *q; /* eio3.h */
    size_t nq, qcap;
    eio_payload_dec dec;
    size_t post_bytes;
    size_t q_bytes; /* payload bytes waiting in q (polling) */
    struct addr_count *per_addr; /* counted here while open, or NULL */
    gw_tnode hb;  /* ping_list or pong_list */
    gw_tnode upg; /* upgrade_list */
    gw_tnode lng; /* linger_list */
    eio_session *hnext, *dnext, *cnext, *rnext;
    eio_handshake hs;
    void *hs_mem;
    void *userdata;
};

/* Open sessions per client address (--max-sessions-per-address). */
struct addr_count {
    char addr[64];
    size_t n;
    UT_hash_handle hh;
};

struct eio_server {
    struct ev_loop *loop;
    eio_config cfg;
    eio_handler h;
    void *ud;
    http_server *http;
    fastcgi_front *fcgi; /* --fastcgi: bridged requests arrive on `http` */
    eio_session **buckets;
    size_t nbuckets, ntable, nopen;
    gw_tlist ping_list, pong_list, upgrade_list, linger_list;
    gw_tlist eio3_list; /* v3: the client's ping is due (pingInterval + pingTimeout) */
    ev_timer noop_timer;
    eio_session *dirty, *closed, *reap;
    int shut;
    size_t max_sessions, max_buffered;
    struct addr_count *addrs;
    adm_queue *adm; /* --admission, NULL = off */
};

const char *eio_close_reason_str(eio_close_reason r)
{
    static const char *s[] = {"transport close", "transport error",      "parse error",
                              "forced close",    "ping timeout",         "server shutting down",
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
    c->header_timeout_ms = 10000;
    c->fastcgi_max_threads = 4096;
    c->fastcgi_socket_uid = c->fastcgi_socket_gid = -1;
    c->admission_timeout_ms = 2000;
    c->admission_max_pending = 1024;
}

/* --- sid table ------------------------------------------------------------------ */

static size_t hash_sid(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void table_put(eio_server *srv, eio_session *s)
{
    if (srv->ntable + 1 > srv->nbuckets) {
        size_t nb = srv->nbuckets ? srv->nbuckets * 2 : 64;
        eio_session **b = xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < srv->nbuckets; i++)
            for (eio_session *x = srv->buckets[i], *nx; x; x = nx) {
                nx = x->hnext;
                size_t k = hash_sid(x->sid) & (nb - 1);
                x->hnext = b[k];
                b[k] = x;
            }
        free(srv->buckets);
        srv->buckets = b;
        srv->nbuckets = nb;
    }
    size_t k = hash_sid(s->sid) & (srv->nbuckets - 1);
    s->hnext = srv->buckets[k];
    srv->buckets[k] = s;
    s->in_table = 1;
    srv->ntable++;
}

static eio_session *table_get(eio_server *srv, const char *sid)
{
    if (!srv->nbuckets) return NULL;
    for (eio_session *x = srv->buckets[hash_sid(sid) & (srv->nbuckets - 1)]; x; x = x->hnext)
        if (strcmp(x->sid, sid) == 0) return x;
    return NULL;
}

static void table_del(eio_server *srv, eio_session *s)
{
    if (!s->in_table) return;
    eio_session **pp = &srv->buckets[hash_sid(s->sid) & (srv->nbuckets - 1)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    s->in_table = 0;
    srv->ntable--;
}

/* --- lifetime ---------------------------------------------------------------------- */

static void mark_dirty(eio_session *s)
{
    if (s->dirty) return;
    s->dirty = 1;
    s->dnext = s->srv->dirty;
    s->srv->dirty = s;
}

/* Free at the next safe point once nothing refers to the session. */
static void maybe_reap(eio_session *s)
{
    if (s->state != S_CLOSED || !s->close_delivered || s->reaping || s->lingering || s->get ||
        s->post || s->ws || s->probe)
        return;
    s->reaping = 1;
    s->rnext = s->srv->reap;
    s->srv->reap = s;
}

static void session_free(eio_session *s)
{
    eio_server *srv = s->srv;
    table_del(srv, s);
    gw_tlist_del(&s->hb);
    gw_tlist_del(&s->upg);
    gw_tlist_del(&s->lng);
    for (size_t i = 0; i < s->nq; i++)
        eio_msg_unref(&s->q[i].msg);
    free(s->q);
    eio_payload_free(&s->dec);
    if (s->dec3) eio3_payload_free(s->dec3);
    free(s->dec3);
    free(s->hs_mem);
    log_debug("session %s freed, %zu open", s->sid, srv->nopen);
    free(s);
}

static void stop_linger(eio_session *s)
{
    if (!s->lingering) return;
    s->lingering = 0;
    gw_tlist_del(&s->lng);
    table_del(s->srv, s);
    maybe_reap(s);
}

static void detach(http_conn *c) { http_conn_set_owner(c, NULL); }

static void drop_probe(eio_session *s, uint16_t code)
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

static void session_close(eio_session *s, eio_close_reason reason)
{
    eio_server *srv = s->srv;
    if (s->state != S_OPEN) return;
    s->state = S_CLOSED;
    s->reason = reason;
    srv->nopen--;
    if (s->per_addr && --s->per_addr->n == 0) {
        HASH_DEL(srv->addrs, s->per_addr);
        free(s->per_addr);
    }
    s->per_addr = NULL;
    gw_tlist_del(&s->hb);
    drop_probe(s, 1000);
    log_debug("session %s closed (%s), %zu open", s->sid, eio_close_reason_str(reason), srv->nopen);
    /* the client learns of it through a close packet where it can */
    s->send_close = reason != EIO_CLOSE_TRANSPORT_CLOSE;
    if (s->ws) {
        http_conn *w = s->ws;
        s->ws = NULL;
        if (s->send_close) ws_send_text(w, "1", 1);
        ws_close(w, reason == EIO_CLOSE_SHUTDOWN ? 1001 : 1000);
    } else if (s->get) {
        mark_dirty(s); /* the held GET carries what waits, then "1" */
    } else if ((s->from_above || reason == EIO_CLOSE_FORCED || reason == EIO_CLOSE_FORCED_SERVER) &&
               s->transport == EIO_TRANSPORT_POLLING) {
        /* closed from above between two polls (whatever the reason, e.g. a
         * Socket.IO parse error): keep the sid a little so the client's
         * next GET gets what is queued and "1", as from the reference */
        s->lingering = 1;
        gw_tlist_add(&srv->linger_list, &s->lng);
    }
    if (!s->lingering) table_del(srv, s);
    s->cnext = srv->closed;
    srv->closed = s;
}

/* --- HTTP helpers ------------------------------------------------------------------ */

/* CORS (and optionally the sid cookie) header lines for a response. */
static const char *extra_headers(eio_server *srv, const http_request *r, const char *cookie_sid,
                                 char *buf)
{
    eio_cors_headers(&srv->cfg, http_header(r, "origin"), cookie_sid, buf, HDR_BUF);
    return buf;
}

static const char *err_msgs[] = {"Transport unknown", "Session ID unknown", "Bad handshake method",
                                  "Bad request",       "Forbidden",          "Unsupported protocol version"};

static void respond_error(eio_server *srv, http_conn *c, const http_request *r, int code, int close)
{
    char body[128], hdr[HDR_BUF];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, err_msgs[code]);
    http_respond(c, 400, "application/json", extra_headers(srv, r, NULL, hdr), body, (size_t)n,
                 close);
}

/* --- sending ------------------------------------------------------------------------- */

static void push(eio_session *s, int type, eio_msg *m)
{
    if (s->nq == s->qcap) {
        s->qcap = s->qcap ? s->qcap * 2 : 8;
        s->q = xrealloc(s->q, s->qcap * sizeof *s->q);
    }
    s->q[s->nq].type = type;
    s->q[s->nq].msg = m ? eio_msg_ref(m) : NULL;
    s->nq++;
    s->q_bytes += m ? eio_msg_len(m) + 1 : 1;
    if (s->get) mark_dirty(s);
    if (s->q_bytes > s->srv->max_buffered && s->state == S_OPEN) {
        /* a polling client that does not come back for what waits: the
         * same cap as a WebSocket's output queue */
        log_warn("session %s from %s: %zu bytes waiting for a poll (--max-buffered %zu), closing",
                 s->sid, s->hs.address, s->q_bytes, s->srv->max_buffered);
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR);
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
        if (s->ws && s->v3) eio3_ws_send(s->ws, m, s->v3_b64);
        else if (s->ws) ws_send_msg(s->ws, m);
    } else {
        push(s, EIO_PKT_MESSAGE, m);
    }
    return 0;
}

void eio_session_close(eio_session *s, eio_close_reason reason)
{
    if (s->state == S_OPEN) s->from_above = 1;
    session_close(s, reason);
}

/* Answer the held GET with everything queued (joined by 0x1e), plus "1"
 * when the session is closed, or a lone "6" for a pending upgrade. */
static void answer_poll(eio_session *s, int noop_only)
{
    eio_server *srv = s->srv;
    http_conn *c = s->get;
    if (!noop_only && s->state == S_CLOSED && !s->send_close && c) {
        /* The client closed ("1" by POST) while this GET waited: like the
         * reference, end the GET with a noop; what was queued is for a
         * client that has gone (its sockets' workers hear the close). */
        if (s->nq)
            log_debug("session %s: client closed, %zu queued packet(s) not sent", s->sid, s->nq);
        noop_only = 1;
    }
    size_t nq = noop_only ? 0 : s->nq;
    int closing = s->state == S_CLOSED && !noop_only;
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
        eio3_poll_respond(c, s->q, nq, closing ? '1' : noop ? '6' : 0, s->v3_b64,
                          extra_headers(srv, http_conn_request(c), NULL, hdr));
    else
        http_response_head(c, 200, "text/plain; charset=UTF-8",
                           extra_headers(srv, http_conn_request(c), NULL, hdr), total, 0);
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
        s->q_bytes = 0;
    }
    s->get = NULL;
    detach(c);
    http_response_end(c);
    if (s->state == S_OPEN && srv->h.on_drain) srv->h.on_drain(s, srv->ud);
    stop_linger(s);
    maybe_reap(s);
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
static int on_pkt(eio_session *s, int type, const char *data, size_t len, int binary)
{
    eio_server *srv = s->srv;
    if (s->state != S_OPEN) return 1;
    if (srv->h.on_packet) srv->h.on_packet(s, type, 0, srv->ud);
    if (s->state != S_OPEN) return 1;
    switch (type) {
    case EIO_PKT_MESSAGE: srv->h.on_message(s, data, len, binary, srv->ud); break;
    case EIO_PKT_PONG:
        if (s->v3) goto wrong_direction;
        got_pong(s);
        break;
    case EIO_PKT_CLOSE: session_close(s, EIO_CLOSE_TRANSPORT_CLOSE); break;
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
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR);
        break;
    default: break;                                                        /* open, upgrade, noop */
    }
    return s->state == S_OPEN ? 0 : 1;
}

static int payload_cb(void *ud, int type, const char *data, size_t len, int binary)
{
    return on_pkt(ud, type, data, len, binary);
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
        session_close(gw_container_of(n, eio_session, hb), EIO_CLOSE_PING_TIMEOUT);
    gw_tlist_rearm(&srv->pong_list);
}

static void eio3_ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&srv->eio3_list))) {
        eio_session *s = gw_container_of(n, eio_session, hb);
        log_debug("session %s: no ping from the v3 client in time", s->sid);
        session_close(s, EIO_CLOSE_PING_TIMEOUT);
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
        drop_probe(s, 1000);
    }
    gw_tlist_rearm(&srv->upgrade_list);
}

static void linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    eio_server *srv = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&srv->linger_list)))
        stop_linger(gw_container_of(n, eio_session, lng));
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
            mark_dirty(s);
        }
    }
    if (!any) ev_timer_stop(loop, w);
}

/* --- sessions ------------------------------------------------------------------------- */

static void copy_handshake(eio_session *s, const http_request *r)
{
    /* the client's address and scheme: the peer's, unless the peer is a
     * trusted proxy (proxy.h) */
    char addr[64];
    int secure;
    gw_proxy_resolve(s->srv->cfg.trust_proxies, r->address, r->secure, r->headers, r->n_headers,
                     addr, sizeof addr, &secure);
    size_t need = strlen(r->url) + 1 + strlen(r->query) + 1 + strlen(addr) + 1;
    need += r->n_headers * sizeof(eio_header);
    for (size_t i = 0; i < r->n_headers; i++)
        need += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 2;
    char *mem = xmalloc(need);
    eio_header *hd = (eio_header *)mem;
    char *p = mem + r->n_headers * sizeof(eio_header);
#define PUT(dst, src)                                                                        \
    do {                                                                                     \
        size_t l_ = strlen(src) + 1;                                                         \
        memcpy(p, src, l_);                                                                  \
        dst = p;                                                                             \
        p += l_;                                                                             \
    } while (0)
    for (size_t i = 0; i < r->n_headers; i++) {
        PUT(hd[i].name, r->headers[i].name);
        PUT(hd[i].value, r->headers[i].value);
    }
    PUT(s->hs.url, r->url);
    PUT(s->hs.query, r->query);
    PUT(s->hs.address, addr);
#undef PUT
    s->hs_mem = mem;
    s->hs.headers = hd;
    s->hs.n_headers = r->n_headers;
    s->hs.secure = secure;
    s->hs.xdomain = http_header(r, "origin") != NULL;
    s->hs.time_ms = gw_now_ms();
}

/* May a new session open for this request?  0, or the HTTP status that
 * refuses it (logged with the address): 503 past --max-connections, 429
 * past --max-sessions-per-address. */
static int admit(eio_server *srv, const http_request *r)
{
    if (srv->nopen >= srv->max_sessions) {
        log_warn("refusing handshake from %s: %zu sessions open (--max-connections)", r->address,
                 srv->nopen);
        return 503;
    }
    size_t per = srv->cfg.max_sessions_per_address;
    if (per) {
        struct addr_count *a;
        HASH_FIND_STR(srv->addrs, r->address, a);
        if (a && a->n >= per) {
            log_warn("refusing handshake from %s: %zu sessions open from that address "
                     "(--max-sessions-per-address)", r->address, a->n);
            return 429;
        }
    }
    return 0;
}

static void refuse_handshake(eio_server *srv, http_conn *c, const http_request *r, int status)
{
    char body[64], hdr[HDR_BUF];
    int n = snprintf(body, sizeof body, "%d %s\n", status, http_status_text(status));
    http_respond(c, status, "text/plain; charset=UTF-8", extra_headers(srv, r, NULL, hdr), body,
                 (size_t)n, 1);
}

static eio_session *session_new(eio_server *srv, const http_request *r, int transport)
{
    eio_session *s = xcalloc(1, sizeof *s);
    s->srv = srv;
    s->transport = transport;
    do
        gw_random_id(s->sid);
    while (table_get(srv, s->sid));
    eio_payload_init(&s->dec, payload_cb, s);
    if (eio3_query_protocol(r->query, srv->cfg.allow_eio3) == 3) {
        s->v3 = 1;
        s->v3_b64 = eio3_query_b64(r->query) ? 1 : 0;
        s->dec3 = xcalloc(1, sizeof *s->dec3);
        eio3_payload_init(s->dec3, payload_cb, s);
    }
    copy_handshake(s, r);
    table_put(srv, s);
    srv->nopen++;
    if (srv->cfg.max_sessions_per_address) {
        struct addr_count *a;
        HASH_FIND_STR(srv->addrs, s->hs.address, a);
        if (!a) {
            a = xcalloc(1, sizeof *a);
            snprintf(a->addr, sizeof a->addr, "%s", s->hs.address);
            HASH_ADD_STR(srv->addrs, addr, a);
        }
        a->n++;
        s->per_addr = a;
    }
    return s;
}

static int open_packet(eio_server *srv, eio_session *s, char *buf, size_t cap)
{
    int up = s->transport == EIO_TRANSPORT_POLLING && (srv->cfg.transports & EIO_TRANSPORT_WEBSOCKET);
    return snprintf(buf, cap,
                    "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,\"pingTimeout\":%u,"
                    "\"maxPayload\":%zu}",
                    s->sid, up ? "\"websocket\"" : "", srv->cfg.ping_interval_ms,
                    srv->cfg.ping_timeout_ms, srv->cfg.max_payload);
}

static void opened(eio_server *srv, eio_session *s)
{
    log_debug("session %s opened (%s), %zu open", s->sid, eio_session_transport_name(s), srv->nopen);
    if (srv->h.on_packet) srv->h.on_packet(s, EIO_PKT_OPEN, 1, srv->ud);
    /* v4: the server pings; v3: the client does, and must within the window */
    gw_tlist_add(s->v3 ? &srv->eio3_list : &srv->ping_list, &s->hb);
    if (srv->h.on_open) srv->h.on_open(s, srv->ud);
}

static void handshake_polling(eio_server *srv, http_conn *c, const http_request *r)
{
    int st = admit(srv, r);
    if (st) {
        refuse_handshake(srv, c, r, st);
        return;
    }
    if (srv->adm && adm_check(srv->adm, c, r, 0)) return; /* parked or refused */
    eio_session *s = session_new(srv, r, EIO_TRANSPORT_POLLING);
    char body[512], hdr[HDR_BUF];
    int n = open_packet(srv, s, body, sizeof body);
    if (s->v3) {
        char open[512];
        memcpy(open, body, (size_t)n + 1);
        n = eio3_open_payload(body, sizeof body, open, (size_t)n);
    }
    http_respond(c, 200, "text/plain; charset=UTF-8", extra_headers(srv, r, s->sid, hdr), body,
                 (size_t)n, 0);
    opened(srv, s);
}

static void poll_get(eio_server *srv, eio_session *s, http_conn *c, const http_request *r)
{
    if (s->get) {
        log_debug("session %s: overlapping GET", s->sid);
        respond_error(srv, c, r, 3, 0);
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR);
        return;
    }
    s->get = c;
    http_conn_set_owner(c, s);
    if (s->nq || s->state == S_CLOSED) mark_dirty(s);
}

static void poll_post(eio_server *srv, eio_session *s, http_conn *c, const http_request *r)
{
    if (s->post) {
        log_debug("session %s: overlapping POST", s->sid);
        respond_error(srv, c, r, 3, 0);
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR);
        return;
    }
    if (r->content_length != UINT64_MAX && r->content_length > srv->cfg.max_payload) {
        char hdr[HDR_BUF];
        log_info("session %s from %s: POST of %llu bytes over --max-payload %zu: 413, closing",
                 s->sid, r->address, (unsigned long long)r->content_length, srv->cfg.max_payload);
        http_respond(c, 413, "text/plain; charset=UTF-8", extra_headers(srv, r, NULL, hdr),
                     "Payload Too Large", 17, 1);
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR);
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
    detach(c);
    maybe_reap(s);
}

static void on_body(http_conn *c, const char *p, size_t n, void *ud)
{
    eio_server *srv = ud;
    eio_session *s = http_conn_owner(c);
    if (!s || s->post != c) return;
    s->post_bytes += n;
    if (s->post_bytes > srv->cfg.max_payload) {
        char hdr[HDR_BUF];
        log_info("session %s from %s: POST body over --max-payload %zu: 413, closing", s->sid,
                 http_conn_addr(c), srv->cfg.max_payload);
        http_respond(c, 413, "text/plain; charset=UTF-8",
                     extra_headers(srv, http_conn_request(c), NULL, hdr), "Payload Too Large", 17,
                     1);
        post_done(s, c);
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR);
        return;
    }
    if (s->state != S_OPEN || s->post_bad) return;
    if ((s->v3 ? eio3_payload_feed(s->dec3, p, n) : eio_payload_feed(&s->dec, p, n)) < 0) {
        log_info("session %s from %s: invalid polling payload, closing (parse error)", s->sid,
                 http_conn_addr(c));
        s->post_bad = 1;
        session_close(s, EIO_CLOSE_PARSE_ERROR);
    }
}

static void on_end(http_conn *c, void *ud)
{
    eio_server *srv = ud;
    eio_session *s = http_conn_owner(c);
    if (!s || s->post != c) return;
    if (s->state == S_OPEN && !s->post_bad &&
        (s->v3 ? eio3_payload_finish(s->dec3) : eio_payload_finish(&s->dec)) < 0) {
        log_info("session %s from %s: invalid polling payload, closing (parse error)", s->sid,
                 http_conn_addr(c));
        s->post_bad = 1;
        session_close(s, EIO_CLOSE_PARSE_ERROR);
    }
    post_done(s, c);
    if (s->post_bad) {
        respond_error(srv, c, http_conn_request(c), 3, 0);
        return;
    }
    char hdr[HDR_BUF];
    /* text/html like the reference: text/plain made some browsers download */
    http_respond(c, 200, "text/html", extra_headers(srv, http_conn_request(c), NULL, hdr), "ok", 2,
                 0);
}

static void preflight(eio_server *srv, http_conn *c, const http_request *r)
{
    char hdr[HDR_BUF];
    eio_preflight_headers(&srv->cfg, http_header(r, "origin"),
                          http_header(r, "access-control-request-headers"), hdr, sizeof hdr);
    http_respond(c, 204, NULL, hdr, NULL, 0, 0);
}

/* Checks shared by polling and WebSocket requests: 0, or an error code. */
static int check_query(eio_server *srv, const http_request *r, char *transport, char *sid)
{
    long tl = http_query_get(r->query, "transport", transport, 16);
    unsigned mask = 0;
    if (tl > 0 && strcmp(transport, "polling") == 0) mask = EIO_TRANSPORT_POLLING;
    if (tl > 0 && strcmp(transport, "websocket") == 0) mask = EIO_TRANSPORT_WEBSOCKET;
    if (!(mask & srv->cfg.transports)) return 0;
    if (eio3_query_protocol(r->query, srv->cfg.allow_eio3) < 0) return 5;
    long sl = http_query_get(r->query, "sid", sid, GW_ID_LEN + 8);
    if (sl == -1) sid[0] = '\0';                 /* absent: a handshake */
    else if (sl < 0 || sl == 0) strcpy(sid, "?"); /* present but no such sid */
    return -1;
}

static int is_engine_path(eio_server *srv, const char *path)
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
            http_respond_client_js(c, cfg->client_js, r->path + pl, extra_headers(srv, r, NULL, hdr));
            return;
        }
    }
    if (!is_engine_path(srv, r->path)) {
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
    int code = check_query(srv, r, transport, sid);
    if (code >= 0) {
        respond_error(srv, c, r, code, 0);
        return;
    }
    if (strcmp(transport, "websocket") == 0) { /* a WebSocket request without the upgrade */
        respond_error(srv, c, r, 3, 0);
        return;
    }
    if (!sid[0]) {
        if (r->method != HTTP_GET) respond_error(srv, c, r, 2, 0);
        else handshake_polling(srv, c, r);
        return;
    }
    eio_session *s = table_get(srv, sid);
    if (!s || (s->state != S_OPEN && !(s->lingering && r->method == HTTP_GET))) {
        respond_error(srv, c, r, 1, 0);
        return;
    }
    if (s->transport != EIO_TRANSPORT_POLLING) { /* upgraded: polling is over */
        respond_error(srv, c, r, 3, 0);
        return;
    }
    if (r->method == HTTP_GET) poll_get(srv, s, c, r);
    else if (r->method == HTTP_POST) poll_post(srv, s, c, r);
    else respond_error(srv, c, r, 3, 0);
}

static void on_upgrade(http_conn *c, const http_request *r, void *ud)
{
    eio_server *srv = ud;
    if (!is_engine_path(srv, r->path)) {
        static const char nf[] = "404 Not Found\n";
        http_respond(c, 404, "text/plain; charset=UTF-8", NULL, nf, sizeof nf - 1, 1);
        return;
    }
    char transport[16], sid[GW_ID_LEN + 8], accept[29], hdr[HDR_BUF];
    int code = check_query(srv, r, transport, sid);
    if (code >= 0) {
        respond_error(srv, c, r, code, 1);
        return;
    }
    const char *why = ws_check_handshake(r, accept);
    if (why || strcmp(transport, "websocket") != 0) {
        log_debug("refused upgrade from %s: %s", r->address, why ? why : "transport is not websocket");
        respond_error(srv, c, r, 3, 1);
        return;
    }
    if (!sid[0]) { /* a session that starts on WebSocket */
        int st = admit(srv, r);
        if (st) {
            refuse_handshake(srv, c, r, st);
            return;
        }
        if (srv->adm && adm_check(srv->adm, c, r, 1)) return; /* parked or refused */
        eio_session *s = session_new(srv, r, EIO_TRANSPORT_WEBSOCKET);
        ws_start(c, accept, extra_headers(srv, r, s->sid, hdr), srv->cfg.max_payload);
        s->ws = c;
        http_conn_set_owner(c, s);
        char open[512];
        int n = open_packet(srv, s, open, sizeof open);
        ws_send_text(c, open, (size_t)n);
        opened(srv, s);
        return;
    }
    eio_session *s = table_get(srv, sid);
    if (!s || s->state != S_OPEN) {
        respond_error(srv, c, r, 1, 1);
        return;
    }
    if ((int)s->v3 != (eio3_query_protocol(r->query, srv->cfg.allow_eio3) == 3)) {
        /* as the reference: "unexpected protocol version during upgrade" */
        log_info("session %s from %s: upgrade with another protocol version, 400", s->sid,
                 r->address);
        respond_error(srv, c, r, 3, 1);
        return;
    }
    if (s->transport != EIO_TRANSPORT_POLLING || s->probe) {
        /* Upgraded or upgrading already: the reference accepts this second
         * WebSocket and closes it at once (a close frame without a code);
         * the first one is not touched (PITFALLS.md 11a). */
        log_info("session %s from %s: a second WebSocket for an %s session, closing it", s->sid,
                 r->address, s->probe ? "upgrading" : "upgraded");
        ws_start(c, accept, extra_headers(srv, r, NULL, hdr), srv->cfg.max_payload);
        ws_close(c, 0);
        return;
    }
    ws_start(c, accept, extra_headers(srv, r, NULL, hdr), srv->cfg.max_payload);
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
    s->transport = EIO_TRANSPORT_WEBSOCKET;
    for (size_t i = 0; i < s->nq; i++) {
        if (s->q[i].msg) {
            if (s->v3) eio3_ws_send(s->ws, s->q[i].msg, s->v3_b64);
            else ws_send_msg(s->ws, s->q[i].msg);
            eio_msg_unref(&s->q[i].msg);
        } else {
            char d = (char)('0' + s->q[i].type);
            ws_send_text(s->ws, &d, 1);
        }
    }
    s->nq = 0;
    s->q_bytes = 0;
    /* a GET still held: finish it with a noop (the queue went to the websocket) */
    if (s->get) answer_poll(s, 1);
    log_debug("session %s upgraded to websocket", s->sid);
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
            mark_dirty(s);
        }
        if (!ev_is_active(&srv->noop_timer)) ev_timer_again(srv->loop, &srv->noop_timer);
    } else if (opcode == 1 && n == 1 && p[0] == '5') {
        complete_upgrade(s);
    } else {
        log_debug("session %s: unexpected packet on the probe, dropping it", s->sid);
        drop_probe(s, 1000);
    }
}

static void on_ws_message(http_conn *c, int opcode, const char *p, size_t n, void *ud)
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
            session_close(s, EIO_CLOSE_PARSE_ERROR);
            return;
        }
        on_pkt(s, type, data, dlen, binary);
        return;
    }
    if (opcode == 2) { /* EIO4: a binary frame is a message, raw bytes */
        on_pkt(s, EIO_PKT_MESSAGE, p, n, 1);
        return;
    }
    int type;
    const char *data;
    size_t dlen;
    if (eio_packet_decode(p, n, &type, &data, &dlen) < 0) {
        log_info("session %s from %s: invalid Engine.IO packet, closing (parse error)", s->sid,
                 http_conn_addr(c));
        session_close(s, EIO_CLOSE_PARSE_ERROR);
        return;
    }
    on_pkt(s, type, data, dlen, 0);
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
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR); /* poll closed prematurely */
    } else if (c == s->post) {
        s->post = NULL;
        session_close(s, EIO_CLOSE_TRANSPORT_ERROR);
    } else if (c == s->ws) {
        s->ws = NULL;
        if (why == HTTP_GONE_TOOBIG)
            log_info("session %s from %s: WebSocket message over --max-payload %zu: close 1009",
                     s->sid, http_conn_addr(c), s->srv->cfg.max_payload);
        session_close(s, why == HTTP_GONE_EOF ? EIO_CLOSE_TRANSPORT_CLOSE : EIO_CLOSE_TRANSPORT_ERROR);
    } else if (c == s->probe) {
        s->probe = NULL;
        gw_tlist_del(&s->upg);
        s->probed = 0;
        s->noop_due = 0;
    }
    maybe_reap(s);
}

static void on_drain(http_conn *c, void *ud)
{
    eio_server *srv = ud;
    eio_session *s = http_conn_owner(c);
    if (s && srv->adm && adm_owns(srv->adm, s)) return; /* a parked handshake */
    if (s && c == s->ws && s->state == S_OPEN && srv->h.on_drain) srv->h.on_drain(s, srv->ud);
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
        answer_poll(s, 0);
        work = 1;
    }
    while (srv->closed) {
        eio_session *s = srv->closed;
        srv->closed = s->cnext;
        s->close_delivered = 1;
        if (srv->h.on_close) srv->h.on_close(s, s->reason, srv->ud);
        maybe_reap(s);
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
    on_upgrade(c, http_conn_request(c), srv);
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
    srv->max_buffered = cfg->max_buffered ? cfg->max_buffered : cfg->max_payload * 4 + 16 * 1024 * 1024;
    srv->max_sessions = cfg->max_connections;
    if (!srv->max_sessions) { /* what the descriptor limit allows, keeping some for the rest */
        struct rlimit rl;
        srv->max_sessions = 10000;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < srv->max_sessions + 64)
            srv->max_sessions = rl.rlim_cur > 128 ? (size_t)rl.rlim_cur - 64 : 64;
    }
    http_limits lim = {
        .max_header_bytes = cfg->max_header_bytes,
        .max_url_bytes = cfg->max_url_bytes,
        .max_output = srv->max_buffered,
        .max_output_total = cfg->max_buffered_total ? cfg->max_buffered_total
                            : srv->max_buffered * 4 > ((size_t)1 << 30) ? srv->max_buffered * 4
                                                                        : (size_t)1 << 30,
        .idle_timeout = idle < 0.1 ? 0.1 : idle,
        .header_timeout = (cfg->header_timeout_ms ? cfg->header_timeout_ms : 10000) / 1000.0,
        /* a polling session may hold two connections (GET + POST), plus
         * some for requests that open no session */
        .max_conns = srv->max_sessions * 2 + 64,
    };
    http_handler hh = {
        .on_head = on_head,
        .on_body = on_body,
        .on_end = on_end,
        .on_upgrade = on_upgrade,
        .on_ws_message = on_ws_message,
        .on_gone = on_gone,
        .on_drain = on_drain,
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
    gw_tlist_init(&srv->linger_list, loop, linger < LINGER_MAX ? linger : LINGER_MAX, linger_cb, srv);
    ev_init(&srv->noop_timer, noop_cb);
    srv->noop_timer.repeat = NOOP_PERIOD;
    srv->noop_timer.data = srv;
    if (cfg->admission && h->on_admission) {
        adm_setup as = {.loop = loop, .cfg = &srv->cfg, .ask = h->on_admission,
                        .ask_ud = ud, .resume = adm_resume, .ud = srv};
        srv->adm = adm_new(&as);
    }
    return srv;
}

int eio_admission_answer(eio_server *srv, uint64_t id, int ok, const char *message)
{
    return srv->adm ? adm_answer(srv->adm, id, ok, message) : -1;
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

size_t eio_server_sessions(const eio_server *srv) { return srv->nopen; }

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
    for (size_t i = 0; i < srv->nbuckets; i++) {
        for (eio_session *s = srv->buckets[i], *nx; s; s = nx) {
            nx = s->hnext;
            session_close(s, EIO_CLOSE_SHUTDOWN);
        }
    }
    on_prepare(srv);               /* answer held polls, deliver on_close */
    http_server_close_all(srv->http); /* last flush, then close every socket */
    for (size_t i = 0; i < srv->nbuckets; i++) {
        while (srv->buckets[i]) {
            eio_session *s = srv->buckets[i];
            if (s->lingering) stop_linger(s);
            else table_del(srv, s);
        }
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
    free(srv->buckets);
    free(srv);
}

/* --- session accessors ------------------------------------------------------------------ */

const char *eio_session_id(const eio_session *s) { return s->sid; }
int eio_session_transport(const eio_session *s) { return s->transport; }
const char *eio_session_transport_name(const eio_session *s)
{
    return s->transport == EIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}
void eio_session_set_userdata(eio_session *s, void *p) { s->userdata = p; }
void *eio_session_userdata(const eio_session *s) { return s->userdata; }
const eio_handshake *eio_session_handshake(const eio_session *s) { return &s->hs; }
int eio_session_protocol(const eio_session *s) { return s->v3 ? 3 : 4; }
