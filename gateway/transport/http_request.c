/* http_request.c — the request side of an HTTP/1.1 connection: http-parser
 * callbacks filling http_request (head limits, header table, body), bad
 * requests answered, and the input loop that feeds the parser or, after an
 * upgrade, ws.c.  Shares http_conn's inside with http.c (http_int.h). */
#include "http.h"
#include "http_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"
#include "tls.h"
#include "util.h"

/* --- request parsing ---------------------------------------------------------- */

void http_req_reset(http_conn *c)
{
    c->msg_complete = c->responded = c->want_body = 0;
    c->resp_close = 0;
    c->hb_len = c->url_len = c->head_bytes = 0;
    c->nh = 0;
    c->hstate = 0;
    c->err_status = 0;
    memset(&c->req, 0, sizeof c->req);
    c->req.content_length = UINT64_MAX;
    c->req.address = c->addr;
    c->req.secure = c->secure;
}

static void hb_put(http_conn *c, const char *p, size_t n)
{
    c->hb = gw_grow(c->hb, &c->hb_cap, c->hb_len + n + 1, 1);
    memcpy(c->hb + c->hb_len, p, n);
    c->hb_len += n;
}

static int count_head(http_conn *c, size_t n)
{
    c->head_bytes += n;
    if (c->head_bytes > c->srv->lim.max_header_bytes) {
        c->err_status = 431;
        GW_LIMIT(GW_LIMIT_HEADER_BYTES);
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    http_conn *c = p->data;
    http_req_reset(c);
    c->in_head = 1;
    /* the head must now arrive within header_timeout, however slowly */
    if (!c->owner && !c->ws) gw_tlist_add(&c->srv->head, &c->idle);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    c->url_len += n;
    if (c->url_len > c->srv->lim.max_url_bytes) {
        c->err_status = 414;
        GW_LIMIT(GW_LIMIT_URL_BYTES);
        return -1;
    }
    if (count_head(c, n)) return -1;
    hb_put(c, at, n);
    return 0;
}

/* Head buffer layout: url\0 name\0 value\0 ...; hstate 0 = in url,
 * 1 = in a name, 2 = in a value. */
static void hb_switch(http_conn *c, int to)
{
    if (c->hstate != to) {
        hb_put(c, "", 1); /* terminate what came before */
        if (to == 1) {
            c->hoffs = gw_grow(c->hoffs, &c->hoffs_cap, c->nh * 2 + 2, sizeof *c->hoffs);
            c->hoffs[c->nh * 2] = c->hb_len;
            c->nh++;
        } else {
            c->hoffs[c->nh * 2 - 1] = c->hb_len;
        }
        c->hstate = to;
    }
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    if (count_head(c, n)) return -1;
    hb_switch(c, 1);
    hb_put(c, at, n);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    if (count_head(c, n)) return -1;
    hb_switch(c, 2);
    hb_put(c, at, n);
    return 0;
}

static void finish_head(http_conn *c)
{
    if (c->hstate == 1) hb_switch(c, 2); /* name without value */
    hb_put(c, "", 1);
    /* path: the url up to '?' or '#', skipping an absolute-form prefix */
    const char *url = c->hb;
    const char *pstart = url;
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        const char *auth = strstr(url, "//") + 2;
        pstart = auth + strcspn(auth, "/?#");
    }
    /* qoff is an offset into url: "http://host?x" has the path "/" but its
     * query starts after the host (fuzz_http found the old code reading
     * the query at an offset computed from a pointer outside the buffer) */
    size_t plen = strcspn(pstart, "?#");
    size_t qoff = (size_t)(pstart - url) + plen;
    if (*pstart != '/') { /* absolute form without a path */
        pstart = "/";
        plen = 1;
    }
    char *path = xstrndup(pstart, plen);
    c->path_off = c->hb_len;
    hb_put(c, path, plen);
    hb_put(c, "", 1);
    free(path);
    c->hdrs = gw_grow(c->hdrs, &c->hdrs_cap, c->nh, sizeof *c->hdrs);
    for (size_t i = 0; i < c->nh; i++) {
        char *name = c->hb + c->hoffs[2 * i];
        for (char *q = name; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        c->hdrs[i].name = name;
        c->hdrs[i].value = c->hb + c->hoffs[2 * i + 1];
    }
    http_request *r = &c->req;
    r->method = c->parser.method;
    r->url = c->hb;
    r->path = c->hb + c->path_off;
    r->query = "";
    if (c->hb[qoff] == '?') r->query = c->hb + qoff + 1;
    r->headers = c->hdrs;
    r->n_headers = c->nh;
    r->keep_alive = http_should_keep_alive(&c->parser);
    r->content_length = (c->parser.flags & F_CONTENTLENGTH) ? c->parser.content_length : UINT64_MAX;
    r->address = c->addr;
    r->secure = c->secure;
}

static int on_headers_complete(http_parser *p)
{
    http_conn *c = p->data;
    gw_tlist_del(&c->idle); /* the response (or the owner) decides what is next */
    c->in_head = 0;
    finish_head(c);
    /* the query may hold a '#'-free fragment only; cut a fragment off */
    char *hash = strchr((char *)c->req.query, '#');
    if (hash) *hash = '\0';
    if (p->upgrade) {
        c->upgrade_pending = 1;
        return 0;
    }
    c->srv->h.on_head(c, &c->req, c->srv->ud);
    if (c->life == HTTP_C_DEAD) return -1;
    const char *expect = http_header(&c->req, "expect");
    if (c->want_body && !c->responded && expect && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"; /* curl waits for it */
        http_conn_write(c, cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    if (c->life == HTTP_C_DEAD) return -1;
    if (c->want_body && !c->responded) c->srv->h.on_body(c, at, n, c->srv->ud);
    return c->life == HTTP_C_DEAD ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    http_conn *c = p->data;
    if (c->life == HTTP_C_DEAD) return -1;
    if (c->want_body && !c->responded && !c->upgrade_pending) c->srv->h.on_end(c, c->srv->ud);
    c->msg_complete = 1;
    http_parser_pause(p, 1); /* one request at a time: later ones wait */
    return 0;
}

void http_bad_request(http_conn *c)
{
    int st = c->err_status ? c->err_status : 400;
    if (c->responded || c->owner) { /* a response was already begun/held */
        http_conn_fail(c, HTTP_GONE_ERROR);
        return;
    }
    char body[128];
    int n = snprintf(body, sizeof body, "%d %s\n", st, http_status_text(st));
    if (st != 408) /* 408 logged by head_cb */
        log_info("bad request from %s: %d %s (%s)", c->addr, st, http_status_text(st),
                 st == 400 ? http_errno_name(HTTP_PARSER_ERRNO(&c->parser)) : "limit");
    c->req.method = HTTP_GET;
    http_respond(c, st, "text/plain; charset=UTF-8", NULL, body, (size_t)n, 1);
}

void http_process_input(http_conn *c)
{
    if (c->ws) {
        ws_process_input(c);
        return;
    }
    if (c->in_parse || c->life == HTTP_C_DEAD) return;
    c->in_parse = 1;
    http_server *s = c->srv;
    while (c->life == HTTP_C_OPEN && !c->ws) {
        if (c->msg_complete) {
            if (!c->responded) break; /* still answering this one */
            http_req_reset(c);
        }
        if (c->upgrade_pending || c->in_off >= c->in_len) break;
        size_t n =
            http_parser_execute(&c->parser, &s->settings, c->in + c->in_off, c->in_len - c->in_off);
        c->in_off += n;
        if (c->life == HTTP_C_DEAD) break;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            http_bad_request(c);
            break;
        }
        if (c->upgrade_pending && c->msg_complete) {
            s->h.on_upgrade(c, &c->req, s->ud);
            /* ws_start() switched modes, or the handler answered (closing),
             * or it holds the request (an owner: admission.c) */
            if (!http_conn_answered(c) && !c->owner) http_conn_close(c);
            break;
        }
    }
    c->in_parse = 0;
    if (c->life == HTTP_C_DEAD || c->ws) return;
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
    int full = c->in_len - c->in_off >= IN_PAUSE;
    if (full && ev_is_active(&c->rio)) {
        ev_io_stop(s->loop, &c->rio);
        c->read_paused = 1;
    } else if (!full && c->read_paused) {
        c->read_paused = 0;
        ev_io_start(s->loop, &c->rio);
        /* bytes OpenSSL already took off the socket wake no watcher */
        if (tls_pending(c->tls)) ev_feed_event(s->loop, &c->rio, EV_READ);
    }
}

void http_request_settings(http_parser_settings *st)
{
    st->on_message_begin = on_message_begin;
    st->on_url = on_url;
    st->on_header_field = on_header_field;
    st->on_header_value = on_header_value;
    st->on_headers_complete = on_headers_complete;
    st->on_body = on_body;
    st->on_message_complete = on_message_complete;
}
