/* eio.h — Engine.IO protocol v4 server: sessions over HTTP long-polling and
 * WebSocket (with upgrade), on one libev loop.
 *
 * This is the seam between the transport half of the gateway and whatever
 * sits on top (the Socket.IO layer in sio.c, or the --echo diagnostic).  The
 * upper layer sees sessions that open, carry whole Engine.IO *message*
 * packets (type 4) in both directions, and close with an exact reason.
 * Everything else — HTTP, polling, WebSocket frames, upgrade, ping/pong,
 * CORS, limits — stays below this line and never leaks upward.
 *
 * Ownership: the server owns every session.  A session pointer stays valid
 * until its on_close callback has returned; after that it must not be used.
 * Sessions are freed at a safe point of the loop, never inside a callback.
 */
#ifndef IOGATE_EIO_H
#define IOGATE_EIO_H

#include <stddef.h>
#include <stdint.h>
#include <ev.h>

#include "fastcgi.h"
#include "http.h"
#include "wire.h"

typedef struct eio_server eio_server;
typedef struct eio_session eio_session;
typedef struct wire_msg eio_msg; /* transport/wire.h: a text one has '4' as prefix */
struct eio_handshake;

/* Why a session closed.  The strings are the ones Socket.IO reports as the
 * `disconnect` reason, so the upper layer can pass them on unchanged. */
typedef enum {
    EIO_CLOSE_TRANSPORT_CLOSE = 0, /* "transport close": peer went away / sent close */
    EIO_CLOSE_TRANSPORT_ERROR,     /* "transport error": I/O error, oversize, slow reader */
    EIO_CLOSE_PARSE_ERROR,         /* "parse error": invalid Engine.IO input */
    EIO_CLOSE_FORCED,              /* "forced close": eio_session_close() by the upper layer */
    EIO_CLOSE_PING_TIMEOUT,        /* "ping timeout": no pong within pingTimeout */
    EIO_CLOSE_SHUTDOWN,            /* "server shutting down": eio_server_shutdown() */
    EIO_CLOSE_FORCED_SERVER,       /* "forced server close": reserved for the upper layer */
} eio_close_reason;

const char *eio_close_reason_str(eio_close_reason r);

enum {
    EIO_TRANSPORT_POLLING = 1,
    EIO_TRANSPORT_WEBSOCKET = 2,
};

typedef struct {
    const char *host;            /* listen address, default "127.0.0.1" */
    int port;                    /* default 3000 */
    const char *path;            /* default "/socket.io/" (always ends with '/') */
    unsigned ping_interval_ms;   /* 25000 */
    unsigned ping_timeout_ms;    /* 20000 */
    unsigned upgrade_timeout_ms; /* 10000 */
    size_t max_payload;          /* 1000000: POST body and WebSocket message cap */
    unsigned transports;         /* EIO_TRANSPORT_* mask, default both */
    const char **cors_origins;   /* NULL-terminated; NULL = CORS off; "*" allowed */
    int cors_credentials;        /* Access-Control-Allow-Credentials: true */
    const char *cookie;          /* cookie name carrying the sid, NULL = off */
    const char *static_dir;      /* serve GET files below this dir for other paths, or NULL */
    const char *client_js;       /* file served at <path>socket.io.js, or NULL */
    size_t max_header_bytes;     /* 8192: larger request head → 431 */
    size_t max_url_bytes;        /* 8192: longer URL → 414 */
    /* Exhaustion limits (README "Security and limits").  Each refusal is
     * logged with the client's address and touches nobody else. */
    size_t max_connections;          /* open sessions; 0 = from RLIMIT_NOFILE (at most 10000);
                                        a handshake past it → 503 */
    size_t max_sessions_per_address; /* 0 = off; a handshake past it from one IP → 429 */
    unsigned header_timeout_ms;      /* 10000: a request head must be complete by then (408) */
    unsigned idle_timeout_ms;        /* 0 = pingInterval + pingTimeout: a keep-alive connection
                                        with no request in flight is closed after it */
    size_t max_buffered;             /* 0 = 4 × max_payload + 16 MiB: bytes queued for one
                                        client; past it the session closes (transport error) */
    size_t max_buffered_total;       /* 0 = 1 GiB or 4 × max_buffered if more: bytes queued over
                                        all connections; past it the biggest holders are dropped */
    /* Behind a web server (README "Behind nginx / FastCGI"): */
    const char **trust_proxies;   /* NULL-terminated --trust-proxy specs (proxy.h), NULL = none */
    const char *fastcgi;          /* FastCGI responder "HOST:PORT" or "unix:PATH", NULL = off */
    unsigned fastcgi_max_threads; /* 4096: requests served through FastCGI at once */
    unsigned fastcgi_socket_mode; /* unix socket permissions | GW_FCGI_MODE_SET, 0 = umask */
    long fastcgi_socket_uid, fastcgi_socket_gid; /* unix socket owner, -1 = unchanged */
    struct tls_ctx *tls; /* serve HTTPS/WSS on the listener (tls.h), NULL = plain;
                            borrowed: the caller keeps it alive and may reload it */
    /* Handshake admission (admission.h, README "Refusing handshakes"): */
    const char *admission;         /* namespace whose worker decides, NULL = off */
    unsigned admission_timeout_ms; /* 2000: no answer by then → 503 */
    size_t admission_max_pending;  /* 1024: handshakes waiting at once; more → 503 */
    int allow_eio3;                /* --allow-eio3: accept Engine.IO v3 clients (eio3.h) */
} eio_config;

/* Fill *cfg with the defaults above. */
void eio_config_defaults(eio_config *cfg);

/* What the upper layer is told.  All callbacks are optional except on_message.
 * `ud` is the pointer given to eio_server_new(). */
typedef struct {
    /* A new session finished its handshake (open packet sent). */
    void (*on_open)(eio_session *s, void *ud);
    /* One Engine.IO message packet.  `binary` says whether it was a binary
     * packet (WebSocket binary frame, or `b`+base64 on polling, decoded).
     * `data` is only valid during the call. */
    void (*on_message)(eio_session *s, const char *data, size_t len, int binary, void *ud);
    /* The session moved from polling to WebSocket (upgrade completed). */
    void (*on_upgrade)(eio_session *s, void *ud);
    /* Optional: an Engine.IO packet of `type` (0 open .. 6 noop) was received
     * (outgoing = 0) or queued for the client (outgoing = 1).  Feeds the
     * worker's conn "packet"/"packetCreate" notices. */
    void (*on_packet)(eio_session *s, int type, int outgoing, void *ud);
    /* Optional: everything queued for the client has been written. */
    void (*on_drain)(eio_session *s, void *ud);
    /* The session is closed; last callback for `s`. */
    void (*on_close)(eio_session *s, eio_close_reason reason, void *ud);
    /* Optional, used when cfg.admission is set: may a handshake (no session
     * yet) go on?  `hs` is valid during the call only.  Return 0 once the
     * question is on its way (answer later with eio_admission_answer() and
     * the same id), or -1 (logged) when nobody can be asked: refused, 503. */
    int (*on_admission)(uint64_t id, const struct eio_handshake *hs, void *ud);
} eio_handler;

/* The answer to on_admission's question `id`: ok opens the session as if
 * nothing had happened; a refusal answers the client as the reference does
 * for allowRequest (message NULL = "Forbidden").  0, or -1 when that
 * handshake no longer waits (client gone, timed out). */
int eio_admission_answer(eio_server *srv, uint64_t id, int ok, const char *message);

/* Create a server on `loop`.  `cfg` is copied (its strings must outlive the
 * server).  Returns NULL with a log line on failure. */
eio_server *eio_server_new(struct ev_loop *loop, const eio_config *cfg, const eio_handler *h,
                           void *ud);
/* Bind the listening socket now (so a busy port or an unresolvable host
 * fails before anything else starts); connections wait in the backlog
 * until eio_server_listen().  0 on success, -1 (logged) on failure. */
int eio_server_bind(eio_server *srv);
/* Bind (unless done) and listen.  0 on success, -1 (logged) on failure. */
int eio_server_listen(eio_server *srv);
/* Close every session with EIO_CLOSE_SHUTDOWN (a close packet is sent where
 * the transport allows), stop listening.  on_close runs for each session. */
void eio_server_shutdown(eio_server *srv);
/* Free the server; sets *srv to NULL.  Call after eio_server_shutdown(). */
void eio_server_destroy(eio_server **srv);
/* Number of open sessions. */
size_t eio_server_sessions(const eio_server *srv);
/* Bytes queued for clients over all connections (for /metrics). */
size_t eio_server_buffered(const eio_server *srv);
/* Serve an already connected non-blocking socket as if accepted from
 * `addr` (the server owns fd from now on).  For fuzzers and tests: the
 * whole request path, from read() up, without a listener. */
void eio_server_adopt(eio_server *srv, int fd, const char *addr);

/* --- outgoing messages -------------------------------------------------
 * An eio_msg is one Engine.IO *message* packet ready to send, encoded once
 * and shared by reference between any number of sessions (a broadcast is
 * encoded once whatever the room size).  The transport adds its framing
 * (WebSocket frame header, or `4` / `b`+base64 inside a polling payload)
 * without copying the payload more than it must. */

/* A new message with room for `len` payload bytes (text or binary), refcount
 * 1.  Fill it through eio_msg_data() before the first send. */
eio_msg *eio_msg_new(int binary, size_t len);
/* Convenience: a message holding a copy of `data`. */
eio_msg *eio_msg_copy(int binary, const void *data, size_t len);
char *eio_msg_data(eio_msg *m);
size_t eio_msg_len(const eio_msg *m);
eio_msg *eio_msg_ref(eio_msg *m);
/* Drop one reference; sets *m to NULL. */
void eio_msg_unref(eio_msg **m);

/* Queue `m` on the session (takes its own reference; the caller keeps its
 * own).  0, or -1 if the session is closing (nothing queued).  Messages
 * queued in one loop turn go out together (one write / one poll response). */
int eio_session_send(eio_session *s, eio_msg *m);

/* Close the session from above: a close packet goes out where possible and
 * on_close runs (now or at the next safe point) with `reason`, which is
 * normally EIO_CLOSE_FORCED. */
void eio_session_close(eio_session *s, eio_close_reason reason);

/* --- what the upper layer may read about a session ---------------------- */
const char *eio_session_id(const eio_session *s);             /* private Engine.IO sid */
int eio_session_transport(const eio_session *s);              /* EIO_TRANSPORT_* now */
const char *eio_session_transport_name(const eio_session *s); /* "polling" / "websocket" */
void eio_session_set_userdata(eio_session *s, void *p);
void *eio_session_userdata(const eio_session *s);

/* The handshake request, as it arrived (headers lower-cased names). */
typedef http_field eio_header;
typedef struct eio_handshake {
    const eio_header *headers; /* n_headers entries */
    size_t n_headers;
    const char *url;     /* request target, e.g. "/socket.io/?EIO=4&transport=polling" */
    const char *query;   /* raw query string without '?' */
    const char *address; /* client IP address as text: the peer, or what trusted
                            proxies said (X-Forwarded-For, FastCGI REMOTE_ADDR) */
    int secure;          /* 1 if the client's connection was TLS, as far as the
                            gateway or a trusted proxy / web server knows */
    int xdomain;         /* 1 if an Origin header was present */
    double time_ms;      /* handshake time, ms since the epoch */
} eio_handshake;
const eio_handshake *eio_session_handshake(const eio_session *s);
/* The client's Engine.IO protocol: 4, or 3 for a socket.io-client 2.x
 * admitted by --allow-eio3 (the reference's `socket.conn.protocol`). */
int eio_session_protocol(const eio_session *s);

#endif
