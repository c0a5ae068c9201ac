/* common.c — the worker library's logging, error strings, out-of-memory
 * policy (log and abort), monotonic clock, callback lists, and the one
 * process-wide setting it offers (iog_tune_malloc, called by the
 * application, never by the library). */
#include "worker_int.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int iog_log_level = IOG_LOG_INFO;

static __thread const char *last_error = "no error";

const char *iog_strerror(void)
{
    return last_error;
}

int iog_fail(int err, const char *why)
{
    last_error = why;
    errno = err;
    return -1;
}

/* The format every iogate library and the gateway share (README "Logs"):
 *   2026-11-30T04:40:00.123Z INFO  iogate.worker[/chat] message
 * ISO-8601 UTC with milliseconds, the level padded to five, the component
 * (with the namespace from IOGATE_NAMESPACE, as the Python and Node.js
 * libraries write it; "-" when unset), the message. */
void iog_log(int level, const char *fmt, ...)
{
    static const char *tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    if (level > iog_log_level) return;
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    const char *nsp = getenv("IOGATE_NAMESPACE");
    char line[2048];
    int n =
        snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s iogate.worker[%.200s] ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ts.tv_nsec / 1000000), tags[level], nsp && *nsp ? nsp : "-");
    if (n < 0 || (size_t)n >= sizeof line) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    /* One write per line so lines of several processes do not interleave. */
    if (write(2, line, len) < 0) { /* nowhere to report it */
    }
}

static void oom(size_t n)
{
    fprintf(stderr, "iogate-worker: out of memory allocating %zu bytes\n", n);
    abort();
}

void *iog_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *iog_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) oom(n * m);
    return p;
}

void *iog_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) oom(n);
    return p;
}

char *iog_xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = iog_xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

json_t *iog_jcheck(json_t *v)
{
    if (!v) oom(0);
    return v;
}

int64_t iog_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void iog_cbs_add(iog_cbs *l, void (*fn)(void), void *user, const char *event)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = iog_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n].fn = fn;
    l->v[l->n].user = user;
    l->v[l->n].event = event ? iog_xstrdup(event) : NULL;
    l->n++;
}

void iog_cbs_clear(iog_cbs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].event);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void iog_tune_malloc(void)
{
#ifdef __GLIBC__
    /* As the gateway's main() does: keep freed heap instead of trimming it
     * back to the kernel after every burst (a busy worker otherwise spends
     * much of its CPU in brk and page faults). */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
#endif
}
