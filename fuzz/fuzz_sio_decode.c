/* fuzz_sio_decode.c — libFuzzer driver for sio_decode() (gateway/socketio/sio_codec.c).
 *
 * Input: one Socket.IO packet exactly as a client sends it inside an
 * Engine.IO message (e.g. `2/chat,17["msg","hi"]`), no framing.
 * Besides the sanitizers, it checks what the header promises:
 *  - success leaves a coherent packet (views inside the input, id and
 *    attachment count in range; a tree only for a CONNECT's auth, other
 *    data left as bytes, which jscan_check() accepts for its shape — and
 *    which jansson, when it can load them at all, loads as that shape);
 *  - failure leaves a cleared packet and a reason;
 *  - encoding the decoded head and appending the data decodes back to the
 *    same packet (sio_encode_head round trip);
 *  - tighter limits never accept what the defaults refuse.
 * Built twice: with -fsanitize=fuzzer (make fuzz), and as a plain program
 * with fuzz/replay_main.c (the tests/run.sh fuzz tier). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio_codec.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void check_packet(const sio_packet *p, const char *buf, size_t len, const sio_limits *lim)
{
    CHECK(p->type >= SIO_CONNECT && p->type <= SIO_BINARY_ACK);
    CHECK(p->type != SIO_CONNECT_ERROR);
    int binary = p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK;
    CHECK(binary ? p->attachments >= 1 && p->attachments <= lim->max_attachments
                 : p->attachments == 0);
    CHECK(p->nsp != NULL && p->nsp_len >= 1 && p->nsp[0] == '/');
    CHECK(memchr(p->nsp, ',', p->nsp_len) == NULL);
    CHECK((p->nsp_len == 1) || inside(p->nsp, p->nsp_len, buf, len));
    CHECK(p->id >= -1 && p->id <= 999999999999999LL);
    CHECK((p->type == SIO_CONNECT && p->data != NULL) == (p->json != NULL));
    if (p->data) {
        CHECK(p->data_len > 0 && inside(p->data, p->data_len, buf, len));
        CHECK(p->data + p->data_len == buf + len); /* the JSON runs to the end */
    }
    json_t *j = NULL;
    if (p->data && p->type != SIO_CONNECT) {
        /* The scanner's verdict, cross-checked: a text it accepts, jansson
         * loads as the same shape, unless a number overflows it (1e400:
         * grammar to the scanner, Infinity to JSON.parse). */
        json_error_t err;
        j = json_loadb(p->data, p->data_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
        CHECK(j != NULL || json_error_code(&err) == json_error_numeric_overflow);
    }
    switch (p->type) {
    case SIO_CONNECT:
        CHECK(p->json == NULL || json_is_object(p->json));
        break;
    case SIO_DISCONNECT:
        CHECK(p->data == NULL);
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        CHECK(p->data != NULL);
        CHECK(j == NULL || (json_is_array(j) && json_is_string(json_array_get(j, 0))));
        break;
    default:
        CHECK(p->id >= 0 && p->data != NULL);
        CHECK(j == NULL || json_is_array(j));
        break;
    }
    json_decref(j);
}

/* Re-encode the head, append the same JSON text, decode again. */
static void check_round_trip(const sio_packet *p, const sio_limits *lim)
{
    size_t cap = sio_head_max(p->nsp_len) + p->data_len;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    size_t n = sio_encode_head(buf, p->type, p->attachments, p->nsp, p->nsp_len, p->id);
    CHECK(n <= sio_head_max(p->nsp_len));
    if (p->data_len) memcpy(buf + n, p->data, p->data_len);
    n += p->data_len;
    sio_packet q;
    const char *why = NULL;
    int rc = sio_decode(buf, n, lim, &q, &why);
    if (rc != 0) fprintf(stderr, "round trip refused (%s): %.*s\n", why, (int)n, buf);
    CHECK(rc == 0);
    CHECK(q.type == p->type && q.attachments == p->attachments && q.id == p->id);
    CHECK(q.nsp_len == p->nsp_len && memcmp(q.nsp, p->nsp, p->nsp_len) == 0);
    CHECK(q.data_len == p->data_len);
    CHECK(p->data_len == 0 || memcmp(q.data, p->data, p->data_len) == 0);
    CHECK(json_equal(q.json, p->json) || (q.json == NULL && p->json == NULL));
    sio_packet_clear(&q);
    free(buf);
}

static int decode_one(const char *buf, size_t len, const sio_limits *lim)
{
    sio_packet p;
    const char *why = NULL;
    int rc = sio_decode(buf, len, lim, &p, &why);
    CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        check_packet(&p, buf, len, lim);
        check_round_trip(&p, lim);
    } else {
        CHECK(why != NULL && p.json == NULL);
    }
    sio_packet_clear(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly `size` bytes: any read past the end is an
     * ASan report, even in the replay build where the input comes from a
     * larger buffer. */
    char *buf = malloc(size ? size : 1);
    CHECK(buf != NULL);
    if (size) memcpy(buf, data, size);

    static const sio_limits defaults = {SIO_MAX_ATTACHMENTS_DEFAULT, SIO_MAX_DEPTH_DEFAULT};
    static const sio_limits tight = {2, 4};
    int loose_rc = decode_one(buf, size, &defaults);
    int tight_rc = decode_one(buf, size, &tight);
    CHECK(!(tight_rc == 0 && loose_rc != 0));
    free(buf);
    return 0;
}
