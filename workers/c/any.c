/* any.c — the rest of socket.io's catch-all family for the C library
 * (prependAny, offAny, onAnyOutgoing, prependAnyOutgoing, offAnyOutgoing)
 * and joining / leaving several rooms in one call. */
#include "worker_int.h"

#include <string.h>

#define FN(f) ((void (*)(void))(f))

static void cbs_prepend(iog_cbs *l, void (*fn)(void), void *user)
{
    iog_cbs_add(l, fn, user, NULL); /* grows the array; then move it first */
    iog_cb last = l->v[l->n - 1];
    memmove(&l->v[1], &l->v[0], (l->n - 1) * sizeof *l->v);
    l->v[0] = last;
}

static void cbs_remove(iog_cbs *l, void (*fn)(void))
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!fn || l->v[i].fn == fn)
            free(l->v[i].event);
        else
            l->v[k++] = l->v[i];
    }
    l->n = k;
}

void iog_socket_prepend_any(iog_socket *s, iog_any_fn fn, void *user)
{
    cbs_prepend(&s->on_any, FN(fn), user);
}

void iog_socket_off_any(iog_socket *s, iog_any_fn fn)
{
    cbs_remove(&s->on_any, FN(fn));
}

void iog_socket_on_any_outgoing(iog_socket *s, iog_any_out_fn fn, void *user)
{
    iog_cbs_add(&s->on_any_out, FN(fn), user, NULL);
}

void iog_socket_prepend_any_outgoing(iog_socket *s, iog_any_out_fn fn, void *user)
{
    cbs_prepend(&s->on_any_out, FN(fn), user);
}

void iog_socket_off_any_outgoing(iog_socket *s, iog_any_out_fn fn)
{
    cbs_remove(&s->on_any_out, FN(fn));
}

void iog_socket_notify_outgoing(iog_socket *s, json_t *data)
{
    const char *ev = json_string_value(json_array_get(data, 0));
    if (!ev || !s->on_any_out.n) return;
    json_t *args = iog_jcheck(json_array());
    for (size_t i = 1; i < json_array_size(data); i++)
        json_array_append(args, json_array_get(data, i));
    /* the count is read again each time: a listener may remove listeners */
    for (size_t i = 0; i < s->on_any_out.n && s->state == IOG_S_CONNECTED; i++)
        ((iog_any_out_fn)s->on_any_out.v[i].fn)(s, ev, args, s->on_any_out.v[i].user);
    json_decref(args);
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

/* One JOIN / LEAVE per room: the same rooms in the end as socket.io's
 * join([…]), and rule 26 makes repeats harmless. */
int iog_socket_join_rooms(iog_socket *s, const char *const *rooms)
{
    int rc = 0;
    for (size_t i = 0; rooms && rooms[i]; i++)
        if (iog_socket_join(s, rooms[i]) != 0) rc = -1;
    return rc;
}

int iog_socket_leave_rooms(iog_socket *s, const char *const *rooms)
{
    int rc = 0;
    for (size_t i = 0; rooms && rooms[i]; i++)
        if (iog_socket_leave(s, rooms[i]) != 0) rc = -1;
    return rc;
}
