/* admission.c — handshakes parked while a worker decides; see admission.h.
 *
 * The answers are the reference's (engine.io 6.6 server.js, verify() with
 * allowRequest, then abortRequest / abortUpgrade):
 *   refused polling handshake   403 application/json {"code":4,"message":M}
 *   refused WebSocket upgrade   400 text/html, body M, connection closed
 * where M is the worker's message or "Forbidden".  The failures that are
 * ours, not the application's (no answer in time, nobody to ask, too many
 * waiting, shutting down), get 503 like the other handshake limits
 * (--max-connections), so an operator can tell a policy from an outage.
 */
#include "admission.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_codec.h"
#include "eio_cors.h"
#include "proxy.h"
#include "tlist.h"
#include "util.h"

#define HDR_BUF 4096

typedef struct slot {
    http_conn *c; /* NULL: free */
    uint64_t id;
    int upgrade;
    char addr[64]; /* the client's address, for the log */
    gw_tnode tn;
    struct slot *next_free;
} slot;

struct adm_queue {
    adm_setup st;
    slot *pool;
    size_t cap, n;
    slot *free_list;
    uint64_t round; /* ids are round * cap + slot index: a late answer never hits a reused slot */
    gw_tlist timeouts;
    http_conn *resuming;
};

static void refuse_503(adm_queue *q, http_conn *c)
{
    char hdr[HDR_BUF];
    static const char body[] = "503 Service Unavailable\n";
    eio_cors_headers(q->st.cfg, http_header(http_conn_request(c), "origin"), NULL, hdr, sizeof hdr);
    http_respond(c, 503, "text/plain; charset=UTF-8", hdr, body, sizeof body - 1, 1);
}

/* The reference's refusal, byte for byte where it matters (status, type,
 * body); CORS headers as on every other answer so a browser can read it. */
static void refuse_403(adm_queue *q, http_conn *c, int upgrade, const char *message)
{
    if (!message || !*message) message = "Forbidden";
    if (upgrade) {
        http_respond(c, 400, "text/html", NULL, message, strlen(message), 1);
        return;
    }
    char hdr[HDR_BUF];
    eio_cors_headers(q->st.cfg, http_header(http_conn_request(c), "origin"), NULL, hdr, sizeof hdr);
    json_t *j = json_pack("{s:i, s:s}", "code", EIO_ERR_FORBIDDEN, "message", message);
    if (!j)
        j = json_pack("{s:i, s:s}", "code", EIO_ERR_FORBIDDEN, "message",
                      "Forbidden"); /* bad UTF-8 */
    char *body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    http_respond(c, 403, "application/json", hdr, body, strlen(body), 0);
    free(body);
    json_decref(j);
}

static void release(adm_queue *q, slot *s)
{
    gw_tlist_del(&s->tn);
    if (s->c) http_conn_set_owner(s->c, NULL);
    s->c = NULL;
    s->next_free = q->free_list;
    q->free_list = s;
    q->n--;
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    adm_queue *q = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&q->timeouts))) {
        slot *s = (slot *)((char *)n - offsetof(slot, tn));
        http_conn *c = s->c;
        log_warn("admission: no answer for the handshake from %s within %u ms "
                 "(--admission-timeout): refused with 503",
                 s->addr, q->st.cfg->admission_timeout_ms);
        release(q, s);
        refuse_503(q, c);
    }
    gw_tlist_rearm(&q->timeouts);
}

adm_queue *adm_new(const adm_setup *setup)
{
    adm_queue *q = xcalloc(1, sizeof *q);
    q->st = *setup;
    q->cap = setup->cfg->admission_max_pending ? setup->cfg->admission_max_pending : 1024;
    q->pool = xcalloc(q->cap, sizeof *q->pool);
    for (size_t i = q->cap; i-- > 0;) {
        q->pool[i].next_free = q->free_list;
        q->free_list = &q->pool[i];
    }
    unsigned ms = setup->cfg->admission_timeout_ms ? setup->cfg->admission_timeout_ms : 2000;
    gw_tlist_init(&q->timeouts, setup->loop, ms / 1000.0, timeout_cb, q);
    return q;
}

void adm_destroy(adm_queue **qp)
{
    adm_queue *q = *qp;
    if (!q) return;
    for (size_t i = 0; i < q->cap; i++) {
        http_conn *c = q->pool[i].c;
        if (!c) continue;
        release(q, &q->pool[i]);
        refuse_503(q, c);
    }
    gw_tlist_stop(&q->timeouts);
    free(q->pool);
    free(q);
    *qp = NULL;
}

int adm_check(adm_queue *q, http_conn *c, const http_request *r, int upgrade)
{
    if (c == q->resuming) return 0;
    char addr[64];
    int secure;
    proxy_resolve(q->st.cfg->trust_proxies, r->address, r->secure, r->headers, r->n_headers, addr,
                  sizeof addr, &secure);
    if (!q->free_list) {
        log_warn("admission: refusing the handshake from %s with 503: %zu handshakes already "
                 "wait for an answer (--admission-max-pending)",
                 addr, q->n);
        refuse_503(q, c);
        return 1;
    }
    slot *s = q->free_list;
    size_t idx = (size_t)(s - q->pool);
    uint64_t id = ++q->round * q->cap + idx;
    /* The handshake as the worker will see it: views of the request head,
     * nothing copied. */
    eio_handshake hs = {
        .headers = r->headers,
        .n_headers = r->n_headers,
        .url = r->url,
        .query = r->query,
        .address = addr,
        .secure = secure,
        .xdomain = http_header(r, "origin") != NULL,
        .time_ms = gw_now_ms(),
    };
    if (q->st.ask(id, &hs, q->st.ask_ud) < 0) { /* the upper layer logged why */
        refuse_503(q, c);
        return 1;
    }
    q->free_list = s->next_free;
    q->n++;
    s->c = c;
    s->id = id;
    s->upgrade = upgrade;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    http_conn_set_owner(c, s);
    gw_tlist_add(&q->timeouts, &s->tn);
    return 1;
}

int adm_answer(adm_queue *q, uint64_t id, int ok, const char *message)
{
    slot *s = &q->pool[id % q->cap];
    if (!s->c || s->id != id) return -1;
    http_conn *c = s->c;
    int upgrade = s->upgrade;
    if (!ok)
        log_info("admission: handshake from %s refused by the worker (%s)", s->addr,
                 message && *message ? message : "Forbidden");
    release(q, s);
    if (!ok) {
        refuse_403(q, c, upgrade, message);
        return 0;
    }
    q->resuming = c;
    q->st.resume(c, upgrade, q->st.ud);
    q->resuming = NULL;
    return 0;
}

int adm_owns(const adm_queue *q, const void *owner)
{
    return (const char *)owner >= (const char *)q->pool &&
           (const char *)owner < (const char *)(q->pool + q->cap);
}

void adm_gone(adm_queue *q, void *owner)
{
    slot *s = owner;
    log_debug("admission: the client %s left while its handshake waited", s->addr);
    s->c = NULL; /* http.c has cleared the owner already */
    release(q, s);
}

size_t adm_pending(const adm_queue *q)
{
    return q->n;
}
