/* test_worker_tidy.c — the C worker library's internal seams after issue 11:
 * iog_resolve_placeholders() is the one check of received placeholders (it
 * refuses what does not match the attachments and resolves the rest), and
 * the deprecated accessor names still compile and do what the new ones do.
 * Uses the library's own objects (worker_int.h): no gateway needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

static json_t *resolve_text(const char *text, const ipc_buf *att, size_t n_att, const char **why)
{
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    return iog_resolve_placeholders(v, att, n_att, why);
}

static void placeholders_resolved(void **st)
{
    ipc_buf att[2] = {{"ab", 2}, {"\0\xff", 2}};
    const char *why = NULL;
    json_t *v = resolve_text("[\"ev\",{\"x\":[{\"num\":1,\"_placeholder\":true}]},"
                             "{\"_placeholder\":true,\"num\":0},3]",
                             att, 2, &why);
    assert_non_null(v);
    size_t len = 0;
    const char *b0 = iog_binary_data(json_array_get(v, 2), &len);
    assert_int_equal(len, 2);
    assert_memory_equal(b0, "ab", 2);
    json_t *inner = json_array_get(json_object_get(json_array_get(v, 1), "x"), 0);
    const char *b1 = iog_binary_data(inner, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(b1, "\0\xff", 2);
    assert_int_equal(json_integer_value(json_array_get(v, 3)), 3);
    json_decref(v);
    /* no attachments, no placeholders: the value as it was */
    v = resolve_text("[\"ev\",{\"_placeholderish\":1}]", NULL, 0, &why);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 1), "_placeholderish")),
                     1);
    json_decref(v);
}

static void placeholders_refused(void **st)
{
    ipc_buf att[2] = {{"ab", 2}, {"cd", 2}};
    static const struct {
        const char *text;
        size_t n_att;
    } bad[] = {
        {"[{\"_placeholder\":true,\"num\":1}]", 1},         /* num out of range */
        {"[{\"_placeholder\":true,\"num\":0}]", 2},         /* attachment 1 unused */
        {"[{\"_placeholder\":true,\"num\":0,\"x\":1}]", 1}, /* extra key */
        {"[{\"_placeholder\":true,\"num\":\"0\"}]", 1},     /* num not an integer */
        {"[{\"_placeholder\":false,\"num\":0}]", 1},        /* not true */
        {"[{\"_placeholder\":true,\"num\":-1}]", 1},        /* negative */
        {"[{\"_placeholder\":true,\"num\":0}]", 0},         /* none announced */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *why = NULL;
        json_t *v = resolve_text(bad[i].text, att, bad[i].n_att, &why);
        assert_null(v);
        assert_non_null(why);
    }
    /* deeper than IOG_MAX_DEPTH: refused rather than walked */
    char deep[2 * IOG_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < IOG_MAX_DEPTH + 1; i++)
        deep[n++] = '[';
    for (int i = 0; i < IOG_MAX_DEPTH + 1; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    const char *why = NULL;
    assert_null(resolve_text(deep, NULL, 0, &why));
    assert_non_null(why);
}

static void accessor_names(void **st)
{
    iog_worker *w = iog_worker_new("ipc:///nonexistent/iogate-tidy.sock", "/t");
    assert_non_null(w); /* nothing is connected before iog_worker_start */
    json_t *meta = json_pack("{s:{s:{}}}", "handshake", "auth");
    iog_socket *s = iog_socket_create(w->gws[0], "AAAAAAAAAAAAAAAAAAA1", meta);
    json_decref(meta);
    /* data: the new names and the deprecated ones are one thing */
    assert_true(json_is_object(iog_socket_data(s)));
    iog_socket_set_data(s, json_pack("{s:i}", "n", 1));
    assert_ptr_equal(iog_socket_data_get(s), iog_socket_data(s));
    iog_socket_data_set(s, json_pack("{s:i}", "n", 2));
    assert_int_equal(json_integer_value(json_object_get(iog_socket_data(s), "n")), 2);
    iog_socket_set_data(s, NULL);
    assert_int_equal(json_object_size(iog_socket_data(s)), 0);
    /* user pointer */
    char *p = strdup("mine");
    iog_socket_set_user(s, p, free);
    assert_ptr_equal(iog_socket_user(s), p);
    assert_ptr_equal(iog_socket_get_user(s), p);
    iog_socket_free(s); /* frees p through free_fn */
    iog_worker_destroy(&w);
    assert_null(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placeholders_resolved),
        cmocka_unit_test(placeholders_refused),
        cmocka_unit_test(accessor_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
