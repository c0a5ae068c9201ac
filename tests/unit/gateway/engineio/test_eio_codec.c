/* test_eio_codec.c — Engine.IO packets, polling payloads (split at every
 * byte), base64, UTF-8, eio_msg framing, random ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "b64.h"
#include "eio_codec.h"
#include "utf8.h"
#include "util.h"

/* --- collected packets --------------------------------------------------- */
typedef struct {
    int n;
    int type[16], binary[16];
    char data[16][64];
    size_t len[16];
    int stop_after; /* return 1 after this many, 0 = never */
} got_t;

static int collect(void *ud, int type, const char *data, size_t len, int binary)
{
    got_t *g = ud;
    assert_true(g->n < 16 && len < 64);
    g->type[g->n] = type;
    g->binary[g->n] = binary;
    memcpy(g->data[g->n], data, len);
    g->len[g->n] = len;
    g->n++;
    return g->stop_after && g->n >= g->stop_after ? 1 : 0;
}

static int decode_split(const char *body, size_t blen, size_t *cuts, int ncuts, got_t *g)
{
    eio_payload_dec d;
    memset(g, 0, sizeof *g);
    eio_payload_init(&d, collect, g);
    size_t at = 0;
    int r = 0;
    for (int i = 0; i <= ncuts && !r; i++) {
        size_t end = i < ncuts ? cuts[i] : blen;
        r = eio_payload_feed(&d, body + at, end - at);
        at = end;
    }
    if (!r) r = eio_payload_finish(&d);
    eio_payload_free(&d);
    return r;
}

/* PITFALLS 1 + 2: "\x1e" separators, split anywhere (inside UTF-8 and base64),
 * and a `b` packet whose base64 starts with '4' is still binary. */
static const char body1[] = "4h\xc3\xa9llo \xe2\x82\xac\x1e"
                            "b4QID\x1e"
                            "3\x1e"
                            "4\xf0\x9f\x98\x80\x1e"
                            "4";

static void check_body1(got_t *g)
{
    assert_int_equal(g->n, 5);
    assert_int_equal(g->type[0], EIO_PKT_MESSAGE);
    assert_int_equal(g->binary[0], 0);
    assert_int_equal(g->len[0], strlen("h\xc3\xa9llo \xe2\x82\xac"));
    assert_memory_equal(g->data[0], "h\xc3\xa9llo \xe2\x82\xac", g->len[0]);
    assert_int_equal(g->type[1], EIO_PKT_MESSAGE);
    assert_int_equal(g->binary[1], 1);
    assert_int_equal(g->len[1], 3);
    assert_memory_equal(g->data[1], "\xe1\x02\x03", 3);
    assert_int_equal(g->type[2], EIO_PKT_PONG);
    assert_int_equal(g->len[2], 0);
    assert_int_equal(g->len[3], 4);
    assert_memory_equal(g->data[3], "\xf0\x9f\x98\x80", 4);
    assert_int_equal(g->type[4], EIO_PKT_MESSAGE);
    assert_int_equal(g->len[4], 0);
}

static void test_pitfall1_payload_split_every_byte(void **st)
{
    size_t blen = sizeof body1 - 1;
    got_t g;
    assert_int_equal(decode_split(body1, blen, NULL, 0, &g), 0);
    check_body1(&g);
    for (size_t i = 0; i <= blen; i++) {
        size_t cut[1] = {i};
        assert_int_equal(decode_split(body1, blen, cut, 1, &g), 0);
        check_body1(&g);
        for (size_t j = i; j <= blen; j++) {
            size_t cuts[2] = {i, j};
            assert_int_equal(decode_split(body1, blen, cuts, 2, &g), 0);
            check_body1(&g);
        }
    }
    /* one byte at a time */
    size_t cuts[sizeof body1];
    for (size_t i = 0; i < blen; i++)
        cuts[i] = i + 1;
    assert_int_equal(decode_split(body1, blen, cuts, (int)blen - 1, &g), 0);
    check_body1(&g);
}

static void test_pitfall8_payload_invalid(void **st)
{
    got_t g;
    static const char *bad[] = {"abc",
                                "",
                                "7x",
                                ("4a\x1e\x1e"
                                 "4b"),
                                "bA",
                                "b====",
                                "b!!!!",
                                "4\xff",
                                "4\xc3",
                                "4\xed\xa0\x80",
                                "4a\x1e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]);
        assert_int_equal(decode_split(bad[i], len, NULL, 0, &g), -1);
        for (size_t c = 0; c <= len; c++) { /* same verdict whatever the split */
            size_t cut[1] = {c};
            assert_int_equal(decode_split(bad[i], len, cut, 1, &g), -1);
        }
    }
    /* packets before the bad one were delivered */
    assert_int_equal(decode_split("4a\x1e"
                                  "x",
                                  4, NULL, 0, &g),
                     -1);
    assert_int_equal(g.n, 1);
}

static void test_payload_stop(void **st)
{
    got_t g;
    eio_payload_dec d;
    memset(&g, 0, sizeof g);
    g.stop_after = 1;
    eio_payload_init(&d, collect, &g);
    assert_int_equal(eio_payload_feed(&d,
                                      "1\x1e"
                                      "4x\x1e",
                                      5),
                     1);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.type[0], EIO_PKT_CLOSE);
    /* reset makes the decoder reusable */
    eio_payload_reset(&d);
    g.stop_after = 0;
    assert_int_equal(eio_payload_feed(&d, "4y", 2), 0);
    assert_int_equal(eio_payload_finish(&d), 0);
    assert_int_equal(g.n, 2);
    eio_payload_free(&d);
}

static void test_packet_decode(void **st)
{
    int t;
    const char *d;
    size_t l;
    assert_int_equal(eio_packet_decode("4hello", 6, &t, &d, &l), 0);
    assert_int_equal(t, 4);
    assert_int_equal(l, 5);
    assert_memory_equal(d, "hello", 5);
    assert_int_equal(eio_packet_decode("2probe", 6, &t, &d, &l), 0);
    assert_int_equal(t, 2);
    assert_int_equal(eio_packet_decode("6", 1, &t, &d, &l), 0);
    assert_int_equal(t, 6);
    assert_int_equal(l, 0);
    assert_int_equal(eio_packet_decode("", 0, &t, &d, &l), -1);
    assert_int_equal(eio_packet_decode("7", 1, &t, &d, &l), -1);
    assert_int_equal(eio_packet_decode("abc", 3, &t, &d, &l), -1);
}

static void test_utf8(void **st)
{
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("abc", 3));
    assert_true(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_true(utf8_valid("\xf4\x8f\xbf\xbf", 4));
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(utf8_valid("\x80", 1));
    assert_false(utf8_valid("\xff", 1));
}

static void test_base64(void **st)
{
    static const struct {
        const char *raw;
        size_t n;
        const char *b64;
    } v[] = {{"", 0, ""},
             {"f", 1, "Zg=="},
             {"fo", 2, "Zm8="},
             {"foo", 3, "Zm9v"},
             {"foob", 4, "Zm9vYg=="},
             {"\xe1\x02\x03", 3, "4QID"},
             {"\x00\xff\xfe", 3, "AP/+"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[32];
        unsigned char dec[32];
        assert_int_equal(b64_encode(v[i].raw, v[i].n, out), strlen(v[i].b64));
        assert_string_equal(out, v[i].b64);
        assert_int_equal(b64_len(v[i].n), strlen(v[i].b64));
        long r = b64_decode(v[i].b64, strlen(v[i].b64), dec);
        assert_int_equal(r, (long)v[i].n);
        assert_memory_equal(dec, v[i].raw, v[i].n);
    }
    unsigned char dec[32];
    /* padding may be omitted; EVP's zero-padding bytes must not leak into the length */
    assert_int_equal(b64_decode("Zg", 2, dec), 1);
    assert_int_equal(dec[0], 'f');
    assert_int_equal(b64_decode("Zm8", 3, dec), 2);
    assert_int_equal(b64_decode("Zm9vYg", 6, dec), 4);
    /* invalid */
    assert_int_equal(b64_decode("Z", 1, dec), -1);
    assert_int_equal(b64_decode("Zg=", 3, dec), -1);
    assert_int_equal(b64_decode("Z===", 4, dec), -1);
    assert_int_equal(b64_decode("Zg==Zg==", 8, dec), -1);
    assert_int_equal(b64_decode(" Zg=", 4, dec), -1);
    assert_int_equal(b64_decode("Zm9v\n", 5, dec), -1);
    assert_int_equal(b64_decode("Zm-_", 4, dec), -1);
}

static void test_msg_framing(void **st)
{
    size_t sizes[] = {0, 5, 124, 125, 126, 65534, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int bin = 0; bin <= 1; bin++) {
            size_t n = sizes[i];
            eio_msg *m = eio_msg_new(bin, n);
            memset(eio_msg_data(m), 'x', n);
            size_t fl;
            const unsigned char *f = (const unsigned char *)eio_msg_ws_frame(m, &fl);
            size_t plen = n + (bin ? 0 : 1);
            size_t hl = plen < 126 ? 2 : plen < 65536 ? 4 : 10;
            assert_int_equal(fl, hl + plen);
            assert_int_equal(f[0], 0x80 | (bin ? 2 : 1));
            if (hl == 2) assert_int_equal(f[1], plen);
            if (hl == 4) {
                assert_int_equal(f[1], 126);
                assert_int_equal((f[2] << 8) | f[3], plen);
            }
            if (hl == 10) assert_int_equal(f[1], 127);
            if (!bin) assert_int_equal(f[hl], '4');
            /* framed once: same pointer again */
            size_t fl2;
            assert_ptr_equal(eio_msg_ws_frame(m, &fl2), (const char *)f);
            eio_msg_unref(&m);
            assert_null(m);
        }
    }
    eio_msg *t = eio_msg_copy(0, "hi", 2);
    size_t l;
    const char *p = eio_msg_polling(t, &l);
    assert_int_equal(l, 3);
    assert_memory_equal(p, "4hi", 3);
    eio_msg *r = eio_msg_ref(t);
    eio_msg_unref(&t);
    assert_string_equal(eio_msg_data(r), "hi");
    eio_msg_unref(&r);
    eio_msg *b = eio_msg_copy(1, "\xe1\x02\x03", 3);
    p = eio_msg_polling(b, &l);
    assert_int_equal(l, 5);
    assert_memory_equal(p, "b4QID", 5);
    assert_int_equal(eio_msg_binary(b), 1);
    eio_msg_unref(&b);
}

static void test_random_id(void **st)
{
    enum { N = 2000 };
    static char ids[N][GW_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        gw_random_id(ids[i]);
        assert_int_equal(strlen(ids[i]), 20);
        for (int k = 0; k < 20; k++) {
            char c = ids[i][k];
            assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_');
        }
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
}

static void test_close_reason_strings(void **st)
{
    assert_string_equal(eio_close_reason_str(EIO_CLOSE_TRANSPORT_CLOSE), "transport close");
    assert_string_equal(eio_close_reason_str(EIO_CLOSE_TRANSPORT_ERROR), "transport error");
    assert_string_equal(eio_close_reason_str(EIO_CLOSE_PARSE_ERROR), "parse error");
    assert_string_equal(eio_close_reason_str(EIO_CLOSE_FORCED), "forced close");
    assert_string_equal(eio_close_reason_str(EIO_CLOSE_PING_TIMEOUT), "ping timeout");
    assert_string_equal(eio_close_reason_str(EIO_CLOSE_SHUTDOWN), "server shutting down");
    assert_string_equal(eio_close_reason_str(EIO_CLOSE_FORCED_SERVER), "forced server close");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pitfall1_payload_split_every_byte),
        cmocka_unit_test(test_pitfall8_payload_invalid),
        cmocka_unit_test(test_payload_stop),
        cmocka_unit_test(test_packet_decode),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_msg_framing),
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_close_reason_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
