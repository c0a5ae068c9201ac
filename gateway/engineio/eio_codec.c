/* eio_codec.c — Engine.IO v4 packets, polling payloads, and the Engine.IO
 * view of the shared outgoing message.  Pure: see eio_codec.h. */
#include "eio_codec.h"

#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "eio.h"
#include "utf8.h"
#include "util.h"

int eio_packet_decode(const char *s, size_t len, int *type, const char **data, size_t *dlen)
{
    if (len == 0 || s[0] < '0' || s[0] > '6') return -1;
    *type = s[0] - '0';
    *data = s + 1;
    *dlen = len - 1;
    return 0;
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
        long r = b64_decode(p + 1, n - 1, d->scratch);
        if (r < 0) return -1;
        return d->cb(d->ud, EIO_PKT_MESSAGE, (const char *)d->scratch, (size_t)r, 1);
    }
    int type;
    const char *data;
    size_t dlen;
    if (eio_packet_decode(p, n, &type, &data, &dlen) < 0) return -1;
    if (!utf8_valid(data, dlen)) return -1;
    return d->cb(d->ud, type, data, dlen, 0);
}

static void keep(eio_payload_dec *d, const char *p, size_t n)
{
    d->buf = gw_grow(d->buf, &d->cap, d->len + n, 1);
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

eio_msg *eio_msg_new(int binary, size_t len)
{
    return wire_msg_new(binary, binary ? WIRE_NO_PREFIX : '0' + EIO_PKT_MESSAGE, len);
}

eio_msg *eio_msg_copy(int binary, const void *data, size_t len)
{
    eio_msg *m = eio_msg_new(binary, len);
    if (len) memcpy(wire_msg_data(m), data, len);
    return m;
}

char *eio_msg_data(eio_msg *m)
{
    return wire_msg_data(m);
}
size_t eio_msg_len(const eio_msg *m)
{
    return wire_msg_len(m);
}
int eio_msg_binary(const eio_msg *m)
{
    return wire_msg_binary(m);
}
eio_msg *eio_msg_ref(eio_msg *m)
{
    return wire_msg_ref(m);
}
void eio_msg_unref(eio_msg **mp)
{
    wire_msg_unref(mp);
}
const char *eio_msg_ws_frame(eio_msg *m, size_t *len)
{
    return wire_msg_ws_frame(m, len);
}

const char *eio_msg_polling(eio_msg *m, size_t *len)
{
    if (!wire_msg_binary(m)) return wire_msg_packet(m, len);
    const char *p = wire_msg_alt(m, len);
    if (p) return p;
    size_t n = wire_msg_len(m);
    char *poll = xmalloc(b64_len(n) + 2);
    poll[0] = 'b';
    size_t pl = 1 + b64_encode(wire_msg_data(m), n, poll + 1);
    wire_msg_set_alt(m, &poll, pl);
    return wire_msg_alt(m, len);
}
