/* util.h — the few things every part of the gateway shares: logging to
 * stderr, the one out-of-memory policy, and random ids from the CSPRNG. */
#ifndef IOGATE_UTIL_H
#define IOGATE_UTIL_H

#include <stddef.h>

enum { GW_LOG_ERROR = 0, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };
extern int gw_log_level; /* messages above this level are dropped */

/* Parse "error" | "warn" | "info" | "debug"; -1 if unknown. */
int gw_log_level_parse(const char *s);
enum { GW_LOG_TEXT = 0, GW_LOG_JSON };
extern int gw_log_format; /* GW_LOG_TEXT or GW_LOG_JSON (--log-format) */
/* Parse "text" | "json"; -1 if unknown. */
int gw_log_format_parse(const char *s);
/* One line to stderr, component "gateway":
 *   text: 2026-11-30T04:40:00.123Z INFO  gateway message
 *   json: {"ts":"…","level":"info","component":"gateway","msg":"…"} */
void gw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with structured fields for JSON mode: NULL-terminated key/value
 * string pairs (a value starting with '#' is written as a JSON number, e.g.
 * "#1234"); text mode shows only the message. */
void gw_log_fields(int level, const char *const *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A fields list in place: GW_FIELDS("nsp", name, "pid", GW_FNUM(pid)).
 * GW_FNUM(n) is "#<n>" in a buffer that lives until the end of the
 * enclosing full expression's block (a compound literal). */
#define GW_FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define GW_FNUM(n) gw_log_num((char[24]){0}, (long long)(n))
const char *gw_log_num(char buf[24], long long n);
/* A line from another component, len bytes of msg (any bytes: escaped in
 * JSON, invalid UTF-8 replaced); text mode labels it `label` (or the
 * component).  Used for worker output (wout.c). */
void gw_log_raw(int level, const char *component, const char *label, const char *const *fields,
                const char *msg, size_t len);
/* The pure part (fuzzed: fuzz/fuzz_logline.c): format one line into buf
 * (cap >= 256) with the time stamp ts, GW_LOG_TEXT or GW_LOG_JSON, ending
 * in '\n'; returns its length (<= cap).  Too long a message is cut; in JSON
 * the line is still one valid object, whatever bytes msg holds (control
 * characters escaped, bytes that are not UTF-8 → U+FFFD; component and
 * field names/values are trusted to fit). */
size_t gw_log_format_line(char *buf, size_t cap, int format, const char *ts, int level,
                          const char *component, const char *label, const char *const *fields,
                          const char *msg, size_t msglen);
#define log_error(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) gw_log(GW_LOG_WARN, __VA_ARGS__)
#define log_info(...) gw_log(GW_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (gw_log_level >= GW_LOG_DEBUG) gw_log(GW_LOG_DEBUG, __VA_ARGS__);                       \
    } while (0)

/* At debug: one line per Socket.IO socket connect/disconnect, with the
 * namespace, socket id, client address and reason (JSON fields nsp, sid,
 * address, reason), so gateway lines can be matched with worker lines. */
void gw_log_socket(const char *event, const char *nsp, const char *sid, const char *address,
                   const char *reason);

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
