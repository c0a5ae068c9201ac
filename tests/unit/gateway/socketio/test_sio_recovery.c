/* test_sio_recovery.c — the pure bounded log of connection state recovery
 * (sio_recovery.h): offsets, what a reconnecting client gets after its
 * offset, and every bound — per socket (count, bytes), in total, and age —
 * while the socket is connected (oldest trimmed) and while it is detached
 * (the log breaks: the session is no longer recoverable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sio_recovery.h"

static int n_freed;
static void free_payload(void *p)
{
    n_freed++;
    free(p);
}

static void *item(int v)
{
    int *p = malloc(sizeof *p);
    *p = v;
    return p;
}

static rec_limits lim(size_t msgs, size_t bytes, size_t total, double window)
{
    rec_limits l = {msgs, bytes, total, window};
    return l;
}

/* The offsets replayed after `off`, as a count and their values in out. */
static int after(const rec_log *l, uint64_t off, uint64_t *out, size_t *n)
{
    rec_item *it;
    *n = 0;
    if (rec_log_after(l, off, &it) < 0) return -1;
    for (; it; it = it->next)
        out[(*n)++] = it->off;
    return 0;
}

static void test_offsets(void **state)
{
    (void)state;
    char s[17];
    uint64_t v;
    rec_off_format(0x3866d4350003ull, s);
    assert_string_equal(s, "3866d4350003");
    assert_int_equal(rec_off_parse(s, strlen(s), &v), 0);
    assert_true(v == 0x3866d4350003ull);
    rec_off_format(UINT64_MAX, s);
    assert_int_equal(rec_off_parse(s, strlen(s), &v), 0);
    assert_true(v == UINT64_MAX);
    /* only what format produces */
    const char *bad[] = {"",   "0",  "01", "3866D4350003", "12345678901234567",
                         "zz", "1 ", "-1", "0x1f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(rec_off_parse(bad[i], strlen(bad[i]), &v), -1);
}

static void test_after(void **state)
{
    (void)state;
    rec_log l = {.free_payload = free_payload};
    rec_budget b = {0};
    rec_limits L = lim(100, 1 << 20, 0, 60000);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(rec_log_append(&l, &b, &L, 10 + i, 0, 10, item(i), 0), 0);
    uint64_t out[8];
    size_t n;
    assert_int_equal(after(&l, 13, out, &n), 0);
    assert_int_equal(n, 2);
    assert_true(out[0] == 14 && out[1] == 15);
    assert_int_equal(after(&l, 15, out, &n), 0); /* saw everything */
    assert_int_equal(n, 0);
    assert_int_equal(after(&l, 11, out, &n), 0);
    assert_int_equal(n, 4);
    /* unknown offsets: forged, another socket's, never sent */
    assert_int_equal(after(&l, 99, out, &n), -1);
    assert_int_equal(after(&l, 0, out, &n), -1);
    assert_int_equal(b.bytes, 50);
    n_freed = 0;
    rec_log_clear(&l, &b);
    assert_int_equal(n_freed, 5);
    assert_int_equal(b.bytes, 0);
    assert_null(l.head);
}

static void test_connected_trims_oldest(void **state)
{
    (void)state;
    rec_log l = {.free_payload = free_payload};
    rec_budget b = {0};
    rec_limits L = lim(3, 1 << 20, 0, 60000);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(rec_log_append(&l, &b, &L, i, 0, 1, item(i), 0), 0);
    assert_int_equal(l.n, 3);
    uint64_t out[8];
    size_t n;
    /* the last trimmed one still works as an offset: nothing after it is gone */
    assert_int_equal(after(&l, 2, out, &n), 0);
    assert_int_equal(n, 3);
    assert_true(out[0] == 3);
    /* an older one does not: packets after it were trimmed */
    assert_int_equal(after(&l, 1, out, &n), -1);
    /* bytes bound */
    rec_limits LB = lim(100, 25, 0, 60000);
    rec_log_clear(&l, &b);
    for (int i = 1; i <= 4; i++)
        assert_int_equal(rec_log_append(&l, &b, &LB, 10 + i, 0, 10, item(i), 0), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.bytes, 20);
    rec_log_clear(&l, &b);
}

static void test_detached_breaks(void **state)
{
    (void)state;
    rec_log l = {.free_payload = free_payload};
    rec_budget b = {0};
    rec_limits L = lim(3, 1 << 20, 0, 60000);
    assert_int_equal(rec_log_append(&l, &b, &L, 1, 0, 1, item(1), 0), 0);
    assert_int_equal(rec_log_append(&l, &b, &L, 2, 0, 1, item(2), 1), 0);
    assert_int_equal(rec_log_append(&l, &b, &L, 3, 0, 1, item(3), 1), 0);
    n_freed = 0;
    assert_int_equal(rec_log_append(&l, &b, &L, 4, 0, 1, item(4), 1), -1);
    assert_true(l.broken);
    assert_int_equal(n_freed, 4); /* everything released at once */
    assert_int_equal(b.bytes, 0);
    uint64_t out[8];
    size_t n;
    assert_int_equal(after(&l, 1, out, &n), -1);
    assert_int_equal(after(&l, 3, out, &n), -1);
    /* a broken log takes nothing more (and frees what it is given) */
    assert_int_equal(rec_log_append(&l, &b, &L, 5, 0, 1, item(5), 1), -1);
    assert_int_equal(n_freed, 5);
}

static void test_total_budget(void **state)
{
    (void)state;
    rec_log a = {.free_payload = free_payload}, c = {.free_payload = free_payload};
    rec_budget b = {0};
    rec_limits L = lim(100, 1000, 50, 60000);
    for (int i = 1; i <= 4; i++)
        assert_int_equal(rec_log_append(&a, &b, &L, i, 0, 10, item(i), 0), 0);
    assert_int_equal(b.bytes, 40);
    /* c connected: over the total it trims its own oldest — here its only
     * one, the packet just sent, which its client most likely has: that
     * offset stays usable (nothing after it), older ones do not. */
    assert_int_equal(rec_log_append(&c, &b, &L, 100, 0, 20, item(0), 0), 0);
    assert_false(c.broken);
    assert_null(c.head);
    assert_int_equal(b.bytes, 40);
    uint64_t out[8];
    size_t n;
    assert_int_equal(after(&c, 100, out, &n), 0);
    assert_int_equal(n, 0);
    /* a connected socket over the total trims its own front */
    assert_int_equal(rec_log_append(&a, &b, &L, 5, 0, 10, item(5), 0), 0);
    assert_int_equal(rec_log_append(&a, &b, &L, 6, 0, 10, item(6), 0), 0);
    assert_true(b.bytes <= 50);
    assert_true(a.head->off >= 2);
    /* a detached one past the total breaks */
    assert_int_equal(rec_log_append(&a, &b, &L, 7, 0, 10, item(7), 1), -1);
    assert_int_equal(b.bytes, 0);
}

static void test_age(void **state)
{
    (void)state;
    rec_log l = {.free_payload = free_payload};
    rec_budget b = {0};
    rec_limits L = lim(100, 1000, 0, 1000);
    assert_int_equal(rec_log_append(&l, &b, &L, 1, 0, 1, item(1), 0), 0);
    assert_int_equal(rec_log_append(&l, &b, &L, 2, 500, 1, item(2), 0), 0);
    assert_int_equal(rec_log_append(&l, &b, &L, 3, 1200, 1, item(3), 1), 0);
    assert_int_equal(l.n, 2); /* 1 is older than the window */
    rec_log_expire(&l, &b, &L, 1600);
    assert_int_equal(l.n, 1);
    uint64_t out[8];
    size_t n;
    assert_int_equal(after(&l, 2, out, &n), 0); /* the base */
    assert_int_equal(n, 1);
    assert_int_equal(after(&l, 1, out, &n), -1);
    rec_log_clear(&l, &b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_after),
        cmocka_unit_test(test_connected_trims_oldest),
        cmocka_unit_test(test_detached_breaks),
        cmocka_unit_test(test_total_budget),
        cmocka_unit_test(test_age),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
