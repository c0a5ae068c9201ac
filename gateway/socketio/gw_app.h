/* gw_app.h — the Socket.IO half of the gateway as main.c sees it: build it
 * on a loop over an Engine.IO configuration, shut it down, free it.  The
 * internals are in app.h. */
#ifndef IOGATE_GW_APP_H
#define IOGATE_GW_APP_H

#include <ev.h>
#include <stddef.h>

#include "eio.h"
#include "router.h" /* gw_worker_spec */

/* Connection state recovery for one namespace (-1: as for all). */
typedef struct {
    const char *nsp;
    long window_ms;
    int skip_middlewares;
} gw_recovery_spec;

typedef struct {
    unsigned connect_timeout_ms;  /* 45000: no namespace joined by then → close */
    const char *ipc_endpoint;     /* NULL → ipc://<private rundir>/workers.sock */
    const char *ipc_curve_secret; /* file with the Z85 CURVE secret key, or NULL (PROTOCOL.md §1) */
    const gw_worker_spec *workers;
    size_t n_workers;
    size_t max_attachments;   /* 10 */
    int max_depth;            /* JSON nesting accepted from clients, 32 */
    unsigned heartbeat_ms;    /* 5000: worker PING period; 3 missed = dead */
    unsigned startup_wait_ms; /* 5000: wait this long for spawned workers' HELLO */
    int sndhwm;               /* 100000 messages queued per worker */
    size_t max_dynamic;       /* 100: processes started for patterns at once */
    unsigned dynamic_idle_ms; /* 60000: a dynamic namespace's worker stops after this long unused */
    size_t credit;            /* 10000: client packets in flight per worker (sent, not PROCESSED) */
    size_t hold_max_msgs;     /* 1000: packets held per socket while its worker restarts */
    size_t hold_max_bytes; /* 1 MiB: ... and their bytes; past either, the socket is disconnected */
    unsigned restart_min_ms;  /* 100: first restart delay */
    unsigned restart_max_ms;  /* 10000: backoff cap */
    unsigned crash_limit;     /* 10 exits ... */
    unsigned crash_window_ms; /* ... within 60000 ms: give up */
    const char *redis_url;    /* --redis: join a Redis adapter cluster (ipc/REDIS.md), or NULL */
    const char *redis_key;    /* --redis-key, "socket.io" */
    int redis_sharded;        /* --redis-sharded: Redis 7 sharded pub/sub */
    size_t redis_queue;       /* 1000: messages held while Redis is away, then dropped */
    /* Who may speak for a namespace (PROTOCOL.md rules 10a-10f): "NSP=FILE" and
     * "NSP,NSP=FILE" strings as given to --worker-key / --emitter-key. */
    const char *const *worker_keys;
    size_t n_worker_keys;
    const char *const *emitter_keys;
    size_t n_emitter_keys;
    unsigned worker_grace_ms;         /* 0: heartbeat_ms + 1000 */
    unsigned recovery_window_ms;      /* 0 = off: connection state recovery (README) */
    int recovery_skip_middlewares;    /* a recovered socket skips the namespace middleware */
    const gw_recovery_spec *recovery; /* per-namespace overrides */
    size_t n_recovery;
} gw_app_options;

void gw_app_options_defaults(gw_app_options *o);

typedef struct gw_app gw_app;

/* Build the Socket.IO layer on `loop` over an Engine.IO server configured by
 * `ecfg`, bind the IPC endpoint and spawn the configured workers.  The HTTP
 * listener opens once every spawned worker said HELLO (or startup_wait_ms
 * passed), so "listening on" means ready.  NULL (logged) on failure. */
gw_app *gw_app_new(struct ev_loop *loop, const eio_config *ecfg, const gw_app_options *opt);
/* Clean shutdown: every socket gets DISCONNECT "server shutting down", then
 * workers get BYE and spawned workers SIGTERM; clients are closed. */
void gw_app_shutdown(gw_app *app);
/* Free everything; sets *app to NULL. */
void gw_app_destroy(gw_app **app);
/* SIGHUP: apply a new list of --worker specs.  Namespaces added start;
 * removed ones drain (no new CONNECTs, "Invalid namespace"; the worker is
 * stopped once its last socket has gone); a changed command restarts that
 * namespace's worker, its sockets recovered by the new one; a worker given
 * up after a crash loop starts again with a clean crash history.  Patterns
 * likewise.  The specs are copied. */
void gw_app_reload(gw_app *app, const gw_worker_spec *specs, size_t n);
/* 1 if the app could not start listening and the loop was stopped for it
 * (main then shuts down and exits 1). */
int gw_app_failed(const gw_app *app);
/* The endpoint workers connect to. */
const char *gw_app_endpoint(const gw_app *app);

#endif
