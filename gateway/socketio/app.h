/* app.h — the Socket.IO half of the gateway: clients, sockets, namespaces
 * and the routing copy of rooms, the header every socketio file shares.  It
 * talks to workers through the layer below (gw_router, router.h), which
 * calls back through the gw_router_handler in sio_app.c.  main.c sees only
 * gw_app.h.
 *
 * Data model, one loop, no threads:
 *   gw_app ── eio_server (transport, eio.h)
 *          ├─ nsps: gw_nsp by name ── worker (gw_worker*), rooms, sockets
 *          ├─ sockets: sio_socket by Socket.IO id (global: ids are random)
 *          └─ router: gw_router (router.h) ── workers: gw_worker by ZeroMQ routing id
 *   sio_client (one per Engine.IO session) ── its sio_sockets (one per nsp)
 */
#ifndef IOGATE_APP_H
#define IOGATE_APP_H

#include <ev.h>
#include <jansson.h>
#include <stdint.h>
#include <uthash.h>

#include "eio.h"
#include "ipc.h"
#include "metrics.h"
#include "sio_codec.h"
#include "sio_recovery.h"
#include "router.h"
#include "supervisor.h"

#include "gw_app.h"

struct cl_node;

/* ---- internals shared by the socketio files ----------------------------- */

typedef struct sio_client sio_client;
typedef struct sio_socket sio_socket;
typedef struct gw_nsp gw_nsp;
typedef struct gw_room gw_room;
typedef struct gw_member gw_member;
typedef struct gw_ghost gw_ghost;
typedef struct sio_rec sio_rec;             /* sio_recovery.c */
typedef struct sio_rec_store sio_rec_store; /* sio_recovery.c */

#define SIO_TOMBS 8

/* One socket's membership of one room: in the room's list and the socket's. */
struct gw_member {
    gw_room *room;
    sio_socket *sock;
    gw_member *rprev, *rnext; /* room's members (utlist DL) */
    gw_member *snext;         /* socket's rooms (utlist LL) */
};

struct gw_room {
    char *name;
    gw_nsp *nsp;
    gw_member *members;
    size_t count;
    UT_hash_handle hh;
};

/* A socket's lifecycle: one state, whose transitions are the code (sio.c,
 * sio_worker.c).  PENDING and UNSENT wait for the worker's answer to a
 * CONNECT; the other three are accepted (in nsp->sockets, sio_accepted()).
 *
 *   client CONNECT ─► PENDING (CONNECT sent) ─(ACCEPT)─► CONNECTED
 *           │            │ (REFUSE) → CONNECT_ERROR, freed
 *           │            └─(worker gone, a next one expected)─► UNSENT
 *           └─(its worker is starting)─► UNSENT ─(worker HELLO)─► PENDING
 *   CONNECTED ─(worker gone, a next one expected)─► ORPHANED (packets held)
 *   ORPHANED ─(next worker HELLO: recovered CONNECT sent)─► RECOVERING
 *   RECOVERING ─(ACCEPT: the hold replayed)─► CONNECTED
 *              ─(worker gone)─► ORPHANED    ─(REFUSE)─► freed
 *   any ─(client 41 | engine close | worker DISCONNECT | no worker expected |
 *         hold full | poison packet | shutdown)─► freed
 *
 * Every removal goes through sio_socket_remove() (sio.c). */
typedef enum {
    SOCK_PENDING,    /* CONNECT sent to the worker, no answer yet */
    SOCK_UNSENT,     /* CONNECT waits for the namespace's next worker */
    SOCK_CONNECTED,  /* accepted; its worker serves it */
    SOCK_ORPHANED,   /* accepted, its worker gone: the next one takes it back */
    SOCK_RECOVERING, /* recovered CONNECT sent to the next worker, no ACCEPT yet */
} sio_socket_state;

struct sio_socket {
    char id[IPC_ID_LEN + 1];
    sio_socket_state state;
    /* ORPHANED or RECOVERING: what the client sends is held here (bounded)
     * and replayed after the recovered CONNECT is accepted (PROTOCOL.md §4). */
    struct held_msg *held, *held_tail;
    size_t n_held, held_bytes;
    size_t n_replay, replay_bytes; /* of the hold: a dead worker's, not bounded by it */
    int quarantined;               /* a poison packet of it was not replayed: it goes (rule 37) */
    int told_polling;              /* its worker's last CONNECT said "polling" (rule 20) */
    size_t n_lost;                 /* packets dropped with its poison packet, for the log */
    json_t *auth;                  /* the CONNECT auth, kept while unsent */
    sio_rec *rec;                  /* connection state recovery on: its session (pid, log) */
    sio_rec *restore;              /* PENDING: the detached session it takes back on ACCEPT */
    gw_nsp *nsp;
    sio_client *client;
    gw_member *rooms;          /* routing copy of the socket's rooms */
    uint64_t mark;             /* broadcast dedup epoch */
    sio_socket *nprev, *nnext; /* nsp's connected sockets (utlist DL) */
    sio_socket *cnext;         /* client's sockets (utlist LL) */
    UT_hash_handle hh;         /* app->sockets by id */
};

/* Accepted by the worker side: CONNECTED, ORPHANED or RECOVERING. */
static inline int sio_accepted(const sio_socket *s)
{
    return s->state >= SOCK_CONNECTED;
}

struct gw_nsp {
    double last_active; /* ev_now of the last socket added or removed */
    char *name;
    gw_worker *worker;   /* NULL: nobody serves it now */
    int draining;        /* removed by a reload: no new sockets; worker stops when empty */
    gw_room *rooms;      /* by name */
    sio_socket *sockets; /* connected sockets */
    size_t n_sockets;
    double grace_until;  /* ev_now: CONNECTs wait for a keyed worker until then (authority.c) */
    gw_nsp_counters *mc; /* its /metrics counters (GW_NSP_M) */
    UT_hash_handle hh;
};

/* Binary packet being reassembled: its head, then n binary messages. */
typedef struct {
    sio_packet pkt;
    char *text; /* owned copy of the packet text (pkt points into it) */
    ipc_buf *att;
    size_t n_att;
} sio_partial;

struct sio_client {
    gw_app *app;
    eio_session *session;
    sio_socket *sockets;
    int ever_connected;        /* a namespace accepted: connect timeout is off */
    double deadline;           /* connect timeout (ev_now based) */
    sio_client *tprev, *tnext; /* connect-timeout queue (utlist DL) */
    int in_timeout_queue;
    sio_partial *partial; /* binary packet awaiting attachments */
    int closing;
    /* Namespaces the gateway disconnected on this client and the client has
     * not connected again: its packets in flight for them are ignored, not
     * a violation (rule 38).  A small ring: the oldest is forgotten. */
    gw_nsp *tomb[SIO_TOMBS];
    unsigned n_tomb;
};

/* A client packet forwarded to a worker and not yet reported PROCESSED:
 * if the worker dies it goes back to its socket's hold (PROTOCOL.md §4). */
typedef struct gw_retained {
    struct gw_retained *next;
    uint64_t seq;
    char sid[IPC_ID_LEN + 1];
    struct held_msg *msg;
} gw_retained;

struct gw_app {
    struct ev_loop *loop;
    struct cl_node *cluster; /* --redis: the Redis adapter link (sio_cluster.c), or NULL */
    eio_server *eio;
    eio_config ecfg; /* its admission settings (sio_admission.c) */
    gw_app_options opt;
    sio_limits limits;
    gw_nsp *nsps;
    sio_socket *sockets;
    gw_worker *workers;
    sio_client *timeouts; /* connect-timeout queue, oldest first */
    ev_timer connect_timer;
    uint64_t epoch;
    int shutting_down;
    int listening;
    int failed; /* could not start listening: main exits 1 */

    gw_router *router; /* the workers layer (router.h) */

    /* sio_loss.c */
    gw_ghost *ghosts; /* by socket id */

    /* sio_recovery.c */
    sio_rec_store *rec; /* NULL until a namespace with recovery has a socket */

    /* sio_bcast_ack.c */
    struct gw_bcast_ack *bcast_acks;   /* broadcasts waiting for answers */
    struct gw_bcast_wait *bcast_waits; /* their receivers, by (socket, ack id) */
    int64_t bcast_next_id;             /* from GW_BCAST_ACK_BASE */
};

#define GW_MAX_SOCKET_LIST 10000 /* BROADCAST to a list: at most this many ids */

/* sio.c: clients — their packets in, CONNECT handling, sending to them */
gw_nsp *sio_nsp_get(gw_app *app, const char *name, size_t len, int create);
void sio_socket_remove(gw_app *app, sio_socket *s, const char *notify_reason);
extern const eio_handler sio_client_handler; /* the engine's callbacks */
void sio_connect_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
void sio_send_msgs(sio_client *c, eio_msg **msgs, size_t n);
void sio_free_msgs(eio_msg **msgs, size_t n);
void sio_send_packet(sio_client *c, sio_type type, const char *nsp, size_t nsp_len, int64_t id,
                     const char *json, size_t json_len, const ipc_buf *att, size_t n_att);
/* A CONNECT refused by the worker's middleware (its message and data). */
void sio_send_refusal(sio_client *c, const char *nsp, const char *message, json_t *data);
void sio_send_connect_error(sio_client *c, const char *nsp, const char *message, json_t *data);
void sio_timeout_dequeue(gw_app *app, sio_client *c);
/* Close the client's Engine.IO session; c may be freed when it returns. */
void sio_close_client(sio_client *c, eio_close_reason why);
/* s was just accepted: if its transport was upgraded after the worker got
 * its CONNECT, tell the worker now (CONN upgrade, rule 20). */
void sio_conn_catch_up(gw_app *app, sio_socket *s);
/* The client has no namespace left: the connect timeout applies again. */
void sio_client_idle(gw_app *app, sio_client *c);
/* The gateway disconnects connected socket s on its own (rules 31, 35, 37):
 * `41` to the client, DISCONNECT with `cause` to the worker, the log says
 * how many of its packets are dropped (`lost` plus its hold). */
void sio_drop_socket(gw_app *app, sio_socket *s, const char *cause, size_t lost);
/* Send pending (or orphaned) socket s's CONNECT to its namespace's worker. */
void sio_send_connect(gw_app *app, sio_socket *s);

/* sio_handshake.c */
/* Query string → object; a repeated key becomes an array. */
json_t *sio_parse_query(const char *q);

/* sio_hold.c: client packets to the worker, retained, held and replayed */
typedef struct held_msg held_msg;
held_msg *sio_held_new(ipc_type type, int64_t id, const char *data, size_t data_len,
                       const ipc_buf *att, size_t n_att);
void sio_held_free_all(sio_socket *s);
/* Append h to s's hold (taking it); -1 (h freed) when full (rule 35). */
int sio_hold_take(gw_app *app, sio_socket *s, held_msg *h, int replay);
/* The cause (rule 19) of a socket dropped because sio_forward() failed. */
const char *sio_loss_cause(int e, int replay);
/* Send a client EVENT/ACK to s's worker and retain it until PROCESSED;
 * takes h when given.  0, or -1 with errno (ENOBUFS: past the credit,
 * EAGAIN: the ROUTER's high-water mark), nothing retained. */
int sio_forward(gw_app *app, sio_socket *s, ipc_type type, int64_t id, const char *data,
                size_t data_len, const ipc_buf *att, size_t n_att, held_msg *h);
/* The worker ACCEPTed recovered socket s: replay its hold in order. */
void sio_hold_replay(gw_app *app, sio_socket *s);

/* sio_worker.c: what a worker sends its clients */
void sio_handle_worker_msg(gw_app *app, gw_worker *w, const ipc_msg *m);
/* The worker serving a namespace is gone: disconnect its sockets. */
void sio_worker_gone(gw_app *app, gw_nsp *nsp, const char *why);
/* A worker now serves nsp: send the CONNECTs that waited for it. */
void sio_worker_arrived(gw_app *app, gw_nsp *nsp);
/* The worker handled every packet up to seq: forget them. */
void sio_worker_processed(gw_app *app, gw_worker *w, uint64_t seq);
/* The worker is going: give what it did not handle back to its sockets. */
void sio_worker_requeue(gw_app *app, gw_worker *w);
/* Whether nsp has sockets kept for its next worker (rule 33). */
int gw_nsp_holds_sockets(gw_app *app, const char *nsp);
void sio_app_start_listening(gw_app *app);

/* sio_loss.c: sockets gone while their worker was restarting (ghosts) —
 * the next worker gets the socket back as a recovered CONNECT and, once it
 * has ACCEPTed it, a DISCONNECT with the reason and cause — and
 * the per-client tombstones of namespaces the gateway disconnected. */
/* Remember socket `sid` of nsp; `connect_meta` is its recovered CONNECT's
 * meta, `reason` and `cause` (NULL: none) those of the DISCONNECT that
 * follows its ACCEPT (all copied); `sent` whether the current worker
 * already has the CONNECT. */
void gw_ghost_add(gw_app *app, gw_nsp *nsp, const char *sid, const char *connect_meta,
                  const char *reason, const char *cause, int sent);
/* nsp's worker said HELLO: send it the ghosts' CONNECTs. */
void gw_ghosts_send(gw_app *app, gw_nsp *nsp);
/* A message from w about a socket id the gateway does not know: if it is a
 * ghost's ACCEPT, tell w the socket is gone. */
void gw_ghost_answer(gw_app *app, gw_worker *w, const ipc_msg *m);
/* nsp's worker is gone: its ghosts wait for the next one, or are forgotten
 * (logged) when none is expected. */
void gw_ghosts_worker_gone(gw_app *app, gw_nsp *nsp, int expected);
void gw_ghosts_free_all(gw_app *app);
/* How many ghosts nsp has (all namespaces' when NULL). */
size_t gw_ghost_count(gw_app *app, const gw_nsp *nsp);
void sio_tomb_add(sio_client *c, gw_nsp *nsp);
int sio_tomb_has(const sio_client *c, const char *nsp, size_t len);
void sio_tomb_clear(sio_client *c, const char *nsp, size_t len);
/* sio_bcast_ack.c: BROADCAST asking for acks (rule 25a).  Client ack ids
 * from GW_BCAST_ACK_BASE up are the gateway's; a worker's EMIT ack ids are
 * below it. */
#define GW_BCAST_ACK_BASE (INT64_C(1) << 40)
typedef struct gw_bcast_ack gw_bcast_ack;
/* Validate m's ack and timeout; NULL after ERROR meta (logged). */
gw_bcast_ack *gw_bcast_ack_new(gw_app *app, gw_worker *w, const ipc_msg *m);
/* Send the packet to receiver s with an ack id of its own (a select fn). */
void gw_bcast_ack_send(sio_socket *s, void *ud);
/* Every receiver sent to: tell the worker the count, wait for answers. */
void gw_bcast_ack_sent(gw_app *app, gw_worker *w, gw_bcast_ack **pb);
/* A client ACK: 1 when it answered a broadcast (forwarded or dropped,
 * logged), 0 when it is for the worker's own EMIT. */
int gw_bcast_ack_answer(gw_app *app, sio_socket *s, int64_t id, const char *data, size_t len,
                        const ipc_buf *att, size_t n_att);
void gw_bcast_acks_free_all(gw_app *app);
/* sio_serverside.c: a worker's SERVER_EMIT (rule 25b) */
void gw_server_emit(gw_app *app, gw_worker *w, const ipc_msg *m);
/* sio.c: the packet ["ev", …] to one socket, asking ack `id` (-1: none). */
void sio_socket_send_event(sio_socket *s, int64_t id, const char *data, size_t len,
                           const ipc_buf *att, size_t n_att);
/* worker_data.c */
/* 1 if what w sent (EMIT, BROADCAST, ACK) may reach clients; else 0, after
 * answering ERROR "data" or "meta" and logging one line (PROTOCOL.md rule
 * 30a).  Other types pass. */
int sio_worker_data_ok(gw_app *app, gw_worker *w, const ipc_msg *m);
/* sio_admission.c: ADMIT out (eio_handler.on_admission) and back */
int sio_admission_ask(uint64_t id, const struct eio_handshake *hs, void *ud);
void sio_admission_reply(gw_app *app, gw_worker *w, const ipc_msg *m);
/* The handshake object workers see in CONNECT (sio_handshake.c); auth not
 * consumed. */
json_t *sio_handshake_json(const eio_handshake *h, json_t *auth);

/* sio_recovery.c: connection state recovery (sio_recovery.h) */
#define GW_REC_MAX_MSGS 1000         /* packets logged per socket */
#define GW_REC_MAX_BYTES (1u << 20)  /* ... and their bytes */
#define GW_REC_MAX_TOTAL (64u << 20) /* bytes logged for all sockets */
/* The window (ms, 0 = off) and skip-middlewares setting of nsp. */
unsigned sio_rec_window(const gw_app *app, const gw_nsp *nsp, int *skip);
/* A socket just ACCEPTed: give it a session when its namespace has
 * recovery on. */
void sio_rec_attach_new(gw_app *app, sio_socket *s);
/* The CONNECT reply's JSON: {"sid":…} or {"sid":…,"pid":…}. */
size_t sio_rec_connect_body(const sio_socket *s, char *buf, size_t n);
void sio_rec_free(gw_app *app, sio_rec **r);
/* The transport of s went for `reason`: keep its session detached (the
 * caller then removes s without telling the worker).  0, or -1 when s has
 * no recoverable session. */
int sio_rec_detach(gw_app *app, sio_socket *s, const char *reason, const char *connect_meta);
/* A CONNECT to nsp with this auth: the detached session it recovers, or
 * NULL (a new session; a known pid with an unknown offset ends its
 * session at once). */
sio_rec *sio_rec_claim(gw_app *app, gw_nsp *nsp, json_t *auth, const char *addr);
/* Pending socket s takes r back (s gets r's id). */
void sio_rec_restoring(sio_rec *r, sio_socket *s);
/* s goes before its worker ACCEPTed the restore: the session is over. */
void sio_rec_unclaim(gw_app *app, sio_socket *s);
/* Add "restored", "rooms" and "skip_middlewares" to a restoring CONNECT. */
void sio_rec_connect_meta(gw_app *app, sio_socket *s, json_t *meta);
/* The worker ACCEPTed a restoring socket: rooms back, missed packets sent
 * (their count in *replayed).  -1 when the log overflowed meanwhile: the
 * caller disconnects the socket. */
int sio_rec_accepted(gw_app *app, sio_socket *s, void (*send)(sio_client *, eio_msg **, size_t),
                     size_t *replayed);
/* An EMIT/BROADCAST's data with its offset appended, or NULL when it gets
 * none (recovery off, volatile, ack asked); free() it. */
char *sio_rec_offset_data(gw_app *app, gw_nsp *nsp, const ipc_msg *m, uint64_t *off, size_t *len);
/* Log an offset packet sent to s. */
void sio_rec_log(gw_app *app, sio_socket *s, uint64_t off, eio_msg **msgs, size_t n);
/* Log a broadcast for the detached sessions of nsp it addresses. */
void sio_rec_broadcast(gw_app *app, gw_nsp *nsp, json_t *meta, uint64_t off, eio_msg **msgs,
                       size_t n);
/* The detached session of socket id sid, or NULL. */
sio_rec *sio_rec_detached(gw_app *app, const char *sid);
/* A worker message for a detached (or restoring) socket; 1 if handled. */
int sio_rec_worker_msg(gw_app *app, gw_worker *w, sio_rec *r, const ipc_msg *m);
void sio_rec_shutdown(gw_app *app);
void sio_rec_destroy(gw_app *app);
size_t sio_rec_count(const gw_app *app);
/* sio.c: the Engine.IO messages of one packet (text + attachments); the
 * caller unrefs them (sio_free_msgs). */
size_t sio_build_packet(eio_msg **out, sio_type type, const char *nsp, size_t nsp_len, int64_t id,
                        const char *json, size_t json_len, const ipc_buf *att, size_t n_att);

/* rooms.c */
void gw_room_join(gw_app *app, sio_socket *s, const char *room, size_t len);
void gw_room_leave(gw_app *app, sio_socket *s, const char *room, size_t len);
void gw_room_leave_all(gw_app *app, sio_socket *s);
/* Call fn(s, ud) once for each socket of nsp in any of `rooms` (all when
 * rooms is empty/NULL) and in none of `except`.  Returns the count. */
size_t gw_rooms_select(gw_app *app, gw_nsp *nsp, json_t *rooms, json_t *except,
                       void (*fn)(sio_socket *s, void *ud), void *ud);

/* sio_cluster.c: the Redis adapter protocol (ipc/REDIS.md); all no-ops
 * without --redis.  sio.c and rooms.c call these at the points named. */
int sio_cluster_start(gw_app *app);
void sio_cluster_stop(gw_app *app);
void sio_cluster_nsp(gw_app *app, gw_nsp *nsp); /* a namespace appeared */
void sio_cluster_room(gw_app *app, gw_nsp *nsp, const char *room, int created);
void sio_cluster_broadcast(gw_app *app, gw_nsp *nsp, const ipc_msg *m); /* after local delivery */
/* sio.c, for sio_cluster.c: deliver an event to this node's sockets in
 * rooms minus except, encoded once; disconnect one socket as a worker's
 * DISCONNECT would, its worker told "server namespace disconnect". */
void sio_broadcast_local(gw_app *app, gw_nsp *nsp, const char *data, size_t len, const ipc_buf *att,
                         size_t n_att, json_t *rooms, json_t *except);
void sio_socket_kick(gw_app *app, sio_socket *s, int close);

#endif
