/* http.c — HTTP/1.1 connections: accept, read, the output queue, lingering
 * close, the loop's safe point (requests are parsed in http_request.c).
 * See http.h for the contract. */
#include "http.h"
#include "http_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "tls.h"
#include "util.h"

#define LINGER_SECONDS 2.0
#define IOV_BATCH 64

static http_conn *conn_new(http_server *s, int fd, const char *addr, int secure);
static void conn_flush(http_conn *c);

/* --- connection death -------------------------------------------------------- */

static void notify_gone(http_conn *c, http_gone why)
{
    void *owner = c->owner;
    if (!owner) return;
    c->owner = NULL;
    if (c->srv->h.on_gone) c->srv->h.on_gone(c, owner, why, c->srv->ud);
}

static void drop_output(http_conn *c)
{
    c->srv->out_total -= c->out_bytes;
    c->srv->live_segs -= c->nseg - c->seg_head;
    for (size_t i = c->seg_head; i < c->nseg; i++)
        wire_msg_unref(&c->segs[i].msg);
    c->nseg = c->seg_head = 0;
    c->ob_len = 0;
    c->out_bytes = 0;
}

static void conn_kill(http_conn *c, http_gone why)
{
    if (c->life == HTTP_C_DEAD) return;
    http_server *s = c->srv;
    c->life = HTTP_C_DEAD;
    ev_io_stop(s->loop, &c->rio);
    ev_io_stop(s->loop, &c->wio);
    close(c->fd);
    c->fd = -1;
    gw_tlist_del(&c->linger);
    gw_tlist_del(&c->idle);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    drop_output(c);
    notify_gone(c, why);
    c->next = s->grave;
    c->prev = NULL;
    s->grave = c;
}

static void conn_free(http_conn *c)
{
    ws_free(c);
    tls_conn_free(&c->tls);
    free(c->in);
    free(c->hb);
    free(c->hoffs);
    free(c->hdrs);
    free(c->segs);
    free(c->ob);
    free(c);
}

void http_conn_close(http_conn *c)
{
    conn_kill(c, HTTP_GONE_LOCAL);
}
void http_conn_fail(http_conn *c, http_gone why)
{
    conn_kill(c, why);
}
void http_conn_detach(http_conn *c, http_gone why)
{
    notify_gone(c, why);
}

void http_conn_deliver_ws(http_conn *c, int opcode, const char *p, size_t n)
{
    if (c->srv->h.on_ws_message) c->srv->h.on_ws_message(c, opcode, p, n, c->srv->ud);
}

void http_conn_set_owner(http_conn *c, void *owner)
{
    c->owner = owner;
    if (owner) gw_tlist_del(&c->idle); /* the owner's own timeouts govern now */
}

void http_conn_want_body(http_conn *c)
{
    c->want_body = 1;
}

void http_conn_mark_dirty(http_conn *c)
{
    if (c->dirty || c->life == HTTP_C_DEAD) return;
    c->dirty = 1;
    c->dirty_next = c->srv->dirty;
    c->srv->dirty = c;
}

void http_conn_close_after_flush(http_conn *c)
{
    if (c->life < HTTP_C_CLOSING) c->life = HTTP_C_CLOSING;
    http_conn_mark_dirty(c);
}

/* Our side is done: shut the write half and read until the peer closes
 * (or LINGER_SECONDS), so the last response or close frame is not lost to
 * a TCP reset caused by unread input. */
static void begin_linger(http_conn *c)
{
    if (c->life >= HTTP_C_LINGERING) return;
    notify_gone(c, HTTP_GONE_LOCAL);
    c->life = HTTP_C_LINGERING;
    gw_tlist_del(&c->idle);
    tls_close_notify(c->tls);
    shutdown(c->fd, SHUT_WR);
    c->in_off = c->in_len = 0;
    if (!ev_is_active(&c->rio)) ev_io_start(c->srv->loop, &c->rio);
    gw_tlist_add(&c->srv->linger, &c->linger);
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    http_server *s = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&s->idle))) {
        http_conn *c = gw_container_of(n, http_conn, idle);
        if (c->owner || c->ws) continue;
        if (c->nseg > c->seg_head) { /* still sending a response: not idle */
            gw_tlist_add(&s->idle, &c->idle);
            continue;
        }
        log_debug("closing idle connection from %s", c->addr);
        conn_kill(c, HTTP_GONE_LOCAL);
    }
    gw_tlist_rearm(&s->idle);
}

static void head_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    http_server *s = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&s->head))) {
        http_conn *c = gw_container_of(n, http_conn, idle);
        if (c->owner || c->ws || c->life >= HTTP_C_LINGERING) continue;
        log_info("request %s from %s not complete within %.0f ms (--header-timeout), closing",
                 c->in_head                   ? "head"
                 : tls_handshake_done(c->tls) ? "(nothing sent)"
                                              : "(TLS handshake not done)",
                 c->addr, s->lim.header_timeout * 1000);
        if (!c->in_head || c->in_parse || c->responded || c->nseg > c->seg_head) {
            conn_kill(c, HTTP_GONE_LOCAL);
            continue;
        }
        c->err_status = 408;
        GW_LIMIT(GW_LIMIT_HEADER_TIMEOUT);
        http_bad_request(c);
    }
    gw_tlist_rearm(&s->head);
}

static void linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    http_server *s = w->data;
    gw_tnode *n;
    while ((n = gw_tlist_expired(&s->linger)))
        conn_kill(gw_container_of(n, http_conn, linger), HTTP_GONE_LOCAL);
    gw_tlist_rearm(&s->linger);
}

/* --- output queue ------------------------------------------------------------ */

static struct http_seg *new_seg(http_conn *c)
{
    c->segs = gw_grow(c->segs, &c->seg_cap, c->nseg + 1, sizeof *c->segs);
    c->srv->live_segs++;
    return &c->segs[c->nseg++];
}

void http_conn_write(http_conn *c, const void *p, size_t n)
{
    if (c->life >= HTTP_C_LINGERING || !n) return;
    c->ob = gw_grow(c->ob, &c->ob_cap, c->ob_len + n, 1);
    memcpy(c->ob + c->ob_len, p, n);
    struct http_seg *last = c->nseg > c->seg_head ? &c->segs[c->nseg - 1] : NULL;
    if (last && !last->msg && last->off + last->len == c->ob_len) {
        last->len += n; /* coalesce small copies into one iovec */
    } else {
        struct http_seg *g = new_seg(c);
        g->msg = NULL;
        g->p = NULL;
        g->off = c->ob_len;
        g->len = n;
    }
    c->ob_len += n;
    c->out_bytes += n;
    c->srv->out_total += n;
    http_conn_mark_dirty(c);
}

void http_conn_write_msg(http_conn *c, wire_msg *m, const char *p, size_t n)
{
    if (c->life >= HTTP_C_LINGERING || !n) return;
    struct http_seg *g = new_seg(c);
    g->msg = wire_msg_ref(m);
    g->p = p;
    g->off = 0;
    g->len = n;
    c->out_bytes += n;
    c->srv->out_total += n;
    http_conn_mark_dirty(c);
}

static void conn_flush(http_conn *c)
{
    http_server *s = c->srv;
    if (c->life == HTTP_C_DEAD) return;
    if (c->out_bytes > s->lim.max_output) {
        log_warn("dropping slow reader %s: %zu bytes queued (--max-buffered %zu)", c->addr,
                 c->out_bytes, s->lim.max_output);
        GW_LIMIT(GW_LIMIT_MAX_BUFFERED);
        conn_kill(c, HTTP_GONE_ERROR);
        return;
    }
    while (c->seg_head < c->nseg) {
        struct iovec iov[IOV_BATCH];
        int k = 0;
        for (size_t i = c->seg_head; i < c->nseg && k < IOV_BATCH; i++, k++) {
            struct http_seg *g = &c->segs[i];
            iov[k].iov_base = (void *)(g->msg ? g->p : c->ob + g->off);
            iov[k].iov_len = g->len;
        }
        ssize_t n = tls_writev(c->tls, c->fd, iov, k);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* TLS may need the peer's bytes first: read_cb retries
                 * (and a writable socket must not spin us meanwhile) */
                if (!tls_write_wants_read(c->tls)) {
                    ev_io_start(s->loop, &c->wio);
                } else {
                    ev_io_start(s->loop, &c->rio);
                    if (!tls_read_wants_write(c->tls)) ev_io_stop(s->loop, &c->wio);
                }
                return;
            }
            conn_kill(c, HTTP_GONE_ERROR);
            return;
        }
        size_t left = (size_t)n;
        GW_COUNT_ADD(bytes_written, left);
        c->out_bytes -= left;
        s->out_total -= left;
        while (left) {
            struct http_seg *g = &c->segs[c->seg_head];
            if (left < g->len) {
                if (g->msg)
                    g->p += left;
                else
                    g->off += left;
                g->len -= left;
                break;
            }
            left -= g->len;
            wire_msg_unref(&g->msg);
            c->seg_head++;
            s->live_segs--;
        }
    }
    c->nseg = c->seg_head = 0;
    c->ob_len = 0;
    if (c->ob_cap > 64 * 1024) { /* do not keep a big burst's buffer forever */
        free(c->ob);
        c->ob = NULL;
        c->ob_cap = 0;
    }
    if (!tls_read_wants_write(c->tls)) ev_io_stop(s->loop, &c->wio);
    if (c->life >= HTTP_C_CLOSING) {
        begin_linger(c);
        return;
    }
    if (c->owner && s->h.on_drain) s->h.on_drain(c, s->ud);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents);

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    http_conn *c = gw_container_of(w, http_conn, wio);
    conn_flush(c);
    /* a TLS read that had to write first (handshake, session ticket) */
    if (c->life != HTTP_C_DEAD && tls_read_wants_write(c->tls)) read_cb(loop, &c->rio, EV_READ);
}

/* --- responses ------------------------------------------------------------- */

const char *http_status_text(int st)
{
    switch (st) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

void http_response_head(http_conn *c, int status, const char *ctype, const char *extra,
                        size_t body_len, int close)
{
    if (close || !c->req.keep_alive) c->resp_close = 1;
    char h[512];
    int n = snprintf(h, sizeof h, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    if (ctype) n += snprintf(h + n, sizeof h - (size_t)n, "Content-Type: %s\r\n", ctype);
    if (status != 204 && status != 101 && status != 304)
        n += snprintf(h + n, sizeof h - (size_t)n, "Content-Length: %zu\r\n", body_len);
    if (status != 101)
        n += snprintf(h + n, sizeof h - (size_t)n, "Connection: %s\r\n",
                      c->resp_close ? "close" : "keep-alive");
    http_conn_write(c, h, (size_t)n);
    if (extra) http_conn_write(c, extra, strlen(extra));
    http_conn_write(c, "\r\n", 2);
}

void http_response_end(http_conn *c)
{
    c->responded = 1;
    c->want_body = 0;
    if (c->resp_close && c->life < HTTP_C_CLOSING)
        c->life = HTTP_C_CLOSING;
    else if (!c->ws)
        gw_tlist_add(&c->srv->idle, &c->idle); /* next request due within idle */
    http_conn_mark_dirty(c);                   /* flush, then parse any pipelined request */
}

void http_respond(http_conn *c, int status, const char *ctype, const char *extra, const char *body,
                  size_t len, int close)
{
    if (c->life == HTTP_C_DEAD || c->responded) return;
    http_response_head(c, status, ctype, extra, len, close);
    if (c->req.method != HTTP_HEAD && len) http_conn_write(c, body, len);
    http_response_end(c);
}

/* Input goes first into one server-wide buffer; only bytes left over after
 * processing (a partial request or frame, a pipelined request waiting) are
 * copied into a buffer of the connection's own.  Thousands of idle
 * connections thus hold no input buffer at all. */
static void unborrow(http_conn *c)
{
    size_t left = c->life == HTTP_C_DEAD ? 0 : c->in_len - c->in_off;
    char *own = NULL;
    size_t cap = 0;
    if (left) {
        cap = left * 2 > IN_CHUNK ? left * 2 : IN_CHUNK;
        own = xmalloc(cap);
        memcpy(own, c->in + c->in_off, left);
    }
    c->in = own;
    c->in_cap = cap;
    c->in_off = 0;
    c->in_len = left;
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    http_conn *c = gw_container_of(w, http_conn, rio);
    http_server *s = c->srv;
    if (tls_write_wants_read(c->tls)) http_conn_mark_dirty(c); /* retry the write */
    for (int round = 0; round < 8 && c->life != HTTP_C_DEAD; round++) {
        if (c->life == HTTP_C_LINGERING) {
            ssize_t n = read(c->fd, s->scratch, IN_SCRATCH);
            if (n > 0) continue;
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            conn_kill(c, HTTP_GONE_LOCAL);
            return;
        }
        int borrowed = 0;
        if (c->in_off == c->in_len) { /* nothing pending: borrow the server's buffer */
            free(c->in);
            c->in = s->scratch;
            c->in_cap = IN_SCRATCH;
            c->in_off = c->in_len = 0;
            borrowed = 1;
        } else if (c->in_cap - c->in_len < 4096) {
            if (c->in_off) { /* compact */
                memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
                c->in_len -= c->in_off;
                c->in_off = 0;
            }
            if (c->in_cap - c->in_len < 4096) {
                c->in_cap = c->in_cap * 2;
                c->in = xrealloc(c->in, c->in_cap);
            }
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t n = tls_read(c->tls, c->fd, c->in + c->in_len, room);
        if (tls_read_wants_write(c->tls)) ev_io_start(loop, &c->wio);
        if (n > 0) {
            GW_COUNT_ADD(bytes_read, n);
            c->in_len += (size_t)n;
            http_process_input(c);
            if (borrowed) unborrow(c);
            if (((size_t)n < room && !tls_pending(c->tls)) || c->read_paused) return;
            continue;
        }
        if (borrowed) unborrow(c);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (n == 0 && !c->ws && !c->owner && c->nseg > c->seg_head) {
            /* half-close after a request whose answer is still queued */
            ev_io_stop(loop, &c->rio);
            http_conn_close_after_flush(c);
            return;
        }
        conn_kill(c, n == 0 ? HTTP_GONE_EOF : HTTP_GONE_ERROR);
        return;
    }
    /* out of rounds with bytes still inside OpenSSL: come back for them */
    if (c->life != HTTP_C_DEAD && tls_pending(c->tls)) ev_feed_event(loop, &c->rio, EV_READ);
}

/* --- server -------------------------------------------------------------------- */

static void refuse(http_server *s, int fd, const char *addr);

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    http_server *s = w->data;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(s->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: the listening socket stays readable, so
                 * stop accepting for a moment instead of spinning */
                log_warn("accept: %s (%zu connections open); pausing accepts for 100 ms",
                         strerror(errno), s->nconns);
                ev_io_stop(loop, &s->accept_w);
                ev_timer_set(&s->accept_pause, 0.1, 0.); /* a fired timer keeps ~0 */
                ev_timer_start(loop, &s->accept_pause);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log_warn("accept: %s", strerror(errno));
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char addr[64] = "";
        getnameinfo((struct sockaddr *)&sa, sl, addr, sizeof addr, NULL, 0, NI_NUMERICHOST);
        if (s->lim.max_conns && s->nconns >= s->lim.max_conns) {
            refuse(s, fd, addr);
            continue;
        }
        http_conn *c = conn_new(s, fd, addr, s->tls != NULL);
        if (s->tls) c->tls = tls_conn_new(s->tls, fd, addr);
    }
}

/* Over the connection cap: answer 503 without reading (best effort, the
 * socket is fresh so the few bytes fit) and close.  Logged at most once a
 * second, with the count, so a flood cannot flood the log too. */
static void refuse(http_server *s, int fd, const char *addr)
{
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 24\r\nConnection: close\r\n\r\n"
                               "503 Service Unavailable\n";
    ssize_t w = s->tls ? 0 : write(fd, resp, sizeof resp - 1); /* not before a TLS handshake */
    (void)w;
    shutdown(fd, SHUT_WR);
    close(fd);
    GW_LIMIT(GW_LIMIT_TCP_CONNECTIONS);
    s->refused++;
    double now = ev_now(s->loop);
    if (now - s->refused_logged >= 1.0) {
        log_warn("refusing connection from %s: %zu connections open (cap %zu); %zu refused", addr,
                 s->nconns, s->lim.max_conns, s->refused);
        s->refused_logged = now;
        s->refused = 0;
    }
}

static http_conn *conn_new(http_server *s, int fd, const char *addr, int secure)
{
    http_conn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->secure = secure ? 1 : 0;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    http_req_reset(c);
    ev_io_init(&c->rio, read_cb, fd, EV_READ);
    ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
    ev_io_start(s->loop, &c->rio);
    gw_tlist_add(&s->head, &c->idle); /* a first request is due at once */
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    return c;
}

size_t http_server_conns(const http_server *s)
{
    return s->nconns;
}

http_conn *http_server_adopt(http_server *s, int fd, const char *addr, int secure)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return conn_new(s, fd, addr, secure);
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    http_server *s = w->data;
    if (s->lfd >= 0) ev_io_start(loop, &s->accept_w);
}

/* --- the total cap (--max-buffered-total) -------------------------------------- */

/* What a connection's output queue costs: its bytes (a broadcast shared by
 * many connections counts once for each: an upper bound of the memory)
 * plus the bookkeeping of each queued piece. */
static size_t conn_charge(const http_conn *c)
{
    return c->out_bytes + (c->nseg - c->seg_head) * sizeof(struct http_seg);
}

static size_t total_charge(const http_server *s)
{
    return s->out_total + s->live_segs * sizeof(struct http_seg);
}

static int by_charge_desc(const void *a, const void *b)
{
    size_t x = conn_charge(*(http_conn *const *)a), y = conn_charge(*(http_conn *const *)b);
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Many slow readers, each within --max-buffered, can still add up to more
 * than the machine has.  Past the total cap, the connections holding the
 * most are dropped first (they are the slowest readers, and each frees the
 * most) until the total is under the cap again; each is logged, and its
 * session closes with "transport error" as for --max-buffered.  Runs at the
 * safe point, after the round's writes, so it counts only what the
 * kernel would not take. */
static void enforce_total(http_server *s)
{
    size_t n = 0, k = 0;
    for (http_conn *c = s->conns; c; c = c->next)
        if (c->life != HTTP_C_DEAD && conn_charge(c)) n++;
    http_conn **v = xmalloc((n ? n : 1) * sizeof *v);
    for (http_conn *c = s->conns; c && k < n; c = c->next)
        if (c->life != HTTP_C_DEAD && conn_charge(c)) v[k++] = c;
    qsort(v, k, sizeof *v, by_charge_desc);
    for (size_t i = 0; i < k && total_charge(s) > s->lim.max_output_total; i++) {
        http_conn *c = v[i];
        if (c->life == HTTP_C_DEAD) continue; /* went with an earlier one's session */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int port = 0;
        if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0)
            port = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                   : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                              : 0;
        log_warn("dropping slow reader %s port %d: %zu bytes queued, the most of any connection "
                 "(--max-buffered-total %zu reached: %zu queued in all)",
                 c->addr, port, conn_charge(c), s->lim.max_output_total, total_charge(s));
        GW_LIMIT(GW_LIMIT_MAX_BUFFERED_TOTAL);
        conn_kill(c, HTTP_GONE_ERROR);
    }
    free(v);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    http_server *s = w->data;
    for (int round = 0; round < 64; round++) {
        int work = s->h.on_prepare ? s->h.on_prepare(s->ud) : 0;
        while (s->dirty) {
            http_conn *c = s->dirty;
            s->dirty = c->dirty_next;
            c->dirty = 0;
            if (c->life == HTTP_C_DEAD) continue;
            work = 1;
            conn_flush(c);
            if (c->life < HTTP_C_LINGERING && !c->in_parse) http_process_input(c);
        }
        if (s->lim.max_output_total && total_charge(s) > s->lim.max_output_total) {
            enforce_total(s);
            work = 1; /* the drops may have queued more (close notices) */
        }
        if (!work) break;
    }
    while (s->grave) {
        http_conn *c = s->grave;
        s->grave = c->next;
        conn_free(c);
    }
}

http_server *http_server_new(struct ev_loop *loop, const http_limits *lim, const http_handler *h,
                             void *ud)
{
    http_server *s = xcalloc(1, sizeof *s);
    s->scratch = xmalloc(IN_SCRATCH);
    s->loop = loop;
    s->h = *h;
    s->ud = ud;
    s->lim = *lim;
    s->lfd = -1;
    http_request_settings(&s->settings);
    ev_prepare_init(&s->prep, prepare_cb);
    s->prep.data = s;
    ev_prepare_start(loop, &s->prep);
    ev_unref(loop); /* the safe point alone must not keep the loop alive */
    ev_timer_init(&s->accept_pause, accept_resume_cb, 0.1, 0.);
    s->accept_pause.data = s;
    gw_tlist_init(&s->linger, loop, LINGER_SECONDS, linger_cb, s);
    gw_tlist_init(&s->idle, loop, lim->idle_timeout > 0 ? lim->idle_timeout : 60.0, idle_cb, s);
    gw_tlist_init(&s->head, loop,
                  lim->header_timeout > 0 ? lim->header_timeout : HTTP_HEADER_TIMEOUT_MS / 1000.0,
                  head_cb, s);
    s->lim.header_timeout = s->head.dur;
    return s;
}

struct ev_loop *http_server_loop(http_server *s)
{
    return s->loop;
}

int http_server_bind(http_server *s, const char *host, int port)
{
    if (s->lfd >= 0) return 0;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int r = getaddrinfo(host, ps, &hints, &ai);
    if (r) {
        log_error("listen %s:%d: %s", host, port, gai_strerror(r));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        log_error("listen %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    s->lfd = fd;
    return 0;
}

int http_server_listen(http_server *s, const char *host, int port)
{
    if (http_server_bind(s, host, port) < 0) return -1;
    if (ev_is_active(&s->accept_w)) return 0;
    ev_io_init(&s->accept_w, accept_cb, s->lfd, EV_READ);
    s->accept_w.data = s;
    ev_io_start(s->loop, &s->accept_w);
    return 0;
}

void http_server_set_tls(http_server *s, struct tls_ctx *tls)
{
    s->tls = tls;
}

void http_server_stop_listening(http_server *s)
{
    ev_timer_stop(s->loop, &s->accept_pause);
    if (s->lfd < 0) return;
    ev_io_stop(s->loop, &s->accept_w);
    close(s->lfd);
    s->lfd = -1;
}

void http_server_close_all(http_server *s)
{
    while (s->conns) {
        http_conn *c = s->conns;
        if (c->life < HTTP_C_LINGERING) conn_flush(c); /* best effort: one last write */
        if (c->life != HTTP_C_DEAD) conn_kill(c, HTTP_GONE_LOCAL);
    }
}

void http_server_destroy(http_server **sp)
{
    http_server *s = *sp;
    if (!s) return;
    *sp = NULL;
    http_server_stop_listening(s);
    http_server_close_all(s);
    gw_tlist_stop(&s->linger);
    gw_tlist_stop(&s->idle);
    gw_tlist_stop(&s->head);
    while (s->grave) {
        http_conn *c = s->grave;
        s->grave = c->next;
        conn_free(c);
    }
    ev_ref(s->loop);
    ev_prepare_stop(s->loop, &s->prep);
    free(s->scratch);
    free(s);
}

size_t http_server_buffered(const http_server *s)
{
    return s->out_total;
}

/* --- accessors for the layers above (the struct is private: http_int.h) --- */

const http_request *http_conn_request(const http_conn *c)
{
    return &c->req;
}
void *http_conn_owner(const http_conn *c)
{
    return c->owner;
}
const char *http_conn_addr(const http_conn *c)
{
    return c->addr;
}
int http_conn_answered(const http_conn *c)
{
    return c->life == HTTP_C_DEAD || c->ws || c->responded;
}
