/* supervisor.h — the processes behind --worker (supervisor.c): spawned,
 * restarted with backoff, given up after a crash loop, started per
 * namespace for --worker patterns, drained and restarted by a reload.
 * router.c tells it about HELLOs and hung workers; the Socket.IO layer asks
 * it whether a namespace's worker is expected. */
#ifndef IOGATE_SUPERVISOR_H
#define IOGATE_SUPERVISOR_H

#include <ev.h>
#include <stddef.h>
#include <sys/types.h>

#include "router.h"

/* Restart delay cap while a namespace keeps sockets for its next worker. */
#define GW_RESTART_HELD_MAX_MS 500

/* A child process started for --worker, restarted when it exits: the
 * delay doubles from restart_min_ms up to restart_max_ms while it keeps
 * dying young, and after crash_limit exits within crash_window_ms the
 * gateway gives up on it (logged) until a SIGHUP or restart. */
struct gw_child {
    int dynamic;              /* started for a pattern: retired when idle */
    int retiring;             /* SIGTERM sent on purpose: do not restart */
    int draining;             /* removed by a reload: stop once its namespace is empty */
    struct gw_template *tmpl; /* the pattern a dynamic child was started for */
    ev_child watcher;
    ev_timer restart;
    gw_router *r;
    char *nsp;
    char *command;
    pid_t pid;
    int hello_seen;
    int given_up;
    unsigned backoff_ms;
    double started;      /* ev_now at the last spawn */
    double window_start; /* ev_now when the current crash window opened */
    unsigned n_crashes;  /* exits within that window */
    char key_hex[65];    /* IOGATE_WORKER_KEY of the running process (authority.c) */
    unsigned char key_digest[32];
    int bye_sent;        /* its worker got BYE: its exit is not a crash */
    struct gw_wout *out; /* its stdout/stderr pipes, re-emitted as log lines (wout.c) */
    struct gw_child *next;
};

/* Compile the --worker patterns, spawn the --worker processes and start the
 * reaper; on_ready once they said HELLO (or the startup wait passed).  0,
 * or -1 (logged) for a pattern that does not compile. */
int gw_sup_start(gw_router *r);
/* SIGTERM the spawned workers, wait for them (SIGKILL after 2 s), free. */
void gw_sup_stop(gw_router *r);
/* SIGHUP: apply a new list of --worker specs (gw_app_reload). */
void gw_sup_reload(gw_router *r, const gw_worker_spec *specs, size_t n);

/* Whether nsp's --worker was given up after a crash loop (its CONNECTs
 * get "Namespace unavailable" rather than "Invalid namespace"). */
int gw_sup_given_up(gw_router *r, const char *nsp);
/* Whether CONNECTs to nsp should wait for a worker (one is expected). */
int gw_sup_worker_expected(gw_router *r, const char *nsp);
/* No worker serves this namespace: if a --worker pattern matches, start
 * one for it and return 1 (the CONNECT waits for its HELLO), else 0. */
int gw_sup_spawn_dynamic(gw_router *r, const char *nsp, size_t len);
/* Whether a --worker pattern matches the namespace. */
int gw_sup_pattern_matches(gw_router *r, const char *nsp, size_t len);

/* router.c's news.  w said HELLO and serves its namespace now (child: the
 * spawned process whose key it presented, or NULL). */
void gw_sup_worker_ready(gw_router *r, gw_worker *w, gw_child *child);
/* The worker of process pid got BYE (replaced): its exit is no crash. */
void gw_sup_dismissed(gw_router *r, long pid);
/* Process pid's worker missed its heartbeats: SIGKILL it (it restarts). */
void gw_sup_kill_hung(gw_router *r, long pid);
/* nsp lost its worker: a dismissed process of it is needed again. */
void gw_sup_wake_dismissed(gw_router *r, const char *nsp);

/* The next restart delay (pure): from min_ms after a worker that ran
 * longer than window_ms (ran_s seconds) or at the first restart (prev_ms
 * 0), else doubled up to max_ms; capped at held_max_ms (but not below
 * min_ms) while the namespace keeps sockets for the next worker. */
unsigned gw_sup_backoff(unsigned prev_ms, double ran_s, unsigned min_ms, unsigned max_ms,
                        unsigned window_ms, int holds_sockets, unsigned held_max_ms);

#endif
