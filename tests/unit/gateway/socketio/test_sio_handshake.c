/* test_sio_handshake.c — the handshake object a worker sees in CONNECT
 * (sio_handshake.c, PROTOCOL.md rule 16): the query string decoded as
 * Node's querystring decodes it, repeated headers joined, every field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "app.h"

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void query_decoding(void **state)
{
    json_t *q = sio_parse_query("a=1&b=hello+world&c=%41%62%2f&d&e=&=x&&f=%zz%4");
    assert_string_equal(str(q, "a"), "1");
    assert_string_equal(str(q, "b"), "hello world"); /* '+' is a space */
    assert_string_equal(str(q, "c"), "Ab/");         /* either case of hex */
    assert_string_equal(str(q, "d"), "");            /* a key without '=' */
    assert_string_equal(str(q, "e"), "");
    assert_string_equal(str(q, ""), "x");      /* an empty key is a key */
    assert_string_equal(str(q, "f"), "%zz%4"); /* bad escapes stay as they are */
    assert_int_equal(json_object_size(q), 7);  /* "&&" adds nothing */
    json_decref(q);
}

static void query_repeats_and_bad_utf8(void **state)
{
    json_t *q = sio_parse_query("k=1&k=2&k=3&bad=%ff%fe&%C3%A9t%C3%A9=summer");
    json_t *k = json_object_get(q, "k");
    assert_true(json_is_array(k)); /* a repeated key becomes an array, in order */
    assert_int_equal(json_array_size(k), 3);
    assert_string_equal(json_string_value(json_array_get(k, 0)), "1");
    assert_string_equal(json_string_value(json_array_get(k, 2)), "3");
    assert_string_equal(str(q, "bad"), ""); /* not UTF-8: an empty string, not a failure */
    assert_string_equal(str(q, "\xc3\xa9t\xc3\xa9"), "summer");
    json_decref(q);

    q = sio_parse_query("");
    assert_int_equal(json_object_size(q), 0);
    json_decref(q);
    q = sio_parse_query(NULL);
    assert_int_equal(json_object_size(q), 0);
    json_decref(q);
}

static void handshake_fields(void **state)
{
    eio_header hdr[] = {{"accept", "a/b"}, {"cookie", "x=1"}, {"cookie", "y=2"}, {"bad", "\xff"}};
    eio_handshake h = {.headers = hdr,
                       .n_headers = 4,
                       .url = "/socket.io/?EIO=4&t=1",
                       .query = "EIO=4&t=1",
                       .address = "10.0.0.9",
                       .secure = 1,
                       .xdomain = 0};
    json_t *auth = json_pack("{s:s}", "token", "abc");
    json_t *j = sio_handshake_json(&h, auth);
    assert_int_equal(auth->refcount, 2); /* not consumed: the handshake holds one */
    json_t *headers = json_object_get(j, "headers");
    assert_string_equal(str(headers, "accept"), "a/b");
    assert_string_equal(str(headers, "cookie"), "x=1, y=2"); /* as Node joins them */
    assert_null(json_object_get(headers, "bad"));            /* not UTF-8: left out */
    assert_string_equal(str(json_object_get(j, "query"), "EIO"), "4");
    assert_ptr_equal(json_object_get(j, "auth"), auth);
    assert_string_equal(str(j, "url"), "/socket.io/?EIO=4&t=1");
    assert_string_equal(str(j, "address"), "10.0.0.9");
    assert_true(json_is_true(json_object_get(j, "secure")));
    assert_true(json_is_false(json_object_get(j, "xdomain")));
    assert_true(json_integer_value(json_object_get(j, "issued")) > 1700000000000LL);
    /* Date.prototype.toString() of the reference, in UTC */
    const char *time = str(j, "time");
    assert_non_null(strstr(time, " GMT+0000 (Coordinated Universal Time)"));
    json_decref(j);
    json_decref(auth);
}

static void handshake_without_url_or_address(void **state)
{
    eio_handshake h = {0};
    json_t *j = sio_handshake_json(&h, json_null());
    assert_string_equal(str(j, "url"), "");
    assert_string_equal(str(j, "address"), "");
    assert_int_equal(json_object_size(json_object_get(j, "headers")), 0);
    assert_int_equal(json_object_size(json_object_get(j, "query")), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(query_decoding),
        cmocka_unit_test(query_repeats_and_bad_utf8),
        cmocka_unit_test(handshake_fields),
        cmocka_unit_test(handshake_without_url_or_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
