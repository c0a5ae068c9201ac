/* fastcgi.c — the FastCGI front: libfcgi responder threads bridged into
 * the loop over socketpairs.  See fastcgi.h for the design.
 *
 * Threads.  Every idle thread blocks in accept(2) on the shared listening
 * socket (Linux hands each connection to one of them; no accept lock), sets
 * timeouts on the connection, then lets FCGX_Accept_r read the request from
 * it — so a web-server connection that stalls while sending its params
 * holds up its own thread for RECV_TIMEOUT_S only.  A thread that takes a
 * connection spawns a new one if fewer than SPARE_MIN are left idle (up to
 * max_threads), and exits after it if more than SPARE_MAX are idle: the
 * pool follows the number of held long-polls.  Threads block every signal
 * (the loop thread handles them) and have 64 KiB stacks.
 *
 * Life of a request (one thread):
 *   accept → timeouts → FCGX_Accept_r (params) → HTTP/1.1 head (bad: 400 + log) → socketpair →
 *   one end queued for the loop (ev_async → http_server_adopt) → head and
 *   body written to the other end → poll(bridge, web server):
 *     response bytes  → parsed (http-parser), relayed as Status/headers/body
 *     web server gone → bridge closed: the gateway sees a dropped request
 *     bridge EOF first → 502;  no answer in time → 504
 *   → FCGX_Finish_r.
 */
#include "fastcgi.h"
#include "fastcgi_int.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STACK_SIZE (512 * 1024) /* sanitizers need much more stack */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STACK_SIZE (512 * 1024)
#endif
#endif
#ifndef STACK_SIZE
#define STACK_SIZE (64 * 1024)
#endif
#define START_THREADS 8
#define SPARE_MIN 4       /* idle threads kept waiting in accept */
#define SPARE_MAX 32      /* a finishing thread exits when this many are idle */
#define RECV_TIMEOUT_S 30 /* a web-server connection silent this long mid-request is dropped */
#define SEND_TIMEOUT_S 30 /* ... or not reading our answer */
#define IO_BUF (16 * 1024)
#define NAME_MAX_LEN 256

struct handoff {
    int fd;
    int secure;
    char addr[64];
    struct handoff *next;
};

struct fastcgi_front {
    struct ev_loop *loop;
    http_server *http;
    ev_async async;
    int lfd;
    char *unix_path; /* unlinked on stop */
    unsigned max_threads, timeout_ms;
    int stopped; /* loop thread only */
    pthread_attr_t attr;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a thread exited */
    /* under mu */
    struct handoff *head, *tail;
    unsigned nthreads, nidle;
    int stopping, refs, warned_full;
};

/* --- FastCGI params → an HTTP/1.1 request head ------------------------------------ */

/* Headers the bridge owns (framing, hop-by-hop) or that must not reach the
 * gateway through FastCGI: the body arrives as CONTENT_LENGTH/stdin, the
 * connection is the bridge's, WebSocket is not served here (such a request
 * reaches the gateway as a plain GET, which it answers 400). */
static int skip_header(const char *name)
{
    static const char *skip[] = {
        "connection",     "keep-alive",   "proxy-connection", "transfer-encoding",
        "content-length", "content-type", "upgrade",          "te",
        "trailer",        "expect",       "http2-settings",   "proxy"};
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (!strcmp(name, skip[i])) return 1;
    return 0;
}

static int valid_value(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) return 0;
    return 1;
}

static int valid_target(const char *t)
{
    if (t[0] != '/') return 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return 0;
    return 1;
}

typedef struct {
    const char *method;
    long long content_length; /* -1: none */
    int chunked;              /* body of unknown length: forward chunked */
    int head;                 /* HEAD: the response has no body */
    char addr[64];
    int secure;
} req_info;

/* Build the request head into `b`.  NULL, or why the request is refused
 * (and *status). */
static const char *build_head(FCGX_Request *rq, gw_buf *b, req_info *ri, int *status)
{
    char **env = rq->envp;
    *status = 400;
    const char *m = FCGX_GetParam("REQUEST_METHOD", env);
    if (!m || !*m || strlen(m) > 16 || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(m))
        return "REQUEST_METHOD missing or invalid";
    ri->method = m;
    ri->head = !strcmp(m, "HEAD");
    const char *ra = FCGX_GetParam("REMOTE_ADDR", env);
    if (!ra || !*ra || !valid_value(ra)) return "REMOTE_ADDR missing (the web server must pass it)";
    snprintf(ri->addr, sizeof ri->addr, "%s", ra);
    const char *https = FCGX_GetParam("HTTPS", env), *scheme = FCGX_GetParam("REQUEST_SCHEME", env);
    ri->secure = (https && (!strcasecmp(https, "on") || !strcmp(https, "1"))) ||
                 (scheme && !strcasecmp(scheme, "https"));

    gw_buf_str(b, m);
    gw_buf_str(b, " ");
    const char *uri = FCGX_GetParam("REQUEST_URI", env);
    if (uri && *uri) {
        if (!valid_target(uri)) return "REQUEST_URI invalid";
        gw_buf_str(b, uri);
    } else { /* SCRIPT_NAME + PATH_INFO [+ ? QUERY_STRING] */
        const char *sn = FCGX_GetParam("SCRIPT_NAME", env), *pi = FCGX_GetParam("PATH_INFO", env);
        const char *qs = FCGX_GetParam("QUERY_STRING", env);
        size_t start = b->len;
        gw_buf_str(b, sn ? sn : "");
        gw_buf_str(b, pi ? pi : "");
        if (qs && *qs) {
            gw_buf_str(b, "?");
            gw_buf_str(b, qs);
        }
        if (!valid_target(b->p + start))
            return "REQUEST_URI missing and SCRIPT_NAME/PATH_INFO invalid";
    }
    gw_buf_str(b, " HTTP/1.1\r\n"); /* keep-alive: the thread closes after the answer */

    for (char **e = env; *e; e++) {
        if (strncmp(*e, "HTTP_", 5) != 0) continue;
        const char *eq = strchr(*e, '=');
        size_t nl = eq ? (size_t)(eq - *e) - 5 : 0;
        if (!eq || nl == 0 || nl >= NAME_MAX_LEN) continue;
        char name[NAME_MAX_LEN];
        int ok = 1;
        for (size_t i = 0; i < nl; i++) {
            char ch = (*e)[5 + i];
            if (ch == '_')
                name[i] = '-';
            else if (ch >= 'A' && ch <= 'Z')
                name[i] = (char)(ch - 'A' + 'a');
            else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
                name[i] = ch;
            else
                ok = 0;
        }
        name[nl] = '\0';
        if (!ok || skip_header(name)) continue;
        if (!valid_value(eq + 1)) return "a header holds control characters";
        gw_buf_str(b, name);
        gw_buf_str(b, ": ");
        gw_buf_str(b, eq + 1);
        gw_buf_str(b, "\r\n");
    }

    const char *ct = FCGX_GetParam("CONTENT_TYPE", env);
    if (ct && *ct) {
        if (!valid_value(ct)) return "CONTENT_TYPE holds control characters";
        gw_buf_str(b, "Content-Type: ");
        gw_buf_str(b, ct);
        gw_buf_str(b, "\r\n");
    }
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", env);
    ri->content_length = -1;
    ri->chunked = 0;
    if (cl && *cl) {
        char *end;
        errno = 0;
        long long n = strtoll(cl, &end, 10);
        if (*end || errno || n < 0 || cl[0] < '0' || cl[0] > '9') return "CONTENT_LENGTH invalid";
        ri->content_length = n;
        char line[64];
        snprintf(line, sizeof line, "Content-Length: %lld\r\n", n);
        gw_buf_str(b, line);
    } else if (!strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        ri->chunked = 1; /* stdin until its end, passed on chunked */
        gw_buf_str(b, "Transfer-Encoding: chunked\r\n");
    }
    gw_buf_str(b, "\r\n");
    return NULL;
}

/* --- the response, back to the web server ---------------------------------------- */

static void reply_status(FCGX_Request *rq, int status, const char *msg)
{
    FCGX_FPrintF(rq->out,
                 "Status: %d %s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                 "X-Accel-Buffering: no\r\nCache-Control: no-store\r\n\r\n%s\n",
                 status, http_status_text(status), msg);
}

typedef struct {
    FCGX_Request *rq;
    int head_only;
    int head_sent, done, web_gone;
    gw_buf hdrs;
    char reason[64];
    char name[NAME_MAX_LEN];
    size_t name_len;
    int in_value, keep;
} relay;

static void end_header(relay *r)
{
    if (r->in_value && r->keep) gw_buf_str(&r->hdrs, "\r\n");
    r->in_value = 0;
    r->name_len = 0;
}

static int rs_status(http_parser *p, const char *at, size_t n)
{
    relay *r = p->data;
    size_t have = strlen(r->reason);
    for (size_t i = 0; i < n && have + 1 < sizeof r->reason; i++)
        if ((unsigned char)at[i] >= 0x20 && at[i] != 0x7f) r->reason[have++] = at[i];
    r->reason[have] = '\0';
    return 0;
}

static int rs_field(http_parser *p, const char *at, size_t n)
{
    relay *r = p->data;
    if (r->in_value) end_header(r);
    if (r->name_len + n >= sizeof r->name) return 1;
    memcpy(r->name + r->name_len, at, n);
    r->name_len += n;
    return 0;
}

static int rs_value(http_parser *p, const char *at, size_t n)
{
    relay *r = p->data;
    if (!r->in_value) {
        r->name[r->name_len] = '\0';
        r->in_value = 1;
        /* framing and hop-by-hop headers belong to the bridge connection */
        r->keep = strcasecmp(r->name, "connection") && strcasecmp(r->name, "keep-alive") &&
                  strcasecmp(r->name, "transfer-encoding") &&
                  strcasecmp(r->name, "x-accel-buffering");
        if (r->keep) {
            gw_buf_str(&r->hdrs, r->name);
            gw_buf_str(&r->hdrs, ": ");
        }
    }
    if (r->keep) gw_buf_put(&r->hdrs, at, n);
    return 0;
}

static int rs_headers_complete(http_parser *p)
{
    relay *r = p->data;
    end_header(r);
    const char *reason = r->reason[0] ? r->reason : http_status_text(p->status_code);
    if (FCGX_FPrintF(r->rq->out, "Status: %u %s\r\n", p->status_code, reason) < 0 ||
        (r->hdrs.len && FCGX_PutStr(r->hdrs.p, (int)r->hdrs.len, r->rq->out) < 0) ||
        FCGX_PutS("X-Accel-Buffering: no\r\n\r\n", r->rq->out) < 0 || FCGX_FFlush(r->rq->out) < 0)
        r->web_gone = 1;
    r->head_sent = 1;
    return r->head_only ? 1 : 0; /* 1: no body follows (HEAD) */
}

static int rs_body(http_parser *p, const char *at, size_t n)
{
    relay *r = p->data;
    if (FCGX_PutStr(at, (int)n, r->rq->out) < 0) {
        r->web_gone = 1;
        return 1;
    }
    return 0;
}

static int rs_complete(http_parser *p)
{
    relay *r = p->data;
    r->done = 1;
    return 0;
}

static const http_parser_settings rs_settings = {
    .on_status = rs_status,
    .on_header_field = rs_field,
    .on_header_value = rs_value,
    .on_headers_complete = rs_headers_complete,
    .on_body = rs_body,
    .on_message_complete = rs_complete,
};

/* --- one request ------------------------------------------------------------------ */

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Stream the request body from FastCGI stdin into the bridge.  Stops
 * writing (but keeps reading stdin to its end) once the bridge refuses
 * bytes, e.g. after the gateway answered 413 and closed.  -1 if stdin
 * broke off (web server gone or stalled), -2 if it ended before
 * CONTENT_LENGTH bytes: the body is incomplete and is not passed on as if
 * whole. */
static int forward_body(FCGX_Request *rq, int fd, const req_info *ri, char *buf)
{
    long long left = ri->content_length;
    int broken = 0, n;
    while ((n = FCGX_GetStr(buf + 16, IO_BUF - 32, rq->in)) > 0) {
        if (broken) continue;
        if (ri->chunked) {
            int h = snprintf(buf, 16, "%x\r\n", n);
            memmove(buf + h, buf + 16, (size_t)n);
            memcpy(buf + h + n, "\r\n", 2);
            broken = send_all(fd, buf, (size_t)(h + n + 2)) < 0;
        } else if (left > 0) {
            size_t m = (size_t)n < (unsigned long long)left ? (size_t)n : (size_t)left;
            broken = send_all(fd, buf + 16, m) < 0;
            left -= (long long)m;
        }
    }
    if (FCGX_GetError(rq->in) != 0) return -1;
    if (!ri->chunked && left > 0) return -2; /* stdin ended early */
    if (ri->chunked && !broken) send_all(fd, "0\r\n\r\n", 5);
    return 0;
}

static int hand_over(fastcgi_front *f, int fd, const req_info *ri)
{
    struct handoff *h = xcalloc(1, sizeof *h);
    h->fd = fd;
    h->secure = ri->secure;
    memcpy(h->addr, ri->addr, sizeof h->addr);
    pthread_mutex_lock(&f->mu);
    if (f->stopping) {
        pthread_mutex_unlock(&f->mu);
        free(h);
        return -1;
    }
    if (f->tail)
        f->tail->next = h;
    else
        f->head = h;
    f->tail = h;
    ev_async_send(f->loop, &f->async);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static void serve(fastcgi_front *f, FCGX_Request *rq, char *buf)
{
    gw_buf head = {0};
    req_info ri = {0};
    int status, sv[2] = {-1, -1};
    const char *why = build_head(rq, &head, &ri, &status);
    if (why) {
        const char *ra = FCGX_GetParam("REMOTE_ADDR", rq->envp);
        log_warn("fastcgi: refused a request from %s: %s", ra && valid_value(ra) ? ra : "?", why);
        reply_status(rq, status, why);
        goto done;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_warn("fastcgi: socketpair: %s", strerror(errno));
        reply_status(rq, 503, "Service Unavailable");
        goto done;
    }
    struct timeval tv = {SEND_TIMEOUT_S, 0};
    setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (hand_over(f, sv[0], &ri) < 0) {
        close(sv[0]);
        reply_status(rq, 503, "Shutting down");
        goto done;
    }
    sv[0] = -1; /* the loop owns it now */

    relay r = {.rq = rq, .head_only = ri.head};
    int broken = send_all(sv[1], head.p, head.len) < 0;
    int fb = broken ? 0 : forward_body(rq, sv[1], &ri, buf);
    if (fb < 0) {
        /* like a native client that hangs up mid-body: the gateway sees
         * the bridge close before the request is complete */
        log_warn("fastcgi: request body from %s %s", ri.addr,
                 fb == -1 ? "broke off" : "shorter than CONTENT_LENGTH");
        if (fb == -2) reply_status(rq, 400, "Request body shorter than CONTENT_LENGTH");
        r.web_gone = fb == -1;
        r.done = 1;
    } else if (broken) {
        while (FCGX_GetStr(buf, IO_BUF, rq->in) > 0) {
        }
    }

    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &r;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!r.done && !r.web_gone) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long waited = (now.tv_sec - t0.tv_sec) * 1000LL + (now.tv_nsec - t0.tv_nsec) / 1000000;
        long long left = (long long)f->timeout_ms - waited;
        struct pollfd pf[2] = {{sv[1], POLLIN, 0}, {rq->ipcFd, POLLIN, 0}};
        int pr = left > 0 ? poll(pf, 2, (int)left) : 0;
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) {
            log_warn("fastcgi: no answer from the gateway within %u ms to a %s from %s",
                     f->timeout_ms, ri.method, ri.addr);
            if (!r.head_sent) reply_status(rq, 504, "Gateway Timeout");
            break;
        }
        if (pf[0].revents) {
            ssize_t n = read(sv[1], buf, IO_BUF);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                http_parser_execute(&p, &rs_settings, NULL, 0); /* EOF */
                if (!r.done && !r.head_sent) {
                    log_warn("fastcgi: the gateway closed the bridged request without an answer");
                    reply_status(rq, 502, "Bad Gateway");
                }
                break;
            }
            size_t used = http_parser_execute(&p, &rs_settings, buf, (size_t)n);
            if (r.done || r.web_gone) break;
            if (used != (size_t)n || HTTP_PARSER_ERRNO(&p) != HPE_OK) {
                log_warn("fastcgi: bad response on the bridge: %s",
                         http_errno_name(HTTP_PARSER_ERRNO(&p)));
                if (!r.head_sent) reply_status(rq, 502, "Bad Gateway");
                break;
            }
            continue;
        }
        if (pf[1].revents) {
            /* the web server closed (its client went away): drop the
             * bridged request, as a native client's closed poll would */
            log_debug("fastcgi: web server dropped a %s request from %s", ri.method, ri.addr);
            r.web_gone = 1;
        }
    }
    if (!r.web_gone) FCGX_FFlush(rq->out);
    gw_buf_free(&r.hdrs);
done:
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    gw_buf_free(&head);
}

/* --- the pool --------------------------------------------------------------------- */

static void front_free(fastcgi_front *f)
{
    if (f->lfd >= 0) close(f->lfd);
    pthread_attr_destroy(&f->attr);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f->unix_path);
    free(f);
}

static void *thread_main(void *arg);

/* Start one thread, already counted in nthreads/nidle/refs by the caller.
 * 0, or -1 (logged once per burst) after undoing the counts. */
static int start_thread(fastcgi_front *f)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals are the loop thread's */
    pthread_t t;
    int rc = pthread_create(&t, &f->attr, thread_main, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) return 0;
    pthread_mutex_lock(&f->mu);
    f->nthreads--;
    f->nidle--;
    f->refs--;
    int warn = !f->warned_full;
    f->warned_full = 1;
    pthread_mutex_unlock(&f->mu);
    if (warn) log_warn("fastcgi: cannot start a thread: %s", strerror(rc));
    return -1;
}

/* Serve the requests of one web-server connection: one, or several when
 * the web server asked to keep it (FCGI_KEEP_CONN).  The connection was
 * accepted here rather than inside libfcgi so that it has timeouts (and
 * close-on-exec) before libfcgi reads a byte: a web server that stalls
 * mid-params costs its thread RECV_TIMEOUT_S, not forever. */
static void serve_connection(fastcgi_front *f, FCGX_Request *rq, int fd, char *buf)
{
    struct timeval rt = {RECV_TIMEOUT_S, 0}, st = {SEND_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof st);
    rq->ipcFd = fd;
    rq->keepConnection = 1; /* or FCGX_Accept_r's opening FCGX_Finish_r closes it */
    /* FCGX_Accept_r reads BEGIN_REQUEST and the params from rq->ipcFd; on
     * a protocol error or timeout it closes the connection and, the
     * request's listen socket being -1, returns < 0 instead of accepting. */
    while (rq->ipcFd >= 0 && FCGX_Accept_r(rq) >= 0) {
        serve(f, rq, buf);
        FCGX_Finish_r(rq); /* closes the connection unless FCGI_KEEP_CONN */
    }
    FCGX_Free(rq, 1);
}

static void *thread_main(void *arg)
{
    fastcgi_front *f = arg;
    FCGX_Request rq;
    char *buf = xmalloc(IO_BUF);
    FCGX_InitRequest(&rq, -1, 0); /* -1: libfcgi never accepts by itself */
    pthread_mutex_lock(&f->mu);
    for (;;) { /* idle, mu held */
        if (f->stopping) break;
        pthread_mutex_unlock(&f->mu);
        int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        int err = errno;
        pthread_mutex_lock(&f->mu);
        if (fd < 0) {
            if (f->stopping) break;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                pthread_mutex_unlock(&f->mu);
                log_warn("fastcgi: accept: %s; pausing 100 ms", strerror(err));
                usleep(100 * 1000);
                pthread_mutex_lock(&f->mu);
            }
            continue;
        }
        f->nidle--;
        int spawn = 0, warn = 0;
        if (!f->stopping && f->nidle < SPARE_MIN) {
            if (f->nthreads < f->max_threads) {
                f->nthreads++;
                f->nidle++;
                f->refs++;
                spawn = 1;
            } else if (!f->warned_full) {
                f->warned_full = warn = 1;
            }
        } else if (f->nidle >= SPARE_MIN) {
            f->warned_full = 0;
        }
        pthread_mutex_unlock(&f->mu);
        if (warn)
            log_warn("fastcgi: all %u threads busy (--fastcgi-max-threads); new requests wait",
                     f->max_threads);
        if (spawn) start_thread(f);
        serve_connection(f, &rq, fd, buf);
        pthread_mutex_lock(&f->mu);
        f->nidle++;
        if (f->nidle > SPARE_MAX) break; /* the pool shrinks after a burst */
    }
    /* mu held; this thread counts as idle */
    f->nidle--;
    f->nthreads--;
    int last = --f->refs == 0;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    free(buf);
    if (last) front_free(f);
    return NULL;
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    fastcgi_front *f = w->data;
    pthread_mutex_lock(&f->mu);
    struct handoff *h = f->head;
    f->head = f->tail = NULL;
    pthread_mutex_unlock(&f->mu);
    while (h) {
        struct handoff *next = h->next;
        http_server_adopt(f->http, h->fd, h->addr, h->secure);
        free(h);
        h = next;
    }
}

fastcgi_front *fastcgi_front_new(struct ev_loop *loop, http_server *http,
                                 const fastcgi_options *opt)
{
    int rc = FCGX_Init(); /* once; before any thread */
    if (rc != 0) {
        log_error("fastcgi: libfcgi initialisation failed (%d)", rc);
        return NULL;
    }
    const char *ep = opt->endpoint;
    int is_unix = !strncmp(ep, "unix:", 5);
    int lfd = is_unix ? fcgi_open_unix(ep + 5) : fcgi_open_tcp(ep);
    if (lfd < 0) {
        log_error("fastcgi: cannot listen on %s: %s", ep, strerror(errno));
        return NULL;
    }
    if (is_unix && fcgi_socket_access(ep + 5, opt) < 0) {
        close(lfd);
        unlink(ep + 5);
        return NULL;
    }

    fastcgi_front *f = xcalloc(1, sizeof *f);
    f->loop = loop;
    f->http = http;
    f->lfd = lfd;
    f->unix_path = is_unix ? xstrdup(ep + 5) : NULL;
    f->max_threads = opt->max_threads >= 2 ? opt->max_threads : 2;
    f->timeout_ms = opt->response_timeout_ms ? opt->response_timeout_ms : 60000;
    f->refs = 1; /* the owner's */
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    pthread_attr_init(&f->attr);
    pthread_attr_setstacksize(&f->attr, STACK_SIZE);
    pthread_attr_setdetachstate(&f->attr, PTHREAD_CREATE_DETACHED);
    ev_async_init(&f->async, async_cb);
    f->async.data = f;
    ev_async_start(loop, &f->async);
    ev_unref(loop); /* the bridge alone must not keep the loop alive */

    unsigned start = START_THREADS < f->max_threads ? START_THREADS : f->max_threads;
    for (unsigned i = 0; i < start; i++) {
        pthread_mutex_lock(&f->mu);
        f->nthreads++;
        f->nidle++;
        f->refs++;
        pthread_mutex_unlock(&f->mu);
        start_thread(f);
    }
    log_info("fastcgi: responder on %s (threads on demand, at most %u)", ep, f->max_threads);
    return f;
}

void fastcgi_front_stop(fastcgi_front *f)
{
    if (!f || f->stopped) return;
    f->stopped = 1;
    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    struct handoff *h = f->head;
    f->head = f->tail = NULL;
    pthread_mutex_unlock(&f->mu);
    while (h) { /* never adopted: their threads see EOF and answer 502 */
        struct handoff *next = h->next;
        close(h->fd);
        free(h);
        h = next;
    }
    ev_ref(f->loop);
    ev_async_stop(f->loop, &f->async);
    shutdown(f->lfd, SHUT_RDWR); /* wakes the threads blocked in accept */
    if (f->unix_path) unlink(f->unix_path);
}

void fastcgi_front_destroy(fastcgi_front **fp)
{
    fastcgi_front *f = *fp;
    if (!f) return;
    *fp = NULL;
    fastcgi_front_stop(f);
    /* Threads in a request finish once their bridge is closed (the HTTP
     * server closes every connection at shutdown); give them a moment. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 2;
    pthread_mutex_lock(&f->mu);
    while (f->nthreads && pthread_cond_timedwait(&f->cv, &f->mu, &dl) == 0) {
    }
    unsigned left = f->nthreads;
    int last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (last)
        front_free(f);
    else
        log_debug("fastcgi: %u threads still finishing at exit", left);
}
