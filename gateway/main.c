/* main.c — the iogate gateway process: parse the command line, pick the
 * application on top of Engine.IO (one switch, in start_app), run the loop,
 * shut down cleanly on SIGINT/SIGTERM.  Exit codes: 0 clean, 1 runtime
 * failure (e.g. cannot listen), 2 bad command line. */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "echo.h"
#include "eio.h"
#include "gw_app.h"
#include "metrics.h"
#include "tls.h"
#include "util.h"

#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

/* --fastcgi: every request in progress costs three descriptors (the web
 * server's connection and both ends of the bridge): use all the hard limit
 * allows. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            log_debug("fastcgi: descriptor limit raised to %llu", (unsigned long long)rl.rlim_cur);
    }
}

static eio_server *g_srv; /* --echo mode */
static gw_app *g_app;     /* Socket.IO mode */
static gw_worker_spec *g_specs;
static gw_admin *g_admin; /* --admin-listen */
static tls_ctx *g_tls;    /* --tls-cert/--tls-key */

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    log_info("signal %d: shutting down", w->signum);
    if (g_app) gw_app_shutdown(g_app);
    if (g_srv) eio_server_shutdown(g_srv);
    ev_break(loop, EVBREAK_ALL);
}

/* SIGUSR1/SIGUSR2 have no use here; their default action would end the
 * gateway without a word (and orphan its clients), so they are logged and
 * otherwise ignored.  A libev watcher rather than SIG_IGN: an ignored
 * disposition would be inherited by the workers across exec. */
static void on_usr(struct ev_loop *loop, ev_signal *w, int revents)
{
    log_info("signal %d ignored (SIGUSR1/SIGUSR2 have no use; SIGHUP reloads, SIGTERM stops)",
             w->signum);
}

static int g_argc;
static char **g_argv;

/* SIGHUP, TLS part: load the certificate and key again (a renewed
 * certificate, or new file names from the config file) for new
 * connections.  A file that does not load is logged and the old
 * certificate kept; turning TLS on or off needs a restart. */
static void reload_tls(const gw_config *cfg)
{
    char err[512];
    if (!g_tls != !cfg->tls_cert) {
        log_warn("SIGHUP: TLS stays %s: turning it %s needs a restart", g_tls ? "on" : "off",
                 g_tls ? "off" : "on");
        return;
    }
    if (!g_tls) return;
    if (tls_ctx_reload(g_tls, cfg->tls_cert, cfg->tls_key, err, sizeof err) < 0)
        log_error("SIGHUP: keeping the old TLS certificate: %s", err);
    else
        log_info("SIGHUP: TLS certificate reloaded from %s", cfg->tls_cert);
}

/* SIGHUP: read the command line and --config file again and apply the
 * TLS certificate and the worker list (the only settings that change
 * without a restart). */
static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    gw_config cfg;
    char err[512];
    gw_config_init(&cfg);
    if (gw_config_parse(&cfg, g_argc, g_argv, err, sizeof err) != GW_CONFIG_OK) {
        log_error("SIGHUP: configuration not reloaded: %s", err);
        gw_config_free(&cfg);
        return;
    }
    reload_tls(&cfg);
    if (!g_app) {
        gw_config_free(&cfg);
        return;
    }
    log_info("SIGHUP: reloading the worker list (%zu entries)", cfg.nworkers);
    gw_worker_spec *specs = calloc(cfg.nworkers ? cfg.nworkers : 1, sizeof *specs);
    for (size_t i = 0; specs && i < cfg.nworkers; i++) {
        specs[i].nsp = cfg.workers[i].nsp;
        specs[i].command = cfg.workers[i].cmd;
    }
    if (specs) gw_app_reload(g_app, specs, cfg.nworkers);
    free(specs);
    gw_config_free(&cfg);
}

/* THE mode switch: which layer sits on Engine.IO.  --echo: the transport
 * alone, every message sent back.  Otherwise the Socket.IO layer with its
 * workers; it opens the listener itself once the workers said HELLO. */
static int start_app(struct ev_loop *loop, gw_config *cfg)
{
    if (cfg->echo) {
        log_info("echo mode: every message is sent back, no Socket.IO");
        if (cfg->admission)
            log_warn("--admission is ignored in echo mode: there is no worker to ask");
        g_srv = eio_server_new(loop, &cfg->eio, gw_echo_handler(), NULL);
        if (!g_srv) return 1;
        if (eio_server_listen(g_srv) < 0) return 1;
        return 0;
    }
    gw_app_options opt;
    gw_app_options_defaults(&opt);
    opt.connect_timeout_ms = cfg->connect_timeout_ms;
    opt.ipc_endpoint = cfg->ipc;
    opt.redis_url = cfg->redis;
    opt.redis_key = cfg->redis_key;
    opt.redis_sharded = cfg->redis_sharded;
    opt.redis_queue = cfg->redis_queue;
    opt.ipc_curve_secret = cfg->ipc_curve_secret;
    opt.max_attachments = cfg->max_attachments;
    opt.max_depth = (int)cfg->max_depth;
    opt.heartbeat_ms = cfg->worker_heartbeat_ms;
    opt.restart_min_ms = cfg->worker_restart_ms;
    opt.restart_max_ms = cfg->worker_restart_max_ms;
    opt.dynamic_idle_ms = cfg->worker_idle_ms;
    opt.crash_limit = cfg->worker_crash_limit;
    opt.credit = cfg->worker_credit;
    opt.max_dynamic = cfg->max_dynamic;
    opt.worker_keys = (const char *const *)cfg->worker_keys;
    opt.n_worker_keys = cfg->nworker_keys;
    opt.emitter_keys = (const char *const *)cfg->emitter_keys;
    opt.n_emitter_keys = cfg->nemitter_keys;
    opt.worker_grace_ms = cfg->worker_grace_ms;
    g_specs = calloc(cfg->nworkers ? cfg->nworkers : 1, sizeof *g_specs);
    for (size_t i = 0; i < cfg->nworkers; i++) {
        g_specs[i].nsp = cfg->workers[i].nsp;
        g_specs[i].command = cfg->workers[i].cmd;
    }
    opt.workers = g_specs;
    opt.n_workers = cfg->nworkers;
    opt.recovery_window_ms = cfg->recovery_window_ms;
    opt.recovery_skip_middlewares = cfg->recovery_skip;
    static gw_recovery_spec rec[GW_CONFIG_MAX_RECOVERY]; /* lives as long as the app */
    for (size_t i = 0; i < cfg->nrecovery && i < GW_CONFIG_MAX_RECOVERY; i++) {
        rec[i].nsp = cfg->recovery[i].nsp;
        rec[i].window_ms = cfg->recovery[i].window_ms;
        rec[i].skip_middlewares = cfg->recovery[i].skip;
    }
    opt.recovery = rec;
    opt.n_recovery = cfg->nrecovery;
    g_app = gw_app_new(loop, &cfg->eio, &opt);
    return g_app ? 0 : 1;
}

int main(int argc, char **argv)
{
    gw_config cfg;
    char err[512];
    gw_config_init(&cfg);
    int r = gw_config_parse(&cfg, argc, argv, err, sizeof err);
    if (r == GW_CONFIG_HELP || r == GW_CONFIG_VERSION) {
        if (r == GW_CONFIG_HELP)
            fputs(gw_config_usage(), stdout);
        else
            printf("iogate %s\n", IOGATE_VERSION);
        gw_config_free(&cfg);
        return 0;
    }
    if (r != GW_CONFIG_OK) {
        fprintf(stderr, "iogate: %s\nTry 'iogate --help'.\n", err);
        gw_config_free(&cfg);
        return 2;
    }
    gw_log_level = cfg.log_level;
    gw_log_format = cfg.log_format;
    gw_metrics.start_time = gw_now_ms() / 1000.0;
    g_argc = argc;
    g_argv = argv;

    /* Process-wide settings, all here.  A peer that goes away while we
     * write costs an EPIPE, not the process (inherited by the workers, as
     * it always was). */
    signal(SIGPIPE, SIG_IGN);

    /* glibc gives the top of the heap back to the kernel once 128 KiB of it
     * are free, and faults it back in on the next burst: with many
     * connections churning small buffers that was half the gateway's CPU
     * (brk + page faults, measured with perf on a 1 KiB echo).  A long-lived
     * server keeps it. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 1 << 20);

    if (cfg.tls_cert) {
        g_tls = tls_ctx_new(cfg.tls_cert, cfg.tls_key, err, sizeof err);
        if (!g_tls) {
            log_error("%s", err);
            gw_config_free(&cfg);
            return 1;
        }
        cfg.eio.tls = g_tls;
    }

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    int rc = start_app(loop, &cfg);
    if (!rc && cfg.admin_host &&
        !(g_admin = gw_admin_new(loop, cfg.admin_host, cfg.admin_port, g_app, g_srv))) {
        log_error("--admin-listen %s:%d: cannot listen; stopping", cfg.admin_host, cfg.admin_port);
        if (g_app) gw_app_shutdown(g_app);
        rc = 1;
    }
    if (rc) {
        if (g_app) gw_app_destroy(&g_app);
        if (g_srv) eio_server_destroy(&g_srv);
        free(g_specs);
        tls_ctx_destroy(&g_tls);
        gw_config_free(&cfg);
        return rc;
    }

    /* After start_app: --max-connections 0 is derived from the descriptor
     * limit the server was created under (eio_server_new), as before. */
    if (cfg.eio.fastcgi) raise_nofile();

    ev_signal sigint, sigterm, sighup, sigusr1, sigusr2;
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sighup, on_hup, SIGHUP);
    ev_signal_init(&sigusr1, on_usr, SIGUSR1);
    ev_signal_init(&sigusr2, on_usr, SIGUSR2);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    ev_signal_start(loop, &sighup);
    ev_signal_start(loop, &sigusr1);
    ev_signal_start(loop, &sigusr2);
    ev_run(loop, 0);
    ev_signal_stop(loop, &sigint);
    ev_signal_stop(loop, &sigterm);
    ev_signal_stop(loop, &sighup);
    ev_signal_stop(loop, &sigusr1);
    ev_signal_stop(loop, &sigusr2);
    /* The loop stopped because the listener could not open: stop the
     * workers already started and report the failure. */
    if (g_app && gw_app_failed(g_app)) {
        gw_app_shutdown(g_app);
        rc = 1;
    }

    gw_admin_destroy(&g_admin);
    if (g_srv) eio_server_destroy(&g_srv);
    if (g_app) gw_app_destroy(&g_app);
    free(g_specs);
    tls_ctx_destroy(&g_tls);
    gw_config_free(&cfg);
    gw_metrics_free();
    ev_loop_destroy(loop);
    return rc;
}
