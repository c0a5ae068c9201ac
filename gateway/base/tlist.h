/* tlist.h — many equal timeouts on one ev_timer ("be smart about timeouts",
 * ev.pod): every node in a list has the same duration, so appending keeps
 * the list sorted by deadline and one timer armed for the head serves them
 * all.  Removing a node is O(1) and never touches the timer: a timer that
 * fires early just re-arms for the new head.
 *
 * Usage: embed a gw_tnode in your struct, gw_tlist_init() the list with a
 * callback; in the callback pop expired nodes with gw_tlist_expired() and
 * call gw_tlist_rearm() at the end. */
#ifndef IOGATE_TLIST_H
#define IOGATE_TLIST_H

#include <ev.h>
#include <stddef.h>

typedef struct gw_tnode {
    struct gw_tnode *prev, *next; /* NULL when not in a list */
    ev_tstamp at;
} gw_tnode;

typedef struct {
    gw_tnode head; /* sentinel */
    ev_timer timer;
    ev_tstamp dur;
    struct ev_loop *loop;
} gw_tlist;

static inline void gw_tlist_init(gw_tlist *l, struct ev_loop *loop, ev_tstamp dur,
                                 void (*cb)(struct ev_loop *, ev_timer *, int), void *data)
{
    l->head.prev = l->head.next = &l->head;
    l->dur = dur;
    l->loop = loop;
    ev_init(&l->timer, cb);
    l->timer.data = data;
}

static inline int gw_tnode_linked(const gw_tnode *n)
{
    return n->next != NULL;
}

static inline void gw_tlist_rearm(gw_tlist *l)
{
    if (l->head.next == &l->head) return;
    if (ev_is_active(&l->timer)) return;
    ev_tstamp after = l->head.next->at - ev_now(l->loop);
    ev_timer_set(&l->timer, after > 0 ? after : 0, 0.);
    ev_timer_start(l->loop, &l->timer);
}

static inline void gw_tlist_del(gw_tnode *n)
{
    if (!n->next) return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

/* (Re)append n with deadline now + dur. */
static inline void gw_tlist_add(gw_tlist *l, gw_tnode *n)
{
    gw_tlist_del(n);
    n->at = ev_now(l->loop) + l->dur;
    n->prev = l->head.prev;
    n->next = &l->head;
    l->head.prev->next = n;
    l->head.prev = n;
    gw_tlist_rearm(l);
}

/* Pop the first expired node, or NULL. */
static inline gw_tnode *gw_tlist_expired(gw_tlist *l)
{
    gw_tnode *n = l->head.next;
    if (n == &l->head || n->at > ev_now(l->loop) + 0.0005) return NULL;
    gw_tlist_del(n);
    return n;
}

static inline void gw_tlist_stop(gw_tlist *l)
{
    ev_timer_stop(l->loop, &l->timer);
    while (l->head.next != &l->head)
        gw_tlist_del(l->head.next);
}

#define gw_container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

#endif
