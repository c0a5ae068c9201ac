/* eio3.c — the Engine.IO protocol v3 half of a session's I/O (eio3.h). */
#include "eio3.h"

#include <stdio.h>
#include <string.h>

#include "eio.h"
#include "ws.h"

int eio3_query_protocol(const char *query, int allow_eio3)
{
    char eio[8];
    long el = http_query_get(query, "EIO", eio, sizeof eio);
    if (el < 0) return -1;
    if (strcmp(eio, "4") == 0) return 4;
    /* the reference takes anything but "4" as 3; only "3" is v3 here */
    if (allow_eio3 && strcmp(eio, "3") == 0) return 3;
    return -1;
}

int eio3_query_b64(const char *query)
{
    char v[8];
    /* the reference tests `req._query.b64` for truth: present and non-empty */
    long l = http_query_get(query, "b64", v, sizeof v);
    return l > 0 || l == -2;
}

int eio3_open_payload(char *out, size_t cap, const char *open, size_t n)
{
    /* the open packet is ASCII: bytes are UTF-16 units */
    return snprintf(out, cap, "%zu:%.*s", n, (int)n, open);
}

/* The Engine.IO packet of a queued message as text: "4<text>" or
 * "b4<base64>" (the latter as the two-byte head plus a slice). */
static const char *text_packet(eio_msg *m, const char **head, size_t *hn, size_t *n)
{
    size_t len;
    const char *p = eio_msg_polling(m, &len); /* "4<text>" or "b<base64>" */
    if (eio_msg_binary(m)) {
        *head = "b4";
        *hn = 2;
        *n = len - 1;
        return p + 1;
    }
    *head = "";
    *hn = 0;
    *n = len;
    return p;
}

void eio3_poll_respond(http_conn *c, const eio_pend *q, size_t nq, char tail, int b64,
                       const char *extra)
{
    int binary = 0;
    for (size_t i = 0; i < nq && !b64; i++)
        if (q[i].msg && eio_msg_binary(q[i].msg)) binary = 1;
    /* size first: prefixes are computed twice, which is cheaper than a copy */
    size_t total = 0;
    char tp[24];
    unsigned char bp[24];
    for (size_t i = 0; i < nq; i++) {
        eio_msg *m = q[i].msg;
        if (!m) {
            total += binary ? eio3_bin_prefix(bp, 0, 1) + 1 : eio3_text_prefix(tp, 1) + 1;
        } else if (binary) {
            size_t dl = eio_msg_len(m) + 1; /* type byte ('4' or 0x04) + data */
            total += eio3_bin_prefix(bp, eio_msg_binary(m), dl) + dl;
        } else {
            const char *head;
            size_t hn, n;
            const char *p = text_packet(m, &head, &hn, &n);
            size_t units = hn + (eio_msg_binary(m) ? n : eio_utf16_len(p, n));
            total += eio3_text_prefix(tp, units) + hn + n;
        }
    }
    if (tail) total += binary ? eio3_bin_prefix(bp, 0, 1) + 1 : eio3_text_prefix(tp, 1) + 1;
    http_response_head(c, 200, binary ? "application/octet-stream" : "text/plain; charset=UTF-8",
                       extra, total, 0);
    if (http_conn_request(c)->method == HTTP_HEAD) return;
    for (size_t i = 0; i <= nq; i++) {
        eio_msg *m = i < nq ? q[i].msg : NULL;
        char d;
        if (i == nq) {
            if (!tail) break;
            d = tail;
        } else {
            d = (char)('0' + q[i].type);
        }
        if (!m) {
            if (binary)
                http_conn_write(c, bp, eio3_bin_prefix(bp, 0, 1));
            else
                http_conn_write(c, tp, eio3_text_prefix(tp, 1));
            http_conn_write(c, &d, 1);
        } else if (binary) {
            int bin = eio_msg_binary(m);
            http_conn_write(c, bp, eio3_bin_prefix(bp, bin, eio_msg_len(m) + 1));
            if (bin) {
                http_conn_write(c, "\x04", 1);
                http_conn_write_msg(c, m, eio_msg_data(m), eio_msg_len(m));
            } else {
                size_t len;
                const char *p = eio_msg_polling(m, &len);
                http_conn_write_msg(c, m, p, len);
            }
        } else {
            const char *head;
            size_t hn, n;
            const char *p = text_packet(m, &head, &hn, &n);
            size_t units = hn + (eio_msg_binary(m) ? n : eio_utf16_len(p, n));
            http_conn_write(c, tp, eio3_text_prefix(tp, units));
            if (hn) http_conn_write(c, head, hn);
            http_conn_write_msg(c, m, p, n);
        }
    }
}

void eio3_ws_send(http_conn *c, eio_msg *m, int b64)
{
    if (!eio_msg_binary(m)) {
        ws_send_msg(c, m); /* text frames are the same in v3 and v4 */
    } else if (b64) {
        size_t len;
        const char *p = eio_msg_polling(m, &len); /* "b<base64>" */
        ws_send_parts(c, 1, "b4", 2, m, p + 1, len - 1);
    } else {
        ws_send_parts(c, 2, "\x04", 1, m, eio_msg_data(m), eio_msg_len(m));
    }
}
