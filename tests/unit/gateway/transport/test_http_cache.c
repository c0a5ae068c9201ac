/* test_http_cache.c — the pure helpers behind static files: conditional
 * requests (http_not_modified) and the client bundle's file names
 * (http_client_js_name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "http.h"

static int nm(const char *name, const char *value, const char *etag, time_t mtime)
{
    http_field h[1] = {{name, value}};
    http_request r = {.method = HTTP_GET,
                      .url = "/",
                      .path = "/",
                      .query = "",
                      .headers = h,
                      .n_headers = name ? 1 : 0};
    return http_not_modified(&r, etag, mtime);
}

static void test_if_none_match(void **st)
{
    assert_int_equal(nm(NULL, NULL, "\"a-1\"", 0), 0);
    assert_int_equal(nm("if-none-match", "\"a-1\"", "\"a-1\"", 0), 1);
    assert_int_equal(nm("if-none-match", "W/\"a-1\"", "\"a-1\"", 0), 1);
    assert_int_equal(nm("if-none-match", "\"x\", \"a-1\" ", "\"a-1\"", 0), 1);
    assert_int_equal(nm("if-none-match", "*", "\"a-1\"", 0), 1);
    assert_int_equal(nm("if-none-match", "\"a-2\"", "\"a-1\"", 0), 0);
    assert_int_equal(nm("if-none-match", "\"a-1", "\"a-1\"", 0), 0); /* unterminated */
    assert_int_equal(nm("if-none-match", "", "\"a-1\"", 0), 0);
}

static void test_if_modified_since(void **st)
{
    time_t t = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    assert_int_equal(nm("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT", "\"e\"", t), 1);
    assert_int_equal(nm("if-modified-since", "Tue, 14 Nov 2023 22:13:21 GMT", "\"e\"", t), 1);
    assert_int_equal(nm("if-modified-since", "Tue, 14 Nov 2023 22:13:19 GMT", "\"e\"", t), 0);
    assert_int_equal(nm("if-modified-since", "yesterday", "\"e\"", t), 0);
    assert_int_equal(nm("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT trailing", "\"e\"", t),
                     0);
}

static void test_client_js_names(void **st)
{
    const char *ok[] = {"socket.io.js",         "socket.io.min.js",     "socket.io.js.map",
                        "socket.io.min.js.map", "socket.io.esm.min.js", "socket.io.msgpack.min.js"};
    const char *no[] = {"",
                        "socket.io",
                        "socket.io.",
                        "socket.io.json",
                        "socket.io../x.js",
                        "socket.io.min.js/x",
                        "socket.io.JS",
                        "socket.io.%2e.js",
                        "other.js",
                        "socket.io.js.mapx"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(http_client_js_name(ok[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (http_client_js_name(no[i])) fail_msg("accepted '%s'", no[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_modified_since),
        cmocka_unit_test(test_client_js_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
