/* util.c — logging (one line format, text or JSON), the out-of-memory
 * policy and random ids. */
#include "util.h"
#include "utf8.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int gw_log_level = GW_LOG_INFO;
int gw_log_format = GW_LOG_TEXT;

int gw_log_level_parse(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

int gw_log_format_parse(const char *s)
{
    if (strcmp(s, "text") == 0) return GW_LOG_TEXT;
    if (strcmp(s, "json") == 0) return GW_LOG_JSON;
    return -1;
}

/* Append s[0..n) to out as the inside of a JSON string.  Worker output is
 * arbitrary bytes: control characters are escaped and bytes that are not
 * valid UTF-8 become U+FFFD, so every line stays parseable JSON.  Returns
 * the new length; stops (without splitting an escape) at cap - 1. */
static size_t json_escape(char *out, size_t len, size_t cap, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        char esc[16];
        const char *add = esc;
        size_t al = 0, step = 1;
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\', esc[1] = (char)ch, al = 2;
        } else if (ch == '\n') {
            add = "\\n", al = 2;
        } else if (ch == '\t') {
            add = "\\t", al = 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4], esc[5] = hex[ch & 15], al = 6;
        } else if (ch < 0x80) {
            esc[0] = (char)ch, al = 1;
        } else {
            /* A whole, shortest-form UTF-8 sequence is copied; anything
             * else is one U+FFFD per byte. */
            size_t need = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
            int ok = i + need <= n && utf8_valid(s + i, need); /* the one validator */
            if (ok) {
                add = s + i, al = need, step = need;
            } else {
                add = "\\ufffd", al = 6;
            }
        }
        if (len + al >= cap) break;
        memcpy(out + len, add, al);
        len += al;
        i += step;
    }
    return len;
}

static size_t put(char *out, size_t len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (len + n >= cap) n = cap - 1 - len;
    memcpy(out + len, s, n);
    return len + n;
}

size_t gw_log_format_line(char *buf, size_t cap, int format, const char *ts, int level,
                          const char *component, const char *label, const char *const *fields,
                          const char *msg, size_t msglen)
{
    static const char *tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    size_t len = 0;
    cap -= 1; /* room for the newline */
    if (format == GW_LOG_JSON) {
        len = put(buf, len, cap, "{\"ts\":\"");
        len = put(buf, len, cap, ts);
        len = put(buf, len, cap, "\",\"level\":\"");
        len = put(buf, len, cap, names[level]);
        len = put(buf, len, cap, "\",\"component\":\"");
        len = json_escape(buf, len, cap, component, strlen(component));
        len = put(buf, len, cap, "\",\"msg\":\"");
        len = json_escape(buf, len, cap > 64 ? cap - 64 : cap, msg, msglen);
        len = put(buf, len, cap, "\"");
        for (size_t i = 0; fields && fields[i] && fields[i + 1]; i += 2) {
            /* a field that would not fit whole is left out, so the line
             * stays one valid object */
            size_t before = len;
            len = put(buf, len, cap, ",\"");
            len = json_escape(buf, len, cap, fields[i], strlen(fields[i]));
            len = put(buf, len, cap, "\":");
            if (fields[i + 1][0] == '#') {
                len = put(buf, len, cap, fields[i + 1] + 1);
            } else {
                len = put(buf, len, cap, "\"");
                len = json_escape(buf, len, cap, fields[i + 1], strlen(fields[i + 1]));
                len = put(buf, len, cap, "\"");
            }
            if (len + 2 >= cap) len = before;
        }
        len = put(buf, len, cap + 1, "}");
    } else {
        len = put(buf, len, cap, ts);
        len = put(buf, len, cap, " ");
        len = put(buf, len, cap, tags[level]);
        len = put(buf, len, cap, " ");
        len = put(buf, len, cap, label ? label : component);
        len = put(buf, len, cap, " ");
        if (msglen > cap - len) msglen = cap - len;
        memcpy(buf + len, msg, msglen);
        len += msglen;
    }
    buf[len++] = '\n';
    return len;
}

/* One write per line so lines from several processes and threads do not
 * interleave. */
static void emit(int level, const char *component, const char *label, const char *const *fields,
                 const char *msg, size_t msglen, char *buf, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[80];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    size_t len = gw_log_format_line(buf, cap, gw_log_format, ts, level, component, label, fields,
                                    msg, msglen);
    fwrite(buf, 1, len, stderr);
}

const char *gw_log_num(char buf[24], long long n)
{
    snprintf(buf, 24, "#%lld", n);
    return buf;
}

void gw_log_fields(int level, const char *const *fields, const char *fmt, ...)
{
    if (level > gw_log_level) return;
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    char msg[2048], line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    emit(level, "gateway", NULL, fields, msg, (size_t)n, line, sizeof line);
}

void gw_log(int level, const char *fmt, ...)
{
    if (level > gw_log_level) return;
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    char msg[2048], line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    emit(level, "gateway", NULL, NULL, msg, (size_t)n, line, sizeof line);
}

void gw_log_raw(int level, const char *component, const char *label, const char *const *fields,
                const char *msg, size_t len)
{
    if (level > gw_log_level) return;
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    /* Worst case every byte becomes a 6-byte escape. */
    size_t cap = len * 6 + 1024;
    char *line = xmalloc(cap);
    emit(level, component, label, fields, msg, len, line, cap);
    free(line);
}

void gw_log_socket(const char *event, const char *nsp, const char *sid, const char *address,
                   const char *reason)
{
    if (gw_log_level < GW_LOG_DEBUG) return;
    const char *f[] = {"event",   event,   "nsp",    nsp,    "sid", sid,
                       "address", address, "reason", reason, NULL};
    gw_log_fields(GW_LOG_DEBUG, f, "socket %s: namespace %s, socket %s, address %s, reason: %s",
                  event, nsp, sid, address, reason);
}

static void oom(size_t n)
{
    fprintf(stderr, "iogate: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) oom(n * m);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) oom(n);
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void gw_random_id(char out[GW_ID_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* A small pool refilled from the CSPRNG keeps RAND_bytes off the hot
     * path of connection storms; 64 symbols = 6 bits, so bytes & 63 is
     * unbiased. */
    static unsigned char pool[4096];
    static size_t left = 0;
    if (left < GW_ID_LEN) {
        if (RAND_bytes(pool, sizeof pool) != 1) {
            fprintf(stderr, "iogate: CSPRNG failure\n");
            abort();
        }
        left = sizeof pool;
    }
    for (int i = 0; i < GW_ID_LEN; i++)
        out[i] = alphabet[pool[--left] & 63];
    out[GW_ID_LEN] = '\0';
}

double gw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
