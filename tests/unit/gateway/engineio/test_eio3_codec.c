/* test_eio3_codec.c — Engine.IO v3 framing (--allow-eio3): the
 * length-prefixed text payload (lengths in UTF-16 code units), the binary
 * payload, v3 packets (`b4` base64, the 0x04 binary type byte), each
 * payload split at every byte boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_codec.h"

typedef struct {
    int n;
    int type[16], binary[16];
    char data[16][64];
    size_t len[16];
    int stop_after;
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

static int decode_split(int binary_body, const char *body, size_t blen, const size_t *cuts,
                        int ncuts, got_t *g)
{
    eio3_payload_dec d;
    memset(g, 0, sizeof *g);
    eio3_payload_init(&d, collect, g);
    eio3_payload_reset(&d, binary_body);
    size_t at = 0;
    int r = 0;
    for (int i = 0; i <= ncuts && !r; i++) {
        size_t end = i < ncuts ? cuts[i] : blen;
        r = eio3_payload_feed(&d, body + at, end - at);
        at = end;
    }
    if (!r) r = eio3_payload_finish(&d);
    eio3_payload_free(&d);
    return r;
}

/* Every split in one and two places, and byte by byte: same packets. */
static void check_splits(int binary_body, const char *body, size_t blen, void (*check)(got_t *))
{
    got_t g;
    assert_int_equal(decode_split(binary_body, body, blen, NULL, 0, &g), 0);
    check(&g);
    for (size_t i = 0; i <= blen; i++) {
        size_t cut[1] = {i};
        assert_int_equal(decode_split(binary_body, body, blen, cut, 1, &g), 0);
        check(&g);
        for (size_t j = i; j <= blen; j++) {
            size_t cuts[2] = {i, j};
            assert_int_equal(decode_split(binary_body, body, blen, cuts, 2, &g), 0);
            check(&g);
        }
    }
    size_t *cuts = calloc(blen + 1, sizeof *cuts);
    for (size_t i = 0; i < blen; i++)
        cuts[i] = i + 1;
    assert_int_equal(decode_split(binary_body, body, blen, cuts, (int)blen - 1, &g), 0);
    check(&g);
    free(cuts);
}

/* "é" is 1 unit (2 bytes), "€" 1 unit (3 bytes), "😀" 2 units (4 bytes):
 * the lengths are what JavaScript's String.length says. */
static const char text1[] = "8:4h\xc3\xa9llo \xe2\x82\xac"
                            "6:b4AQID"
                            "1:2"
                            "0:"
                            "3:4\xf0\x9f\x98\x80"
                            "1:4";

static void check_text1(got_t *g)
{
    assert_int_equal(g->n, 5);
    assert_int_equal(g->type[0], EIO_PKT_MESSAGE);
    assert_int_equal(g->binary[0], 0);
    assert_int_equal(g->len[0], strlen("h\xc3\xa9llo \xe2\x82\xac"));
    assert_memory_equal(g->data[0], "h\xc3\xa9llo \xe2\x82\xac", g->len[0]);
    assert_int_equal(g->type[1], EIO_PKT_MESSAGE);
    assert_int_equal(g->binary[1], 1);
    assert_int_equal(g->len[1], 3);
    assert_memory_equal(g->data[1], "\x01\x02\x03", 3);
    assert_int_equal(g->type[2], EIO_PKT_PING);
    assert_int_equal(g->len[2], 0);
    assert_int_equal(g->type[3], EIO_PKT_MESSAGE);
    assert_int_equal(g->len[3], 4);
    assert_memory_equal(g->data[3], "\xf0\x9f\x98\x80", 4);
    assert_int_equal(g->type[4], EIO_PKT_MESSAGE);
    assert_int_equal(g->len[4], 0);
}

static void test_text_payload_split_every_byte(void **st)
{
    check_splits(0, text1, sizeof text1 - 1, check_text1);
}

/* The binary payload: a text record (0, UTF-8 bytes) and a binary one (1,
 * type byte 4 + data), lengths as digit bytes, 0xff after them. */
static const char bin1[] = "\x00\x03\xff"
                           "4\xc3\xa9"
                           "\x01\x04\xff"
                           "\x04\x00\xff\x09"
                           "\x00\x01\xff"
                           "2"
                           "\x01\x01\x00\xff"
                           "\x04"
                           "123456789";

static void check_bin1(got_t *g)
{
    assert_int_equal(g->n, 4);
    assert_int_equal(g->type[0], EIO_PKT_MESSAGE);
    assert_int_equal(g->binary[0], 0);
    assert_int_equal(g->len[0], 2);
    assert_memory_equal(g->data[0], "\xc3\xa9", 2);
    assert_int_equal(g->type[1], EIO_PKT_MESSAGE);
    assert_int_equal(g->binary[1], 1);
    assert_int_equal(g->len[1], 3);
    assert_memory_equal(g->data[1], "\x00\xff\x09", 3);
    assert_int_equal(g->type[2], EIO_PKT_PING);
    assert_int_equal(g->binary[3], 1);
    assert_int_equal(g->len[3], 9);
    assert_memory_equal(g->data[3], "123456789", 9);
}

static void test_binary_payload_split_every_byte(void **st)
{
    /* the last record is 10 bytes long: "\x01\x01\x00\xff" */
    check_splits(1, bin1, sizeof bin1 - 1, check_bin1);
}

static void test_invalid(void **st)
{
    got_t g;
    /* text: a length in bytes where UTF-16 units were due, a length that
     * ends inside a surrogate pair, junk, truncation, empty body, … */
    static const char *bad[] = {"",
                                "3:4\xc3\xa9",
                                "1:4\xf0\x9f\x98\x80",
                                "2:4\xf0\x9f\x98\x80",
                                ":",
                                "x:2",
                                "1:x",
                                "2:2",
                                "1:2 ",
                                "01234567890:4",
                                "1:",
                                "3:b4%",
                                "3:b2A",
                                "2:b4=",
                                "2:4\xff",
                                "2:4\xed\xa0\x80",
                                "-1:2",
                                "1:2:",
                                "2:4\x80",
                                "1:\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]);
        assert_int_equal(decode_split(0, bad[i], len, NULL, 0, &g), -1);
        for (size_t c = 0; c <= len; c++) {
            size_t cut[1] = {c};
            assert_int_equal(decode_split(0, bad[i], len, cut, 1, &g), -1);
        }
    }
    /* packets before the bad one were delivered */
    assert_int_equal(decode_split(0, "1:2x", 4, NULL, 0, &g), -1);
    assert_int_equal(g.n, 1);
    /* binary: kind byte past 1, no digits, an empty record, truncated, a
     * binary record that is not a message, a digit byte past 9 */
    static const struct {
        const char *p;
        size_t n;
    } badb[] = {{"\x02\x01\xff"
                 "2",
                 4},
                {"\x00\xff", 2},
                {"\x00\x00\xff", 3},
                {"\x00\x02\xff"
                 "4",
                 4},
                {"\x01\x01\xff\x02", 4},
                {"\x00\x0a\xff", 3},
                {"", 0},
                {"\x00\x01\xff"
                 "x",
                 4},
                {"\x00\x02\xff"
                 "4\xff",
                 5}};
    for (size_t i = 0; i < sizeof badb / sizeof badb[0]; i++) {
        assert_int_equal(decode_split(1, badb[i].p, badb[i].n, NULL, 0, &g), -1);
        for (size_t c = 0; c <= badb[i].n; c++) {
            size_t cut[1] = {c};
            assert_int_equal(decode_split(1, badb[i].p, badb[i].n, cut, 1, &g), -1);
        }
    }
}

static void test_stop_and_reset(void **st)
{
    got_t g;
    eio3_payload_dec d;
    memset(&g, 0, sizeof g);
    g.stop_after = 1;
    eio3_payload_init(&d, collect, &g);
    eio3_payload_reset(&d, 0);
    assert_int_equal(eio3_payload_feed(&d, "1:12:4x", 7), 1);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.type[0], EIO_PKT_CLOSE);
    eio3_payload_reset(&d, 1); /* reusable, now for a binary body */
    g.stop_after = 0;
    assert_int_equal(eio3_payload_feed(&d,
                                       "\x00\x02\xff"
                                       "4y",
                                       5),
                     0);
    assert_int_equal(eio3_payload_finish(&d), 0);
    assert_int_equal(g.n, 2);
    assert_memory_equal(g.data[1], "y", 1);
    eio3_payload_free(&d);
}

static void test_packet_decode(void **st)
{
    int type, binary;
    const char *data;
    size_t dlen, cap = 0;
    unsigned char *scratch = NULL;
    /* a WebSocket binary frame: the 0x04 type byte, then the data */
    assert_int_equal(
        eio3_packet_decode(1, "\x04\x00\x01", 3, &type, &data, &dlen, &binary, &scratch, &cap), 0);
    assert_int_equal(type, EIO_PKT_MESSAGE);
    assert_int_equal(binary, 1);
    assert_int_equal(dlen, 2);
    assert_memory_equal(data, "\x00\x01", 2);
    assert_int_equal(eio3_packet_decode(1, "\x04", 1, &type, &data, &dlen, &binary, &scratch, &cap),
                     0);
    assert_int_equal(dlen, 0);
    assert_int_equal(eio3_packet_decode(1, "", 0, &type, &data, &dlen, &binary, &scratch, &cap),
                     -1);
    assert_int_equal(eio3_packet_decode(1, "4ab", 3, &type, &data, &dlen, &binary, &scratch, &cap),
                     -1);
    assert_int_equal(eio3_packet_decode(1, "\x02", 1, &type, &data, &dlen, &binary, &scratch, &cap),
                     -1);
    /* text: as v4, plus `b4` base64 */
    assert_int_equal(
        eio3_packet_decode(0, "2probe", 6, &type, &data, &dlen, &binary, &scratch, &cap), 0);
    assert_int_equal(type, EIO_PKT_PING);
    assert_int_equal(binary, 0);
    assert_memory_equal(data, "probe", 5);
    assert_int_equal(
        eio3_packet_decode(0, "b4AQID", 6, &type, &data, &dlen, &binary, &scratch, &cap), 0);
    assert_int_equal(binary, 1);
    assert_int_equal(dlen, 3);
    assert_memory_equal(data, "\x01\x02\x03", 3);
    assert_int_equal(eio3_packet_decode(0, "b4", 2, &type, &data, &dlen, &binary, &scratch, &cap),
                     0);
    assert_int_equal(dlen, 0);
    assert_int_equal(eio3_packet_decode(0, "b", 1, &type, &data, &dlen, &binary, &scratch, &cap),
                     -1);
    assert_int_equal(
        eio3_packet_decode(0, "bAQID", 5, &type, &data, &dlen, &binary, &scratch, &cap), -1);
    assert_int_equal(eio3_packet_decode(0, "7", 1, &type, &data, &dlen, &binary, &scratch, &cap),
                     -1);
    assert_int_equal(
        eio3_packet_decode(0, "4\xc3", 2, &type, &data, &dlen, &binary, &scratch, &cap), -1);
    free(scratch);
}

static void test_prefixes_and_utf16(void **st)
{
    char t[24];
    unsigned char b[24];
    assert_int_equal(eio3_text_prefix(t, 0), 2);
    assert_memory_equal(t, "0:", 2);
    assert_int_equal(eio3_text_prefix(t, 1234567), 8);
    assert_memory_equal(t, "1234567:", 8);
    assert_int_equal(eio3_bin_prefix(b, 0, 1), 3);
    assert_memory_equal(b, "\x00\x01\xff", 3);
    assert_int_equal(eio3_bin_prefix(b, 1, 205), 5);
    assert_memory_equal(b, "\x01\x02\x00\x05\xff", 5);
    assert_int_equal(eio_utf16_len("", 0), 0);
    assert_int_equal(eio_utf16_len("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_payload_split_every_byte),
        cmocka_unit_test(test_binary_payload_split_every_byte),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_stop_and_reset),
        cmocka_unit_test(test_packet_decode),
        cmocka_unit_test(test_prefixes_and_utf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
