/* sio_recovery.c — connection state recovery (sio_recovery.h): the pure
 * bounded log first, then the session store the rest of the gateway calls.
 *
 * What the reference does, and what is kept of it (socket.io 4.8,
 * socket.js, namespace.js, socket.io-adapter's SessionAwareAdapter):
 *  - every socket gets a private session id `pid`, sent beside `sid` in the
 *    CONNECT reply; the client sends it back with the last offset it saw in
 *    its next CONNECT's auth;
 *  - an EVENT without ack id and not volatile, emitted to a room or (with
 *    recovery on) to one socket, gets an offset appended as its last
 *    argument, and is kept for maxDisconnectionDuration;
 *  - a socket that closes for a recoverable reason (transport close/error,
 *    ping timeout, forced close, forced server close) is kept as a session;
 *    a CONNECT with its pid and an offset still known gets its id, rooms and
 *    every later packet back, sent before the CONNECT reply (the client
 *    buffers them and hands them to its handlers once that reply arrives).
 * Different here: the reference's application hears `disconnect` at once and
 * a new `connection` later; here the worker keeps its socket object and
 * hears nothing until the session ends — restored (a CONNECT with
 * "restored":true) or expired (DISCONNECT with the original reason).
 */
#include "app.h"
#include "supervisor.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <utlist.h>

/* ---- the pure log -------------------------------------------------------- */

static void pop_front(rec_log *l, rec_budget *b)
{
    rec_item *it = l->head;
    l->head = it->next;
    if (!l->head) l->tail = NULL;
    l->n--;
    l->bytes -= it->bytes;
    if (b) b->bytes -= it->bytes;
    l->base = it->off;
    if (l->free_payload) l->free_payload(it->payload);
    free(it);
}

void rec_log_clear(rec_log *l, rec_budget *b)
{
    while (l->head)
        pop_front(l, b);
}

void rec_log_expire(rec_log *l, rec_budget *b, const rec_limits *lim, double now)
{
    while (l->head && l->head->t + lim->window_ms < now)
        pop_front(l, b);
}

int rec_log_append(rec_log *l, rec_budget *b, const rec_limits *lim, uint64_t off, double now,
                   size_t bytes, void *payload, int detached)
{
    if (l->broken) {
        if (l->free_payload) l->free_payload(payload);
        return -1;
    }
    rec_item *it = xcalloc(1, sizeof *it);
    it->off = off;
    it->t = now;
    it->bytes = bytes;
    it->payload = payload;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->n++;
    l->bytes += bytes;
    if (b) b->bytes += bytes;
    rec_log_expire(l, b, lim, now);
    for (;;) {
        int over = l->n > lim->max_msgs || l->bytes > lim->max_bytes ||
                   (b && lim->max_total && b->bytes > lim->max_total);
        if (!over) return 0;
        if (detached || !l->head) break;
        pop_front(l, b);
    }
    /* Detached, and a packet its client has not seen must go: the session
     * can no longer be given back whole, so it is not given back at all. */
    rec_log_clear(l, b);
    l->broken = 1;
    return -1;
}

int rec_log_after(const rec_log *l, uint64_t off, rec_item **first)
{
    if (l->broken || off == 0) return -1;
    if (off == l->base) {
        *first = l->head;
        return 0;
    }
    for (rec_item *it = l->head; it; it = it->next)
        if (it->off == off) {
            *first = it->next;
            return 0;
        }
    return -1;
}

void rec_off_format(uint64_t off, char out[17])
{
    snprintf(out, 17, "%" PRIx64, off);
}

int rec_off_parse(const char *s, size_t len, uint64_t *off)
{
    if (len == 0 || len > 16 || s[0] == '0') return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *off = v;
    return 0;
}

/* ---- the session store ---------------------------------------------------- */

struct sio_rec {
    char pid[IPC_ID_LEN + 1]; /* private: whoever shows it gets the session */
    char sid[IPC_ID_LEN + 1];
    gw_nsp *nsp;
    rec_log log;
    /* detached (its socket is gone from app->sockets) */
    int detached;
    double deadline;       /* ev_now based */
    char *reason;          /* why the transport went: the worker hears it at the end */
    char *connect_meta;    /* a recovered CONNECT's meta, for a ghost (sio_loss.c) */
    json_t *rooms;         /* its rooms, kept up to date by JOIN/LEAVE meanwhile */
    sio_socket *restoring; /* a pending socket taking it back */
    uint64_t from;         /* ... from after this offset */
    UT_hash_handle hh;     /* store->by_pid (detached only) */
    UT_hash_handle hs;     /* store->by_sid (detached only) */
};

typedef struct {
    eio_msg **msgs;
    size_t n;
} rec_payload;

struct sio_rec_store {
    sio_rec *by_pid, *by_sid;
    rec_budget budget;
    uint64_t next_off;
    ev_timer timer;
    gw_app *app;
};

static void payload_free(void *p)
{
    rec_payload *rp = p;
    for (size_t i = 0; i < rp->n; i++)
        eio_msg_unref(&rp->msgs[i]);
    free(rp->msgs);
    free(rp);
}

static void expire_cb(struct ev_loop *loop, ev_timer *w, int revents);

static sio_rec_store *store(gw_app *app)
{
    if (!app->rec) {
        app->rec = xcalloc(1, sizeof *app->rec);
        app->rec->app = app;
        /* Offsets start at a random point so that one from another gateway
         * (or an earlier run) is unlikely to name a packet here; the
         * lookup is exact anyway (rec_log_after). */
        char r[GW_ID_LEN + 1];
        gw_random_id(r);
        for (int i = 0; i < 5; i++)
            app->rec->next_off = app->rec->next_off << 6 | ((unsigned char)r[i] & 63);
        app->rec->next_off = (app->rec->next_off << 16) + 1;
        ev_init(&app->rec->timer, expire_cb);
        app->rec->timer.data = app->rec;
    }
    return app->rec;
}

/* The recovery settings of a namespace: a --recovery-window naming it
 * wins over the one for every namespace.  0 = off. */
unsigned sio_rec_window(const gw_app *app, const gw_nsp *nsp, int *skip)
{
    unsigned win = app->opt.recovery_window_ms;
    int sk = app->opt.recovery_skip_middlewares;
    for (size_t i = 0; i < app->opt.n_recovery; i++) {
        const gw_recovery_spec *r = &app->opt.recovery[i];
        if (strcmp(r->nsp, nsp->name) != 0) continue;
        if (r->window_ms >= 0) win = (unsigned)r->window_ms;
        if (r->skip_middlewares >= 0) sk = r->skip_middlewares;
    }
    if (skip) *skip = sk;
    return win;
}

static rec_limits limits_of(const gw_app *app, const gw_nsp *nsp)
{
    rec_limits lim = {GW_REC_MAX_MSGS, GW_REC_MAX_BYTES, GW_REC_MAX_TOTAL,
                      (double)sio_rec_window(app, nsp, NULL)};
    return lim;
}

void sio_rec_attach_new(gw_app *app, sio_socket *s)
{
    if (s->rec || !sio_rec_window(app, s->nsp, NULL)) return;
    store(app);
    sio_rec *r = xcalloc(1, sizeof *r);
    gw_random_id(r->pid);
    memcpy(r->sid, s->id, IPC_ID_LEN);
    r->nsp = s->nsp;
    r->log.free_payload = payload_free;
    s->rec = r;
}

size_t sio_rec_connect_body(const sio_socket *s, char *buf, size_t n)
{
    int l = s->rec ? snprintf(buf, n, "{\"sid\":\"%s\",\"pid\":\"%s\"}", s->id, s->rec->pid)
                   : snprintf(buf, n, "{\"sid\":\"%s\"}", s->id);
    return (size_t)l;
}

static void unlink_detached(sio_rec_store *st, sio_rec *r)
{
    if (!r->detached) return;
    HASH_DELETE(hh, st->by_pid, r);
    HASH_DELETE(hs, st->by_sid, r);
    r->detached = 0;
}

void sio_rec_free(gw_app *app, sio_rec **pr)
{
    sio_rec *r = *pr;
    if (!r) return;
    if (app->rec) unlink_detached(app->rec, r);
    rec_log_clear(&r->log, app->rec ? &app->rec->budget : NULL);
    free(r->reason);
    free(r->connect_meta);
    if (r->rooms) json_decref(r->rooms);
    free(r);
    *pr = NULL;
}

/* Log msgs (referenced, not taken) for r under off. */
static void log_msgs(gw_app *app, sio_rec *r, uint64_t off, eio_msg **msgs, size_t n);

/* A detached session ends without its client: the worker that knows the
 * socket hears the DISCONNECT with the reason its transport went (or the
 * next worker does, through a ghost, while this one restarts). */
static void end_session(gw_app *app, sio_rec *r, const char *why)
{
    gw_nsp *nsp = r->nsp;
    const char *reason = r->reason ? r->reason : "transport close";
    log_info("namespace %s: socket %s not recovered (%s); its worker hears \"%s\"", nsp->name,
             r->sid, why, reason);
    json_t *meta = json_pack("{s:s}", "reason", reason);
    char *mt = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    if (!nsp->worker || gw_router_send(app->router, nsp->worker, IPC_DISCONNECT, nsp->name, r->sid,
                                       mt, strlen(mt), NULL, 0, NULL, 0) < 0) {
        if (gw_sup_worker_expected(app->router, nsp->name) && !app->shutting_down)
            gw_ghost_add(app, nsp, r->sid, r->connect_meta, reason, NULL, 0);
        else
            log_warn("namespace %s: no worker to tell that socket %s is gone", nsp->name, r->sid);
    }
    free(mt);
    sio_rec_free(app, &r);
}

static void arm(sio_rec_store *st)
{
    gw_app *app = st->app;
    if (ev_is_active(&st->timer) || !st->by_pid) return;
    double first = 0;
    for (sio_rec *r = st->by_pid; r; r = r->hh.next)
        if (!r->restoring && (!first || r->deadline < first)) first = r->deadline;
    if (!first) return; /* all being restored: they end with their socket */
    double after = first - ev_now(app->loop);
    ev_timer_set(&st->timer, after > 0 ? after + 0.001 : 0, 0);
    ev_timer_start(app->loop, &st->timer);
}

static void expire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    sio_rec_store *st = w->data;
    double now = ev_now(loop);
    sio_rec *r, *tmp;
    HASH_ITER(hh, st->by_pid, r, tmp) {
        if (!r->restoring && r->deadline <= now)
            end_session(st->app, r, "its recovery window ended");
    }
    arm(st);
}

int sio_rec_detach(gw_app *app, sio_socket *s, const char *reason, const char *connect_meta)
{
    sio_rec *r = s->rec;
    if (!r || r->log.broken) return -1;
    sio_rec_store *st = store(app);
    s->rec = NULL;
    r->detached = 1;
    r->deadline = ev_now(app->loop) + sio_rec_window(app, s->nsp, NULL) / 1000.0;
    r->reason = xstrdup(reason);
    r->connect_meta = xstrdup(connect_meta);
    r->rooms = json_array();
    for (gw_member *m = s->rooms; m; m = m->snext)
        json_array_append_new(r->rooms, json_string(m->room->name));
    HASH_ADD(hh, st->by_pid, pid, IPC_ID_LEN, r);
    HASH_ADD(hs, st->by_sid, sid, IPC_ID_LEN, r);
    log_info("namespace %s: socket %s kept for recovery (%s), %zu packet(s) logged", s->nsp->name,
             s->id, reason, r->log.n);
    if (ev_is_active(&st->timer)) ev_timer_stop(app->loop, &st->timer);
    arm(st);
    return 0;
}

sio_rec *sio_rec_claim(gw_app *app, gw_nsp *nsp, json_t *auth, const char *addr)
{
    json_t *jp = json_object_get(auth, "pid"), *jo = json_object_get(auth, "offset");
    /* The reference tries only with both as strings (namespace.js). */
    if (!app->rec || !json_is_string(jp) || !json_is_string(jo) || !sio_rec_window(app, nsp, NULL))
        return NULL;
    sio_rec *r = NULL;
    if (json_string_length(jp) == IPC_ID_LEN)
        HASH_FIND(hh, app->rec->by_pid, json_string_value(jp), IPC_ID_LEN, r);
    if (!r || r->nsp != nsp || r->restoring) {
        log_info("client %s: recovery of %s with an unknown session id refused: new session", addr,
                 nsp->name);
        return NULL;
    }
    uint64_t off;
    rec_item *first;
    if (rec_off_parse(json_string_value(jo), json_string_length(jo), &off) < 0 ||
        rec_log_after(&r->log, off, &first) < 0) {
        /* The right pid with an offset the log does not hold: what it
         * missed cannot be given whole, so the session ends now. */
        end_session(app, r, "its client's offset is not in the log");
        return NULL;
    }
    r->from = off;
    return r;
}

void sio_rec_restoring(sio_rec *r, sio_socket *s)
{
    r->restoring = s;
    s->restore = r;
    memcpy(s->id, r->sid, IPC_ID_LEN + 1);
}

void sio_rec_unclaim(gw_app *app, sio_socket *s)
{
    sio_rec *r = s->restore;
    if (!r) return;
    s->restore = NULL;
    r->restoring = NULL;
    /* The worker had the restored CONNECT (or its pending socket is
     * removed with a DISCONNECT of its own): the session is over. */
    sio_rec_free(app, &r);
}

void sio_rec_connect_meta(gw_app *app, sio_socket *s, json_t *meta)
{
    sio_rec *r = s->restore;
    if (!r) return;
    int skip = 0;
    sio_rec_window(app, s->nsp, &skip);
    json_object_set_new(meta, "restored", json_true());
    json_object_set(meta, "rooms", r->rooms);
    if (skip) json_object_set_new(meta, "skip_middlewares", json_true());
}

int sio_rec_accepted(gw_app *app, sio_socket *s, void (*send)(sio_client *, eio_msg **, size_t),
                     size_t *replayed)
{
    sio_rec *r = s->restore;
    *replayed = 0;
    if (!r) return 0;
    sio_rec_store *st = store(app);
    size_t i, n = 0;
    int broken = r->log.broken;
    json_t *v;
    json_array_foreach(r->rooms, i, v)
        gw_room_join(app, s, json_string_value(v), json_string_length(v));
    rec_item *first = NULL;
    rec_log_after(&r->log, r->from, &first);
    for (rec_item *it = first; it; it = it->next, n++) {
        rec_payload *p = it->payload;
        send(s->client, p->msgs, p->n);
    }
    unlink_detached(st, r);
    r->restoring = NULL;
    free(r->reason);
    free(r->connect_meta);
    json_decref(r->rooms);
    r->reason = r->connect_meta = NULL;
    r->rooms = NULL;
    s->restore = NULL;
    s->rec = r;
    *replayed = n;
    if (broken) sio_rec_free(app, &s->rec);
    return broken ? -1 : 0;
}

/* ---- packets with offsets ------------------------------------------------- */

static void log_msgs(gw_app *app, sio_rec *r, uint64_t off, eio_msg **msgs, size_t n)
{
    sio_rec_store *st = store(app);
    rec_payload *p = xcalloc(1, sizeof *p);
    p->msgs = xcalloc(n, sizeof *p->msgs);
    size_t bytes = sizeof *p;
    for (size_t i = 0; i < n; i++) {
        p->msgs[i] = eio_msg_ref(msgs[i]);
        bytes += eio_msg_len(msgs[i]);
    }
    p->n = n;
    rec_limits lim = limits_of(app, r->nsp);
    if (rec_log_append(&r->log, &st->budget, &lim, off, ev_now(app->loop) * 1000, bytes, p,
                       r->detached) < 0 &&
        r->detached && !r->restoring)
        end_session(app, r, "more missed packets than the recovery bounds");
}

/* data `[…]` with `,"<off>"` before its closing bracket; NULL if it has none. */
static char *with_offset(const char *data, size_t len, uint64_t off, size_t *out_len)
{
    size_t end = len;
    while (end > 0 && data[end - 1] != ']')
        end--;
    if (end == 0) return NULL;
    char o[17];
    rec_off_format(off, o);
    size_t ol = strlen(o);
    char *d = xmalloc(len + ol + 4);
    memcpy(d, data, end - 1);
    size_t k = end - 1;
    d[k++] = ',';
    d[k++] = '"';
    memcpy(d + k, o, ol);
    k += ol;
    d[k++] = '"';
    d[k++] = ']';
    *out_len = k;
    return d;
}

char *sio_rec_offset_data(gw_app *app, gw_nsp *nsp, const ipc_msg *m, uint64_t *off, size_t *len)
{
    if (!sio_rec_window(app, nsp, NULL) || json_is_true(json_object_get(m->meta, "volatile")) ||
        json_object_get(m->meta, "ack"))
        return NULL;
    *off = store(app)->next_off++;
    return with_offset(m->data.data, m->data.len, *off, len);
}

void sio_rec_log(gw_app *app, sio_socket *s, uint64_t off, eio_msg **msgs, size_t n)
{
    if (s->restore)
        log_msgs(app, s->restore, off, msgs, n);
    else if (s->rec)
        log_msgs(app, s->rec, off, msgs, n);
}

static int in_list(json_t *names, const char *room, size_t len)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        if (json_is_string(v) && json_string_length(v) == len &&
            memcmp(json_string_value(v), room, len) == 0)
            return 1;
    }
    return 0;
}

/* Whether a detached session is a receiver of a BROADCAST with this meta
 * (rule 25, as gw_rooms_select decides for live sockets). */
static int receives(const sio_rec *r, json_t *meta)
{
    json_t *ids = json_object_get(meta, "sockets");
    if (json_is_array(ids)) return in_list(ids, r->sid, IPC_ID_LEN);
    json_t *rooms = json_object_get(meta, "rooms"), *except = json_object_get(meta, "except");
    size_t i;
    json_t *v;
    int in = !json_is_array(rooms) || json_array_size(rooms) == 0;
    json_array_foreach(r->rooms, i, v) {
        if (json_is_array(except) && in_list(except, json_string_value(v), json_string_length(v)))
            return 0;
        if (!in && json_is_array(rooms) &&
            in_list(rooms, json_string_value(v), json_string_length(v)))
            in = 1;
    }
    return in;
}

void sio_rec_broadcast(gw_app *app, gw_nsp *nsp, json_t *meta, uint64_t off, eio_msg **msgs,
                       size_t n)
{
    if (!app->rec) return;
    sio_rec *r, *tmp;
    HASH_ITER(hh, app->rec->by_pid, r, tmp) {
        /* A restoring one too: its pending socket is in no room yet. */
        if (r->nsp == nsp && receives(r, meta)) log_msgs(app, r, off, msgs, n);
    }
}

/* ---- a worker's messages for a detached (or restoring) socket -------------- */

static void refuse(gw_app *app, gw_worker *w, const char *sid, const char *why, ipc_type t)
{
    log_info("namespace %s: %s from the worker for socket %s not sent: %s (ERROR state)",
             w->nsp->name, ipc_type_name(t), sid, why);
    json_t *meta =
        json_pack("{s:s, s:s, s:s}", "code", "state", "message", why, "type", ipc_type_name(t));
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app->router, w, IPC_ERROR, w->nsp->name, sid, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
}

static void rooms_edit(sio_rec *r, json_t *rooms, int join)
{
    size_t i;
    json_t *v;
    if (!json_is_array(rooms)) return;
    json_array_foreach(rooms, i, v) {
        if (!json_is_string(v)) continue;
        const char *name = json_string_value(v);
        size_t len = json_string_length(v), k;
        json_t *x;
        int found = 0;
        json_array_foreach(r->rooms, k, x) {
            if (json_string_length(x) == len && memcmp(json_string_value(x), name, len) == 0) {
                found = 1;
                if (!join) json_array_remove(r->rooms, k);
                break;
            }
        }
        if (join && !found) json_array_append(r->rooms, v);
    }
}

int sio_rec_worker_msg(gw_app *app, gw_worker *w, sio_rec *r, const ipc_msg *m)
{
    if (r->nsp != w->nsp) return 0;
    switch (m->type) {
    case IPC_EMIT: {
        if (json_is_true(json_object_get(m->meta, "volatile"))) {
            log_debug("namespace %s: volatile EMIT for disconnected socket %s dropped",
                      r->nsp->name, r->sid);
            return 1;
        }
        if (json_object_get(m->meta, "ack")) {
            refuse(app, w, r->sid, "socket disconnected, waiting for recovery: no ack possible",
                   m->type);
            return 1;
        }
        uint64_t off;
        size_t dl;
        char *data = sio_rec_offset_data(app, r->nsp, m, &off, &dl);
        if (!data) return 1;
        eio_msg *stack[16];
        eio_msg **msgs = m->n_att + 1 <= 16 ? stack : xmalloc((m->n_att + 1) * sizeof *msgs);
        size_t n = sio_build_packet(msgs, SIO_EVENT, r->nsp->name, strlen(r->nsp->name), -1, data,
                                    dl, m->att, m->n_att);
        log_msgs(app, r, off, msgs, n); /* may end r */
        for (size_t i = 0; i < n; i++)
            eio_msg_unref(&msgs[i]);
        if (msgs != stack) free(msgs);
        free(data);
        return 1;
    }
    case IPC_JOIN:
    case IPC_LEAVE:
        rooms_edit(r, json_object_get(m->meta, "rooms"), m->type == IPC_JOIN);
        return 1;
    case IPC_DISCONNECT:
        if (r->restoring) return 0; /* a pending socket's rule 28a */
        /* The worker ends it: it knows, nobody else needs telling. */
        log_info("namespace %s: socket %s, kept for recovery, disconnected by its worker",
                 r->nsp->name, r->sid);
        sio_rec_free(app, &r);
        return 1;
    case IPC_ACK:
        refuse(app, w, r->sid, "socket disconnected, waiting for recovery", m->type);
        return 1;
    default:
        return 0;
    }
}

sio_rec *sio_rec_detached(gw_app *app, const char *sid)
{
    sio_rec *r = NULL;
    if (app->rec) HASH_FIND(hs, app->rec->by_sid, sid, IPC_ID_LEN, r);
    return r;
}

void sio_rec_shutdown(gw_app *app)
{
    if (!app->rec) return;
    sio_rec *r, *tmp;
    HASH_ITER(hh, app->rec->by_pid, r, tmp) {
        if (r->restoring) continue; /* its pending socket is told */
        free(r->reason);
        r->reason = xstrdup("server shutting down");
        end_session(app, r, "the gateway shuts down");
    }
    ev_timer_stop(app->loop, &app->rec->timer);
}

void sio_rec_destroy(gw_app *app)
{
    if (!app->rec) return;
    sio_rec *r, *tmp;
    HASH_ITER(hh, app->rec->by_pid, r, tmp)
        sio_rec_free(app, &r);
    ev_timer_stop(app->loop, &app->rec->timer);
    free(app->rec);
    app->rec = NULL;
}

size_t sio_rec_count(const gw_app *app)
{
    return app->rec ? HASH_CNT(hh, app->rec->by_pid) : 0;
}
