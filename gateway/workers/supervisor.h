/* supervisor.h — the processes behind --worker (supervisor.c): spawned,
 * restarted with backoff, given up after a crash loop, started per
 * namespace for --worker patterns, drained and restarted by a reload.
 * router.c tells it about HELLOs and hung workers; the Socket.IO layer asks
 * it whether a namespace's worker is expected. */
#ifndef IOGATE_SUPERVISOR_H
#define IOGATE_SUPERVISOR_H

#include <stddef.h>

typedef struct gw_app gw_app;
typedef struct gw_nsp gw_nsp;
typedef struct gw_worker gw_worker;
typedef struct gw_child gw_child;

/* Compile the --worker patterns, spawn the --worker processes and start the
 * reaper; the listener opens once they said HELLO (or the startup wait
 * passed).  0, or -1 (logged) for a pattern that does not compile. */
int gw_sup_start(gw_app *app);
/* SIGTERM the spawned workers, wait for them (SIGKILL after 2 s), free. */
void gw_sup_stop(gw_app *app);

/* Whether nsp's --worker was given up after a crash loop (its CONNECTs
 * get "Namespace unavailable" rather than "Invalid namespace"). */
int gw_sup_given_up(gw_app *app, gw_nsp *nsp);
/* Whether CONNECTs to nsp should wait for a worker (one is expected). */
int gw_sup_worker_expected(gw_app *app, gw_nsp *nsp);
/* No worker serves this namespace: if a --worker pattern matches, start
 * one for it and return 1 (the CONNECT waits for its HELLO), else 0. */
int gw_sup_spawn_dynamic(gw_app *app, const char *nsp, size_t len);
/* Whether a --worker pattern matches the namespace. */
int gw_sup_pattern_matches(gw_app *app, const char *nsp, size_t len);

/* router.c's news.  w said HELLO and serves its namespace now (child: the
 * spawned process whose key it presented, or NULL). */
void gw_sup_worker_ready(gw_app *app, gw_worker *w, gw_child *child);
/* The worker of process pid got BYE (replaced): its exit is no crash. */
void gw_sup_dismissed(gw_app *app, long pid);
/* Process pid's worker missed its heartbeats: SIGKILL it (it restarts). */
void gw_sup_kill_hung(gw_app *app, long pid);
/* nsp lost its worker: a dismissed process of it is needed again. */
void gw_sup_wake_dismissed(gw_app *app, gw_nsp *nsp);

#endif
