/* fuzz_json_scan.c — libFuzzer driver for jscan_check() (gateway/base/json_scan.c).
 *
 * Input: one JSON text, as a worker's data frame or a client packet's
 * payload carries it.  Differential: each input is scanned under several
 * option sets (top-level shape, attachment count, depth) and every verdict
 * must equal the oracle's — jansson with the flags the gateway uses
 * (JSON_DECODE_ANY, no JSON_ALLOW_NUL), the shape checked on the tree, and
 * ipc_check_placeholders() for depth and placeholders.  The only
 * differences allowed are the two json_scan.h documents:
 *  - numbers jansson reports as overflowing (1e400, 2^64) are grammar to the
 *    scanner: the oracle re-reads with JSON_DECODE_INT_AS_REAL, and a real
 *    overflow leaves it without a verdict (then only the promises below
 *    are checked);
 *  - repeated keys: jansson keeps the last one, which can hide a
 *    placeholder or a deep value from its tree or make a placeholder object
 *    look whole; the scanner checks every member it reads, so verdicts may
 *    differ for a placeholder or depth reason when jansson with
 *    JSON_REJECT_DUPLICATES refuses the text;
 *  - a NUL byte is never JSON, but jansson 2.14 skips one that follows a
 *    number ("[1\0]" loads; found by this driver): an input holding a NUL
 *    must be refused by the scanner, whatever jansson says.
 * Besides: err_off within the input, a reason on failure, a tighter depth
 * never accepting what a looser one refuses, and a success with n
 * attachments seeing at least n placeholders.
 * Built twice: with -fsanitize=fuzzer (make fuzz), and as a plain program
 * with fuzz/replay_main.c (the tests/run.sh fuzz tier). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "json_scan.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                       "disconnecting", "newListener",   "removeListener"};

/* Reasons a member hidden by a repeated key can cause (see below). */
static int about_members(const char *why)
{
    return why != NULL &&
           (strstr(why, "placeholder") || strstr(why, "attachment") || strstr(why, "deeply"));
}

/* The oracle's verdict for one option set over jansson's tree j; *why is
 * set when it refuses for a placeholder/attachment reason. */
static int oracle(json_t *j, const jscan_opts *o, const char **why)
{
    *why = "";
    if (o->n_att > o->max_att) return 0;
    switch (o->top) {
    case JSCAN_ARRAY:
        if (!json_is_array(j)) return 0;
        break;
    case JSCAN_EVENT: {
        json_t *name = json_array_get(j, 0);
        if (!json_is_array(j) || !json_is_string(name)) return 0;
        for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
            if (strcmp(json_string_value(name), reserved[i]) == 0) return 0;
        break;
    }
    case JSCAN_OBJECT:
        if (!json_is_object(j)) return 0;
        break;
    case JSCAN_ANY:
        break;
    }
    return ipc_check_placeholders(j, o->n_att, o->max_depth, why) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly `size` bytes: any read past the end is an
     * ASan report, even in the replay build. */
    char *buf = malloc(size ? size : 1);
    CHECK(buf != NULL);
    if (size)
        memcpy(buf, data, size);
    else
        buf[0] = 0; /* never read: keeps -Wmaybe-uninitialized quiet */

    json_error_t err;
    int overflow = 0, decided = 1;
    json_t *j = json_loadb(buf, size, JSON_DECODE_ANY, &err);
    if (j == NULL && json_error_code(&err) == json_error_numeric_overflow) {
        overflow = 1;
        j = json_loadb(buf, size, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
        if (j == NULL && json_error_code(&err) == json_error_numeric_overflow) decided = 0;
    }
    int dup_keys = -1; /* computed when needed */
    int has_nul = size > 0 && memchr(buf, 0, size) != NULL;

    static const jscan_top tops[] = {JSCAN_ANY, JSCAN_ARRAY, JSCAN_EVENT, JSCAN_OBJECT};
    static const int depths[] = {32, 3};
    for (size_t t = 0; t < sizeof tops / sizeof *tops; t++) {
        for (size_t n_att = 0; n_att <= 3; n_att++) {
            int prev_rc = -1; /* verdict at the looser depth */
            for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
                jscan_opts o = {tops[t], depths[d], n_att, 2};
                jscan_result r;
                const char *why = NULL;
                int rc = jscan_check(buf, size, &o, &r, &why);
                CHECK(rc == 0 || rc == -1);
                if (rc == 0) {
                    CHECK(r.placeholders >= n_att);
                    CHECK(d == 0 || prev_rc == 0); /* tighter never accepts more */
                } else {
                    CHECK(why != NULL && r.err_off <= size);
                }
                prev_rc = rc;
                if (has_nul) {
                    CHECK(rc == -1);
                    continue;
                }
                /* Placeholder nums read as reals after an integer overflow:
                 * the oracle cannot judge placeholders then. */
                if (!decided || (overflow && n_att > 0)) continue;
                const char *owhy = "";
                int want = j != NULL && oracle(j, &o, &owhy);
                if ((rc == 0) == want) continue;
                /* Repeated keys: jansson (like JSON.parse) keeps the last
                 * one, which may hide a placeholder or a deep value from
                 * its tree, or make a placeholder object look whole; the
                 * scanner checks every member it reads. */
                if (j != NULL && (about_members(rc != 0 ? why : owhy))) {
                    if (dup_keys < 0) {
                        json_t *strict = json_loadb(buf, size,
                                                    JSON_DECODE_ANY | JSON_REJECT_DUPLICATES |
                                                        (overflow ? JSON_DECODE_INT_AS_REAL : 0),
                                                    &err);
                        dup_keys = strict == NULL;
                        json_decref(strict);
                    }
                    if (dup_keys) continue;
                }
                fprintf(stderr,
                        "verdicts differ (top %d, n_att %zu, depth %d): scanner %d (%s at %zu), "
                        "oracle %d; input %zu bytes: %.*s\n",
                        (int)o.top, n_att, o.max_depth, rc, why ? why : "-", r.err_off, want, size,
                        (int)(size < 300 ? size : 300), buf);
                abort();
            }
        }
    }
    json_decref(j);
    free(buf);
    return 0;
}
