/* test_ipc_placeholders.c — unit tests of ipc_check_placeholders()
 * (ipc/ipc_placeholders.c): the placeholder rules of PROTOCOL.md §2 rule 7. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

static int check(const char *text, size_t n_att, int max_depth, const char **why)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (v == NULL) fail_msg("bad test JSON %s: %s", text, err.text);
    *why = NULL;
    int rc = ipc_check_placeholders(v, n_att, max_depth, why);
    json_decref(v);
    return rc;
}

static void ok(const char *text, size_t n_att)
{
    const char *why;
    if (check(text, n_att, 32, &why) != 0) fail_msg("expected ok: %s (%s)", text, why);
}

static void bad(const char *text, size_t n_att)
{
    const char *why;
    if (check(text, n_att, 32, &why) != -1) fail_msg("expected refusal: %s", text);
    assert_non_null(why);
}

static void no_placeholders_no_attachments(void **st)
{
    ok("[]", 0);
    ok("[\"a\",1,{\"b\":[null,true]},\"_placeholder\"]", 0);
    ok("{\"x\":{\"placeholder\":true,\"num\":0}}", 0);
    ok("42", 0);
    ok("\"s\"", 0);
    const char *why = NULL;
    assert_int_equal(ipc_check_placeholders(NULL, 0, 32, &why), 0);
}

static void placeholders_any_depth_any_order(void **st)
{
    ok("[{\"_placeholder\":true,\"num\":0}]", 1);
    ok("[{\"num\":0,\"_placeholder\":true}]", 1);
    ok("{\"a\":[[{\"b\":{\"num\":1,\"_placeholder\":true}}]],\"c\":{\"_placeholder\":true,\"num\":"
       "0}}",
       2);
    ok("[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]", 1);
}

static void placeholder_as_top_level_value(void **st)
{
    ok("{\"_placeholder\":true,\"num\":0}", 1);
    bad("{\"_placeholder\":true,\"num\":0}", 0);
}

static void num_out_of_range(void **st)
{
    bad("[{\"_placeholder\":true,\"num\":1}]", 1);
    bad("[{\"_placeholder\":true,\"num\":-1}]", 1);
    bad("[{\"_placeholder\":true,\"num\":0}]", 0);
    bad("[{\"_placeholder\":true,\"num\":9223372036854775807}]", 1);
}

static void num_not_an_integer(void **st)
{
    bad("[{\"_placeholder\":true,\"num\":\"0\"}]", 1);
    bad("[{\"_placeholder\":true,\"num\":0.0}]", 1);
    bad("[{\"_placeholder\":true,\"num\":null}]", 1);
    bad("[{\"_placeholder\":true,\"num\":true}]", 1);
    bad("[{\"_placeholder\":true,\"num\":{}}]", 1);
}

static void malformed_placeholder_objects(void **st)
{
    bad("[{\"_placeholder\":true}]", 1);
    bad("[{\"_placeholder\":false,\"num\":0}]", 1);
    bad("[{\"_placeholder\":null,\"num\":0}]", 1);
    bad("[{\"_placeholder\":1,\"num\":0}]", 1);
    bad("[{\"_placeholder\":true,\"num\":0,\"x\":1}]", 1);
    bad("[{\"_placeholder\":true,\"x\":0}]", 1);
}

static void every_attachment_must_be_referenced(void **st)
{
    bad("[]", 1);
    bad("[{\"_placeholder\":true,\"num\":0}]", 2);
    bad("[{\"_placeholder\":true,\"num\":1}]", 2);
    ok("[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]", 2);
}

static void too_many_attachments(void **st)
{
    const char *why = NULL;
    json_t *v = json_array();
    assert_int_equal(ipc_check_placeholders(v, IPC_MAX_FRAMES + 1, 32, &why), -1);
    assert_non_null(why);
    assert_int_equal(ipc_check_placeholders(v, SIZE_MAX, 32, &why), -1);
    json_decref(v);
}

/* The largest count the bitmap holds: all referenced. */
static void max_attachments_all_referenced(void **st)
{
    json_t *v = json_array();
    for (int k = 0; k < IPC_MAX_FRAMES; k++)
        json_array_append_new(v, json_pack("{s:b,s:i}", "_placeholder", 1, "num", k));
    const char *why = NULL;
    assert_int_equal(ipc_check_placeholders(v, IPC_MAX_FRAMES, 32, &why), 0);
    json_array_remove(v, 17);
    assert_int_equal(ipc_check_placeholders(v, IPC_MAX_FRAMES, 32, &why), -1);
    json_decref(v);
}

static void depth_is_bounded(void **st)
{
    const char *why;
    /* [[[1]]] is depth 3 */
    assert_int_equal(check("[[[1]]]", 0, 3, &why), 0);
    assert_int_equal(check("[[[1]]]", 0, 2, &why), -1);
    assert_non_null(why);
    assert_int_equal(check("{\"a\":{\"b\":[]}}", 0, 3, &why), 0);
    assert_int_equal(check("{\"a\":{\"b\":[]}}", 0, 2, &why), -1);
    /* a placeholder object counts as one level */
    assert_int_equal(check("[{\"_placeholder\":true,\"num\":0}]", 1, 2, &why), 0);
    assert_int_equal(check("[{\"_placeholder\":true,\"num\":0}]", 1, 1, &why), -1);
    /* scalars do not count */
    assert_int_equal(check("1", 0, 0, &why), 0);
}

static void why_may_be_null(void **st)
{
    json_t *v = json_array();
    assert_int_equal(ipc_check_placeholders(v, 1, 32, NULL), -1);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_placeholders_no_attachments),
        cmocka_unit_test(placeholders_any_depth_any_order),
        cmocka_unit_test(placeholder_as_top_level_value),
        cmocka_unit_test(num_out_of_range),
        cmocka_unit_test(num_not_an_integer),
        cmocka_unit_test(malformed_placeholder_objects),
        cmocka_unit_test(every_attachment_must_be_referenced),
        cmocka_unit_test(too_many_attachments),
        cmocka_unit_test(max_attachments_all_referenced),
        cmocka_unit_test(depth_is_bounded),
        cmocka_unit_test(why_may_be_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
