/* iogate_worker.h — the C worker library of iogate: the server-side
 * Socket.IO "Socket" API for applications that serve one namespace behind
 * the iogate gateway (see ipc/PROTOCOL.md for the wire contract).
 *
 * A worker process connects a ZeroMQ DEALER to the gateway, says HELLO, and
 * from then on receives CONNECT / EVENT / ACK / DISCONNECT for the sockets of
 * its namespace and answers with ACCEPT / REFUSE / EMIT / ACK / BROADCAST /
 * JOIN / LEAVE / DISCONNECT.  This header is everything an application uses.
 *
 * Model (follows the Node.js socket.io 4.8 server, in C idiom):
 *   - one iog_worker per namespace; namespace middleware (iog_use) runs in
 *     order for every new socket, then `connection` handlers;
 *   - an iog_socket per client in the namespace, with event handlers,
 *     per-packet middleware, rooms, data, acknowledgements both ways;
 *   - broadcasts by {rooms, except, volatile} cross to the gateway once.
 *
 * Threads: none.  Everything runs on the thread that calls
 * iog_worker_process() / iog_worker_run(); the library is not thread-safe
 * (iog_worker_stop() excepted, which is async-signal-safe).
 *
 * Several gateways (a deployment grown past one machine): one worker
 * process may serve its namespace on several gateways at once.  Give every
 * endpoint, comma-separated ("ipc:///run/a.sock,tcp://10.0.0.2:5555"), or
 * add them with iog_worker_add_gateway().  The library connects one DEALER
 * per gateway and is, to each, an ordinary worker (own HELLO, heartbeat,
 * PROCESSED numbering, BYE).  The application sees one namespace: sockets
 * of every gateway, rooms and fetch across all of them; what concerns one
 * socket goes to its own gateway, broadcasts go to every gateway; losing
 * one gateway disconnects only its sockets.
 *
 * Event loop integration, two ways:
 *   1. iog_worker_run(w): blocks and runs the loop until iog_worker_stop().
 *   2. Your own loop: watch iog_worker_fd(w) for readability; before every
 *      wait, call iog_worker_next_timeout_ms(w) and use it as the wait's
 *      timeout (it returns 0 when messages are already waiting — the fd is
 *      edge-triggered, ZMQ_FD semantics — so call iog_worker_process() at
 *      once then); after the wait, call iog_worker_process(w).  With libev:
 *      an ev_io on the fd plus an ev_prepare that reads next_timeout into an
 *      ev_timer, all three calling iog_worker_process.  With several
 *      gateways, iog_worker_fd is one descriptor standing for all of them
 *      (Linux), or watch each of iog_worker_fds() — the same contract.
 *
 * JSON values are jansson json_t.  Ownership is said at each function:
 *   "borrowed"  — the library keeps ownership; valid as the text says;
 *   "consumed"  — the library takes your reference (even on failure);
 *   "new ref"   — you own it and must json_decref() it.
 *
 * Errors: functions return 0 / -1 (or NULL); on failure iog_strerror()
 * gives a static string saying why and errno is set.  Running out of memory
 * is not an error: the library logs and aborts.
 *
 * Pointer lifetimes: an iog_socket pointer is valid from its CONNECT until
 * its `disconnect` handlers (or, for a refused socket, its refusal) have
 * returned; its memory is reclaimed at the next safe point of
 * iog_worker_process().  Do not keep socket pointers past `disconnect`.
 */
#ifndef IOGATE_WORKER_H
#define IOGATE_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iog_worker iog_worker;
typedef struct iog_socket iog_socket;
typedef struct iog_ack iog_ack;                 /* a client's request for an ack */
typedef struct iog_next_handle iog_next_handle; /* continuation of a middleware */
typedef struct iog_broadcast iog_broadcast;     /* a {rooms, except, flags} selector */

/* ------------------------------------------------------------------ */
/* Errors and logging                                                   */

/* Static string explaining the last failure of an iog_ call on this
 * thread ("reserved event name", "socket is not connected", …). */
const char *iog_strerror(void);

/* Log one line to stderr in the format the gateway and every library
 * share: "2026-11-30T04:40:00.123Z INFO  iogate.worker[/nsp] …".  Levels:
 * 0 error, 1 warn, 2 info, 3 debug.  Lines above iog_log_level are dropped;
 * the default is 2, or the value of the environment variable
 * IOGATE_WORKER_LOG ("error"|"warn"|"info"|"debug") read at iog_worker_new. */
extern int iog_log_level;
void iog_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Process-wide and opt-in: tune glibc's malloc for a busy worker (keep up
 * to 64 MiB of freed heap instead of trimming it back to the kernel after
 * every burst; grow the heap 1 MiB at a time), as the gateway does for
 * itself.  The library never calls it: a process's malloc settings are its
 * main()'s to choose, so call it there, before the worker starts.  Does
 * nothing without glibc. */
void iog_tune_malloc(void);

/* ------------------------------------------------------------------ */
/* Binary values                                                        */

/* Binary buffers travel as ZeroMQ attachment frames, never base64.  In the
 * JSON arguments of events and acks they are represented by a jansson
 * object the library recognises (it cannot come out of JSON parsing, so a
 * client cannot forge one).  Put them anywhere, at any depth, in emit / ack
 * / broadcast arguments; they come back anywhere in received arguments.
 * json_dumps() cannot print them: use iog_binary_data() to read them. */

/* A new binary value holding a copy of data[0..len).  New ref. */
json_t *iog_binary_new(const void *data, size_t len);
/* True when v is a binary value made by iog_binary_new() or received. */
bool iog_is_binary(const json_t *v);
/* The bytes of binary value v (borrowed, valid while v lives) and their
 * length in *len; NULL (and *len = 0) when v is not a binary value. */
const void *iog_binary_data(const json_t *v, size_t *len);

/* ------------------------------------------------------------------ */
/* Worker                                                               */

/* Kinds of conn notices (PROTOCOL.md §3.2 rule 20) a worker may ask for. */
enum {
    IOG_CONN_UPGRADE = 1 << 0,       /* transport upgraded (always asked for) */
    IOG_CONN_PACKET = 1 << 1,        /* an Engine.IO packet from the client */
    IOG_CONN_PACKET_CREATE = 1 << 2, /* an Engine.IO packet to the client */
    IOG_CONN_DRAIN = 1 << 3,         /* the write buffer drained */
    IOG_CONN_CLOSE = 1 << 4,         /* the connection closed */
    IOG_CONN_ALL = 0x1f
};

/* A new worker for `nsp` (e.g. "/" or "/chat") that will connect to the
 * gateway at `endpoint` (a ZeroMQ endpoint, or several separated by commas:
 * one gateway each).  NULL endpoint / nsp read the environment variables
 * IOGATE_ENDPOINT / IOGATE_NAMESPACE (set by a gateway that spawns its
 * workers; IOGATE_ENDPOINT may hold a comma-separated list too); nsp
 * defaults to "/" when that is unset too.  Nothing is sent yet: register
 * middleware and handlers, then start (by iog_worker_start, or implicitly
 * by the first fd/process/run call).  A worker spawned by a gateway
 * (IOGATE_GATEWAY_PID in the environment, its parent) gets SIGTERM when
 * that gateway dies (PR_SET_PDEATHSIG), so it does not outlive it; others
 * keep retrying HELLO.  NULL on failure (no endpoint, an endpoint given
 * twice, the spawning gateway already gone). */
iog_worker *iog_worker_new(const char *endpoint, const char *nsp);

/* Serve one more gateway (or a comma-separated list of them) besides those
 * given to iog_worker_new.  Before the worker starts; -1 afterwards (EBUSY),
 * for an endpoint already given (EEXIST) or an empty one (EINVAL). */
int iog_worker_add_gateway(iog_worker *w, const char *endpoint);

/* How many gateways this worker serves; in *connected (may be NULL) how many
 * of them have welcomed it now. */
size_t iog_worker_gateways(const iog_worker *w, size_t *connected);

/* Send BYE to each gateway (its sockets will be disconnected there), free
 * every socket without raising events, close the ZeroMQ socket and set *pw
 * to NULL.  Outstanding middleware handles and acks become invalid.  Must not
 * be called from inside a callback of this worker. */
void iog_worker_destroy(iog_worker **pw);

/* Conn notices to subscribe to (IOG_CONN_* mask, added to IOG_CONN_UPGRADE).
 * Must be called before the worker starts; -1 afterwards. */
int iog_worker_subscribe_conn(iog_worker *w, int mask);

/* Connect and send HELLO.  Idempotent.  0, or -1 on a ZeroMQ error. */
int iog_worker_start(iog_worker *w);

/* The file descriptor to watch for readability (ZMQ_FD: edge-triggered; see
 * the loop notes at the top).  Starts the worker.  With several gateways it
 * is an epoll descriptor readable when any of their ZMQ_FDs is (Linux; owned
 * by the worker, closed by iog_worker_destroy); elsewhere -1 with EMLINK:
 * use iog_worker_fds.  -1 on error. */
int iog_worker_fd(iog_worker *w);

/* The ZMQ_FD of each gateway, in the order given, stored in fds[0..max):
 * watch them all for readability, with the same contract as iog_worker_fd
 * (edge-triggered; next_timeout_ms then process).  Returns the number of
 * gateways (more than max means some were not stored), -1 on error.  Starts
 * the worker.  The descriptors belong to ZeroMQ: do not close them. */
int iog_worker_fds(iog_worker *w, int *fds, size_t max);

/* Handle every message waiting and every timer due (heartbeat, ack
 * timeouts, HELLO retries), then reclaim what closed.  Never blocks (except
 * on a full send queue to the gateway, PROTOCOL.md rule 32).  Starts the
 * worker.  0, or -1 on a fatal ZeroMQ error. */
int iog_worker_process(iog_worker *w);

/* Milliseconds until iog_worker_process() must be called even if the fd
 * stays quiet; 0 when it must be called now (messages already waiting). */
int iog_worker_next_timeout_ms(iog_worker *w);

/* Run the loop (poll on every gateway's fd with next_timeout) until
 * iog_worker_stop(), or until every gateway has said BYE (PROTOCOL.md rule
 * 15: a gateway that said BYE is not greeted again; the others carry on).
 * After the stop it keeps handling messages for up to 250 ms or until the
 * gateways' BYE, so that a gateway shutting down (DISCONNECT "server
 * shutting down" to every socket, BYE, then SIGTERM to its workers) still
 * gets its disconnect handlers run.  0 when stopped, -1 on a fatal error. */
int iog_worker_run(iog_worker *w);

/* Make iog_worker_run() return soon.  Async-signal-safe: may be called from
 * a signal handler.  NULL is ignored (a signal that arrives after
 * iog_worker_destroy set your pointer to NULL). */
void iog_worker_stop(iog_worker *w);

/* The namespace this worker serves (borrowed, lives as long as w). */
const char *iog_worker_namespace(const iog_worker *w);

/* True between the gateway's WELCOME and the next loss of the gateway
 * (with several gateways: while at least one has welcomed the worker). */
bool iog_worker_connected(const iog_worker *w);

/* ------------------------------------------------------------------ */
/* Namespace middleware and connection                                  */

/* Namespace middleware: runs for every CONNECT, in the order registered,
 * before `connection`.  It must eventually call exactly one of iog_next()
 * or iog_next_error() on `next` — during the call or later (asynchronous
 * middleware).  The socket is not connected yet: it may be read, its data
 * and user attributes set, and it may join rooms. */
typedef void (*iog_middleware_fn)(iog_socket *s, iog_next_handle *next, void *user);
void iog_use(iog_worker *w, iog_middleware_fn fn, void *user);

/* Connection handlers: the socket passed every middleware and is accepted
 * (the gateway has been told ACCEPT).  Register the socket's handlers here. */
typedef void (*iog_connection_fn)(iog_socket *s, void *user);
void iog_on_connection(iog_worker *w, iog_connection_fn fn, void *user);

/* Continue with the next middleware (or accept / dispatch when it was the
 * last).  Consumes *next and sets it to NULL.  If the socket went away in
 * the meantime, just frees the handle. */
void iog_next(iog_next_handle **next);
/* Stop here.  For namespace middleware: REFUSE — the client gets
 * connect_error with `message` and `data` (consumed, may be NULL).  For
 * socket middleware: the packet is dropped and the socket's `error` handlers
 * get (message, data).  Consumes *next and sets it to NULL. */
void iog_next_error(iog_next_handle **next, const char *message, json_t *data);

/* ------------------------------------------------------------------ */
/* Handshake admission (the reference's allowRequest)                   */

/* A gateway started with `--admission NSP` asks NSP's worker, before any
 * session exists, whether a handshake may go on (PROTOCOL.md rule 39).
 * `handshake` (borrowed, valid during the call; json_incref to keep it) has
 * headers, query, url, address, xdomain, secure, time, issued — CONNECT's
 * handshake without auth.  The handler answers exactly once through
 * iog_admission_answer(), during the call or later; the gateway refuses a
 * handshake that gets no answer within its --admission-timeout.  A worker
 * asked without a handler refuses (and logs it once). */
typedef struct iog_admission iog_admission;
typedef void (*iog_admission_fn)(iog_admission *a, json_t *handshake, void *user);
void iog_on_admission(iog_worker *w, iog_admission_fn fn, void *user);
/* Admit (ok) or refuse; a refused client gets the reference's answer, with
 * `message` (NULL = "Forbidden") as the Engine.IO error message.  Consumes
 * *a and sets it to NULL. */
void iog_admission_answer(iog_admission **a, bool ok, const char *message);

/* ------------------------------------------------------------------ */
/* Socket: identity, handshake, rooms, data                             */

/* The Socket.IO id (20 characters, chosen by the gateway).  Borrowed. */
const char *iog_socket_id(const iog_socket *s);
/* The worker of this socket. */
iog_worker *iog_socket_worker(const iog_socket *s);
/* The endpoint of the gateway this socket came through, as given to the
 * worker (borrowed, lives as long as the worker). */
const char *iog_socket_gateway(const iog_socket *s);
/* The handshake object: headers, query, auth, time, issued, url, address,
 * xdomain, secure (PROTOCOL.md rule 16).  Borrowed, lives as long as s. */
json_t *iog_socket_handshake(const iog_socket *s);
/* The underlying transport name ("polling", "websocket"); updated on
 * upgrade.  Borrowed, valid until the next upgrade. */
const char *iog_socket_transport(const iog_socket *s);
/* Whether this socket is a recovered one: it was connected to a previous
 * worker of this namespace that died, and the gateway kept it and replays
 * it here (PROTOCOL.md rule 16, 33).  Its id, handshake and rooms are the
 * ones it had (the rooms from the gateway's routing copy); its data and user
 * pointer start empty.  Namespace middleware and connection handlers run for
 * it as for a new socket (check this to skip work); the client noticed
 * nothing, and a refusal disconnects it. */
bool iog_socket_recovered(const iog_socket *s);
/* Whether its client recovered it after losing its transport (connection
 * state recovery, PROTOCOL.md rule 16a; iog_socket_recovered() is then
 * true too, as the reference's socket.recovered).  Its data carries over
 * from the socket object it replaces (that one is gone, without events);
 * middleware runs again unless the gateway skips it
 * (--recovery-skip-middlewares). */
bool iog_socket_restored(const iog_socket *s);
/* True from ACCEPT until disconnect. */
bool iog_socket_connected(const iog_socket *s);

/* The socket's rooms, a set that starts with the socket's own id, in the
 * order joined.  Borrowed array of *n borrowed names, valid until the next
 * join/leave of this socket. */
const char *const *iog_socket_rooms(const iog_socket *s, size_t *n);
bool iog_socket_in_room(const iog_socket *s, const char *room);
/* The rooms as a JSON array of strings.  New ref. */
json_t *iog_socket_rooms_json(const iog_socket *s);

/* Join / leave a room: the local set changes and the gateway gets JOIN /
 * LEAVE (for a socket still in its middleware, one JOIN follows ACCEPT).
 * Joining a room twice or leaving one it is not in does nothing.  For a
 * socket that has gone, ignored (0, nothing leaks).  0 or -1. */
int iog_socket_join(iog_socket *s, const char *room);
int iog_socket_leave(iog_socket *s, const char *room);
/* socket.join([…]) / leave([…]): the rooms of a NULL-terminated array. */
int iog_socket_join_rooms(iog_socket *s, const char *const *rooms);
int iog_socket_leave_rooms(iog_socket *s, const char *const *rooms);

/* Accessors are named as the rest of this header: iog_socket_<thing>()
 * reads, iog_socket_set_<thing>() writes. */

/* Arbitrary data visible to iog_fetch_sockets() (socket.data in Node).
 * Starts as {}.  Read: borrowed.  Set: consumes `data` (NULL = {}). */
json_t *iog_socket_data(const iog_socket *s);
void iog_socket_set_data(iog_socket *s, json_t *data);

/* One application pointer per socket; `free_fn` (may be NULL) is called on
 * it when replaced or when the socket is freed. */
void *iog_socket_user(const iog_socket *s);
void iog_socket_set_user(iog_socket *s, void *ptr, void (*free_fn)(void *));

#ifndef IOG_NO_DEPRECATED
/* Deprecated names of the accessors above, kept so that existing code
 * compiles; they will go in a later release.  Define IOG_NO_DEPRECATED
 * before including this header to check that your code no longer uses
 * them. */
static inline json_t *iog_socket_data_get(const iog_socket *s)
{
    return iog_socket_data(s);
}
static inline void iog_socket_data_set(iog_socket *s, json_t *data)
{
    iog_socket_set_data(s, data);
}
static inline void *iog_socket_get_user(const iog_socket *s)
{
    return iog_socket_user(s);
}
#endif

/* ------------------------------------------------------------------ */
/* Socket: events in                                                    */

/* A client event.  `args` (borrowed, valid during the call) is the array of
 * arguments without the event name; binary values resolved.  `ack` is NULL
 * unless the client asked for an acknowledgement; when set, answer it with
 * iog_ack_send() now or later (until the socket's disconnect).  An ack that
 * is never answered is freed when the socket goes. */
typedef void (*iog_event_fn)(iog_socket *s, json_t *args, iog_ack *ack, void *user);
/* Listen to `event`; several handlers for one event run in order. */
void iog_socket_on(iog_socket *s, const char *event, iog_event_fn fn, void *user);
/* Remove every handler of `event` registered with `fn` (NULL = all). */
void iog_socket_off(iog_socket *s, const char *event, iog_event_fn fn);
/* Catch-all, called before the event's own handlers with its name. */
typedef void (*iog_any_fn)(iog_socket *s, const char *event, json_t *args, iog_ack *ack,
                           void *user);
void iog_socket_on_any(iog_socket *s, iog_any_fn fn, void *user);

/* socket.io's prependAny (before the catch-alls already there) and offAny
 * (remove fn's registrations; NULL: all). */
void iog_socket_prepend_any(iog_socket *s, iog_any_fn fn, void *user);
void iog_socket_off_any(iog_socket *s, iog_any_fn fn);

/* Answer a client's ack request with `args` (consumed; an array, or NULL for
 * none; binary values allowed).  Consumes *ack and sets it to NULL; an ack
 * can be sent once (a second handler holding the same ack gets -1).
 * 0 or -1. */
int iog_ack_send(iog_ack **ack, json_t *args);

/* ---- raw arguments (raw.c): handlers that forward or store the JSON
 * bytes never have them parsed or dumped.
 *
 * A raw event handler gets the event's data frame exactly as the gateway
 * sent it: json[0..len) is the array ["event", arg…] as the client wrote it
 * (validated by the gateway: PROTOCOL.md rule 30a's JSON rules), not
 * NUL-terminated, with binary values still placeholders
 * {"_placeholder":true,"num":k} whose bytes are att[k] (n_att of them).
 * Everything is borrowed for the call.  `ack` as for iog_event_fn.
 *
 * When an event has only raw handlers on a socket without packet
 * middleware (iog_socket_use) or catch-all (iog_socket_on_any), the
 * library does not parse it at all.  Otherwise it takes the parsed path
 * (middleware, catch-all, iog_socket_on handlers, in that order) and the
 * raw handlers run last, on the packet as the middleware left it,
 * serialized again. */
typedef struct {
    const char *data;
    size_t len;
} iog_buf;
typedef void (*iog_raw_event_fn)(iog_socket *s, const char *json, size_t len, const iog_buf *att,
                                 size_t n_att, iog_ack *ack, void *user);
void iog_socket_on_raw(iog_socket *s, const char *event, iog_raw_event_fn fn, void *user);
/* Remove the raw handlers of `event` registered with `fn` (NULL = all). */
void iog_socket_off_raw(iog_socket *s, const char *event, iog_raw_event_fn fn);
/* Where the arguments start in a raw event's json: "[" followed by
 * json[off..len) is the arguments array without the event name (what
 * iog_ack_send_raw wants to echo them).  0 if json is not ["name", …]. */
size_t iog_raw_args_off(const char *json, size_t len);
/* Send JSON text as it is (not parsed, not copied into a tree; the gateway
 * validates it, rule 30a, and answers ERROR for what it refuses):
 *  - iog_socket_emit_raw: json_array is ["event", arg…] (the form a raw
 *    handler receives, so a received event can be sent on untouched);
 *  - iog_ack_send_raw: json_array is the ack's arguments [arg…]; consumes
 *    *ack as iog_ack_send;
 *  - iog_bc_emit_raw: as iog_bc_emit, consumes *pb.
 * att[0..n_att) are the attachment frames its placeholders refer to (NULL,
 * 0 for none).  -1 without sending for text that is not an array, a
 * reserved or missing event name, or as the parsed forms. */
int iog_socket_emit_raw(iog_socket *s, const char *json_array, size_t len, const iog_buf *att,
                        size_t n_att);
int iog_ack_send_raw(iog_ack **ack, const char *json_array, size_t len, const iog_buf *att,
                     size_t n_att);
int iog_bc_emit_raw(iog_broadcast **pb, const char *json_array, size_t len, const iog_buf *att,
                    size_t n_att);

/* Per-packet socket middleware: `packet` (borrowed; the handler may modify
 * it) is ["event", arg…].  Call iog_next() to continue, iog_next_error() to
 * drop the packet and raise the socket's `error` event. */
typedef void (*iog_packet_middleware_fn)(iog_socket *s, json_t *packet, iog_next_handle *next,
                                         void *user);
void iog_socket_use(iog_socket *s, iog_packet_middleware_fn fn, void *user);

/* The socket's `error` event (socket middleware refusals).  message and data
 * are borrowed for the call.  Without a handler the error is logged. */
typedef void (*iog_error_fn)(iog_socket *s, const char *message, json_t *data, void *user);
void iog_socket_on_error(iog_socket *s, iog_error_fn fn, void *user);

/* `disconnecting` (rooms still present) and `disconnect` (rooms gone),
 * with exactly the gateway's reason (PROTOCOL.md rule 19), or
 * "server namespace disconnect" after iog_socket_disconnect(), or
 * "transport close" when the gateway is lost. */
typedef void (*iog_disconnect_fn)(iog_socket *s, const char *reason, void *user);
void iog_socket_on_disconnecting(iog_socket *s, iog_disconnect_fn fn, void *user);
void iog_socket_on_disconnect(iog_socket *s, iog_disconnect_fn fn, void *user);

/* Conn notices (only the kinds subscribed with iog_worker_subscribe_conn;
 * upgrades always).  event is "upgrade", "packet", "packetCreate", "drain"
 * or "close"; meta is the CONN meta object (borrowed). */
typedef void (*iog_conn_fn)(iog_socket *s, const char *event, json_t *meta, void *user);
void iog_socket_on_conn(iog_socket *s, iog_conn_fn fn, void *user);

/* ------------------------------------------------------------------ */
/* Socket: events out                                                   */

/* True for the names the server API may not emit: connect, connect_error,
 * disconnect, disconnecting, newListener, removeListener. */
bool iog_reserved_event(const char *event);

/* Emit `event` with `args` (consumed: a JSON array of arguments, NULL for
 * none, any other value = one argument) to this socket.  -1 without sending
 * anything for a reserved name, a socket not connected, no gateway, or a
 * send failure.  A send that blocks a whole heartbeat (the gateway stopped
 * reading) fails, and the worker then resynchronises as if the gateway were
 * lost (every socket of that gateway disconnected with "transport close",
 * HELLO again). */
int iog_socket_emit(iog_socket *s, const char *event, json_t *args);
/* Same, but the message may be dropped when the gateway is slow. */
int iog_socket_emit_volatile(iog_socket *s, const char *event, json_t *args);

/* Outgoing catch-all (socket.io's onAnyOutgoing): fn(s, event, args, user)
 * for every event sent to this client — its own emits and the broadcasts
 * that reach it (the worker owns the rooms, so it knows which do); args
 * (borrowed, for the call) without the event name.  Acknowledgements are
 * not events.  prepend: before those already there; off: remove fn's
 * registrations (NULL: all). */
typedef void (*iog_any_out_fn)(iog_socket *s, const char *event, json_t *args, void *user);
void iog_socket_on_any_outgoing(iog_socket *s, iog_any_out_fn fn, void *user);
void iog_socket_prepend_any_outgoing(iog_socket *s, iog_any_out_fn fn, void *user);
void iog_socket_off_any_outgoing(iog_socket *s, iog_any_out_fn fn);

/* Reply to an emit with ack.  Exactly one call per successful
 * iog_socket_emit_with_ack: err NULL and args (borrowed, the client's ack
 * arguments, binary resolved) on success; err "operation has timed out" or
 * "socket has been disconnected" and args NULL otherwise.  s is valid during
 * the call (its disconnect may be in progress). */
typedef void (*iog_ack_fn)(iog_socket *s, const char *err, json_t *args, void *user);
/* Emit asking the client for an acknowledgement; timeout_ms <= 0 waits until
 * the ack or the disconnect.  args consumed.  0, or -1 (cb never called). */
int iog_socket_emit_with_ack(iog_socket *s, const char *event, json_t *args, int timeout_ms,
                             iog_ack_fn cb, void *user);

/* Disconnect this socket: the gateway gets DISCONNECT (close = also close
 * the whole client connection, every namespace), then `disconnecting` and
 * `disconnect` run here with "server namespace disconnect".  After it
 * returns, s must not be used.  -1 if the socket is not connected (still in
 * middleware: use iog_next_error) or already gone. */
int iog_socket_disconnect(iog_socket *s, bool close);

/* ------------------------------------------------------------------ */
/* Broadcasts and namespace utilities                                   */

/* A broadcast selector: receivers are the sockets in at least one of its
 * rooms (all sockets when none), minus those in any `except` room. */
iog_broadcast *iog_broadcast_new(iog_worker *w);        /* everyone */
iog_broadcast *iog_to(iog_worker *w, const char *room); /* io.to(room) */
/* socket.broadcast: everyone but s.  socket.to(room): room but s. */
iog_broadcast *iog_socket_broadcast(iog_socket *s);
iog_broadcast *iog_socket_to(iog_socket *s, const char *room);
/* Builders: add a room / an excepted room / the volatile flag; return b. */
iog_broadcast *iog_bc_to(iog_broadcast *b, const char *room);
iog_broadcast *iog_bc_except(iog_broadcast *b, const char *room);
iog_broadcast *iog_bc_volatile(iog_broadcast *b);
/* socket.io's local flag ("this server node only"): exact as it is, a
 * worker being the only server of its namespace; returns b. */
iog_broadcast *iog_bc_local(iog_broadcast *b);
void iog_bc_destroy(iog_broadcast **pb);
/* One BROADCAST message to each gateway connected (each applies it to its
 * own sockets).  Consumes *pb (set to NULL) and args (as iog_socket_emit).
 * -1 for a reserved name, no gateway connected, or a send failure (to any
 * gateway: the others still got it). */
int iog_bc_emit(iog_broadcast **pb, const char *event, json_t *args);
/* Broadcast asking every receiver for an acknowledgement (socket.io's
 * io.to(room).timeout(ms).emit(ev, …, cb); PROTOCOL.md rule 25a).  The
 * gateways resolve the receivers and count them.  cb runs exactly once
 * (unless -1 is returned): err NULL when every receiver answered, or
 * "operation has timed out" after timeout_ms (1..3600000) with the answers
 * that came; `responses` (borrowed, valid during the call) holds the first
 * ack argument of each answer, binary resolved.  Consumes *pb and args as
 * iog_bc_emit; the volatile flag is ignored.  -1 for a reserved name, a bad
 * timeout, no callback, or no gateway connected.  A worker destroyed
 * first never calls cb. */
typedef void (*iog_bc_ack_fn)(iog_worker *w, const char *err, json_t *responses, void *user);
int iog_bc_emit_with_ack(iog_broadcast **pb, const char *event, json_t *args, int timeout_ms,
                         iog_bc_ack_fn cb, void *user);
/* socket.io's io.serverSideEmit: to the other worker processes of this
 * namespace (PROTOCOL.md rule 25b).  cb NULL: no answer wanted (timeout_ms
 * ignored).  Else cb runs exactly once (unless -1 is returned), with the
 * first argument of each one's answer, like iog_bc_emit_with_ack; a worker
 * alone in its namespace gets (NULL, []).  args consumed.  -1 for a
 * reserved name, a bad timeout, or no gateway connected. */
int iog_server_side_emit(iog_worker *w, const char *event, json_t *args, int timeout_ms,
                         iog_bc_ack_fn cb, void *user);
/* Emit to every socket of the namespace (io.emit). */
int iog_emit(iog_worker *w, const char *event, json_t *args);

/* The sockets matched by b, resolved locally from this worker's room state
 * (a worker owns its namespace's rooms), on every gateway.  Only connected
 * sockets.  JOIN / LEAVE / DISCONNECT go to each socket's own gateway.
 * These do not consume b. */
/* fetchSockets: array of {"id","rooms":[…],"handshake":{…},"data":…}.
 * New ref. */
json_t *iog_bc_fetch_sockets(const iog_broadcast *b);
/* Make the matched sockets join / leave `room` (JOIN/LEAVE each). */
void iog_bc_sockets_join(const iog_broadcast *b, const char *room);
void iog_bc_sockets_leave(const iog_broadcast *b, const char *room);
/* Disconnect the matched sockets (as iog_socket_disconnect). */
void iog_bc_disconnect_sockets(const iog_broadcast *b, bool close);
/* Call fn on each matched socket (live pointers; fn may disconnect). */
typedef void (*iog_socket_each_fn)(iog_socket *s, void *user);
void iog_bc_each(const iog_broadcast *b, iog_socket_each_fn fn, void *user);

/* Shorthands on the whole namespace filtered by `rooms` (NULL-terminated
 * array of room names; NULL = every socket): io.in(rooms).fetchSockets(),
 * .socketsJoin(room), .socketsLeave(room), .disconnectSockets(close). */
json_t *iog_fetch_sockets(iog_worker *w, const char *const *rooms);
void iog_sockets_join(iog_worker *w, const char *const *rooms, const char *room);
void iog_sockets_leave(iog_worker *w, const char *const *rooms, const char *room);
void iog_disconnect_sockets(iog_worker *w, const char *const *rooms, bool close);
/* Adapter events (socket.io's io.of(nsp).adapter.on(…)): fn(w, event, room,
 * sid, user) with event "create-room" (sid NULL), "join-room", "leave-room"
 * or "delete-room" (sid NULL), in socket.io's order, for the rooms of this
 * worker's sockets — every socket's own id included, joined at its CONNECT
 * and left with the rest between `disconnecting` and `disconnect` (or at
 * its refusal).  Raised by the library, which owns the rooms; none on
 * iog_worker_destroy.  Strings borrowed for the call.  iog_off_adapter
 * removes fn's registrations (NULL: all). */
typedef void (*iog_adapter_fn)(iog_worker *w, const char *event, const char *room, const char *sid,
                               void *user);
void iog_on_adapter(iog_worker *w, iog_adapter_fn fn, void *user);
void iog_off_adapter(iog_worker *w, iog_adapter_fn fn);
/* Number of connected sockets. */
size_t iog_worker_socket_count(const iog_worker *w);

/* ---- emitting from another process (emitter.c, PROTOCOL.md rules 10d-10f) --
 * A process that is not a namespace's worker (a web app, a cron job) emits
 * into namespaces the gateway's --emitter-key lets it: to one socket id or
 * as a broadcast.  It receives no client packets, never displaces the
 * worker and cannot ask for acks.  Blocking, not thread-safe (one per
 * thread), no event loop needed. */
typedef struct iog_emitter iog_emitter;
/* Connect and say HELLO as an emitter; waits up to timeout_ms (<= 0: 5000)
 * for WELCOME.  endpoint NULL: IOGATE_ENDPOINT; key NULL:
 * IOGATE_EMITTER_KEY.  NULL with iog_strerror() on failure (a wrong key:
 * "gateway refused HELLO: … (auth)"). */
iog_emitter *iog_emitter_new(const char *endpoint, const char *key, int timeout_ms);
/* BYE, then close; what was sent still goes out (linger = the timeout).
 * Sets *e to NULL. */
void iog_emitter_destroy(iog_emitter **e);
/* Emit `event` with `args` (a JSON array of arguments, or one value, or
 * NULL; consumed) to socket `sid` of `nsp`.  0, or -1 when the message
 * could not be sent or the gateway refused an earlier one (ERROR: a
 * namespace the key does not name…); an unknown socket id is not an error
 * (it may have just left). */
int iog_emitter_emit(iog_emitter *e, const char *nsp, const char *sid, const char *event,
                     json_t *args);
/* Broadcast to the sockets of `nsp` in any of `rooms` (NULL-terminated;
 * NULL = all) and in none of `except`.  As iog_emitter_emit. */
int iog_emitter_broadcast(iog_emitter *e, const char *nsp, const char *const *rooms,
                          const char *const *except, const char *event, json_t *args);
/* Read the gateway's answers for up to wait_ms (PINGs answered): -1 if it
 * refused something sent before.  Call it before exiting to know that
 * everything was accepted, and now and then in a long-lived idle emitter. */
int iog_emitter_flush(iog_emitter *e, int wait_ms);

#ifdef __cplusplus
}
#endif
#endif
