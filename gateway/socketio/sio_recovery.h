/* sio_recovery.h — connection state recovery (the reference's
 * `connectionStateRecovery`, Socket.IO 4.6+), off by default.
 *
 * Two parts:
 *
 *  - rec_log: a pure, bounded log of the replayable packets sent to one
 *    socket, each under its offset (a number; on the wire a hex string, the
 *    last argument of the event).  No libev, no ZeroMQ: unit-tested
 *    directly (tests/unit/test_sio_recovery.c).
 *
 *  - the session store (sio_rec_*): one sio_rec per socket of a namespace
 *    with recovery on, holding its private session id (`pid`, sent in the
 *    CONNECT reply) and its log.  On a transport loss the socket is taken
 *    out of the gateway's live sockets but its sio_rec stays, *detached*,
 *    for the recovery window: broadcasts and emits to it go on being logged,
 *    its worker hears nothing.  A CONNECT whose auth carries that pid and an
 *    offset still in the log gets it back (same id, rooms, the packets after
 *    the offset); past the window, or past a bound, the worker hears the
 *    DISCONNECT with the original reason.
 */
#ifndef IOGATE_SIO_RECOVERY_H
#define IOGATE_SIO_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

/* ---- the pure log -------------------------------------------------------- */

typedef struct rec_item {
    struct rec_item *next;
    uint64_t off;  /* offset (never 0) */
    double t;      /* when it was logged (ms, any clock) */
    size_t bytes;  /* what it counts against the bounds */
    void *payload; /* owned: freed by the log's free function */
} rec_item;

typedef struct {
    size_t max_msgs;  /* per socket */
    size_t max_bytes; /* per socket */
    size_t max_total; /* all sockets' logs together (rec_budget) */
    double window_ms; /* entries older than this are trimmed */
} rec_limits;

/* Bytes held by every log sharing this budget. */
typedef struct {
    size_t bytes;
} rec_budget;

typedef struct {
    rec_item *head, *tail;
    size_t n, bytes;
    uint64_t base; /* offset of the last entry trimmed off the front (0: none) */
    int broken;    /* an entry needed for recovery was dropped: not recoverable */
    void (*free_payload)(void *payload);
} rec_log;

/* Append `payload` (taken) under `off` at time `now`, then trim to the
 * limits.  While the socket is connected (`detached` 0) the oldest entries
 * go first (its client has most likely read them); while it is detached
 * nothing it would need may go, so an overflow marks the log broken (and
 * empties it) instead.  Age alone trims in both states, as the reference
 * purges packets older than maxDisconnectionDuration.  Returns 0, or -1
 * when the log is (now) broken. */
int rec_log_append(rec_log *l, rec_budget *b, const rec_limits *lim, uint64_t off, double now,
                   size_t bytes, void *payload, int detached);
/* Trim entries older than the window (used when nothing is appended). */
void rec_log_expire(rec_log *l, rec_budget *b, const rec_limits *lim, double now);
/* The entries after offset `off`: *first is the first one to replay (NULL:
 * nothing was missed).  0, or -1 when `off` is not in the log (forged,
 * trimmed, or from another socket): not recoverable. */
int rec_log_after(const rec_log *l, uint64_t off, rec_item **first);
/* Free every entry (the log stays usable, empty). */
void rec_log_clear(rec_log *l, rec_budget *b);

/* Offsets on the wire: lower-case hex, no leading zeros.  Parse is strict
 * (only what format produces is accepted); 0, or -1. */
void rec_off_format(uint64_t off, char out[17]);
int rec_off_parse(const char *s, size_t len, uint64_t *off);

#endif
