/* bench.h — private header of iogate-bench, the Socket.IO load generator
 * (tools/bench/).  Three parts share it:
 *   client.c  one client connection: TCP, the HTTP handshakes (WebSocket
 *             upgrade, long-polling requests), WebSocket frames, and just
 *             enough Engine.IO v4 / Socket.IO v5 to connect a namespace,
 *             answer pings, emit, and tell events and acks apart;
 *   stats.c   latency histogram, /proc sampling of the server processes;
 *   main.c    options, the scenarios, the report (table and JSON).
 * Everything runs on one libev loop; nothing here is thread-safe.
 *
 * Trust: the server under test is not trusted to be correct (that is what
 * a benchmark may find out), so everything read from it is bounds-checked;
 * but it is a local process we chose, so a protocol error simply fails
 * that connection and is counted. */
#ifndef IOGATE_BENCH_H
#define IOGATE_BENCH_H

#include <ev.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Time */

/* CLOCK_MONOTONIC in nanoseconds (latencies are measured with this). */
uint64_t now_ns(void);

/* ------------------------------------------------------------------ */
/* Target */

typedef struct {
    struct sockaddr_in addr; /* server address (IPv4) */
    char hostport[300];      /* for the Host header */
    char path[256];          /* Engine.IO path, with trailing '/' */
    char nsp[128];           /* namespace, "/" by default */
    size_t nsp_len;
    struct in_addr *src; /* source addresses to bind (round robin), may be empty */
    size_t nsrc;
    void *tls; /* SSL_CTX for https:// targets (WSS, HTTPS polling), NULL = plain */
} bench_target;

/* ------------------------------------------------------------------ */
/* Client connection */

enum bconn_transport { BT_WEBSOCKET = 0, BT_POLLING = 1 };

enum bconn_state {
    BC_IDLE = 0, /* no socket */
    BC_TCP,      /* connect() in progress */
    BC_HTTP,     /* waiting for an HTTP response (upgrade or polling) */
    BC_EIO_OPEN, /* WebSocket up, waiting for the Engine.IO open packet */
    BC_SIO_WAIT, /* Socket.IO CONNECT sent, waiting for its answer */
    BC_READY,    /* namespace connected */
    BC_CLOSING,  /* polling: close packet posted, waiting for "ok" */
    BC_CLOSED    /* closed; the owner may reopen the slot */
};

typedef struct bconn bconn;

/* What a scenario hears from its connections.  Callbacks may send on the
 * connection and may close it (bconn_close), but must not reopen a slot
 * from inside a callback: mark it and reopen from a prepare/timer. */
typedef struct {
    void (*ready)(bconn *c); /* Socket.IO CONNECT answered */
    /* An EVENT: name (not NUL-terminated) and the whole Socket.IO packet
     * text; ack_id >= 0 when the server asked for an ack. */
    void (*event)(bconn *c, const char *name, size_t name_len, const char *pkt, size_t len,
                  int64_t ack_id);
    void (*ack)(bconn *c, int64_t id); /* an ACK for one of our emits */
    void (*closed)(bconn *c, const char *why, bool error);
} bconn_ops;

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t len, cap, off; /* off: bytes already consumed/written from the front */
} bbuf;

struct bconn {
    int fd;
    void *ssl;        /* SSL of a TLS target, else NULL */
    bool ssl_read_ww; /* the last SSL_read must write first */
    int slot;         /* index in the owner's array */
    enum bconn_state state;
    enum bconn_transport transport;
    ev_io rio, wio;
    bbuf out;   /* bytes to write */
    bbuf in;    /* unparsed bytes kept between reads */
    bbuf msg;   /* WebSocket fragments / HTTP body */
    int msg_op; /* opcode of a fragmented message */
    http_parser hp;
    int http_done;  /* the current HTTP response is complete */
    int hdr_accept; /* last header field was Sec-WebSocket-Accept */
    int accept_ok;
    bool poll_post;     /* the request in flight is a POST */
    char ws_accept[32]; /* expected Sec-WebSocket-Accept */
    char sid[64];       /* Engine.IO session id (polling) */
    bool dirty;         /* on the flush list */
    bconn *next_dirty;
    uint64_t t_start; /* when this connection attempt began */
    uint64_t gen;     /* bumped on every open */
    const bconn_ops *ops;
    void *user; /* the scenario's per-connection state */
};

/* Process-wide client statistics (all connections). */
typedef struct {
    uint64_t bytes_in, bytes_out;
    uint64_t msgs_in, msgs_out; /* Engine.IO messages */
    uint64_t pings;             /* Engine.IO pings answered */
    uint64_t conn_errors;       /* failed or lost connections */
    uint64_t proto_errors;      /* unexpected bytes from the server */
    const char *last_error;
} bconn_stats;
extern bconn_stats g_cstats;

/* One-time setup (random pool, the shared read buffer). */
void bconn_global_init(struct ev_loop *loop);

/* Start a connection in slot c (its memory is the caller's; zeroed once by
 * the caller before the first open).  Returns 0, or -1 when socket/connect
 * fails at once (then ops->closed was NOT called; the error is counted). */
int bconn_open(bconn *c, const bench_target *t, enum bconn_transport tr, const bconn_ops *ops);

/* Close: WebSocket: a close frame, then the socket; polling: post the
 * Engine.IO close packet and wait for its "ok" (state BC_CLOSING) unless
 * `now`.  ops->closed is called (error = false) once the socket is gone. */
void bconn_close(bconn *c, bool now);

/* Emit a Socket.IO EVENT on the connection's namespace: the JSON array
 * text is built as ["<event>",<args>] where args is raw JSON text (the
 * caller's, e.g. "\"room\",\"xxxx\""), ack_id >= 0 asks for an ack.
 * Buffered; flushed before the loop next blocks (bconn_flush_all). */
void bconn_emit(bconn *c, const char *event, const char *args, size_t args_len, int64_t ack_id);

/* Write every buffered output now (also runs from an ev_prepare). */
void bconn_flush_all(void);

/* Release a slot's buffers (at exit). */
void bconn_free(bconn *c);

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear buckets of nanoseconds, ~1.6% resolution */

#define HIST_BUCKETS 2560
typedef struct {
    uint64_t count, sum_ns, min_ns, max_ns;
    uint64_t b[HIST_BUCKETS];
} hist;

void hist_reset(hist *h);
void hist_add(hist *h, uint64_t ns);
/* Value at quantile q (0..1) in nanoseconds; 0 when empty. */
uint64_t hist_quantile(const hist *h, double q);

/* ------------------------------------------------------------------ */
/* Server processes (/proc) */

typedef struct {
    int pid[64]; /* the given pids and their descendants */
    size_t n;
    uint64_t cpu_ticks; /* utime+stime summed */
    uint64_t rss_kb;    /* VmRSS summed */
    size_t alive;       /* how many were found */
} proc_sample;

/* Expand the given pids with all their descendants (scan of /proc). */
void proc_expand(proc_sample *s, const int *pids, size_t n);
/* Read CPU and RSS of s->pid[]; 0, or -1 when none could be read. */
int proc_read(proc_sample *s);
long proc_clk_tck(void);

#endif
