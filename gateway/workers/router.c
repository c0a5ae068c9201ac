/* router.c — the gateway's ZeroMQ side (PROTOCOL.md §1, §3.1, §4).
 *
 * One ROUTER socket bound to a private endpoint; workers connect DEALERs and
 * say HELLO.  This file keeps the worker registry, heartbeats both ways,
 * spawns the --worker processes (CGI style: the namespace and endpoint go in
 * the environment) and notices when one exits.
 *
 * The libev seam: ZMQ_FD is edge-triggered and a send can swallow the edge
 * of a pending receive, so an ev_prepare checks ZMQ_EVENTS before the loop
 * blocks and an ev_idle keeps draining while messages remain (STYLE.md
 * habit 10).  Each turn handles a bounded batch so clients are not starved.
 */
#include "app.h"
#include "authority.h"
#include "util.h"
#include "wout.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
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
#define STOP_WAIT_MS 2000 /* at shutdown, a spawned worker's time to exit after SIGTERM */
#define STOP_POLL_MS 10   /* ... checked this often */

int gw_router_send(gw_app *app, gw_worker *w, ipc_type type, const char *nsp, const char *sid,
                   const char *meta, size_t meta_len, const char *data, size_t data_len,
                   const ipc_buf *att, size_t n_att)
{
    ipc_buf rid = {w->rid, w->rid_len};
    if (ipc_send_parts(app->router, &rid, type, nsp, sid, meta, meta_len, data, data_len, att,
                       n_att, ZMQ_DONTWAIT) == 0)
        return 0;
    int e = errno;
    if (e == EHOSTUNREACH) {
        /* ROUTER_MANDATORY: the peer is gone.  Drop it at the next safe
         * point; callers may be iterating over its sockets right now. */
        log_warn("worker %s for %s unreachable", w->incarnation, w->nsp ? w->nsp->name : "?");
        w->last_seen = -1e18;
        ev_feed_event(app->loop, &app->heartbeat, EV_TIMER);
    } else if (e != EAGAIN) {
        log_warn("send to worker %s failed: %s", w->incarnation, zmq_strerror(e));
    }
    errno = e;
    return -1;
}

static void send_simple(gw_app *app, gw_worker *w, ipc_type t, const char *meta)
{
    gw_router_send(app, w, t, w->nsp ? w->nsp->name : NULL, NULL, meta, meta ? strlen(meta) : 0,
                   NULL, 0, NULL, 0);
}

static void send_error(gw_app *app, const ipc_buf *rid, const char *code, const char *why,
                       const char *type)
{
    json_t *meta = json_pack("{s:s, s:s, s:s}", "code", code, "message", why, "type", type);
    ipc_send_json(app->router, rid, IPC_ERROR, NULL, NULL, meta, NULL, 0, NULL, 0, ZMQ_DONTWAIT);
    json_decref(meta);
}

/* A spawned worker we sent BYE to (replaced by a worker with the
 * namespace's key) stays quiet by rule 15; once the namespace has no worker
 * again it is needed: restart it (not counted as a crash, child_cb). */
static void wake_dismissed(gw_app *app, gw_nsp *nsp)
{
    for (gw_child *c = app->children; c; c = c->next) {
        if (!c->bye_sent || c->given_up || c->retiring || strcmp(c->nsp, nsp->name) != 0) continue;
        if (c->pid > 0) {
            log_info("namespace %s has no worker: restarting its dismissed worker (pid %d)", c->nsp,
                     (int)c->pid);
            kill(c->pid, SIGTERM);
        } else if (!ev_is_active(&c->restart)) {
            c->bye_sent = 0;
            ev_timer_set(&c->restart, app->opt.restart_min_ms / 1000.0, 0);
            ev_timer_start(app->loop, &c->restart);
        }
    }
}

void gw_worker_drop(gw_app *app, gw_worker *w, const char *why)
{
    if (w->nsp && w->nsp->worker == w) {
        /* What it had not handled goes back to the sockets first, so that a
         * replacement worker gets it before anything newer. */
        sio_worker_requeue(app, w);
        w->nsp->worker = NULL;
        sio_worker_gone(app, w->nsp, why);
        wake_dismissed(app, w->nsp);
        gw_auth_grace_start(app, w->nsp);
    }
    sio_worker_processed(app, w, UINT64_MAX);
    HASH_DEL(app->workers, w);
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
    json_array_foreach(list, i, v) for (size_t k = 0; k < sizeof names / sizeof *names; k++) if (
        json_is_string(v) && strcmp(json_string_value(v), names[k].name) == 0) mask |= names[k].bit;
    return mask;
}

static void maybe_listen(gw_app *app)
{
    for (gw_child *c = app->children; c; c = c->next)
        if (!c->hello_seen) return;
    ev_timer_stop(app->loop, &app->startup);
    sio_app_start_listening(app);
}

/* Rule 10d: an emitter serves no namespace; its key says where it may
 * emit.  It never becomes nsp->worker, so it displaces nobody. */
static void hello_emitter(gw_app *app, const ipc_buf *rid, gw_worker *w, const ipc_msg *m,
                          const char *incarnation, long pid, const char *key)
{
    const char *refusal = NULL;
    const gw_authkey *k = gw_auth_emitter(app, key, &refusal);
    if (!k) {
        log_warn("emitter HELLO refused (pid %ld, incarnation %.40s): %s", pid, incarnation, refusal);
        send_error(app, rid, "auth", refusal, "HELLO");
        return;
    }
    if (w && (!w->emitter || strcmp(w->incarnation, incarnation) != 0)) {
        gw_worker_drop(app, w, "connection said HELLO as an emitter");
        w = NULL;
    }
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->rid = xstrndup(rid->data, rid->len);
        w->rid_len = rid->len;
        HASH_ADD_KEYPTR(hh, app->workers, w->rid, w->rid_len, w);
        log_info("emitter ready: pid %ld, incarnation %.40s", pid, incarnation);
    }
    snprintf(w->incarnation, sizeof w->incarnation, "%s", incarnation);
    w->emitter = 1;
    w->ekey = k;
    w->pid = pid;
    w->last_seen = ev_now(app->loop);
    char meta[128];
    snprintf(meta, sizeof meta, "{\"version\":%d,\"gateway\":\"%s\",\"heartbeat_ms\":%u}",
             IPC_PROTOCOL_VERSION, app->incarnation, app->opt.heartbeat_ms);
    gw_router_send(app, w, IPC_WELCOME, NULL, NULL, meta, strlen(meta), NULL, 0, NULL, 0);
}

static void handle_hello(gw_app *app, const ipc_buf *rid, gw_worker *w, const ipc_msg *m)
{
    json_t *ver = json_object_get(m->meta, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != IPC_PROTOCOL_VERSION) {
        send_error(app, rid, "version", "unsupported protocol version", "HELLO");
        return;
    }
    json_t *inc = json_object_get(m->meta, "incarnation");
    if (!json_is_string(inc) || json_string_length(inc) == 0) {
        /* Rule 10: without it a restart cannot be told from a repeat. */
        log_warn("HELLO without an incarnation for %.*s: ERROR meta", (int)m->nsp.len, m->nsp.data);
        send_error(app, rid, "meta", "HELLO needs an incarnation", "HELLO");
        return;
    }
    const char *incarnation = json_string_value(inc);
    json_t *role = json_object_get(m->meta, "role"), *jkey = json_object_get(m->meta, "key");
    json_t *jpid = json_object_get(m->meta, "pid");
    long claimed_pid = json_is_integer(jpid) ? (long)json_integer_value(jpid) : 0;
    const char *key = json_is_string(jkey) && json_string_length(jkey) ? json_string_value(jkey) : NULL;
    if (role && !(json_is_string(role) && (strcmp(json_string_value(role), "worker") == 0 ||
                                           strcmp(json_string_value(role), "emitter") == 0))) {
        send_error(app, rid, "meta", "unknown role", "HELLO");
        return;
    }
    if (role && strcmp(json_string_value(role), "emitter") == 0) {
        hello_emitter(app, rid, w, m, incarnation, claimed_pid, key);
        return;
    }
    if (m->nsp.len == 0) {
        send_error(app, rid, "meta", "HELLO needs a namespace", "HELLO");
        return;
    }
    /* PROTOCOL.md rule 10a: refused before anything changes, so a refused
     * HELLO replaces nobody, not even this connection's own registration. */
    gw_child *child = NULL;
    const char *refusal = NULL;
    int verdict = gw_auth_worker(app, m->nsp.data, m->nsp.len, key, &child, &refusal);
    if (verdict == GW_AUTH_REFUSED) {
        log_warn("HELLO for %.*s refused (pid %ld, incarnation %.40s): %s",
                 (int)(m->nsp.len > 200 ? 200 : m->nsp.len), m->nsp.data, claimed_pid, incarnation,
                 refusal);
        send_error(app, rid, "auth", refusal, "HELLO");
        return;
    }
    if (w && w->emitter) {
        gw_worker_drop(app, w, "emitter became a worker");
        w = NULL;
    }
    if (w && w->nsp && (w->nsp->name[0] != m->nsp.data[0] || strlen(w->nsp->name) != m->nsp.len ||
                        memcmp(w->nsp->name, m->nsp.data, m->nsp.len) != 0 ||
                        strcmp(w->incarnation, incarnation) != 0)) {
        /* Same connection, new life or new namespace: start over. */
        gw_worker_drop(app, w, "worker said HELLO again");
        w = NULL;
    }
    gw_nsp *nsp = gw_nsp_get(app, m->nsp.data, m->nsp.len, 1);
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->rid = xstrndup(rid->data, rid->len);
        w->rid_len = rid->len;
        HASH_ADD_KEYPTR(hh, app->workers, w->rid, w->rid_len, w);
    }
    snprintf(w->incarnation, sizeof w->incarnation, "%s", incarnation);
    /* The pid decides which process is killed when it hangs: believe it
     * only from the child whose key it presented. */
    w->spawned = verdict == GW_AUTH_SPAWNED;
    w->pid = child ? (long)child->pid : claimed_pid;
    if (verdict == GW_AUTH_OPEN)
        log_info("worker for %s accepted without a key (no --worker-key configured)", nsp->name);
    w->conn_events = parse_conn_events(json_object_get(m->meta, "conn_events"));
    w->last_seen = ev_now(app->loop);
    if (nsp->worker && nsp->worker != w) {
        /* Rule 12: a new HELLO for a served namespace takes it over. */
        gw_worker *old = nsp->worker;
        long old_pid = old->spawned ? old->pid : 0;
        send_simple(app, old, IPC_BYE, "{\"reason\":\"replaced by a new worker\"}");
        gw_worker_drop(app, old, "replaced by a new worker");
        /* Marked after the drop, which would otherwise wake it right away. */
        for (gw_child *c = app->children; old_pid && c; c = c->next)
            if ((long)c->pid == old_pid) c->bye_sent = 1; /* its exit is no crash */
    }
    w->nsp = nsp;
    nsp->worker = w;
    char meta[128];
    snprintf(meta, sizeof meta, "{\"version\":%d,\"gateway\":\"%s\",\"heartbeat_ms\":%u}",
             IPC_PROTOCOL_VERSION, app->incarnation, app->opt.heartbeat_ms);
    send_simple(app, w, IPC_WELCOME, meta);
    sio_worker_arrived(app, nsp);
    log_info("worker ready: namespace %s, pid %ld, incarnation %s", nsp->name, w->pid,
             w->incarnation);
    for (gw_child *c = app->children; c; c = c->next)
        if ((long)c->pid == w->pid || strcmp(c->nsp, nsp->name) == 0) c->hello_seen = 1;
    if (child) child->bye_sent = 0;
    maybe_listen(app);
}

static void handle_frames(gw_app *app, ipc_frames *f)
{
    if (f->n < 1) return;
    const ipc_buf *rid = &f->bufs[0];
    ipc_msg m;
    const char *code = NULL, *why = NULL;
    gw_worker *w;
    HASH_FIND(hh, app->workers, rid->data, rid->len, w);
    if (ipc_decode(f->bufs + 1, f->n - 1, IPC_FROM_WORKER, &m, &code, &why) < 0) {
        log_warn("bad message from worker %s (namespace %s): %s (%s)", w ? w->incarnation : "(new)",
                 w && w->nsp ? w->nsp->name : "?", why, code);
        char tname[16] = "?";
        if (f->n > 2) snprintf(tname, sizeof tname, "%.*s", (int)(f->bufs[2].len < 15 ? f->bufs[2].len : 15), f->bufs[2].data);
        send_error(app, rid, code, why, tname);
        return;
    }
    if (w) {
        w->last_seen = ev_now(app->loop);
        /* Rule 36: any message may carry "done" (handled up to that seq). */
        json_t *done = json_object_get(m.meta, "done");
        if (json_is_integer(done)) sio_worker_processed(app, w, (uint64_t)json_integer_value(done));
    }
    switch (m.type) {
    case IPC_HELLO:
        handle_hello(app, rid, w, &m);
        break;
    case IPC_PING:
        if (w)
            send_simple(app, w, IPC_PONG, NULL);
        else /* rule 30: a worker of a previous gateway life re-greets at once */
            send_error(app, rid, "hello", "unknown connection: HELLO first", "PING");
        break;
    case IPC_PONG:
        if (w && w->ping_sent > 0) w->rtt = ev_time() - w->ping_sent, w->ping_sent = 0;
        break;
    case IPC_PROCESSED: {
        json_t *seq = json_object_get(m.meta, "seq");
        if (w && json_is_integer(seq)) sio_worker_processed(app, w, (uint64_t)json_integer_value(seq));
        if (!w) send_error(app, rid, "hello", "unknown connection: HELLO first", "PROCESSED");
        break;
    }
    case IPC_BYE:
        if (w) gw_worker_drop(app, w, "worker said BYE");
        break;
    default:
        if (w && w->emitter) {
            gw_auth_emitter_msg(app, w, &m);
            break;
        }
        if (!w || !w->nsp) {
            send_error(app, rid, "hello", "HELLO first", ipc_type_name(m.type));
            break;
        }
        if (m.nsp.len && (strlen(w->nsp->name) != m.nsp.len ||
                          memcmp(w->nsp->name, m.nsp.data, m.nsp.len) != 0)) {
            send_error(app, rid, "meta", "namespace is not the one this worker serves",
                       ipc_type_name(m.type));
            break;
        }
        sio_handle_worker_msg(app, w, &m);
    }
    ipc_msg_clear(&m);
}

static int drain(gw_app *app)
{
    for (int i = 0; i < BATCH; i++) {
        if (ipc_recv(app->router, &app->frames, ZMQ_DONTWAIT) < 0) {
            if (errno != EAGAIN && errno != EINTR) log_warn("zmq recv: %s", zmq_strerror(errno));
            return 0;
        }
        handle_frames(app, &app->frames);
        ipc_frames_reset(&app->frames);
    }
    return 1; /* maybe more */
}

static int zmq_readable(gw_app *app)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (!app->router || zmq_getsockopt(app->router, ZMQ_EVENTS, &ev, &len) < 0) return 0;
    return ev & ZMQ_POLLIN;
}

static void kick(gw_app *app)
{
    if (zmq_readable(app)) {
        if (!ev_is_active(&app->zidle)) ev_idle_start(app->loop, &app->zidle);
    } else if (ev_is_active(&app->zidle)) {
        ev_idle_stop(app->loop, &app->zidle);
    }
}

static void zio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    gw_app *app = w->data;
    drain(app);
    kick(app);
}

static void zidle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    gw_app *app = w->data;
    drain(app);
    kick(app);
}

static void zprep_cb(struct ev_loop *loop, ev_prepare *w, int revents) { kick(w->data); }

static void heartbeat_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_app *app = t->data;
    double now = ev_now(loop);
    double limit = 3.0 * app->opt.heartbeat_ms / 1000.0;
    gw_worker *w, *tmp;
    HASH_ITER(hh, app->workers, w, tmp)
    {
        if (now - w->last_seen > limit) {
            long pid = w->pid;
            int hung = w->last_seen >= 0, w_spawned = w->spawned;
            gw_worker_drop(app, w, hung ? "missed heartbeats" : "unreachable");
            /* A hung worker we started is killed; child_cb restarts it. */
            for (gw_child *c = app->children; hung && w_spawned && c; c = c->next)
                if (c->pid > 0 && (long)c->pid == pid) {
                    log_warn("worker for %s (pid %ld) is hung: killing it", c->nsp, pid);
                    kill(c->pid, SIGKILL);
                }
            continue;
        }
        if (revents & EV_TIMER && t->repeat > 0) w->ping_sent = ev_time(), send_simple(app, w, IPC_PING, NULL);
    }
}

/* ---- spawned workers -------------------------------------------------------- */

static int spawn(gw_app *app, gw_child *c);

/* A --worker pattern: namespaces it matches get a process each. */
typedef struct gw_template {
    struct gw_template *next;
    char *pattern;
    pcre2_code *re;
    char *command;
} gw_template;

static gw_child *child_new(gw_app *app, const char *nsp, const char *command, int dynamic);

static gw_template *template_new(const gw_worker_spec *ws)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)ws->nsp, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        log_error("--worker pattern %s: %s at offset %zu", ws->nsp, (char *)msg, (size_t)off);
        return NULL;
    }
    gw_template *t = xcalloc(1, sizeof *t);
    t->pattern = xstrdup(ws->nsp);
    t->re = re;
    t->command = xstrdup(ws->command);
    return t;
}

static void template_free(gw_template *t)
{
    pcre2_code_free(t->re);
    free(t->pattern);
    free(t->command);
    free(t);
}
static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents);

int gw_router_spawn_dynamic(gw_app *app, const char *nsp, size_t len)
{
    for (gw_template *t = app->templates; t; t = t->next) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
        int rc = pcre2_match(t->re, (PCRE2_SPTR)nsp, len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc < 0) continue;
        char *name = xstrndup(nsp, len);
        if (app->n_dynamic >= app->opt.max_dynamic) {
            log_warn("namespace %s matches %s but %zu dynamic workers already run; refused", name,
                     t->pattern, app->n_dynamic);
            free(name);
            return 0;
        }
        gw_child *c = child_new(app, name, t->command, 1);
        c->tmpl = t;
        log_info("namespace %s matches %s: starting a worker for it", name, t->pattern);
        free(name);
        if (spawn(app, c) < 0) {
            c->given_up = 1;
            return 0;
        }
        return 1;
    }
    return 0;
}

/* Stop the dynamic workers whose namespace has had no socket for a while. */
static void reaper_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_app *app = t->data;
    double now = ev_now(loop), idle = app->opt.dynamic_idle_ms / 1000.0;
    for (gw_child *c = app->children; c; c = c->next) {
        if ((!c->dynamic && !c->draining) || c->retiring || c->pid <= 0) continue;
        gw_nsp *nsp = gw_nsp_get(app, c->nsp, strlen(c->nsp), 0);
        if (nsp && nsp->n_sockets > 0) continue;
        if (!c->draining && nsp && now - nsp->last_active < idle) continue;
        sio_socket *s, *tmp;
        int pending = 0;
        HASH_ITER(hh, app->sockets, s, tmp) if (s->nsp == nsp) pending = 1;
        if (pending) continue;
        if (c->draining)
            log_info("namespace %s drained: stopping its worker (pid %d)", c->nsp, (int)c->pid);
        else
            log_info("namespace %s unused for %u ms: stopping its worker (pid %d)", c->nsp,
                     app->opt.dynamic_idle_ms, (int)c->pid);
        c->retiring = 1;
        /* From now on the namespace has no worker: a new CONNECT starts a
         * fresh process instead of reaching this one on its way out. */
        if (nsp && nsp->worker) {
            send_simple(app, nsp->worker, IPC_BYE, "{\"reason\":\"namespace retired\"}");
            nsp->worker->nsp = NULL;
            nsp->worker = NULL;
        }
        kill(c->pid, SIGTERM);
    }
}

int gw_router_pattern_matches(gw_app *app, const char *nsp, size_t len)
{
    for (gw_template *t = app->templates; t; t = t->next) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
        int rc = pcre2_match(t->re, (PCRE2_SPTR)nsp, len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc >= 0) return 1;
    }
    return 0;
}

int gw_router_given_up(gw_app *app, gw_nsp *nsp)
{
    for (gw_child *c = app->children; c; c = c->next)
        if (c->given_up && !c->retiring && !c->draining && strcmp(c->nsp, nsp->name) == 0)
            return 1;
    return 0;
}

int gw_router_worker_expected(gw_app *app, gw_nsp *nsp)
{
    if (app->shutting_down) return 0;
    if (gw_auth_in_grace(app, nsp)) return 1;
    for (gw_child *c = app->children; c; c = c->next)
        if (!c->given_up && !c->retiring && !c->draining && strcmp(c->nsp, nsp->name) == 0)
            return 1;
    return 0;
}

static gw_child *child_new(gw_app *app, const char *nsp, const char *command, int dynamic)
{
    gw_child *c = xcalloc(1, sizeof *c);
    c->app = app;
    c->nsp = xstrdup(nsp);
    c->command = xstrdup(command);
    c->dynamic = dynamic;
    c->hello_seen = dynamic; /* the listener never waits for dynamic ones */
    ev_init(&c->restart, restart_cb);
    c->restart.data = c;
    c->next = app->children;
    app->children = c;
    if (dynamic) app->n_dynamic++;
    return c;
}

static void child_free(gw_app *app, gw_child *c)
{
    for (gw_child **pp = &app->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c->dynamic) app->n_dynamic--;
    ev_child_stop(app->loop, &c->watcher);
    ev_timer_stop(app->loop, &c->restart);
    gw_wout_destroy(&c->out);
    free(c->nsp);
    free(c->command);
    free(c);
}

static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_child *c = t->data;
    if (c->app->shutting_down || c->pid > 0) return;
    gw_metrics_nsp(c->nsp)->restarts++;
    spawn(c->app, c);
}

/* Decide whether and when to start an exited worker again. */
static void schedule_restart(gw_app *app, gw_child *c)
{
    double now = ev_now(app->loop);
    /* Exits are counted in a window that opens at the first exit and lasts
     * crash_window_ms; a worker that stays up longer starts a new one. */
    if (c->n_crashes == 0 || now - c->window_start > app->opt.crash_window_ms / 1000.0) {
        c->window_start = now;
        c->n_crashes = 0;
    }
    unsigned recent = ++c->n_crashes, limit = app->opt.crash_limit;
    if (limit && recent >= limit) {
        c->given_up = 1;
        gw_metrics_nsp(c->nsp)->crash_loops++;
        gw_nsp *nsp = gw_nsp_get(app, c->nsp, strlen(c->nsp), 0);
        size_t n = nsp ? nsp->n_sockets : 0;
        if (nsp && !nsp->worker) sio_worker_gone(app, nsp, "crash loop");
        log_error("worker for %s exited %u times within %u ms: crash loop, not restarting it until "
                  "SIGHUP; %zu connected socket(s) were disconnected and new CONNECTs to %s get "
                  "CONNECT_ERROR \"Namespace unavailable\"",
                  c->nsp, recent, app->opt.crash_window_ms, n, c->nsp);
        return;
    }
    /* A worker that ran for a while starts again from the smallest delay. */
    if (now - c->started > app->opt.crash_window_ms / 1000.0 || c->backoff_ms == 0)
        c->backoff_ms = app->opt.restart_min_ms;
    else
        c->backoff_ms = c->backoff_ms * 2 > app->opt.restart_max_ms ? app->opt.restart_max_ms
                                                                     : c->backoff_ms * 2;
    /* While its sockets are kept, each second of waiting fills their holds
     * (rule 35): past the bound they are disconnected.  So the delay stays
     * short then; a worker that keeps dying reaches the crash limit sooner,
     * and poison packets are quarantined after two deaths (rule 37). */
    if (c->backoff_ms > GW_RESTART_HELD_MAX_MS && gw_nsp_holds_sockets(app, c->nsp)) {
        c->backoff_ms = app->opt.restart_min_ms > GW_RESTART_HELD_MAX_MS ? app->opt.restart_min_ms
                                                                        : GW_RESTART_HELD_MAX_MS;
    }
    log_info("restarting worker for %s in %u ms", c->nsp, c->backoff_ms);
    ev_timer_set(&c->restart, c->backoff_ms / 1000.0, 0);
    ev_timer_start(app->loop, &c->restart);
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    gw_child *c = w->data;
    gw_app *app = c->app;
    ev_child_stop(loop, w);
    gw_wout_destroy(&c->out); /* its last words come before the exit line */
    int st = w->rstatus;
    if (WIFSIGNALED(st))
        gw_log_fields(GW_LOG_WARN, GW_FIELDS("nsp", c->nsp, "pid", GW_FNUM(c->pid), "signal", GW_FNUM(WTERMSIG(st))),
                      "worker for %s (pid %d) killed by signal %d", c->nsp, (int)c->pid, WTERMSIG(st));
    else
        gw_log_fields(GW_LOG_WARN, GW_FIELDS("nsp", c->nsp, "pid", GW_FNUM(c->pid), "status", GW_FNUM(WEXITSTATUS(st))),
                      "worker for %s (pid %d) exited with status %d", c->nsp, (int)c->pid, WEXITSTATUS(st));
    gw_worker *wk, *tmp;
    long dead = (long)c->pid;
    c->pid = 0; /* reaped: never signal that number again (wake_dismissed) */
    c->key_hex[0] = '\0'; /* its key dies with it */
    HASH_ITER(hh, app->workers, wk, tmp) if (wk->spawned && wk->pid == dead)
        gw_worker_drop(app, wk, "worker process exited");
    c->hello_seen = 1; /* do not hold the listener for a dead worker */
    if (!app->listening) maybe_listen(app);
    if (c->retiring || c->draining) {
        child_free(app, c); /* stopped on purpose, or leaving anyway */
        return;
    }
    if (app->shutting_down) return;
    if (c->bye_sent) {
        /* We dismissed it (rule 12): leaving then is what it should do. */
        gw_nsp *nsp = gw_nsp_get(app, c->nsp, strlen(c->nsp), 0);
        log_info("worker for %s exited after BYE: not counted as a crash%s", c->nsp,
                 nsp && nsp->worker ? "; another worker serves the namespace" : "");
        if (nsp && nsp->worker) return; /* wake_dismissed restarts it when needed */
        c->bye_sent = 0;
        ev_timer_set(&c->restart, app->opt.restart_min_ms / 1000.0, 0);
        ev_timer_start(app->loop, &c->restart);
        return;
    }
    schedule_restart(app, c);
}

static int spawn(gw_app *app, gw_child *c)
{
    /* The gateway has threads (libzmq's, FastCGI's): between fork() and
     * exec() the child may only make async-signal-safe calls, so the
     * environment and the command line are built here, before forking
     * (a malloc or setenv in the child can deadlock on a lock another
     * thread held at fork time). */
    extern char **environ;
    size_t n = 0;
    while (environ[n]) n++;
    char **envp = xcalloc(n + 7, sizeof *envp);
    gw_auth_new_spawn_key(c); /* rule 10a: this process's own key, for its namespace only */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "IOGATE_ENDPOINT=", 16) != 0 &&
            strncmp(environ[i], "IOGATE_NAMESPACE=", 17) != 0 &&
            strncmp(environ[i], "IOGATE_GATEWAY=", 15) != 0 &&
            strncmp(environ[i], "IOGATE_GATEWAY_PID=", 19) != 0 &&
            strncmp(environ[i], "IOGATE_WORKER_KEY=", 18) != 0 &&
            strncmp(environ[i], "IOGATE_CURVE_SERVERKEY=", 23) != 0)
            envp[k++] = environ[i];
    /* CURVE (PROTOCOL.md §1): the server key for the worker libraries;
     * without CURVE none is passed on, not even an inherited one. */
    char curvenv[24 + sizeof app->curve_pub];
    snprintf(curvenv, sizeof curvenv, "IOGATE_CURVE_SERVERKEY=%s", app->curve_pub);
    if (app->curve_pub[0]) envp[k++] = curvenv;
    /* IOGATE_GATEWAY_PID tells the worker libraries they were spawned by
     * this process, so they end with it (PR_SET_PDEATHSIG) instead of
     * retrying HELLO for ever under PID 1 after a kill -9 of the gateway. */
    char pidenv[40];
    snprintf(pidenv, sizeof pidenv, "IOGATE_GATEWAY_PID=%ld", (long)getpid());
    envp[k++] = pidenv;
    char *own[4];
    size_t l0 = strlen(app->endpoint) + 17, l1 = strlen(c->nsp) + 18, l2 = strlen(app->incarnation) + 16;
    own[0] = xmalloc(l0);
    snprintf(own[0], l0, "IOGATE_ENDPOINT=%s", app->endpoint);
    own[1] = xmalloc(l1);
    snprintf(own[1], l1, "IOGATE_NAMESPACE=%s", c->nsp);
    own[2] = xmalloc(l2);
    snprintf(own[2], l2, "IOGATE_GATEWAY=%s", app->incarnation);
    envp[k++] = own[0];
    envp[k++] = own[1];
    envp[k++] = own[2];
    own[3] = xmalloc(18 + GW_KEY_HEX + 1);
    snprintf(own[3], 18 + GW_KEY_HEX + 1, "IOGATE_WORKER_KEY=%s", c->key_hex);
    envp[k++] = own[3];
    envp[k] = NULL;
    /* "exec" so the worker replaces the shell: its pid is the one we
     * watch, signal and match against HELLO.  "env" (which execs in turn,
     * same pid) lets the command start with VAR=value words, which plain
     * "exec" would take for the program's name. */
    size_t ll = strlen(c->command) + 10;
    char *line = xmalloc(ll);
    snprintf(line, ll, "exec env %s", c->command);
    char *argv[] = {"sh", "-c", line, NULL};
    sigset_t none;
    sigemptyset(&none);
    gw_wout *out = gw_wout_new(app->loop, c->nsp);

    pid_t pid = fork();
    if (pid == 0) {
        if (out) gw_wout_child(out);
        /* The worker starts with default signal dispositions and mask. */
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    int e = errno;
    free(line);
    for (int i = 0; i < 4; i++) free(own[i]);
    free(envp);
    if (pid < 0) {
        log_error("fork for worker %s: %s", c->nsp, strerror(e));
        gw_wout_destroy(&out);
        return -1;
    }
    gw_wout_destroy(&c->out);
    if (out) gw_wout_started(out, pid);
    c->out = out;
    c->pid = pid;
    c->started = ev_now(app->loop);
    ev_child_init(&c->watcher, child_cb, pid, 0);
    c->watcher.data = c;
    ev_child_start(app->loop, &c->watcher);
    gw_log_fields(GW_LOG_INFO, GW_FIELDS("nsp", c->nsp, "pid", GW_FNUM(pid), "command", c->command),
                  "started worker for %s (pid %d): %s", c->nsp, (int)pid, c->command);
    return 0;
}

static void startup_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_app *app = t->data;
    for (gw_child *c = app->children; c; c = c->next)
        if (!c->hello_seen) log_warn("worker for %s has not said HELLO yet; listening anyway", c->nsp);
    sio_app_start_listening(app);
}

int gw_router_start(gw_app *app)
{
    gw_random_id(app->incarnation);
    /* Keys first: a bad key file stops the start before anything else. */
    if (gw_auth_start(app) < 0) {
        gw_auth_stop(app);
        return -1;
    }
    if (app->opt.ipc_endpoint) {
        app->endpoint = xstrdup(app->opt.ipc_endpoint);
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
        app->rundir = xstrdup(tmpl);
        char ep[600];
        snprintf(ep, sizeof ep, "ipc://%s/workers.sock", tmpl);
        app->endpoint = xstrdup(ep);
    }
    app->zctx = zmq_ctx_new();
    app->router = zmq_socket(app->zctx, ZMQ_ROUTER);
    int one = 1, zero = 0, hwm = app->opt.sndhwm;
    zmq_setsockopt(app->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(app->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(app->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(app->router, ZMQ_LINGER, &zero, sizeof zero);
    /* CURVE (PROTOCOL.md §1): workers we spawn get the server key in the
     * environment spawn() builds for them. */
    if (app->opt.ipc_curve_secret) {
        char secret[41], pub[41];
        if (ipc_curve_read_key(app->opt.ipc_curve_secret, secret) < 0 ||
            ipc_curve_server(app->router, secret, pub) < 0) {
            log_error("--ipc-curve-secret %s: %s", app->opt.ipc_curve_secret,
                      errno == EINVAL ? "not a Z85 CURVE secret key (40 characters)" : strerror(errno));
            memset(secret, 0, sizeof secret);
            return -1;
        }
        memset(secret, 0, sizeof secret);
        memcpy(app->curve_pub, pub, sizeof app->curve_pub);
        log_info("IPC encrypted with CURVE; server public key %s", pub);
    }
    if (zmq_bind(app->router, app->endpoint) < 0) {
        log_error("cannot bind IPC endpoint %s: %s", app->endpoint, zmq_strerror(errno));
        return -1;
    }
    log_info("workers connect to %s", app->endpoint);
    int fd;
    size_t len = sizeof fd;
    zmq_getsockopt(app->router, ZMQ_FD, &fd, &len);
    ev_io_init(&app->zio, zio_cb, fd, EV_READ);
    app->zio.data = app;
    ev_io_start(app->loop, &app->zio);
    ev_prepare_init(&app->zprep, zprep_cb);
    app->zprep.data = app;
    ev_prepare_start(app->loop, &app->zprep);
    ev_idle_init(&app->zidle, zidle_cb);
    app->zidle.data = app;
    double hb = app->opt.heartbeat_ms / 1000.0;
    ev_timer_init(&app->heartbeat, heartbeat_cb, hb, hb);
    app->heartbeat.data = app;
    ev_timer_start(app->loop, &app->heartbeat);

    gw_template **tail = &app->templates;
    for (size_t i = 0; i < app->opt.n_workers; i++) {
        const gw_worker_spec *ws = &app->opt.workers[i];
        if (ws->nsp[0] == '^') {
            gw_template *t = template_new(ws);
            if (!t) return -1;
            *tail = t;
            tail = &t->next;
            continue;
        }
        gw_child *c = child_new(app, ws->nsp, ws->command, 0);
        if (spawn(app, c) < 0) c->hello_seen = 1;
    }
    /* Retires idle dynamic workers and drained ones. */
    double every = app->opt.dynamic_idle_ms / 4000.0;
    if (every > 1.0) every = 1.0;
    ev_timer_init(&app->reaper, reaper_cb, every, every);
    app->reaper.data = app;
    ev_timer_start(app->loop, &app->reaper);
    if (app->children) {
        ev_timer_init(&app->startup, startup_cb, app->opt.startup_wait_ms / 1000.0, 0);
        app->startup.data = app;
        ev_timer_start(app->loop, &app->startup);
    } else {
        sio_app_start_listening(app);
    }
    return 0;
}

void gw_router_stop(gw_app *app)
{
    struct ev_loop *loop = app->loop;
    gw_worker *w, *tmp;
    HASH_ITER(hh, app->workers, w, tmp)
    {
        send_simple(app, w, IPC_BYE, "{\"reason\":\"server shutting down\"}");
        if (w->nsp) w->nsp->worker = NULL;
        sio_worker_processed(app, w, UINT64_MAX);
        HASH_DEL(app->workers, w);
        free(w->rid);
        free(w);
    }
    /* Stop the workers we started: SIGTERM, up to STOP_WAIT_MS, then
     * SIGKILL.  The loop is over: poll their exits every STOP_POLL_MS. */
    for (gw_child *c = app->children; c; c = c->next)
        if (c->pid > 0) kill(c->pid, SIGTERM);
    for (int waited = 0;; waited += STOP_POLL_MS) {
        int alive = 0;
        for (gw_child *c = app->children; c; c = c->next) {
            gw_wout_drain(c->out); /* a worker blocked writing its last lines could not exit */
            if (c->pid <= 0) continue;
            if (waitpid(c->pid, NULL, WNOHANG) == c->pid)
                c->pid = 0;
            else
                alive++;
        }
        if (!alive || waited >= STOP_WAIT_MS) break;
        usleep(STOP_POLL_MS * 1000);
    }
    while (app->children) {
        gw_child *c = app->children;
        if (c->pid > 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
        }
        child_free(app, c);
    }
    while (app->templates) {
        gw_template *t = app->templates;
        app->templates = t->next;
        template_free(t);
    }
    ev_timer_stop(loop, &app->reaper);
    ev_io_stop(loop, &app->zio);
    ev_prepare_stop(loop, &app->zprep);
    ev_idle_stop(loop, &app->zidle);
    ev_timer_stop(loop, &app->heartbeat);
    ev_timer_stop(loop, &app->startup);
    gw_auth_stop(app);
    ipc_frames_close(&app->frames);
    if (app->router) zmq_close(app->router);
    app->router = NULL;
    if (app->zctx) zmq_ctx_term(app->zctx);
    app->zctx = NULL;
    if (app->rundir) {
        char sock[600];
        snprintf(sock, sizeof sock, "%s/workers.sock", app->rundir);
        unlink(sock);
        rmdir(app->rundir);
        free(app->rundir);
        app->rundir = NULL;
    }
    free(app->endpoint);
    app->endpoint = NULL;
}

/* ---- SIGHUP -------------------------------------------------------------- */

static void drain_child(gw_app *app, gw_child *c, const char *why)
{
    if (c->draining || c->retiring) return;
    c->draining = 1;
    ev_timer_stop(app->loop, &c->restart);
    gw_nsp *nsp = gw_nsp_get(app, c->nsp, strlen(c->nsp), 0);
    if (nsp) nsp->draining = 1;
    if (c->pid <= 0) c->retiring = 1; /* nothing running: nothing to wait for */
    log_info("namespace %s %s: draining (no new sockets; its worker stops when empty)", c->nsp,
             why);
}

void gw_app_reload(gw_app *app, const gw_worker_spec *specs, size_t n)
{
    if (app->shutting_down) return;
    /* Static namespaces: removed ones drain, changed commands restart. */
    for (gw_child *c = app->children; c; c = c->next) {
        if (c->dynamic || c->draining || c->retiring) continue;
        const gw_worker_spec *ws = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(specs[i].nsp, c->nsp) == 0) ws = &specs[i];
        if (!ws) {
            drain_child(app, c, "removed from the configuration");
        } else if (c->given_up && strcmp(ws->command, c->command) == 0) {
            /* Given up after a crash loop: SIGHUP is the operator's way of
             * saying "try again", with a clean crash history. */
            log_info("namespace %s: starting its given-up worker again", c->nsp);
            c->given_up = 0;
            c->n_crashes = 0;
            c->backoff_ms = 0;
            if (c->pid <= 0 && spawn(app, c) < 0) c->given_up = 1;
        } else if (strcmp(ws->command, c->command) != 0) {
            log_info("namespace %s: command changed to %s; restarting its worker", c->nsp,
                     ws->command);
            free(c->command);
            c->command = xstrdup(ws->command);
            c->given_up = 0;
            c->n_crashes = 0;
            c->backoff_ms = 0;
            if (c->pid > 0)
                kill(c->pid, SIGTERM); /* child_cb restarts it; sockets are recovered */
            else
                spawn(app, c);
        }
    }
    /* Patterns: removed ones stop matching and their namespaces drain. */
    for (gw_template **pp = &app->templates; *pp;) {
        gw_template *t = *pp;
        int keep = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(specs[i].nsp, t->pattern) == 0 && strcmp(specs[i].command, t->command) == 0)
                keep = 1;
        if (keep) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        for (gw_child *c = app->children; c; c = c->next)
            if (c->tmpl == t) {
                c->tmpl = NULL;
                drain_child(app, c, "no longer matched by a pattern");
            }
        log_info("pattern %s removed", t->pattern);
        template_free(t);
    }
    /* Added namespaces and patterns start. */
    for (size_t i = 0; i < n; i++) {
        const gw_worker_spec *ws = &specs[i];
        if (ws->nsp[0] == '^') {
            int have = 0;
            gw_template **tail = &app->templates;
            for (gw_template *t = app->templates; t; t = t->next) {
                if (strcmp(t->pattern, ws->nsp) == 0) have = 1;
                tail = &t->next;
            }
            if (!have) {
                gw_template *t = template_new(ws);
                if (t) {
                    *tail = t;
                    log_info("pattern %s added", ws->nsp);
                }
            }
            continue;
        }
        int have = 0;
        for (gw_child *c = app->children; c; c = c->next)
            if (!c->dynamic && !c->draining && !c->retiring && strcmp(c->nsp, ws->nsp) == 0)
                have = 1;
        if (have) continue;
        gw_nsp *nsp = gw_nsp_get(app, ws->nsp, strlen(ws->nsp), 1);
        nsp->draining = 0;
        gw_child *c = child_new(app, ws->nsp, ws->command, 0);
        c->hello_seen = 1; /* already listening */
        log_info("namespace %s added", ws->nsp);
        spawn(app, c);
    }
}
