/* fuzz_logline.c — libFuzzer driver for gw_log_format_line() (gateway/util.c),
 * the formatter every worker output line goes through (wout.c).
 *
 * Input: byte 0 picks the buffer size (256 .. 16639 bytes) and the format;
 * the rest is the message, any bytes, as a worker may print them.
 * Checks what util.h promises:
 *  - the line ends in its only '\n' (JSON) and never runs past the buffer;
 *  - JSON: the line parses (jansson refuses invalid UTF-8) into an object
 *    with ts/level/component/msg and the fields; a message of printable
 *    ASCII that fits comes back unchanged;
 *  - text: the stamp, the padded level and the label lead the line.
 * Built twice: with -fsanitize=fuzzer (make fuzz), and as a plain program
 * with fuzz/replay_main.c (the tests/run.sh fuzz tier). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char TS[] = "2026-11-30T04:40:00.123Z";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cap = 256 + (size_t)(data[0] & 0x7f) * 128;
    int json = data[0] >> 7;
    const char *msg = (const char *)data + 1;
    size_t n = size - 1;
    /* a guard byte after the buffer: writing past cap trips ASan or this */
    char *buf = malloc(cap + 1);
    buf[cap] = 0x5a;
    const char *fields[] = {"nsp", "/chat", "pid", "#1234", "stream", "stdout", NULL};
    size_t len = gw_log_format_line(buf, cap, json ? GW_LOG_JSON : GW_LOG_TEXT, TS, GW_LOG_INFO,
                                    "worker", "worker[/chat pid 1234]", fields, msg, n);
    CHECK(buf[cap] == 0x5a);
    CHECK(len >= 1 && len <= cap);
    CHECK(buf[len - 1] == '\n');
    if (json) {
        CHECK(memchr(buf, '\n', len - 1) == NULL);
        json_error_t e;
        json_t *j = json_loadb(buf, len - 1, JSON_ALLOW_NUL, &e); /* \u0000 is valid JSON */
        CHECK(j != NULL);
        CHECK(json_is_object(j));
        CHECK(!strcmp(json_string_value(json_object_get(j, "ts")), TS));
        CHECK(!strcmp(json_string_value(json_object_get(j, "level")), "info"));
        CHECK(!strcmp(json_string_value(json_object_get(j, "component")), "worker"));
        json_t *m = json_object_get(j, "msg");
        CHECK(json_is_string(m));
        int printable = 1;
        for (size_t i = 0; i < n; i++)
            if (msg[i] < 0x20 || msg[i] > 0x7e || msg[i] == '"' || msg[i] == '\\') printable = 0;
        if (printable && n + 256 < cap) {
            CHECK(json_string_length(m) == n && !memcmp(json_string_value(m), msg, n));
            CHECK(json_integer_value(json_object_get(j, "pid")) == 1234);
            CHECK(!strcmp(json_string_value(json_object_get(j, "stream")), "stdout"));
        }
        json_decref(j);
    } else {
        static const char head[] = "2026-11-30T04:40:00.123Z INFO  worker[/chat pid 1234] ";
        CHECK(len >= sizeof head - 1 + 1 && !memcmp(buf, head, sizeof head - 1));
    }
    free(buf);
    return 0;
}
