/* test_proxy.c — the --trust-proxy list and the X-Forwarded-* rule (proxy.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxy.h"

static void test_check(void **st)
{
    const char *ok[] = {"127.0.0.1", "loopback", "10.0.0.0/8", "::1",
                        "fd00::/8",  "[::1]",    "0.0.0.0/0",  "192.168.1.7/32"};
    const char *bad[] = {"",         "localhost", "10.0.0.0/33", "::/129",  "1.2.3",
                         "1.2.3.4/", "1.2.3.4/x", "1.2.3.4/-1",  "1.2.3.4 "};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_int_equal(proxy_trust_check(ok[i]), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(proxy_trust_check(bad[i]), -1);
}

static void test_match(void **st)
{
    const char *lo[] = {"loopback", NULL};
    const char *nets[] = {"10.1.0.0/16", "2001:db8::/32", "192.0.2.1", NULL};
    assert_true(proxy_trust_match(lo, "127.0.0.1"));
    assert_true(proxy_trust_match(lo, "127.9.9.9"));
    assert_true(proxy_trust_match(lo, "::1"));
    assert_true(proxy_trust_match(lo, "::ffff:127.0.0.1"));
    assert_false(proxy_trust_match(lo, "128.0.0.1"));
    assert_true(proxy_trust_match(nets, "10.1.255.3"));
    assert_false(proxy_trust_match(nets, "10.2.0.1"));
    assert_true(proxy_trust_match(nets, "2001:db8:1::5"));
    assert_false(proxy_trust_match(nets, "2001:db9::5"));
    assert_true(proxy_trust_match(nets, "192.0.2.1"));
    assert_false(proxy_trust_match(nets, "192.0.2.2"));
    assert_false(proxy_trust_match(NULL, "127.0.0.1"));
    assert_false(proxy_trust_match(lo, "garbage"));
}

static void resolve(const char *const *trusted, const char *peer, int peer_secure, const char *xff,
                    const char *xfp, const char *want_addr, int want_secure)
{
    http_field h[4];
    size_t n = 0;
    h[n++] = (http_field){"host", "x"};
    if (xff) h[n++] = (http_field){"x-forwarded-for", xff};
    if (xfp) h[n++] = (http_field){"x-forwarded-proto", xfp};
    char addr[64];
    int secure = -1;
    proxy_resolve(trusted, peer, peer_secure, h, n, addr, sizeof addr, &secure);
    assert_string_equal(addr, want_addr);
    assert_int_equal(secure, want_secure);
}

static void test_resolve(void **st)
{
    const char *lo[] = {"127.0.0.1", NULL};
    const char *two[] = {"127.0.0.1", "10.0.0.0/8", NULL};
    /* untrusted peer: headers ignored */
    resolve(NULL, "127.0.0.1", 0, "1.2.3.4", "https", "127.0.0.1", 0);
    resolve(lo, "192.0.2.9", 0, "1.2.3.4", "https", "192.0.2.9", 0);
    resolve(lo, "192.0.2.9", 1, "1.2.3.4", "http", "192.0.2.9", 1);
    /* trusted peer */
    resolve(lo, "127.0.0.1", 0, "1.2.3.4", "https", "1.2.3.4", 1);
    resolve(lo, "127.0.0.1", 0, NULL, NULL, "127.0.0.1", 0);
    resolve(lo, "127.0.0.1", 1, NULL, "http", "127.0.0.1", 0);
    /* right-most untrusted: the client cannot choose by prepending */
    resolve(lo, "127.0.0.1", 0, "6.6.6.6, 1.2.3.4", NULL, "1.2.3.4", 0);
    resolve(two, "127.0.0.1", 0, "6.6.6.6, 1.2.3.4, 10.0.0.5", NULL, "1.2.3.4", 0);
    resolve(two, "127.0.0.1", 0, "6.6.6.6,1.2.3.4,10.0.0.5,127.0.0.1", NULL, "1.2.3.4", 0);
    /* all trusted: the left-most */
    resolve(two, "127.0.0.1", 0, "10.0.0.7, 10.0.0.5", NULL, "10.0.0.7", 0);
    /* malformed entry stops the walk at the last trusted address */
    resolve(two, "127.0.0.1", 0, "1.2.3.4, bogus, 10.0.0.5", NULL, "10.0.0.5", 0);
    resolve(lo, "127.0.0.1", 0, "unknown", NULL, "127.0.0.1", 0);
    resolve(lo, "127.0.0.1", 0, " , ", NULL, "127.0.0.1", 0);
    /* IPv6, bracketed and canonicalised */
    resolve(lo, "127.0.0.1", 0, "[2001:DB8::1]", NULL, "2001:db8::1", 0);
    resolve(lo, "::ffff:127.0.0.1", 0, "::ffff:1.2.3.4", NULL, "1.2.3.4", 0);
    /* X-Forwarded-Proto: the right-most value, case-insensitive */
    resolve(lo, "127.0.0.1", 0, NULL, "http, HTTPS", "127.0.0.1", 1);
    resolve(lo, "127.0.0.1", 0, NULL, "https, http", "127.0.0.1", 0);
    resolve(lo, "127.0.0.1", 0, NULL, "httpsx", "127.0.0.1", 0);
}

static void test_several_headers(void **st)
{
    const char *lo[] = {"loopback", NULL};
    http_field h[] = {{"x-forwarded-for", "5.5.5.5"},
                      {"x-forwarded-proto", "https"},
                      {"x-forwarded-for", "127.0.0.2, 127.0.0.3"},
                      {"x-forwarded-proto", " "}};
    char addr[64];
    int secure;
    proxy_resolve(lo, "127.0.0.1", 0, h, 4, addr, sizeof addr, &secure);
    assert_string_equal(addr, "5.5.5.5");
    assert_int_equal(secure, 1);
    /* a short buffer truncates, never overflows */
    char tiny[4];
    proxy_resolve(lo, "127.0.0.1", 0, h, 4, tiny, sizeof tiny, &secure);
    assert_string_equal(tiny, "5.5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_several_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
