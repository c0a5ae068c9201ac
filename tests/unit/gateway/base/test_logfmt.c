/* test_logfmt.c — the log line formats (gateway/util.c: text and JSON,
 * escaping of arbitrary worker bytes) and the /metrics label escaping and
 * per-namespace cap (gateway/metrics.c), called directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

/* Run fn with stderr redirected to a temporary file; return what it wrote. */
static char *capture(void (*fn)(void))
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    if (n < 0) n = 0;
    char *out = calloc(1, (size_t)n + 1);
    rewind(tmp);
    size_t got = fread(out, 1, (size_t)n, tmp);
    out[got] = '\0';
    fclose(tmp);
    return out;
}

static void say_text(void)
{
    gw_log(GW_LOG_WARN, "hello %d", 42);
}

static void text_format(void **st)
{
    gw_log_format = GW_LOG_TEXT;
    char *out = capture(say_text);
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "WARN  gateway hello 42\n$",
                             REG_EXTENDED),
                     0);
    assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
    regfree(&re);
    free(out);
}

static const char nasty[] = "q\"\\\n\t\x01\x7f ok \xc3\xa9 bad \xff \xe0\x80\x80 \xed\xa0\x80 "
                            "\xf0\x9f\x98\x80 cut \xe2\x82";

static void say_raw(void)
{
    const char *f[] = {"nsp", "/a\"b", "pid", "#123", "stream", "stderr", NULL};
    gw_log_raw(GW_LOG_INFO, "worker", "worker[/a\"b pid 123]", f, nasty, sizeof nasty - 1);
}

static void json_format(void **st)
{
    gw_log_format = GW_LOG_JSON;
    char *out = capture(say_raw);
    gw_log_format = GW_LOG_TEXT;
    size_t n = strlen(out);
    assert_true(n > 0 && out[n - 1] == '\n');
    assert_null(memchr(out, '\n', n - 1)); /* one line */
    json_error_t e;
    json_t *j = json_loads(out, 0, &e); /* jansson refuses invalid UTF-8 */
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "component")), "worker");
    assert_string_equal(json_string_value(json_object_get(j, "nsp")), "/a\"b");
    assert_int_equal(json_integer_value(json_object_get(j, "pid")), 123);
    /* valid sequences kept, each invalid byte one U+FFFD */
    assert_string_equal(
        json_string_value(json_object_get(j, "msg")),
        "q\"\\\n\t\x01\x7f ok \xc3\xa9 bad \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80 cut \xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
    free(out);
}

static void say_text_raw(void)
{
    gw_log_raw(GW_LOG_INFO, "worker", "worker[/x pid 9]", NULL, "a line", 6);
}

static void text_raw_label(void **st)
{
    char *out = capture(say_text_raw);
    assert_non_null(strstr(out, "Z INFO  worker[/x pid 9] a line\n"));
    free(out);
}

static void label_escape(void **st)
{
    char buf[64];
    size_t n = gw_metrics_escape(buf, 0, sizeof buf, "a\"b\\c\nd");
    assert_string_equal(buf, "a\\\"b\\\\c\\nd");
    assert_int_equal(n, strlen(buf));
    /* never past the buffer, always terminated */
    char small[5];
    n = gw_metrics_escape(small, 0, sizeof small, "\"\"\"\"\"\"");
    assert_true(n < sizeof small);
    assert_int_equal(small[n], '\0');
}

static void nsp_cap(void **st)
{
    gw_nsp_counters *a = gw_metrics_nsp("/a");
    assert_ptr_equal(a, gw_metrics_nsp("/a"));
    char name[32];
    for (int i = 0; i < GW_METRICS_MAX_NSP + 10; i++) {
        snprintf(name, sizeof name, "/dyn-%d", i);
        gw_metrics_nsp(name)->restarts++;
    }
    /* past the cap the names share one "(other)" entry */
    gw_nsp_counters *o = gw_metrics_nsp("/yet-another");
    assert_ptr_equal(o, gw_metrics_nsp("/one-more"));
    assert_true(o->restarts >= 10);
    gw_metrics_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_format),    cmocka_unit_test(json_format),
        cmocka_unit_test(text_raw_label), cmocka_unit_test(label_escape),
        cmocka_unit_test(nsp_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
