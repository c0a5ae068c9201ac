/* test_sio_codec.c — unit tests of the Socket.IO v5 packet codec
 * (gateway/socketio/sio_codec.c).  Valid forms first, then every invalid form named
 * after the PITFALLS.md item it covers, then round trips through
 * sio_encode_head(), then hostile sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sio_codec.h"

static const sio_limits defaults = {SIO_MAX_ATTACHMENTS_DEFAULT, SIO_MAX_DEPTH_DEFAULT};

/* Decode a C string that must be valid; the caller clears the packet. */
static void ok(const char *s, sio_packet *p)
{
    const char *why = NULL;
    int rc = sio_decode(s, strlen(s), &defaults, p, &why);
    if (rc != 0) fail_msg("expected valid: %s (refused: %s)", s, why ? why : "?");
}

/* Decode a buffer that must be refused, with a reason, leaving a clear packet. */
static void bad_buf(const char *s, size_t len, const sio_limits *lim)
{
    sio_packet p;
    const char *why = NULL;
    int rc = sio_decode(s, len, lim, &p, &why);
    if (rc != -1) {
        sio_packet_clear(&p);
        fail_msg("expected refusal: %.*s", (int)(len > 200 ? 200 : len), s);
    }
    assert_non_null(why);
    assert_null(p.json);
}
static void bad(const char *s)
{
    bad_buf(s, strlen(s), &defaults);
}

static void assert_nsp(const sio_packet *p, const char *nsp)
{
    assert_int_equal(p->nsp_len, strlen(nsp));
    assert_memory_equal(p->nsp, nsp, p->nsp_len);
}

static void assert_data(const sio_packet *p, const char *data)
{
    assert_int_equal(p->data_len, strlen(data));
    assert_memory_equal(p->data, data, p->data_len);
    /* Only a CONNECT's auth becomes a tree; other data stays bytes. */
    if (p->type == SIO_CONNECT)
        assert_non_null(p->json);
    else
        assert_null(p->json);
}

/* ---- valid forms ------------------------------------------------------ */

static void connect_main_without_auth(void **st)
{
    sio_packet p;
    ok("0", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_nsp(&p, "/");
    assert_int_equal(p.id, -1);
    assert_null(p.data);
    assert_int_equal(p.data_len, 0);
    assert_null(p.json);
    assert_int_equal(p.attachments, 0);
    sio_packet_clear(&p);
}

static void connect_main_with_auth(void **st)
{
    sio_packet p;
    ok("0{\"token\":\"abc\"}", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_nsp(&p, "/");
    assert_data(&p, "{\"token\":\"abc\"}");
    assert_true(json_is_object(p.json));
    assert_string_equal(json_string_value(json_object_get(p.json, "token")), "abc");
    sio_packet_clear(&p);
}

static void connect_custom_nsp_without_auth(void **st)
{
    sio_packet p;
    ok("0/admin,", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_nsp(&p, "/admin");
    assert_null(p.json);
    sio_packet_clear(&p);
}

static void connect_custom_nsp_with_auth(void **st)
{
    sio_packet p;
    ok("0/admin,{\"pid\":\"x\",\"offset\":\"y\"}", &p);
    assert_nsp(&p, "/admin");
    assert_true(json_is_object(p.json));
    sio_packet_clear(&p);
}

/* The reference decoder reads the namespace up to ',' or the end. */
static void connect_custom_nsp_without_comma(void **st)
{
    sio_packet p;
    ok("0/admin", &p);
    assert_nsp(&p, "/admin");
    assert_null(p.data);
    sio_packet_clear(&p);
}

static void connect_explicit_root_nsp(void **st)
{
    sio_packet p;
    ok("0/,", &p);
    assert_nsp(&p, "/");
    sio_packet_clear(&p);
}

static void disconnect_main_and_custom(void **st)
{
    sio_packet p;
    ok("1", &p);
    assert_int_equal(p.type, SIO_DISCONNECT);
    assert_nsp(&p, "/");
    sio_packet_clear(&p);
    ok("1/chat,", &p);
    assert_int_equal(p.type, SIO_DISCONNECT);
    assert_nsp(&p, "/chat");
    sio_packet_clear(&p);
    ok("1/chat", &p);
    assert_nsp(&p, "/chat");
    sio_packet_clear(&p);
}

static void event_main_without_ack(void **st)
{
    sio_packet p;
    ok("2[\"hello\",1,{\"a\":[true,null]}]", &p);
    assert_int_equal(p.type, SIO_EVENT);
    assert_nsp(&p, "/");
    assert_int_equal(p.id, -1);
    assert_data(&p, "[\"hello\",1,{\"a\":[true,null]}]");
    sio_packet_clear(&p);
}

static void event_custom_nsp_with_ack(void **st)
{
    sio_packet p;
    ok("2/chat,12[\"msg\",\"hi\"]", &p);
    assert_int_equal(p.type, SIO_EVENT);
    assert_nsp(&p, "/chat");
    assert_int_equal(p.id, 12);
    assert_data(&p, "[\"msg\",\"hi\"]");
    sio_packet_clear(&p);
}

/* The official client numbers acks from 0. */
static void event_ack_id_zero(void **st)
{
    sio_packet p;
    ok("20[\"a\"]", &p);
    assert_int_equal(p.id, 0);
    sio_packet_clear(&p);
}

static void event_name_only(void **st)
{
    sio_packet p;
    ok("2[\"ping\"]", &p);
    assert_data(&p, "[\"ping\"]");
    sio_packet_clear(&p);
}

static void event_nsp_with_unicode_and_slashes(void **st)
{
    sio_packet p;
    ok("2/a/b\xc3\xa9,[\"x\"]", &p);
    assert_nsp(&p, "/a/b\xc3\xa9");
    sio_packet_clear(&p);
}

/* JSON.stringify(1e20) writes an integer literal beyond int64. */
static void event_huge_integer_is_accepted(void **st)
{
    sio_packet p;
    ok("2[\"n\",100000000000000000000]", &p);
    assert_data(&p, "[\"n\",100000000000000000000]");
    sio_packet_clear(&p);
}

static void event_whitespace_around_json(void **st)
{
    sio_packet p;
    ok("2 [ \"a\" , 1 ] \n", &p);
    assert_data(&p, " [ \"a\" , 1 ] \n");
    sio_packet_clear(&p);
}

static void pitfall_12_multi_digit_ack_id(void **st)
{
    sio_packet p;
    ok("2456[\"a\"]", &p); /* "42456[…]" without Engine.IO's '4' */
    assert_int_equal(p.type, SIO_EVENT);
    assert_int_equal(p.id, 456);
    sio_packet_clear(&p);
    ok("3456[\"reply\"]", &p);
    assert_int_equal(p.type, SIO_ACK);
    assert_int_equal(p.id, 456);
    sio_packet_clear(&p);
    ok("2/nsp,999999999999999[\"a\"]", &p); /* 15 digits: the most */
    assert_int_equal(p.id, 999999999999999LL);
    sio_packet_clear(&p);
}

static void ack_main_and_custom(void **st)
{
    sio_packet p;
    ok("37[]", &p);
    assert_int_equal(p.type, SIO_ACK);
    assert_int_equal(p.id, 7);
    assert_data(&p, "[]");
    sio_packet_clear(&p);
    ok("3/chat,0[\"ok\",{\"n\":1}]", &p);
    assert_nsp(&p, "/chat");
    assert_int_equal(p.id, 0);
    sio_packet_clear(&p);
}

static void pitfall_12_binary_ack_multi_digit(void **st)
{
    sio_packet p;
    ok("62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", &p);
    assert_int_equal(p.type, SIO_BINARY_ACK);
    assert_int_equal(p.attachments, 2);
    assert_int_equal(p.id, 789);
    assert_nsp(&p, "/");
    sio_packet_clear(&p);
}

static void pitfall_13_binary_count_before_nsp(void **st)
{
    sio_packet p;
    ok("51-/upload,3[\"file\",{\"_placeholder\":true,\"num\":0}]", &p);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.attachments, 1);
    assert_nsp(&p, "/upload");
    assert_int_equal(p.id, 3);
    sio_packet_clear(&p);
}

static void pitfall_13_placeholder_at_depth_any_key_order(void **st)
{
    sio_packet p;
    ok("53-[\"deep\",{\"a\":[[{\"num\":2,\"_placeholder\":true}]],"
       "\"b\":{\"c\":{\"_placeholder\":true,\"num\":0}}},"
       "[1,{\"num\":1,\"_placeholder\":true}]]",
       &p);
    assert_int_equal(p.attachments, 3);
    sio_packet_clear(&p);
}

static void pitfall_13_placeholder_referenced_twice(void **st)
{
    sio_packet p;
    ok("51-[\"x\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]", &p);
    sio_packet_clear(&p);
}

static void pitfall_13_ten_attachments_is_the_limit(void **st)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "510-[\"x\"");
    for (int k = 0; k < 10; k++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, ",{\"_placeholder\":true,\"num\":%d}", k);
    snprintf(buf + n, sizeof buf - (size_t)n, "]");
    sio_packet p;
    ok(buf, &p);
    assert_int_equal(p.attachments, 10);
    sio_packet_clear(&p);
    buf[1] = '1', buf[2] = '1'; /* "511-": one more than allowed */
    bad(buf);
}

static void limits_null_means_defaults(void **st)
{
    sio_packet p;
    const char *s = "2[\"a\"]";
    assert_int_equal(sio_decode(s, strlen(s), NULL, &p, NULL), 0);
    sio_packet_clear(&p);
    assert_int_equal(sio_decode("4", 1, NULL, &p, NULL), -1);
}

static void json_depth_exactly_at_limit(void **st)
{
    char buf[256];
    size_t n = 0;
    buf[n++] = '2';
    buf[n++] = '[';
    buf[n++] = '"', buf[n++] = 'a', buf[n++] = '"', buf[n++] = ',';
    for (int k = 1; k < SIO_MAX_DEPTH_DEFAULT; k++)
        buf[n++] = '[';
    for (int k = 0; k < SIO_MAX_DEPTH_DEFAULT; k++)
        buf[n++] = ']';
    sio_packet p;
    const char *why = NULL;
    assert_int_equal(sio_decode(buf, n, &defaults, &p, &why), 0);
    sio_packet_clear(&p);
    /* one more level is refused */
    memmove(buf + 7, buf + 6, n - 6);
    buf[6] = '[';
    buf[n + 1] = ']';
    bad_buf(buf, n + 2, &defaults);
}

/* Brackets inside strings do not count towards depth. */
static void json_brackets_inside_strings_do_not_count(void **st)
{
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof buf, "2[\"a\",\"");
    for (int k = 0; k < 100; k++)
        buf[n++] = '[';
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\\\"{{{\"]");
    sio_packet p;
    const char *why = NULL;
    assert_int_equal(sio_decode(buf, n, &defaults, &p, &why), 0);
    sio_packet_clear(&p);
}

static void custom_limits_apply(void **st)
{
    sio_limits lim = {2, 3};
    sio_packet p;
    const char *s = "2[\"a\",[[1]]]";
    assert_int_equal(sio_decode(s, strlen(s), &lim, &p, NULL), 0);
    sio_packet_clear(&p);
    bad_buf("2[\"a\",[[[1]]]]", 14, &lim);
    s = "52-[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
    assert_int_equal(sio_decode(s, strlen(s), &lim, &p, NULL), 0);
    sio_packet_clear(&p);
    s = "53-[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},"
        "{\"_placeholder\":true,\"num\":2}]";
    bad_buf(s, strlen(s), &lim);
}

/* ---- invalid forms ---------------------------------------------------- */

static void invalid_empty_and_unknown_type(void **st)
{
    bad_buf("", 0, &defaults);
    bad("7");
    bad("9[\"a\"]");
    bad("a");
    bad("/");
    bad("-1");
}

static void invalid_connect_error_from_client(void **st)
{
    bad("4");
    bad("4{\"message\":\"x\"}");
    bad("4/nsp,\"boom\"");
}

static void invalid_connect_auth_not_object(void **st)
{
    bad("0[]");
    bad("0\"token\"");
    bad("0/admin,1\"x\""); /* ("0/admin,1" is an ignored id: valid) */
    bad("0null");
    bad("0/admin,[1]");
}

/* The reference reads digits after CONNECT/DISCONNECT as an ack id and
 * ignores it ("40123" connects, issue 13): accepted, id dropped. */
static void connect_or_disconnect_with_ack_id_ignored(void **st)
{
    sio_packet p;
    ok("0123", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_nsp(&p, "/");
    assert_int_equal(p.id, -1);
    assert_null(p.json);
    sio_packet_clear(&p);
    ok("0/a,5{\"k\":1}", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_nsp(&p, "/a");
    assert_int_equal(p.id, -1);
    assert_true(json_is_object(p.json));
    sio_packet_clear(&p);
    ok("17", &p);
    assert_int_equal(p.type, SIO_DISCONNECT);
    assert_int_equal(p.id, -1);
    sio_packet_clear(&p);
    bad("0/a,5[1]"); /* the auth must still be an object */
}

static void invalid_disconnect_with_data(void **st)
{
    bad("1{}");
    bad("1/chat,[\"x\"]");
    bad("1\"bye\"");
}

static void pitfall_12_ack_id_not_digits(void **st)
{
    bad("2abc[\"a\"]"); /* 42abc[…] once Engine.IO's '4' is stripped */
    bad("2/chat,abc[\"a\"]");
    bad("312x[]");
}

static void pitfall_12_ack_id_too_long(void **st)
{
    bad("21234567890123456[\"a\"]"); /* 16 digits */
    bad("399999999999999999999999999999[]");
}

static void pitfall_12_ack_without_id(void **st)
{
    bad("3[\"a\"]");
    bad("3/chat,[]");
    bad("61-[{\"_placeholder\":true,\"num\":0}]");
}

static void invalid_ack_data_not_array(void **st)
{
    bad("31{}");
    bad("31\"x\"");
    bad("31");
    bad("3/chat,1");
}

static void pitfall_14_event_data_not_array(void **st)
{
    bad("2{}");
    bad("2\"hello\"");
    bad("21");
    bad("2");
    bad("2/chat,");
    bad("2/chat,5");
}

static void pitfall_14_event_first_element_not_string(void **st)
{
    bad("2[]");
    bad("2[1,\"a\"]");
    bad("2[null]");
    bad("2[[\"a\"]]");
    bad("2[{\"a\":1}]");
    bad("51-[{\"_placeholder\":true,\"num\":0}]");
}

static void pitfall_14_event_reserved_name(void **st)
{
    bad("2[\"connect\"]");
    bad("2[\"connect_error\"]");
    bad("2[\"disconnect\"]");
    bad("2[\"disconnecting\"]");
    bad("2[\"newListener\"]");
    bad("2[\"removeListener\",1]");
}

static void invalid_json(void **st)
{
    bad("2[\"a\"");
    bad("2[\"a\"]]");
    bad("2[\"a\"] x");
    bad("2[\"a\",]");
    bad("2['a']");
    bad_buf("2[\"a\"]\0", 7, &defaults);
    bad("2[\"a\xff\"]");     /* not UTF-8 */
    bad("2[\"a\\u0000b\"]"); /* NUL inside a string: refused on purpose */
    bad("2/chat[\"a\"]");    /* no comma: all of it is the namespace */
}

static void invalid_namespace_not_utf8_text(void **st)
{
    bad_buf("2/ch\0t,[\"a\"]", 12, &defaults);
    bad_buf("1/\0", 3, &defaults);
    bad("0/caf\xa9,");          /* stray continuation byte */
    bad("0/caf\xc3,");          /* truncated sequence */
    bad("0/caf\xc3");           /* truncated at the end */
    bad("0/\xc0\xaf,");         /* overlong '/' */
    bad("0/\xe0\x80\xaf,");     /* overlong, 3 bytes */
    bad("0/\xed\xa0\x80,");     /* UTF-16 surrogate */
    bad("0/\xf4\x90\x80\x80,"); /* above U+10FFFF */
    bad("0/\xf8\x88\x80\x80\x80,");
    sio_packet p;
    ok("0/\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf,", &p); /* €😀U+FFFF U+10FFFF */
    assert_int_equal(p.nsp_len, 1 + 3 + 4 + 3 + 4);
    sio_packet_clear(&p);
}

static void pitfall_13_binary_without_dash(void **st)
{
    bad("5");
    bad("6");
    bad("5[\"a\",{\"_placeholder\":true,\"num\":0}]");
    bad("51[\"a\",{\"_placeholder\":true,\"num\":0}]");
    bad("5/nsp,1[\"a\"]");
    bad("5-[\"a\"]");
    bad("51");
    bad("5123456789012345678901234567890");
}

static void pitfall_13_binary_count_not_digits(void **st)
{
    bad("5a-[\"a\"]");
    bad("5 1-[\"a\",{\"_placeholder\":true,\"num\":0}]");
    bad("5+1-[\"a\",{\"_placeholder\":true,\"num\":0}]");
    bad("50-[\"a\"]"); /* the reference refuses zero too */
}

static void pitfall_13_too_many_attachments(void **st)
{
    bad("511-[\"a\"]");
    bad("5100-[\"a\"]");
    bad("599999999999999999999999999999-[\"a\"]"); /* must not overflow */
    bad("618446744073709551617-1[]");              /* 2^64 + 1 must not wrap to 1 */
}

static void pitfall_13_placeholder_num_out_of_range(void **st)
{
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":1}]");
    bad("52-[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":2}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":-1}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":9223372036854775807}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":100000000000000000000}]");
}

static void pitfall_13_placeholder_num_invalid(void **st)
{
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":0.0}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":null}]");
    bad("51-[\"a\",{\"_placeholder\":true}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":[0]}]");
}

static void pitfall_13_placeholder_malformed(void **st)
{
    bad("51-[\"a\",{\"_placeholder\":false,\"num\":0}]");
    bad("51-[\"a\",{\"_placeholder\":1,\"num\":0}]");
    bad("51-[\"a\",{\"_placeholder\":\"true\",\"num\":0}]");
    bad("51-[\"a\",{\"_placeholder\":true,\"num\":0,\"extra\":1}]");
    bad("51-[\"a\",{\"num\":0,\"_placeholder\":true,\"x\":{}}]");
}

static void pitfall_13_attachment_not_referenced(void **st)
{
    bad("51-[\"a\"]");
    bad("52-[\"a\",{\"_placeholder\":true,\"num\":1}]");
    bad("63-7[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":2}]");
}

/* A plain EVENT has no attachments, so a placeholder in it has nothing to
 * point at (a worker library would resolve it against nothing). */
static void pitfall_13_placeholder_in_non_binary_packet(void **st)
{
    bad("2[\"a\",{\"_placeholder\":true,\"num\":0}]");
    bad("31[{\"num\":0,\"_placeholder\":true}]");
    bad("0{\"_placeholder\":true,\"num\":0}");
}

static void invalid_too_deep(void **st)
{
    char buf[64];
    size_t n = 0;
    buf[n++] = '2';
    for (int k = 0; k < 40; k++)
        buf[n++] = '[';
    bad_buf(buf, n, &defaults); /* unbalanced as well: the depth check comes first */
}

/* 100,000 nested arrays: refused by the pre-scan, fast, with no deep
 * recursion anywhere (this would overflow a small stack in a recursive
 * parser). */
static void hostile_100000_nested_arrays_refused_fast(void **st)
{
    size_t depth = 100000, n = 0;
    char *buf = malloc(2 * depth + 8);
    assert_non_null(buf);
    buf[n++] = '2';
    buf[n++] = '[';
    memcpy(buf + n, "\"a\",", 4);
    n += 4;
    for (size_t k = 1; k < depth; k++)
        buf[n++] = '[';
    for (size_t k = 0; k < depth; k++)
        buf[n++] = ']';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bad_buf(buf, n, &defaults);
    buf[0] = '0', buf[1] = '{', buf[2] = '"', buf[3] = 'k', buf[4] = '"', buf[5] = ':';
    bad_buf(buf, n, &defaults); /* the same depth behind an object */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (ms > 100) fail_msg("refusing 100,000 nested arrays took %.1f ms", ms);
    free(buf);
}

/* A long flat packet is fine: size is the transport's limit, not ours. */
static void long_flat_array_accepted(void **st)
{
    size_t count = 50000, n = 0;
    char *buf = malloc(count * 2 + 16);
    assert_non_null(buf);
    n += (size_t)sprintf(buf, "2[\"a\"");
    for (size_t k = 0; k < count; k++)
        buf[n++] = ',', buf[n++] = '1';
    buf[n++] = ']';
    sio_packet p;
    assert_int_equal(sio_decode(buf, n, &defaults, &p, NULL), 0);
    assert_int_equal(p.data_len, n - 1);
    assert_null(p.json); /* validated, never parsed */
    sio_packet_clear(&p);
    free(buf);
}

/* ---- sio_encode_head and round trips ---------------------------------- */

static void encode_head(sio_type t, size_t att, const char *nsp, int64_t id, const char *want)
{
    size_t nl = nsp ? strlen(nsp) : 0;
    char *buf = malloc(sio_head_max(nl) + 1);
    assert_non_null(buf);
    memset(buf, 'Z', sio_head_max(nl) + 1);
    size_t n = sio_encode_head(buf, t, att, nsp, nl, id);
    assert_true(n <= sio_head_max(nl));
    assert_int_equal(buf[sio_head_max(nl)], 'Z'); /* nothing written past the max */
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    free(buf);
}

static void encode_head_forms(void **st)
{
    encode_head(SIO_CONNECT, 0, "/", -1, "0");
    encode_head(SIO_CONNECT, 0, "/admin", -1, "0/admin,");
    encode_head(SIO_CONNECT, 0, NULL, -1, "0");
    encode_head(SIO_DISCONNECT, 0, "/chat", -1, "1/chat,");
    encode_head(SIO_EVENT, 0, "/", 456, "2456");
    encode_head(SIO_EVENT, 0, "/", 0, "20");
    encode_head(SIO_ACK, 0, "/chat", 456, "3/chat,456");
    encode_head(SIO_CONNECT_ERROR, 0, "/nsp", -1, "4/nsp,");
    encode_head(SIO_BINARY_EVENT, 3, "/", -1, "53-");
    encode_head(SIO_BINARY_ACK, 2, "/", 789, "62-789");
    encode_head(SIO_BINARY_EVENT, 10, "/up", 12, "510-/up,12");
    encode_head(SIO_EVENT, 7, "/", -1, "2"); /* attachments only for binary */
    encode_head(SIO_BINARY_ACK, SIZE_MAX, "/n", INT64_MAX,
                "618446744073709551615-/n,9223372036854775807");
}

/* head + data decodes back to what went in. */
static void round_trip(sio_type t, size_t att, const char *nsp, int64_t id, const char *data)
{
    size_t nl = strlen(nsp), dl = data ? strlen(data) : 0;
    char *buf = malloc(sio_head_max(nl) + dl);
    assert_non_null(buf);
    size_t n = sio_encode_head(buf, t, att, nsp, nl, id);
    if (data) memcpy(buf + n, data, dl);
    n += dl;
    sio_packet p;
    const char *why = NULL;
    if (sio_decode(buf, n, &defaults, &p, &why) != 0)
        fail_msg("round trip refused: %.*s (%s)", (int)n, buf, why);
    assert_int_equal(p.type, t);
    assert_int_equal(p.attachments, att);
    assert_nsp(&p, nsp);
    assert_int_equal(p.id, id);
    if (data) {
        assert_data(&p, data);
    } else {
        assert_null(p.data);
    }
    sio_packet_clear(&p);
    free(buf);
}

static void round_trips(void **st)
{
    round_trip(SIO_CONNECT, 0, "/", -1, NULL);
    round_trip(SIO_CONNECT, 0, "/", -1, "{\"token\":1}");
    round_trip(SIO_CONNECT, 0, "/admin", -1, NULL);
    round_trip(SIO_CONNECT, 0, "/admin", -1, "{}");
    round_trip(SIO_DISCONNECT, 0, "/", -1, NULL);
    round_trip(SIO_DISCONNECT, 0, "/chat", -1, NULL);
    round_trip(SIO_EVENT, 0, "/", -1, "[\"a\",1]");
    round_trip(SIO_EVENT, 0, "/", 0, "[\"a\"]");
    round_trip(SIO_EVENT, 0, "/chat", 456, "[\"a\",{\"b\":[]}]");
    round_trip(SIO_ACK, 0, "/", 999999999999999LL, "[]");
    round_trip(SIO_ACK, 0, "/x", 1, "[null]");
    round_trip(SIO_BINARY_EVENT, 1, "/", -1, "[\"f\",{\"_placeholder\":true,\"num\":0}]");
    round_trip(SIO_BINARY_EVENT, 2, "/up", 33,
               "[\"f\",{\"num\":1,\"_placeholder\":true},{\"_placeholder\":true,\"num\":0}]");
    round_trip(SIO_BINARY_ACK, 1, "/", 789, "[{\"_placeholder\":true,\"num\":0}]");
    round_trip(SIO_BINARY_ACK, 1, "/nsp", 0, "[[{\"_placeholder\":true,\"num\":0}]]");
}

static void clear_is_idempotent(void **st)
{
    sio_packet p;
    ok("2[\"a\"]", &p);
    sio_packet_clear(&p);
    sio_packet_clear(&p);
    assert_null(p.json);
    assert_int_equal(p.id, -1);
    sio_packet_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_main_without_auth),
        cmocka_unit_test(connect_main_with_auth),
        cmocka_unit_test(connect_custom_nsp_without_auth),
        cmocka_unit_test(connect_custom_nsp_with_auth),
        cmocka_unit_test(connect_custom_nsp_without_comma),
        cmocka_unit_test(connect_explicit_root_nsp),
        cmocka_unit_test(disconnect_main_and_custom),
        cmocka_unit_test(event_main_without_ack),
        cmocka_unit_test(event_custom_nsp_with_ack),
        cmocka_unit_test(event_ack_id_zero),
        cmocka_unit_test(event_name_only),
        cmocka_unit_test(event_nsp_with_unicode_and_slashes),
        cmocka_unit_test(event_huge_integer_is_accepted),
        cmocka_unit_test(event_whitespace_around_json),
        cmocka_unit_test(pitfall_12_multi_digit_ack_id),
        cmocka_unit_test(ack_main_and_custom),
        cmocka_unit_test(pitfall_12_binary_ack_multi_digit),
        cmocka_unit_test(pitfall_13_binary_count_before_nsp),
        cmocka_unit_test(pitfall_13_placeholder_at_depth_any_key_order),
        cmocka_unit_test(pitfall_13_placeholder_referenced_twice),
        cmocka_unit_test(pitfall_13_ten_attachments_is_the_limit),
        cmocka_unit_test(limits_null_means_defaults),
        cmocka_unit_test(json_depth_exactly_at_limit),
        cmocka_unit_test(json_brackets_inside_strings_do_not_count),
        cmocka_unit_test(custom_limits_apply),
        cmocka_unit_test(invalid_empty_and_unknown_type),
        cmocka_unit_test(invalid_connect_error_from_client),
        cmocka_unit_test(invalid_connect_auth_not_object),
        cmocka_unit_test(connect_or_disconnect_with_ack_id_ignored),
        cmocka_unit_test(invalid_disconnect_with_data),
        cmocka_unit_test(pitfall_12_ack_id_not_digits),
        cmocka_unit_test(pitfall_12_ack_id_too_long),
        cmocka_unit_test(pitfall_12_ack_without_id),
        cmocka_unit_test(invalid_ack_data_not_array),
        cmocka_unit_test(pitfall_14_event_data_not_array),
        cmocka_unit_test(pitfall_14_event_first_element_not_string),
        cmocka_unit_test(pitfall_14_event_reserved_name),
        cmocka_unit_test(invalid_json),
        cmocka_unit_test(invalid_namespace_not_utf8_text),
        cmocka_unit_test(pitfall_13_binary_without_dash),
        cmocka_unit_test(pitfall_13_binary_count_not_digits),
        cmocka_unit_test(pitfall_13_too_many_attachments),
        cmocka_unit_test(pitfall_13_placeholder_num_out_of_range),
        cmocka_unit_test(pitfall_13_placeholder_num_invalid),
        cmocka_unit_test(pitfall_13_placeholder_malformed),
        cmocka_unit_test(pitfall_13_attachment_not_referenced),
        cmocka_unit_test(pitfall_13_placeholder_in_non_binary_packet),
        cmocka_unit_test(invalid_too_deep),
        cmocka_unit_test(hostile_100000_nested_arrays_refused_fast),
        cmocka_unit_test(long_flat_array_accepted),
        cmocka_unit_test(encode_head_forms),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(clear_is_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
