/* broadcast.c — {rooms, except, volatile} selectors: one BROADCAST message
 * to the gateway (which holds a routing copy of the rooms), and the
 * namespace utilities (fetchSockets, socketsJoin/Leave, disconnectSockets)
 * resolved locally: the worker owns its namespace's room state. */
#include "worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void push(char ***v, size_t *n, const char *room)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], room) == 0) return;
    *v = iog_xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = iog_xstrdup(room);
}

iog_broadcast *iog_broadcast_new(iog_worker *w)
{
    iog_broadcast *b = iog_xcalloc(1, sizeof *b);
    b->w = w;
    return b;
}

iog_broadcast *iog_to(iog_worker *w, const char *room)
{
    return iog_bc_to(iog_broadcast_new(w), room);
}

iog_broadcast *iog_socket_broadcast(iog_socket *s)
{
    return iog_bc_except(iog_broadcast_new(s->w), s->id);
}

iog_broadcast *iog_socket_to(iog_socket *s, const char *room)
{
    return iog_bc_to(iog_socket_broadcast(s), room);
}

iog_broadcast *iog_bc_to(iog_broadcast *b, const char *room)
{
    if (room) push(&b->rooms, &b->n_rooms, room);
    return b;
}

iog_broadcast *iog_bc_except(iog_broadcast *b, const char *room)
{
    if (room) push(&b->except, &b->n_except, room);
    return b;
}

iog_broadcast *iog_bc_volatile(iog_broadcast *b)
{
    b->vol = true;
    return b;
}

iog_broadcast *iog_bc_local(iog_broadcast *b)
{
    return b; /* socket.io: this server node only; a worker is the only one */
}

void iog_bc_destroy(iog_broadcast **pb)
{
    iog_broadcast *b = *pb;
    if (!b) return;
    *pb = NULL;
    for (size_t i = 0; i < b->n_rooms; i++)
        free(b->rooms[i]);
    for (size_t i = 0; i < b->n_except; i++)
        free(b->except[i]);
    free(b->rooms);
    free(b->except);
    free(b);
}

static json_t *str_array(char **v, size_t n)
{
    json_t *a = iog_jcheck(json_array());
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *iog_bc_meta(const iog_broadcast *b)
{
    json_t *meta = iog_jcheck(json_object());
    if (b->n_rooms) json_object_set_new(meta, "rooms", str_array(b->rooms, b->n_rooms));
    if (b->n_except) json_object_set_new(meta, "except", str_array(b->except, b->n_except));
    if (b->vol) json_object_set_new(meta, "volatile", json_true());
    return meta;
}

static void notify_one(iog_socket *s, void *data)
{
    iog_socket_notify_outgoing(s, data);
}

void iog_bc_notify_outgoing(const iog_broadcast *b, json_t *data)
{
    bool any = false;
    for (iog_socket *s = b->w->head; s && !any; s = s->next)
        any = s->on_any_out.n > 0;
    if (any) iog_bc_each(b, notify_one, data); /* only then find the receivers */
}

int iog_bc_emit(iog_broadcast **pb, const char *event, json_t *args)
{
    iog_broadcast *b = *pb;
    if (iog_reserved_event(event)) {
        iog_bc_destroy(pb);
        json_decref(args);
        return iog_fail(EINVAL, "reserved event name");
    }
    json_t *meta = iog_bc_meta(b);
    json_t *data = iog_jcheck(json_array());
    json_array_append_new(data, json_string(event));
    if (json_is_array(args))
        json_array_extend(data, args);
    else if (args)
        json_array_append(data, args);
    json_decref(args);
    /* Every gateway gets it and applies rooms / except to its own sockets. */
    int rc = iog_send_all(b->w, IPC_BROADCAST, meta, data, b->vol);
    if (rc == 0) iog_bc_notify_outgoing(b, data);
    json_decref(meta);
    json_decref(data);
    iog_bc_destroy(pb);
    return rc;
}

int iog_emit(iog_worker *w, const char *event, json_t *args)
{
    iog_broadcast *b = iog_broadcast_new(w);
    return iog_bc_emit(&b, event, args);
}

/* ---- local resolution ---- */

static bool matches(const iog_broadcast *b, const iog_socket *s)
{
    if (s->state != IOG_S_CONNECTED) return false;
    bool in = b->n_rooms == 0;
    for (size_t i = 0; i < b->n_rooms && !in; i++)
        in = iog_socket_in_room(s, b->rooms[i]);
    if (!in) return false;
    for (size_t i = 0; i < b->n_except; i++)
        if (iog_socket_in_room(s, b->except[i])) return false;
    return true;
}

void iog_bc_each(const iog_broadcast *b, iog_socket_each_fn fn, void *user)
{
    /* Snapshot the ids first: fn may disconnect sockets (ours or others). */
    iog_worker *w = b->w;
    size_t n = 0;
    char(*ids)[IPC_ID_LEN] = iog_xmalloc((w->n_sockets + 1) * sizeof *ids);
    for (iog_socket *s = w->head; s; s = s->next)
        if (matches(b, s)) memcpy(ids[n++], s->id, IPC_ID_LEN);
    for (size_t i = 0; i < n; i++) {
        iog_socket *s = iog_worker_find(w, ids[i], IPC_ID_LEN);
        if (s && s->state == IOG_S_CONNECTED) fn(s, user);
    }
    free(ids);
}

json_t *iog_bc_fetch_sockets(const iog_broadcast *b)
{
    json_t *out = iog_jcheck(json_array());
    for (iog_socket *s = b->w->head; s; s = s->next) {
        if (!matches(b, s)) continue;
        json_array_append_new(out, iog_jcheck(json_pack("{s:s,s:o,s:O,s:O}", "id", s->id, "rooms",
                                                        iog_socket_rooms_json(s), "handshake",
                                                        s->handshake, "data", s->data)));
    }
    return out;
}

static void each_join(iog_socket *s, void *room)
{
    iog_socket_join(s, room);
}
static void each_leave(iog_socket *s, void *room)
{
    iog_socket_leave(s, room);
}
static void each_disconnect(iog_socket *s, void *close)
{
    iog_socket_disconnect(s, *(bool *)close);
}

void iog_bc_sockets_join(const iog_broadcast *b, const char *room)
{
    iog_bc_each(b, each_join, (void *)room);
}

void iog_bc_sockets_leave(const iog_broadcast *b, const char *room)
{
    iog_bc_each(b, each_leave, (void *)room);
}

void iog_bc_disconnect_sockets(const iog_broadcast *b, bool close)
{
    iog_bc_each(b, each_disconnect, &close);
}

static iog_broadcast *from_rooms(iog_worker *w, const char *const *rooms)
{
    iog_broadcast *b = iog_broadcast_new(w);
    for (size_t i = 0; rooms && rooms[i]; i++)
        iog_bc_to(b, rooms[i]);
    return b;
}

json_t *iog_fetch_sockets(iog_worker *w, const char *const *rooms)
{
    iog_broadcast *b = from_rooms(w, rooms);
    json_t *r = iog_bc_fetch_sockets(b);
    iog_bc_destroy(&b);
    return r;
}

void iog_sockets_join(iog_worker *w, const char *const *rooms, const char *room)
{
    iog_broadcast *b = from_rooms(w, rooms);
    iog_bc_sockets_join(b, room);
    iog_bc_destroy(&b);
}

void iog_sockets_leave(iog_worker *w, const char *const *rooms, const char *room)
{
    iog_broadcast *b = from_rooms(w, rooms);
    iog_bc_sockets_leave(b, room);
    iog_bc_destroy(&b);
}

void iog_disconnect_sockets(iog_worker *w, const char *const *rooms, bool close)
{
    iog_broadcast *b = from_rooms(w, rooms);
    iog_bc_disconnect_sockets(b, close);
    iog_bc_destroy(&b);
}
