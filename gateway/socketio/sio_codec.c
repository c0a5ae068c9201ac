/* sio_codec.c — Socket.IO protocol v5 packet codec (see sio_codec.h).
 *
 * Input trust: sio_decode() reads bytes a client sent.  Every index is
 * checked against len, every loop is bounded by len, nothing is allocated
 * except jansson's tree, and JSON nesting is bounded by a linear pre-scan
 * before jansson (which recurses) ever sees the text.
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

#include "ipc.h"
#include "utf8.h"

#include <string.h>

#define MAX_ID_DIGITS 15

static const char root_nsp[] = "/";

/* Event names the reference server refuses from a client (its decoder
 * rejects them as "invalid payload"); a worker would otherwise see an
 * "event" that looks like one of its own lifecycle notices. */
static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Nesting depth of a JSON text, counting '[' and '{' outside strings, with
 * an early exit as soon as it passes max_depth.  Linear, no recursion: this
 * is what keeps 100,000 nested arrays away from jansson's recursive parser.
 * Unbalanced or otherwise broken text is left for jansson to refuse. */
static int depth_exceeds(const char *s, size_t len, int max_depth)
{
    int depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped character (a '"' or '\\' included) */
            else if (c == '"')
                in_string = 0;
            continue;
        }
        switch (c) {
        case '"': in_string = 1; break;
        case '[':
        case '{':
            if (++depth > max_depth) return 1;
            break;
        case ']':
        case '}':
            if (depth > 0) depth--;
            break;
        default: break;
        }
    }
    return 0;
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) and
 * no NUL.  A namespace is echoed back to the client (`44/nsp,{…}`) and sent
 * to a worker as UTF-8 text, so raw bytes must not get through. */
static int nsp_text_ok(const unsigned char *s, size_t len)
{
    return !memchr(s, 0, len) && utf8_valid((const char *)s, len);
}

static json_t *parse_json(const char *s, size_t len)
{
    /* No JSON_ALLOW_NUL: a "\u0000" inside a string is refused, so every
     * string handed on is also a valid C string (event names are compared
     * with strcmp further up).  No JSON_DISABLE_EOF_CHECK: the JSON must
     * run to the end of the packet (trailing whitespace allowed, as in
     * JSON.parse). */
    json_error_t err;
    json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &err);
    if (j == NULL && json_error_code(&err) == json_error_numeric_overflow) {
        /* JSON.stringify(1e20) is "100000000000000000000": valid JSON that
         * overflows json_int_t.  Accept it as JSON.parse does, as a double.
         * Known gap: in such a packet placeholder "num"s become reals too,
         * so a BINARY packet that also carries an integer >= 2^63 is
         * refused. */
        j = json_loadb(s, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
    }
    return j;
}

static int is_reserved_event(const char *name)
{
    for (size_t i = 0; i < sizeof reserved_events / sizeof reserved_events[0]; i++)
        if (strcmp(name, reserved_events[i]) == 0) return 1;
    return 0;
}

/* Type-specific checks of the decoded JSON, once the head is parsed. */
static int check_payload(sio_packet *p, const sio_limits *lim, const char **why)
{
    json_t *j = p->json;
    switch (p->type) {
    case SIO_CONNECT:
        if (j != NULL && !json_is_object(j)) {
            *why = "CONNECT auth is not an object";
            return -1;
        }
        /* An id after CONNECT ("40123") is accepted and ignored, as by the
         * reference: nothing can acknowledge a CONNECT. */
        p->id = -1;
        break;
    case SIO_DISCONNECT:
        if (j != NULL) {
            *why = "DISCONNECT with data";
            return -1;
        }
        p->id = -1; /* accepted and ignored, as for CONNECT */
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        if (!json_is_array(j)) {
            *why = "EVENT data is not an array";
            return -1;
        }
        json_t *name = json_array_get(j, 0);
        if (!json_is_string(name)) {
            *why = "EVENT name is not a string";
            return -1;
        }
        if (is_reserved_event(json_string_value(name))) {
            *why = "EVENT name is reserved";
            return -1;
        }
        break;
    }
    case SIO_ACK:
    case SIO_BINARY_ACK:
        if (p->id < 0) {
            *why = "ACK without an ack id";
            return -1;
        }
        if (!json_is_array(j)) {
            *why = "ACK data is not an array";
            return -1;
        }
        break;
    case SIO_CONNECT_ERROR:
    default:
        /* Checked before parsing; kept so the switch is total. */
        *why = "CONNECT_ERROR from a client";
        return -1;
    }
    /* Placeholders are checked for every type that may carry data, with
     * n = 0 for the non-binary ones: a plain EVENT that smuggles a
     * placeholder object would otherwise reach a worker library that
     * resolves it against attachments that do not exist. */
    if (j != NULL && ipc_check_placeholders(j, p->attachments, lim->max_depth, why) < 0)
        return -1;
    return 0;
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
        if (depth_exceeds(out->data, out->data_len, lim->max_depth)) {
            *why = "JSON nested too deeply";
            goto fail;
        }
        out->json = parse_json(out->data, out->data_len);
        if (out->json == NULL) {
            *why = "invalid JSON";
            goto fail;
        }
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
    for (size_t k = 0; k < n; k++) out[k] = tmp[n - 1 - k];
    return n;
}

size_t sio_encode_head(char *out, sio_type type, size_t attachments, const char *nsp,
                       size_t nsp_len, int64_t id)
{
    size_t n = 0;
    out[n++] = (char)('0' + (int)type);
    if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK)
    {
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
