/* router.c — the gateway's ZeroMQ side (PROTOCOL.md §1, §3.1, §4).
 *
 * One ROUTER socket bound to a private endpoint; workers connect DEALERs and
 * say HELLO.  This file keeps the worker registry, hands HELLO keys to
 * authority.c and heartbeats both ways.  The processes behind --worker
 * (spawning, restarts, patterns, reload) are supervisor.c's.
 *
 * The libev seam: ZMQ_FD is edge-triggered and a send can swallow the edge
 * of a pending receive, so an ev_prepare checks ZMQ_EVENTS before the loop
 * blocks and an ev_idle keeps draining while messages remain (STYLE.md
 * habit 10).  Each turn handles a bounded batch so clients are not starved.
 */
#include "router.h"
#include "authority.h"
#include "supervisor.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 512

int gw_router_send(gw_router *r, gw_worker *w, ipc_type type, const char *nsp, const char *sid,
                   const char *meta, size_t meta_len, const char *data, size_t data_len,
                   const ipc_buf *att, size_t n_att)
{
    ipc_buf rid = {w->rid, w->rid_len};
    if (ipc_send_parts(r->router, &rid, type, nsp, sid, meta, meta_len, data, data_len, att, n_att,
                       ZMQ_DONTWAIT) == 0)
        return 0;
    int e = errno;
    if (e == EHOSTUNREACH) {
        /* ROUTER_MANDATORY: the peer is gone.  Drop it at the next safe
         * point; callers may be iterating over its sockets right now. */
        log_warn("worker %s for %s unreachable", w->incarnation, w->name ? w->name : "?");
        w->last_seen = -1e18;
        ev_feed_event(r->loop, &r->heartbeat, EV_TIMER);
    } else if (e != EAGAIN) {
        log_warn("send to worker %s failed: %s", w->incarnation, zmq_strerror(e));
    }
    errno = e;
    return -1;
}

static void send_simple(gw_router *r, gw_worker *w, ipc_type t, const char *meta)
{
    gw_router_send(r, w, t, w->name, NULL, meta, meta ? strlen(meta) : 0, NULL, 0, NULL, 0);
}

static void send_error(gw_router *r, const ipc_buf *rid, const char *code, const char *why,
                       const char *type)
{
    json_t *meta = json_pack("{s:s, s:s, s:s}", "code", code, "message", why, "type", type);
    ipc_send_json(r->router, rid, IPC_ERROR, NULL, NULL, meta, NULL, 0, NULL, 0, ZMQ_DONTWAIT);
    json_decref(meta);
}

void gw_worker_drop(gw_router *r, gw_worker *w, const char *why)
{
    if (w->state == GW_WORKER_SERVING) {
        HASH_DELETE(hh_served, r->served, w);
        /* What it had not handled goes back to the sockets first, so that a
         * replacement worker gets it before anything newer (on_worker_gone;
         * at shutdown the sockets are gone already). */
        r->h->on_worker_gone(r->ud, w, why);
        if (!r->shutting_down) {
            gw_sup_wake_dismissed(r, w->name);
            gw_auth_grace_start(r, w->name);
        }
    }
    r->h->on_processed(r->ud, w, UINT64_MAX);
    HASH_DEL(r->workers, w);
    free(w->name);
    free(w->rid);
    free(w);
}

static unsigned parse_conn_events(json_t *list)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"upgrade", CONN_EV_UPGRADE},
                 {"packet", CONN_EV_PACKET},
                 {"packetCreate", CONN_EV_PACKET_CREATE},
                 {"drain", CONN_EV_DRAIN},
                 {"close", CONN_EV_CLOSE}};
    unsigned mask = 0;
    size_t i;
    json_t *v;
    if (!json_is_array(list)) return 0;
    json_array_foreach(list, i, v)
        for (size_t k = 0; k < sizeof names / sizeof *names; k++)
            if (json_is_string(v) && strcmp(json_string_value(v), names[k].name) == 0)
                mask |= names[k].bit;
    return mask;
}

/* Rule 10d: an emitter serves no namespace; its key says where it may
 * emit.  It never becomes nsp->worker, so it displaces nobody. */
static void hello_emitter(gw_router *r, const ipc_buf *rid, gw_worker *w, const ipc_msg *m,
                          const char *incarnation, long pid, const char *key)
{
    const char *refusal = NULL;
    const gw_authkey *k = gw_auth_emitter(r, key, &refusal);
    if (!k) {
        log_warn("emitter HELLO refused (pid %ld, incarnation %.40s): %s", pid, incarnation,
                 refusal);
        send_error(r, rid, "auth", refusal, "HELLO");
        return;
    }
    if (w && (w->state != GW_WORKER_EMITTER || strcmp(w->incarnation, incarnation) != 0)) {
        gw_worker_drop(r, w, "connection said HELLO as an emitter");
        w = NULL;
    }
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->rid = xstrndup(rid->data, rid->len);
        w->rid_len = rid->len;
        HASH_ADD_KEYPTR(hh, r->workers, w->rid, w->rid_len, w);
        log_info("emitter ready: pid %ld, incarnation %.40s", pid, incarnation);
    }
    snprintf(w->incarnation, sizeof w->incarnation, "%s", incarnation);
    w->state = GW_WORKER_EMITTER;
    w->ekey = k;
    w->pid = pid;
    w->last_seen = ev_now(r->loop);
    char meta[128];
    snprintf(meta, sizeof meta, "{\"version\":%d,\"gateway\":\"%s\",\"heartbeat_ms\":%u}",
             IPC_PROTOCOL_VERSION, r->incarnation, r->opt.heartbeat_ms);
    gw_router_send(r, w, IPC_WELCOME, NULL, NULL, meta, strlen(meta), NULL, 0, NULL, 0);
}

static void handle_hello(gw_router *r, const ipc_buf *rid, gw_worker *w, const ipc_msg *m)
{
    json_t *ver = json_object_get(m->meta, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != IPC_PROTOCOL_VERSION) {
        send_error(r, rid, "version", "unsupported protocol version", "HELLO");
        return;
    }
    json_t *inc = json_object_get(m->meta, "incarnation");
    if (!json_is_string(inc) || json_string_length(inc) == 0) {
        /* Rule 10: without it a restart cannot be told from a repeat. */
        log_warn("HELLO without an incarnation for %.*s: ERROR meta", (int)m->nsp.len, m->nsp.data);
        send_error(r, rid, "meta", "HELLO needs an incarnation", "HELLO");
        return;
    }
    const char *incarnation = json_string_value(inc);
    json_t *role = json_object_get(m->meta, "role"), *jkey = json_object_get(m->meta, "key");
    json_t *jpid = json_object_get(m->meta, "pid");
    long claimed_pid = json_is_integer(jpid) ? (long)json_integer_value(jpid) : 0;
    const char *key =
        json_is_string(jkey) && json_string_length(jkey) ? json_string_value(jkey) : NULL;
    if (role && !(json_is_string(role) && (strcmp(json_string_value(role), "worker") == 0 ||
                                           strcmp(json_string_value(role), "emitter") == 0))) {
        send_error(r, rid, "meta", "unknown role", "HELLO");
        return;
    }
    if (role && strcmp(json_string_value(role), "emitter") == 0) {
        hello_emitter(r, rid, w, m, incarnation, claimed_pid, key);
        return;
    }
    if (m->nsp.len == 0) {
        send_error(r, rid, "meta", "HELLO needs a namespace", "HELLO");
        return;
    }
    /* PROTOCOL.md rule 10a: refused before anything changes, so a refused
     * HELLO replaces nobody, not even this connection's own registration. */
    gw_child *child = NULL;
    const char *refusal = NULL;
    int verdict = gw_auth_worker(r, m->nsp.data, m->nsp.len, key, &child, &refusal);
    if (verdict == GW_AUTH_REFUSED) {
        log_warn("HELLO for %.*s refused (pid %ld, incarnation %.40s): %s",
                 (int)(m->nsp.len > 200 ? 200 : m->nsp.len), m->nsp.data, claimed_pid, incarnation,
                 refusal);
        send_error(r, rid, "auth", refusal, "HELLO");
        return;
    }
    if (w && w->state == GW_WORKER_EMITTER) {
        gw_worker_drop(r, w, "emitter became a worker");
        w = NULL;
    }
    if (w && w->state == GW_WORKER_SERVING &&
        (w->name[0] != m->nsp.data[0] || strlen(w->name) != m->nsp.len ||
         memcmp(w->name, m->nsp.data, m->nsp.len) != 0 ||
         strcmp(w->incarnation, incarnation) != 0)) {
        /* Same connection, new life or new namespace: start over. */
        gw_worker_drop(r, w, "worker said HELLO again");
        w = NULL;
    }
    char *name = xstrndup(m->nsp.data, m->nsp.len);
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->rid = xstrndup(rid->data, rid->len);
        w->rid_len = rid->len;
        HASH_ADD_KEYPTR(hh, r->workers, w->rid, w->rid_len, w);
    }
    snprintf(w->incarnation, sizeof w->incarnation, "%s", incarnation);
    /* The pid decides which process is killed when it hangs: believe it
     * only from the child whose key it presented. */
    w->spawned = verdict == GW_AUTH_SPAWNED;
    w->pid = child ? (long)child->pid : claimed_pid;
    if (verdict == GW_AUTH_OPEN)
        log_info("worker for %s accepted without a key (no --worker-key configured)", name);
    w->conn_events = parse_conn_events(json_object_get(m->meta, "conn_events"));
    w->last_seen = ev_now(r->loop);
    gw_worker *old = gw_router_served(r, name);
    if (old && old != w) {
        /* Rule 12: a new HELLO for a served namespace takes it over. */
        long old_pid = old->spawned ? old->pid : 0;
        send_simple(r, old, IPC_BYE, "{\"reason\":\"replaced by a new worker\"}");
        gw_worker_drop(r, old, "replaced by a new worker");
        /* Marked after the drop, which would otherwise wake it right away. */
        gw_sup_dismissed(r, old_pid);
    }
    if (w->state != GW_WORKER_SERVING) {
        free(w->name);
        w->name = name;
        w->state = GW_WORKER_SERVING;
        HASH_ADD_KEYPTR(hh_served, r->served, w->name, strlen(w->name), w);
    } else {
        free(name); /* the same namespace, served again */
    }
    char meta[128];
    snprintf(meta, sizeof meta, "{\"version\":%d,\"gateway\":\"%s\",\"heartbeat_ms\":%u}",
             IPC_PROTOCOL_VERSION, r->incarnation, r->opt.heartbeat_ms);
    send_simple(r, w, IPC_WELCOME, meta);
    r->h->on_worker_arrived(r->ud, w);
    log_info("worker ready: namespace %s, pid %ld, incarnation %s", w->name, w->pid,
             w->incarnation);
    gw_sup_worker_ready(r, w, child);
}

static void handle_frames(gw_router *r, ipc_frames *f)
{
    if (f->n < 1) return;
    const ipc_buf *rid = &f->bufs[0];
    ipc_msg m;
    const char *code = NULL, *why = NULL;
    gw_worker *w;
    HASH_FIND(hh, r->workers, rid->data, rid->len, w);
    if (ipc_decode(f->bufs + 1, f->n - 1, IPC_FROM_WORKER, &m, &code, &why) < 0) {
        log_warn("bad message from worker %s (namespace %s): %s (%s)", w ? w->incarnation : "(new)",
                 w && w->name ? w->name : "?", why, code);
        char tname[16] = "?";
        if (f->n > 2)
            snprintf(tname, sizeof tname, "%.*s", (int)(f->bufs[2].len < 15 ? f->bufs[2].len : 15),
                     f->bufs[2].data);
        send_error(r, rid, code, why, tname);
        return;
    }
    if (w) {
        w->last_seen = ev_now(r->loop);
        /* Rule 36: any message may carry "done" (handled up to that seq). */
        json_t *done = json_object_get(m.meta, "done");
        if (json_is_integer(done)) r->h->on_processed(r->ud, w, (uint64_t)json_integer_value(done));
    }
    switch (m.type) {
    case IPC_HELLO:
        handle_hello(r, rid, w, &m);
        break;
    case IPC_PING:
        if (w)
            send_simple(r, w, IPC_PONG, NULL);
        else /* rule 30: a worker of a previous gateway life re-greets at once */
            send_error(r, rid, "hello", "unknown connection: HELLO first", "PING");
        break;
    case IPC_PONG:
        if (w && w->ping_sent > 0) w->rtt = ev_time() - w->ping_sent, w->ping_sent = 0;
        break;
    case IPC_PROCESSED: {
        json_t *seq = json_object_get(m.meta, "seq");
        if (w && json_is_integer(seq))
            r->h->on_processed(r->ud, w, (uint64_t)json_integer_value(seq));
        if (!w) send_error(r, rid, "hello", "unknown connection: HELLO first", "PROCESSED");
        break;
    }
    case IPC_BYE:
        if (w) gw_worker_drop(r, w, "worker said BYE");
        break;
    default:
        if (w && w->state == GW_WORKER_EMITTER) {
            gw_auth_emitter_msg(r, w, &m);
            break;
        }
        if (!w || w->state != GW_WORKER_SERVING) {
            send_error(r, rid, "hello", "HELLO first", ipc_type_name(m.type));
            break;
        }
        if (m.nsp.len &&
            (strlen(w->name) != m.nsp.len || memcmp(w->name, m.nsp.data, m.nsp.len) != 0)) {
            send_error(r, rid, "meta", "namespace is not the one this worker serves",
                       ipc_type_name(m.type));
            break;
        }
        r->h->on_msg(r->ud, w, &m);
    }
    ipc_msg_clear(&m);
}

static int drain(gw_router *r)
{
    for (int i = 0; i < BATCH; i++) {
        if (ipc_recv(r->router, &r->frames, ZMQ_DONTWAIT) < 0) {
            if (errno != EAGAIN && errno != EINTR) log_warn("zmq recv: %s", zmq_strerror(errno));
            return 0;
        }
        handle_frames(r, &r->frames);
        ipc_frames_reset(&r->frames);
    }
    return 1; /* maybe more */
}

static int zmq_readable(gw_router *r)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (!r->router || zmq_getsockopt(r->router, ZMQ_EVENTS, &ev, &len) < 0) return 0;
    return ev & ZMQ_POLLIN;
}

static void kick(gw_router *r)
{
    if (zmq_readable(r)) {
        if (!ev_is_active(&r->zidle)) ev_idle_start(r->loop, &r->zidle);
    } else if (ev_is_active(&r->zidle)) {
        ev_idle_stop(r->loop, &r->zidle);
    }
}

static void zio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    gw_router *r = w->data;
    drain(r);
    kick(r);
}

static void zidle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    gw_router *r = w->data;
    drain(r);
    kick(r);
}

static void zprep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    kick(w->data);
}

static void heartbeat_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_router *r = t->data;
    double now = ev_now(loop);
    double limit = 3.0 * r->opt.heartbeat_ms / 1000.0;
    gw_worker *w, *tmp;
    HASH_ITER(hh, r->workers, w, tmp) {
        if (now - w->last_seen > limit) {
            long pid = w->pid;
            int hung = w->last_seen >= 0, w_spawned = w->spawned;
            gw_worker_drop(r, w, hung ? "missed heartbeats" : "unreachable");
            /* A hung worker we started is killed; the supervisor restarts it. */
            if (hung && w_spawned) gw_sup_kill_hung(r, pid);
            continue;
        }
        if (revents & EV_TIMER && t->repeat > 0)
            w->ping_sent = ev_time(), send_simple(r, w, IPC_PING, NULL);
    }
}

int gw_router_start(gw_router *r)
{
    gw_random_id(r->incarnation);
    /* Keys first: a bad key file stops the start before anything else. */
    if (gw_auth_start(r) < 0) {
        gw_auth_stop(r);
        return -1;
    }
    if (r->opt.ipc_endpoint) {
        r->endpoint = xstrdup(r->opt.ipc_endpoint);
    } else {
        /* A private runtime directory, mode 0700 (mkdtemp), so no other user
         * can connect a worker. */
        const char *base = getenv("XDG_RUNTIME_DIR");
        char tmpl[512];
        snprintf(tmpl, sizeof tmpl, "%s/iogate-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpl)) {
            log_error("cannot create runtime directory %s: %s", tmpl, strerror(errno));
            return -1;
        }
        r->rundir = xstrdup(tmpl);
        char ep[600];
        snprintf(ep, sizeof ep, "ipc://%s/workers.sock", tmpl);
        r->endpoint = xstrdup(ep);
    }
    r->zctx = zmq_ctx_new();
    r->router = zmq_socket(r->zctx, ZMQ_ROUTER);
    int one = 1, zero = 0, hwm = r->opt.sndhwm;
    zmq_setsockopt(r->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(r->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->router, ZMQ_LINGER, &zero, sizeof zero);
    /* CURVE (PROTOCOL.md §1): workers we spawn get the server key in the
     * environment spawn() builds for them. */
    if (r->opt.ipc_curve_secret) {
        char secret[41], pub[41];
        if (ipc_curve_read_key(r->opt.ipc_curve_secret, secret) < 0 ||
            ipc_curve_server(r->router, secret, pub) < 0) {
            log_error("--ipc-curve-secret %s: %s", r->opt.ipc_curve_secret,
                      errno == EINVAL ? "not a Z85 CURVE secret key (40 characters)"
                                      : strerror(errno));
            memset(secret, 0, sizeof secret);
            return -1;
        }
        memset(secret, 0, sizeof secret);
        memcpy(r->curve_pub, pub, sizeof r->curve_pub);
        log_info("IPC encrypted with CURVE; server public key %s", pub);
    }
    if (zmq_bind(r->router, r->endpoint) < 0) {
        log_error("cannot bind IPC endpoint %s: %s", r->endpoint, zmq_strerror(errno));
        return -1;
    }
    log_info("workers connect to %s", r->endpoint);
    int fd;
    size_t len = sizeof fd;
    zmq_getsockopt(r->router, ZMQ_FD, &fd, &len);
    ev_io_init(&r->zio, zio_cb, fd, EV_READ);
    r->zio.data = r;
    ev_io_start(r->loop, &r->zio);
    ev_prepare_init(&r->zprep, zprep_cb);
    r->zprep.data = r;
    ev_prepare_start(r->loop, &r->zprep);
    ev_idle_init(&r->zidle, zidle_cb);
    r->zidle.data = r;
    double hb = r->opt.heartbeat_ms / 1000.0;
    ev_timer_init(&r->heartbeat, heartbeat_cb, hb, hb);
    r->heartbeat.data = r;
    ev_timer_start(r->loop, &r->heartbeat);

    return gw_sup_start(r);
}

void gw_router_stop(gw_router *r)
{
    struct ev_loop *loop = r->loop;
    gw_worker *w, *tmp;
    HASH_ITER(hh, r->workers, w, tmp) {
        send_simple(r, w, IPC_BYE, "{\"reason\":\"server shutting down\"}");
        gw_worker_drop(r, w, "server shutting down");
    }
    gw_sup_stop(r);
    ev_io_stop(loop, &r->zio);
    ev_prepare_stop(loop, &r->zprep);
    ev_idle_stop(loop, &r->zidle);
    ev_timer_stop(loop, &r->heartbeat);
    gw_auth_stop(r);
    ipc_frames_close(&r->frames);
    if (r->router) zmq_close(r->router);
    r->router = NULL;
    if (r->zctx) zmq_ctx_term(r->zctx);
    r->zctx = NULL;
    if (r->rundir) {
        char sock[600];
        snprintf(sock, sizeof sock, "%s/workers.sock", r->rundir);
        unlink(sock);
        rmdir(r->rundir);
        free(r->rundir);
        r->rundir = NULL;
    }
    free(r->endpoint);
    r->endpoint = NULL;
}

gw_router *gw_router_new(struct ev_loop *loop, const gw_router_options *opt,
                         const gw_router_handler *h, void *ud)
{
    gw_router *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    r->opt = *opt;
    r->h = h;
    r->ud = ud;
    return r;
}

void gw_router_free(gw_router **pr)
{
    free(*pr);
    *pr = NULL;
}

gw_worker *gw_router_served(gw_router *r, const char *nsp)
{
    gw_worker *w;
    HASH_FIND(hh_served, r->served, nsp, strlen(nsp), w);
    return w;
}

void gw_router_retire(gw_router *r, const char *nsp)
{
    gw_worker *w = gw_router_served(r, nsp);
    if (!w) return;
    send_simple(r, w, IPC_BYE, "{\"reason\":\"namespace retired\"}");
    HASH_DELETE(hh_served, r->served, w);
    r->h->on_worker_gone(r->ud, w, NULL);
    w->state = GW_WORKER_RETIRED;
    free(w->name);
    w->name = NULL;
}

const char *gw_router_endpoint(const gw_router *r)
{
    return r->endpoint;
}
