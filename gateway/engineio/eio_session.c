/* eio_session.c — the session table (sid → session, uthash) and a new session from its handshake:
 * the limits that may refuse it, the copy of the request it keeps, the open packet. */
#include "eio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

static void table_put(eio_server *srv, eio_session *s)
{
    HASH_ADD_STR(srv->table, sid, s);
    s->in_table = 1;
    srv->ntable++;
}

eio_session *eio_table_get(eio_server *srv, const char *sid)
{
    eio_session *x;
    HASH_FIND_STR(srv->table, sid, x);
    return x;
}

void eio_table_del(eio_server *srv, eio_session *s)
{
    if (!s->in_table) return;
    HASH_DEL(srv->table, s);
    s->in_table = 0;
    srv->ntable--;
}

static void copy_handshake(eio_session *s, const http_request *r)
{
    /* the client's address and scheme: the peer's, unless the peer is a
     * trusted proxy (proxy.h) */
    char addr[64];
    int secure;
    proxy_resolve(s->srv->cfg.trust_proxies, r->address, r->secure, r->headers, r->n_headers, addr,
                  sizeof addr, &secure);
    size_t need = strlen(r->url) + 1 + strlen(r->query) + 1 + strlen(addr) + 1;
    need += r->n_headers * sizeof(eio_header);
    for (size_t i = 0; i < r->n_headers; i++)
        need += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 2;
    char *mem = xmalloc(need);
    eio_header *hd = (eio_header *)mem;
    char *p = mem + r->n_headers * sizeof(eio_header);
#define PUT(dst, src)                                                                              \
    do {                                                                                           \
        size_t l_ = strlen(src) + 1;                                                               \
        memcpy(p, src, l_);                                                                        \
        dst = p;                                                                                   \
        p += l_;                                                                                   \
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
int eio_admit(eio_server *srv, const http_request *r)
{
    if (srv->nopen >= srv->max_sessions) {
        log_warn("refusing handshake from %s: %zu sessions open (--max-connections)", r->address,
                 srv->nopen);
        GW_COUNT(refused[GW_REFUSE_MAX_CONNECTIONS]);
        return 503;
    }
    size_t per = srv->cfg.max_sessions_per_address;
    if (per) {
        struct addr_count *a;
        HASH_FIND_STR(srv->addrs, r->address, a);
        if (a && a->n >= per) {
            log_warn("refusing handshake from %s: %zu sessions open from that address "
                     "(--max-sessions-per-address)",
                     r->address, a->n);
            GW_COUNT(refused[GW_REFUSE_PER_ADDRESS]);
            return 429;
        }
    }
    return 0;
}

void eio_refuse_handshake(eio_server *srv, http_conn *c, const http_request *r, int status)
{
    char body[64], hdr[HDR_BUF];
    int n = snprintf(body, sizeof body, "%d %s\n", status, http_status_text(status));
    http_respond(c, status, "text/plain; charset=UTF-8", eio_extra_headers(srv, r, NULL, hdr), body,
                 (size_t)n, 1);
}

eio_session *eio_session_new(eio_server *srv, const http_request *r, int transport)
{
    eio_session *s = xcalloc(1, sizeof *s);
    s->srv = srv;
    s->transport = transport;
    do
        gw_random_id(s->sid);
    while (eio_table_get(srv, s->sid));
    eio_payload_init(&s->dec, eio_on_payload, s);
    if (eio3_query_protocol(r->query, srv->cfg.allow_eio3) == 3) {
        s->v3 = 1;
        s->v3_b64 = eio3_query_b64(r->query) ? 1 : 0;
        s->dec3 = xcalloc(1, sizeof *s->dec3);
        eio3_payload_init(s->dec3, eio_on_payload, s);
    }
    copy_handshake(s, r);
    table_put(srv, s);
    srv->nopen++;
    gw_metrics.sessions[transport == EIO_TRANSPORT_WEBSOCKET]++;
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

int eio_open_packet(eio_server *srv, eio_session *s, char *buf, size_t cap)
{
    int up =
        s->transport == EIO_TRANSPORT_POLLING && (srv->cfg.transports & EIO_TRANSPORT_WEBSOCKET);
    return snprintf(buf, cap,
                    "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,\"pingTimeout\":%u,"
                    "\"maxPayload\":%zu}",
                    s->sid, up ? "\"websocket\"" : "", srv->cfg.ping_interval_ms,
                    srv->cfg.ping_timeout_ms, srv->cfg.max_payload);
}

void eio_opened(eio_server *srv, eio_session *s)
{
    log_debug("session %s eio_opened (%s), %zu open", s->sid, eio_session_transport_name(s),
              srv->nopen);
    GW_COUNT(handshakes);
    if (srv->h.on_packet) srv->h.on_packet(s, EIO_PKT_OPEN, 1, srv->ud);
    /* v4: the server pings; v3: the client does, and must within the window */
    gw_tlist_add(s->v3 ? &srv->eio3_list : &srv->ping_list, &s->hb);
    if (srv->h.on_open) srv->h.on_open(s, srv->ud);
}

const char *eio_session_id(const eio_session *s)
{
    return s->sid;
}

int eio_session_transport(const eio_session *s)
{
    return s->transport;
}

const char *eio_session_transport_name(const eio_session *s)
{
    return s->transport == EIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}

void eio_session_set_userdata(eio_session *s, void *p)
{
    s->userdata = p;
}

void *eio_session_userdata(const eio_session *s)
{
    return s->userdata;
}

const eio_handshake *eio_session_handshake(const eio_session *s)
{
    return &s->hs;
}

int eio_session_protocol(const eio_session *s)
{
    return s->v3 ? 3 : 4;
}
