/* sio_codec.c — Socket.IO protocol v5 packet codec (see sio_codec.h).
 *
 * Input trust: sio_decode() reads bytes a client sent.  Every index is
 * checked against len, every loop is bounded by len.  The JSON data is
 * validated by one pass of jscan_check() (gateway/base/json_scan.c: grammar,
 * UTF-8, depth, shape, placeholders) without building anything: the gateway
 * forwards the bytes as they came (issue 12).  Only a CONNECT's auth object
 * is parsed into a jansson tree, because the gateway reads it (handshake
 * JSON for the worker, recovery pid/offset); jansson recurses, but it sees
 * the text only after the scanner has bounded its depth.
 *
 * The grammar follows the reference decoder (socket.io-parser 4.x,
 * Decoder.decodeString) with its JavaScript coercion quirks left out:
 *   packet  = type [count "-"] [nsp ["," ]] [id] [json]
 *   type    = "0" .. "6"
 *   count   = 1*DIGIT          ; only for 5 and 6, required there, 1..max
 *   nsp     = "/" *(not ",")   ; runs to the first "," or to the end;
 *                              ; UTF-8, no NUL
 *   id      = 1*15DIGIT        ; ignored after CONNECT/DISCONNECT
 *   json    = the rest of the packet, one JSON value
 */
#include "sio_codec.h"

#include "json_scan.h"
#include "utf8.h"

#include <string.h>

#define MAX_ID_DIGITS 15

static const char root_nsp[] = "/";

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) and
 * no NUL.  A namespace is echoed back to the client (`44/nsp,{…}`) and sent
 * to a worker as UTF-8 text, so raw bytes must not get through. */
static int nsp_text_ok(const unsigned char *s, size_t len)
{
    return !memchr(s, 0, len) && utf8_valid((const char *)s, len);
}

/* The CONNECT auth object as a tree; the text has passed jscan_check(), so
 * it is one valid JSON object no deeper than the limit. */
static json_t *parse_auth(const char *s, size_t len)
{
    /* No JSON_ALLOW_NUL, no JSON_DISABLE_EOF_CHECK: the scanner has refused
     * both already, jansson agrees. */
    json_error_t err;
    json_t *j = json_loadb(s, len, 0, &err);
    if (j == NULL && json_error_code(&err) == json_error_numeric_overflow) {
        /* JSON.stringify(1e20) is "100000000000000000000": valid JSON that
         * overflows json_int_t.  Accept it as JSON.parse does, as a double.
         * A real beyond a double (1e400) still fails here: JSON.parse reads
         * Infinity, which JSON.stringify would send on as null; such an
         * auth is refused as invalid JSON (as before the scanner). */
        j = json_loadb(s, len, JSON_DECODE_INT_AS_REAL, &err);
    }
    return j;
}

/* Type-specific checks, once the head is parsed: the JSON data is scanned
 * for the shape its type requires (an EVENT's name included) and for its
 * placeholders — with n = 0 for the non-binary types, so that a plain EVENT
 * smuggling a placeholder object never reaches a worker library that would
 * resolve it against attachments that do not exist. */
static int check_payload(sio_packet *p, const sio_limits *lim, const char **why)
{
    jscan_opts o = {JSCAN_ANY, lim->max_depth, p->attachments, lim->max_attachments};
    switch (p->type) {
    case SIO_CONNECT:
        /* An id after CONNECT ("40123") is accepted and ignored, as by the
         * reference: nothing can acknowledge a CONNECT. */
        p->id = -1;
        if (p->data == NULL) return 0;
        o.top = JSCAN_OBJECT;
        if (jscan_check(p->data, p->data_len, &o, NULL, why) < 0) return -1;
        p->json = parse_auth(p->data, p->data_len);
        if (p->json == NULL) {
            *why = "invalid JSON";
            return -1;
        }
        return 0;
    case SIO_DISCONNECT:
        if (p->data != NULL) {
            *why = "DISCONNECT with data";
            return -1;
        }
        p->id = -1; /* accepted and ignored, as for CONNECT */
        return 0;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        if (p->data == NULL) {
            *why = "EVENT data is not an array";
            return -1;
        }
        o.top = JSCAN_EVENT;
        break;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        if (p->id < 0) {
            *why = "ACK without an ack id";
            return -1;
        }
        if (p->data == NULL) {
            *why = "ACK data is not an array";
            return -1;
        }
        o.top = JSCAN_ARRAY;
        break;
    case SIO_CONNECT_ERROR:
    default:
        /* Checked before parsing; kept so the switch is total. */
        *why = "CONNECT_ERROR from a client";
        return -1;
    }
    return jscan_check(p->data, p->data_len, &o, NULL, why);
}

int sio_decode(const char *buf, size_t len, const sio_limits *limits, sio_packet *out,
               const char **why)
{
    static const sio_limits defaults = {SIO_MAX_ATTACHMENTS_DEFAULT, SIO_MAX_DEPTH_DEFAULT};
    static const char *ignored;
    const sio_limits *lim = limits ? limits : &defaults;
    if (why == NULL) why = &ignored;

    memset(out, 0, sizeof *out);
    out->nsp = root_nsp;
    out->nsp_len = 1;
    out->id = -1;

    if (len == 0 || buf == NULL) {
        *why = "empty packet";
        return -1;
    }
    if (buf[0] < '0' || buf[0] > '6') {
        *why = "unknown packet type";
        return -1;
    }
    out->type = (sio_type)(buf[0] - '0');
    if (out->type == SIO_CONNECT_ERROR) {
        *why = "CONNECT_ERROR from a client";
        return -1;
    }
    size_t i = 1;

    /* Attachment count: digits up to '-'.  Counting stops as soon as the
     * value passes the limit, so a long digit run cannot overflow. */
    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
        size_t start = i, n = 0;
        while (i < len && is_digit(buf[i])) {
            if (n <= lim->max_attachments) n = n * 10 + (size_t)(buf[i] - '0');
            i++;
        }
        if (i == start || i >= len || buf[i] != '-') {
            *why = "binary packet without attachment count";
            return -1;
        }
        if (n == 0) {
            *why = "binary packet with zero attachments";
            return -1;
        }
        if (n > lim->max_attachments) {
            *why = "too many attachments";
            return -1;
        }
        out->attachments = n;
        i++; /* the '-' */
    }

    /* Namespace: from '/' to the first ',' (not included) or to the end. */
    if (i < len && buf[i] == '/') {
        size_t start = i;
        const char *comma = memchr(buf + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - buf) : len;
        if (!nsp_text_ok((const unsigned char *)buf + start, end - start)) {
            *why = "namespace is not UTF-8 text";
            return -1;
        }
        out->nsp = buf + start;
        out->nsp_len = end - start;
        i = comma ? end + 1 : len;
    }

    /* Ack id: a run of 1..15 digits (stays below 2^53, JS-safe). */
    if (i < len && is_digit(buf[i])) {
        size_t start = i;
        int64_t id = 0;
        while (i < len && is_digit(buf[i])) {
            if (i - start == MAX_ID_DIGITS) {
                *why = "ack id too long";
                return -1;
            }
            id = id * 10 + (buf[i] - '0');
            i++;
        }
        out->id = id;
    }

    /* JSON data: everything that is left. */
    if (i < len) {
        out->data = buf + i;
        out->data_len = len - i;
    }

    if (check_payload(out, lim, why) < 0) goto fail;
    return 0;

fail:
    sio_packet_clear(out);
    return -1;
}

void sio_packet_clear(sio_packet *p)
{
    if (p == NULL) return;
    json_decref(p->json);
    memset(p, 0, sizeof *p);
    p->nsp = root_nsp;
    p->nsp_len = 1;
    p->id = -1;
}

/* Decimal digits of v at out, no NUL; returns how many. */
static size_t put_uint(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t k = 0; k < n; k++)
        out[k] = tmp[n - 1 - k];
    return n;
}

size_t sio_encode_head(char *out, sio_type type, size_t attachments, const char *nsp,
                       size_t nsp_len, int64_t id)
{
    size_t n = 0;
    out[n++] = (char)('0' + (int)type);
    if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK) {
        n += put_uint(out + n, attachments);
        out[n++] = '-';
    }
    if (nsp != NULL && nsp_len > 0 && !(nsp_len == 1 && nsp[0] == '/')) {
        memcpy(out + n, nsp, nsp_len);
        n += nsp_len;
        out[n++] = ',';
    }
    if (id >= 0) n += put_uint(out + n, (uint64_t)id);
    return n;
}
