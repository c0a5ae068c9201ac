/* test_base_layers.c — the one-of-each helpers moved down to base/ by
 * issue 11: the growth policy and gw_buf (buf.h), the percent-decoder
 * (pct.h), UTF-8 (utf8.h) and base64 (b64.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "pct.h"
#include "utf8.h"

static void test_grow(void **st)
{
    (void)st;
    int *a = NULL;
    size_t cap = 0;
    for (int i = 0; i < 1000; i++) {
        size_t before = cap;
        a = gw_grow(a, &cap, (size_t)i + 1, sizeof *a);
        assert_true(cap >= (size_t)i + 1);
        if (cap != before) assert_true(cap >= 2 * ((size_t)i + 1)); /* doubles what is needed */
        a[i] = i;
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal(a[i], i);
    assert_true(cap * sizeof *a >= 256);
    free(a);
    char *p = NULL;
    cap = 0;
    p = gw_grow(p, &cap, 0, 1); /* nothing needed: nothing allocated */
    assert_null(p);
    assert_int_equal(cap, 0);
}

static void test_buf(void **st)
{
    (void)st;
    gw_buf b = {0};
    gw_buf_put(&b, "", 0);
    assert_string_equal(b.p, "");
    for (int i = 0; i < 100; i++)
        gw_buf_str(&b, "abc");
    gw_buf_put(&b, "de\0f", 4);
    assert_int_equal(b.len, 304);
    assert_memory_equal(b.p + 297, "abcde\0f", 7);
    assert_int_equal(b.p[b.len], '\0');
    gw_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void test_pct(void **st)
{
    (void)st;
    char out[16];
    assert_int_equal(pct_decode("a%20b+c", 7, out, sizeof out, 0), 5);
    assert_string_equal(out, "a b+c");
    assert_int_equal(pct_decode("a%20b+c", 7, out, sizeof out, PCT_PLUS), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(pct_decode("%e2%82%AC", 9, out, sizeof out, 0), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    /* malformed: strict fails, lenient keeps the bytes */
    assert_int_equal(pct_decode("x%2", 3, out, sizeof out, 0), -1);
    assert_int_equal(pct_decode("x%zz", 4, out, sizeof out, 0), -1);
    assert_int_equal(pct_decode("x%2", 3, out, sizeof out, PCT_LENIENT), 3);
    assert_string_equal(out, "x%2");
    assert_int_equal(pct_decode("%zz%41", 6, out, sizeof out, PCT_LENIENT), 4);
    assert_string_equal(out, "%zzA");
    /* too long for out */
    assert_int_equal(pct_decode("abcd", 4, out, 4, 0), -1);
    assert_int_equal(pct_decode("abc", 3, out, 4, 0), 3);
    assert_int_equal(pct_decode("", 0, out, 0, 0), -1);
}

static void test_utf8_nul_and_bounds(void **st)
{
    (void)st;
    assert_true(utf8_valid(NULL, 0));
    assert_true(utf8_valid("a\0b", 3)); /* NUL is UTF-8; callers refusing it say so */
    assert_true(utf8_valid("\xf4\x8f\xbf\xbf", 4));
    assert_false(utf8_valid("\xf0\x8f\xbf\xbf", 4)); /* overlong 4-byte */
    assert_false(utf8_valid("\xed\xbf\xbf", 3));     /* low surrogate */
    assert_false(utf8_valid("\xf8\x88\x80\x80\x80", 5));
}

static void test_b64_roundtrip(void **st)
{
    (void)st;
    unsigned char raw[256], dec[260];
    char enc[400];
    for (int i = 0; i < 256; i++)
        raw[i] = (unsigned char)i;
    for (size_t n = 0; n <= 256; n += 17) {
        size_t el = b64_encode(raw, n, enc);
        assert_int_equal(el, b64_len(n));
        assert_int_equal(b64_decode(enc, el, dec), (long)n);
        assert_memory_equal(dec, raw, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow),          cmocka_unit_test(test_buf),
        cmocka_unit_test(test_pct),           cmocka_unit_test(test_utf8_nul_and_bounds),
        cmocka_unit_test(test_b64_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
