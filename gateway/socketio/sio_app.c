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
}

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
            gw_nsp_get(app, opt->workers[i].nsp, strlen(opt->workers[i].nsp), 1);
    app->eio = eio_server_new(loop, ecfg, &sio_client_handler, app);
    /* Bind first: a busy port or an unresolvable host ends the start-up
     * before any worker is spawned (clients wait in the backlog until the
     * workers said HELLO and sio_app_start_listening() accepts). */
    if (!app->eio || eio_server_bind(app->eio) < 0 || gw_router_start(app) < 0) {
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
    eio_server_shutdown(app->eio);
    ev_timer_stop(app->loop, &app->connect_timer);
    gw_router_stop(app);
}

void gw_app_destroy(gw_app **pa)
{
    gw_app *app = *pa;
    if (!app) return;
    if (app->eio) eio_server_destroy(&app->eio);
    sio_rec_destroy(app);
    gw_ghosts_free_all(app);
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
