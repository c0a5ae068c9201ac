/* metrics.h — the gateway's counters for /metrics (admin.c): one static
 * struct incremented with a macro, so the hot path costs an add.  Gauges
 * that can be read from live state (sockets per namespace, workers up,
 * buffered bytes) are computed when scraped instead.  One loop, no locks:
 * only the loop thread touches these (the FastCGI threads do not).
 */
#ifndef IOGATE_METRICS_H
#define IOGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Limits hit, by kind (the flag or rule that refused or dropped). */
enum {
    GW_LIMIT_MAX_BUFFERED = 0,   /* --max-buffered: one slow client dropped */
    GW_LIMIT_MAX_BUFFERED_TOTAL, /* --max-buffered-total: biggest holders dropped */
    GW_LIMIT_PAYLOAD,            /* --max-payload: 413 or close 1009 */
    GW_LIMIT_ATTACHMENTS,        /* --max-attachments */
    GW_LIMIT_DEPTH,              /* --max-depth */
    GW_LIMIT_CONNECT_TIMEOUT,    /* --connect-timeout */
    GW_LIMIT_CREDIT,             /* --worker-credit: worker too slow */
    GW_LIMIT_HOLD,               /* hold full while a worker restarts */
    GW_LIMIT_HEADER_BYTES,       /* 431 */
    GW_LIMIT_URL_BYTES,          /* 414 */
    GW_LIMIT_HEADER_TIMEOUT,     /* 408 */
    GW_LIMIT_TCP_CONNECTIONS,    /* TCP connections past the cap: 503 at accept */
    GW_LIMIT_N
};

/* Handshakes refused, by reason. */
enum {
    GW_REFUSE_MAX_CONNECTIONS = 0, /* 503 */
    GW_REFUSE_PER_ADDRESS,         /* 429 */
    GW_REFUSE_BAD_REQUEST,         /* 400: unknown transport, bad EIO version, … */
    GW_REFUSE_N
};

typedef struct {
    int64_t sessions[2]; /* gauge: open Engine.IO sessions, [0] polling [1] websocket */
    uint64_t handshakes; /* sessions opened */
    uint64_t refused[GW_REFUSE_N];
    uint64_t upgrades;                  /* polling → websocket completed */
    uint64_t bytes_read, bytes_written; /* HTTP/WebSocket bytes on the public sockets */
    uint64_t broadcasts, deliveries;    /* BROADCAST messages from workers; packets they queued */
    uint64_t redis_published,
        redis_dropped; /* --redis: messages sent to Redis; dropped, queue full */
    uint64_t limits[GW_LIMIT_N];
    double start_time; /* process start, seconds since the epoch (main.c) */
} gw_metrics_t;

extern gw_metrics_t gw_metrics;
#define GW_COUNT(field) (gw_metrics.field++)
#define GW_COUNT_ADD(field, n) (gw_metrics.field += (uint64_t)(n))
#define GW_LIMIT(kind) (gw_metrics.limits[kind]++)

/* Per namespace (label nsp).  Kept by name in metrics.c so they survive the
 * namespace's struct; at most GW_METRICS_MAX_NSP names, the rest share one
 * entry labelled "(other)". */
typedef struct {
    uint64_t packets_in, packets_out; /* Socket.IO packets client→worker, worker→client */
    uint64_t bytes_in, bytes_out;     /* their payload bytes */
    uint64_t restarts, crash_loops;   /* worker process restarts, given up after a crash loop */
    uint64_t held, replayed;          /* packets held while a worker restarted; replayed after */
} gw_nsp_counters;

#define GW_METRICS_MAX_NSP 1000
/* The counters of namespace `name` (created on first use; never NULL). */
gw_nsp_counters *gw_metrics_nsp(const char *name);
/* Cached on the gw_nsp: (nsp)->mc must be a gw_nsp_counters* field. */
#define GW_NSP_M(nsp) ((nsp)->mc ? (nsp)->mc : ((nsp)->mc = gw_metrics_nsp((nsp)->name)))

#define GW_NSP_COUNT2(nsp, count, bytes, n)                                                        \
    do {                                                                                           \
        gw_nsp_counters *mc_ = GW_NSP_M(nsp);                                                      \
        mc_->count++;                                                                              \
        mc_->bytes += (uint64_t)(n);                                                               \
    } while (0)

/* A client packet refused by sio_decode: count the limits among the
 * reasons (attachments, depth). */
void gw_metrics_parse_error(const char *why);

/* Call fn for each namespace with counters, in first-use order. */
void gw_metrics_nsp_each(void (*fn)(const char *name, const gw_nsp_counters *c, void *ud),
                         void *ud);
/* Free the table (at exit, for leak checkers). */
void gw_metrics_free(void);

/* Prometheus text format (0.0.4) helpers, pure (unit-tested): append the
 * label value v escaped (\\, \", \n) to buf; returns the new length, or
 * stops at cap - 1 (always NUL-terminated). */
size_t gw_metrics_escape(char *buf, size_t len, size_t cap, const char *v);

#endif
