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

int gw_router_send(gw_app *app, gw_worker *w, ipc_type type, const char *nsp, const char *sid,
                   const char *meta, size_t meta_len, const char *data, size_t data_len,
                   const ipc_buf *att, size_t n_att)
{
    ipc_buf rid = {w->rid, w->rid_len};
    ipc_out m = {
        .type = type,
        .nsp = nsp,
        .nsp_len = nsp ? strlen(nsp) : 0,
        .sid = sid,
        .sid_len = sid ? strlen(sid) : 0,
        .meta = meta,
        .meta_len = meta_len,
        .data = data,
        .data_len = data_len,
        .att = att,
        .n_att = n_att,
    };
    if (ipc_send(app->router, &rid, &m, ZMQ_DONTWAIT) == 0) return 0;
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

void gw_worker_drop(gw_app *app, gw_worker *w, const char *why)
{
    if (w->nsp && w->nsp->worker == w) {
        /* What it had not handled goes back to the sockets first, so that a
         * replacement worker gets it before anything newer. */
        sio_worker_requeue(app, w);
        w->nsp->worker = NULL;
        sio_worker_gone(app, w->nsp, why);
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

static void handle_hello(gw_app *app, const ipc_buf *rid, gw_worker *w, const ipc_msg *m)
{
    json_t *ver = json_object_get(m->meta, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != IPC_PROTOCOL_VERSION) {
        send_error(app, rid, "version", "unsupported protocol version", "HELLO");
        return;
    }
    if (m->nsp.len == 0) {
        send_error(app, rid, "meta", "HELLO needs a namespace", "HELLO");
        return;
    }
    json_t *inc = json_object_get(m->meta, "incarnation");
    const char *incarnation = json_is_string(inc) ? json_string_value(inc) : "?";
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
    json_t *pid = json_object_get(m->meta, "pid");
    w->pid = json_is_integer(pid) ? (long)json_integer_value(pid) : 0;
    w->conn_events = parse_conn_events(json_object_get(m->meta, "conn_events"));
    w->last_seen = ev_now(app->loop);
    if (nsp->worker && nsp->worker != w) {
        /* Rule 12: a new HELLO for a served namespace takes it over. */
        gw_worker *old = nsp->worker;
        send_simple(app, old, IPC_BYE, "{\"reason\":\"replaced by a new worker\"}");
        gw_worker_drop(app, old, "replaced by a new worker");
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
        log_warn("bad message from worker %s: %s (%s)", w ? w->incarnation : "(new)", why, code);
        char tname[16] = "?";
        if (f->n > 2) snprintf(tname, sizeof tname, "%.*s", (int)(f->bufs[2].len < 15 ? f->bufs[2].len : 15), f->bufs[2].data);
        send_error(app, rid, code, why, tname);
        return;
    }
    if (w) w->last_seen = ev_now(app->loop);
    switch (m.type) {
    case IPC_HELLO:
        handle_hello(app, rid, w, &m);
        break;
    case IPC_PING:
        if (w) send_simple(app, w, IPC_PONG, NULL);
        break;
    case IPC_PONG:
        break;
    case IPC_PROCESSED: {
        json_t *seq = json_object_get(m.meta, "seq");
        if (w && json_is_integer(seq)) sio_worker_processed(app, w, (uint64_t)json_integer_value(seq));
        break;
    }
    case IPC_BYE:
        if (w) gw_worker_drop(app, w, "worker said BYE");
        break;
    default:
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
            int hung = w->last_seen >= 0;
            gw_worker_drop(app, w, hung ? "missed heartbeats" : "unreachable");
            /* A hung worker we started is killed; child_cb restarts it. */
            for (gw_child *c = app->children; hung && c; c = c->next)
                if (c->pid > 0 && (long)c->pid == pid) {
                    log_warn("worker for %s (pid %ld) is hung: killing it", c->nsp, pid);
                    kill(c->pid, SIGKILL);
                }
            continue;
        }
        if (revents & EV_TIMER && t->repeat > 0) send_simple(app, w, IPC_PING, NULL);
    }
}

/* ---- spawned workers -------------------------------------------------------- */

static int spawn(gw_app *app, gw_child *c);

int gw_router_worker_expected(gw_app *app, gw_nsp *nsp)
{
    if (app->shutting_down) return 0;
    for (gw_child *c = app->children; c; c = c->next)
        if (!c->given_up && strcmp(c->nsp, nsp->name) == 0) return 1;
    return 0;
}

static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_child *c = t->data;
    if (c->app->shutting_down || c->pid > 0) return;
    spawn(c->app, c);
}

/* Decide whether and when to start an exited worker again. */
static void schedule_restart(gw_app *app, gw_child *c)
{
    double now = ev_now(app->loop);
    c->crashes[c->n_crashes++ % 16] = now;
    unsigned recent = 0, limit = app->opt.crash_limit < 16 ? app->opt.crash_limit : 16;
    for (unsigned i = 0; i < 16 && i < c->n_crashes; i++)
        if (now - c->crashes[i] <= app->opt.crash_window_ms / 1000.0) recent++;
    if (limit && recent >= limit) {
        c->given_up = 1;
        gw_nsp *nsp = gw_nsp_get(app, c->nsp, strlen(c->nsp), 0);
        if (nsp && !nsp->worker) sio_worker_gone(app, nsp, "crash loop");
        log_error("worker for %s exited %u times within %u ms: crash loop, not restarting it",
                  c->nsp, recent, app->opt.crash_window_ms);
        return;
    }
    /* A worker that ran for a while starts again from the smallest delay. */
    if (now - c->started > app->opt.crash_window_ms / 1000.0 || c->backoff_ms == 0)
        c->backoff_ms = app->opt.restart_min_ms;
    else
        c->backoff_ms = c->backoff_ms * 2 > app->opt.restart_max_ms ? app->opt.restart_max_ms
                                                                     : c->backoff_ms * 2;
    log_info("restarting worker for %s in %u ms", c->nsp, c->backoff_ms);
    ev_timer_set(&c->restart, c->backoff_ms / 1000.0, 0);
    ev_timer_start(app->loop, &c->restart);
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    gw_child *c = w->data;
    gw_app *app = c->app;
    ev_child_stop(loop, w);
    int st = w->rstatus;
    if (WIFSIGNALED(st))
        log_warn("worker for %s (pid %d) killed by signal %d", c->nsp, (int)c->pid, WTERMSIG(st));
    else
        log_warn("worker for %s (pid %d) exited with status %d", c->nsp, (int)c->pid,
                 WEXITSTATUS(st));
    gw_worker *wk, *tmp;
    HASH_ITER(hh, app->workers, wk, tmp) if (wk->pid == (long)c->pid)
        gw_worker_drop(app, wk, "worker process exited");
    c->pid = 0;
    c->hello_seen = 1; /* do not hold the listener for a dead worker */
    if (!app->listening) maybe_listen(app);
    if (!app->shutting_down) schedule_restart(app, c);
}

static int spawn(gw_app *app, gw_child *c)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork for worker %s: %s", c->nsp, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setenv("IOGATE_ENDPOINT", app->endpoint, 1);
        setenv("IOGATE_NAMESPACE", c->nsp, 1);
        setenv("IOGATE_GATEWAY", app->incarnation, 1);
        /* The worker starts with default signal dispositions and mask. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        /* "exec" so the worker replaces the shell: its pid is the one we
         * watch, signal and match against HELLO. */
        size_t n = strlen(c->command) + 6;
        char *line = malloc(n);
        if (!line) _exit(127);
        snprintf(line, n, "exec %s", c->command);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    c->pid = pid;
    c->started = ev_now(app->loop);
    ev_child_init(&c->watcher, child_cb, pid, 0);
    c->watcher.data = c;
    ev_child_start(app->loop, &c->watcher);
    log_info("started worker for %s (pid %d): %s", c->nsp, (int)pid, c->command);
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

    for (size_t i = 0; i < app->opt.n_workers; i++) {
        gw_child *c = xcalloc(1, sizeof *c);
        c->app = app;
        c->nsp = xstrdup(app->opt.workers[i].nsp);
        c->command = xstrdup(app->opt.workers[i].command);
        c->next = app->children;
        app->children = c;
        ev_init(&c->restart, restart_cb);
        c->restart.data = c;
        if (spawn(app, c) < 0) c->hello_seen = 1;
    }
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
    /* Stop the workers we started: SIGTERM, up to 2 s, then SIGKILL. */
    for (gw_child *c = app->children; c; c = c->next)
        if (c->pid > 0) kill(c->pid, SIGTERM);
    for (int tries = 0; tries < 200; tries++) {
        int alive = 0;
        for (gw_child *c = app->children; c; c = c->next) {
            if (c->pid <= 0) continue;
            if (waitpid(c->pid, NULL, WNOHANG) == c->pid)
                c->pid = 0;
            else
                alive++;
        }
        if (!alive) break;
        usleep(10000);
    }
    while (app->children) {
        gw_child *c = app->children;
        app->children = c->next;
        if (c->pid > 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
        }
        ev_child_stop(loop, &c->watcher);
        ev_timer_stop(loop, &c->restart);
        free(c->nsp);
        free(c->command);
        free(c);
    }
    ev_io_stop(loop, &app->zio);
    ev_prepare_stop(loop, &app->zprep);
    ev_idle_stop(loop, &app->zidle);
    ev_timer_stop(loop, &app->heartbeat);
    ev_timer_stop(loop, &app->startup);
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
