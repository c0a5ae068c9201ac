/* eio_codec.c — Engine.IO v4 packets, polling payloads, base64, UTF-8, and
 * the shared outgoing message.  Pure: see eio_codec.h. */
#include "eio_codec.h"

#include <openssl/evp.h>
#include <string.h>

#include "eio.h"
#include "util.h"

int eio_packet_decode(const char *s, size_t len, int *type, const char **data, size_t *dlen)
{
    if (len == 0 || s[0] < '0' || s[0] > '6') return -1;
    *type = s[0] - '0';
    *data = s + 1;
    *dlen = len - 1;
    return 0;
}

int eio_utf8_valid(const char *str, size_t len)
{
    if (!len) return 1; /* str may be NULL then (wslay's empty message) */
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        unsigned min, cp;
        if ((c & 0xe0) == 0xc0) n = 1, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) n = 2, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) n = 3, min = 0x10000, cp = c & 0x07;
        else return 0;
        if ((size_t)(end - s) < n + 1) return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        s += n + 1;
    }
    return 1;
}

size_t eio_b64_len(size_t n) { return (n + 2) / 3 * 4; }

size_t eio_b64_encode(const void *in, size_t n, char *out)
{
    /* EVP_EncodeBlock takes an int length: encode in big slices (a multiple
     * of 3 so the slices join without padding in the middle). */
    size_t done = 0, o = 0;
    const size_t slice = (size_t)3 << 28;
    while (n - done > slice) {
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, (const unsigned char *)in + done,
                                     (int)slice);
        done += slice;
    }
    o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, (const unsigned char *)in + done,
                                 (int)(n - done));
    out[o] = '\0';
    return o;
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

long eio_b64_decode(const char *in, size_t n, unsigned char *out)
{
    /* EVP_DecodeBlock is lenient (skips surrounding whitespace) and counts
     * '=' padding as zero bytes in its result, so validate here first and
     * decode the unpadded tail separately. */
    size_t pad = 0;
    while (pad < 2 && n > pad && in[n - 1 - pad] == '=') pad++;
    if (pad && n % 4) return -1;
    size_t body = n - pad;
    for (size_t i = 0; i < body; i++)
        if (!b64_char((unsigned char)in[i])) return -1;
    size_t rem = body % 4;
    if (rem == 1) return -1;
    size_t full = body - rem;
    if (full > (size_t)1 << 30) return -1; /* int range of EVP; far above any payload cap */
    long o = 0;
    if (full) {
        int r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)full);
        if (r < 0) return -1;
        o = r;
    }
    if (rem) {
        unsigned char q[4] = {'=', '=', '=', '='}, t[3];
        memcpy(q, in + full, rem);
        if (EVP_DecodeBlock(t, q, 4) < 0) return -1;
        memcpy(out + o, t, rem - 1);
        o += (long)rem - 1;
    }
    return o;
}

/* --- payload decoder ------------------------------------------------------ */

void eio_payload_init(eio_payload_dec *d, eio_payload_cb cb, void *ud)
{
    memset(d, 0, sizeof *d);
    d->cb = cb;
    d->ud = ud;
}

void eio_payload_reset(eio_payload_dec *d)
{
    d->len = 0;
    d->failed = 0;
}

void eio_payload_free(eio_payload_dec *d)
{
    free(d->buf);
    free(d->scratch);
    d->buf = NULL;
    d->scratch = NULL;
    d->len = d->cap = d->scratch_cap = 0;
}

static int emit(eio_payload_dec *d, const char *p, size_t n)
{
    if (n == 0) return -1;
    if (p[0] == 'b') {
        size_t need = (n / 4 + 1) * 3;
        if (need > d->scratch_cap) {
            d->scratch = xrealloc(d->scratch, need);
            d->scratch_cap = need;
        }
        long r = eio_b64_decode(p + 1, n - 1, d->scratch);
        if (r < 0) return -1;
        return d->cb(d->ud, EIO_PKT_MESSAGE, (const char *)d->scratch, (size_t)r, 1);
    }
    int type;
    const char *data;
    size_t dlen;
    if (eio_packet_decode(p, n, &type, &data, &dlen) < 0) return -1;
    if (!eio_utf8_valid(data, dlen)) return -1;
    return d->cb(d->ud, type, data, dlen, 0);
}

static void keep(eio_payload_dec *d, const char *p, size_t n)
{
    if (d->len + n > d->cap) {
        d->cap = (d->len + n) * 2;
        d->buf = xrealloc(d->buf, d->cap);
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

int eio_payload_feed(eio_payload_dec *d, const char *p, size_t n)
{
    if (d->failed) return d->failed;
    const char *end = p + n;
    while (p < end) {
        const char *rs = memchr(p, EIO_RS, (size_t)(end - p));
        if (!rs) {
            keep(d, p, (size_t)(end - p)); /* record continues in the next chunk */
            return 0;
        }
        int r;
        if (d->len) { /* finish the record begun in an earlier chunk */
            keep(d, p, (size_t)(rs - p));
            r = emit(d, d->buf, d->len);
            d->len = 0;
        } else {
            r = emit(d, p, (size_t)(rs - p)); /* whole record in this chunk: no copy */
        }
        if (r) return d->failed = r;
        p = rs + 1;
    }
    return 0;
}

int eio_payload_finish(eio_payload_dec *d)
{
    if (d->failed) return d->failed;
    int r = emit(d, d->buf, d->len);
    d->len = 0;
    if (r) d->failed = r;
    return r;
}

/* --- messages -------------------------------------------------------------- */

struct eio_msg {
    unsigned refs;
    unsigned char binary;
    unsigned char ws_hlen; /* 0 until framed */
    size_t len;
    char *poll; /* "b"+base64, binary only, lazily */
    size_t poll_len;
    unsigned char raw[]; /* EIO_MSG_HEADROOM + len + 1 */
};

eio_msg *eio_msg_new(int binary, size_t len)
{
    eio_msg *m = xmalloc(sizeof *m + EIO_MSG_HEADROOM + len + 1);
    m->refs = 1;
    m->binary = binary ? 1 : 0;
    m->ws_hlen = 0;
    m->len = len;
    m->poll = NULL;
    m->poll_len = 0;
    m->raw[EIO_MSG_HEADROOM - 1] = '4';
    m->raw[EIO_MSG_HEADROOM + len] = '\0';
    return m;
}

eio_msg *eio_msg_copy(int binary, const void *data, size_t len)
{
    eio_msg *m = eio_msg_new(binary, len);
    if (len) memcpy(m->raw + EIO_MSG_HEADROOM, data, len);
    return m;
}

char *eio_msg_data(eio_msg *m) { return (char *)m->raw + EIO_MSG_HEADROOM; }
size_t eio_msg_len(const eio_msg *m) { return m->len; }
int eio_msg_binary(const eio_msg *m) { return m->binary; }

eio_msg *eio_msg_ref(eio_msg *m)
{
    m->refs++;
    return m;
}

void eio_msg_unref(eio_msg **mp)
{
    eio_msg *m = *mp;
    *mp = NULL;
    if (!m || --m->refs) return;
    free(m->poll);
    free(m);
}

const char *eio_msg_polling(eio_msg *m, size_t *len)
{
    if (!m->binary) {
        *len = m->len + 1;
        return (const char *)m->raw + EIO_MSG_HEADROOM - 1;
    }
    if (!m->poll) {
        m->poll = xmalloc(eio_b64_len(m->len) + 2);
        m->poll[0] = 'b';
        m->poll_len = 1 + eio_b64_encode(m->raw + EIO_MSG_HEADROOM, m->len, m->poll + 1);
    }
    *len = m->poll_len;
    return m->poll;
}

size_t eio_ws_frame_header(unsigned char out[10], int opcode, uint64_t len)
{
    out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

const char *eio_msg_ws_frame(eio_msg *m, size_t *len)
{
    size_t start = m->binary ? EIO_MSG_HEADROOM : EIO_MSG_HEADROOM - 1; /* '4' for text */
    size_t plen = m->len + (m->binary ? 0 : 1);
    if (!m->ws_hlen) {
        unsigned char h[10];
        size_t hl = eio_ws_frame_header(h, m->binary ? 2 : 1, plen);
        memcpy(m->raw + start - hl, h, hl);
        m->ws_hlen = (unsigned char)hl;
    }
    *len = m->ws_hlen + plen;
    return (const char *)m->raw + start - m->ws_hlen;
}
