/* sio_app.c — the Socket.IO layer as main.c sees it (gw_app.h): build it
 * over an Engine.IO server and the workers layer, open the listener once the
 * workers are up, shut it down cleanly, free it.
 */
#include "app.h"
#include "util.h"

#include <string.h>

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

/* ---- what the workers layer tells the Socket.IO layer ---------------------- */

static void on_ready(void *ud)
{
    sio_app_start_listening(ud);
}

static void on_worker_arrived(void *ud, gw_worker *w)
{
    gw_app *app = ud;
    gw_nsp *nsp = sio_nsp_get(app, w->name, strlen(w->name), 1);
    w->nsp = nsp;
    nsp->worker = w;
    sio_worker_arrived(app, nsp);
}

static void on_worker_gone(void *ud, gw_worker *w, const char *why)
{
    gw_app *app = ud;
    gw_nsp *nsp = w->nsp;
    if (!nsp || nsp->worker != w) return;
    if (!why || app->shutting_down) {
        /* Retired idle (no sockets), or the gateway stops (they are gone
         * already): nothing waits for a next worker. */
        nsp->worker = NULL;
        if (!why) w->nsp = NULL;
        return;
    }
    sio_worker_requeue(app, w);
    nsp->worker = NULL;
    sio_worker_gone(app, nsp, why);
}

static void on_processed(void *ud, gw_worker *w, uint64_t seq)
{
    sio_worker_processed(ud, w, seq);
}

static void on_msg(void *ud, gw_worker *w, const ipc_msg *m)
{
    sio_handle_worker_msg(ud, w, m);
}

static void on_emitter_msg(void *ud, gw_worker *w, const ipc_msg *m)
{
    gw_app *app = ud;
    gw_nsp *nsp = sio_nsp_get(app, m->nsp.data, m->nsp.len, 0);
    if (!nsp) return; /* no socket there: nothing to deliver (rule 28) */
    /* The Socket.IO layer delivers for "a worker of nsp"; an emitter is one
     * for this message only, and never nsp->worker: it does not displace
     * the worker and hears nothing from clients. */
    gw_worker as = *w;
    as.nsp = nsp;
    sio_handle_worker_msg(app, &as, m);
    w->last_seen = as.last_seen;
}

static int nsp_in_use(void *ud, const char *name, double *last_active)
{
    gw_app *app = ud;
    gw_nsp *nsp = sio_nsp_get(app, name, strlen(name), 0);
    *last_active = nsp ? nsp->last_active : -1e18;
    if (!nsp) return 0;
    if (nsp->n_sockets > 0) return 1;
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp)
        if (s->nsp == nsp) return 1; /* pending */
    return 0;
}

static int nsp_holds_sockets(void *ud, const char *name)
{
    return gw_nsp_holds_sockets(ud, name);
}

static void nsp_expected(void *ud, const char *name)
{
    gw_nsp *nsp = sio_nsp_get(ud, name, strlen(name), 1);
    nsp->draining = 0;
}

static void nsp_draining(void *ud, const char *name)
{
    gw_nsp *nsp = sio_nsp_get(ud, name, strlen(name), 0);
    if (nsp) nsp->draining = 1;
}

static size_t nsp_unserved(void *ud, const char *name, const char *why)
{
    gw_app *app = ud;
    gw_nsp *nsp = sio_nsp_get(app, name, strlen(name), 0);
    size_t n = nsp ? nsp->n_sockets : 0;
    if (nsp && !nsp->worker) sio_worker_gone(app, nsp, why);
    return n;
}

static const gw_router_handler router_handler = {
    .on_ready = on_ready,
    .on_worker_arrived = on_worker_arrived,
    .on_worker_gone = on_worker_gone,
    .on_processed = on_processed,
    .on_msg = on_msg,
    .on_emitter_msg = on_emitter_msg,
    .nsp_in_use = nsp_in_use,
    .nsp_holds_sockets = nsp_holds_sockets,
    .nsp_expected = nsp_expected,
    .nsp_draining = nsp_draining,
    .nsp_unserved = nsp_unserved,
};

static void router_options(const gw_app_options *o, gw_router_options *ro)
{
    *ro = (gw_router_options){
        .ipc_endpoint = o->ipc_endpoint,
        .ipc_curve_secret = o->ipc_curve_secret,
        .workers = o->workers,
        .n_workers = o->n_workers,
        .heartbeat_ms = o->heartbeat_ms,
        .startup_wait_ms = o->startup_wait_ms,
        .sndhwm = o->sndhwm,
        .max_dynamic = o->max_dynamic,
        .dynamic_idle_ms = o->dynamic_idle_ms,
        .restart_min_ms = o->restart_min_ms,
        .restart_max_ms = o->restart_max_ms,
        .crash_limit = o->crash_limit,
        .crash_window_ms = o->crash_window_ms,
        .worker_keys = o->worker_keys,
        .n_worker_keys = o->n_worker_keys,
        .emitter_keys = o->emitter_keys,
        .n_emitter_keys = o->n_emitter_keys,
        .worker_grace_ms = o->worker_grace_ms,
    };
}

/* ---- the app -------------------------------------------------------------- */

gw_app *gw_app_new(struct ev_loop *loop, const eio_config *ecfg, const gw_app_options *opt)
{
    gw_app *app = xcalloc(1, sizeof *app);
    app->loop = loop;
    app->ecfg = *ecfg;
    app->opt = *opt;
    app->limits.max_attachments = opt->max_attachments;
    app->limits.max_depth = opt->max_depth;
    ev_init(&app->connect_timer, sio_connect_timer_cb);
    app->connect_timer.data = app;
    /* Namespaces named by --worker exist before their worker's HELLO, so a
     * CONNECT that comes first waits for it (gw_sup_worker_expected). */
    for (size_t i = 0; i < opt->n_workers; i++)
        if (opt->workers[i].nsp[0] != '^') /* patterns create theirs on demand */
            sio_nsp_get(app, opt->workers[i].nsp, strlen(opt->workers[i].nsp), 1);
    gw_router_options ro;
    router_options(opt, &ro);
    app->router = gw_router_new(loop, &ro, &router_handler, app);
    app->eio = eio_server_new(loop, ecfg, &sio_client_handler, app);
    /* Bind first: a busy port or an unresolvable host ends the start-up
     * before any worker is spawned (clients wait in the backlog until the
     * workers said HELLO and sio_app_start_listening() accepts). */
    if (!app->eio || eio_server_bind(app->eio) < 0 || gw_router_start(app->router) < 0 ||
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

int gw_app_failed(const gw_app *app)
{
    return app->failed;
}

void gw_app_shutdown(gw_app *app)
{
    if (app->shutting_down) return;
    app->shutting_down = 1;
    app->router->shutting_down = 1;
    /* Workers hear "server shutting down" for every socket first (rule 15),
     * then the clients' connections close. */
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp)
        sio_socket_remove(app, s, "server shutting down");
    sio_rec_shutdown(app);
    gw_ghosts_free_all(app);
    sio_cluster_stop(app);
    gw_bcast_acks_free_all(app);
    eio_server_shutdown(app->eio);
    ev_timer_stop(app->loop, &app->connect_timer);
    gw_router_stop(app->router);
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
    gw_router_free(&app->router);
    gw_nsp *n, *tn;
    HASH_ITER(hh, app->nsps, n, tn) {
        gw_room *r, *tr;
        HASH_ITER(hh, n->rooms, r, tr) {
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

const char *gw_app_endpoint(const gw_app *app)
{
    return gw_router_endpoint(app->router);
}

void gw_app_reload(gw_app *app, const gw_worker_spec *specs, size_t n)
{
    gw_sup_reload(app->router, specs, n);
}
