/* rooms.c — the gateway's routing copy of room membership.
 *
 * Workers own room state; the gateway mirrors it from JOIN/LEAVE so that a
 * BROADCAST crosses ZeroMQ once and is encoded once, whatever the room size.
 * A membership record sits in two lists at once (the room's and the
 * socket's), so joining, leaving and removing a socket never scan a room. */
#include "app.h"
#include "util.h"

#include <string.h>
#include <utlist.h>

static gw_member *find_member(sio_socket *s, const char *room, size_t len)
{
    for (gw_member *m = s->rooms; m; m = m->snext)
        if (strlen(m->room->name) == len && memcmp(m->room->name, room, len) == 0) return m;
    return NULL;
}

void gw_room_join(gw_app *app, sio_socket *s, const char *room, size_t len)
{
    if (find_member(s, room, len)) return;
    gw_nsp *nsp = s->nsp;
    gw_room *r;
    HASH_FIND(hh, nsp->rooms, room, len, r);
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->name = xstrndup(room, len);
        r->nsp = nsp;
        HASH_ADD_KEYPTR(hh, nsp->rooms, r->name, len, r);
        sio_cluster_room(app, nsp, r->name, 1);
    }
    gw_member *m = xcalloc(1, sizeof *m);
    m->room = r;
    m->sock = s;
    DL_APPEND2(r->members, m, rprev, rnext);
    r->count++;
    LL_PREPEND2(s->rooms, m, snext);
}

static void unlink_member(gw_app *app, sio_socket *s, gw_member *m)
{
    gw_room *r = m->room;
    DL_DELETE2(r->members, m, rprev, rnext);
    LL_DELETE2(s->rooms, m, snext);
    free(m);
    if (--r->count == 0) {
        sio_cluster_room(app, r->nsp, r->name, 0);
        HASH_DELETE(hh, r->nsp->rooms, r);
        free(r->name);
        free(r);
    }
}

void gw_room_leave(gw_app *app, sio_socket *s, const char *room, size_t len)
{
    (void)app;
    gw_member *m = find_member(s, room, len);
    if (m) unlink_member(app, s, m);
}

void gw_room_leave_all(gw_app *app, sio_socket *s)
{
    (void)app;
    while (s->rooms)
        unlink_member(app, s, s->rooms);
}

static int valid_name_list(json_t *a)
{
    return a == NULL || json_is_array(a);
}

size_t gw_rooms_select(gw_app *app, gw_nsp *nsp, json_t *rooms, json_t *except,
                       void (*fn)(sio_socket *s, void *ud), void *ud)
{
    if (!valid_name_list(rooms) || !valid_name_list(except)) return 0;
    /* A fresh epoch marks sockets already chosen or excluded, so a socket in
     * several of the rooms gets the packet once. */
    uint64_t epoch = ++app->epoch;
    size_t i, n = 0;
    json_t *v;
    if (except)
        json_array_foreach(except, i, v) {
            if (!json_is_string(v)) continue;
            gw_room *r;
            HASH_FIND(hh, nsp->rooms, json_string_value(v), json_string_length(v), r);
            if (!r) continue;
            for (gw_member *m = r->members; m; m = m->rnext)
                m->sock->mark = epoch;
        }
    if (!rooms || json_array_size(rooms) == 0) {
        for (sio_socket *s = nsp->sockets; s; s = s->nnext) {
            if (s->mark == epoch) continue;
            s->mark = epoch;
            fn(s, ud);
            n++;
        }
        return n;
    }
    json_array_foreach(rooms, i, v) {
        if (!json_is_string(v)) continue;
        gw_room *r;
        HASH_FIND(hh, nsp->rooms, json_string_value(v), json_string_length(v), r);
        if (!r) continue;
        for (gw_member *m = r->members; m; m = m->rnext) {
            if (m->sock->mark == epoch) continue;
            m->sock->mark = epoch;
            fn(m->sock, ud);
            n++;
        }
    }
    return n;
}
