/* test_supervisor.c — the pure parts of the supervisor (supervisor.c): the
 * restart delay and the --worker patterns that start dynamic namespaces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "router.h"
#include "supervisor.h"

static void backoff(void **state)
{
    /* (prev, ran for, min, max, window, holds sockets, held cap) */
    assert_int_equal(gw_sup_backoff(0, 0.1, 100, 10000, 60000, 0, 500), 100);   /* first restart */
    assert_int_equal(gw_sup_backoff(100, 0.1, 100, 10000, 60000, 0, 500), 200); /* doubles */
    assert_int_equal(gw_sup_backoff(400, 5, 100, 10000, 60000, 0, 500), 800);
    assert_int_equal(gw_sup_backoff(8000, 5, 100, 10000, 60000, 0, 500), 10000); /* capped */
    assert_int_equal(gw_sup_backoff(10000, 5, 100, 10000, 60000, 0, 500), 10000);
    /* ran longer than the crash window: from the smallest delay again */
    assert_int_equal(gw_sup_backoff(8000, 61, 100, 10000, 60000, 0, 500), 100);
    /* sockets kept for the next worker: short delays only (rule 35) */
    assert_int_equal(gw_sup_backoff(400, 5, 100, 10000, 60000, 1, 500), 500);
    assert_int_equal(gw_sup_backoff(200, 5, 100, 10000, 60000, 1, 500), 400); /* under the cap */
    /* ... but never below the configured minimum */
    assert_int_equal(gw_sup_backoff(0, 5, 2000, 10000, 60000, 1, 500), 2000);
    assert_int_equal(gw_sup_backoff(2000, 5, 2000, 10000, 60000, 1, 500), 2000);
}

static int ready;
static void on_ready(void *ud)
{
    ready++;
}
static const gw_router_handler handler = {.on_ready = on_ready};

static void patterns(void **state)
{
    gw_worker_spec specs[] = {{"^/room-\\d+$", "true"}, {"^/team/[a-z]+$", "true"}};
    gw_router_options opt = {.workers = specs,
                             .n_workers = 2,
                             .dynamic_idle_ms = 60000,
                             .max_dynamic = 0,
                             .startup_wait_ms = 5000};
    gw_router *r = gw_router_new(EV_DEFAULT, &opt, &handler, NULL);
    ready = 0;
    assert_int_equal(gw_sup_start(r), 0);
    assert_int_equal(ready, 1); /* nothing to spawn: the listener opens at once */
    assert_true(gw_sup_pattern_matches(r, "/room-42", 8));
    assert_false(gw_sup_pattern_matches(r, "/room-42x", 9));
    assert_false(gw_sup_pattern_matches(r, "/room-", 6));
    assert_true(gw_sup_pattern_matches(r, "/team/red", 9));
    assert_false(gw_sup_pattern_matches(r, "/team/red", 6)); /* the length counts, not a NUL */
    assert_false(gw_sup_pattern_matches(r, "/chat", 5));
    /* max_dynamic 0: a matching namespace is refused, nothing spawned */
    assert_int_equal(gw_sup_spawn_dynamic(r, "/room-1", 7), 0);
    assert_null(r->children);
    assert_false(gw_sup_worker_expected(r, "/room-1"));
    assert_false(gw_sup_given_up(r, "/room-1"));
    gw_sup_stop(r);
    assert_null(r->templates);
    gw_router_free(&r);
    assert_null(r);
}

static void bad_pattern(void **state)
{
    gw_worker_spec specs[] = {{"^/room-(\\d+$", "true"}};
    gw_router_options opt = {.workers = specs, .n_workers = 1, .dynamic_idle_ms = 60000};
    gw_router *r = gw_router_new(EV_DEFAULT, &opt, &handler, NULL);
    assert_int_equal(gw_sup_start(r), -1); /* logged with the offset */
    gw_sup_stop(r);
    gw_router_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff),
        cmocka_unit_test(patterns),
        cmocka_unit_test(bad_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
