/* sio_handshake.c — the handshake object a worker sees in a CONNECT's meta
 * (PROTOCOL.md rule 16): the client's headers, its query string decoded as
 * Node's querystring does, the auth, the time.  Pure over an eio_handshake
 * (apart from the clock).
 */
#include "app.h"
#include "pct.h"
#include "util.h"

#include <string.h>
#include <time.h>

/* Percent-decode (and '+' → ' ') into a new string, as Node's querystring
 * does: a malformed '%' stays as it is. */
static char *url_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    if (pct_decode(s, n, out, n + 1, PCT_PLUS | PCT_LENIENT) < 0)
        out[0] = '\0'; /* cannot: n + 1 fits */
    return out;
}

/* Query string → object; a repeated key becomes an array (as Node's
 * querystring module does for the reference server). */
json_t *sio_parse_query(const char *q)
{
    json_t *obj = json_object();
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len) {
            const char *eq = memchr(q, '=', len);
            size_t kl = eq ? (size_t)(eq - q) : len;
            char *k = url_decode(q, kl);
            char *v = eq ? url_decode(eq + 1, len - kl - 1) : xstrdup("");
            json_t *old = json_object_get(obj, k);
            json_t *jv = json_string(v); /* NULL for invalid UTF-8 */
            if (!jv) jv = json_string("");
            if (!old) {
                json_object_set_new(obj, k, jv);
            } else if (json_is_array(old)) {
                json_array_append_new(old, jv);
            } else {
                json_t *arr = json_array();
                json_array_append(arr, old);
                json_array_append_new(arr, jv);
                json_object_set_new(obj, k, arr);
            }
            free(k);
            free(v);
        }
        q = amp ? amp + 1 : NULL;
    }
    return obj;
}

/* Date.prototype.toString() of the reference, in UTC. */
static void js_date_string(char *out, size_t n, double ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
}

json_t *sio_handshake_json(const eio_handshake *h, json_t *auth)
{
    json_t *headers = json_object();
    for (size_t i = 0; i < h->n_headers; i++) {
        json_t *old = json_object_get(headers, h->headers[i].name);
        if (old) {
            size_t ol = json_string_length(old), nl = strlen(h->headers[i].value);
            char *joined = xmalloc(ol + 2 + nl + 1);
            memcpy(joined, json_string_value(old), ol);
            memcpy(joined + ol, ", ", 2);
            memcpy(joined + ol + 2, h->headers[i].value, nl + 1);
            json_t *js = json_string(joined);
            if (js) json_object_set_new(headers, h->headers[i].name, js);
            free(joined);
        } else {
            json_t *js = json_string(h->headers[i].value);
            if (js) json_object_set_new(headers, h->headers[i].name, js);
        }
    }
    double now = gw_now_ms();
    char date[96];
    js_date_string(date, sizeof date, now);
    json_t *url = json_string(h->url ? h->url : "");
    return json_pack("{s:o, s:o, s:O, s:s, s:I, s:o*, s:s, s:b, s:b}", "headers", headers, "query",
                     sio_parse_query(h->query), "auth", auth, "time", date, "issued",
                     (json_int_t)now, "url", url, "address", h->address ? h->address : "",
                     "xdomain", h->xdomain, "secure", h->secure);
}
