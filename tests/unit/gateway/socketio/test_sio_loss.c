/* test_sio_loss.c — the bookkeeping of sio_loss.c without a loop or a
 * worker: a client's tombstones (namespaces the gateway disconnected on it,
 * PROTOCOL.md rule 38) and the ghosts kept for the next worker (rule 37).
 * The wire behaviour is tested end to end in tests/e2e/loss_paths.test.js. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "app.h"

static int has(const sio_client *c, const char *nsp)
{
    return sio_tomb_has(c, nsp, strlen(nsp));
}

static void tomb_exact_names(void **state)
{
    (void)state;
    sio_client c;
    memset(&c, 0, sizeof c);
    gw_nsp a = {.name = "/a"}, ab = {.name = "/ab"};
    assert_false(has(&c, "/a"));
    sio_tomb_add(&c, &ab);
    assert_false(has(&c, "/a")); /* a prefix is another namespace */
    assert_false(has(&c, "/"));
    assert_true(has(&c, "/ab"));
    sio_tomb_add(&c, &a);
    sio_tomb_add(&c, &a); /* once is enough */
    assert_int_equal(c.n_tomb, 2);
    sio_tomb_clear(&c, "/a", 2); /* the client CONNECTs it again */
    assert_false(has(&c, "/a"));
    assert_true(has(&c, "/ab"));
    sio_tomb_clear(&c, "/zz", 3); /* not there: nothing happens */
    assert_true(has(&c, "/ab"));
}

static void tomb_ring_forgets_oldest(void **state)
{
    (void)state;
    sio_client c;
    memset(&c, 0, sizeof c);
    static char names[SIO_TOMBS + 1][8];
    static gw_nsp nsps[SIO_TOMBS + 1];
    for (int i = 0; i <= SIO_TOMBS; i++) {
        snprintf(names[i], sizeof names[i], "/n%d", i);
        nsps[i].name = names[i];
        sio_tomb_add(&c, &nsps[i]);
    }
    assert_false(has(&c, names[0])); /* bounded: the oldest went */
    for (int i = 1; i <= SIO_TOMBS; i++)
        assert_true(has(&c, names[i]));
}

static void ghosts_forgotten_when_no_worker_comes(void **state)
{
    (void)state;
    gw_app app;
    memset(&app, 0, sizeof app);
    gw_nsp a = {.name = "/a"}, b = {.name = "/b"};
    gw_ghost_add(&app, &a, "AAAAAAAAAAAAAAAAAAAA", "{\"recovered\":true}",
                 "server namespace disconnect", "hold full", 0);
    gw_ghost_add(&app, &a, "BBBBBBBBBBBBBBBBBBBB", "{\"recovered\":true}",
                 "client namespace disconnect", NULL, 1);
    gw_ghost_add(&app, &b, "CCCCCCCCCCCCCCCCCCCC", "{\"recovered\":true}",
                 "server namespace disconnect", "hold full", 0);
    assert_int_equal(gw_ghost_count(&app, NULL), 3);
    gw_ghosts_worker_gone(&app, &a, 1); /* a next worker is expected: kept */
    assert_int_equal(gw_ghost_count(&app, NULL), 3);
    gw_ghosts_worker_gone(&app, &a, 0); /* none will come: /a's go, /b's stay */
    assert_int_equal(gw_ghost_count(&app, NULL), 1);
    assert_int_equal(gw_ghost_count(&app, &b), 1);
    gw_ghosts_free_all(&app);
    assert_null(app.ghosts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tomb_exact_names),
        cmocka_unit_test(tomb_ring_forgets_oldest),
        cmocka_unit_test(ghosts_forgotten_when_no_worker_comes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
