/* adapter.c — the adapter's room events (socket.io's
 * io.of(nsp).adapter.on("create-room" | "join-room" | "leave-room" |
 * "delete-room")), in socket.io's order.  The worker owns its namespace's
 * room state — every join and leave goes through it — so it raises them
 * itself; the gateway has nothing to add (PROTOCOL.md rule 26).  A
 * socket's own id is a room, joined when the socket arrives (at its
 * CONNECT) and left with the others between `disconnecting` and
 * `disconnect` (or at its refusal).
 *
 * Whether another socket is in a room is found by walking the sockets, only
 * when a listener is registered: a worker without one pays nothing. */
#include "worker_int.h"

#include <string.h>

#define CALL(list, i) ((iog_adapter_fn)(list).v[i].fn)

void iog_on_adapter(iog_worker *w, iog_adapter_fn fn, void *user)
{
    iog_cbs_add(&w->adapter, (void (*)(void))fn, user, NULL);
}

void iog_off_adapter(iog_worker *w, iog_adapter_fn fn)
{
    size_t k = 0;
    for (size_t i = 0; i < w->adapter.n; i++)
        if (fn && CALL(w->adapter, i) != fn) w->adapter.v[k++] = w->adapter.v[i];
    w->adapter.n = k;
}

static bool someone_else_in(const iog_socket *s, const char *room)
{
    for (const iog_socket *o = s->w->head; o; o = o->next)
        if (o != s && o->state != IOG_S_CLOSED && iog_socket_in_room(o, room)) return true;
    return false;
}

static void raise_event(iog_worker *w, const char *event, const char *room, const char *sid)
{
    /* the count is read again each time: a listener may remove listeners */
    for (size_t i = 0; i < w->adapter.n; i++)
        CALL(w->adapter, i)(w, event, room, sid, w->adapter.v[i].user);
}

void iog_adapter_joined(iog_socket *s, const char *room)
{
    iog_worker *w = s->w;
    if (!w->adapter.n) return;
    if (!someone_else_in(s, room)) raise_event(w, "create-room", room, NULL);
    raise_event(w, "join-room", room, s->id);
}

void iog_adapter_left(iog_socket *s, const char *room)
{
    iog_worker *w = s->w;
    if (!w->adapter.n) return;
    raise_event(w, "leave-room", room, s->id);
    if (!someone_else_in(s, room)) raise_event(w, "delete-room", room, NULL);
}

void iog_adapter_left_all(iog_socket *s)
{
    for (size_t i = 0; i < s->n_rooms && s->w->adapter.n; i++)
        iog_adapter_left(s, s->rooms[i]);
}
