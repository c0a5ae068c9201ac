/* util.h — the few things every part of the gateway shares: logging to
 * stderr, the one out-of-memory policy, and random ids from the CSPRNG. */
#ifndef IOGATE_UTIL_H
#define IOGATE_UTIL_H

#include <stddef.h>

enum { GW_LOG_ERROR = 0, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };
extern int gw_log_level; /* messages above this level are dropped */

/* Parse "error" | "warn" | "info" | "debug"; -1 if unknown. */
int gw_log_level_parse(const char *s);
void gw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) gw_log(GW_LOG_WARN, __VA_ARGS__)
#define log_info(...) gw_log(GW_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                   \
    do {                                                                                 \
        if (gw_log_level >= GW_LOG_DEBUG) gw_log(GW_LOG_DEBUG, __VA_ARGS__);             \
    } while (0)

/* Out of memory is not recoverable here: these log and abort() instead of
 * returning NULL, so no caller needs an allocation-failure path. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#define GW_ID_LEN 20
/* Write GW_ID_LEN URL-safe characters ([A-Za-z0-9_-]) from the CSPRNG plus
 * a NUL into out.  Used for Engine.IO sids and Socket.IO socket ids. */
void gw_random_id(char out[GW_ID_LEN + 1]);

/* Milliseconds since the epoch (wall clock). */
double gw_now_ms(void);

#endif
