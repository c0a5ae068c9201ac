/* wout.h — a spawned worker's stdout and stderr, read on the loop and
 * re-emitted line by line as gateway log lines:
 *   2026-11-30T04:40:00.123Z INFO  worker[/chat pid 1234] <line>
 * (JSON: component "worker", fields nsp, pid, stream).  Lines are bounded
 * (GW_WOUT_MAX_LINE; a longer one is cut, marked, and the rest of it
 * skipped), reading is non-blocking and bounded per loop turn, and a last
 * partial line is flushed when the worker exits.
 *
 * Trust: the bytes are whatever the worker printed; they are escaped in
 * JSON mode and never interpreted.
 */
#ifndef IOGATE_WOUT_H
#define IOGATE_WOUT_H

#include <ev.h>
#include <sys/types.h>

#define GW_WOUT_MAX_LINE 4096
#define GW_WOUT_STR_(x) #x
#define GW_WOUT_STR(x) GW_WOUT_STR_(x)

typedef struct gw_wout gw_wout;

/* Make the two pipes (before fork).  NULL if they cannot be made (logged):
 * the worker then inherits the gateway's stdout and stderr. */
gw_wout *gw_wout_new(struct ev_loop *loop, const char *nsp);
/* In the forked child, before exec: put the pipes on fds 1 and 2.  Only
 * async-signal-safe calls (dup2). */
void gw_wout_child(const gw_wout *o);
/* In the parent after fork: close the write ends, start reading. */
void gw_wout_started(gw_wout *o, pid_t pid);
/* Read what is there now (the gateway's shutdown waits off the loop). */
void gw_wout_drain(gw_wout *o);
/* Read what is left, flush partial lines, close, free; *o = NULL. */
void gw_wout_destroy(gw_wout **o);

#endif
