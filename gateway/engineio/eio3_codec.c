/* eio3_codec.c — Engine.IO protocol v3 framing (--allow-eio3), pure: the
 * length-prefixed polling payloads (text and binary) and v3 packets.  The
 * declarations and the wire format are in eio_codec.h. */
#include "eio_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "utf8.h"
#include "util.h"

#define MAX_DIGITS 9 /* 999,999,999: far above any --max-payload */

size_t eio_utf16_len(const char *s, size_t len)
{
    size_t units = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) == 0x80) continue; /* continuation byte */
        units += c >= 0xf0 ? 2 : 1;       /* outside the BMP: a surrogate pair */
    }
    return units;
}

size_t eio3_text_prefix(char out[24], size_t units)
{
    int n = snprintf(out, 24, "%zu:", units);
    return n > 0 ? (size_t)n : 0;
}

size_t eio3_bin_prefix(unsigned char out[24], int binary, size_t len)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%zu", len);
    out[0] = binary ? 1 : 0;
    for (int i = 0; i < n; i++)
        out[1 + i] = (unsigned char)(digits[i] - '0');
    out[1 + n] = 0xff;
    return (size_t)n + 2;
}

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need > *cap) {
        *buf = xrealloc(*buf, need);
        *cap = need;
    }
    return 0;
}

int eio3_packet_decode(int binary_frame, const char *p, size_t n, int *type, const char **data,
                       size_t *dlen, int *binary, unsigned char **scratch, size_t *scratch_cap)
{
    if (n == 0) return -1;
    if (binary_frame) {
        /* the reference would take any first byte as the type; only a
         * message may carry binary data in what socket.io-client sends */
        if ((unsigned char)p[0] != EIO_PKT_MESSAGE) return -1;
        *type = EIO_PKT_MESSAGE;
        *data = p + 1;
        *dlen = n - 1;
        *binary = 1;
        return 0;
    }
    if (p[0] == 'b') {
        if (n < 2 || p[1] != '4') return -1;
        grow(scratch, scratch_cap, ((n - 2) / 4 + 1) * 3);
        long r = b64_decode(p + 2, n - 2, *scratch);
        if (r < 0) return -1;
        *type = EIO_PKT_MESSAGE;
        *data = (const char *)*scratch;
        *dlen = (size_t)r;
        *binary = 1;
        return 0;
    }
    if (eio_packet_decode(p, n, type, data, dlen) < 0) return -1;
    if (!utf8_valid(*data, *dlen)) return -1;
    *binary = 0;
    return 0;
}

/* --- resumable payload decoder ------------------------------------------------ */

enum { ST_HEAD = 0, ST_DIGITS, ST_DATA };

void eio3_payload_init(eio3_payload_dec *d, eio_payload_cb cb, void *ud)
{
    memset(d, 0, sizeof *d);
    d->cb = cb;
    d->ud = ud;
}

void eio3_payload_reset(eio3_payload_dec *d, int binary_body)
{
    d->binary_body = binary_body ? 1 : 0;
    d->st = ST_HEAD;
    d->kind = 0;
    d->ndigits = 0;
    d->want = d->units = 0;
    d->pending = 0;
    d->records = 0;
    d->len = 0;
    d->failed = 0;
}

void eio3_payload_free(eio3_payload_dec *d)
{
    free(d->buf);
    free(d->scratch);
    d->buf = NULL;
    d->scratch = NULL;
    d->len = d->cap = d->scratch_cap = 0;
}

static void keep(eio3_payload_dec *d, const char *p, size_t n)
{
    d->buf = gw_grow(d->buf, &d->cap, d->len + n, 1);
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

/* One complete record: hand its packet on. */
static int record(eio3_payload_dec *d)
{
    int type, binary;
    const char *data;
    size_t dlen;
    d->records++;
    d->st = ST_HEAD;
    d->ndigits = 0;
    d->want = d->units = 0;
    size_t n = d->len;
    d->len = 0;
    if (eio3_packet_decode(d->binary_body && d->kind == 1, d->buf, n, &type, &data, &dlen, &binary,
                           &d->scratch, &d->scratch_cap) < 0)
        return -1;
    return d->cb(d->ud, type, data, dlen, binary);
}

static int digit(eio3_payload_dec *d, unsigned v)
{
    if (v > 9 || d->ndigits == MAX_DIGITS) return -1;
    d->want = d->want * 10 + v;
    d->ndigits++;
    return 0;
}

/* Text body: `<units>:<packet>` … ; the packet ends once `want` UTF-16
 * units have been seen and the last character is complete. */
static int feed_text(eio3_payload_dec *d, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (d->st != ST_DATA) {
            if (c == ':') {
                if (!d->ndigits) return -1;
                if (d->want == 0) { /* "0:": skipped, as by the reference */
                    d->records++;
                    d->ndigits = 0;
                    d->st = ST_HEAD;
                    continue;
                }
                d->st = ST_DATA;
                d->units = 0;
                d->pending = 0;
                continue;
            }
            if (c < '0' || c > '9' || digit(d, c - '0') < 0) return -1;
            d->st = ST_DIGITS;
            continue;
        }
        /* ST_DATA: take as much of this chunk as the record can hold */
        size_t j = i;
        for (; j < n; j++) {
            c = (unsigned char)p[j];
            if ((c & 0xc0) == 0x80) {
                if (!d->pending) return -1; /* a stray continuation byte */
                d->pending--;
            } else {
                if (d->pending) return -1; /* a character cut short */
                if (c >= 0xf8) return -1;
                d->pending = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
                d->units += c >= 0xf0 ? 2 : 1;
                if (d->units > d->want) return -1; /* the length splits a surrogate pair */
            }
            if (d->units == d->want && !d->pending) {
                j++;
                break;
            }
        }
        keep(d, p + i, j - i);
        i = j - 1;
        if (d->units == d->want && !d->pending) {
            int r = record(d);
            if (r) return r;
        }
    }
    return 0;
}

/* Binary body: (0|1) digit bytes 0xff <bytes> … */
static int feed_binary(eio3_payload_dec *d, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (d->st == ST_HEAD) {
            if (c > 1) return -1;
            d->kind = c;
            d->st = ST_DIGITS;
            continue;
        }
        if (d->st == ST_DIGITS) {
            if (c == 0xff) {
                if (!d->ndigits || d->want == 0) return -1; /* an empty packet has no type */
                d->st = ST_DATA;
                continue;
            }
            if (digit(d, c) < 0) return -1;
            continue;
        }
        size_t take = d->want - d->len < n - i ? d->want - d->len : n - i;
        keep(d, p + i, take);
        i += take - 1;
        if (d->len == d->want) {
            int r = record(d);
            if (r) return r;
        }
    }
    return 0;
}

int eio3_payload_feed(eio3_payload_dec *d, const char *p, size_t n)
{
    if (d->failed) return d->failed;
    int r = d->binary_body ? feed_binary(d, p, n) : feed_text(d, p, n);
    if (r) d->failed = r;
    return r;
}

int eio3_payload_finish(eio3_payload_dec *d)
{
    if (d->failed) return d->failed;
    if (d->st != ST_HEAD || !d->records) d->failed = -1; /* truncated, or an empty body */
    return d->failed;
}
