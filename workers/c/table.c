/* table.c — the worker's socket table (a list in CONNECT order plus a hash
 * by id, sockets of every gateway; unlinked sockets wait in the graveyard
 * that worker.c reaps), the rooms each socket is in (the worker owns its
 * namespace's room state), and the list of emit_with_ack deadlines.  Below
 * socket.c, adapter.c and worker.c: it calls none of them. */
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

static size_t hash_id(const char *s, size_t len)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

iog_socket *iog_worker_find(iog_worker *w, const char *sid, size_t len)
{
    if (len != IPC_ID_LEN) return NULL;
    for (iog_socket *s = w->buckets[hash_id(sid, len) % w->n_buckets]; s; s = s->hnext)
        if (memcmp(s->id, sid, len) == 0) return s;
    return NULL;
}

void iog_worker_insert(iog_worker *w, iog_socket *s)
{
    if (w->n_sockets + 1 > w->n_buckets) { /* grow: load factor 1 */
        size_t nb = w->n_buckets * 2;
        iog_socket **b = iog_xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < w->n_buckets; i++) {
            iog_socket *x = w->buckets[i];
            while (x) {
                iog_socket *nx = x->hnext;
                size_t j = hash_id(x->id, IPC_ID_LEN) % nb;
                x->hnext = b[j];
                b[j] = x;
                x = nx;
            }
        }
        free(w->buckets);
        w->buckets = b;
        w->n_buckets = nb;
    }
    size_t j = hash_id(s->id, IPC_ID_LEN) % w->n_buckets;
    s->hnext = w->buckets[j];
    w->buckets[j] = s;
    s->prev = w->tail;
    s->next = NULL;
    if (w->tail)
        w->tail->next = s;
    else
        w->head = s;
    w->tail = s;
    w->n_sockets++;
}

void iog_worker_unlink(iog_worker *w, iog_socket *s)
{
    iog_socket **pp = &w->buckets[hash_id(s->id, IPC_ID_LEN) % w->n_buckets];
    while (*pp && *pp != s)
        pp = &(*pp)->hnext;
    if (!*pp) return; /* already unlinked */
    *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        w->tail = s->prev;
    w->n_sockets--;
    /* Freed at the next safe point (end of iog_worker_process), never here:
     * a handler of this socket may still be on the stack. */
    s->prev = NULL;
    s->next = w->graveyard;
    w->graveyard = s;
}

/* ---- timed acks ---- */

void iog_worker_timed_add(iog_worker *w, iog_pending_ack *a)
{
    a->tprev = NULL;
    a->tnext = w->timed;
    if (w->timed) w->timed->tprev = a;
    w->timed = a;
}

void iog_worker_timed_del(iog_worker *w, iog_pending_ack *a)
{
    if (a->tprev)
        a->tprev->tnext = a->tnext;
    else if (w->timed == a)
        w->timed = a->tnext;
    else
        return; /* not in the list */
    if (a->tnext) a->tnext->tprev = a->tprev;
    a->tnext = a->tprev = NULL;
}

bool iog_socket_in_room(const iog_socket *s, const char *room)
{
    for (size_t i = 0; i < s->n_rooms; i++)
        if (strcmp(s->rooms[i], room) == 0) return true;
    return false;
}
