/* test_rooms.c — the gateway's routing copy of room membership (rooms.c):
 * who a BROADCAST reaches for every combination of rooms and except. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>
#include <utlist.h>

#include "app.h"

static gw_app app;
static gw_nsp nsp = {.name = "/t"};
static sio_client client;
static sio_socket socks[4];

static void setup_sockets(void)
{
    memset(&app, 0, sizeof app);
    memset(socks, 0, sizeof socks);
    nsp.rooms = NULL;
    nsp.sockets = NULL;
    for (int i = 0; i < 4; i++) {
        snprintf(socks[i].id, sizeof socks[i].id, "socket%014d", i);
        socks[i].nsp = &nsp;
        socks[i].client = &client;
        socks[i].state = SOCK_CONNECTED;
        DL_APPEND2(nsp.sockets, &socks[i], nprev, nnext);
        gw_room_join(&app, &socks[i], socks[i].id, 20);
    }
}

static void teardown_sockets(void)
{
    for (int i = 0; i < 4; i++)
        gw_room_leave_all(&app, &socks[i]);
    assert_null(nsp.rooms); /* empty rooms are freed */
}

static unsigned got;
static void collect(sio_socket *s, void *ud)
{
    unsigned bit = 1u << (s - socks);
    assert_false(got & bit); /* never twice */
    got |= bit;
}

static unsigned select_(const char *rooms, const char *except)
{
    json_t *r = rooms ? json_loads(rooms, 0, NULL) : NULL;
    json_t *e = except ? json_loads(except, 0, NULL) : NULL;
    got = 0;
    gw_rooms_select(&app, &nsp, r, e, collect, NULL);
    json_decref(r);
    json_decref(e);
    return got;
}

static void broadcast_selection(void **st)
{
    setup_sockets();
    gw_room_join(&app, &socks[0], "a", 1);
    gw_room_join(&app, &socks[1], "a", 1);
    gw_room_join(&app, &socks[1], "b", 1);
    gw_room_join(&app, &socks[2], "b", 1);
    gw_room_join(&app, &socks[2], "b", 1); /* joining twice is not an error */

    assert_int_equal(select_(NULL, NULL), 0xf); /* everyone */
    assert_int_equal(select_("[]", NULL), 0xf);
    assert_int_equal(select_("[\"a\"]", NULL), 0x3);
    assert_int_equal(select_("[\"a\",\"b\"]", NULL), 0x7); /* socket 1 once */
    assert_int_equal(select_("[\"a\",\"b\"]", "[\"socket00000000000001\"]"), 0x5);
    assert_int_equal(select_(NULL, "[\"b\"]"), 0x9);
    assert_int_equal(select_("[\"nobody\"]", NULL), 0);
    assert_int_equal(select_("[\"a\"]", "[\"a\"]"), 0);
    assert_int_equal(select_("[1, \"a\"]", "[null]"), 0x3); /* non-strings ignored */

    gw_room_leave(&app, &socks[1], "a", 1);
    gw_room_leave(&app, &socks[1], "zzz", 3); /* leaving a room one is not in */
    assert_int_equal(select_("[\"a\"]", NULL), 0x1);
    gw_room_leave(&app, &socks[0], "a", 1);
    gw_room *r;
    HASH_FIND(hh, nsp.rooms, "a", 1, r);
    assert_null(r); /* the last member leaving frees the room */
    teardown_sockets();
}

static void many_members(void **st)
{
    /* A socket in every one of 200 rooms still receives a broadcast to all
     * of them exactly once. */
    setup_sockets();
    char name[16];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(name, sizeof name, "r%d", i);
        gw_room_join(&app, &socks[3], name, (size_t)n);
        if (i % 2) gw_room_join(&app, &socks[0], name, (size_t)n);
    }
    json_t *rooms = json_array();
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "r%d", i);
        json_array_append_new(rooms, json_string(name));
    }
    got = 0;
    assert_int_equal(gw_rooms_select(&app, &nsp, rooms, NULL, collect, NULL), 2);
    assert_int_equal(got, 0x9);
    json_decref(rooms);
    teardown_sockets();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broadcast_selection),
        cmocka_unit_test(many_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
