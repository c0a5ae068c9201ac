/* sio_hold.c — a client's EVENT/ACK on its way to its worker (PROTOCOL.md §4):
 * forwarded with a sequence number and retained until the worker reports it
 * PROCESSED; held, bounded, while the worker restarts (rule 35); given back
 * to its socket when the worker dies, and replayed in order to the next one
 * once it ACCEPTed the socket back — except a poison packet (rule 37).
 */
#include "app.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A client packet (EVENT or ACK) on its way to a worker: held while the
 * worker restarts, retained after sending until the worker reports it
 * PROCESSED (PROTOCOL.md §4). */
struct held_msg {
    struct held_msg *next;
    ipc_type type;
    int64_t id; /* ack id (EVENT, -1 = none) or acked id (ACK) */
    char *data;
    size_t data_len;
    ipc_buf *att;
    size_t n_att;
    size_t bytes;
    unsigned deaths; /* workers that died with it in flight (rule 37) */
};

held_msg *sio_held_new(ipc_type type, int64_t id, const char *data, size_t data_len,
                       const ipc_buf *att, size_t n_att)
{
    held_msg *h = xcalloc(1, sizeof *h);
    h->type = type;
    h->id = id;
    h->data = data_len ? xstrndup(data, data_len) : NULL;
    h->data_len = data_len;
    h->bytes = data_len;
    if (n_att) {
        h->att = xcalloc(n_att, sizeof *h->att);
        for (size_t i = 0; i < n_att; i++) {
            h->att[i].data = xstrndup(att[i].data, att[i].len);
            h->att[i].len = att[i].len;
            h->bytes += att[i].len;
        }
        h->n_att = n_att;
    }
    return h;
}

static void held_free(held_msg *h)
{
    for (size_t i = 0; i < h->n_att; i++)
        free((void *)h->att[i].data);
    free(h->att);
    free(h->data);
    free(h);
}

void sio_held_free_all(sio_socket *s)
{
    while (s->held) {
        held_msg *h = s->held;
        s->held = h->next;
        held_free(h);
    }
    s->held_tail = NULL;
    s->n_held = s->held_bytes = 0;
    s->n_replay = s->replay_bytes = 0;
}

/* Append h to the socket's hold (taking it); -1 (h freed) when full.  The
 * bound is on what the client sends while its worker restarts: packets a
 * dead worker had in flight (replay) come back without it — they were
 * already in memory, bounded by the credit (rule 35). */
int sio_hold_take(gw_app *app, sio_socket *s, held_msg *h, int replay)
{
    if (!replay && (s->n_held - s->n_replay + 1 > app->opt.hold_max_msgs ||
                    s->held_bytes - s->replay_bytes + h->bytes > app->opt.hold_max_bytes)) {
        GW_LIMIT(GW_LIMIT_HOLD);
        held_free(h);
        return -1;
    }
    if (replay) {
        s->n_replay++;
        s->replay_bytes += h->bytes;
    }
    h->next = NULL;
    if (s->held_tail)
        s->held_tail->next = h;
    else
        s->held = h;
    s->held_tail = h;
    s->n_held++;
    GW_NSP_M(s->nsp)->held++;
    s->held_bytes += h->bytes;
    return 0;
}

/* The cause (rule 19) of a socket dropped because sio_forward() failed. */
const char *sio_loss_cause(int e, int replay)
{
    if (e == ENOBUFS)
        return replay ? "worker credit exceeded during replay" : "worker credit exceeded";
    if (e == EAGAIN) return "worker at its high-water mark";
    return strerror(e);
}

/* Send a client EVENT/ACK to the socket's worker with the next sequence
 * number, and retain a copy until the worker reports it PROCESSED.  Takes
 * `h` when given (a replayed packet), else copies nothing until sent.
 * 0, or -1 with errno — ENOBUFS past the credit, EAGAIN at the ROUTER's
 * high-water mark — and nothing retained (a given h is freed). */
int sio_forward(gw_app *app, sio_socket *s, ipc_type type, int64_t id, const char *data,
                size_t data_len, const ipc_buf *att, size_t n_att, held_msg *h)
{
    gw_worker *w = s->nsp->worker;
    if (!w || s->state == SOCK_UNSENT || s->state == SOCK_ORPHANED) {
        if (h) held_free(h);
        errno = EHOSTUNREACH;
        return -1;
    }
    if (w->n_ret >= app->opt.credit) {
        /* The worker is this far behind: it is slow (or not reporting).
         * Say so once per episode; the caller applies rule 31. */
        if (!w->slow)
            log_warn("namespace %s: worker has %zu packets in flight; it is too slow", s->nsp->name,
                     w->n_ret);
        w->slow = 1;
        if (h) held_free(h);
        errno = ENOBUFS; /* EAGAIN is the ROUTER's high-water mark */
        return -1;
    }
    if (h) {
        type = h->type, id = h->id, data = h->data, data_len = h->data_len;
        att = h->att, n_att = h->n_att;
    }
    uint64_t seq = w->next_seq + 1;
    char meta[80];
    int ml;
    if (type == IPC_ACK)
        ml = snprintf(meta, sizeof meta, "{\"id\":%lld,\"seq\":%llu}", (long long)id,
                      (unsigned long long)seq);
    else if (id >= 0)
        ml = snprintf(meta, sizeof meta, "{\"ack\":%lld,\"seq\":%llu}", (long long)id,
                      (unsigned long long)seq);
    else
        ml = snprintf(meta, sizeof meta, "{\"seq\":%llu}", (unsigned long long)seq);
    if (gw_router_send(app->router, w, type, s->nsp->name, s->id, meta, (size_t)ml, data, data_len,
                       att, n_att) < 0 &&
        errno != EHOSTUNREACH) {
        int e = errno;
        if (h) held_free(h);
        errno = e;
        return -1;
    }
    /* Sent, or the worker just vanished (EHOSTUNREACH: its drop is already
     * scheduled): either way keep the copy, so that a dead worker's packets
     * go back to their sockets and on to the next worker. */
    w->next_seq = seq;
    gw_retained *r = xmalloc(sizeof *r);
    r->next = NULL;
    r->seq = seq;
    memcpy(r->sid, s->id, sizeof r->sid);
    r->msg = h ? h : sio_held_new(type, id, data, data_len, att, n_att);
    if (w->ret_tail)
        w->ret_tail->next = r;
    else
        w->ret_head = r;
    w->ret_tail = r;
    w->n_ret++;
    return 0;
}

void sio_worker_processed(gw_app *app, gw_worker *w, uint64_t seq)
{
    while (w->ret_head && w->ret_head->seq <= seq) {
        gw_retained *r = w->ret_head;
        w->ret_head = r->next;
        held_free(r->msg);
        free(r);
        w->n_ret--;
    }
    if (!w->ret_head) w->ret_tail = NULL;
    if (w->slow && w->n_ret < app->opt.credit / 2) {
        w->slow = 0;
        log_info("namespace %s: worker caught up", w->nsp ? w->nsp->name : "?");
    }
}

/* What a held packet was, for a log line: the event name, or the ack id. */
static void held_describe(const held_msg *h, char *out, size_t n)
{
    if (h->type == IPC_ACK) {
        snprintf(out, n, "ack %lld", (long long)h->id);
        return;
    }
    json_t *j = h->data ? json_loadb(h->data, h->data_len, 0, NULL) : NULL;
    json_t *name = json_array_get(j, 0);
    /* The name is the client's: no control bytes or quotes into the log. */
    char safe[65];
    const char *v = json_is_string(name) ? json_string_value(name) : "?";
    size_t k = 0;
    for (; v[k] && k < sizeof safe - 1; k++) {
        unsigned char ch = (unsigned char)v[k];
        safe[k] = ch < 0x20 || ch == '"' || ch == '\\' || ch == 0x7f ? '?' : (char)ch;
    }
    safe[k] = '\0';
    snprintf(out, n, "event \"%s\"", safe);
    json_decref(j);
}

void sio_worker_requeue(gw_app *app, gw_worker *w)
{
    size_t n = 0;
    int blamed = 0;
    while (w->ret_head) {
        gw_retained *r = w->ret_head;
        w->ret_head = r->next;
        sio_socket *s;
        HASH_FIND(hh, app->sockets, r->sid, IPC_ID_LEN, s);
        if (s && s->nsp == w->nsp && sio_accepted(s) && s->quarantined) {
            s->n_lost++; /* behind its poison packet: dropped with it */
            held_free(r->msg);
        } else if (s && s->nsp == w->nsp && sio_accepted(s)) {
            /* Rule 37: the oldest packet that was in flight at an earlier
             * death too is not replayed again; one per death, so that an
             * innocent packet that merely shared a batch with the culprit
             * is not blamed with it at once. */
            if (++r->msg->deaths >= 2 && !blamed) {
                char what[96];
                held_describe(r->msg, what, sizeof what);
                log_warn("namespace %s: quarantined the %s of socket %s: it was in flight at %u "
                         "worker deaths; not replayed, the socket is disconnected",
                         s->nsp->name, what, s->id, r->msg->deaths);
                blamed = 1;
                s->quarantined = 1;
                s->n_lost++;
                held_free(r->msg);
            } else {
                /* The socket's hold is empty here (it was not orphaned while
                 * this worker served it), so order is kept. */
                sio_hold_take(app, s, r->msg, 1);
                n++;
            }
        } else {
            held_free(r->msg);
        }
        free(r);
    }
    w->ret_tail = NULL;
    w->n_ret = 0;
    if (n)
        log_info("namespace %s: %zu packet(s) the worker had not handled will be replayed",
                 w->nsp ? w->nsp->name : "?", n);
}

/* The worker ACCEPTed recovered socket s: replay what its client sent
 * meanwhile, in order.  Not one packet is skipped: when one cannot be
 * forwarded the rest cannot follow in order, so the socket goes with them
 * (rule 31, logged with their count). */
void sio_hold_replay(gw_app *app, sio_socket *s)
{
    gw_nsp *nsp = s->nsp;
    size_t n = s->n_held;
    held_msg *h = s->held;
    s->held = s->held_tail = NULL;
    s->n_held = s->held_bytes = 0;
    s->n_replay = s->replay_bytes = 0;
    while (h) {
        held_msg *next = h->next;
        if (sio_forward(app, s, IPC_EVENT, -1, NULL, 0, NULL, 0, h) < 0) { /* takes h */
            /* Not one packet is skipped: the rest cannot follow in
             * order, so the socket goes with them (rule 31). */
            const char *why = sio_loss_cause(errno, 1);
            size_t left = 1;
            while (next) {
                held_msg *k = next->next;
                held_free(next);
                next = k;
                left++;
            }
            sio_drop_socket(app, s, why, left);
            return;
        }
        h = next;
    }
    GW_NSP_M(nsp)->replayed += n;
    log_info("namespace %s: socket %s recovered, %zu held packet(s) delivered", nsp->name, s->id,
             n);
}
