/* any.c — the rest of socket.io's catch-all family for the C library
 * (prependAny, offAny, onAnyOutgoing, prependAnyOutgoing, offAnyOutgoing),
 * and raising the outgoing listeners of one socket.  Below socket.c and
 * broadcast.c, which call it. */
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
