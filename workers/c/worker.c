/* worker.c — the worker object: the ZeroMQ DEALER to the gateway, HELLO /
 * WELCOME / PING / PONG / BYE, the loop (fd, timeouts, process, run), the
 * socket table, and dispatch of gateway messages to socket.c.
 *
 * Input trust: messages come from the gateway, a separate process; every
 * message goes through ipc_decode() and anything malformed is logged and
 * dropped (PROTOCOL.md rule 8). */
#include "worker_int.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_HEARTBEAT_MS 5000
#define HELLO_RETRY_MS 20 /* while the connection to the gateway is not up */
#define HWM 100000
#define STOP_GRACE_MS 250 /* iog_worker_run after a stop: wait for BYE */

/* ---- socket table ---- */

static size_t hash_id(const char *s, size_t len)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

iog_socket *iog_worker_find(iog_worker *w, const char *sid, size_t len)
{
    if (len != IPC_ID_LEN) return NULL;
    for (iog_socket *s = w->buckets[hash_id(sid, len) % w->n_buckets]; s; s = s->hnext)
        if (memcmp(s->id, sid, len) == 0) return s;
    return NULL;
}

static void table_insert(iog_worker *w, iog_socket *s)
{
    if (w->n_sockets + 1 > w->n_buckets) { /* grow: load factor 1 */
        size_t nb = w->n_buckets * 2;
        iog_socket **b = iog_xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < w->n_buckets; i++) {
            iog_socket *x = w->buckets[i];
            while (x) {
                iog_socket *nx = x->hnext;
                size_t j = hash_id(x->id, IPC_ID_LEN) % nb;
                x->hnext = b[j];
                b[j] = x;
                x = nx;
            }
        }
        free(w->buckets);
        w->buckets = b;
        w->n_buckets = nb;
    }
    size_t j = hash_id(s->id, IPC_ID_LEN) % w->n_buckets;
    s->hnext = w->buckets[j];
    w->buckets[j] = s;
    s->prev = w->tail;
    s->next = NULL;
    if (w->tail)
        w->tail->next = s;
    else
        w->head = s;
    w->tail = s;
    w->n_sockets++;
}

void iog_worker_unlink(iog_worker *w, iog_socket *s)
{
    iog_socket **pp = &w->buckets[hash_id(s->id, IPC_ID_LEN) % w->n_buckets];
    while (*pp && *pp != s)
        pp = &(*pp)->hnext;
    if (!*pp) return; /* already unlinked */
    *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        w->tail = s->prev;
    w->n_sockets--;
    /* Freed at the next safe point (end of iog_worker_process), never here:
     * a handler of this socket may still be on the stack. */
    s->prev = NULL;
    s->next = w->graveyard;
    w->graveyard = s;
}

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

/* ---- timed acks ---- */

void iog_worker_timed_add(iog_worker *w, iog_pending_ack *a)
{
    a->tprev = NULL;
    a->tnext = w->timed;
    if (w->timed) w->timed->tprev = a;
    w->timed = a;
}

void iog_worker_timed_del(iog_worker *w, iog_pending_ack *a)
{
    if (a->tprev)
        a->tprev->tnext = a->tnext;
    else if (w->timed == a)
        w->timed = a->tnext;
    else
        return; /* not in the list */
    if (a->tnext) a->tnext->tprev = a->tprev;
    a->tnext = a->tprev = NULL;
}

/* ---- sending ---- */

/* Send one message about `sid` (NULL = none).  meta and data are borrowed;
 * data is the array of the data frame (binary values become attachments).
 * Volatile messages never block and are dropped at the high-water mark;
 * others may block up to ZMQ_SNDTIMEO (PROTOCOL.md rule 32). */
int iog_send(iog_worker *w, ipc_type t, const char *sid, json_t *meta, json_t *data, int vol)
{
    if (!w->welcomed && t != IPC_PING && t != IPC_PONG) /* nothing to route it to */
        return iog_fail(ENOTCONN, "not connected to the gateway");
    iog_atts att = {0};
    char *text = NULL;
    if (data) {
        text = iog_dump_wire(data, &att);
        if (!text) {
            free(att.v);
            iog_log(IOG_LOG_ERROR, "%s %s: arguments cannot be encoded as JSON", ipc_type_name(t),
                    w->nsp);
            return iog_fail(EINVAL, "arguments cannot be encoded as JSON");
        }
    }
    /* PING / PONG name no namespace (PROTOCOL.md rule 14). */
    const char *nsp = t == IPC_PING || t == IPC_PONG ? "" : w->nsp;
    /* Rule 36: the first message sent while handling packet N says so
     * ("done"), so a crash right after it cannot replay N. */
    json_t *own = NULL;
    int piggyback = w->seq_done != w->seq_reported && t != IPC_PING && t != IPC_PONG &&
                    t != IPC_HELLO && t != IPC_PROCESSED;
    if (piggyback) {
        own = meta ? json_copy(meta) : json_object();
        json_object_set_new(own, "done", json_integer(w->seq_done));
        meta = own;
    }
    int rc = ipc_send_json(w->zsock, NULL, t, nsp, sid ? sid : "", meta, text,
                           text ? strlen(text) : 0, att.v, att.n, vol ? ZMQ_DONTWAIT : 0);
    int err = errno;
    if (own) json_decref(own);
    if (rc == 0 && piggyback) w->seq_reported = w->seq_done;
    free(text);
    free(att.v);
    if (rc < 0) {
        if (vol && err == EAGAIN) {
            iog_log(IOG_LOG_DEBUG, "volatile %s to %s dropped", ipc_type_name(t), w->nsp);
            return iog_fail(EAGAIN, "volatile message dropped (gateway busy)");
        }
        iog_log(IOG_LOG_WARN, "send %s on %s failed: %s", ipc_type_name(t), w->nsp,
                zmq_strerror(err));
        /* Blocked a whole heartbeat (ZMQ_SNDTIMEO) or worse: the message is
         * lost, so the gateway's view and ours differ.  Start over. */
        w->send_failed = 1;
        return iog_fail(err, "send to the gateway failed");
    }
    return 0;
}

/* ---- life of the worker ---- */

static void new_incarnation(iog_worker *w)
{
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        iog_log(IOG_LOG_ERROR, "RAND_bytes failed");
        abort();
    }
    for (int i = 0; i < 16; i++)
        snprintf(w->incarnation + 2 * i, 3, "%02x", rnd[i]);
}

iog_worker *iog_worker_new(const char *endpoint, const char *nsp)
{
    const char *lv = getenv("IOGATE_WORKER_LOG");
    if (lv) {
        static const char *names[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (strcmp(lv, names[i]) == 0) iog_log_level = i;
    }
    /* Like the gateway: keep freed heap instead of trimming it back to the
     * kernel after every burst (measured: half the CPU of a busy worker went
     * to brk and page faults).  IOGATE_NO_MALLOPT=1 leaves malloc alone. */
    if (!getenv("IOGATE_NO_MALLOPT")) {
        mallopt(M_TRIM_THRESHOLD, 64 << 20);
        mallopt(M_TOP_PAD, 1 << 20);
    }
    if (!endpoint) endpoint = getenv("IOGATE_ENDPOINT");
    if (!nsp) nsp = getenv("IOGATE_NAMESPACE");
    if (!nsp || !*nsp) nsp = "/";
    if (!endpoint || !*endpoint) {
        iog_log(IOG_LOG_ERROR, "no gateway endpoint (set IOGATE_ENDPOINT)");
        iog_fail(EINVAL, "no gateway endpoint");
        return NULL;
    }
    if (nsp[0] != '/') {
        iog_log(IOG_LOG_ERROR, "namespace \"%s\" does not start with /", nsp);
        iog_fail(EINVAL, "namespace must start with /");
        return NULL;
    }
    iog_worker *w = iog_xcalloc(1, sizeof *w);
    w->endpoint = iog_xstrdup(endpoint);
    w->nsp = iog_xstrdup(nsp);
    w->conn_mask = IOG_CONN_UPGRADE;
    w->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    w->n_buckets = 64;
    w->buckets = iog_xcalloc(w->n_buckets, sizeof *w->buckets);
    new_incarnation(w);
    return w;
}

int iog_worker_subscribe_conn(iog_worker *w, int mask)
{
    if (w->started) return iog_fail(EBUSY, "worker already started");
    w->conn_mask |= mask & IOG_CONN_ALL;
    return 0;
}

static const char *const conn_names[] = {"upgrade", "packet", "packetCreate", "drain", "close"};

static void send_hello(iog_worker *w)
{
    json_t *ev = iog_jcheck(json_array());
    for (int i = 0; i < 5; i++)
        if (w->conn_mask & (1 << i)) json_array_append_new(ev, json_string(conn_names[i]));
    json_t *meta =
        iog_jcheck(json_pack("{s:i,s:s,s:i,s:o}", "version", IPC_PROTOCOL_VERSION, "incarnation",
                             w->incarnation, "pid", (int)getpid(), "conn_events", ev));
    /* DONTWAIT: with ZMQ_IMMEDIATE the send fails while the connection is
     * not up; we retry soon instead of queueing HELLOs for later. */
    int rc =
        ipc_send_json(w->zsock, NULL, IPC_HELLO, w->nsp, "", meta, NULL, 0, NULL, 0, ZMQ_DONTWAIT);
    json_decref(meta);
    int64_t now = iog_now_ms();
    if (rc == 0) {
        iog_log(IOG_LOG_DEBUG, "HELLO %s sent to %s", w->nsp, w->endpoint);
        w->hello_sent = 1;
        w->last_rx = now; /* the silence clock starts now */
        w->last_ping = now;
        /* No WELCOME within a heartbeat: again (a HELLO repeated on the
         * same connection with the same incarnation is harmless). */
        w->hello_at = now + w->heartbeat_ms;
    } else {
        w->hello_sent = 0;
        w->hello_at = now + HELLO_RETRY_MS;
    }
}

int iog_worker_start(iog_worker *w)
{
    if (w->started) return 0;
    w->zctx = zmq_ctx_new();
    if (!w->zctx) return iog_fail(errno, "zmq_ctx_new failed");
    w->zsock = zmq_socket(w->zctx, ZMQ_DEALER);
    if (!w->zsock) return iog_fail(errno, "zmq_socket failed");
    int one = 1, zero = 0, hwm = HWM, sndtimeo = DEFAULT_HEARTBEAT_MS;
    zmq_setsockopt(w->zsock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(w->zsock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(w->zsock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(w->zsock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(w->zsock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    /* PROTOCOL.md rule 1a: CURVE when the gateway's public key is given */
    const char *curve = getenv("IOGATE_CURVE_SERVERKEY");
    if (curve && *curve && ipc_curve_client(w->zsock, curve) != 0) {
        iog_log(IOG_LOG_ERROR, "IOGATE_CURVE_SERVERKEY: %s",
                errno == EINVAL ? "not a Z85 public key (40 characters)" : zmq_strerror(errno));
        return iog_fail(errno, "CURVE setup failed");
    }
    if (zmq_connect(w->zsock, w->endpoint) != 0) {
        iog_log(IOG_LOG_ERROR, "connect %s: %s", w->endpoint, zmq_strerror(errno));
        return iog_fail(errno, "zmq_connect failed");
    }
    w->started = 1;
    iog_log(IOG_LOG_INFO, "worker for %s connecting to %s (incarnation %s)", w->nsp, w->endpoint,
            w->incarnation);
    send_hello(w);
    return 0;
}

/* The gateway is gone (silence, BYE, a new gateway incarnation, or an ERROR
 * "hello"): every socket it had is disconnected with "transport close",
 * pending acks fail, and we say HELLO again (PROTOCOL.md rules 14, 34). */
static void gateway_lost(iog_worker *w, const char *why, int rehello)
{
    iog_log(IOG_LOG_WARN, "gateway lost (%s): %zu socket(s) of %s disconnected", why, w->n_sockets,
            w->nsp);
    w->welcomed = 0;
    while (w->head)
        iog_socket_close(w->head, "transport close");
    /* A new incarnation: if the gateway is in fact alive (we were blocked, or
     * a send was lost) the HELLO on the same connection then makes it drop
     * every socket it still routes to us, which we just closed here; with
     * the same incarnation it would keep them and their clients would hang.
     * See the report on PROTOCOL.md rule 10. */
    if (rehello) { /* from the loop's timers, soon: not into a pipe that is closing */
        new_incarnation(w);
        w->hello_sent = 0;
        w->hello_at = iog_now_ms() + HELLO_RETRY_MS;
    }
}

void iog_worker_destroy(iog_worker **pw)
{
    iog_worker *w = *pw;
    if (!w) return;
    *pw = NULL;
    if (w->zsock) {
        if (w->welcomed) {
            json_t *meta = json_pack("{s:s}", "reason", "worker shutting down");
            ipc_send_json(w->zsock, NULL, IPC_BYE, w->nsp, "", meta, NULL, 0, NULL, 0,
                          ZMQ_DONTWAIT);
            json_decref(meta);
            int linger = 200; /* let the BYE out */
            zmq_setsockopt(w->zsock, ZMQ_LINGER, &linger, sizeof linger);
        }
    }
    /* No events on the way out: unlink and free every socket silently. */
    while (w->head) {
        iog_socket *s = w->head;
        s->state = IOG_S_CLOSED;
        iog_worker_unlink(w, s);
    }
    reap(w);
    ipc_frames_close(&w->frames);
    if (w->zsock) zmq_close(w->zsock);
    if (w->zctx) zmq_ctx_term(w->zctx);
    iog_cbs_clear(&w->mw);
    iog_cbs_clear(&w->on_connection);
    free(w->buckets);
    free(w->gateway);
    free(w->endpoint);
    free(w->nsp);
    free(w);
}

const char *iog_worker_namespace(const iog_worker *w)
{
    return w->nsp;
}
bool iog_worker_connected(const iog_worker *w)
{
    return w->welcomed;
}
void iog_worker_stop(iog_worker *w)
{
    w->stop = 1;
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
    if (!json_is_array(d)) {
        json_decref(d);
        return NULL;
    }
    const char *why;
    if (ipc_check_placeholders(d, m->n_att, IOG_MAX_DEPTH, &why) != 0) {
        iog_log(IOG_LOG_WARN, "%s: bad placeholders (%s), dropped", ipc_type_name(m->type), why);
        json_decref(d);
        return NULL;
    }
    return iog_resolve_placeholders(d, m->att, m->n_att);
}

static void on_welcome(iog_worker *w, const ipc_msg *m)
{
    json_t *hb = json_object_get(m->meta, "heartbeat_ms");
    if (json_is_integer(hb) && json_integer_value(hb) > 0 && json_integer_value(hb) < 3600000)
        w->heartbeat_ms = (int)json_integer_value(hb);
    const char *gw = json_string_value(json_object_get(m->meta, "gateway"));
    if (w->gateway && gw && strcmp(gw, w->gateway) != 0 && w->head) {
        /* A different gateway: the sockets of the old one are gone. */
        char *old = w->gateway;
        w->gateway = NULL;
        gateway_lost(w, "new gateway incarnation", 0);
        free(old);
    }
    free(w->gateway);
    w->gateway = gw ? iog_xstrdup(gw) : NULL;
    int sndtimeo = w->heartbeat_ms;
    zmq_setsockopt(w->zsock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    w->welcomed = 1;
    w->hello_sent = 0;
    iog_log(IOG_LOG_INFO, "gateway %s welcomes %s (heartbeat %d ms)", gw ? gw : "?", w->nsp,
            w->heartbeat_ms);
}

static void handle(iog_worker *w, const ipc_msg *m)
{
    const char *nsp_ok = NULL;
    if (m->nsp.len && (m->nsp.len != strlen(w->nsp) || memcmp(m->nsp.data, w->nsp, m->nsp.len)))
        nsp_ok = "other namespace";
    switch (m->type) {
    case IPC_WELCOME:
        on_welcome(w, m);
        return;
    case IPC_PING:
        iog_send(w, IPC_PONG, NULL, NULL, NULL, 1);
        return;
    case IPC_PONG:
        return;
    case IPC_BYE: {
        const char *r = json_string_value(json_object_get(m->meta, "reason"));
        iog_log(IOG_LOG_INFO, "gateway says BYE (%s)", r ? r : "no reason");
        /* Rule 15: no HELLO of our own after a BYE (a worker replaced by a
         * new one would take the namespace back); iog_worker_run returns. */
        gateway_lost(w, "BYE", 0);
        w->dismissed = 1;
        return;
    }
    case IPC_ERROR: {
        const char *code = json_string_value(json_object_get(m->meta, "code"));
        const char *msg = json_string_value(json_object_get(m->meta, "message"));
        const char *type = json_string_value(json_object_get(m->meta, "type"));
        iog_log(IOG_LOG_WARN, "gateway ERROR %s: %s (about %s)", code ? code : "?", msg ? msg : "",
                type ? type : "?");
        if (code && strcmp(code, "hello") == 0) gateway_lost(w, "gateway does not know us", 1);
        return;
    }
    case IPC_REPLY:
        return; /* no QUERY is sent by this library: rooms are resolved locally */
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
        if (s) {
            iog_log(IOG_LOG_WARN, "CONNECT for known socket %s ignored", s->id);
            return;
        }
        if (!w->welcomed) iog_log(IOG_LOG_DEBUG, "CONNECT before WELCOME");
        s = iog_socket_create(w, m->sid.data, m->meta);
        table_insert(w, s);
        iog_socket_start_middleware(s);
        return;
    }
    if (!s) {
        iog_log(IOG_LOG_DEBUG, "%s for unknown socket %.*s ignored", ipc_type_name(m->type),
                (int)m->sid.len, m->sid.data);
        return;
    }
    switch (m->type) {
    case IPC_EVENT:
    case IPC_ACK: {
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

static void timers(iog_worker *w)
{
    int64_t now = iog_now_ms();
    if (w->send_failed) {
        w->send_failed = 0;
        if (w->welcomed) gateway_lost(w, "send to the gateway failed", 1);
    }
    if (!w->welcomed) {
        if (now >= w->hello_at && !w->dismissed) send_hello(w);
    } else {
        if (now - w->last_rx >= 3 * (int64_t)w->heartbeat_ms) {
            gateway_lost(w, "heartbeat timeout", 1);
        } else if (now - w->last_ping >= w->heartbeat_ms) {
            w->last_ping = now;
            iog_send(w, IPC_PING, NULL, NULL, NULL, 1);
        }
    }
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
}

static int zevents(iog_worker *w)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(w->zsock, ZMQ_EVENTS, &ev, &sz) != 0) return 0;
    return ev;
}

int iog_worker_process(iog_worker *w)
{
    if (!w->started && iog_worker_start(w) != 0) return -1;
    int rc = 0;
    /* Drain: ZMQ_FD is edge-triggered, so read until nothing is left.  A
     * bound keeps timers running under a flood. */
    for (int n = 0; n < 10000; n++) {
        if (ipc_recv(w->zsock, &w->frames, ZMQ_DONTWAIT) != 0) {
            if (errno == EAGAIN) break;
            if (errno == EINTR) continue;
            iog_log(IOG_LOG_ERROR, "receive: %s", zmq_strerror(errno));
            rc = iog_fail(errno, "zmq receive failed");
            break;
        }
        w->last_rx = iog_now_ms(); /* any message is a sign of life */
        ipc_msg m;
        memset(&m, 0, sizeof m);
        const char *code = NULL, *why = NULL;
        if (ipc_decode(w->frames.bufs, w->frames.n, IPC_FROM_GATEWAY, &m, &code, &why) != 0) {
            iog_log(IOG_LOG_WARN, "bad message from the gateway (%s: %s), dropped", code, why);
        } else {
            if (m.type == IPC_EVENT || m.type == IPC_ACK) {
                json_t *seq = json_object_get(m.meta, "seq");
                if (json_is_integer(seq)) w->seq_done = json_integer_value(seq);
            }
            handle(w, &m);
        }
        ipc_msg_clear(&m);
        ipc_frames_reset(&w->frames);
    }
    /* Tell the gateway, once per turn, how far we got: it keeps copies of
     * what we have not handled, to replay after a crash (PROTOCOL.md §4). */
    if (w->welcomed && w->seq_done != w->seq_reported) {
        json_t *meta = json_pack("{s:I}", "seq", w->seq_done);
        if (iog_send(w, IPC_PROCESSED, NULL, meta, NULL, 1) == 0 || errno != EAGAIN)
            w->seq_reported = w->seq_done;
        json_decref(meta);
    }
    timers(w);
    reap(w);
    return rc;
}

int iog_worker_fd(iog_worker *w)
{
    if (!w->started && iog_worker_start(w) != 0) return -1;
    int fd = -1;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(w->zsock, ZMQ_FD, &fd, &sz) != 0)
        return iog_fail(errno, "zmq_getsockopt ZMQ_FD failed");
    return fd;
}

int iog_worker_next_timeout_ms(iog_worker *w)
{
    if (!w->started) return 0;
    if (zevents(w) & ZMQ_POLLIN) return 0;
    if (w->graveyard || w->send_failed) return 0;
    int64_t now = iog_now_ms(), next;
    if (!w->welcomed) {
        next = w->hello_at;
    } else {
        next = w->last_ping + w->heartbeat_ms;
        int64_t dead = w->last_rx + 3 * (int64_t)w->heartbeat_ms;
        if (dead < next) next = dead;
    }
    for (iog_pending_ack *a = w->timed; a; a = a->tnext)
        if (a->deadline && a->deadline < next) next = a->deadline;
    int64_t d = next - now;
    if (d < 0) d = 0;
    if (d > 60000) d = 60000;
    return (int)d;
}

int iog_worker_run(iog_worker *w)
{
    int fd = iog_worker_fd(w);
    if (fd < 0) return -1;
    int64_t grace_end = 0;
    for (;;) {
        if (w->stop && !grace_end) {
            /* Stopped (often by the SIGTERM of a gateway shutting down,
             * which sent its DISCONNECTs and BYE just before): handle what
             * is already on the way for a short while, so disconnect
             * handlers still run, then return. */
            grace_end = iog_now_ms() + STOP_GRACE_MS;
        }
        if (grace_end && (!w->welcomed || iog_now_ms() >= grace_end)) break;
        if (w->dismissed) break; /* BYE: the gateway is done with us */
        int t = iog_worker_next_timeout_ms(w);
        if (grace_end && t > 10) t = 10;
        if (t > 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, t) < 0 && errno != EINTR) return iog_fail(errno, "poll failed");
        }
        if (iog_worker_process(w) != 0) return -1;
    }
    iog_worker_process(w);
    w->stop = 0;
    return 0;
}
