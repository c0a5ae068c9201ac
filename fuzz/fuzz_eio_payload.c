/* fuzz_eio_payload.c — libFuzzer driver for the polling payload decoder,
 * base64 and UTF-8 validation (eio_codec.c).  The first input byte picks
 * chunk sizes, so the resumable decoder is also fed split at odd places;
 * the split result must equal the one-shot result.
 *
 * Built and run like every driver here: `make fuzz` (libFuzzer), and the
 * replay tier of `make test` over fuzz/corpus/eio_payload (fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "eio_codec.h"
#include "utf8.h"

typedef struct {
    uint64_t hash;
    size_t count;
} acc_t;

static int cb(void *ud, int type, const char *data, size_t len, int binary)
{
    acc_t *a = ud;
    a->hash = a->hash * 31 + (uint64_t)type * 7 + (uint64_t)binary;
    for (size_t i = 0; i < len; i++)
        a->hash = a->hash * 131 + (unsigned char)data[i];
    a->count++;
    return 0;
}

static int run(const char *p, size_t n, size_t step, acc_t *a)
{
    eio_payload_dec d;
    eio_payload_init(&d, cb, a);
    int r = 0;
    for (size_t at = 0; at < n && !r; at += step)
        r = eio_payload_feed(&d, p + at, n - at < step ? n - at : step);
    if (!r) r = eio_payload_finish(&d);
    eio_payload_free(&d);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)data[0] % 7 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    acc_t one = {0, 0}, split = {0, 0};
    int r1 = run(p, n, n ? n : 1, &one);
    int r2 = run(p, n, step, &split);
    if (r1 != r2 || one.hash != split.hash || one.count != split.count) abort();
    unsigned char *out = malloc(n / 4 * 3 + 3);
    long dl = b64_decode(p, n, out);
    if (dl >= 0) { /* decode → encode → decode is stable */
        char *enc = malloc(b64_len((size_t)dl) + 1);
        size_t el = b64_encode(out, (size_t)dl, enc);
        unsigned char *again = malloc(el / 4 * 3 + 3);
        if (b64_decode(enc, el, again) != dl || memcmp(again, out, (size_t)dl)) abort();
        free(enc);
        free(again);
    }
    free(out);
    utf8_valid(p, n);
    return 0;
}
