/* json_scan.c — jscan_check(): one pass over a JSON text, checking it as
 * jansson would parse it plus the Socket.IO rules in json_scan.h, without
 * building anything.
 *
 * Input trust: hostile.  Every read is bounded by `end`; nesting is an
 * explicit stack of two bits per level (fixed size, JSCAN_MAX_DEPTH), so a
 * text of 100,000 '[' costs nothing but one failed comparison.  The UTF-8
 * check is the gateway's one (base/utf8.h), run over each run of
 * non-ASCII bytes inside a string: outside strings only ASCII is valid JSON,
 * and a multi-byte character never contains an ASCII byte, so the runs are
 * exactly the characters to check.
 */
#include "json_scan.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

#define BITS(n) (((n) + 8) / 8)
#define BIT(set, i) ((set)[(i) / 8] & (1u << ((i) % 8)))
#define SET(set, i) ((set)[(i) / 8] |= (uint8_t)(1u << ((i) % 8)))
#define CLR(set, i) ((set)[(i) / 8] &= (uint8_t) ~(1u << ((i) % 8)))

/* The decoded start of a string: enough to compare it with the few ASCII
 * names the scanner looks for (keys "_placeholder" and "num", reserved event
 * names), escapes resolved — "_pl\u0061ceholder" is what JSON.parse reads
 * as "_placeholder". */
#define NAME_CAP 15
typedef struct {
    char s[NAME_CAP];
    size_t len;
    int other; /* longer than NAME_CAP, or not ASCII: none of those names */
} name_buf;

static void name_put(name_buf *n, unsigned cp)
{
    if (n == NULL || n->other) return;
    if (cp >= 0x80 || n->len == NAME_CAP) {
        n->other = 1;
        return;
    }
    n->s[n->len++] = (char)cp;
}

static int name_is(const name_buf *n, const char *lit)
{
    size_t l = strlen(lit);
    return !n->other && n->len == l && memcmp(n->s, lit, l) == 0;
}

/* The names socket.io-parser's decoder refuses as an EVENT's first element
 * (RESERVED_EVENTS): the official client closes the whole connection. */
static int name_reserved(const name_buf *n)
{
    static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                           "disconnecting", "newListener",   "removeListener"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (name_is(n, reserved[i])) return 1;
    return 0;
}

static int is_ws(unsigned c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* A string whose opening quote is at *pp.  Moves *pp past the closing
 * quote and returns 0, or leaves *pp at the offending byte and returns -1
 * with *why.  Decodes the start into nm when nm is not NULL. */
static int scan_string(const unsigned char **pp, const unsigned char *end, name_buf *nm,
                       const char **why)
{
    const unsigned char *p = *pp + 1;
    for (;;) {
        const unsigned char *q = p;
        while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        if (nm)
            for (const unsigned char *x = p; x < q && !nm->other; x++)
                name_put(nm, *x);
        p = q;
        if (p == end) {
            *why = "unterminated string";
            goto fail;
        }
        unsigned c = *p;
        if (c == '"') {
            *pp = p + 1;
            return 0;
        }
        if (c < 0x20) {
            *why = "control character in string";
            goto fail;
        }
        if (c >= 0x80) {
            while (q < end && *q >= 0x80)
                q++;
            if (!utf8_valid((const char *)p, (size_t)(q - p))) {
                *why = "invalid UTF-8 in string";
                goto fail;
            }
            name_put(nm, 0x80);
            p = q;
            continue;
        }
        /* A backslash. */
        if (end - p < 2) {
            *why = "unterminated string";
            goto fail;
        }
        static const char simple[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
        const char *e = p[1] ? strchr(simple, p[1]) : NULL;
        if (e != NULL) {
            name_put(nm, (unsigned char)decoded[e - simple]);
            p += 2;
            continue;
        }
        unsigned cp, lo;
        if (p[1] != 'u' || end - p < 6 || hex4(p + 2, &cp) < 0) {
            *why = "invalid escape in string";
            goto fail;
        }
        /* jansson refuses these without JSON_ALLOW_NUL / as invalid
         * Unicode; a CONNECT auth still goes through jansson, so they are
         * refused everywhere alike. */
        if (cp == 0) {
            *why = "\\u0000 in string";
            goto fail;
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            *why = "lone surrogate escape in string";
            goto fail;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &lo) < 0 ||
                lo < 0xDC00 || lo > 0xDFFF) {
                *why = "lone surrogate escape in string";
                goto fail;
            }
            p += 6;
        }
        name_put(nm, cp);
        p += 6;
    }
fail:
    *pp = p;
    return -1;
}

/* A number at *pp (RFC 8259 grammar).  *is_int: no fraction or exponent;
 * *val: its value when it is a non-negative integer, saturated; UINT64_MAX
 * for a negative one other than -0. */
static int scan_number(const unsigned char **pp, const unsigned char *end, int *is_int,
                       uint64_t *val)
{
    const unsigned char *p = *pp;
    int neg = 0;
    uint64_t v = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p == end || !is_digit(*p)) goto fail;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit(*p)) {
            v = v < (UINT64_C(1) << 59) ? v * 10 + (uint64_t)(*p - '0') : UINT64_MAX;
            p++;
        }
    }
    *is_int = 1;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) goto fail;
        while (p < end && is_digit(*p))
            p++;
        *is_int = 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !is_digit(*p)) goto fail;
        while (p < end && is_digit(*p))
            p++;
        *is_int = 0;
    }
    *val = neg && v != 0 ? UINT64_MAX : v;
    *pp = p;
    return 0;
fail:
    *pp = p;
    return -1;
}

static int literal(const unsigned char *p, const unsigned char *end, const char *lit)
{
    size_t l = strlen(lit);
    return (size_t)(end - p) >= l && memcmp(p, lit, l) == 0;
}

int jscan_check(const char *buf, size_t len, const jscan_opts *o, jscan_result *r, const char **why)
{
    static const char *ignored;
    jscan_result ignored_r;
    if (why == NULL) why = &ignored;
    if (r == NULL) r = &ignored_r;
    memset(r, 0, sizeof *r);
    if (o->n_att > o->max_att || o->n_att > JSCAN_MAX_ATTACHMENTS) {
        *why = "too many attachments";
        return -1;
    }
    if (buf == NULL || len == 0) {
        *why = "empty JSON text";
        return -1;
    }

    const unsigned char *s = (const unsigned char *)buf, *p = s, *end = s + len;
    int max_depth = o->max_depth > JSCAN_MAX_DEPTH ? JSCAN_MAX_DEPTH : o->max_depth;
    /* Per level (1 = the top-level container): is it an object, and does it
     * hold a container (then it cannot be a placeholder). */
    uint8_t is_obj[BITS(JSCAN_MAX_DEPTH)], has_cont[BITS(JSCAN_MAX_DEPTH)];
    uint8_t seen[BITS(JSCAN_MAX_ATTACHMENTS)];
    memset(seen, 0, BITS(o->n_att));
    int depth = 0;
    size_t top_count = 0; /* elements (or members) of the top-level container */
    /* The innermost object, while its members are all scalars. */
    size_t members = 0;
    int ph_any = 0, ph_true = 0, num_any = 0, num_int = 0;
    uint64_t num = 0;
    enum { K_OTHER, K_PH, K_NUM } key = K_OTHER;
    enum { S_VALUE, S_FIRST_VALUE, S_KEY, S_FIRST_KEY, S_COLON, S_AFTER } st = S_VALUE;
    const char *err = NULL;
    unsigned c;

    for (;;) {
        while (p < end && is_ws(*p))
            p++;
        if (p == end) {
            if (st == S_AFTER && depth == 0) break;
            err = len == 0 ? "empty JSON text" : "unexpected end of JSON text";
            goto fail;
        }
        c = *p;
        switch (st) {
        case S_FIRST_KEY:
            if (c == '}') goto close;
            /* fallthrough */
        case S_KEY: {
            if (c != '"') {
                err = "object key is not a string";
                goto fail;
            }
            name_buf nm = {.len = 0};
            if (scan_string(&p, end, &nm, &err) < 0) goto fail;
            key = name_is(&nm, "_placeholder") ? K_PH : name_is(&nm, "num") ? K_NUM : K_OTHER;
            members++;
            st = S_COLON;
            continue;
        }
        case S_COLON:
            if (c != ':') {
                err = "':' expected after an object key";
                goto fail;
            }
            p++;
            st = S_VALUE;
            continue;
        case S_FIRST_VALUE:
            if (c == ']') goto close;
            /* fallthrough */
        case S_VALUE: {
            int in_obj = depth > 0 && BIT(is_obj, depth);
            if (depth == 0 && (o->top == JSCAN_ARRAY || o->top == JSCAN_EVENT) && c != '[') {
                err = "data is not a JSON array";
                goto fail;
            }
            if (depth == 0 && o->top == JSCAN_OBJECT && c != '{') {
                err = "data is not a JSON object";
                goto fail;
            }
            int name_slot = depth == 1 && o->top == JSCAN_EVENT && top_count == 0;
            if (depth == 1) top_count++;
            if (name_slot && c != '"') {
                err = "event name is not a string";
                goto fail;
            }
            if (c == '[' || c == '{') {
                if (depth >= max_depth) {
                    err = "JSON nested too deeply";
                    goto fail;
                }
                if (in_obj) {
                    if (key == K_PH || ph_any) {
                        err = "malformed attachment placeholder";
                        goto fail;
                    }
                    SET(has_cont, depth);
                }
                depth++;
                if (c == '{')
                    SET(is_obj, depth);
                else
                    CLR(is_obj, depth);
                CLR(has_cont, depth);
                members = 0;
                ph_any = ph_true = num_any = num_int = 0;
                p++;
                st = c == '{' ? S_FIRST_KEY : S_FIRST_VALUE;
                continue;
            }
            int is_true = 0, is_int = 0;
            uint64_t v = 0;
            if (c == '"') {
                name_buf nm = {.len = 0};
                const unsigned char *at = p;
                if (scan_string(&p, end, name_slot ? &nm : NULL, &err) < 0) goto fail;
                if (name_slot && name_reserved(&nm)) {
                    p = at;
                    err = "event name is reserved";
                    goto fail;
                }
            } else if (c == '-' || is_digit(c)) {
                if (scan_number(&p, end, &is_int, &v) < 0) {
                    err = "invalid number";
                    goto fail;
                }
            } else if (literal(p, end, "true")) {
                is_true = 1;
                p += 4;
            } else if (literal(p, end, "false")) {
                p += 5;
            } else if (literal(p, end, "null")) {
                p += 4;
            } else {
                err = "invalid JSON value";
                goto fail;
            }
            if (in_obj && key == K_PH) {
                ph_any++;
                ph_true += is_true;
            } else if (in_obj && key == K_NUM) {
                num_any++;
                num_int = is_int;
                num = v;
            }
            st = S_AFTER;
            continue;
        }
        case S_AFTER:
            if (depth == 0) {
                err = "trailing data after the JSON text";
                goto fail;
            }
            if (c == ',') {
                p++;
                st = BIT(is_obj, depth) ? S_KEY : S_VALUE;
                continue;
            }
            if (c == ']' || c == '}') goto close;
            err = "',' or a closing bracket expected";
            goto fail;
        }
    close:
        if (c != (BIT(is_obj, depth) ? '}' : ']')) {
            err = "mismatched bracket";
            goto fail;
        }
        if (BIT(is_obj, depth) && ph_any) {
            if (BIT(has_cont, depth) || members != 2 || ph_any != 1 || ph_true != 1 ||
                num_any != 1) {
                err = "malformed attachment placeholder";
                goto fail;
            }
            /* JSON.stringify writes integral numbers without a fraction, so
             * 1.0 or 1e0 here did not come from a Socket.IO encoder. */
            if (!num_int) {
                err = "attachment placeholder num is not an integer";
                goto fail;
            }
            if (num >= o->n_att) {
                err = "attachment placeholder num out of range";
                goto fail;
            }
            SET(seen, num);
            r->placeholders++;
        }
        if (depth == 1 && o->top == JSCAN_EVENT && top_count == 0) {
            err = "event without a name";
            goto fail;
        }
        /* Back in the enclosing container; if it is an object, has_cont
         * already says it cannot be a placeholder. */
        depth--;
        members = 0;
        ph_any = ph_true = num_any = num_int = 0;
        p++;
        st = S_AFTER;
    }
    for (size_t k = 0; k < o->n_att; k++) {
        if (!BIT(seen, k)) {
            err = "attachment not referenced by any placeholder";
            goto fail;
        }
    }
    return 0;

fail:
    r->err_off = (size_t)(p - s);
    *why = err;
    return -1;
}
