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
#include <unistd.h>

#include "http.h"
#include "util.h"


static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* Percent-decode [p, p+n) into out; '+' → ' ' when plus.  -1 if too long
 * or malformed. */
static long pct_decode(const char *p, size_t n, char *out, size_t outlen, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '%') {
            if (i + 2 >= n) return -1;
            int a = hexval((unsigned char)p[i + 1]), b = hexval((unsigned char)p[i + 2]);
            if (a < 0 || b < 0) return -1;
            ch = (char)(a * 16 + b);
            i += 2;
        } else if (plus && ch == '+') {
            ch = ' ';
        }
        if (o + 1 >= outlen) return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return (long)o;
}

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
            long r = pct_decode(eq + 1, len - kl - 1, out, outlen, 1);
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
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        size_t len = strcspn(v, ",");
        size_t l = len;
        while (l && (v[l - 1] == ' ' || v[l - 1] == '\t')) l--;
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
        {".html", "text/html; charset=UTF-8"}, {".htm", "text/html; charset=UTF-8"},
        {".js", "application/javascript; charset=UTF-8"}, {".mjs", "application/javascript; charset=UTF-8"},
        {".css", "text/css; charset=UTF-8"},   {".json", "application/json"},
        {".map", "application/json"},          {".txt", "text/plain; charset=UTF-8"},
        {".svg", "image/svg+xml"},             {".png", "image/png"},
        {".jpg", "image/jpeg"},                {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},                 {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},         {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    const char *sl = strrchr(path, '/');
    if (dot && (!sl || dot > sl))
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcasecmp(dot, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

static const char not_found[] = "404 Not Found\n";

void http_respond_path(http_conn *c, const char *file, const char *extra)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 28)) {
        if (fd >= 0) close(fd);
        http_respond(c, 404, "text/plain; charset=UTF-8", extra, not_found, sizeof not_found - 1, 0);
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
    http_respond(c, 200, http_mime_type(file), extra, buf, got, 0);
    free(buf);
}

void http_respond_file(http_conn *c, const char *root, const char *urlpath, const char *extra)
{
    char path[4200];
    struct stat st;
    if ((c->req.method != HTTP_GET && c->req.method != HTTP_HEAD) ||
        http_safe_path(root, urlpath, path, sizeof path) < 0) {
        http_respond(c, 404, "text/plain; charset=UTF-8", extra, not_found, sizeof not_found - 1, 0);
        return;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t l = strlen(path);
        if (l + 12 < sizeof path) memcpy(path + l, "/index.html", 12);
    }
    http_respond_path(c, path, extra);
}
