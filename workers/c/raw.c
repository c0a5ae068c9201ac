/* raw.c — the raw-arguments path of the C worker library (issue 12):
 * event handlers that receive the data frame's JSON bytes, and sends that
 * take JSON text as it is.  A handler that forwards or stores what a
 * client sent never pays for a jansson tree and a dump.
 *
 * Input trust: the data frame comes from the gateway, which has validated
 * the client's JSON (grammar, UTF-8, depth, placeholders; PROTOCOL.md rule
 * 30a's rules apply to client packets alike).  The library still reads it
 * defensively: only the event name is decoded, bounded by len, and a frame
 * that does not start as ["name" takes the parsed path, which drops it with
 * a log line as before.  This file must not depend on gateway code, so the
 * name extractor is its own.
 */
#include "worker_int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* iog_buf (public) and ipc_buf (internal) are the same two fields; the
 * attachment arrays are handed through without a copy. */
_Static_assert(sizeof(iog_buf) == sizeof(ipc_buf) &&
                   offsetof(iog_buf, data) == offsetof(ipc_buf, data) &&
                   offsetof(iog_buf, len) == offsetof(ipc_buf, len),
               "iog_buf and ipc_buf must have one layout");

#define NAME_MAX_BYTES 256 /* longer names take the parsed path */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The first element of ["name", …] decoded (escapes resolved, as JSON.parse
 * reads it) into out[0..cap) with a NUL.  Returns the offset just past the
 * name's closing quote, or 0 when json does not start that way, the name
 * does not fit, or it holds a NUL. */
static size_t event_name(const char *j, size_t len, char *out, size_t cap)
{
    size_t i = 0, n = 0;
    while (i < len && is_ws(j[i]))
        i++;
    if (i == len || j[i++] != '[') return 0;
    while (i < len && is_ws(j[i]))
        i++;
    if (i == len || j[i++] != '"') return 0;
    while (i < len) {
        char c = j[i];
        if (c == '"') {
            out[n] = '\0';
            return i + 1;
        }
        if (n + 4 >= cap) return 0; /* room for one more character and the NUL */
        if (c != '\\') {
            if (c == '\0') return 0;
            out[n++] = c;
            i++;
            continue;
        }
        if (len - i < 2) return 0;
        static const char simple[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
        const char *e = j[i + 1] ? strchr(simple, j[i + 1]) : NULL;
        if (e) {
            out[n++] = decoded[e - simple];
            i += 2;
            continue;
        }
        unsigned cp, lo;
        if (j[i + 1] != 'u' || len - i < 6 || hex4(j + i + 2, &cp) < 0 || cp == 0) return 0;
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (len - i < 6 || j[i] != '\\' || j[i + 1] != 'u' || hex4(j + i + 2, &lo) < 0 ||
                lo < 0xDC00 || lo > 0xDFFF)
                return 0;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return 0;
        }
        n += put_utf8(out + n, cp);
    }
    return 0;
}

size_t iog_raw_args_off(const char *json, size_t len)
{
    char name[NAME_MAX_BYTES];
    size_t i = json ? event_name(json, len, name, sizeof name) : 0;
    if (i == 0) return 0;
    while (i < len && is_ws(json[i]))
        i++;
    if (i < len && json[i] == ',') return i + 1;
    if (i < len && json[i] == ']') return i;
    return 0;
}

void iog_socket_on_raw(iog_socket *s, const char *event, iog_raw_event_fn fn, void *user)
{
    iog_cbs_add(&s->on_raw, (void (*)(void))fn, user, event);
}

void iog_socket_off_raw(iog_socket *s, const char *event, iog_raw_event_fn fn)
{
    for (size_t i = 0; i < s->on_raw.n; i++)
        if (s->on_raw.v[i].event && strcmp(s->on_raw.v[i].event, event) == 0 &&
            (!fn || s->on_raw.v[i].fn == (void (*)(void))fn))
            s->on_raw.v[i].fn = NULL;
}

int iog_raw_event(iog_socket *s, const ipc_msg *m)
{
    if (s->on_raw.n == 0 || s->state != IOG_S_CONNECTED || s->mw.n || s->on_any.n) return -1;
    char ev[NAME_MAX_BYTES];
    if (event_name(m->data.data, m->data.len, ev, sizeof ev) == 0) return -1;
    if (!iog_cbs_has(&s->on_raw, ev) || iog_cbs_has(&s->on_event, ev)) return -1;
    if (iog_reserved_event(ev)) return -1; /* the parsed path logs and drops it */
    iog_ack *ack = NULL;
    json_t *id = json_object_get(m->meta, "ack");
    if (json_is_integer(id) && json_integer_value(id) >= 0) {
        ack = iog_xcalloc(1, sizeof *ack);
        ack->s = s;
        ack->id = json_integer_value(id);
        ack->next = s->acks_in;
        if (s->acks_in) s->acks_in->prev = ack;
        s->acks_in = ack;
        ack->in_dispatch++;
    }
    size_t called = iog_socket_run_raw(s, ev, m->data.data, m->data.len, m->att, m->n_att, ack);
    iog_ack_dispatched(ack, called);
    return 0;
}

/* An outgoing ["event", …]: an array whose first element names an event
 * that may be emitted. */
static int check_event_array(const char *json, size_t len)
{
    char ev[NAME_MAX_BYTES];
    if (!json || event_name(json, len, ev, sizeof ev) == 0)
        return iog_fail(EINVAL, "not a JSON array starting with an event name");
    if (iog_reserved_event(ev)) return iog_fail(EINVAL, "reserved event name");
    return 0;
}

int iog_socket_emit_raw(iog_socket *s, const char *text, size_t len, const iog_buf *att,
                        size_t n_att)
{
    if (check_event_array(text, len) != 0) return -1;
    if (s->state != IOG_S_CONNECTED) return iog_fail(ENOTCONN, "socket is not connected");
    return iog_send_raw(s->gw, IPC_EMIT, s->id, NULL, text, len, (const ipc_buf *)att, n_att, 0);
}

int iog_ack_send_raw(iog_ack **pa, const char *text, size_t len, const iog_buf *att, size_t n_att)
{
    iog_ack *a = pa ? *pa : NULL;
    if (!a) return iog_fail(EINVAL, "no ack");
    *pa = NULL;
    if (a->sent || !a->s)
        return iog_fail(EALREADY, a->sent ? "ack already sent" : "socket is gone");
    iog_socket *s = a->s;
    size_t i = 0;
    while (text && i < len && is_ws(text[i]))
        i++;
    int rc;
    if (!text || i == len || text[i] != '[') {
        rc = iog_fail(EINVAL, "ack arguments are not a JSON array");
    } else if (s->state != IOG_S_CONNECTED) {
        rc = iog_fail(ENOTCONN, "socket is not connected");
    } else {
        json_t *meta = iog_jcheck(json_pack("{s:I}", "id", (json_int_t)a->id));
        rc = iog_send_raw(s->gw, IPC_ACK, s->id, meta, text, len, (const ipc_buf *)att, n_att, 0);
        json_decref(meta);
    }
    /* Sent or not, this ack is used up, as with iog_ack_send. */
    iog_ack_sent(a);
    return rc;
}

int iog_bc_emit_raw(iog_broadcast **pb, const char *text, size_t len, const iog_buf *att,
                    size_t n_att)
{
    iog_broadcast *b = pb ? *pb : NULL;
    if (!b) return iog_fail(EINVAL, "no broadcast");
    if (check_event_array(text, len) != 0) {
        iog_bc_destroy(pb);
        return -1;
    }
    json_t *meta = iog_jcheck(json_object());
    json_t *rooms = iog_jcheck(json_array()), *except = iog_jcheck(json_array());
    for (size_t i = 0; i < b->n_rooms; i++)
        json_array_append_new(rooms, json_string(b->rooms[i]));
    for (size_t i = 0; i < b->n_except; i++)
        json_array_append_new(except, json_string(b->except[i]));
    if (b->n_rooms) json_object_set(meta, "rooms", rooms);
    if (b->n_except) json_object_set(meta, "except", except);
    if (b->vol) json_object_set_new(meta, "volatile", json_true());
    json_decref(rooms);
    json_decref(except);
    /* Every gateway gets it and applies rooms / except to its own sockets
     * (iog_send_all's rule, with the text sent as it is). */
    iog_worker *w = b->w;
    size_t up = 0;
    int rc = 0, err = 0;
    const char *why = NULL;
    for (size_t i = 0; i < w->n_gws; i++) {
        if (!w->gws[i]->welcomed) continue; /* its sockets are gone with it */
        up++;
        if (iog_send_raw(w->gws[i], IPC_BROADCAST, NULL, meta, text, len, (const ipc_buf *)att,
                         n_att, b->vol) != 0) {
            rc = -1;
            err = errno;
            why = iog_strerror();
        }
    }
    json_decref(meta);
    iog_bc_destroy(pb);
    if (!up) return iog_fail(ENOTCONN, "not connected to the gateway");
    return rc ? iog_fail(err, why) : 0;
}
