/* sio_bcast_ack.c — broadcasts that ask for acknowledgements (PROTOCOL.md
 * rule 25a): socket.io's `io.to(room).timeout(ms).emit(ev, …, cb)`.
 *
 * The gateway holds the routing copy of the rooms, so it is the one that
 * knows the receivers: it sends the packet to each with an ack id of its
 * own choosing (from GW_BCAST_ACK_BASE up, a range no worker EMIT uses),
 * tells the worker how many receivers there were (BROADCAST_ACK with
 * "count"), and forwards each client's answer as it comes (BROADCAST_ACK
 * naming the socket).  The worker keeps the timer that settles its callback;
 * the gateway forgets the broadcast when every receiver answered or when
 * the same timeout (plus a grace for the answers on their way) has passed.
 * An answer after that is logged and dropped: the worker has already
 * reported the receivers that did not answer in time.
 *
 * Answers are not part of the PROCESSED credit (rule 36): a worker that
 * died took its callback with it, so they are dropped (logged) when the
 * asking worker is gone.
 */
#include "app.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <utlist.h>

#define GRACE_S 1.0                      /* answers on their way at the worker's timeout */
#define MAX_TIMEOUT_MS (3600LL * 1000)   /* a broadcast waits an hour at most */
#define MAX_WORKER_ID 9007199254740991LL /* 2^53 - 1: exact in every library */

typedef struct {
    char sid[IPC_ID_LEN];
    int64_t id; /* the ack id the client got */
} wait_key;

typedef struct gw_bcast_wait gw_bcast_wait;

/* One receiver that has not answered yet. */
struct gw_bcast_wait {
    wait_key key;
    struct gw_bcast_ack *b;
    struct gw_bcast_wait *bnext; /* the broadcast's waits (utlist LL) */
    UT_hash_handle hh;           /* app->bcast_waits by key */
};

/* One broadcast waiting for its answers. */
struct gw_bcast_ack {
    gw_app *app;
    int64_t wid; /* the worker's "ack" of the BROADCAST */
    char *rid;   /* routing id of the worker that asked */
    size_t rid_len;
    char *nsp;
    size_t count, pending;
    const ipc_msg *m; /* while the receivers are being sent to */
    struct gw_bcast_wait *waits;
    ev_timer timer;
    struct gw_bcast_ack *prev, *next; /* app->bcast_acks (utlist DL) */
};

static void bcast_free(gw_app *app, gw_bcast_ack **pb)
{
    gw_bcast_ack *b = *pb;
    gw_bcast_wait *x, *tmp;
    LL_FOREACH_SAFE2(b->waits, x, tmp, bnext)
    {
        HASH_DEL(app->bcast_waits, x);
        free(x);
    }
    ev_timer_stop(app->loop, &b->timer);
    DL_DELETE(app->bcast_acks, b);
    free(b->rid);
    free(b->nsp);
    free(b);
    *pb = NULL;
}

static void on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_bcast_ack *b = t->data;
    log_info("namespace %s: broadcast ack %" PRId64 ": %zu of %zu receiver(s) did not answer "
             "in time; their late answers will be dropped",
             b->nsp, b->wid, b->pending, b->count);
    bcast_free(b->app, &b);
}

/* ERROR `meta` for a BROADCAST whose ack request is malformed, logged. */
static void refuse(gw_app *app, gw_worker *w, const char *why)
{
    log_info("namespace %s: BROADCAST from the worker not sent: %s (ERROR meta)", w->nsp->name,
             why);
    json_t *meta =
        json_pack("{s:s, s:s, s:s}", "code", "meta", "message", why, "type", "BROADCAST");
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app->router, w, IPC_ERROR, w->nsp->name, NULL, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
}

gw_bcast_ack *gw_bcast_ack_new(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    json_t *ack = json_object_get(m->meta, "ack");
    json_t *to = json_object_get(m->meta, "timeout");
    if (!json_is_integer(ack) || json_integer_value(ack) < 0 ||
        json_integer_value(ack) > MAX_WORKER_ID) {
        refuse(app, w, "ack is not an integer from 0 to 2^53-1");
        return NULL;
    }
    if (!json_is_integer(to) || json_integer_value(to) < 1 ||
        json_integer_value(to) > MAX_TIMEOUT_MS) {
        refuse(app, w, "a broadcast asking for acks needs timeout, 1 to 3600000 ms");
        return NULL;
    }
    gw_bcast_ack *b = xcalloc(1, sizeof *b);
    b->app = app;
    b->wid = (int64_t)json_integer_value(ack);
    b->rid = xmalloc(w->rid_len);
    memcpy(b->rid, w->rid, w->rid_len);
    b->rid_len = w->rid_len;
    b->nsp = xstrdup(w->nsp->name);
    b->m = m;
    ev_timer_init(&b->timer, on_timeout, (double)json_integer_value(to) / 1000.0 + GRACE_S, 0);
    b->timer.data = b;
    DL_APPEND(app->bcast_acks, b);
    return b;
}

void gw_bcast_ack_send(sio_socket *s, void *ud)
{
    gw_bcast_ack *b = ud;
    gw_app *app = b->app;
    if (s->client->closing) return;
    gw_bcast_wait *x = xcalloc(1, sizeof *x);
    memcpy(x->key.sid, s->id, IPC_ID_LEN);
    if (app->bcast_next_id < GW_BCAST_ACK_BASE) app->bcast_next_id = GW_BCAST_ACK_BASE;
    x->key.id = app->bcast_next_id++;
    x->b = b;
    HASH_ADD(hh, app->bcast_waits, key, sizeof x->key, x);
    LL_PREPEND2(b->waits, x, bnext);
    b->count++;
    b->pending++;
    sio_socket_send_event(s, x->key.id, b->m->data.data, b->m->data.len, b->m->att, b->m->n_att);
}

void gw_bcast_ack_sent(gw_app *app, gw_worker *w, gw_bcast_ack **pb)
{
    gw_bcast_ack *b = *pb;
    *pb = NULL;
    b->m = NULL;
    char meta[96];
    int ml = snprintf(meta, sizeof meta, "{\"id\":%" PRId64 ",\"count\":%zu}", b->wid, b->count);
    gw_router_send(app->router, w, IPC_BROADCAST_ACK, b->nsp, NULL, meta, (size_t)ml, NULL, 0, NULL,
                   0);
    if (b->count == 0)
        bcast_free(app, &b);
    else
        ev_timer_start(app->loop, &b->timer);
}

int gw_bcast_ack_answer(gw_app *app, sio_socket *s, int64_t id, const char *data, size_t len,
                        const ipc_buf *att, size_t n_att)
{
    if (id < GW_BCAST_ACK_BASE) return 0; /* an answer to the worker's own EMIT */
    wait_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.sid, s->id, IPC_ID_LEN);
    key.id = id;
    gw_bcast_wait *x;
    HASH_FIND(hh, app->bcast_waits, &key, sizeof key, x);
    if (!x) {
        log_info("namespace %s: socket %s answered broadcast ack id %" PRId64
                 " after its timeout (or never got it); dropped",
                 s->nsp->name, s->id, id);
        return 1;
    }
    gw_bcast_ack *b = x->b;
    HASH_DEL(app->bcast_waits, x);
    LL_DELETE2(b->waits, x, bnext);
    free(x);
    b->pending--;
    gw_worker *w;
    HASH_FIND(hh, app->router->workers, b->rid, b->rid_len, w);
    if (!w || !w->nsp || strcmp(w->nsp->name, b->nsp) != 0) {
        log_info("namespace %s: the worker that asked for broadcast ack %" PRId64
                 " is gone; the answer of socket %s is dropped",
                 b->nsp, b->wid, s->id);
    } else {
        char meta[64];
        int ml = snprintf(meta, sizeof meta, "{\"id\":%" PRId64 "}", b->wid);
        gw_router_send(app->router, w, IPC_BROADCAST_ACK, b->nsp, s->id, meta, (size_t)ml,
                       len ? data : "[]", len ? len : 2, att, n_att);
    }
    if (b->pending == 0) bcast_free(app, &b);
    return 1;
}

void gw_bcast_acks_free_all(gw_app *app)
{
    while (app->bcast_acks) {
        gw_bcast_ack *b = app->bcast_acks;
        bcast_free(app, &b);
    }
}
