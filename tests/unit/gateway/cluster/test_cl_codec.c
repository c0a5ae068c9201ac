/* test_cl_codec.c — unit tests of the Redis adapter's msgpack side
 * (gateway/cluster/cl_codec.c) and of --redis URL parsing (cl_url_parse).
 * The byte vectors are what notepack.io 3 (the encoder of
 * @socket.io/redis-adapter 8.3 and redis-emitter 5.1) produces for the same
 * values: `node -e "console.log(require('notepack.io').encode(V).toString('hex'))"`.
 * ipc/REDIS.md shows the first one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_codec.h"
#include "cluster.h"

static size_t unhex(const char *hex, char *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (char)v;
    }
    return n;
}

/* JSON text → msgpack must give exactly hex; and back again. */
static void both_ways(const char *json, const char *hex)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    size_t len;
    char *got = clc_to_msgpack(j, NULL, 0, &len);
    assert_non_null(got);
    char want[1024];
    size_t wl = unhex(hex, want);
    if (len != wl || memcmp(got, want, wl)) {
        char h[2100] = "";
        for (size_t i = 0; i < len && i < 1000; i++)
            sprintf(h + 2 * i, "%02x", (unsigned char)got[i]);
        fail_msg("%s\n got  %s\n want %s", json, h, hex);
    }
    /* exact-size copy: a read past the end is an ASan report */
    char *copy = malloc(wl);
    memcpy(copy, want, wl);
    clc_atts atts = {0};
    char err[128];
    json_t *back = clc_from_msgpack(copy, wl, &atts, err, sizeof err);
    assert_non_null(back);
    assert_true(json_equal(j, back));
    assert_int_equal(atts.n, 0);
    free(copy);
    free(got);
    json_decref(j);
    json_decref(back);
}

static void test_broadcast_bytes(void **st)
{
    (void)st;
    both_ways(
        "[\"0123456789abcdef\",{\"type\":2,\"data\":[\"room-message\",\"hello\",42],\"nsp\":\"/\"},"
        "{\"rooms\":[\"r\"],\"except\":[\"AAAAAAAAAAAAAAAAAAAA\"],\"flags\":{}}]",
        "93b03031323334353637383961626364656683a47479706502a46461746193ac726f6f6d2d6d657373"
        "616765a568656c6c6f2aa36e7370a12f83a5726f6f6d7391a172a665786365707491b441414141414141"
        "41414141414141414141414141a5666c61677380");
}

static void test_numbers_and_strings(void **st)
{
    (void)st;
    both_ways("[-1,-200,300,70000,5000000000,1.5,true,false,null]",
              "99ffd1ff38cd012cce00011170cf000000012a05f200cb3ff8000000000000c3c2c0");
    /* 40-byte string: str8 (0xd9), as notepack writes it */
    both_ways("{\"s\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
              "81a173d92878787878787878787878787878787878787878787878787878787878787878787878787878"
              "787878");
}

/* A Buffer in an emitter's packet: bin8 ⇄ placeholder + attachment. */
static void test_binary(void **st)
{
    (void)st;
    const char *hex =
        "93a7656d697474657283a47479706502a46461746192a362696ec403010203a36e7370a12f83a572"
        "6f6f6d7390a665786365707490a5666c61677380";
    char buf[256];
    size_t n = unhex(hex, buf);
    clc_atts atts = {0};
    char err[128];
    json_t *j = clc_from_msgpack(buf, n, &atts, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(atts.n, 1);
    assert_int_equal(atts.len[0], 3);
    assert_memory_equal(atts.data[0], "\x01\x02\x03", 3);
    char *text =
        json_dumps(json_object_get(json_array_get(j, 1), "data"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "[\"bin\",{\"_placeholder\":true,\"num\":0}]");
    free(text);
    ipc_buf att = {atts.data[0], atts.len[0]};
    size_t len;
    char *again = clc_to_msgpack(j, &att, 1, &len);
    assert_int_equal(len, n);
    assert_memory_equal(again, buf, n);
    free(again);
    clc_atts_free(&atts);
    json_decref(j);
}

static void bad(const char *hex, const char *why)
{
    char buf[256];
    size_t n = unhex(hex, buf);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    clc_atts atts = {0};
    char err[128] = "";
    json_t *j = clc_from_msgpack(copy, n, &atts, err, sizeof err);
    free(copy);
    if (j) fail_msg("accepted %s", hex);
    if (!strstr(err, why)) fail_msg("%s: error '%s', want '%s'", hex, err, why);
    assert_int_equal(atts.n, 0);
}

static void test_malformed(void **st)
{
    (void)st;
    bad("", "truncated");
    bad("93a1", "truncated");
    bad("c1", "malformed");
    bad("c0c0", "bytes after");
    bad("81c0c0", "map key");
    bad("a2c328", "UTF-8"); /* 0xc3 then no continuation byte */
    /* 40 nested arrays: msgpack-c's own parser stack (32) refuses it first */
    bad("91919191919191919191919191919191919191919191919191919191919191919191919191919191c0",
        "malformed");
}

static void test_url(void **st)
{
    (void)st;
    cl_url u;
    char err[300];
    assert_int_equal(cl_url_parse("redis://127.0.0.1:6380", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 0);
    assert_int_equal(cl_url_parse("redis://:s3cret@redis.local/2", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "redis.local");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.password, "s3cret");
    assert_int_equal(u.db, 2);
    assert_int_equal(cl_url_parse("redis://user:pw@h:1/", &u, err, sizeof err), 0);
    assert_string_equal(u.password, "pw");
    assert_int_equal(cl_url_parse("unix:/run/redis.sock", &u, err, sizeof err), 0);
    assert_string_equal(u.unix_path, "/run/redis.sock");
    assert_int_equal(cl_url_parse("unix:///run/redis.sock", &u, err, sizeof err), 0);
    assert_string_equal(u.unix_path, "/run/redis.sock");
    assert_int_equal(cl_url_parse("http://h", &u, err, sizeof err), -1);
    assert_int_equal(cl_url_parse("redis://h:0", &u, err, sizeof err), -1);
    assert_int_equal(cl_url_parse("redis://h:99999", &u, err, sizeof err), -1);
    assert_int_equal(cl_url_parse("redis://h/x", &u, err, sizeof err), -1);
    assert_int_equal(cl_url_parse("redis://", &u, err, sizeof err), -1);
    assert_int_equal(cl_url_parse("unix:", &u, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast_bytes),
        cmocka_unit_test(test_numbers_and_strings),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
