/* fuzz_eio3_payload.c — libFuzzer driver for the Engine.IO v3 payload
 * decoder (--allow-eio3; eio3_codec.c): the length-prefixed text payload
 * and the binary one, and single v3 packets.  The first input byte picks
 * the body kind (bit 7) and chunk sizes, so the resumable decoder is also
 * fed split at odd places; the split result must equal the one-shot
 * result.  Every text packet handed on must be valid UTF-8.
 *
 * Built and run like every driver here: `make fuzz` (libFuzzer), and the
 * replay tier of `make test` over fuzz/corpus/eio3_payload (fuzz/README.md).
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
    if (!binary && !utf8_valid(data, len)) abort();
    a->hash = a->hash * 31 + (uint64_t)type * 7 + (uint64_t)binary;
    for (size_t i = 0; i < len; i++)
        a->hash = a->hash * 131 + (unsigned char)data[i];
    a->count++;
    return 0;
}

static int run(int binary_body, const char *p, size_t n, size_t step, acc_t *a)
{
    eio3_payload_dec d;
    eio3_payload_init(&d, cb, a);
    eio3_payload_reset(&d, binary_body);
    int r = 0;
    for (size_t at = 0; at < n && !r; at += step)
        r = eio3_payload_feed(&d, p + at, n - at < step ? n - at : step);
    if (!r) r = eio3_payload_finish(&d);
    eio3_payload_free(&d);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int binary_body = data[0] >> 7;
    size_t step = (size_t)(data[0] & 0x7f) % 7 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    acc_t one = {0, 0}, split = {0, 0};
    int r1 = run(binary_body, p, n, n ? n : 1, &one);
    int r2 = run(binary_body, p, n, step, &split);
    if (r1 != r2 || one.hash != split.hash || one.count != split.count) abort();
    /* the whole input as one WebSocket message, text and binary */
    int type, binary;
    const char *d;
    size_t dl, cap = 0;
    unsigned char *scratch = NULL;
    for (int frame = 0; frame < 2; frame++)
        if (eio3_packet_decode(frame, p, n, &type, &d, &dl, &binary, &scratch, &cap) == 0 &&
            (type < 0 || type > 6 || (!binary && !utf8_valid(d, dl))))
            abort();
    free(scratch);
    (void)eio_utf16_len(p, n);
    return 0;
}
