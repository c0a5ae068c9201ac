/* http.h — HTTP/1.1 connections on libev, parsed with http-parser:
 * keep-alive, pipelining (one request at a time; later ones wait in the
 * input buffer while a long-poll is held), request-head limits (414/431),
 * an output queue written with writev (zero-copy for shared wire_msg
 * payloads), lingering close, and static files.  A connection can switch to
 * WebSocket mode (ws.c); the same struct and output queue then carry frames.
 *
 * Everything runs on one loop.  Connections are never freed inside a
 * callback: a dead connection goes to a graveyard freed by the server's
 * prepare watcher (the loop's safe point), which also flushes output queued
 * during the loop turn, so everything queued in one turn leaves in one
 * writev.
 *
 * Trust: request bytes are untrusted; the handler sees only requests that
 * passed http-parser and the size limits.
 */
#ifndef IOGATE_HTTP_H
#define IOGATE_HTTP_H

#include <ev.h>
#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tlist.h"
#include "wire.h"

typedef struct http_server http_server;
typedef struct http_conn http_conn; /* opaque: http_int.h, for http.c and ws.c */

/* One request header field; names lower-cased by the parser. */
typedef struct {
    const char *name;
    const char *value;
} http_field;

/* A parsed request head; valid until the response to it has ended. */
typedef struct {
    int method;                /* enum http_method */
    const char *url;           /* request target, NUL-terminated */
    const char *path;          /* path part of url (NUL-terminated copy) */
    const char *query;         /* after '?', "" if none */
    const http_field *headers; /* names lower-cased */
    size_t n_headers;
    int keep_alive;
    uint64_t content_length; /* UINT64_MAX if none */
    const char *address;     /* peer IP (for an adopted connection: what its adopter said) */
    int secure;              /* the peer's connection is TLS (adopted connections only) */
} http_request;

/* Why a connection stopped being usable for its owner. */
typedef enum {
    HTTP_GONE_EOF = 0, /* peer closed (or sent a WebSocket close) */
    HTTP_GONE_ERROR,   /* socket error, protocol error, slow reader */
    HTTP_GONE_LOCAL,   /* we closed it */
    HTTP_GONE_TOOBIG,  /* WebSocket message over the limit (close 1009 sent) */
} http_gone;

typedef struct {
    /* A request head is complete (not an upgrade).  The handler responds
     * now or later (a held long-poll) with http_respond / http_response_*. */
    void (*on_head)(http_conn *c, const http_request *r, void *ud);
    /* Body bytes, only after http_conn_want_body() and before a response. */
    void (*on_body)(http_conn *c, const char *p, size_t n, void *ud);
    /* The body is complete (only after http_conn_want_body()). */
    void (*on_end)(http_conn *c, void *ud);
    /* A request with "Upgrade" + "Connection: upgrade".  The handler either
     * calls ws_start() or responds (the connection then closes). */
    void (*on_upgrade)(http_conn *c, const http_request *r, void *ud);
    /* WebSocket mode: one complete text (1) or binary (2) message. */
    void (*on_ws_message)(http_conn *c, int opcode, const char *p, size_t n, void *ud);
    /* A connection with an owner (http_conn_set_owner) is no longer usable:
     * peer gone, error, or a close.  Called once; the owner is cleared. */
    void (*on_gone)(http_conn *c, void *owner, http_gone why, void *ud);
    /* A connection with an owner has written everything queued. */
    void (*on_drain)(http_conn *c, void *ud);
    /* Safe point before each flush round; return 1 if it did any work. */
    int (*on_prepare)(void *ud);
} http_handler;

/* The default --header-timeout, in one place (eio_config, http_limits). */
#define HTTP_HEADER_TIMEOUT_MS 10000

typedef struct {
    size_t max_header_bytes; /* request head over this → 431 */
    size_t max_url_bytes;    /* URL over this → 414 */
    size_t max_output;       /* bytes queued for one slow reader → drop it */
    size_t max_output_total; /* bytes queued over all connections → drop the ones
                                holding the most until under it (0 = no cap) */
    double idle_timeout;     /* seconds an unowned keep-alive connection may stay
                                silent after its last response */
    double header_timeout;   /* seconds from accept, or from the first byte of a
                                request, until its head is complete → 408
                                (0 = HTTP_HEADER_TIMEOUT_MS) */
    size_t max_conns;        /* TCP connections at once; past it a new one gets a
                                503 and is closed (0 = no cap) */
} http_limits;

struct tls_ctx;

/* The process must ignore SIGPIPE (main.c does, as do the tests and
 * fuzzers that serve HTTP): a peer that goes away while we write must cost
 * an EPIPE, not the process. */
http_server *http_server_new(struct ev_loop *loop, const http_limits *lim, const http_handler *h,
                             void *ud);
/* Bind and listen; 0 or -1 (logged).  Connections wait in the backlog
 * until http_server_listen() starts accepting them. */
int http_server_bind(http_server *s, const char *host, int port);
/* Bind (unless http_server_bind() did) and start accepting; 0 or -1 (logged). */
int http_server_listen(http_server *s, const char *host, int port);
void http_server_stop_listening(http_server *s);
/* Serve TLS on the listener (tls.h): connections accepted from now on
 * speak TLS and their requests are `secure`.  Borrowed; NULL = plain.
 * Adopted connections (http_server_adopt) are never wrapped. */
void http_server_set_tls(http_server *s, struct tls_ctx *tls);
/* Take over `fd`, a connected stream socket (made non-blocking here), as
 * if accepted: requests on it are served like any other.  `addr` becomes
 * the peer address and `secure` the TLS flag of its requests — for a bridge
 * that vouches for the real client (fastcgi.c), and for fuzzers and tests
 * that drive the whole request path through a socketpair.  Loop thread
 * only; the server owns fd from now on. */
http_conn *http_server_adopt(http_server *s, int fd, const char *addr, int secure);
/* Try one last flush of every connection, then close them all. */
void http_server_close_all(http_server *s);
void http_server_destroy(http_server **s);
struct ev_loop *http_server_loop(http_server *s);
/* Number of open TCP connections. */
size_t http_server_conns(const http_server *s);
/* Bytes queued for output over all its connections (for /metrics). */
size_t http_server_buffered(const http_server *s);

/* --- per connection -------------------------------------------------------- */
void http_conn_set_owner(http_conn *c, void *owner);
/* Deliver the current request's body to on_body/on_end. */
void http_conn_want_body(http_conn *c);
/* Close now (queued output is dropped); on_gone(HTTP_GONE_LOCAL) if owned. */
void http_conn_close(http_conn *c);
/* Close now with a reason for the owner's on_gone. */
void http_conn_fail(http_conn *c, http_gone why);
/* Tell the owner (on_gone) that the connection is no longer usable, and
 * clear the owner; the connection itself lives on (e.g. to flush a close). */
void http_conn_detach(http_conn *c, http_gone why);
/* Close once everything queued is written. */
void http_conn_close_after_flush(http_conn *c);
/* Queue bytes (copied) / a slice of a shared message (referenced). */
void http_conn_write(http_conn *c, const void *p, size_t n);
void http_conn_write_msg(http_conn *c, wire_msg *m, const char *p, size_t n);
/* The request being answered (valid until its response has ended). */
const http_request *http_conn_request(const http_conn *c);
/* The owner set with http_conn_set_owner, or NULL. */
void *http_conn_owner(const http_conn *c);
/* The peer's address as text (for log lines). */
const char *http_conn_addr(const http_conn *c);
/* 1 once the current request has its answer: a response begun, WebSocket
 * mode, or the connection closed.  An upgrade handler that leaves a
 * request unanswered gets the connection closed (as http.c does). */
int http_conn_answered(const http_conn *c);

/* Responses: head (status line, Content-Type/Length, Connection, `extra`
 * preformatted lines "Name: value\r\n"), then body writes, then end.  A
 * HEAD request gets the head only.  `close` ends the connection after. */
void http_response_head(http_conn *c, int status, const char *ctype, const char *extra,
                        size_t body_len, int close);
void http_response_end(http_conn *c);
void http_respond(http_conn *c, int status, const char *ctype, const char *extra, const char *body,
                  size_t len, int close);
/* Serve a file below root for the URL path (GET/HEAD; index.html for
 * directories); 404 if missing or escaping root. */
void http_respond_file(http_conn *c, const char *root, const char *urlpath, const char *extra);
/* Serve one given file, with ETag / Last-Modified; 304 (no body) when the
 * request's If-None-Match / If-Modified-Since says the client has it. */
void http_respond_path(http_conn *c, const char *file, const char *extra);
/* --client-js: `where` is the bundle's directory (every file whose name
 * http_client_js_name accepts) or one file (socket.io.js, and FILE.map as
 * socket.io.js.map); 404 otherwise. */
void http_respond_client_js(http_conn *c, const char *where, const char *name, const char *extra);

/* --- pure helpers (unit-tested) -------------------------------------------- */
/* 1 if `name` (the part of a URL after the Engine.IO path) is a client
 * bundle file: socket.io[.variant].js or .js.map, lower case, no slash. */
int http_client_js_name(const char *name);
/* 1 if the conditional headers of r say the client's copy (etag, mtime)
 * is current: If-None-Match (weak comparison, `*`), else If-Modified-Since. */
int http_not_modified(const http_request *r, const char *etag, time_t mtime);
const char *http_status_text(int status);
/* Header value by lower-case name, or NULL. */
const char *http_header(const http_request *r, const char *name);
/* Query parameter, percent-decoded into out (NUL-terminated).  Returns its
 * length, -1 if absent, -2 if malformed or longer than outlen - 1. */
long http_query_get(const char *query, const char *name, char *out, size_t outlen);
/* Map a URL path below root to a file path: percent-decodes, rejects `..`
 * segments, NUL, backslashes; "/" or a trailing '/' → index.html.  0 or -1. */
int http_safe_path(const char *root, const char *urlpath, char *out, size_t outlen);
const char *http_mime_type(const char *path);
/* 1 if the comma-separated header value contains token (case-insensitive). */
int http_has_token(const char *value, const char *token);

#endif
