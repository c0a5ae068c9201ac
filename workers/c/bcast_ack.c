/* bcast_ack.c — broadcasts that ask for acknowledgements (PROTOCOL.md rule
 * 25a): iog_bc_emit_with_ack, socket.io's
 * io.to(room).timeout(ms).emit(ev, …, (err, responses) => …).
 *
 * The gateways resolve the receivers: each gateway the BROADCAST went to
 * answers BROADCAST_ACK {id, count} once, then BROADCAST_ACK {id} naming a
 * socket for each client's answer.  The callback runs once: (NULL,
 * responses) when every such gateway has counted and that many answers have
 * arrived, or at the deadline ("operation has timed out", the responses so
 * far).  Each response is the client's first ack argument, as in socket.io.
 * iog_server_side_emit with a callback (SERVER_EMIT / SERVER_EMIT_ACK, rule
 * 25b) is counted the same way: each gateway gives the number of other
 * worker processes of the namespace it relayed to, and their answers. */
#include "worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIMEOUT_MS 3600000
#define MAX_ID 9007199254740991LL /* 2^53 - 1 */

struct iog_bc_pending {
    int64_t id;
    iog_gw **waiting; /* gateways that have not given their count yet */
    size_t n_waiting;
    size_t expected;
    json_t *responses;
    int64_t deadline;
    iog_bc_ack_fn cb;
    void *user;
    iog_bc_pending *next;
};

static void unlink_pending(iog_worker *w, iog_bc_pending *p)
{
    for (iog_bc_pending **pp = &w->bc_pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

static void pending_free(iog_bc_pending *p)
{
    json_decref(p->responses);
    free(p->waiting);
    free(p);
}

/* Run the callback once and forget p. */
static void settle(iog_worker *w, iog_bc_pending *p, const char *err)
{
    unlink_pending(w, p);
    p->cb(w, err, p->responses, p->user);
    pending_free(p);
}

static void check(iog_worker *w, iog_bc_pending *p)
{
    if (p->n_waiting == 0 && json_array_size(p->responses) >= p->expected) settle(w, p, NULL);
}

static json_t *packet(const char *event, json_t *args) /* consumes args */
{
    json_t *data = iog_jcheck(json_array());
    json_array_append_new(data, json_string(event));
    if (json_is_array(args))
        json_array_extend(data, args);
    else if (args)
        json_array_append(data, args);
    json_decref(args);
    return data;
}

static int bad_args(const char *event, int timeout_ms, iog_bc_ack_fn cb)
{
    if (iog_reserved_event(event)) return iog_fail(EINVAL, "reserved event name");
    if (!cb) return iog_fail(EINVAL, "no callback");
    if (timeout_ms < 1 || timeout_ms > MAX_TIMEOUT_MS)
        return iog_fail(EINVAL, "acks need a timeout of 1 to 3600000 ms");
    return 0;
}

/* Send type (BROADCAST or SERVER_EMIT) with meta + ack + timeout to every
 * welcomed gateway and wait for their counts and answers.  Consumes meta
 * and data. */
static int emit_acked(iog_worker *w, ipc_type type, json_t *meta, json_t *data, int timeout_ms,
                      iog_bc_ack_fn cb, void *user);

int iog_bc_emit_with_ack(iog_broadcast **pb, const char *event, json_t *args, int timeout_ms,
                         iog_bc_ack_fn cb, void *user)
{
    iog_broadcast *b = *pb;
    iog_worker *w = b->w;
    if (bad_args(event, timeout_ms, cb) != 0) {
        iog_bc_destroy(pb);
        json_decref(args);
        return -1;
    }
    json_t *meta = iog_bc_meta(b);
    json_object_del(meta, "volatile"); /* an emit waiting for answers is never dropped */
    json_t *data = packet(event, args);
    iog_bc_notify_outgoing(b, data); /* before the send: cb may run at once */
    iog_bc_destroy(pb);
    return emit_acked(w, IPC_BROADCAST, meta, data, timeout_ms, cb, user);
}

int iog_server_side_emit(iog_worker *w, const char *event, json_t *args, int timeout_ms,
                         iog_bc_ack_fn cb, void *user)
{
    if (!cb) {
        if (iog_reserved_event(event)) {
            json_decref(args);
            return iog_fail(EINVAL, "reserved event name");
        }
        json_t *data = packet(event, args);
        int rc = iog_send_all(w, IPC_SERVER_EMIT, NULL, data, 0);
        json_decref(data);
        return rc;
    }
    if (bad_args(event, timeout_ms, cb) != 0) {
        json_decref(args);
        return -1;
    }
    return emit_acked(w, IPC_SERVER_EMIT, iog_jcheck(json_object()), packet(event, args),
                      timeout_ms, cb, user);
}

static int emit_acked(iog_worker *w, ipc_type type, json_t *meta, json_t *data, int timeout_ms,
                      iog_bc_ack_fn cb, void *user)
{
    int64_t id = w->bc_next_id;
    w->bc_next_id = w->bc_next_id >= MAX_ID ? 0 : w->bc_next_id + 1;
    json_object_set_new(meta, "ack", json_integer(id));
    json_object_set_new(meta, "timeout", json_integer(timeout_ms));

    iog_bc_pending *p = iog_xcalloc(1, sizeof *p);
    p->id = id;
    p->waiting = iog_xcalloc(w->n_gws + 1, sizeof *p->waiting);
    p->responses = iog_jcheck(json_array());
    p->deadline = iog_now_ms() + timeout_ms;
    p->cb = cb;
    p->user = user;
    for (size_t i = 0; i < w->n_gws; i++)
        if (w->gws[i]->welcomed && iog_send(w->gws[i], type, NULL, meta, data, 0) == 0)
            p->waiting[p->n_waiting++] = w->gws[i];
    json_decref(meta);
    json_decref(data);
    if (p->n_waiting == 0) {
        pending_free(p);
        return iog_fail(ENOTCONN, "not connected to the gateway");
    }
    p->next = w->bc_pending;
    w->bc_pending = p;
    return 0;
}

void iog_bc_ack_message(iog_gw *g, json_t *meta, json_t *data)
{
    iog_worker *w = g->w;
    json_t *jid = json_object_get(meta, "id");
    iog_bc_pending *p = w->bc_pending;
    while (p && !(json_is_integer(jid) && p->id == json_integer_value(jid)))
        p = p->next;
    if (!p) {
        iog_log(IOG_LOG_DEBUG, "BROADCAST_ACK %lld after its callback ran, ignored",
                json_is_integer(jid) ? (long long)json_integer_value(jid) : -1LL);
        return;
    }
    json_t *count = json_object_get(meta, "count");
    if (json_is_integer(count)) {
        for (size_t i = 0; i < p->n_waiting; i++)
            if (p->waiting[i] == g) {
                p->waiting[i] = p->waiting[--p->n_waiting];
                p->expected += (size_t)json_integer_value(count);
                break;
            }
    } else {
        json_t *first = json_array_get(data, 0);
        json_array_append(p->responses, first ? first : json_null());
    }
    check(w, p);
}

void iog_bc_ack_timers(iog_worker *w, int64_t now)
{
    for (;;) { /* a callback may start or end other broadcasts: look again */
        iog_bc_pending *due = w->bc_pending;
        while (due && due->deadline > now)
            due = due->next;
        if (!due) return;
        settle(w, due, "operation has timed out");
    }
}

int64_t iog_bc_ack_next_deadline(const iog_worker *w)
{
    int64_t next = 0;
    for (const iog_bc_pending *p = w->bc_pending; p; p = p->next)
        if (!next || p->deadline < next) next = p->deadline;
    return next;
}

void iog_bc_ack_free_all(iog_worker *w)
{
    while (w->bc_pending) {
        iog_bc_pending *p = w->bc_pending;
        w->bc_pending = p->next;
        pending_free(p);
    }
}
