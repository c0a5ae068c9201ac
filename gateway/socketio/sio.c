/* sio.c — Socket.IO protocol v5 in the gateway.
 *
 * Sits on eio.h sessions: decodes each client's Socket.IO packets
 * (sio_codec.h), reassembles binary packets with their attachments, keeps
 * one sio_socket per (client, namespace), and turns packets into IPC
 * messages for the namespace's worker — and worker messages back into
 * packets (PROTOCOL.md §3).  The gateway decodes; the worker decides.
 *
 * Lifecycle of a socket, in one place:
 *
 *   client CONNECT ──► PENDING ──(worker ACCEPT)──► CONNECTED
 *                         │  (worker REFUSE) → 44, freed
 *                         └─ (client/engine gone) → DISCONNECT to worker
 *   CONNECTED ──(client 41 | engine close | worker DISCONNECT | worker gone)──► freed
 *
 * Every removal goes through sio_socket_remove(), which says once and only
 * once to the worker why the socket went (unless the worker asked for it).
 */
#include "app.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <utlist.h>

/* ---- namespaces ------------------------------------------------------- */

gw_nsp *gw_nsp_get(gw_app *app, const char *name, size_t len, int create)
{
    gw_nsp *n;
    HASH_FIND(hh, app->nsps, name, len, n);
    if (n || !create) return n;
    n = xcalloc(1, sizeof *n);
    n->name = xstrndup(name, len);
    HASH_ADD_KEYPTR(hh, app->nsps, n->name, len, n);
    sio_cluster_nsp(app, n);
    return n;
}

/* ---- sending packets to a client -------------------------------------- */

/* Build the Engine.IO messages of one Socket.IO packet: the text packet and
 * one binary message per attachment.  Returns the number of messages in
 * out (1 + n_att); the caller unrefs them. */
static size_t build_packet(eio_msg **out, sio_type type, const char *nsp, size_t nsp_len,
                           int64_t id, const char *json, size_t json_len, const ipc_buf *att,
                           size_t n_att)
{
    if (n_att > 0) type = type == SIO_ACK ? SIO_BINARY_ACK : SIO_BINARY_EVENT;
    char small[256];
    size_t hmax = sio_head_max(nsp_len);
    char *head = hmax <= sizeof small ? small : xmalloc(hmax);
    size_t hl = sio_encode_head(head, type, n_att, nsp, nsp_len, id);
    eio_msg *m = eio_msg_new(0, hl + json_len);
    memcpy(eio_msg_data(m), head, hl);
    if (json_len) memcpy(eio_msg_data(m) + hl, json, json_len);
    if (head != small) free(head);
    out[0] = m;
    for (size_t i = 0; i < n_att; i++) out[1 + i] = eio_msg_copy(1, att[i].data, att[i].len);
    return 1 + n_att;
}

size_t sio_build_packet(eio_msg **out, sio_type type, const char *nsp, size_t nsp_len, int64_t id,
                        const char *json, size_t json_len, const ipc_buf *att, size_t n_att)
{
    return build_packet(out, type, nsp, nsp_len, id, json, json_len, att, n_att);
}

static void send_msgs(sio_client *c, eio_msg **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) eio_session_send(c->session, msgs[i]);
}

static void free_msgs(eio_msg **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) eio_msg_unref(&msgs[i]);
}

static void send_packet(sio_client *c, sio_type type, const char *nsp, size_t nsp_len, int64_t id,
                        const char *json, size_t json_len, const ipc_buf *att, size_t n_att)
{
    eio_msg *stack[16];
    eio_msg **msgs = n_att + 1 <= 16 ? stack : xmalloc((n_att + 1) * sizeof *msgs);
    size_t n = build_packet(msgs, type, nsp, nsp_len, id, json, json_len, att, n_att);
    send_msgs(c, msgs, n);
    free_msgs(msgs, n);
    if (msgs != stack) free(msgs);
}

void sio_socket_send_event(sio_socket *s, int64_t id, const char *data, size_t len,
                           const ipc_buf *att, size_t n_att)
{
    send_packet(s->client, SIO_EVENT, s->nsp->name, strlen(s->nsp->name), id, data, len, att,
                n_att);
}

static void send_json_packet(sio_client *c, sio_type type, const char *nsp, json_t *j)
{
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    send_packet(c, type, nsp, strlen(nsp), -1, txt, txt ? strlen(txt) : 0, NULL, 0);
    free(txt);
}

/* A CONNECT refused by the worker's middleware.  Socket.IO protocol v4
 * (Engine.IO v3 clients) carries `data`, or else the message, bare: what
 * the reference sends them (err.data || err.message). */
static void send_connect_error(sio_client *c, const char *nsp, const char *message, json_t *data);
static void send_refusal(sio_client *c, const char *nsp, const char *message, json_t *data)
{
    if (eio_session_protocol(c->session) == 3) {
        int falsy = !data || json_is_null(data) || json_is_false(data) ||
                    (json_is_number(data) && json_number_value(data) == 0) ||
                    (json_is_string(data) && json_string_length(data) == 0); /* as in JS */
        json_t *j = falsy ? json_string(message) : json_incref(data);
        send_json_packet(c, SIO_CONNECT_ERROR, nsp, j);
        json_decref(j);
        return;
    }
    send_connect_error(c, nsp, message, data);
}

static void send_connect_error(sio_client *c, const char *nsp, const char *message, json_t *data)
{
    json_t *j = json_pack("{s:s}", "message", message);
    if (data) json_object_set(j, "data", data);
    send_json_packet(c, SIO_CONNECT_ERROR, nsp, j);
    json_decref(j);
}

/* ---- sockets ------------------------------------------------------------ */

static sio_socket *client_socket(sio_client *c, const char *nsp, size_t len)
{
    for (sio_socket *s = c->sockets; s; s = s->cnext)
        if (strlen(s->nsp->name) == len && memcmp(s->nsp->name, nsp, len) == 0) return s;
    return NULL;
}

static int notify(gw_app *app, sio_socket *s, ipc_type type, const char *meta, size_t meta_len,
                  const char *data, size_t data_len, const ipc_buf *att, size_t n_att)
{
    if (!s->nsp->worker || s->unsent || s->orphaned) return -1;
    return gw_router_send(app, s->nsp->worker, type, s->nsp->name, s->id, meta, meta_len, data,
                          data_len, att, n_att);
}

static void timeout_dequeue(gw_app *app, sio_client *c)
{
    if (!c->in_timeout_queue) return;
    DL_DELETE2(app->timeouts, c, tprev, tnext);
    c->in_timeout_queue = 0;
}

/* A client packet (EVENT or ACK) on its way to a worker: held while the
 * worker restarts, retained after sending until the worker reports it
 * PROCESSED (PROTOCOL.md §4). */
typedef struct held_msg {
    struct held_msg *next;
    ipc_type type;
    int64_t id; /* ack id (EVENT, -1 = none) or acked id (ACK) */
    char *data;
    size_t data_len;
    ipc_buf *att;
    size_t n_att;
    size_t bytes;
    unsigned deaths; /* workers that died with it in flight (rule 37) */
} held_msg;

static held_msg *held_new(ipc_type type, int64_t id, const char *data, size_t data_len,
                          const ipc_buf *att, size_t n_att)
{
    held_msg *h = xcalloc(1, sizeof *h);
    h->type = type;
    h->id = id;
    h->data = data_len ? xstrndup(data, data_len) : NULL;
    h->data_len = data_len;
    h->bytes = data_len;
    if (n_att) {
        h->att = xcalloc(n_att, sizeof *h->att);
        for (size_t i = 0; i < n_att; i++) {
            h->att[i].data = xstrndup(att[i].data, att[i].len);
            h->att[i].len = att[i].len;
            h->bytes += att[i].len;
        }
        h->n_att = n_att;
    }
    return h;
}

static void held_free(held_msg *h)
{
    for (size_t i = 0; i < h->n_att; i++) free((void *)h->att[i].data);
    free(h->att);
    free(h->data);
    free(h);
}

static void held_free_all(sio_socket *s)
{
    while (s->held) {
        held_msg *h = s->held;
        s->held = h->next;
        held_free(h);
    }
    s->held_tail = NULL;
    s->n_held = s->held_bytes = 0;
    s->n_replay = s->replay_bytes = 0;
}

/* Append h to the socket's hold (taking it); -1 (h freed) when full.  The
 * bound is on what the client sends while its worker restarts: packets a
 * dead worker had in flight (replay) come back without it — they were
 * already in memory, bounded by the credit (rule 35). */
static int hold_take(gw_app *app, sio_socket *s, held_msg *h, int replay)
{
    if (!replay && (s->n_held - s->n_replay + 1 > app->opt.hold_max_msgs ||
                    s->held_bytes - s->replay_bytes + h->bytes > app->opt.hold_max_bytes)) {
        GW_LIMIT(GW_LIMIT_HOLD);
        held_free(h);
        return -1;
    }
    if (replay) {
        s->n_replay++;
        s->replay_bytes += h->bytes;
    }
    h->next = NULL;
    if (s->held_tail)
        s->held_tail->next = h;
    else
        s->held = h;
    s->held_tail = h;
    s->n_held++;
    GW_NSP_M(s->nsp)->held++;
    s->held_bytes += h->bytes;
    return 0;
}

/* The cause (rule 19) of a socket dropped because forward() failed. */
static const char *loss_cause(int e, int replay)
{
    if (e == ENOBUFS)
        return replay ? "worker credit exceeded during replay" : "worker credit exceeded";
    if (e == EAGAIN) return "worker at its high-water mark";
    return strerror(e);
}

/* Send a client EVENT/ACK to the socket's worker with the next sequence
 * number, and retain a copy until the worker reports it PROCESSED.  Takes
 * `h` when given (a replayed packet), else copies nothing until sent.
 * 0, or -1 with errno — ENOBUFS past the credit, EAGAIN at the ROUTER's
 * high-water mark — and nothing retained (a given h is freed). */
static int forward(gw_app *app, sio_socket *s, ipc_type type, int64_t id, const char *data,
                   size_t data_len, const ipc_buf *att, size_t n_att, held_msg *h)
{
    gw_worker *w = s->nsp->worker;
    if (!w || s->unsent || s->orphaned) {
        if (h) held_free(h);
        errno = EHOSTUNREACH;
        return -1;
    }
    if (w->n_ret >= app->opt.credit) {
        /* The worker is this far behind: it is slow (or not reporting).
         * Say so once per episode; the caller applies rule 31. */
        if (!w->slow) log_warn("namespace %s: worker has %zu packets in flight; it is too slow",
                               s->nsp->name, w->n_ret);
        w->slow = 1;
        if (h) held_free(h);
        errno = ENOBUFS; /* EAGAIN is the ROUTER's high-water mark */
        return -1;
    }
    if (h) {
        type = h->type, id = h->id, data = h->data, data_len = h->data_len;
        att = h->att, n_att = h->n_att;
    }
    uint64_t seq = w->next_seq + 1;
    char meta[80];
    int ml;
    if (type == IPC_ACK)
        ml = snprintf(meta, sizeof meta, "{\"id\":%lld,\"seq\":%llu}", (long long)id,
                      (unsigned long long)seq);
    else if (id >= 0)
        ml = snprintf(meta, sizeof meta, "{\"ack\":%lld,\"seq\":%llu}", (long long)id,
                      (unsigned long long)seq);
    else
        ml = snprintf(meta, sizeof meta, "{\"seq\":%llu}", (unsigned long long)seq);
    if (gw_router_send(app, w, type, s->nsp->name, s->id, meta, (size_t)ml, data, data_len, att,
                       n_att) < 0 &&
        errno != EHOSTUNREACH) {
        int e = errno;
        if (h) held_free(h);
        errno = e;
        return -1;
    }
    /* Sent, or the worker just vanished (EHOSTUNREACH: its drop is already
     * scheduled): either way keep the copy, so that a dead worker's packets
     * go back to their sockets and on to the next worker. */
    w->next_seq = seq;
    gw_retained *r = xmalloc(sizeof *r);
    r->next = NULL;
    r->seq = seq;
    memcpy(r->sid, s->id, sizeof r->sid);
    r->msg = h ? h : held_new(type, id, data, data_len, att, n_att);
    if (w->ret_tail)
        w->ret_tail->next = r;
    else
        w->ret_head = r;
    w->ret_tail = r;
    w->n_ret++;
    return 0;
}

void sio_worker_processed(gw_app *app, gw_worker *w, uint64_t seq)
{
    while (w->ret_head && w->ret_head->seq <= seq) {
        gw_retained *r = w->ret_head;
        w->ret_head = r->next;
        held_free(r->msg);
        free(r);
        w->n_ret--;
    }
    if (!w->ret_head) w->ret_tail = NULL;
    if (w->slow && w->n_ret < app->opt.credit / 2) {
        w->slow = 0;
        log_info("namespace %s: worker caught up", w->nsp ? w->nsp->name : "?");
    }
}

/* What a held packet was, for a log line: the event name, or the ack id. */
static void held_describe(const held_msg *h, char *out, size_t n)
{
    if (h->type == IPC_ACK) {
        snprintf(out, n, "ack %lld", (long long)h->id);
        return;
    }
    json_t *j = h->data ? json_loadb(h->data, h->data_len, 0, NULL) : NULL;
    json_t *name = json_array_get(j, 0);
    /* The name is the client's: no control bytes or quotes into the log. */
    char safe[65];
    const char *v = json_is_string(name) ? json_string_value(name) : "?";
    size_t k = 0;
    for (; v[k] && k < sizeof safe - 1; k++) {
        unsigned char ch = (unsigned char)v[k];
        safe[k] = ch < 0x20 || ch == '"' || ch == '\\' || ch == 0x7f ? '?' : (char)ch;
    }
    safe[k] = '\0';
    snprintf(out, n, "event \"%s\"", safe);
    json_decref(j);
}

void sio_worker_requeue(gw_app *app, gw_worker *w)
{
    size_t n = 0;
    int blamed = 0;
    while (w->ret_head) {
        gw_retained *r = w->ret_head;
        w->ret_head = r->next;
        sio_socket *s;
        HASH_FIND(hh, app->sockets, r->sid, IPC_ID_LEN, s);
        if (s && s->nsp == w->nsp && s->state == SOCK_CONNECTED && s->quarantined) {
            s->n_lost++; /* behind its poison packet: dropped with it */
            held_free(r->msg);
        } else if (s && s->nsp == w->nsp && s->state == SOCK_CONNECTED) {
            /* Rule 37: the oldest packet that was in flight at an earlier
             * death too is not replayed again; one per death, so that an
             * innocent packet that merely shared a batch with the culprit
             * is not blamed with it at once. */
            if (++r->msg->deaths >= 2 && !blamed) {
                char what[96];
                held_describe(r->msg, what, sizeof what);
                log_warn("namespace %s: quarantined the %s of socket %s: it was in flight at %u "
                         "worker deaths; not replayed, the socket is disconnected",
                         s->nsp->name, what, s->id, r->msg->deaths);
                blamed = 1;
                s->quarantined = 1;
                s->n_lost++;
                held_free(r->msg);
            } else {
                /* The socket's hold is empty here (it was not orphaned while
                 * this worker served it), so order is kept. */
                hold_take(app, s, r->msg, 1);
                n++;
            }
        } else {
            held_free(r->msg);
        }
        free(r);
    }
    w->ret_tail = NULL;
    w->n_ret = 0;
    if (n) log_info("namespace %s: %zu packet(s) the worker had not handled will be replayed",
                    w->nsp ? w->nsp->name : "?", n);
}

static json_t *connect_meta(sio_socket *s, int recovered);

/* sio_socket_remove(), and `cause` (when given) goes into the DISCONNECT's
 * meta beside the reason: why the gateway disconnected it (rule 19). */
static void socket_remove(gw_app *app, sio_socket *s, const char *notify_reason,
                          const char *cause)
{
    gw_log_socket("disconnect", s->nsp->name, s->id, eio_session_handshake(s->client->session)->address, cause ? cause : notify_reason ? notify_reason : s->state == SOCK_CONNECTED ? "server side (see the line before)" : "not accepted");
    held_free_all(s);
    sio_rec_free(app, &s->rec);
    sio_rec_unclaim(app, s);
    if (notify_reason && (s->orphaned || s->recovering) && !app->shutting_down) {
        /* The worker that knew it died and the next one has not (yet)
         * accepted it back: that one gets it back, then hears why it went
         * (a ghost, rule 37), so that no application state is left behind. */
        json_t *meta = connect_meta(s, 1);
        char *mt = json_dumps(meta, JSON_COMPACT);
        gw_ghost_add(app, s->nsp, s->id, mt, notify_reason, cause, s->recovering);
        free(mt);
        json_decref(meta);
    } else if (notify_reason) {
        json_t *meta = json_pack("{s:s, s:s*}", "reason", notify_reason, "cause", cause);
        char *mt = json_dumps(meta, JSON_COMPACT);
        if (notify(app, s, IPC_DISCONNECT, mt, strlen(mt), NULL, 0, NULL, 0) < 0 && cause)
            log_warn("namespace %s: could not tell the worker that socket %s is gone (%s)",
                     s->nsp->name, s->id, strerror(errno));
        free(mt);
        json_decref(meta);
    }
    gw_room_leave_all(app, s);
    s->nsp->last_active = ev_now(app->loop);
    if (s->state == SOCK_CONNECTED) {
        DL_DELETE2(s->nsp->sockets, s, nprev, nnext);
        s->nsp->n_sockets--;
    }
    LL_DELETE2(s->client->sockets, s, cnext);
    HASH_DEL(app->sockets, s);
    if (s->auth) json_decref(s->auth);
    free(s);
}

void sio_socket_remove(gw_app *app, sio_socket *s, const char *notify_reason)
{
    socket_remove(app, s, notify_reason, NULL);
}

/* ---- the handshake a worker sees ----------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode (and '+' → ' ') into a new string. */
static char *url_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Query string → object; a repeated key becomes an array (as Node's
 * querystring module does for the reference server). */
static json_t *parse_query(const char *q)
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
    return json_pack("{s:o, s:o, s:O, s:s, s:I, s:o*, s:s, s:b, s:b}", "headers", headers,
                     "query", parse_query(h->query), "auth", auth, "time", date, "issued",
                     (json_int_t)now, "url", url, "address", h->address ? h->address : "",
                     "xdomain", h->xdomain, "secure", h->secure);
}

static json_t *handshake_json(sio_client *c, json_t *auth)
{
    return sio_handshake_json(eio_session_handshake(c->session), auth);
}

/* ---- packets from a client ----------------------------------------------- */

static void close_client(sio_client *c, eio_close_reason why)
{
    if (c->closing) return;
    c->closing = 1;
    eio_session_close(c->session, why);
    /* `c` may be freed now: callers return at once. */
}

/* The meta of a socket's CONNECT (rule 16). */
static json_t *connect_meta(sio_socket *s, int recovered)
{
    sio_client *c = s->client;
    json_t *meta = json_pack("{s:o, s:s, s:b}", "handshake", handshake_json(c, s->auth),
                             "transport", eio_session_transport_name(c->session), "recovered",
                             recovered);
    if (eio_session_protocol(c->session) == 3) /* PROTOCOL.md: only for v3 clients */
        json_object_set_new(meta, "protocol", json_integer(3));
    if (recovered) {
        /* The gateway's routing copy is the truth about rooms now. */
        json_t *rooms = json_array();
        for (gw_member *m = s->rooms; m; m = m->snext)
            json_array_append_new(rooms, json_string(m->room->name));
        json_object_set_new(meta, "rooms", rooms);
    }
    return meta;
}

static void arm_connect_timer(gw_app *app);

/* The client has no namespace left: like the reference, leave the
 * connection to the client (it closes it when its last socket goes), but
 * do not keep a client without namespaces forever: the connect timeout
 * applies again. */
static void client_idle(gw_app *app, sio_client *c)
{
    c->ever_connected = 0;
    if (!c->in_timeout_queue) {
        c->deadline = ev_now(app->loop) + app->opt.connect_timeout_ms / 1000.0;
        DL_APPEND2(app->timeouts, c, tprev, tnext);
        c->in_timeout_queue = 1;
        arm_connect_timer(app);
    }
}

/* The gateway disconnects a connected socket on its own (rules 31, 35, 37):
 * its client gets `41<nsp>,`; the worker that knows the socket hears
 * DISCONNECT "server namespace disconnect" with `cause` — at once, or, while
 * the namespace's worker restarts, from the next one as soon as that one has
 * accepted the socket back (a ghost, sio_loss.c); the log says how many of
 * its packets are dropped (`lost` plus its hold).  What the client had
 * already sent for the namespace is then ignored (a tombstone), not taken
 * for a violation that would close its other namespaces too. */
static void drop_socket(gw_app *app, sio_socket *s, const char *cause, size_t lost)
{
    sio_client *c = s->client;
    lost += s->n_held + s->n_lost;
    log_warn("namespace %s: socket %s disconnected (%s); %zu packet(s) of it dropped",
             s->nsp->name, s->id, cause, lost);
    if (!c->closing) {
        send_packet(c, SIO_DISCONNECT, s->nsp->name, strlen(s->nsp->name), -1, NULL, 0, NULL, 0);
        sio_tomb_add(c, s->nsp);
    }
    socket_remove(app, s, "server namespace disconnect", cause);
    if (!c->closing && !c->sockets) client_idle(app, c);
}

/* Send a pending socket's CONNECT to its namespace's worker. */
static void send_connect(gw_app *app, sio_socket *s)
{
    sio_client *c = s->client;
    int recovered = s->orphaned;
    json_t *meta = connect_meta(s, recovered);
    if (!recovered) sio_rec_connect_meta(app, s, meta);
    if (recovered) {
        s->orphaned = 0;
        s->recovering = 1;
    }
    char *mt = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    s->unsent = 0;
    if (notify(app, s, IPC_CONNECT, mt, strlen(mt), NULL, 0, NULL, 0) < 0) {
        if (errno == EHOSTUNREACH) {
            /* The worker vanished right after its HELLO (its drop is
             * scheduled): the socket waits for the next one, as before —
             * a kept socket must not lose its hold to this race. */
            if (recovered) {
                s->orphaned = 1;
                s->recovering = 0;
            } else {
                s->unsent = 1;
            }
            free(mt);
            return;
        }
        if (recovered) {
            /* A connected socket: it goes as rule 37 says, not with a
             * CONNECT_ERROR for a namespace its client is in. */
            const char *why = strerror(errno);
            s->orphaned = 1;
            s->recovering = 0;
            drop_socket(app, s, why, 0);
            free(mt);
            return;
        }
        log_warn("namespace %s: worker did not take CONNECT (%s)", s->nsp->name, strerror(errno));
        send_connect_error(c, s->nsp->name, "Namespace unavailable", NULL);
        sio_socket_remove(app, s, NULL);
    }
    free(mt);
}

void sio_worker_arrived(gw_app *app, gw_nsp *nsp)
{
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp)
    {
        if (s->nsp == nsp && (s->unsent || s->orphaned) && !s->client->closing)
            send_connect(app, s);
    }
    gw_ghosts_send(app, nsp);
}

static void handle_connect_v(sio_client *c, const sio_packet *p);
static void handle_connect(sio_client *c, const sio_packet *p0)
{
    sio_packet v3p;
    const sio_packet *p = p0;
    json_t *v3auth = NULL;
    if (eio_session_protocol(c->session) == 3) {
        /* Socket.IO protocol v4 (socket.io-client 2.x): the auth is the
         * query in the namespace, "/nsp?token=abc", as the reference reads
         * it (url.parse(nsp, true): the query becomes an object) */
        const char *q = memchr(p0->nsp, '?', p0->nsp_len);
        v3p = *p0;
        if (q) {
            char *qs = xstrndup(q + 1, p0->nsp_len - (size_t)(q - p0->nsp) - 1);
            v3auth = parse_query(qs);
            free(qs);
            v3p.nsp_len = (size_t)(q - p0->nsp);
        } else {
            v3auth = json_object();
        }
        v3p.json = v3auth;
        p = &v3p;
    }
    handle_connect_v(c, p);
    if (v3auth) json_decref(v3auth);
}

static void handle_connect_v(sio_client *c, const sio_packet *p)
{
    gw_app *app = c->app;
    char *nspname = xstrndup(p->nsp, p->nsp_len);
    sio_socket *dup = client_socket(c, p->nsp, p->nsp_len);
    if (dup && dup->state == SOCK_PENDING) {
        /* socket.io-client sends CONNECT again when connect() is called
         * while the first is still in middleware: one answer will do. */
        log_debug("CONNECT for %s repeated while pending; ignored", nspname);
        free(nspname);
        return;
    }
    if (!dup) sio_tomb_clear(c, p->nsp, p->nsp_len);
    if (dup) {
        /* A CONNECT for a namespace already connected is a violation. */
        log_info("client %s: duplicate CONNECT for %s, closing", eio_session_handshake(c->session)->address, nspname);
        free(nspname);
        close_client(c, EIO_CLOSE_FORCED_SERVER);
        return;
    }
    gw_nsp *nsp = gw_nsp_get(app, p->nsp, p->nsp_len, 0);
    if (nsp && nsp->draining) nsp = NULL; /* removed by a reload */
    int wait = nsp && !nsp->worker && gw_router_worker_expected(app, nsp);
    if ((!nsp || !nsp->worker) && !wait && !app->shutting_down &&
        gw_router_spawn_dynamic(app, p->nsp, p->nsp_len)) {
        nsp = gw_nsp_get(app, p->nsp, p->nsp_len, 1);
        wait = 1;
    }
    if (!nsp || (!nsp->worker && !wait) || app->shutting_down) {
        /* A configured namespace whose worker was given up (crash loop)
         * exists but cannot serve: say so, as the README promises. */
        int down = nsp && !nsp->worker && !app->shutting_down && gw_router_given_up(app, nsp);
        log_debug("CONNECT to %s namespace %s", down ? "unavailable" : "unknown", nspname);
        send_connect_error(c, nspname, down ? "Namespace unavailable" : "Invalid namespace", NULL);
        free(nspname);
        return;
    }
    sio_socket *s = xcalloc(1, sizeof *s);
    gw_random_id(s->id);
    s->state = SOCK_PENDING;
    s->nsp = nsp;
    s->client = c;
    s->auth = p->json && json_is_object(p->json) ? json_incref(p->json) : json_object();
    /* Connection state recovery: its pid and offset take the session back
     * (sio_recovery.c), with its socket id. */
    sio_rec *rec = sio_rec_claim(app, nsp, s->auth, eio_session_handshake(c->session)->address);
    if (rec) sio_rec_restoring(rec, s);
    nsp->last_active = ev_now(app->loop);
    HASH_ADD(hh, app->sockets, id, IPC_ID_LEN, s);
    LL_PREPEND2(c->sockets, s, cnext);
    if (wait) {
        /* The namespace's worker is (re)starting: the CONNECT waits for its
         * HELLO (sio_worker_arrived), within the client's connect timeout. */
        s->unsent = 1;
        log_debug("CONNECT to %s waits for its worker", nspname);
    } else {
        send_connect(app, s);
    }
    free(nspname);
}

static void dispatch(sio_client *c, const sio_packet *p, const ipc_buf *att, size_t n_att)
{
    gw_app *app = c->app;
    if (p->type == SIO_CONNECT) {
        handle_connect(c, p);
        return;
    }
    sio_socket *s = client_socket(c, p->nsp, p->nsp_len);
    if (!s && sio_tomb_has(c, p->nsp, p->nsp_len)) {
        /* Sent before the client read our `41` for this namespace: the
         * race of a server-side disconnect, not a violation (rule 38). */
        log_debug("client %s: packet type %d for %.*s, which the gateway just disconnected; "
                  "ignored", eio_session_handshake(c->session)->address, p->type,
                  (int)p->nsp_len, p->nsp);
        return;
    }
    if (!s || s->state != SOCK_CONNECTED) {
        /* EVENT/ACK/DISCONNECT before the namespace is connected: the
         * reference closes the whole connection, and so do we. */
        log_info("client %s: packet type %d for a namespace it is not connected to, closing",
                 eio_session_handshake(c->session)->address, p->type);
        close_client(c, EIO_CLOSE_FORCED_SERVER);
        return;
    }
    switch (p->type) {
    case SIO_DISCONNECT:
        /* An orphaned socket's worker is gone: the next one is told. */
        sio_socket_remove(app, s, "client namespace disconnect");
        /* Even when it was the last namespace, the Engine.IO connection
         * stays open and heartbeats go on, as in the reference: closing it
         * is the client's choice (PITFALLS.md 11). */
        return;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
    case SIO_ACK:
    case SIO_BINARY_ACK:
        break;
    default:
        close_client(c, EIO_CLOSE_PARSE_ERROR);
        return;
    }
    ipc_type t = (p->type == SIO_ACK || p->type == SIO_BINARY_ACK) ? IPC_ACK : IPC_EVENT;
    GW_NSP_COUNT2(s->nsp, packets_in, bytes_in, p->data_len);
    /* An answer to a broadcast that asked for acks goes its own way (rule 25a). */
    if (t == IPC_ACK && gw_bcast_ack_answer(app, s, p->id, p->data, p->data_len, att, n_att))
        return;
    if (s->orphaned || s->recovering) {
        /* Its worker is restarting: keep the packet, in order, for the next
         * one.  Past the bound the socket goes (PROTOCOL.md rule 35). */
        if (hold_take(app, s, held_new(t, p->id, p->data, p->data_len, att, n_att), 0) < 0)
            drop_socket(app, s, "hold full while its worker restarts", 1);
        return;
    }
    if (forward(app, s, t, p->id, p->data, p->data_len, att, n_att, NULL) < 0) {
        /* PROTOCOL.md rule 31: the worker is not keeping up (or cannot be
         * sent to): this socket goes, not the packet alone. */
        if (errno == EAGAIN) GW_LIMIT(GW_LIMIT_CREDIT);
        drop_socket(app, s, loss_cause(errno, 0), 1);
    }
}

static void partial_free(sio_partial **pp)
{
    sio_partial *p = *pp;
    if (!p) return;
    sio_packet_clear(&p->pkt);
    for (size_t i = 0; i < p->n_att; i++) free((void *)p->att[i].data);
    free(p->att);
    free(p->text);
    free(p);
    *pp = NULL;
}

static void on_message(eio_session *es, const char *data, size_t len, int binary, void *ud)
{
    gw_app *app = ud;
    sio_client *c = eio_session_userdata(es);
    if (!c || c->closing) return;
    const char *addr = eio_session_handshake(es)->address;
    if (binary) {
        sio_partial *p = c->partial;
        if (!p) {
            log_info("client %s: binary message without a binary packet, closing", addr);
            close_client(c, EIO_CLOSE_PARSE_ERROR);
            return;
        }
        p->att[p->n_att].data = xstrndup(data, len);
        p->att[p->n_att].len = len;
        if (++p->n_att == p->pkt.attachments) {
            c->partial = NULL;
            dispatch(c, &p->pkt, p->att, p->n_att);
            partial_free(&p);
        }
        return;
    }
    if (c->partial) {
        log_info("client %s: text packet while attachments were expected, closing", addr);
        close_client(c, EIO_CLOSE_PARSE_ERROR);
        return;
    }
    sio_packet pkt;
    const char *why = "invalid packet";
    if (sio_decode(data, len, &app->limits, &pkt, &why) < 0) {
        log_info("client %s: parse error (%s), closing", addr, why);
        gw_metrics_parse_error(why);
        close_client(c, EIO_CLOSE_PARSE_ERROR);
        return;
    }
    if ((pkt.type == SIO_BINARY_EVENT || pkt.type == SIO_BINARY_ACK) && pkt.attachments > 0) {
        /* Keep the packet until its attachments arrive: re-decode an owned
         * copy so every view points into memory we keep. */
        sio_packet_clear(&pkt);
        sio_partial *p = xcalloc(1, sizeof *p);
        p->text = xstrndup(data, len);
        if (sio_decode(p->text, len, &app->limits, &p->pkt, &why) < 0) { /* cannot differ */
            free(p->text);
            free(p);
            close_client(c, EIO_CLOSE_PARSE_ERROR);
            return;
        }
        p->att = xcalloc(p->pkt.attachments, sizeof *p->att);
        c->partial = p;
        return;
    }
    dispatch(c, &pkt, NULL, 0);
    sio_packet_clear(&pkt);
}

/* ---- connect timeout: one timer, one FIFO (all deadlines are equal) -------- */

static void arm_connect_timer(gw_app *app)
{
    if (ev_is_active(&app->connect_timer) || !app->timeouts) return;
    double after = app->timeouts->deadline - ev_now(app->loop);
    ev_timer_set(&app->connect_timer, after > 0 ? after : 0, 0);
    ev_timer_start(app->loop, &app->connect_timer);
}

static void connect_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_app *app = w->data;
    double now = ev_now(loop);
    while (app->timeouts && app->timeouts->deadline <= now + 0.0005) {
        sio_client *c = app->timeouts;
        timeout_dequeue(app, c);
        if (!c->ever_connected && !c->closing) {
            /* Say which namespaces it asked for: a CONNECT still waiting
             * (for a worker's ACCEPT, or a worker to start) is a server-side
             * cause; none at all is the client's. */
            char asked[256] = "";
            size_t al = 0;
            for (sio_socket *s = c->sockets; s && al + 2 < sizeof asked; s = s->cnext)
                al += (size_t)snprintf(asked + al, sizeof asked - al, "%s%s", al ? " " : "", s->nsp->name);
            if (al >= sizeof asked) al = sizeof asked - 1;
            log_info("client %s: no namespace joined within %u ms, closing (session %s, --connect-timeout; %s%s)",
                     eio_session_handshake(c->session)->address, app->opt.connect_timeout_ms,
                     eio_session_id(c->session),
                     al ? "CONNECT still unanswered for " : "it sent no CONNECT", asked);
            GW_LIMIT(GW_LIMIT_CONNECT_TIMEOUT);
            close_client(c, EIO_CLOSE_FORCED_SERVER);
        }
    }
    arm_connect_timer(app);
}

/* ---- engine callbacks ----------------------------------------------------- */

static void on_open(eio_session *es, void *ud)
{
    gw_app *app = ud;
    sio_client *c = xcalloc(1, sizeof *c);
    c->app = app;
    c->session = es;
    eio_session_set_userdata(es, c);
    c->deadline = ev_now(app->loop) + app->opt.connect_timeout_ms / 1000.0;
    DL_APPEND2(app->timeouts, c, tprev, tnext);
    c->in_timeout_queue = 1;
    arm_connect_timer(app);
    if (eio_session_protocol(es) == 3) {
        /* Socket.IO protocol v4: the default namespace is joined without a
         * CONNECT (the reference's Client does client.connect("/")).  Only
         * where "/" is served: an error for "/" would reach every socket of
         * a 2.x client, which treats a root error as its own. */
        if (gw_nsp_get(app, "/", 1, 0)) {
            sio_packet p = {.type = SIO_CONNECT, .nsp = "/", .nsp_len = 1, .id = -1};
            handle_connect(c, &p);
        } else {
            log_debug("v3 client %s: no worker for \"/\", no implicit CONNECT",
                      eio_session_handshake(es)->address);
        }
    }
}

static void conn_notice(gw_app *app, sio_client *c, unsigned kind, const char *meta)
{
    for (sio_socket *s = c->sockets; s; s = s->cnext) {
        gw_worker *w = s->nsp->worker;
        if (w && (w->conn_events & kind) && s->state == SOCK_CONNECTED)
            notify(app, s, IPC_CONN, meta, strlen(meta), NULL, 0, NULL, 0);
    }
}

static void on_upgrade(eio_session *es, void *ud)
{
    sio_client *c = eio_session_userdata(es);
    if (c) conn_notice(ud, c, CONN_EV_UPGRADE, "{\"event\":\"upgrade\",\"transport\":\"websocket\"}");
}

static void on_packet(eio_session *es, int type, int outgoing, void *ud)
{
    static const char *names[] = {"open", "close", "ping", "pong", "message", "upgrade", "noop"};
    sio_client *c = eio_session_userdata(es);
    if (!c || type < 0 || type > 6) return;
    char meta[80];
    snprintf(meta, sizeof meta, "{\"event\":\"%s\",\"type\":\"%s\"}",
             outgoing ? "packetCreate" : "packet", names[type]);
    conn_notice(ud, c, outgoing ? CONN_EV_PACKET_CREATE : CONN_EV_PACKET, meta);
}

static void on_drain(eio_session *es, void *ud)
{
    sio_client *c = eio_session_userdata(es);
    if (c) conn_notice(ud, c, CONN_EV_DRAIN, "{\"event\":\"drain\"}");
}

static void on_close(eio_session *es, eio_close_reason reason, void *ud)
{
    gw_app *app = ud;
    sio_client *c = eio_session_userdata(es);
    if (!c) return;
    const char *why = eio_close_reason_str(reason);
    char meta[96];
    snprintf(meta, sizeof meta, "{\"event\":\"close\",\"reason\":\"%s\"}", why);
    conn_notice(app, c, CONN_EV_CLOSE, meta);
    while (c->sockets) {
        sio_socket *s = c->sockets;
        /* A lost transport, not a deliberate close: with recovery on, the
         * socket's session is kept and its worker hears nothing yet
         * (sio_recovery.c).  Sockets waiting for a restarting worker go as
         * before (their hold cannot wait for two things at once). */
        int keep = s->rec && s->state == SOCK_CONNECTED && !s->orphaned && !s->recovering &&
                   !s->n_held && !app->shutting_down &&
                   (reason == EIO_CLOSE_TRANSPORT_CLOSE || reason == EIO_CLOSE_TRANSPORT_ERROR ||
                    reason == EIO_CLOSE_PING_TIMEOUT || reason == EIO_CLOSE_FORCED ||
                    reason == EIO_CLOSE_FORCED_SERVER);
        if (keep) {
            json_t *cm = connect_meta(s, 1);
            char *mt = json_dumps(cm, JSON_COMPACT);
            json_decref(cm);
            keep = sio_rec_detach(app, s, why, mt) == 0;
            free(mt);
        }
        sio_socket_remove(app, s, keep ? NULL : why);
    }
    timeout_dequeue(app, c);
    partial_free(&c->partial);
    eio_session_set_userdata(es, NULL);
    free(c);
}

/* ---- messages from workers ------------------------------------------------ */

typedef struct {
    eio_msg **msgs;
    size_t n;
    gw_app *app;
    uint64_t off; /* 0: no offset (recovery off) */
} bcast_ctx;

static void bcast_one(sio_socket *s, void *ud)
{
    bcast_ctx *b = ud;
    if (!s->client->closing) GW_COUNT(deliveries), GW_NSP_M(s->nsp)->packets_out++, send_msgs(s->client, b->msgs, b->n);
    if (b->off) sio_rec_log(b->app, s, b->off, b->msgs, b->n);
}

static void reply_sockets(gw_app *app, gw_worker *w, gw_nsp *nsp, json_t *req)
{
    json_t *list = json_array();
    for (sio_socket *s = nsp->sockets; s; s = s->nnext) {
        json_t *rooms = json_array();
        for (gw_member *m = s->rooms; m; m = m->snext)
            json_array_append_new(rooms, json_string(m->room->name));
        json_array_append_new(list, json_pack("{s:s, s:o, s:s}", "id", s->id, "rooms", rooms,
                                              "transport",
                                              eio_session_transport_name(s->client->session)));
    }
    json_t *meta = json_pack("{s:O, s:o}", "req", req ? req : json_null(), "sockets", list);
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app, w, IPC_REPLY, nsp->name, NULL, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
}

static void join_rooms(gw_app *app, sio_socket *s, json_t *rooms, int join)
{
    size_t i;
    json_t *v;
    if (!json_is_array(rooms)) return;
    json_array_foreach(rooms, i, v)
    {
        if (!json_is_string(v)) continue;
        if (join)
            gw_room_join(app, s, json_string_value(v), json_string_length(v));
        else
            gw_room_leave(app, s, json_string_value(v), json_string_length(v));
    }
}

/* Call fn once for each connected socket of nsp named in ids (rule 25's
 * bounded list); unknown, gone and repeated ids are skipped. */
static void select_listed(gw_app *app, gw_nsp *nsp, json_t *ids,
                          void (*fn)(sio_socket *s, void *ud), void *ud)
{
    uint64_t epoch = ++app->epoch; /* a socket listed twice gets it once */
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) != IPC_ID_LEN) continue;
        sio_socket *s;
        HASH_FIND(hh, app->sockets, json_string_value(v), IPC_ID_LEN, s);
        if (!s || s->nsp != nsp || s->state != SOCK_CONNECTED || s->mark == epoch) continue;
        s->mark = epoch;
        fn(s, ud);
    }
}

/* A worker's BROADCAST: encoded once, then handed to each receiver, chosen
 * by an explicit list of socket ids or by {rooms, except} (rule 25). */
static void broadcast(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    gw_nsp *nsp = w->nsp;
    json_t *ids = json_object_get(m->meta, "sockets");
    if (json_is_array(ids) && json_array_size(ids) > GW_MAX_SOCKET_LIST) {
        char meta[160];
        snprintf(meta, sizeof meta,
                 "{\"code\":\"meta\",\"message\":\"more than %d sockets\",\"type\":\"BROADCAST\"}",
                 GW_MAX_SOCKET_LIST);
        gw_router_send(app, w, IPC_ERROR, nsp->name, NULL, meta, strlen(meta), NULL, 0, NULL, 0);
        return;
    }
    if (json_object_get(m->meta, "ack")) {
        /* Acks asked (rule 25a): one packet per receiver, each with an ack
         * id of its own, counted in sio_bcast_ack.c. */
        gw_bcast_ack *ba = gw_bcast_ack_new(app, w, m);
        if (!ba) return;
        if (json_is_array(ids))
            select_listed(app, nsp, ids, gw_bcast_ack_send, ba);
        else
            gw_rooms_select(app, nsp, json_object_get(m->meta, "rooms"),
                            json_object_get(m->meta, "except"), gw_bcast_ack_send, ba);
        gw_bcast_ack_sent(app, w, &ba);
        return;
    }
    eio_msg *stack[16];
    eio_msg **msgs = m->n_att + 1 <= 16 ? stack : xmalloc((m->n_att + 1) * sizeof *msgs);
    /* Recovery on: one offset for the whole broadcast, as the reference's
     * adapter gives it; every receiver logs the same messages. */
    uint64_t off = 0;
    size_t dl = 0;
    char *d = sio_rec_offset_data(app, nsp, m, &off, &dl);
    bcast_ctx b = {msgs, build_packet(msgs, SIO_EVENT, nsp->name, strlen(nsp->name), -1,
                                      d ? d : m->data.data, d ? dl : m->data.len, m->att,
                                      m->n_att), app, off};
    if (json_is_array(ids))
        select_listed(app, nsp, ids, bcast_one, &b);
    else
        gw_rooms_select(app, nsp, json_object_get(m->meta, "rooms"),
                        json_object_get(m->meta, "except"), bcast_one, &b);
    GW_COUNT(broadcasts);
    if (d) sio_rec_broadcast(app, nsp, m->meta, off, msgs, b.n);
    free(d);
    free_msgs(msgs, b.n);
    if (msgs != stack) free(msgs);
    sio_cluster_broadcast(app, nsp, m); /* the other nodes' sockets (--redis) */
}

void sio_broadcast_local(gw_app *app, gw_nsp *nsp, const char *data, size_t len, const ipc_buf *att,
                         size_t n_att, json_t *rooms, json_t *except)
{
    eio_msg *stack[16];
    eio_msg **msgs = n_att + 1 <= 16 ? stack : xmalloc((n_att + 1) * sizeof *msgs);
    bcast_ctx b = {msgs,
                   build_packet(msgs, SIO_EVENT, nsp->name, strlen(nsp->name), -1, data, len, att,
                                n_att),
                   app, 0};
    gw_rooms_select(app, nsp, rooms, except, bcast_one, &b);
    free_msgs(msgs, b.n);
    if (msgs != stack) free(msgs);
}

/* Another node's disconnectSockets(): as a worker's DISCONNECT (rule 27),
 * but the worker did not ask, so it hears of it. */
void sio_socket_kick(gw_app *app, sio_socket *s, int close)
{
    sio_client *c = s->client;
    gw_nsp *nsp = s->nsp;
    send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
    sio_tomb_add(c, nsp);
    sio_socket_remove(app, s, "server namespace disconnect");
    if (close) {
        while (c->sockets) {
            sio_socket *o = c->sockets;
            if (o->state == SOCK_CONNECTED)
                send_packet(c, SIO_DISCONNECT, o->nsp->name, strlen(o->nsp->name), -1, NULL, 0,
                            NULL, 0);
            sio_socket_remove(app, o, "server namespace disconnect");
        }
        close_client(c, EIO_CLOSE_FORCED_SERVER);
    } else if (!c->sockets) {
        client_idle(app, c);
    }
}

/* Answer a worker's message that is not acted on with ERROR (rule 30), and
 * log it: a worker is untrusted input, and nothing it sends vanishes. */
static void tell_worker(gw_app *app, gw_worker *w, const char *sid, const char *code,
                        const char *why, ipc_type t)
{
    log_info("namespace %s: %s from the worker%s%s not sent: %s (ERROR %s)", w->nsp->name,
             ipc_type_name(t), sid ? " for socket " : "", sid ? sid : "", why, code);
    json_t *meta = json_pack("{s:s, s:s, s:s}", "code", code, "message", why, "type",
                             ipc_type_name(t));
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app, w, IPC_ERROR, w->nsp->name, sid, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
}

void sio_handle_worker_msg(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    gw_nsp *nsp = w->nsp;
    if (!sio_worker_data_ok(app, w, m)) return; /* no client sees it (rule 30a) */
    if (m->type == IPC_QUERY) {
        json_t *op = json_object_get(m->meta, "op");
        if (json_is_string(op) && strcmp(json_string_value(op), "sockets") == 0) {
            reply_sockets(app, w, nsp, json_object_get(m->meta, "req"));
        } else {
            json_t *meta = json_pack("{s:O, s:s}", "req",
                                     json_object_get(m->meta, "req") ? json_object_get(m->meta, "req")
                                                                     : json_null(),
                                     "error", "unknown op");
            char *mt = json_dumps(meta, JSON_COMPACT);
            gw_router_send(app, w, IPC_REPLY, nsp->name, NULL, mt, strlen(mt), NULL, 0, NULL, 0);
            free(mt);
            json_decref(meta);
        }
        return;
    }
    if (m->type == IPC_BROADCAST) {
        broadcast(app, w, m);
        return;
    }
    if (m->type == IPC_SERVER_EMIT) {
        gw_server_emit(app, w, m);
        return;
    }
    if (m->type == IPC_ADMIT) {
        sio_admission_reply(app, w, m);
        return;
    }

    /* Everything else names one socket of this worker's namespace.  One that
     * is gone (or never was) is ignored: the normal race with a client that
     * just left (rule 28). */
    sio_socket *s;
    HASH_FIND(hh, app->sockets, m->sid.data, IPC_ID_LEN, s);
    if (!s) {
        /* ... or one whose client may still come back (sio_recovery.c) */
        sio_rec *r = m->sid.len == IPC_ID_LEN ? sio_rec_detached(app, m->sid.data) : NULL;
        if (r && sio_rec_worker_msg(app, w, r, m)) return;
        gw_ghost_answer(app, w, m); /* a socket dropped while it restarted */
        return;
    }
    if (s->nsp != nsp || s->client->closing) return;
    sio_client *c = s->client;

    if (s->recovering && (m->type == IPC_ACCEPT || m->type == IPC_REFUSE)) {
        s->recovering = 0;
        if (m->type == IPC_REFUSE) {
            json_t *msg = json_object_get(m->meta, "message");
            log_info("namespace %s: worker refused recovered socket %s (%s); %zu held "
                     "packet(s) of it dropped",
                     nsp->name, s->id, json_is_string(msg) ? json_string_value(msg) : "no reason",
                     s->n_held);
            send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
            sio_tomb_add(c, nsp);
            sio_socket_remove(app, s, NULL);
            if (!c->sockets) close_client(c, EIO_CLOSE_FORCED_SERVER);
            return;
        }
        /* Replay what the client sent meanwhile, in order. */
        size_t n = s->n_held;
        held_msg *h = s->held;
        s->held = s->held_tail = NULL;
        s->n_held = s->held_bytes = 0;
        s->n_replay = s->replay_bytes = 0;
        while (h) {
            held_msg *next = h->next;
            if (forward(app, s, IPC_EVENT, -1, NULL, 0, NULL, 0, h) < 0) { /* takes h */
                /* Not one packet is skipped: the rest cannot follow in
                 * order, so the socket goes with them (rule 31). */
                const char *why = loss_cause(errno, 1);
                size_t left = 1;
                while (next) {
                    held_msg *k = next->next;
                    held_free(next);
                    next = k;
                    left++;
                }
                drop_socket(app, s, why, left);
                return;
            }
            h = next;
        }
        GW_NSP_M(nsp)->replayed += n;
        log_info("namespace %s: socket %s recovered, %zu held packet(s) delivered", nsp->name,
                 s->id, n);
        return;
    }
    switch (m->type) {
    case IPC_ACCEPT:
        if (s->state != SOCK_PENDING) return;
        s->state = SOCK_CONNECTED;
        DL_APPEND2(nsp->sockets, s, nprev, nnext);
        nsp->n_sockets++;
        gw_room_join(app, s, s->id, IPC_ID_LEN);
        c->ever_connected = 1;
        gw_log_socket("connect", nsp->name, s->id, eio_session_handshake(c->session)->address, "accepted by the worker");
        timeout_dequeue(app, c);
        {
            /* A recovered session: rooms back and the missed packets
             * first, then the reply, as the reference sends them. */
            size_t missed = 0;
            int restored = s->restore != NULL;
            int broken = restored && sio_rec_accepted(app, s, send_msgs, &missed) < 0;
            /* protocol v4 (Engine.IO v3 clients) knows no recovery: a bare
             * CONNECT reply, no sid, no offsets */
            int v3 = eio_session_protocol(c->session) == 3;
            if (!broken && !v3) sio_rec_attach_new(app, s);
            char body[96];
            size_t bl = v3 ? 0 : sio_rec_connect_body(s, body, sizeof body);
            send_packet(c, SIO_CONNECT, nsp->name, strlen(nsp->name), -1, bl ? body : NULL, bl, NULL,
                        0);
            if (broken) {
                /* What it missed overflowed the bounds while its worker
                 * took it back: it cannot be given whole (README). */
                drop_socket(app, s, "more missed packets than the recovery bounds", 0);
                return;
            }
            if (restored)
                log_info("namespace %s: socket %s recovered by its client, %zu missed packet(s) "
                         "delivered", nsp->name, s->id, missed);
        }
        return;
    case IPC_REFUSE: {
        if (s->state != SOCK_PENDING) return;
        json_t *msg = json_object_get(m->meta, "message");
        send_refusal(c, nsp->name, json_is_string(msg) ? json_string_value(msg) : "refused",
                     json_object_get(m->meta, "data"));
        sio_socket_remove(app, s, NULL);
        return;
    }
    default:
        break;
    }
    if (s->state != SOCK_CONNECTED && s->restore && sio_rec_worker_msg(app, w, s->restore, m))
        return; /* a socket its client is taking back: emits are logged */
    if (s->state != SOCK_CONNECTED) {
        /* PENDING: the worker has not answered CONNECT yet.  JOIN/LEAVE are
         * ignored (rule 26); anything else cannot reach the client, and the
         * worker is told so instead of the message vanishing (rule 28a). */
        if (m->type != IPC_JOIN && m->type != IPC_LEAVE)
            tell_worker(app, w, s->id, "state", "socket not accepted yet", m->type);
        return;
    }

    switch (m->type) {
    case IPC_EMIT: {
        GW_NSP_COUNT2(nsp, packets_out, bytes_out, m->data.len);
        json_t *ack = json_object_get(m->meta, "ack");
        if (json_is_integer(ack) && json_integer_value(ack) >= GW_BCAST_ACK_BASE) {
            tell_worker(app, w, s->id, "meta", "ack ids from 2^40 are the gateway's (rule 25a)",
                        m->type);
            return;
        }
        if (s->rec) {
            /* Recovery on: an emit that can be replayed carries its offset
             * and is logged, as the reference sends socket.emit through
             * its adapter's broadcast. */
            uint64_t off;
            size_t dl;
            char *d = sio_rec_offset_data(app, nsp, m, &off, &dl);
            if (d) {
                eio_msg *st[16];
                eio_msg **msgs = m->n_att + 1 <= 16 ? st : xmalloc((m->n_att + 1) * sizeof *msgs);
                size_t n = build_packet(msgs, SIO_EVENT, nsp->name, strlen(nsp->name), -1, d, dl,
                                        m->att, m->n_att);
                send_msgs(c, msgs, n);
                sio_rec_log(app, s, off, msgs, n);
                free_msgs(msgs, n);
                if (msgs != st) free(msgs);
                free(d);
                return;
            }
        }
        send_packet(c, SIO_EVENT, nsp->name, strlen(nsp->name),
                    json_is_integer(ack) ? (int64_t)json_integer_value(ack) : -1, m->data.data,
                    m->data.len, m->att, m->n_att);
        return;
    }
    case IPC_ACK: {
        json_t *id = json_object_get(m->meta, "id");
        if (!json_is_integer(id)) return;
        GW_NSP_COUNT2(nsp, packets_out, bytes_out, m->data.len);
        send_packet(c, SIO_ACK, nsp->name, strlen(nsp->name), (int64_t)json_integer_value(id),
                    m->data.len ? m->data.data : "[]", m->data.len ? m->data.len : 2, m->att,
                    m->n_att);
        return;
    }
    case IPC_JOIN:
    case IPC_LEAVE:
        join_rooms(app, s, json_object_get(m->meta, "rooms"), m->type == IPC_JOIN);
        return;
    case IPC_DISCONNECT: {
        int close = json_is_true(json_object_get(m->meta, "close"));
        send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
        sio_tomb_add(c, nsp);
        sio_socket_remove(app, s, NULL);
        if (close) {
            /* Rule 27: the whole connection goes; the other namespaces are
             * told as the reference tells them. */
            while (c->sockets) {
                sio_socket *o = c->sockets;
                if (o->state == SOCK_CONNECTED)
                    send_packet(c, SIO_DISCONNECT, o->nsp->name, strlen(o->nsp->name), -1, NULL,
                                0, NULL, 0);
                sio_socket_remove(app, o, "server namespace disconnect");
            }
        }
        if (close) {
            close_client(c, EIO_CLOSE_FORCED_SERVER);
        } else if (!c->sockets) {
            client_idle(app, c);
        }
        return;
    }
    default:
        return;
    }
}

void sio_worker_gone(gw_app *app, gw_nsp *nsp, const char *why)
{
    size_t n = 0, held = 0, lost = 0;
    int expected = gw_router_worker_expected(app, nsp);
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp)
    {
        if (s->nsp != nsp) continue;
        sio_client *c = s->client;
        if (s->quarantined && s->state == SOCK_CONNECTED && expected && !c->closing) {
            /* Its poison packet is not replayed (rule 37); the next worker
             * is told the socket is gone once it has it back. */
            s->orphaned = 1;
            s->recovering = 0;
            drop_socket(app, s, "poison packet quarantined", 0);
            n++;
            continue;
        }
        if (s->state == SOCK_CONNECTED && expected) {
            s->orphaned = 1;
            s->recovering = 0;
            held++;
            continue;
        }
        if (s->state == SOCK_PENDING && expected) {
            /* Its CONNECT went to the dead worker (or none did yet): send it
             * again to the next one. */
            s->unsent = 1;
            held++;
            continue;
        }
        if (s->state == SOCK_CONNECTED && !c->closing) {
            send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
            sio_tomb_add(c, nsp);
        } else if (!c->closing)
            send_connect_error(c, nsp->name, "Namespace unavailable", NULL);
        lost += s->n_held + s->n_lost;
        sio_socket_remove(app, s, NULL);
        n++;
    }
    gw_ghosts_worker_gone(app, nsp, expected);
    log_warn("namespace %s: worker gone (%s); %zu socket(s) disconnected, %zu kept for the next worker", nsp->name,
             why, n, held);
    if (lost)
        log_warn("namespace %s: %zu packet(s) of the disconnected sockets dropped: no worker "
                 "will handle them", nsp->name, lost);
}

/* ---- the app -------------------------------------------------------------- */

void gw_app_options_defaults(gw_app_options *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 45000;
    o->max_attachments = SIO_MAX_ATTACHMENTS_DEFAULT;
    o->max_depth = SIO_MAX_DEPTH_DEFAULT;
    o->heartbeat_ms = 5000;
    o->startup_wait_ms = 5000;
    o->sndhwm = 100000;
    o->credit = 10000;
    o->max_dynamic = 100;
    o->dynamic_idle_ms = 60000;
    o->hold_max_msgs = 1000;
    o->hold_max_bytes = 1 << 20;
    o->restart_min_ms = 100;
    o->restart_max_ms = 10000;
    o->crash_limit = 10;
    o->crash_window_ms = 60000;
    o->redis_queue = 1000;
}

gw_app *gw_app_new(struct ev_loop *loop, const eio_config *ecfg, const gw_app_options *opt)
{
    static const eio_handler handler = {
        .on_open = on_open,
        .on_message = on_message,
        .on_upgrade = on_upgrade,
        .on_packet = on_packet,
        .on_drain = on_drain,
        .on_close = on_close,
        .on_admission = sio_admission_ask,
    };
    gw_app *app = xcalloc(1, sizeof *app);
    app->loop = loop;
    app->ecfg = *ecfg;
    app->opt = *opt;
    app->limits.max_attachments = opt->max_attachments;
    app->limits.max_depth = opt->max_depth;
    ev_init(&app->connect_timer, connect_timer_cb);
    app->connect_timer.data = app;
    /* Namespaces named by --worker exist before their worker's HELLO, so a
     * CONNECT that comes first waits for it (gw_router_worker_expected). */
    for (size_t i = 0; i < opt->n_workers; i++)
        if (opt->workers[i].nsp[0] != '^') /* patterns create theirs on demand */
            gw_nsp_get(app, opt->workers[i].nsp, strlen(opt->workers[i].nsp), 1);
    app->eio = eio_server_new(loop, ecfg, &handler, app);
    /* Bind first: a busy port or an unresolvable host ends the start-up
     * before any worker is spawned (clients wait in the backlog until the
     * workers said HELLO and sio_app_start_listening() accepts). */
    if (!app->eio || eio_server_bind(app->eio) < 0 || gw_router_start(app) < 0 ||
        sio_cluster_start(app) < 0) {
        gw_app_destroy(&app);
        return NULL;
    }
    return app;
}

void sio_app_start_listening(gw_app *app)
{
    if (app->listening) return;
    app->listening = 1;
    if (eio_server_listen(app->eio) < 0) {
        log_error("cannot listen; stopping");
        app->failed = 1; /* main stops the workers and exits 1 */
        ev_break(app->loop, EVBREAK_ALL);
    }
}

int gw_app_failed(const gw_app *app) { return app->failed; }

void gw_app_shutdown(gw_app *app)
{
    if (app->shutting_down) return;
    app->shutting_down = 1;
    /* Workers hear "server shutting down" for every socket first (rule 15),
     * then the clients' connections close. */
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp) sio_socket_remove(app, s, "server shutting down");
    sio_rec_shutdown(app);
    gw_ghosts_free_all(app);
    sio_cluster_stop(app);
    gw_bcast_acks_free_all(app);
    eio_server_shutdown(app->eio);
    ev_timer_stop(app->loop, &app->connect_timer);
    gw_router_stop(app);
}

void gw_app_destroy(gw_app **pa)
{
    gw_app *app = *pa;
    if (!app) return;
    if (app->eio) eio_server_destroy(&app->eio);
    sio_cluster_stop(app);
    sio_rec_destroy(app);
    gw_ghosts_free_all(app);
    gw_bcast_acks_free_all(app);
    gw_nsp *n, *tn;
    HASH_ITER(hh, app->nsps, n, tn)
    {
        gw_room *r, *tr;
        HASH_ITER(hh, n->rooms, r, tr)
        {
            HASH_DEL(n->rooms, r);
            free(r->name);
            free(r);
        }
        HASH_DEL(app->nsps, n);
        free(n->name);
        free(n);
    }
    free(app);
    *pa = NULL;
}

const char *gw_app_endpoint(const gw_app *app) { return app->endpoint; }
