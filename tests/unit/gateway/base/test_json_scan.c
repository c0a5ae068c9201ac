/* test_json_scan.c — unit tests of jscan_check() (gateway/base/json_scan.c): the
 * JSON grammar as jansson reads it, UTF-8, the top-level shapes, depth, and
 * the attachment placeholders, each with the reason and offset it reports.
 * Every pure-JSON case is also checked against jansson, the reference the
 * scanner promises to agree with (fuzz/fuzz_json_scan.c does the same on
 * random inputs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

static const jscan_opts any = {JSCAN_ANY, 32, 0, 10};

static int scan_n(const char *text, size_t len, const jscan_opts *o, jscan_result *r,
                  const char **why)
{
    /* An exact-size copy: a read past the end is an ASan report. */
    char *buf = malloc(len ? len : 1);
    memcpy(buf, text, len);
    *why = NULL;
    int rc = jscan_check(buf, len, o, r, why);
    free(buf);
    return rc;
}

static void ok_n(const char *text, size_t len, const jscan_opts *o)
{
    jscan_result r;
    const char *why;
    if (scan_n(text, len, o, &r, &why) != 0)
        fail_msg("expected ok: %.*s (%s at %zu)", (int)len, text, why, r.err_off);
}

/* Refused, with a reason containing `reason` and, unless at is -1, the
 * failure at byte `at`. */
static void bad_n(const char *text, size_t len, const jscan_opts *o, const char *reason, long at)
{
    jscan_result r;
    const char *why;
    if (scan_n(text, len, o, &r, &why) != -1) fail_msg("expected refusal: %.*s", (int)len, text);
    assert_non_null(why);
    if (strstr(why, reason) == NULL)
        fail_msg("%.*s: reason '%s', expected '%s'", (int)len, text, why, reason);
    if (at >= 0 && r.err_off != (size_t)at)
        fail_msg("%.*s: stopped at %zu, expected %ld (%s)", (int)len, text, r.err_off, at, why);
    assert_true(r.err_off <= len);
}

#define ok(t, o) ok_n(t, strlen(t), o)
#define bad(t, o, reason, at) bad_n(t, strlen(t), o, reason, at)

/* jansson's verdict with the flags the gateway uses on client input. */
static int jansson_ok(const char *text, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &err);
    json_decref(j);
    return j != NULL;
}

static void same_as_jansson(const char *text, size_t len)
{
    const char *why;
    jscan_result r;
    int mine = scan_n(text, len, &any, &r, &why) == 0;
    if (mine != jansson_ok(text, len))
        fail_msg("%.*s: scanner says %d (%s), jansson %d", (int)len, text, mine, why ? why : "",
                 !mine);
}

static void grammar(void **st)
{
    static const char *const good[] = {
        "[]",
        "{}",
        " [ ] ",
        "\t\r\n[1]\n",
        "0",
        "-0",
        "1.5",
        "-1.5e10",
        "1E+2",
        "1e-2",
        "true",
        "false",
        "null",
        "\"\"",
        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "[1,\"a\",true,false,null,{},[]]",
        "{\"a\":1,\"b\":[{\"c\":{}}]}",
        "{\"a\":1,\"a\":2}",
        "\"\\u00e9\\uD83D\\uDE00\"",
        "\"\x7f\"",
        "[[[[[]]]]]",
        "12345678901234567890123", /* JSON.parse: a double; see the header */
    };
    static const char *const broken[] = {
        "",
        " ",
        "[",
        "]",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{1:1}",
        "{\"a\":1,}",
        "[1}",
        "{\"a\":1]",
        "01",
        "1.",
        ".1",
        "1e",
        "1e+",
        "-",
        "+1",
        "- 1",
        "tru",
        "truee",
        "nul",
        "True",
        "NaN",
        "Infinity",
        "'a'",
        "\"a",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "[1][2]",
        "[1] x",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800x\"",
        "\"\\u0000\"",
        "[\"\x01\"]",
        "[\"a\tb\"]",
        "[\"\x1e\"]",
        "[1]\x1e"
        "42/b,[\"pwned\"]",
        "/*c*/[]",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ok(good[i], &any);
        if (i + 1 < sizeof good / sizeof *good) same_as_jansson(good[i], strlen(good[i]));
    }
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        bad(broken[i], &any, "", -1);
        same_as_jansson(broken[i], strlen(broken[i]));
    }
    bad_n("[1]\x00", 4, &any, "trailing data", 3);
    /* jansson 2.14 skips a NUL after a number; JSON.parse does not. */
    bad_n("[1\x00]", 4, &any, "',' or a closing bracket expected", 2);
    bad_n("2\x00", 2, &any, "trailing data", 1);
    bad_n("[\"a\x00\"]", 5, &any, "control character", 3);
}

static void reasons_and_offsets(void **st)
{
    bad("[1,}]", &any, "invalid JSON value", 3);
    bad("[\"x\"]\x1e"
        "1",
        &any, "trailing data", 5);
    bad("[\"x\x1e"
        "1\"]",
        &any, "control character", 3);
    bad("[1 2]", &any, "',' or a closing bracket expected", 3);
    bad("{\"a\" 1}", &any, "':' expected", 5);
    bad("[1}", &any, "mismatched bracket", 2);
    bad("[\"\\q\"]", &any, "invalid escape", 2);
    bad("[\"\\ud800\"]", &any, "lone surrogate", 2);
    bad("[\"\\u0000\"]", &any, "\\u0000", 2);
    bad("[1", &any, "unexpected end", 2);
    bad("", &any, "empty", 0);
    bad("[\"abc", &any, "unterminated string", 5);
}

static void utf8(void **st)
{
    ok("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", &any);
    ok("{\"\xc3\xa9\":\"\xf4\x8f\xbf\xbf\"}", &any);
    static const char *const broken[] = {
        "[\"\xff\"]",
        "[\"\xc0\xaf\"]", /* overlong */
        "[\"\xe0\x80\xaf\"]",
        "[\"\xed\xa0\x80\"]", /* surrogate */
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xe2\x82\"]", /* truncated */
        "[\"\x80\"]",
        "[\"\xc3\"]",
        "[\xc3\xa9]", /* outside a string */
    };
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        bad(broken[i], &any, "", -1);
        same_as_jansson(broken[i], strlen(broken[i]));
    }
    bad("[\"ab\xc3\"]", &any, "invalid UTF-8", 4);
}

static void top_level_shapes(void **st)
{
    jscan_opts arr = {JSCAN_ARRAY, 32, 0, 10};
    jscan_opts ev = {JSCAN_EVENT, 32, 0, 10};
    jscan_opts obj = {JSCAN_OBJECT, 32, 0, 10};
    ok("[]", &arr);
    ok(" [1,{}] ", &arr);
    bad("{}", &arr, "not a JSON array", 0);
    bad("\"x\"", &arr, "not a JSON array", 0);
    ok("[\"message\",1,{\"a\":[]}]", &ev);
    ok("[\"\"]", &ev);
    ok("[\"connected\"]", &ev);
    ok("[\"Connect\"]", &ev);
    bad("[]", &ev, "event without a name", 1);
    bad("[1]", &ev, "event name is not a string", 1);
    bad("[[\"x\"]]", &ev, "event name is not a string", 1);
    bad("{\"0\":\"x\"}", &ev, "not a JSON array", 0);
    static const char *const reserved[] = {
        "[\"connect\"]",          "[\"connect_error\",1]", "[\"disconnect\"]",
        "[\"disconnecting\"]",    "[\"newListener\"]",     "[ \"removeListener\" ]",
        "[\"disconn\\u0065ct\"]", "[\"\\u0063onnect\"]",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        bad(reserved[i], &ev, "reserved", -1);
    ok("[\"x\",\"connect\"]", &ev); /* only the name is reserved */
    ok("{}", &obj);
    ok("{\"token\":\"x\"}", &obj);
    bad("[]", &obj, "not a JSON object", 0);
}

static void depth(void **st)
{
    jscan_opts two = {JSCAN_ANY, 2, 0, 10};
    ok("[[1]]", &two);
    ok("[{},[]]", &two);
    bad("[[[]]]", &two, "nested too deeply", 2);
    bad("[{\"a\":{}}]", &two, "nested too deeply", 6);
    jscan_opts zero = {JSCAN_ANY, 0, 0, 10};
    ok("1", &zero);
    bad("[]", &zero, "nested too deeply", 0);
    /* 100,000 '[' cost one comparison past the limit. */
    size_t n = 100000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    bad_n(deep, n, &any, "nested too deeply", 32);
    jscan_opts cap = {JSCAN_ANY, 1 << 30, 0, 10}; /* taken as JSCAN_MAX_DEPTH */
    bad_n(deep, n, &cap, "nested too deeply", JSCAN_MAX_DEPTH);
    free(deep);
    char big[2 * 10000];
    memset(big, '[', 10000);
    memset(big + 10000, ']', 10000);
    ok_n(big, sizeof big, &cap);
}

static void placeholders(void **st)
{
    jscan_opts one = {JSCAN_EVENT, 32, 1, 10};
    jscan_opts two = {JSCAN_EVENT, 32, 2, 10};
    jscan_result r;
    const char *why;
    const char *one_ph = "[\"f\",{\"_placeholder\":true,\"num\":0}]";
    assert_int_equal(scan_n(one_ph, strlen(one_ph), &one, &r, &why), 0);
    assert_int_equal(r.placeholders, 1);
    ok("[\"f\",{\"num\":0,\"_placeholder\":true}]", &one);                   /* keys in any order */
    ok("[\"f\",{\"a\":[{\"x\":{\"_placeholder\":true,\"num\":0}}]}]", &one); /* any depth */
    ok("[\"f\",{\"_pl\\u0061ceholder\":true,\"num\":0}]", &one);             /* escaped key */
    ok("[\"f\",{ \"_placeholder\" : true , \"num\" : 0 }]", &one);
    ok("[\"f\",{\"_placeholder\":true,\"num\":-0}]", &one);
    assert_int_equal(
        scan_n("[\"f\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0},"
               "{\"_placeholder\":true,\"num\":1}]",
               strlen("[\"f\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,"
                      "\"num\":0},{\"_placeholder\":true,\"num\":1}]"),
               &two, &r, &why),
        0);
    assert_int_equal(r.placeholders, 3);                    /* two may share one attachment */
    ok("[\"f\",{\"num\":5},{\"placeholder\":true}]", &any); /* not placeholders */
    /* A member a repeated key hides (jansson and JSON.parse keep the last
     * one) is checked all the same. */
    bad("[\"f\",{\"a\":{\"_placeholder\":true,\"num\":5},\"a\":1}]", &one, "out of range", -1);
    ok("[\"f\",{\"a\":{\"_placeholder\":true,\"num\":0},\"a\":1}]", &one);

    bad("[\"f\"]", &one, "not referenced", 5);
    bad("[\"f\",{\"_placeholder\":true,\"num\":0}]", &two, "not referenced", -1);
    bad("[\"f\",{\"_placeholder\":true,\"num\":0}]", &any, "out of range", -1);
    bad("[\"f\",{\"_placeholder\":true,\"num\":1}]", &one, "out of range", -1);
    bad("[\"f\",{\"_placeholder\":true,\"num\":-1}]", &one, "out of range", -1);
    bad("[\"f\",{\"_placeholder\":true,\"num\":99999999999999999999999}]", &one, "out of range",
        -1);
    bad("[\"f\",{\"_placeholder\":true,\"num\":0.0}]", &one, "not an integer", -1);
    bad("[\"f\",{\"_placeholder\":true,\"num\":0e0}]", &one, "not an integer", -1);
    bad("[\"f\",{\"_placeholder\":true,\"num\":\"0\"}]", &one, "not an integer", -1);
    static const char *const malformed[] = {
        "[\"f\",{\"_placeholder\":true}]",
        "[\"f\",{\"_placeholder\":false,\"num\":0}]",
        "[\"f\",{\"_placeholder\":1,\"num\":0}]",
        "[\"f\",{\"_placeholder\":true,\"num\":0,\"x\":1}]",
        "[\"f\",{\"_placeholder\":true,\"_placeholder\":true,\"num\":0}]",
        "[\"f\",{\"_placeholder\":true,\"num\":0,\"num\":0}]",
        "[\"f\",{\"_placeholder\":{},\"num\":0}]",
        "[\"f\",{\"_placeholder\":true,\"num\":[0]}]",
        "[\"f\",{\"num\":[0],\"_placeholder\":true}]",
        "[\"f\",{\"x\":[],\"_placeholder\":true,\"num\":0}]",
        "[\"f\",{\"_placeholder\":true,\"x\":{},\"num\":0}]",
        "[\"f\",{\"x\":{},\"y\":1,\"_placeholder\":true}]",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        bad(malformed[i], &one, "attachment placeholder", -1);
}

static void attachment_limits(void **st)
{
    jscan_opts o = {JSCAN_EVENT, 32, 11, 10};
    bad("[\"f\"]", &o, "too many attachments", 0);
    o.max_att = 5000;
    o.n_att = JSCAN_MAX_ATTACHMENTS + 1;
    bad("[\"f\"]", &o, "too many attachments", 0);
    /* JSCAN_MAX_ATTACHMENTS, every one referenced. */
    o.n_att = JSCAN_MAX_ATTACHMENTS;
    size_t cap = 16 + JSCAN_MAX_ATTACHMENTS * 40, n = 0;
    char *t = malloc(cap);
    n += (size_t)snprintf(t + n, cap - n, "[\"f\"");
    for (size_t k = 0; k < JSCAN_MAX_ATTACHMENTS; k++)
        n += (size_t)snprintf(t + n, cap - n, ",{\"_placeholder\":true,\"num\":%zu}", k);
    n += (size_t)snprintf(t + n, cap - n, "]");
    jscan_result r;
    const char *why;
    assert_int_equal(scan_n(t, n, &o, &r, &why), 0);
    assert_int_equal(r.placeholders, JSCAN_MAX_ATTACHMENTS);
    o.n_att = JSCAN_MAX_ATTACHMENTS - 1;
    bad_n(t, n, &o, "out of range", -1);
    free(t);
}

static void null_result_and_why(void **st)
{
    assert_int_equal(jscan_check("[1]", 3, &any, NULL, NULL), 0);
    assert_int_equal(jscan_check("[1,]", 4, &any, NULL, NULL), -1);
    assert_int_equal(jscan_check(NULL, 0, &any, NULL, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grammar),
        cmocka_unit_test(reasons_and_offsets),
        cmocka_unit_test(utf8),
        cmocka_unit_test(top_level_shapes),
        cmocka_unit_test(depth),
        cmocka_unit_test(placeholders),
        cmocka_unit_test(attachment_limits),
        cmocka_unit_test(null_result_and_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
