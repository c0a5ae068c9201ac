/* test_http.c — the pure parts of http.c and ws.c: query parameters, safe
 * static paths, MIME types, header tokens, the WebSocket handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "eio_cors.h"
#include "http.h"
#include "ws.h"

static void test_query_get(void **st)
{
    char out[32];
    const char *q = "EIO=4&transport=polling&t=N%2Fx+y&sid=abc&empty=&flag";
    assert_int_equal(http_query_get(q, "EIO", out, sizeof out), 1);
    assert_string_equal(out, "4");
    assert_int_equal(http_query_get(q, "transport", out, sizeof out), 7);
    assert_string_equal(out, "polling");
    assert_int_equal(http_query_get(q, "t", out, sizeof out), 5);
    assert_string_equal(out, "N/x y");
    assert_int_equal(http_query_get(q, "empty", out, sizeof out), 0);
    assert_int_equal(http_query_get(q, "flag", out, sizeof out), 0);
    assert_int_equal(http_query_get(q, "EI", out, sizeof out), -1);
    assert_int_equal(http_query_get(q, "nope", out, sizeof out), -1);
    assert_int_equal(http_query_get("", "EIO", out, sizeof out), -1);
    assert_int_equal(http_query_get("EIOX=4", "EIO", out, sizeof out), -1);
    assert_int_equal(http_query_get("sid=0123456789", "sid", out, 5), -2); /* too long */
    assert_int_equal(http_query_get("sid=%zz", "sid", out, sizeof out), -2);
    assert_int_equal(http_query_get("sid=%4", "sid", out, sizeof out), -2);
}

static void test_safe_path(void **st)
{
    char out[256];
    assert_int_equal(http_safe_path("/srv", "/", out, sizeof out), 0);
    assert_string_equal(out, "/srv/index.html");
    assert_int_equal(http_safe_path("/srv", "/a/b.js", out, sizeof out), 0);
    assert_string_equal(out, "/srv/a/b.js");
    assert_int_equal(http_safe_path("/srv", "/a/", out, sizeof out), 0);
    assert_string_equal(out, "/srv/a/index.html");
    assert_int_equal(http_safe_path("/srv", "/a%20b", out, sizeof out), 0);
    assert_string_equal(out, "/srv/a b");
    assert_int_equal(http_safe_path("/srv", "/../etc/passwd", out, sizeof out), -1);
    assert_int_equal(http_safe_path("/srv", "/a/../../x", out, sizeof out), -1);
    assert_int_equal(http_safe_path("/srv", "/%2e%2e/x", out, sizeof out), -1);
    assert_int_equal(http_safe_path("/srv", "/a/..", out, sizeof out), -1);
    assert_int_equal(http_safe_path("/srv", "/a%00b", out, sizeof out), -1);
    assert_int_equal(http_safe_path("/srv", "/a%5c..%5cb", out, sizeof out), -1);
    assert_int_equal(http_safe_path("/srv", "a", out, sizeof out), -1);
    assert_int_equal(http_safe_path("/srv", "/a..b", out, sizeof out), 0); /* not a segment */
    assert_int_equal(http_safe_path("/srv", "/x", out, 6), -1);            /* too long */
}

static void test_mime(void **st)
{
    assert_string_equal(http_mime_type("/x/index.html"), "text/html; charset=UTF-8");
    assert_string_equal(http_mime_type("a.JS"), "application/javascript; charset=UTF-8");
    assert_string_equal(http_mime_type("a.css"), "text/css; charset=UTF-8");
    assert_string_equal(http_mime_type("a.png"), "image/png");
    assert_string_equal(http_mime_type("a.d/noext"), "application/octet-stream");
}

static void test_tokens(void **st)
{
    assert_true(http_has_token("keep-alive, Upgrade", "upgrade"));
    assert_true(http_has_token("Upgrade", "upgrade"));
    assert_true(http_has_token("websocket", "websocket"));
    assert_false(http_has_token("keep-alive", "upgrade"));
    assert_false(http_has_token("upgrades", "upgrade"));
    assert_false(http_has_token("", "upgrade"));
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_text(414), "URI Too Long");
}

static void test_accept_key(void **st)
{
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out); /* RFC 6455 section 1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_ws_handshake(void **st)
{
    http_field h[4] = {{"upgrade", "websocket"},
                       {"connection", "Upgrade"},
                       {"sec-websocket-version", "13"},
                       {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="}};
    http_request r = {
        .method = HTTP_GET, .url = "/", .path = "/", .query = "", .headers = h, .n_headers = 4};
    char acc[29];
    assert_null(ws_check_handshake(&r, acc));
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    h[2].value = "8";
    assert_non_null(ws_check_handshake(&r, acc));
    h[2].value = "13";
    h[3].value = "short";
    assert_non_null(ws_check_handshake(&r, acc));
    h[3].value = "dGhlIHNhbXBsZSBub25jZQ=!";
    assert_non_null(ws_check_handshake(&r, acc));
    h[3].value = "dGhlIHNhbXBsZSBub25jZQ==";
    h[0].value = "h2c";
    assert_non_null(ws_check_handshake(&r, acc));
    h[0].value = "websocket";
    r.method = HTTP_POST;
    assert_non_null(ws_check_handshake(&r, acc));
    r.method = HTTP_GET;
    r.n_headers = 3;
    assert_non_null(ws_check_handshake(&r, acc));
}

static void test_cors_policy(void **st)
{
    eio_config cfg;
    char b[2048];
    eio_config_defaults(&cfg);
    /* off */
    assert_int_equal(eio_cors_headers(&cfg, "http://a", NULL, b, sizeof b), 0);
    assert_string_equal(b, "");
    /* a list */
    const char *list[] = {"http://a", "http://b", NULL};
    cfg.cors_origins = list;
    eio_cors_headers(&cfg, "http://b", NULL, b, sizeof b);
    assert_string_equal(b, "Access-Control-Allow-Origin: http://b\r\nVary: Origin\r\n");
    eio_cors_headers(&cfg, "http://evil", NULL, b, sizeof b);
    assert_string_equal(b, "");
    eio_cors_headers(&cfg, NULL, NULL, b, sizeof b);
    assert_string_equal(b, "");
    /* wildcard */
    const char *wild[] = {"*", NULL};
    cfg.cors_origins = wild;
    eio_cors_headers(&cfg, "http://x", NULL, b, sizeof b);
    assert_string_equal(b, "Access-Control-Allow-Origin: *\r\n");
    /* never "*" with credentials */
    cfg.cors_credentials = 1;
    eio_cors_headers(&cfg, "http://x", NULL, b, sizeof b);
    assert_string_equal(
        b, "Access-Control-Allow-Origin: http://x\r\nAccess-Control-Allow-Credentials: "
           "true\r\nVary: Origin\r\n");
    eio_cors_headers(&cfg, NULL, NULL, b, sizeof b);
    assert_null(strstr(b, "*"));
    cfg.cors_origins = list;
    eio_cors_headers(&cfg, "http://evil", NULL, b, sizeof b);
    assert_string_equal(b, "");
    /* overlong origins are ignored */
    char big[1100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cfg.cors_origins = wild;
    eio_cors_headers(&cfg, big, NULL, b, sizeof b);
    assert_string_equal(b, "");
    /* cookie */
    cfg.cors_origins = NULL;
    cfg.cookie = "io";
    eio_cors_headers(&cfg, NULL, "SID", b, sizeof b);
    assert_string_equal(b, "Set-Cookie: io=SID; Path=/; HttpOnly; SameSite=Lax\r\n");
    eio_cors_headers(&cfg, NULL, NULL, b, sizeof b);
    assert_string_equal(b, "");
    /* preflight */
    cfg.cors_origins = list;
    cfg.cors_credentials = 0;
    eio_preflight_headers(&cfg, "http://a", "x-custom", b, sizeof b);
    assert_non_null(strstr(b, "Access-Control-Allow-Origin: http://a\r\n"));
    assert_non_null(strstr(b, "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"));
    assert_non_null(strstr(b, "Access-Control-Allow-Headers: x-custom\r\n"));
    eio_preflight_headers(&cfg, "http://a", NULL, b, sizeof b);
    assert_non_null(strstr(b, "Access-Control-Allow-Headers: Content-Type\r\n"));
    /* truncation stays NUL-terminated */
    char small[20];
    eio_preflight_headers(&cfg, "http://a", NULL, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_get),   cmocka_unit_test(test_safe_path),
        cmocka_unit_test(test_mime),        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_accept_key),  cmocka_unit_test(test_ws_handshake),
        cmocka_unit_test(test_cors_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
