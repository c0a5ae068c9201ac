/* router.h — the workers layer: the ZeroMQ ROUTER the workers connect to,
 * their registry and heartbeats (router.c), who may speak for a namespace
 * (authority.c) and the processes behind --worker (supervisor.c).
 *
 * Below the Socket.IO layer: it knows namespaces by name only.  The layer
 * above owns a gw_router and hears what happens through a gw_router_handler
 * (a worker arrived or is gone, a message came, ...); it asks through the
 * gw_router_* and gw_sup_* functions.
 *
 * A worker connection (gw_worker), one lifecycle (router.c):
 *
 *   (NEW) HELLO accepted ─► SERVING ──(BYE | missed heartbeats | unreachable |
 *        │               │      replaced by a new HELLO | process exited)──► freed
 *        │               └─(namespace retired: BYE sent)─► RETIRED ──(any of those)──► freed
 *        └─ role emitter ─► EMITTER ──(same)──► freed
 *
 * Only a SERVING connection is in the served table (one per namespace) and
 * gets client packets; an EMITTER never serves; a RETIRED one is told
 * "HELLO first" for everything but BYE/PING/PONG/PROCESSED.
 */
#ifndef IOGATE_ROUTER_H
#define IOGATE_ROUTER_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#include "ipc.h"

/* A namespace and the command serving it.  A namespace starting with '^'
 * is a pattern (PCRE2): the first CONNECT to a namespace it matches starts
 * one process of `command` for that namespace (dynamic namespaces). */
typedef struct {
    const char *nsp;     /* "/chat", or a pattern like "^/room-\d+$" */
    const char *command; /* run through /bin/sh -c */
} gw_worker_spec;

/* What the workers layer is configured with (copied from gw_app_options;
 * the meaning and defaults of each field are there). */
typedef struct {
    const char *ipc_endpoint;
    const char *ipc_curve_secret;
    const gw_worker_spec *workers;
    size_t n_workers;
    unsigned heartbeat_ms;
    unsigned startup_wait_ms;
    int sndhwm;
    size_t max_dynamic;
    unsigned dynamic_idle_ms;
    unsigned restart_min_ms;
    unsigned restart_max_ms;
    unsigned crash_limit;
    unsigned crash_window_ms;
    const char *const *worker_keys;
    size_t n_worker_keys;
    const char *const *emitter_keys;
    size_t n_emitter_keys;
    unsigned worker_grace_ms;
} gw_router_options;

typedef struct gw_router gw_router;
typedef struct gw_worker gw_worker;
typedef struct gw_child gw_child;

/* Connection events a worker subscribed to in its HELLO (conn_events). */
enum {
    CONN_EV_UPGRADE = 1,
    CONN_EV_PACKET = 2,
    CONN_EV_PACKET_CREATE = 4,
    CONN_EV_DRAIN = 8,
    CONN_EV_CLOSE = 16,
};

typedef enum {
    GW_WORKER_NEW,     /* being registered by its HELLO (router.c only) */
    GW_WORKER_SERVING, /* in gw_router.served: its namespace's worker */
    GW_WORKER_RETIRED, /* its namespace was retired idle: BYE sent */
    GW_WORKER_EMITTER, /* role emitter (PROTOCOL.md rule 10d): serves nothing */
} gw_worker_state;

struct gw_worker {
    gw_worker_state state;
    char *name;         /* the namespace it serves (NULL: an emitter) */
    struct gw_nsp *nsp; /* the layer above's handle for it: set and read there only */
    /* Client packets in flight (sent, not yet PROCESSED): the layer above's. */
    uint64_t next_seq; /* seq of the next EVENT/ACK sent */
    struct gw_retained *ret_head, *ret_tail;
    size_t n_ret;
    int slow;  /* over its credit (logged once) */
    char *rid; /* ZeroMQ routing id */
    size_t rid_len;
    char incarnation[64];
    long pid;
    unsigned conn_events;
    double last_seen;              /* ev_now */
    int spawned;                   /* authenticated by the key of a child we spawned: pid is ours */
    const struct gw_authkey *ekey; /* the emitter key it presented */
    double ping_sent, rtt;         /* ev_time of our last PING; seconds to its PONG (-1 none yet) */
    UT_hash_handle hh;             /* gw_router.workers, by rid */
    UT_hash_handle hh_served;      /* gw_router.served, by name (SERVING only) */
};

/* What the layer above hears; ud is gw_router_new's. */
typedef struct {
    /* Every spawned worker said HELLO (or startup_wait_ms passed): listen. */
    void (*on_ready)(void *ud);
    /* w (SERVING) serves w->name now. */
    void (*on_worker_arrived)(void *ud, gw_worker *w);
    /* w no longer serves its namespace: its packets in flight go back to
     * their sockets, which wait for the next worker or go.  why is NULL
     * when the namespace was retired idle (nothing waits, no log). */
    void (*on_worker_gone)(void *ud, gw_worker *w, const char *why);
    /* w handled every client packet up to seq (UINT64_MAX: w is freed). */
    void (*on_processed)(void *ud, gw_worker *w, uint64_t seq);
    /* A message of SERVING w for its namespace (not HELLO, PING, PONG,
     * PROCESSED, BYE), checked by ipc_decode. */
    void (*on_msg)(void *ud, gw_worker *w, const ipc_msg *m);
    /* An EMIT/BROADCAST an emitter may send into namespace m->nsp. */
    void (*on_emitter_msg)(void *ud, gw_worker *w, const ipc_msg *m);
    /* supervisor.c and authority.c ask about a namespace by name: */
    /* 1 if it has sockets (connected or waiting); else 0 and *last_active
     * (ev_now of its last socket change; very old when it is unknown). */
    int (*nsp_in_use)(void *ud, const char *nsp, double *last_active);
    /* Whether it has sockets kept for its next worker (rule 33). */
    int (*nsp_holds_sockets)(void *ud, const char *nsp);
    /* A worker is expected for it: it exists (and takes CONNECTs) from now. */
    void (*nsp_expected)(void *ud, const char *nsp);
    /* Removed by a reload: no new sockets. */
    void (*nsp_draining)(void *ud, const char *nsp);
    /* Its worker was given up (crash loop) or no worker came within the
     * grace: sockets waiting for one go.  Returns how many were connected. */
    size_t (*nsp_unserved)(void *ud, const char *nsp, const char *why);
} gw_router_handler;

struct gw_router {
    struct ev_loop *loop;
    gw_router_options opt;
    const gw_router_handler *h;
    void *ud;
    int shutting_down;  /* set by the layer above when its shutdown begins */
    int ready;          /* on_ready was called */
    gw_worker *workers; /* by routing id */
    gw_worker *served;  /* SERVING ones by namespace name */
    void *zctx;
    void *router;
    char *endpoint;
    char *rundir;
    ev_io zio;
    ev_prepare zprep;
    ev_idle zidle;
    ev_timer heartbeat;
    char incarnation[IPC_ID_LEN + 1];
    char curve_pub[41]; /* with CURVE: the server public key, for spawned workers */
    ipc_frames frames;
    struct gw_auth *auth; /* keys and graces (authority.c) */
    /* supervisor.c */
    ev_timer startup;
    gw_child *children;
    struct gw_template *templates; /* --worker patterns, in order */
    size_t n_dynamic;
    ev_timer reaper; /* retires idle dynamic workers */
};

/* A router on loop for the layer above (h and ud are kept). */
gw_router *gw_router_new(struct ev_loop *loop, const gw_router_options *opt,
                         const gw_router_handler *h, void *ud);
/* Bind the endpoint, read the keys, spawn the --worker processes.  0, or
 * -1 (logged). */
int gw_router_start(gw_router *r);
/* BYE to every worker, stop the spawned ones, close the endpoint. */
void gw_router_stop(gw_router *r);
void gw_router_free(gw_router **r);
/* Send to worker w; returns 0, or -1 when the worker is gone or at its
 * high-water mark (errno EAGAIN; EHOSTUNREACH: its drop is scheduled). */
int gw_router_send(gw_router *r, gw_worker *w, ipc_type type, const char *nsp, const char *sid,
                   const char *meta, size_t meta_len, const char *data, size_t data_len,
                   const ipc_buf *att, size_t n_att);
/* Forget w (the layer above hears on_worker_gone if it served, then
 * on_processed UINT64_MAX); frees w. */
void gw_worker_drop(gw_router *r, gw_worker *w, const char *why);
/* The SERVING worker of namespace nsp, or NULL. */
gw_worker *gw_router_served(gw_router *r, const char *nsp);
/* nsp is retired: its worker (if any) gets BYE and serves it no more. */
void gw_router_retire(gw_router *r, const char *nsp);
const char *gw_router_endpoint(const gw_router *r);

#endif
