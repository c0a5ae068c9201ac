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
    unsigned ws : 1;          /* WebSocket mode */
    unsigned dirty : 1;       /* on the flush list */
    unsigned in_parse : 1;
    unsigned msg_complete : 1;
    unsigned responded : 1;
    unsigned in_head : 1;     /* a request head has begun and is not complete */
    unsigned want_body : 1;
    unsigned upgrade_pending : 1;
    unsigned read_paused : 1;
    unsigned secure : 1; /* see http_server_adopt */
    int resp_close; /* the current response ends the connection */
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

#endif
