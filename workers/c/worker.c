/* worker.c — the worker object: the ZeroMQ DEALER to the gateway, HELLO /
 * WELCOME / PING / PONG / BYE, the loop (fd, timeouts, process, run), and
 * dispatch of gateway messages to socket.c and admission.c (top of the
 * library: nothing below calls into this file; worker_int.h).
 *
 * Input trust: messages come from the gateway, a separate process; every
 * message goes through ipc_decode() and anything malformed is logged and
 * dropped (PROTOCOL.md rule 8). */
#include "worker_int.h"

#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_HEARTBEAT_MS 5000
#define HELLO_RETRY_MS 20  /* a HELLO that could not be queued (pipe full) */
#define HELLO_MAX_MS 60000 /* longest pause between unanswered HELLOs */
#define HWM 100000
#define STOP_GRACE_MS 250    /* iog_worker_run after a stop: wait for BYE */
#define PROCESSED_EVERY 1000 /* PROTOCOL.md rule 36: report at least this often */
#define DRAIN_MAX 10000      /* messages read per gateway per turn */

static void reap(iog_worker *w)
{
    while (w->graveyard) {
        iog_socket *s = w->graveyard;
        w->graveyard = s->next;
        iog_socket_free(s);
    }
}

size_t iog_worker_socket_count(const iog_worker *w)
{
    return w->n_connected;
}

/* ---- life of the worker ---- */

static void new_incarnation(iog_gw *g)
{
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        iog_log(IOG_LOG_ERROR, "RAND_bytes failed");
        abort();
    }
    for (int i = 0; i < 16; i++)
        snprintf(g->incarnation + 2 * i, 3, "%02x", rnd[i]);
}

/* Add the gateways of a comma-separated endpoint list.  Spaces around the
 * commas are allowed; empty items are ignored. */
static int add_gateways(iog_worker *w, const char *list)
{
    size_t added = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > p) {
            char *ep = iog_xmalloc((size_t)(t - p) + 1);
            memcpy(ep, p, (size_t)(t - p));
            ep[t - p] = '\0';
            for (size_t i = 0; i < w->n_gws; i++)
                if (strcmp(w->gws[i]->endpoint, ep) == 0) {
                    iog_log(IOG_LOG_ERROR, "gateway endpoint %s given twice", ep);
                    free(ep);
                    return iog_fail(EEXIST, "gateway endpoint given twice");
                }
            iog_gw *g = iog_xcalloc(1, sizeof *g);
            g->w = w;
            g->endpoint = ep;
            g->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
            new_incarnation(g);
            w->gws = iog_xrealloc(w->gws, (w->n_gws + 1) * sizeof *w->gws);
            w->gws[w->n_gws++] = g;
            added++;
        }
        p = e;
    }
    if (!added) return iog_fail(EINVAL, "no gateway endpoint");
    return 0;
}

static void gw_free(iog_gw *g)
{
    free(g->gateway);
    free(g->endpoint);
    free(g);
}

static void worker_free(iog_worker *w)
{
    for (size_t i = 0; i < w->n_gws; i++)
        gw_free(w->gws[i]);
    free(w->gws);
    free(w->buckets);
    free(w->nsp);
    free(w);
}

iog_worker *iog_worker_new(const char *endpoint, const char *nsp)
{
    const char *lv = getenv("IOGATE_WORKER_LOG");
    if (lv) {
        static const char *names[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (strcmp(lv, names[i]) == 0) iog_log_level = i;
    }
    if (iog_bind_to_gateway() < 0) return NULL;
    if (!endpoint) endpoint = getenv("IOGATE_ENDPOINT");
    if (!nsp) nsp = getenv("IOGATE_NAMESPACE");
    if (!nsp || !*nsp) nsp = "/";
    if (!endpoint || !*endpoint) {
        iog_log(IOG_LOG_ERROR,
                "no gateway endpoint: IOGATE_ENDPOINT is not set (run the worker under the "
                "gateway, iogate --worker NSP=COMMAND, or set it yourself)");
        iog_fail(EINVAL, "no gateway endpoint");
        return NULL;
    }
    if (nsp[0] != '/') {
        iog_log(IOG_LOG_ERROR, "namespace \"%s\" does not start with /", nsp);
        iog_fail(EINVAL, "namespace must start with /");
        return NULL;
    }
    iog_worker *w = iog_xcalloc(1, sizeof *w);
    w->nsp = iog_xstrdup(nsp);
    w->epfd = -1;
    w->conn_mask = IOG_CONN_UPGRADE;
    w->n_buckets = 64;
    w->buckets = iog_xcalloc(w->n_buckets, sizeof *w->buckets);
    if (add_gateways(w, endpoint) != 0) {
        int err = errno;
        const char *why = iog_strerror();
        if (err == EINVAL) iog_log(IOG_LOG_ERROR, "no gateway endpoint in \"%s\"", endpoint);
        worker_free(w);
        iog_fail(err, why);
        return NULL;
    }
    return w;
}

int iog_worker_add_gateway(iog_worker *w, const char *endpoint)
{
    if (w->started) return iog_fail(EBUSY, "worker already started");
    if (!endpoint) return iog_fail(EINVAL, "no gateway endpoint");
    return add_gateways(w, endpoint);
}

int iog_worker_subscribe_conn(iog_worker *w, int mask)
{
    if (w->started) return iog_fail(EBUSY, "worker already started");
    w->conn_mask |= mask & IOG_CONN_ALL;
    return 0;
}

static const char *const conn_names[] = {"upgrade", "packet", "packetCreate", "drain", "close"};

static void send_hello(iog_gw *g)
{
    iog_worker *w = g->w;
    json_t *ev = iog_jcheck(json_array());
    for (int i = 0; i < 5; i++)
        if (w->conn_mask & (1 << i)) json_array_append_new(ev, json_string(conn_names[i]));
    json_t *meta =
        iog_jcheck(json_pack("{s:i,s:s,s:i,s:o}", "version", IPC_PROTOCOL_VERSION, "incarnation",
                             g->incarnation, "pid", (int)getpid(), "conn_events", ev));
    /* Rule 10a: the key that lets us serve the namespace (a spawning
     * gateway sets it; elsewhere the operator does). */
    const char *key = getenv("IOGATE_WORKER_KEY");
    if (key && *key) json_object_set_new(meta, "key", iog_jcheck(json_string(key)));
    /* DONTWAIT: never block on HELLO; while the gateway is not there it
     * waits in the pipe, and is repeated every heartbeat until WELCOME. */
    int rc =
        ipc_send_json(g->zsock, NULL, IPC_HELLO, w->nsp, "", meta, NULL, 0, NULL, 0, ZMQ_DONTWAIT);
    json_decref(meta);
    int64_t now = iog_now_ms();
    if (rc == 0) {
        iog_log(IOG_LOG_DEBUG, "HELLO %s sent to %s", w->nsp, g->endpoint);
        g->last_rx = now; /* the silence clock starts now */
        g->last_ping = now;
        /* No WELCOME within a heartbeat: again (a HELLO repeated on the
         * same connection with the same incarnation is harmless).  While the
         * gateway is away they all wait in the pipe and reach it together
         * when it is back (the first one at once), so the pauses double up
         * to a minute: a long absence does not pile up thousands. */
        if (g->hello_ivl <= 0) g->hello_ivl = g->heartbeat_ms;
        g->hello_at = now + g->hello_ivl;
        g->hello_ivl = g->hello_ivl * 2 > HELLO_MAX_MS ? HELLO_MAX_MS : g->hello_ivl * 2;
    } else {
        g->hello_at = now + HELLO_RETRY_MS;
    }
}

static int gw_start(iog_gw *g)
{
    iog_worker *w = g->w;
    g->zsock = zmq_socket(w->zctx, ZMQ_DEALER);
    if (!g->zsock) return iog_fail(errno, "zmq_socket failed");
    int zero = 0, hwm = HWM, sndtimeo = DEFAULT_HEARTBEAT_MS;
    /* No ZMQ_IMMEDIATE: with it, libzmq terminates the connection's pipe
     * without delay when the connection drops, and what the gateway sent
     * just before closing — its DISCONNECTs and BYE at shutdown — is lost
     * unless we had already read it (a gateway that spawned us waits for
     * our exit first, one we merely connect to does not).  Without it,
     * messages we send while the gateway is away wait in the pipe (bounded
     * by the high-water mark) and reach it when it is back: a HELLO, or
     * stale messages it answers with ERROR "hello" (rule 30). */
    zmq_setsockopt(g->zsock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(g->zsock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(g->zsock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(g->zsock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    /* PROTOCOL.md rule 1a: CURVE when the gateway's public key is given
     * (one key for every endpoint: gateways sharing workers share it) */
    const char *curve = getenv("IOGATE_CURVE_SERVERKEY");
    if (curve && *curve && ipc_curve_client(g->zsock, curve) != 0) {
        int err = errno;
        iog_log(IOG_LOG_ERROR, "IOGATE_CURVE_SERVERKEY: %s",
                err == EINVAL ? "not a Z85 public key (40 characters)" : zmq_strerror(err));
        zmq_close(g->zsock);
        g->zsock = NULL;
        return iog_fail(err, "CURVE setup failed");
    }
    if (zmq_connect(g->zsock, g->endpoint) != 0) {
        int err = errno;
        iog_log(IOG_LOG_ERROR, "connect %s: %s", g->endpoint, zmq_strerror(err));
        zmq_close(g->zsock); /* a later iog_worker_start tries again */
        g->zsock = NULL;
        return iog_fail(err, "zmq_connect failed");
    }
    iog_log(IOG_LOG_INFO, "worker for %s connecting to %s (incarnation %s)", w->nsp, g->endpoint,
            g->incarnation);
    return 0;
}

int iog_worker_start(iog_worker *w)
{
    if (w->started) return 0;
    if (!w->zctx) w->zctx = zmq_ctx_new();
    if (!w->zctx) return iog_fail(errno, "zmq_ctx_new failed");
    for (size_t i = 0; i < w->n_gws; i++)
        if (!w->gws[i]->zsock && gw_start(w->gws[i]) != 0) return -1;
    w->started = 1;
    for (size_t i = 0; i < w->n_gws; i++)
        send_hello(w->gws[i]);
    return 0;
}

/* Gateway g is gone (silence, BYE, a new gateway incarnation, or an ERROR
 * "hello"): every socket it had — and only those: the other gateways'
 * sockets carry on — is disconnected with "transport close", their pending
 * acks fail, and we say HELLO again (PROTOCOL.md rules 14, 34). */
static void gateway_lost(iog_gw *g, const char *why, int rehello)
{
    iog_worker *w = g->w;
    /* Snapshot first: a disconnect handler may close other sockets.  The
     * pointers stay valid: closed sockets wait in the graveyard until the
     * end of iog_worker_process. */
    size_t n = 0;
    iog_socket **mine = iog_xmalloc((w->n_sockets + 1) * sizeof *mine);
    for (iog_socket *s = w->head; s; s = s->next)
        if (s->gw == g) mine[n++] = s;
    iog_log(IOG_LOG_WARN, "gateway %s lost (%s): %zu socket(s) of %s disconnected", g->endpoint,
            why, n, w->nsp);
    g->welcomed = 0;
    for (size_t i = 0; i < n; i++)
        iog_socket_close(mine[i], "transport close"); /* no-op if already closed */
    free(mine);
    /* A new incarnation: if the gateway is in fact alive (we were blocked, or
     * a send was lost) the HELLO on the same connection then makes it drop
     * every socket it still routes to us, which we just closed here; with
     * the same incarnation it would keep them and their clients would hang
     * (PROTOCOL.md rule 10). */
    if (rehello) { /* from the loop's timers, soon: not into a pipe that is closing */
        new_incarnation(g);
        g->hello_ivl = 0;
        g->hello_at = iog_now_ms() + HELLO_RETRY_MS;
    }
}

void iog_worker_destroy(iog_worker **pw)
{
    iog_worker *w = *pw;
    if (!w) return;
    *pw = NULL;
    for (size_t i = 0; i < w->n_gws; i++) {
        iog_gw *g = w->gws[i];
        if (g->zsock && g->welcomed) {
            json_t *meta = json_pack("{s:s}", "reason", "worker shutting down");
            ipc_send_json(g->zsock, NULL, IPC_BYE, w->nsp, "", meta, NULL, 0, NULL, 0,
                          ZMQ_DONTWAIT);
            json_decref(meta);
            int linger = 200; /* let the BYE out */
            zmq_setsockopt(g->zsock, ZMQ_LINGER, &linger, sizeof linger);
        }
    }
    /* No events on the way out: unlink and free every socket silently. */
    while (w->head) {
        iog_socket *s = w->head;
        s->state = IOG_S_CLOSED;
        iog_worker_unlink(w, s);
    }
    reap(w);
    iog_bc_ack_free_all(w); /* as socket acks: no callbacks on the way out */
    ipc_frames_close(&w->frames);
    for (size_t i = 0; i < w->n_gws; i++)
        if (w->gws[i]->zsock) zmq_close(w->gws[i]->zsock);
    if (w->zctx) zmq_ctx_term(w->zctx);
    if (w->epfd >= 0) close(w->epfd);
    iog_cbs_clear(&w->mw);
    iog_cbs_clear(&w->on_connection);
    iog_cbs_clear(&w->adapter);
    worker_free(w);
}

const char *iog_worker_namespace(const iog_worker *w)
{
    return w->nsp;
}
bool iog_worker_connected(const iog_worker *w)
{
    for (size_t i = 0; i < w->n_gws; i++)
        if (w->gws[i]->welcomed) return true;
    return false;
}
size_t iog_worker_gateways(const iog_worker *w, size_t *connected)
{
    if (connected) {
        *connected = 0;
        for (size_t i = 0; i < w->n_gws; i++)
            *connected += w->gws[i]->welcomed != 0;
    }
    return w->n_gws;
}
const char *iog_socket_gateway(const iog_socket *s)
{
    return s->gw->endpoint;
}
void iog_worker_stop(iog_worker *w)
{
    /* NULL: the usual signal handler calls us with a global that
     * iog_worker_destroy has just nulled (run returned on the gateway's BYE,
     * and the gateway's SIGTERM follows). */
    if (w) w->stop = 1;
}

void iog_use(iog_worker *w, iog_middleware_fn fn, void *user)
{
    iog_cbs_add(&w->mw, (void (*)(void))fn, user, NULL);
}

void iog_on_connection(iog_worker *w, iog_connection_fn fn, void *user)
{
    iog_cbs_add(&w->on_connection, (void (*)(void))fn, user, NULL);
}

/* ---- dispatch ---- */

static json_t *parse_data(const ipc_msg *m)
{
    if (m->data.len == 0) return iog_jcheck(json_array());
    json_error_t jerr;
    json_t *d = json_loadb(m->data.data, m->data.len, 0, &jerr);
    if (!d && json_error_code(&jerr) == json_error_numeric_overflow)
        /* An integer past int64 (JSON.stringify(1e20)), which the gateway
         * passes as JSON.parse reads it: a double here too.  A real past a
         * double (1e400) still fails: only the raw path (raw.c) sees it. */
        d = json_loadb(m->data.data, m->data.len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!json_is_array(d)) {
        json_decref(d);
        return NULL;
    }
    const char *why;
    d = iog_resolve_placeholders(d, m->att, m->n_att, &why);
    if (!d)
        iog_log(IOG_LOG_WARN, "%s: bad placeholders (%s), dropped", ipc_type_name(m->type), why);
    return d;
}

static void on_welcome(iog_gw *g, const ipc_msg *m)
{
    json_t *hb = json_object_get(m->meta, "heartbeat_ms");
    if (json_is_integer(hb) && json_integer_value(hb) > 0 && json_integer_value(hb) < 3600000)
        g->heartbeat_ms = (int)json_integer_value(hb);
    const char *id = json_string_value(json_object_get(m->meta, "gateway"));
    if (g->gateway && id && strcmp(id, g->gateway) != 0) {
        /* A different gateway behind this endpoint: the sockets of the old
         * one are gone (only this connection's). */
        char *old = g->gateway;
        g->gateway = NULL;
        gateway_lost(g, "new gateway incarnation", 0);
        free(old);
    }
    free(g->gateway);
    g->gateway = id ? iog_xstrdup(id) : NULL;
    int sndtimeo = g->heartbeat_ms;
    zmq_setsockopt(g->zsock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    g->welcomed = 1;
    g->hello_ivl = 0; /* the next HELLO series starts at one heartbeat */
    iog_log(IOG_LOG_INFO, "gateway %s at %s welcomes %s (heartbeat %d ms)", id ? id : "?",
            g->endpoint, g->w->nsp, g->heartbeat_ms);
}

static void handle(iog_gw *g, const ipc_msg *m)
{
    iog_worker *w = g->w;
    const char *nsp_ok = NULL;
    if (m->nsp.len && (m->nsp.len != strlen(w->nsp) || memcmp(m->nsp.data, w->nsp, m->nsp.len)))
        nsp_ok = "other namespace";
    switch (m->type) {
    case IPC_WELCOME:
        on_welcome(g, m);
        return;
    case IPC_PING:
        iog_send(g, IPC_PONG, NULL, NULL, NULL, 1);
        return;
    case IPC_PONG:
        return;
    case IPC_BYE: {
        const char *r = json_string_value(json_object_get(m->meta, "reason"));
        iog_log(IOG_LOG_INFO, "gateway %s says BYE (%s)", g->endpoint, r ? r : "no reason");
        /* Rule 15: no HELLO of our own after a BYE (a worker replaced by a
         * new one would take the namespace back); iog_worker_run returns
         * once every gateway has said it. */
        gateway_lost(g, "BYE", 0);
        g->dismissed = 1;
        return;
    }
    case IPC_ERROR: {
        const char *code = json_string_value(json_object_get(m->meta, "code"));
        const char *msg = json_string_value(json_object_get(m->meta, "message"));
        const char *type = json_string_value(json_object_get(m->meta, "type"));
        iog_log(IOG_LOG_WARN, "gateway %s ERROR %s: %s (about %s)", g->endpoint, code ? code : "?",
                msg ? msg : "", type ? type : "?");
        if (code && strcmp(code, "hello") == 0) gateway_lost(g, "gateway does not know us", 1);
        return;
    }
    case IPC_REPLY:
        return; /* no QUERY is sent by this library: rooms are resolved locally */
    case IPC_ADMIT:
        iog_admission_handle(g, m);
        return;
    case IPC_BROADCAST_ACK:
    case IPC_SERVER_EMIT_ACK: {
        if (nsp_ok) return;
        /* the count, or one answer (its ack arguments) */
        json_t *data = json_object_get(m->meta, "count") ? NULL : parse_data(m);
        if (!json_object_get(m->meta, "count") && !data) {
            iog_log(IOG_LOG_WARN, "%s: data is not a valid array, dropped", ipc_type_name(m->type));
            return;
        }
        iog_bc_ack_message(g, m->meta, data);
        json_decref(data);
        return;
    }
    default:
        break;
    }
    if (nsp_ok) {
        iog_log(IOG_LOG_WARN, "%s for namespace %.*s ignored (serving %s)", ipc_type_name(m->type),
                (int)m->nsp.len, m->nsp.data, w->nsp);
        return;
    }
    iog_socket *s = iog_worker_find(w, m->sid.data, m->sid.len);
    if (m->type == IPC_CONNECT) {
        if (m->sid.len != IPC_ID_LEN) {
            iog_log(IOG_LOG_WARN, "CONNECT without a socket id ignored");
            return;
        }
        if (s && s->gw == g && json_is_true(json_object_get(m->meta, "restored"))) {
            /* Its client recovered it (rule 16a): a new object takes the
             * old one's place silently, with its data. */
            iog_socket *ns = iog_socket_create(g, m->sid.data, m->meta);
            iog_socket_replace(s, ns);
            iog_worker_insert(w, ns);
            iog_socket_start_middleware(ns);
            return;
        }
        if (s && s->gw == g) {
            iog_log(IOG_LOG_WARN, "CONNECT for known socket %s ignored", s->id);
            return;
        }
        if (s) {
            /* Ids are 20 random characters: two gateways choosing the same
             * one is a bug or an attack, not chance.  Refuse the newcomer
             * rather than mix up two clients. */
            iog_log(IOG_LOG_WARN, "CONNECT %s from %s: id already used by a socket of %s, refused",
                    s->id, g->endpoint, s->gw->endpoint);
            json_t *meta = iog_jcheck(json_pack("{s:s}", "message", "duplicate socket id"));
            iog_send(g, IPC_REFUSE, s->id, meta, NULL, 0);
            json_decref(meta);
            return;
        }
        if (!g->welcomed) iog_log(IOG_LOG_DEBUG, "CONNECT before WELCOME");
        s = iog_socket_create(g, m->sid.data, m->meta);
        iog_worker_insert(w, s);
        iog_socket_start_middleware(s);
        return;
    }
    if (s && s->gw != g) s = NULL; /* another gateway's socket: not this one's to touch */
    if (!s) {
        iog_log(IOG_LOG_DEBUG, "%s for unknown socket %.*s ignored", ipc_type_name(m->type),
                (int)m->sid.len, m->sid.data);
        return;
    }
    switch (m->type) {
    case IPC_EVENT:
    case IPC_ACK: {
        /* An event with raw handlers only (raw.c) is never parsed. */
        if (m->type == IPC_EVENT && iog_raw_event(s, m) == 0) return;
        json_t *data = parse_data(m);
        if (!data) {
            iog_log(IOG_LOG_WARN, "%s for %s: data is not a valid array, dropped",
                    ipc_type_name(m->type), s->id);
            return;
        }
        if (m->type == IPC_EVENT)
            iog_socket_handle_event(s, data, m->meta);
        else
            iog_socket_handle_ack(s, data, m->meta);
        json_decref(data);
        return;
    }
    case IPC_DISCONNECT: {
        const char *r = json_string_value(json_object_get(m->meta, "reason"));
        iog_socket_close(s, r ? r : "transport close");
        return;
    }
    case IPC_CONN:
        iog_socket_handle_conn(s, m->meta);
        return;
    default:
        iog_log(IOG_LOG_WARN, "unexpected %s ignored", ipc_type_name(m->type));
        return;
    }
}

static void gw_timers(iog_gw *g, int64_t now)
{
    if (g->send_failed) {
        g->send_failed = 0;
        if (g->welcomed) gateway_lost(g, "send to the gateway failed", 1);
    }
    if (!g->welcomed) {
        if (now >= g->hello_at && !g->dismissed) send_hello(g);
    } else {
        if (now - g->last_rx >= 3 * (int64_t)g->heartbeat_ms) {
            gateway_lost(g, "heartbeat timeout", 1);
        } else if (now - g->last_ping >= g->heartbeat_ms) {
            g->last_ping = now;
            iog_send(g, IPC_PING, NULL, NULL, NULL, 1);
        }
    }
}

static void timers(iog_worker *w)
{
    int64_t now = iog_now_ms();
    for (size_t i = 0; i < w->n_gws; i++)
        gw_timers(w->gws[i], now);
    /* Ack timeouts: collect first, a callback may add or remove acks. */
    for (;;) {
        iog_pending_ack *due = NULL;
        for (iog_pending_ack *a = w->timed; a; a = a->tnext)
            if (a->deadline && a->deadline <= now) {
                due = a;
                break;
            }
        if (!due) break;
        iog_pending_ack_fire(due, "operation has timed out", NULL);
    }
    iog_bc_ack_timers(w, now);
}

static int zevents(iog_gw *g)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(g->zsock, ZMQ_EVENTS, &ev, &sz) != 0) return 0;
    return ev;
}

/* Tell the gateway how far we got: it keeps copies of what we have not
 * handled, to replay after a crash (PROTOCOL.md §4).  Numbers are this
 * connection's own (rule 36). */
static void report_processed(iog_gw *g)
{
    if (!g->welcomed || g->seq_done == g->seq_reported) return;
    json_t *meta = json_pack("{s:I}", "seq", g->seq_done);
    if (iog_send(g, IPC_PROCESSED, NULL, meta, NULL, 1) == 0 || errno != EAGAIN)
        g->seq_reported = g->seq_done;
    json_decref(meta);
}

/* Handle what gateway g has sent, then tell it how far we got: at the end
 * of the turn, and every PROCESSED_EVERY packets within a long one (rule
 * 36's cadence). */
static int gw_process(iog_gw *g)
{
    iog_worker *w = g->w;
    int rc = 0;
    /* Drain: ZMQ_FD is edge-triggered, so read until nothing is left.  A
     * bound keeps timers (and the other gateways) running under a flood. */
    for (int n = 0; n < DRAIN_MAX; n++) {
        if (ipc_recv(g->zsock, &w->frames, ZMQ_DONTWAIT) != 0) {
            if (errno == EAGAIN) break;
            if (errno == EINTR) continue;
            iog_log(IOG_LOG_ERROR, "receive from %s: %s", g->endpoint, zmq_strerror(errno));
            rc = iog_fail(errno, "zmq receive failed");
            break;
        }
        g->last_rx = iog_now_ms(); /* any message is a sign of life */
        ipc_msg m;
        memset(&m, 0, sizeof m);
        const char *code = NULL, *why = NULL;
        if (ipc_decode(w->frames.bufs, w->frames.n, IPC_FROM_GATEWAY, &m, &code, &why) != 0) {
            iog_log(IOG_LOG_WARN, "bad message from the gateway %s (%s: %s), dropped", g->endpoint,
                    code, why);
        } else {
            if (m.type == IPC_EVENT || m.type == IPC_ACK) {
                json_t *seq = json_object_get(m.meta, "seq");
                if (json_is_integer(seq)) g->seq_done = json_integer_value(seq);
            }
            handle(g, &m);
            if (g->seq_done - g->seq_reported >= PROCESSED_EVERY) report_processed(g);
        }
        ipc_msg_clear(&m);
        ipc_frames_reset(&w->frames);
    }
    report_processed(g);
    return rc;
}

int iog_worker_process(iog_worker *w)
{
    if (!w->started && iog_worker_start(w) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < w->n_gws; i++)
        if (gw_process(w->gws[i]) != 0) rc = -1;
    timers(w);
    reap(w);
    return rc;
}

static int zfd(iog_gw *g)
{
    int fd = -1;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(g->zsock, ZMQ_FD, &fd, &sz) != 0)
        return iog_fail(errno, "zmq_getsockopt ZMQ_FD failed");
    return fd;
}

int iog_worker_fds(iog_worker *w, int *fds, size_t max)
{
    if (!w->started && iog_worker_start(w) != 0) return -1;
    for (size_t i = 0; i < w->n_gws && i < max; i++)
        if ((fds[i] = zfd(w->gws[i])) < 0) return -1;
    return (int)w->n_gws;
}

int iog_worker_fd(iog_worker *w)
{
    if (!w->started && iog_worker_start(w) != 0) return -1;
    if (w->n_gws == 1) return zfd(w->gws[0]);
#ifdef __linux__
    /* Several gateways, one fd: an epoll set of their ZMQ_FDs is readable
     * when any of them is, which is all the loop contract needs (readiness
     * is confirmed by next_timeout_ms, which looks at every socket). */
    if (w->epfd >= 0) return w->epfd;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return iog_fail(errno, "epoll_create1 failed");
    for (size_t i = 0; i < w->n_gws; i++) {
        int fd = zfd(w->gws[i]);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            int err = errno;
            close(ep);
            return iog_fail(err, "epoll_ctl failed");
        }
    }
    w->epfd = ep;
    return ep;
#else
    return iog_fail(EMLINK, "several gateways: watch iog_worker_fds()");
#endif
}

int iog_worker_next_timeout_ms(iog_worker *w)
{
    if (!w->started) return 0;
    if (w->graveyard) return 0;
    int64_t now = iog_now_ms(), next = now + 60000;
    for (size_t i = 0; i < w->n_gws; i++) {
        iog_gw *g = w->gws[i];
        if (zevents(g) & ZMQ_POLLIN) return 0;
        if (g->send_failed) return 0;
        int64_t t;
        if (!g->welcomed) {
            if (g->dismissed) continue; /* said BYE: no timer of its own */
            t = g->hello_at;
        } else {
            t = g->last_ping + g->heartbeat_ms;
            int64_t dead = g->last_rx + 3 * (int64_t)g->heartbeat_ms;
            if (dead < t) t = dead;
        }
        if (t < next) next = t;
    }
    for (iog_pending_ack *a = w->timed; a; a = a->tnext)
        if (a->deadline && a->deadline < next) next = a->deadline;
    int64_t bd = iog_bc_ack_next_deadline(w);
    if (bd && bd < next) next = bd;
    int64_t d = next - now;
    if (d < 0) d = 0;
    if (d > 60000) d = 60000;
    return (int)d;
}

static bool all_dismissed(const iog_worker *w)
{
    for (size_t i = 0; i < w->n_gws; i++)
        if (!w->gws[i]->dismissed) return false;
    return true;
}

int iog_worker_run(iog_worker *w)
{
    if (!w->started && iog_worker_start(w) != 0) return -1;
    struct pollfd *p = iog_xcalloc(w->n_gws, sizeof *p);
    for (size_t i = 0; i < w->n_gws; i++) {
        p[i].fd = zfd(w->gws[i]);
        p[i].events = POLLIN;
        if (p[i].fd < 0) {
            free(p);
            return -1;
        }
    }
    int64_t grace_end = 0;
    int rc = 0;
    for (;;) {
        if (w->stop && !grace_end) {
            /* Stopped (often by the SIGTERM of a gateway shutting down,
             * which sent its DISCONNECTs and BYE just before): handle what
             * is already on the way for a short while, so disconnect
             * handlers still run, then return. */
            grace_end = iog_now_ms() + STOP_GRACE_MS;
        }
        if (grace_end && (!iog_worker_connected(w) || iog_now_ms() >= grace_end)) break;
        if (all_dismissed(w)) break; /* BYE from every gateway: they are done with us */
        int t = iog_worker_next_timeout_ms(w);
        if (grace_end && t > 10) t = 10;
        if (t > 0 && poll(p, w->n_gws, t) < 0 && errno != EINTR) {
            rc = iog_fail(errno, "poll failed");
            break;
        }
        if (iog_worker_process(w) != 0) {
            rc = -1;
            break;
        }
    }
    free(p);
    if (rc) return rc;
    iog_worker_process(w);
    w->stop = 0;
    return 0;
}
