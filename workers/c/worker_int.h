/* worker_int.h — internals shared by the files of the C worker library.
 * Not installed.  Every non-static name here carries the iog_ prefix so the
 * library links beside the gateway objects in the unit tests.
 *
 * The files call one another in one direction only, bottom up (no file
 * calls a file above it; scripts/check_worker_layers.sh checks it):
 *   common.c, parent.c          logging, errors, memory, clock; gateway pid
 *   binary.c, table.c, any.c    binary values; the socket table, rooms, ack
 *                               deadlines; catch-all listeners
 *   send.c, adapter.c           messages to the gateways; room events
 *   socket.c, admission.c       the Socket API; handshake admission
 *   broadcast.c                 selectors and namespace utilities
 *   bcast_ack.c                 broadcasts and serverSideEmit with acks
 *   worker.c                    ZeroMQ, the loop, timers, dispatch to the above
 *   emitter.c                   apart: a process that only emits
 * Shared data (the structs below) is not a call: socket.c reads the
 * worker's middleware and connection lists, worker.c the sockets. */
#ifndef IOGATE_WORKER_INT_H
#define IOGATE_WORKER_INT_H

#include "iogate_worker.h"
#include "ipc.h"

#include <stdint.h>

#define IOG_MAX_DEPTH 64 /* nesting bound for placeholder walks */

/* ---- memory, errors, time ---- */
void *iog_xmalloc(size_t n);
void *iog_xcalloc(size_t n, size_t m);
void *iog_xrealloc(void *p, size_t n);
char *iog_xstrdup(const char *s);
/* Abort on a NULL from jansson (its allocator failed). */
json_t *iog_jcheck(json_t *v);
/* Set the thread's last error string and errno; returns -1. */
int iog_fail(int err, const char *why);
/* Spawned by a gateway (IOGATE_GATEWAY_PID, parent.c): arrange to get
 * SIGTERM when it dies.  -1 (iog_fail) if it is gone already. */
int iog_bind_to_gateway(void);
int64_t iog_now_ms(void); /* monotonic */

#define IOG_LOG_ERROR 0
#define IOG_LOG_WARN 1
#define IOG_LOG_INFO 2
#define IOG_LOG_DEBUG 3

/* ---- a small dynamic array of (fn, user, extra) callbacks ---- */
typedef struct {
    void (*fn)(void); /* cast to the proper type at the call */
    void *user;
    char *event; /* for event handlers; NULL otherwise */
} iog_cb;

typedef struct {
    iog_cb *v;
    size_t n, cap;
} iog_cbs;

void iog_cbs_add(iog_cbs *l, void (*fn)(void), void *user, const char *event);
void iog_cbs_clear(iog_cbs *l);

/* ---- binary values ---- */
/* Check (ipc_check_placeholders, depth IOG_MAX_DEPTH) and resolve the
 * placeholders of received data, in place where possible: returns the value
 * with every {"_placeholder":true,"num":k} replaced by a binary value
 * holding att[k], or NULL with *why set when the placeholders do not match
 * the attachments.  Consumes v, new ref. */
json_t *iog_resolve_placeholders(json_t *v, const ipc_buf *att, size_t n_att, const char **why);
/* Serialized form of an outgoing value: binary values become placeholders
 * and their bytes are appended to *att (views into v, valid while v lives).
 * Returns malloc'ed compact JSON text, or NULL if v cannot be dumped. */
typedef struct {
    ipc_buf *v;
    size_t n, cap;
} iog_atts;
char *iog_dump_wire(json_t *v, iog_atts *att);

/* ---- sockets ---- */
typedef enum {
    IOG_S_PENDING = 0, /* CONNECT received, namespace middleware running */
    IOG_S_CONNECTED,   /* ACCEPT sent */
    IOG_S_CLOSED,      /* refused or disconnected: waiting to be reclaimed */
} iog_sstate;

typedef struct iog_pending_ack iog_pending_ack;
typedef struct iog_gw iog_gw;
struct iog_pending_ack { /* an emit_with_ack waiting for the client */
    iog_socket *s;
    int64_t id;
    int64_t deadline; /* monotonic ms, 0 = none */
    iog_ack_fn cb;
    void *user;
    iog_pending_ack *next, *prev;   /* in the socket's list */
    iog_pending_ack *tnext, *tprev; /* in the worker's timed list */
};

struct iog_ack { /* a client's ack request */
    iog_socket *s;
    int64_t id;
    int in_dispatch; /* handlers are running with this pointer */
    int sent;
    iog_ack *next, *prev;
};

enum { IOG_NEXT_NS = 1, IOG_NEXT_PACKET = 2 };
struct iog_next_handle {
    int kind;
    iog_socket *s;                /* NULL once the socket is gone */
    size_t index;                 /* middleware that holds this handle */
    json_t *packet;               /* IOG_NEXT_PACKET: ["event", arg…] */
    iog_ack *ack;                 /* IOG_NEXT_PACKET: may be NULL */
    iog_next_handle *next, *prev; /* in the socket's list */
};

struct iog_socket {
    iog_worker *w;
    iog_gw *gw; /* the gateway it came from: everything about it goes there */
    char id[IPC_ID_LEN + 1];
    iog_sstate state;
    json_t *handshake;
    char *transport;
    bool recovered;
    bool restored; /* its client recovered it (PROTOCOL.md rule 16a) */
    bool skip_mw;  /* ... and the namespace middleware is skipped */
    char **rooms;
    size_t n_rooms, cap_rooms;
    json_t *gw_rooms; /* until ACCEPT: the rooms the gateway already routes
                         (a recovered socket's), to send only the difference */
    json_t *data;
    void *uptr;
    void (*ufree)(void *);
    iog_cbs on_event, on_any, on_error, on_disconnecting, on_disconnect, on_conn, mw;
    iog_cbs on_any_out; /* any.c */
    iog_cbs on_raw;     /* raw.c: iog_socket_on_raw handlers */
    int64_t next_ack_id;
    iog_pending_ack *acks_out; /* emit_with_ack waiting */
    iog_ack *acks_in;          /* client acks not answered yet */
    iog_next_handle *handles;  /* middleware continuations outstanding */
    iog_socket *next, *prev;   /* in the worker's list (or graveyard) */
    iog_socket *hnext;         /* hash chain */
};

struct iog_broadcast {
    iog_worker *w;
    char **rooms, **except;
    size_t n_rooms, n_except;
    bool vol;
};

/* One gateway connection (PROTOCOL.md §1).  A worker serving several
 * gateways has one of these per gateway, each with a DEALER of its own: one
 * DEALER connected to several ROUTERs would round-robin our messages among
 * them.  Everything the protocol attaches to a connection lives here: the
 * incarnation (rule 10: it names the socket state of this connection, so
 * losing one gateway renews only its own), HELLO/WELCOME, the heartbeat,
 * PROCESSED numbering (rule 36) and BYE (rule 15). */
struct iog_gw {
    iog_worker *w;
    char *endpoint;
    void *zsock;
    char incarnation[33];
    int welcomed;
    int64_t hello_at; /* when to (re)try HELLO */
    int hello_ivl;    /* pause before the next unanswered HELLO (doubling) */
    char *gateway;    /* gateway incarnation from WELCOME */
    int heartbeat_ms;
    int64_t last_rx, last_ping;
    int dismissed; /* got BYE: no HELLO of our own to this gateway */
    /* Highest gateway seq handled, and the last one reported PROCESSED. */
    json_int_t seq_done, seq_reported;
    int send_failed; /* a non-volatile send failed: resynchronise */
};

struct iog_worker {
    char *nsp;
    void *zctx;
    iog_gw **gws; /* in the order given; never freed before the worker */
    size_t n_gws;
    int epfd; /* iog_worker_fd with several gateways: an epoll set of their
                 ZMQ_FDs; -1 until asked for */
    int conn_mask;
    int started;
    volatile int stop; /* sig_atomic_t-like: written by iog_worker_stop */

    iog_cbs mw, on_connection;
    iog_cbs adapter; /* room event listeners (adapter.c) */

    /* sockets (of every gateway): a list in CONNECT order plus a hash by id;
     * ids are random 20 characters, unique across gateways */
    iog_socket *head, *tail;
    iog_socket **buckets;
    size_t n_buckets, n_sockets;
    iog_socket *graveyard;
    size_t n_connected;

    iog_pending_ack *timed;            /* emit_with_ack with a deadline */
    struct iog_bc_pending *bc_pending; /* broadcasts waiting for acks (bcast_ack.c) */
    int64_t bc_next_id;

    iog_admission_fn admission_fn; /* admission.c */
    void *admission_user;
    int admission_warned;

    ipc_frames frames;
};

/* admission.c: an ADMIT from gateway g (rule 39) */
void iog_admission_handle(iog_gw *g, const ipc_msg *m);

/* send.c */
/* Send one message to gateway g (about socket sid, NULL = none). */
int iog_send(iog_gw *g, ipc_type t, const char *sid, json_t *meta, json_t *data, int vol);
/* Send one message (BROADCAST) to every gateway that has welcomed us: each
 * applies it to its own sockets.  -1 when none is connected or a send
 * failed (the others still got it). */
int iog_send_all(iog_worker *w, ipc_type t, json_t *meta, json_t *data, int vol);
/* iog_send with the data frame already serialized: text[0..text_len)
 * (NULL = no data frame) and its attachment frames, sent as they are. */
int iog_send_raw(iog_gw *g, ipc_type t, const char *sid, json_t *meta, const char *text,
                 size_t text_len, const ipc_buf *att, size_t n_att, int vol);

/* table.c */
iog_socket *iog_worker_find(iog_worker *w, const char *sid, size_t len);
void iog_worker_insert(iog_worker *w, iog_socket *s);
void iog_worker_unlink(iog_worker *w, iog_socket *s); /* to the graveyard */
void iog_worker_timed_add(iog_worker *w, iog_pending_ack *a);
void iog_worker_timed_del(iog_worker *w, iog_pending_ack *a);

/* broadcast.c: the BROADCAST meta of b ({rooms, except, volatile}), new ref */
json_t *iog_bc_meta(const iog_broadcast *b);

/* bcast_ack.c (PROTOCOL.md rule 25a) */
typedef struct iog_bc_pending iog_bc_pending;
/* A BROADCAST_ACK / SERVER_EMIT_ACK from g: the count (data NULL) or one
 * answer (data: its ack arguments, borrowed). */
void iog_bc_ack_message(iog_gw *g, json_t *meta, json_t *data);
void iog_bc_ack_timers(iog_worker *w, int64_t now);
int64_t iog_bc_ack_next_deadline(const iog_worker *w); /* 0 = none */
void iog_bc_ack_free_all(iog_worker *w);

/* adapter.c: room events, after the room was added to / before it is
 * removed from s->rooms */
void iog_adapter_joined(iog_socket *s, const char *room);
void iog_adapter_left(iog_socket *s, const char *room);
void iog_adapter_left_all(iog_socket *s);

/* any.c: outgoing listeners, given the sent ["event", arg…] (borrowed) */
void iog_socket_notify_outgoing(iog_socket *s, json_t *data);
/* broadcast.c: … of every socket b reaches (resolved only when some socket
 * listens) */
void iog_bc_notify_outgoing(const iog_broadcast *b, json_t *data);

/* socket.c */
iog_socket *iog_socket_create(iog_gw *g, const char *sid, json_t *meta);
void iog_socket_free(iog_socket *s);
void iog_socket_start_middleware(iog_socket *s);
/* A restored CONNECT (rule 16a) for known socket old: s takes its place and
 * data; old goes without events. */
void iog_socket_replace(iog_socket *old, iog_socket *s);
void iog_socket_handle_event(iog_socket *s, json_t *data, json_t *meta);
void iog_socket_handle_ack(iog_socket *s, json_t *data, json_t *meta);
void iog_socket_handle_conn(iog_socket *s, json_t *meta);
/* Raise disconnecting/disconnect with reason, fail acks, unlink. */
void iog_socket_close(iog_socket *s, const char *reason);
void iog_pending_ack_fire(iog_pending_ack *a, const char *err, json_t *args);
/* After handlers ran with ack (in_dispatch raised by the caller, lowered
 * here): `called` of them saw it.  Unlinks or frees it as dispatch does. */
void iog_ack_dispatched(iog_ack *ack, size_t called);
/* Mark ack sent (iog_ack_send's bookkeeping) and release it. */
void iog_ack_sent(iog_ack *a);

/* raw.c */
/* An EVENT that only raw handlers want (no parsed handler, packet
 * middleware or catch-all for it): run them on the data frame's bytes.
 * 0 if handled; -1: take the parsed path. */
int iog_raw_event(iog_socket *s, const ipc_msg *m);

/* socket.c, for raw.c: whether list l has a live handler for ev; run the
 * raw handlers of ev on json[0..len) and its attachments (a handler may
 * disconnect the socket: the rest are skipped), returning how many ran.
 * The parsed path runs them too, on the packet serialized again. */
int iog_cbs_has(const iog_cbs *l, const char *ev);
size_t iog_socket_run_raw(iog_socket *s, const char *ev, const char *json, size_t len,
                          const ipc_buf *att, size_t n_att, iog_ack *ack);

#endif
