/* http_util.c — the pure request helpers of http.h (query parameters,
 * headers, tokens, safe static paths, MIME types) and static file
 * responses.  Split from http.c, which holds the connection machinery. */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"
#include "pct.h"
#include "util.h"

long http_query_get(const char *q, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    while (q && *q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t kl = eq ? (size_t)(eq - q) : len;
        if (kl == nl && memcmp(q, name, nl) == 0) {
            if (!eq) {
                if (outlen) out[0] = '\0';
                return 0;
            }
            long r = pct_decode(eq + 1, len - kl - 1, out, outlen, PCT_PLUS);
            return r < 0 ? -2 : r;
        }
        q += len;
        if (*q == '&') q++;
    }
    return -1;
}

const char *http_header(const http_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

int http_has_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t len = strcspn(v, ",");
        size_t l = len;
        while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
            l--;
        if (l == tl && strncasecmp(v, tok, tl) == 0) return 1;
        v += len;
    }
    return 0;
}

int http_safe_path(const char *root, const char *urlpath, char *out, size_t outlen)
{
    char dec[4096];
    if (urlpath[0] != '/') return -1;
    long n = pct_decode(urlpath, strlen(urlpath), dec, sizeof dec, 0);
    if (n < 0 || memchr(dec, '\0', (size_t)n) || strchr(dec, '\\')) return -1;
    for (const char *seg = dec; *seg;) {
        size_t len = strcspn(seg, "/");
        if (len == 2 && seg[0] == '.' && seg[1] == '.') return -1;
        seg += len;
        if (*seg == '/') seg++;
    }
    const char *idx = dec[n - 1] == '/' ? "index.html" : "";
    int w = snprintf(out, outlen, "%s%s%s", root, dec, idx);
    return (w < 0 || (size_t)w >= outlen) ? -1 : 0;
}

const char *http_mime_type(const char *path)
{
    static const char *map[][2] = {
        {".html", "text/html; charset=UTF-8"},
        {".htm", "text/html; charset=UTF-8"},
        {".js", "application/javascript; charset=UTF-8"},
        {".mjs", "application/javascript; charset=UTF-8"},
        {".css", "text/css; charset=UTF-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=UTF-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    const char *sl = strrchr(path, '/');
    if (dot && (!sl || dot > sl))
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcasecmp(dot, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

static const char not_found[] = "404 Not Found\n";

int http_not_modified(const http_request *r, const char *etag, time_t mtime)
{
    /* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2). */
    const char *inm = http_header(r, "if-none-match");
    if (inm) {
        size_t el = strlen(etag);
        for (const char *p = inm; *p;) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            if (!strncmp(p, "W/", 2)) p += 2; /* weak comparison for GET */
            size_t len = strcspn(p, ",");
            size_t l = len;
            while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
                l--;
            if ((l == 1 && p[0] == '*') || (l == el && !memcmp(p, etag, el))) return 1;
            p += len;
        }
        return 0;
    }
    const char *ims = http_header(r, "if-modified-since");
    if (!ims) return 0;
    struct tm tm = {0};
    const char *end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end) return 0; /* unparsable: send the file */
    return mtime <= timegm(&tm);
}

void http_respond_path(http_conn *c, const char *file, const char *extra)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 28)) {
        if (fd >= 0) close(fd);
        http_respond(c, 404, "text/plain; charset=UTF-8", extra, not_found, sizeof not_found - 1,
                     0);
        return;
    }
    /* Validators, so a browser's reload costs a 304 and no body: the ETag
     * changes with the size or the nanosecond mtime; "no-cache" makes the
     * browser ask every time, so an edited page is seen at once. */
    char etag[64], lm[64], hdr[1024];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    struct tm tm;
    strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&st.st_mtime, &tm));
    int hn =
        snprintf(hdr, sizeof hdr, "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n%s",
                 etag, lm, extra ? extra : "");
    const char *h = hn > 0 && (size_t)hn < sizeof hdr ? hdr : extra;
    if (http_not_modified(&c->req, etag, st.st_mtime)) {
        close(fd);
        http_respond(c, 304, NULL, h, NULL, 0, 0);
        return;
    }
    size_t len = (size_t)st.st_size;
    char *buf = xmalloc(len + 1);
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    http_respond(c, 200, http_mime_type(file), h, buf, got, 0);
    free(buf);
}

int http_client_js_name(const char *name)
{
    /* socket.io.js, socket.io.min.js, socket.io.esm.min.js, socket.io.msgpack.min.js
     * and their .map files: what socket.io-client/dist/ holds. */
    size_t l = strlen(name);
    if (strncmp(name, "socket.io.", 10) != 0 || l > 64) return 0;
    if (strspn(name, "abcdefghijklmnopqrstuvwxyz.") != l || strstr(name, "..")) return 0;
    return (l > 3 && !strcmp(name + l - 3, ".js")) || (l > 7 && !strcmp(name + l - 7, ".js.map"));
}

void http_respond_client_js(http_conn *c, const char *where, const char *name, const char *extra)
{
    struct stat st;
    char path[4200];
    if (stat(where, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* the bundle's directory: every file of it by name */
        snprintf(path, sizeof path, "%s/%s", where, name);
    } else if (!strcmp(name, "socket.io.js")) {
        snprintf(path, sizeof path, "%s", where);
    } else if (!strcmp(name, "socket.io.js.map")) {
        snprintf(path, sizeof path, "%s.map", where); /* the map beside the one file */
    } else {
        http_respond(c, 404, "text/plain; charset=UTF-8", extra, not_found, sizeof not_found - 1,
                     0);
        return;
    }
    http_respond_path(c, path, extra);
}

void http_respond_file(http_conn *c, const char *root, const char *urlpath, const char *extra)
{
    char path[4200];
    struct stat st;
    if ((c->req.method != HTTP_GET && c->req.method != HTTP_HEAD) ||
        http_safe_path(root, urlpath, path, sizeof path) < 0) {
        http_respond(c, 404, "text/plain; charset=UTF-8", extra, not_found, sizeof not_found - 1,
                     0);
        return;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t l = strlen(path);
        if (l + 12 < sizeof path) memcpy(path + l, "/index.html", 12);
    }
    http_respond_path(c, path, extra);
}
