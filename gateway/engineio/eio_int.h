/* eio_int.h — the inside of an Engine.IO session and server, shared by
 * the files that implement eio.h: eio.c (lifetime, sending, receiving,
 * heartbeats, the server), eio_session.c (the sid table and a new session
 * from its handshake), eio_poll.c (long-polling) and eio_ws.c (WebSocket
 * and the upgrade).  Nobody else includes it.
 *
 * The session's life is the table at the top of eio.c.
 */
#ifndef IOGATE_EIO_INT_H
#define IOGATE_EIO_INT_H

#include <stdint.h>
#include <uthash.h>

#include "admission.h"
#include "eio.h"
#include "eio3.h"
#include "eio_codec.h"
#include "fastcgi.h"
#include "http.h"
#include "metrics.h"
#include "tlist.h"
#include "util.h"

#define LINGER_MAX 2.0  /* seconds a closed polling session waits for a GET */
#define NOOP_PERIOD 0.1 /* noop cadence while an upgrade is pending */
#define HDR_BUF 4096

/* A session's life (the table at the top of eio.c has the events).  States
 * only move forward:
 *   S_OPEN     carries packets (on polling, upgrading, or WebSocket:
 *              `transport` and `probe` say which)  → S_CLOSING by eio_session_end
 *   S_CLOSING  closed; on_close is due at the next safe point  → S_CLOSED
 *   S_CLOSED   on_close delivered; waits until no connection (get, post,
 *              ws, probe) refers to it and its sid no longer lingers → S_REAPING
 *   S_REAPING  on the reap list: freed at the next safe point
 * Not states: `transport` (still read after the close, eio.h), `lingering`
 * (the sid stays in the table for one more GET, in S_CLOSING or S_CLOSED),
 * list memberships (dirty, in_table) and per-packet facts. */
enum { S_OPEN = 0, S_CLOSING, S_CLOSED, S_REAPING };

struct eio_session {
    eio_server *srv;
    char sid[GW_ID_LEN + 1];
    int transport;
    int state;
    eio_close_reason reason;
    unsigned dirty : 1, in_table : 1, lingering : 1;
    unsigned probed : 1, noop_due : 1, awaiting_pong : 1, post_bad : 1, send_close : 1;
    unsigned from_above : 1;     /* closed by eio_session_close() */
    unsigned v3 : 1, v3_b64 : 1; /* Engine.IO v3 client (eio3.h); `b64` in its query */
    eio3_payload_dec *dec3;      /* v3 POST bodies, NULL for v4 */
    http_conn *get, *post, *ws, *probe;
    eio_pend *q; /* eio3.h */
    size_t nq, qcap;
    eio_payload_dec dec;
    size_t post_bytes;
    size_t q_bytes;              /* payload bytes waiting in q (polling) */
    struct addr_count *per_addr; /* counted here while open, or NULL */
    gw_tnode hb;                 /* ping_list or pong_list */
    gw_tnode upg;                /* upgrade_list */
    gw_tnode lng;                /* linger_list */
    eio_session *dnext, *cnext, *rnext;
    UT_hash_handle hh; /* srv->table by sid */
    eio_handshake hs;
    void *hs_mem;
    void *userdata;
};

/* Open sessions per client address (--max-sessions-per-address). */
struct addr_count {
    char addr[64];
    size_t n;
    UT_hash_handle hh;
};

struct eio_server {
    struct ev_loop *loop;
    eio_config cfg;
    eio_handler h;
    void *ud;
    http_server *http;
    fastcgi_front *fcgi; /* --fastcgi: bridged requests arrive on `http` */
    eio_session *table;  /* by sid (uthash) */
    size_t ntable, nopen;
    gw_tlist ping_list, pong_list, upgrade_list, linger_list;
    gw_tlist eio3_list; /* v3: the client's ping is due (pingInterval + pingTimeout) */
    ev_timer noop_timer;
    eio_session *dirty, *closed, *reap;
    int shut;
    size_t max_sessions, max_buffered;
    /* --max-buffered-total counts the polling queues too (what waits for a
     * GET): q_total is their sum, max_total the cap http.c also applies */
    size_t q_total, max_total;
    struct addr_count *addrs;
    adm_queue *adm; /* --admission, NULL = off */
};

/* A session's queue went out (or away): it no longer counts toward
 * --max-buffered-total. */
static inline void eio_q_clear(eio_session *s)
{
    s->srv->q_total -= s->q_bytes;
    s->q_bytes = 0;
}

static inline void eio_detach(http_conn *c)
{
    http_conn_set_owner(c, NULL);
}

/* eio.c: lifetime, sending, receiving, timeouts, the server */
void eio_mark_dirty(eio_session *s);
void eio_maybe_reap(eio_session *s);
void eio_stop_linger(eio_session *s);
void eio_drop_probe(eio_session *s, uint16_t code);
void eio_session_end(eio_session *s, eio_close_reason reason);
const char *eio_extra_headers(eio_server *srv, const http_request *r, const char *cookie_sid,
                              char *buf);
void eio_respond_error(eio_server *srv, http_conn *c, const http_request *r, int code, int close);
int eio_on_pkt(eio_session *s, int type, const char *data, size_t len, int binary);
int eio_on_payload(void *ud, int type, const char *data, size_t len, int binary);
int eio_check_query(eio_server *srv, const http_request *r, char *transport, char *sid);
int eio_is_engine_path(eio_server *srv, const char *path);
void eio_on_drain(http_conn *c, void *ud);

/* eio_session.c: the sid table, a new session from its handshake */
eio_session *eio_table_get(eio_server *srv, const char *sid);
void eio_table_del(eio_server *srv, eio_session *s);
int eio_admit(eio_server *srv, const http_request *r);
void eio_refuse_handshake(eio_server *srv, http_conn *c, const http_request *r, int status);
eio_session *eio_session_new(eio_server *srv, const http_request *r, int transport);
int eio_open_packet(eio_server *srv, eio_session *s, char *buf, size_t cap);
void eio_opened(eio_server *srv, eio_session *s);

/* eio_poll.c: long-polling */
void eio_answer_poll(eio_session *s, int noop_only);
void eio_handshake_polling(eio_server *srv, http_conn *c, const http_request *r);
void eio_poll_get(eio_server *srv, eio_session *s, http_conn *c, const http_request *r);
void eio_poll_post(eio_server *srv, eio_session *s, http_conn *c, const http_request *r);
void eio_on_body(http_conn *c, const char *p, size_t n, void *ud);
void eio_on_end(http_conn *c, void *ud);

/* eio_ws.c: WebSocket sessions and the upgrade from polling */
void eio_on_upgrade(http_conn *c, const http_request *r, void *ud);
void eio_on_ws_message(http_conn *c, int opcode, const char *p, size_t n, void *ud);

#endif
