/* test_tlist.c — many equal timeouts on one ev_timer (gateway/base/tlist.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "tlist.h"

typedef struct {
    int id;
    gw_tnode node;
} item;

static int fired[16], nfired;
static gw_tlist list;

static void cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_tnode *n;
    while ((n = gw_tlist_expired(&list))) {
        item *it = gw_container_of(n, item, node);
        fired[nfired++] = it->id;
        if (it->id == 1) gw_tlist_add(&list, &it->node); /* re-arm one from the callback */
    }
    gw_tlist_rearm(&list);
    if (nfired >= 4) ev_break(loop, EVBREAK_ALL);
}

static void test_order_removal_rearm(void **st)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    item a = {1, {0}}, b = {2, {0}}, c = {3, {0}}, d = {4, {0}};
    gw_tlist_init(&list, loop, 0.05, cb, NULL);
    gw_tlist_add(&list, &a.node);
    gw_tlist_add(&list, &b.node);
    gw_tlist_add(&list, &c.node);
    assert_true(gw_tnode_linked(&b.node));
    gw_tlist_del(&b.node); /* O(1) removal from the middle */
    assert_false(gw_tnode_linked(&b.node));
    gw_tlist_del(&b.node); /* twice is harmless */
    ev_now_update(loop);
    gw_tlist_add(&list, &d.node);
    gw_tlist_add(&list, &c.node); /* re-adding moves it to the end */
    ev_tstamp t0 = ev_time();
    ev_run(loop, 0);
    double dt = ev_time() - t0;
    assert_int_equal(nfired, 4);
    assert_int_equal(fired[0], 1);
    assert_int_equal(fired[1], 4);
    assert_int_equal(fired[2], 3);
    assert_int_equal(fired[3], 1); /* a fired once, was re-added, fired again */
    assert_true(dt >= 0.09 && dt < 0.5);
    gw_tlist_stop(&list);
    assert_false(gw_tnode_linked(&a.node));
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_order_removal_rearm)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
