/* eio_cors.c — CORS and cookie header lines.  See eio_cors.h. */
#include "eio_cors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_ECHO 1024

static void add(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
    if (*n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (w > 0) *n = *n + (size_t)w < cap ? *n + (size_t)w : cap - 1;
}

size_t eio_cors_headers(const eio_config *cfg, const char *origin, const char *cookie_sid,
                        char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (origin && strlen(origin) > MAX_ECHO) origin = NULL;
    if (cfg->cors_origins) {
        int wild = 0, listed = 0;
        for (const char **o = cfg->cors_origins; *o; o++) {
            if (strcmp(*o, "*") == 0)
                wild = 1;
            else if (origin && strcmp(*o, origin) == 0)
                listed = 1;
        }
        if (cfg->cors_credentials) {
            if (origin && (wild || listed))
                add(buf, cap, &n,
                    "Access-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Credentials: true\r\n"
                    "Vary: Origin\r\n",
                    origin);
        } else if (wild) {
            add(buf, cap, &n, "Access-Control-Allow-Origin: *\r\n");
        } else if (listed) {
            add(buf, cap, &n, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
        }
    }
    if (cookie_sid && cfg->cookie)
        add(buf, cap, &n, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Lax\r\n", cfg->cookie,
            cookie_sid);
    return n;
}

size_t eio_preflight_headers(const eio_config *cfg, const char *origin, const char *req_headers,
                             char *buf, size_t cap)
{
    size_t n = eio_cors_headers(cfg, origin, NULL, buf, cap);
    if (!req_headers || strlen(req_headers) > MAX_ECHO) req_headers = "Content-Type";
    add(buf, cap, &n,
        "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\nAccess-Control-Allow-Headers: %s\r\n"
        "Vary: Access-Control-Request-Headers\r\n",
        req_headers);
    return n;
}
