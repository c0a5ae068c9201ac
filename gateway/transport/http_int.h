/* http_int.h — the inside of an HTTP connection, shared by exactly the two
 * files that implement it: http.c (and its helpers in http_util.c) and
 * ws.c, which reads WebSocket input from the same buffer and frees the
 * request head once the connection switched.  Nobody else includes this:
 * the layers above use the accessors in http.h.
 */
#ifndef IOGATE_HTTP_INT_H
#define IOGATE_HTTP_INT_H

#include "http.h"

struct ws_state;
struct tls_conn;

/* A connection's life, in one table.  States only move forward, so
 * `life >= HTTP_C_LINGERING` reads "our side is finished".
 *
 *   OPEN       peer closed, error, slow reader, idle or
 *              header timeout, http_conn_close         → DEAD
 *   OPEN       http_conn_close_after_flush, a response
 *              that ends the connection, or the peer's
 *              EOF with an answer still queued         → CLOSING
 *   CLOSING    output queue written                    → LINGERING (write half shut)
 *   CLOSING    error / http_conn_close                 → DEAD
 *   LINGERING  peer's EOF, LINGER_SECONDS, error      → DEAD
 *   DEAD       the safe point frees it (graveyard)
 *
 * OPEN reads requests (or WebSocket frames) and writes; CLOSING reads no
 * more requests; LINGERING discards input; DEAD is never touched again
 * except to be freed. */
typedef enum {
    HTTP_C_OPEN = 0,
    HTTP_C_CLOSING,   /* close once the output queue is empty */
    HTTP_C_LINGERING, /* write side shut, draining input until EOF */
    HTTP_C_DEAD,      /* closed, waiting in the graveyard */
} http_conn_life;

#define IN_CHUNK 4096
#define IN_SCRATCH (64 * 1024)
#define IN_PAUSE (64 * 1024) /* stop reading when this much input waits */

struct http_seg {
    wire_msg *msg; /* NULL: bytes are in c->ob at off */
    const char *p;
    size_t off, len;
};

struct http_server {
    struct ev_loop *loop;
    http_handler h;
    void *ud;
    http_limits lim;
    int lfd;
    ev_io accept_w;
    ev_prepare prep;
    http_parser_settings settings;
    http_conn *conns;
    http_conn *dirty;
    http_conn *grave;
    gw_tlist linger;
    /* A connection without an owner is on exactly one of these (its `idle`
     * node moves between them): `head` from accept or the first byte of a
     * request until the head is complete (slowloris: 408 after
     * header_timeout), `idle` from the end of a response until the next
     * request begins (silent keep-alive: closed after idle_timeout). */
    gw_tlist idle;
    gw_tlist head;
    size_t nconns;
    /* --max-buffered-total: what every connection's output queue holds */
    size_t out_total;      /* sum of out_bytes */
    size_t live_segs;      /* queued segments, each sizeof(struct http_seg) */
    double refused_logged; /* ev_now of the last "refusing connection" line */
    size_t refused;        /* refused since that line */
    char *scratch;         /* IN_SCRATCH bytes, see read_cb */
    struct tls_ctx *tls;   /* accepted connections speak TLS (borrowed) */
    ev_timer accept_pause;
};

struct http_conn {
    http_server *srv;
    int fd;
    ev_io rio, wio;
    http_conn_life life;
    /* Independent of `life`: the protocol spoken (a WebSocket connection
     * closes and lingers like an HTTP one), list memberships, and the
     * progress of the current request, which http.c resets per request
     * (on_message_begin): a response may begin before its body has
     * arrived (413), a body is delivered only when asked for. */
    unsigned ws : 1;    /* WebSocket mode */
    unsigned dirty : 1; /* on the flush list */
    unsigned in_parse : 1;
    unsigned msg_complete : 1;
    unsigned responded : 1;
    unsigned in_head : 1; /* a request head has begun and is not complete */
    unsigned want_body : 1;
    unsigned upgrade_pending : 1;
    unsigned read_paused : 1;
    unsigned secure : 1; /* see http_server_adopt */
    int resp_close;      /* the current response ends the connection */
    http_parser parser;
    /* input */
    char *in;
    size_t in_off, in_len, in_cap;
    /* request head: url, then name\0value\0 pairs */
    char *hb;
    size_t hb_len, hb_cap, url_len, head_bytes, path_off;
    int hstate, err_status;
    size_t *hoffs; /* 2 per header */
    size_t nh, hoffs_cap;
    http_field *hdrs;
    size_t hdrs_cap;
    http_request req;
    /* output queue */
    struct http_seg *segs;
    size_t nseg, seg_head, seg_cap;
    char *ob;
    size_t ob_len, ob_cap, out_bytes;
    /* owner (an eio session) and WebSocket state */
    void *owner;
    struct ws_state *wss;
    struct tls_conn *tls; /* NULL: plain TCP (tls.h) */
    char addr[64];
    http_conn *next, *prev; /* all live connections */
    http_conn *dirty_next;
    gw_tnode linger;
    gw_tnode idle; /* in the server's idle or header list, see http.c */
};

/* Hand a complete WebSocket message to on_ws_message (ws.c). */
void http_conn_deliver_ws(http_conn *c, int opcode, const char *p, size_t n);
/* Put the connection on the flush list (output or buffered input waiting). */
void http_conn_mark_dirty(http_conn *c);

/* ws.c, for http.c: feed buffered input to wslay; free the state. */
void ws_process_input(http_conn *c);
void ws_free(http_conn *c);

/* http_request.c */
void http_request_settings(http_parser_settings *st);
void http_req_reset(http_conn *c);     /* ready for the next request on c */
void http_bad_request(http_conn *c);   /* answer the parse error or limit, close */
void http_process_input(http_conn *c); /* parse what c->in holds (or ws.c's frames) */

#endif
