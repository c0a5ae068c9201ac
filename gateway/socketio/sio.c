/* sio.c — Socket.IO protocol v5 in the gateway, the client-facing side.
 *
 * Sits on eio.h sessions: decodes each client's Socket.IO packets
 * (sio_codec.h), reassembles binary packets with their attachments, keeps
 * one sio_socket per (client, namespace), handles CONNECT and turns the
 * other packets into IPC messages for the namespace's worker (through
 * sio_hold.c).  Worker messages back into packets are sio_worker.c's
 * (PROTOCOL.md §3).  The gateway decodes; the worker decides.
 *
 * Lifecycle of a socket: the table above sio_socket_state (app.h).
 *
 * Every removal goes through sio_socket_remove(), which says once and only
 * once to the worker why the socket went (unless the worker asked for it).
 */
#include "app.h"
#include "supervisor.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <utlist.h>

/* ---- namespaces ------------------------------------------------------- */

gw_nsp *sio_nsp_get(gw_app *app, const char *name, size_t len, int create)
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
    for (size_t i = 0; i < n_att; i++)
        out[1 + i] = eio_msg_copy(1, att[i].data, att[i].len);
    return 1 + n_att;
}

size_t sio_build_packet(eio_msg **out, sio_type type, const char *nsp, size_t nsp_len, int64_t id,
                        const char *json, size_t json_len, const ipc_buf *att, size_t n_att)
{
    return build_packet(out, type, nsp, nsp_len, id, json, json_len, att, n_att);
}

void sio_send_msgs(sio_client *c, eio_msg **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        eio_session_send(c->session, msgs[i]);
}

void sio_free_msgs(eio_msg **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        eio_msg_unref(&msgs[i]);
}

void sio_send_packet(sio_client *c, sio_type type, const char *nsp, size_t nsp_len, int64_t id,
                     const char *json, size_t json_len, const ipc_buf *att, size_t n_att)
{
    eio_msg *stack[16];
    eio_msg **msgs = n_att + 1 <= 16 ? stack : xmalloc((n_att + 1) * sizeof *msgs);
    size_t n = build_packet(msgs, type, nsp, nsp_len, id, json, json_len, att, n_att);
    sio_send_msgs(c, msgs, n);
    sio_free_msgs(msgs, n);
    if (msgs != stack) free(msgs);
}

void sio_socket_send_event(sio_socket *s, int64_t id, const char *data, size_t len,
                           const ipc_buf *att, size_t n_att)
{
    sio_send_packet(s->client, SIO_EVENT, s->nsp->name, strlen(s->nsp->name), id, data, len, att,
                    n_att);
}

static void send_json_packet(sio_client *c, sio_type type, const char *nsp, json_t *j)
{
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    sio_send_packet(c, type, nsp, strlen(nsp), -1, txt, txt ? strlen(txt) : 0, NULL, 0);
    free(txt);
}

/* A CONNECT refused by the worker's middleware.  Socket.IO protocol v4
 * (Engine.IO v3 clients) carries `data`, or else the message, bare: what
 * the reference sends them (err.data || err.message). */
void sio_send_refusal(sio_client *c, const char *nsp, const char *message, json_t *data)
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
    sio_send_connect_error(c, nsp, message, data);
}

void sio_send_connect_error(sio_client *c, const char *nsp, const char *message, json_t *data)
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
    if (!s->nsp->worker || s->state == SOCK_UNSENT || s->state == SOCK_ORPHANED) return -1;
    return gw_router_send(app->router, s->nsp->worker, type, s->nsp->name, s->id, meta, meta_len,
                          data, data_len, att, n_att);
}

void sio_timeout_dequeue(gw_app *app, sio_client *c)
{
    if (!c->in_timeout_queue) return;
    DL_DELETE2(app->timeouts, c, tprev, tnext);
    c->in_timeout_queue = 0;
}

static json_t *connect_meta(sio_socket *s, int recovered);

/* sio_socket_remove(), and `cause` (when given) goes into the DISCONNECT's
 * meta beside the reason: why the gateway disconnected it (rule 19). */
static void socket_remove(gw_app *app, sio_socket *s, const char *notify_reason, const char *cause)
{
    gw_log_socket("disconnect", s->nsp->name, s->id,
                  eio_session_handshake(s->client->session)->address,
                  cause             ? cause
                  : notify_reason   ? notify_reason
                  : sio_accepted(s) ? "server side (see the line before)"
                                    : "not accepted");
    sio_held_free_all(s);
    sio_rec_free(app, &s->rec);
    sio_rec_unclaim(app, s);
    if (notify_reason && (s->state == SOCK_ORPHANED || s->state == SOCK_RECOVERING) &&
        !app->shutting_down) {
        /* The worker that knew it died and the next one has not (yet)
         * accepted it back: that one gets it back, then hears why it went
         * (a ghost, rule 37), so that no application state is left behind. */
        json_t *meta = connect_meta(s, 1);
        char *mt = json_dumps(meta, JSON_COMPACT);
        gw_ghost_add(app, s->nsp, s->id, mt, notify_reason, cause, s->state == SOCK_RECOVERING);
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
    if (sio_accepted(s)) {
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

static json_t *handshake_json(sio_client *c, json_t *auth)
{
    return sio_handshake_json(eio_session_handshake(c->session), auth);
}

/* ---- packets from a client ----------------------------------------------- */

void sio_close_client(sio_client *c, eio_close_reason why)
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
    s->told_polling = eio_session_transport(c->session) == EIO_TRANSPORT_POLLING;
    json_t *meta =
        json_pack("{s:o, s:s, s:b}", "handshake", handshake_json(c, s->auth), "transport",
                  eio_session_transport_name(c->session), "recovered", recovered);
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
void sio_client_idle(gw_app *app, sio_client *c)
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
void sio_drop_socket(gw_app *app, sio_socket *s, const char *cause, size_t lost)
{
    sio_client *c = s->client;
    lost += s->n_held + s->n_lost;
    log_warn("namespace %s: socket %s disconnected (%s); %zu packet(s) of it dropped", s->nsp->name,
             s->id, cause, lost);
    if (!c->closing) {
        sio_send_packet(c, SIO_DISCONNECT, s->nsp->name, strlen(s->nsp->name), -1, NULL, 0, NULL,
                        0);
        sio_tomb_add(c, s->nsp);
    }
    socket_remove(app, s, "server namespace disconnect", cause);
    if (!c->closing && !c->sockets) sio_client_idle(app, c);
}

/* Send a pending socket's CONNECT to its namespace's worker. */
void sio_send_connect(gw_app *app, sio_socket *s)
{
    sio_client *c = s->client;
    int recovered = s->state == SOCK_ORPHANED;
    json_t *meta = connect_meta(s, recovered);
    if (!recovered) sio_rec_connect_meta(app, s, meta);
    s->state = recovered ? SOCK_RECOVERING : SOCK_PENDING;
    char *mt = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    if (notify(app, s, IPC_CONNECT, mt, strlen(mt), NULL, 0, NULL, 0) < 0) {
        if (errno == EHOSTUNREACH) {
            /* The worker vanished right after its HELLO (its drop is
             * scheduled): the socket waits for the next one, as before —
             * a kept socket must not lose its hold to this race. */
            s->state = recovered ? SOCK_ORPHANED : SOCK_UNSENT;
            free(mt);
            return;
        }
        if (recovered) {
            /* A connected socket: it goes as rule 37 says, not with a
             * CONNECT_ERROR for a namespace its client is in. */
            const char *why = strerror(errno);
            s->state = SOCK_ORPHANED;
            sio_drop_socket(app, s, why, 0);
            free(mt);
            return;
        }
        log_warn("namespace %s: worker did not take CONNECT (%s)", s->nsp->name, strerror(errno));
        sio_send_connect_error(c, s->nsp->name, "Namespace unavailable", NULL);
        sio_socket_remove(app, s, NULL);
    }
    free(mt);
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
            v3auth = sio_parse_query(qs);
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
    if (dup && !sio_accepted(dup)) {
        /* socket.io-client sends CONNECT again when connect() is called
         * while the first is still in middleware: one answer will do. */
        log_debug("CONNECT for %s repeated while pending; ignored", nspname);
        free(nspname);
        return;
    }
    if (!dup) sio_tomb_clear(c, p->nsp, p->nsp_len);
    if (dup) {
        /* A CONNECT for a namespace already connected is a violation. */
        log_info("client %s: duplicate CONNECT for %s, closing",
                 eio_session_handshake(c->session)->address, nspname);
        free(nspname);
        sio_close_client(c, EIO_CLOSE_FORCED_SERVER);
        return;
    }
    gw_nsp *nsp = sio_nsp_get(app, p->nsp, p->nsp_len, 0);
    if (nsp && nsp->draining) nsp = NULL; /* removed by a reload */
    int wait = nsp && !nsp->worker && gw_sup_worker_expected(app->router, nsp->name);
    if ((!nsp || !nsp->worker) && !wait && !app->shutting_down &&
        gw_sup_spawn_dynamic(app->router, p->nsp, p->nsp_len)) {
        nsp = sio_nsp_get(app, p->nsp, p->nsp_len, 1);
        wait = 1;
    }
    if (!nsp || (!nsp->worker && !wait) || app->shutting_down) {
        /* A configured namespace whose worker was given up (crash loop)
         * exists but cannot serve: say so, as the README promises. */
        int down =
            nsp && !nsp->worker && !app->shutting_down && gw_sup_given_up(app->router, nsp->name);
        log_debug("CONNECT to %s namespace %s", down ? "unavailable" : "unknown", nspname);
        sio_send_connect_error(c, nspname, down ? "Namespace unavailable" : "Invalid namespace",
                               NULL);
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
        s->state = SOCK_UNSENT;
        log_debug("CONNECT to %s waits for its worker", nspname);
    } else {
        sio_send_connect(app, s);
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
                  "ignored",
                  eio_session_handshake(c->session)->address, p->type, (int)p->nsp_len, p->nsp);
        return;
    }
    if (!s || !sio_accepted(s)) {
        /* EVENT/ACK/DISCONNECT before the namespace is connected: the
         * reference closes the whole connection, and so do we. */
        log_info("client %s: packet type %d for a namespace it is not connected to, closing",
                 eio_session_handshake(c->session)->address, p->type);
        sio_close_client(c, EIO_CLOSE_FORCED_SERVER);
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
        sio_close_client(c, EIO_CLOSE_PARSE_ERROR);
        return;
    }
    ipc_type t = (p->type == SIO_ACK || p->type == SIO_BINARY_ACK) ? IPC_ACK : IPC_EVENT;
    GW_NSP_COUNT2(s->nsp, packets_in, bytes_in, p->data_len);
    /* An answer to a broadcast that asked for acks goes its own way (rule 25a). */
    if (t == IPC_ACK && gw_bcast_ack_answer(app, s, p->id, p->data, p->data_len, att, n_att))
        return;
    if (s->state == SOCK_ORPHANED || s->state == SOCK_RECOVERING) {
        /* Its worker is restarting: keep the packet, in order, for the next
         * one.  Past the bound the socket goes (PROTOCOL.md rule 35). */
        if (sio_hold_take(app, s, sio_held_new(t, p->id, p->data, p->data_len, att, n_att), 0) < 0)
            sio_drop_socket(app, s, "hold full while its worker restarts", 1);
        return;
    }
    if (sio_forward(app, s, t, p->id, p->data, p->data_len, att, n_att, NULL) < 0) {
        /* PROTOCOL.md rule 31: the worker is not keeping up (or cannot be
         * sent to): this socket goes, not the packet alone. */
        if (errno == EAGAIN) GW_LIMIT(GW_LIMIT_CREDIT);
        sio_drop_socket(app, s, sio_loss_cause(errno, 0), 1);
    }
}

static void partial_free(sio_partial **pp)
{
    sio_partial *p = *pp;
    if (!p) return;
    sio_packet_clear(&p->pkt);
    for (size_t i = 0; i < p->n_att; i++)
        free((void *)p->att[i].data);
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
            sio_close_client(c, EIO_CLOSE_PARSE_ERROR);
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
        sio_close_client(c, EIO_CLOSE_PARSE_ERROR);
        return;
    }
    sio_packet pkt;
    const char *why = "invalid packet";
    if (sio_decode(data, len, &app->limits, &pkt, &why) < 0) {
        log_info("client %s: parse error (%s), closing", addr, why);
        gw_metrics_parse_error(why);
        sio_close_client(c, EIO_CLOSE_PARSE_ERROR);
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
            sio_close_client(c, EIO_CLOSE_PARSE_ERROR);
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

void sio_connect_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_app *app = w->data;
    double now = ev_now(loop);
    while (app->timeouts && app->timeouts->deadline <= now + 0.0005) {
        sio_client *c = app->timeouts;
        sio_timeout_dequeue(app, c);
        if (!c->ever_connected && !c->closing) {
            /* Say which namespaces it asked for: a CONNECT still waiting
             * (for a worker's ACCEPT, or a worker to start) is a server-side
             * cause; none at all is the client's. */
            char asked[256] = "";
            size_t al = 0;
            for (sio_socket *s = c->sockets; s && al + 2 < sizeof asked; s = s->cnext)
                al += (size_t)snprintf(asked + al, sizeof asked - al, "%s%s", al ? " " : "",
                                       s->nsp->name);
            if (al >= sizeof asked) al = sizeof asked - 1;
            log_info("client %s: no namespace joined within %u ms, closing (session %s, "
                     "--connect-timeout; %s%s)",
                     eio_session_handshake(c->session)->address, app->opt.connect_timeout_ms,
                     eio_session_id(c->session),
                     al ? "CONNECT still unanswered for " : "it sent no CONNECT", asked);
            GW_LIMIT(GW_LIMIT_CONNECT_TIMEOUT);
            sio_close_client(c, EIO_CLOSE_FORCED_SERVER);
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
        if (sio_nsp_get(app, "/", 1, 0)) {
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
        if (w && (w->conn_events & kind) && sio_accepted(s))
            notify(app, s, IPC_CONN, meta, strlen(meta), NULL, 0, NULL, 0);
    }
}

#define CONN_UPGRADE_META "{\"event\":\"upgrade\",\"transport\":\"websocket\"}"

/* An upgrade while a socket waited for its ACCEPT reached no worker
 * (conn_notice skips sockets not accepted): the worker hears it now. */
void sio_conn_catch_up(gw_app *app, sio_socket *s)
{
    gw_worker *w = s->nsp->worker;
    if (!s->told_polling || !w || !(w->conn_events & CONN_EV_UPGRADE)) return;
    if (eio_session_transport(s->client->session) != EIO_TRANSPORT_WEBSOCKET) return;
    s->told_polling = 0;
    notify(app, s, IPC_CONN, CONN_UPGRADE_META, strlen(CONN_UPGRADE_META), NULL, 0, NULL, 0);
}

static void on_upgrade(eio_session *es, void *ud)
{
    sio_client *c = eio_session_userdata(es);
    if (!c) return;
    for (sio_socket *s = c->sockets; s; s = s->cnext)
        if (sio_accepted(s)) s->told_polling = 0; /* told now; pending ones at ACCEPT */
    conn_notice(ud, c, CONN_EV_UPGRADE, CONN_UPGRADE_META);
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
        int keep = s->rec && s->state == SOCK_CONNECTED && !s->n_held && !app->shutting_down &&
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
    sio_timeout_dequeue(app, c);
    partial_free(&c->partial);
    eio_session_set_userdata(es, NULL);
    free(c);
}

/* The engine's callbacks: one sio_client per Engine.IO session. */
const eio_handler sio_client_handler = {
    .on_open = on_open,
    .on_message = on_message,
    .on_upgrade = on_upgrade,
    .on_packet = on_packet,
    .on_drain = on_drain,
    .on_close = on_close,
    .on_admission = sio_admission_ask,
};
