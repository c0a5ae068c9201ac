/* main.c — the iogate gateway process: parse the command line, pick the
 * application on top of Engine.IO (one switch, in start_app), run the loop,
 * shut down cleanly on SIGINT/SIGTERM.  Exit codes: 0 clean, 1 runtime
 * failure (e.g. cannot listen), 2 bad command line. */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "echo.h"
#include "eio.h"
#include "util.h"

static eio_server *g_srv;

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    log_info("signal %d: shutting down", w->signum);
    if (g_srv) eio_server_shutdown(g_srv);
    ev_break(loop, EVBREAK_ALL);
}

/* THE mode switch: which layer sits on Engine.IO.  The Socket.IO layer
 * plugs in here (e.g. gw_app_start(loop, cfg, &srv)) once it exists. */
static int start_app(struct ev_loop *loop, gw_config *cfg, eio_server **out)
{
    if (!cfg->echo) {
        fprintf(stderr, "iogate: Socket.IO layer not built yet; run with --echo\n");
        return 2;
    }
    *out = eio_server_new(loop, &cfg->eio, gw_echo_handler(), NULL);
    return *out ? 0 : 1;
}

int main(int argc, char **argv)
{
    gw_config cfg;
    char err[512];
    gw_config_init(&cfg);
    int r = gw_config_parse(&cfg, argc, argv, err, sizeof err);
    if (r == GW_CONFIG_HELP || r == GW_CONFIG_VERSION) {
        if (r == GW_CONFIG_HELP) fputs(gw_config_usage(), stdout);
        else printf("iogate %s\n", IOGATE_VERSION);
        gw_config_free(&cfg);
        return 0;
    }
    if (r != GW_CONFIG_OK) {
        fprintf(stderr, "iogate: %s\nTry 'iogate --help'.\n", err);
        gw_config_free(&cfg);
        return 2;
    }
    gw_log_level = cfg.log_level;

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    int rc = start_app(loop, &cfg, &g_srv);
    if (rc) {
        gw_config_free(&cfg);
        return rc;
    }
    if (eio_server_listen(g_srv) < 0) {
        eio_server_destroy(&g_srv);
        gw_config_free(&cfg);
        return 1;
    }
    int v6 = strchr(cfg.host, ':') != NULL;
    log_info("listening on http://%s%s%s:%d%s", v6 ? "[" : "", cfg.host, v6 ? "]" : "",
             cfg.eio.port, cfg.echo ? " (echo mode)" : "");

    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    ev_run(loop, 0);
    ev_signal_stop(loop, &sigint);
    ev_signal_stop(loop, &sigterm);

    eio_server_destroy(&g_srv);
    gw_config_free(&cfg);
    ev_loop_destroy(loop);
    return 0;
}
