/* admin.c — /healthz and /metrics.  See admin.h.
 *
 * Everything here is computed when scraped: counters from metrics.h,
 * gauges read from the live state (namespaces, workers, children), so the
 * hot path pays nothing for them. */
#include "admin.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app.h"
#include "http.h"
#include "metrics.h"
#include "util.h"

struct gw_admin {
    http_server *http;
    gw_app *app;
    eio_server *srv;
};

/* ---- a growable text buffer --------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
        b->p = xrealloc(b->p, b->cap);
    }
}

/* A label value, escaped as the exposition format wants (\\ \" \n). */
static const char *lv(const char *v, char *tmp, size_t cap)
{
    gw_metrics_escape(tmp, 0, cap, v);
    return tmp;
}

static void family(sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- /metrics ------------------------------------------------------------ */

typedef struct {
    sbuf *b;
    const char *name;
    size_t off; /* which uint64_t of gw_nsp_counters */
} nsp_walk;

static void nsp_sample(const char *nsp, const gw_nsp_counters *c, void *ud)
{
    nsp_walk *w = ud;
    char t[600];
    uint64_t v;
    memcpy(&v, (const char *)c + w->off, sizeof v);
    sb_printf(w->b, "%s{nsp=\"%s\"} %llu\n", w->name, lv(nsp, t, sizeof t), (unsigned long long)v);
}

static void nsp_family(sbuf *b, const char *name, size_t off, const char *help)
{
    family(b, name, "counter", help);
    nsp_walk w = {b, name, off};
    gw_metrics_nsp_each(nsp_sample, &w);
}

static size_t open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n ? n - 1 : 0; /* not counting the directory's own descriptor */
}

static unsigned long long rss_bytes(void)
{
    unsigned long long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%llu %llu", &size, &rss) != 2) rss = 0;
    fclose(f);
    return rss * (unsigned long long)sysconf(_SC_PAGESIZE);
}

static void metrics(gw_admin *a, sbuf *b)
{
    const gw_metrics_t *m = &gw_metrics;
    char t[600];
    family(b, "process_start_time_seconds", "gauge",
           "Start time of the process since the epoch in seconds.");
    sb_printf(b, "process_start_time_seconds %.3f\n", m->start_time);
    family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    sb_printf(b, "process_open_fds %zu\n", open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        sb_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    sb_printf(b, "process_resident_memory_bytes %llu\n", rss_bytes());

    family(b, "iogate_sessions", "gauge", "Open Engine.IO sessions by transport.");
    sb_printf(b, "iogate_sessions{transport=\"polling\"} %lld\n", (long long)m->sessions[0]);
    sb_printf(b, "iogate_sessions{transport=\"websocket\"} %lld\n", (long long)m->sessions[1]);
    family(b, "iogate_handshakes_total", "counter", "Engine.IO sessions opened.");
    sb_printf(b, "iogate_handshakes_total %llu\n", (unsigned long long)m->handshakes);
    family(b, "iogate_handshakes_refused_total", "counter",
           "Handshakes refused, by HTTP status and reason.");
    sb_printf(b,
              "iogate_handshakes_refused_total{status=\"503\",reason=\"max-connections\"} %llu\n",
              (unsigned long long)m->refused[GW_REFUSE_MAX_CONNECTIONS]);
    sb_printf(b,
              "iogate_handshakes_refused_total{status=\"429\",reason=\"max-sessions-per-address\"} "
              "%llu\n",
              (unsigned long long)m->refused[GW_REFUSE_PER_ADDRESS]);
    sb_printf(b, "iogate_handshakes_refused_total{status=\"400\",reason=\"bad-request\"} %llu\n",
              (unsigned long long)m->refused[GW_REFUSE_BAD_REQUEST]);
    family(b, "iogate_upgrades_total", "counter", "Sessions upgraded from polling to WebSocket.");
    sb_printf(b, "iogate_upgrades_total %llu\n", (unsigned long long)m->upgrades);
    family(b, "iogate_http_received_bytes_total", "counter",
           "Bytes read from HTTP and WebSocket connections.");
    sb_printf(b, "iogate_http_received_bytes_total %llu\n", (unsigned long long)m->bytes_read);
    family(b, "iogate_http_sent_bytes_total", "counter",
           "Bytes written to HTTP and WebSocket connections.");
    sb_printf(b, "iogate_http_sent_bytes_total %llu\n", (unsigned long long)m->bytes_written);
    eio_server *es = a->app ? a->app->eio : a->srv;
    family(b, "iogate_output_buffered_bytes", "gauge",
           "Bytes queued for clients, not yet written.");
    sb_printf(b, "iogate_output_buffered_bytes %zu\n", es ? eio_server_buffered(es) : (size_t)0);

    static const char *limits[GW_LIMIT_N] = {
        "max-buffered",     "max-buffered-total", "max-payload",    "max-attachments",
        "max-depth",        "connect-timeout",    "worker-credit",  "hold",
        "max-header-bytes", "max-url-bytes",      "header-timeout", "max-connections-tcp"};
    family(b, "iogate_limits_hit_total", "counter",
           "Limits hit, by kind (the flag or rule that refused or dropped).");
    for (int i = 0; i < GW_LIMIT_N; i++)
        sb_printf(b, "iogate_limits_hit_total{kind=\"%s\"} %llu\n", limits[i],
                  (unsigned long long)m->limits[i]);

    family(b, "iogate_broadcasts_total", "counter", "BROADCAST messages from workers.");
    sb_printf(b, "iogate_broadcasts_total %llu\n", (unsigned long long)m->broadcasts);
    family(b, "iogate_broadcast_deliveries_total", "counter",
           "Packets queued to clients by broadcasts.");
    sb_printf(b, "iogate_broadcast_deliveries_total %llu\n", (unsigned long long)m->deliveries);
    family(b, "iogate_redis_published_total", "counter",
           "Messages published to the Redis cluster (--redis).");
    sb_printf(b, "iogate_redis_published_total %llu\n", (unsigned long long)m->redis_published);
    family(b, "iogate_redis_dropped_total", "counter",
           "Messages for the Redis cluster dropped: Redis away and --redis-queue full.");
    sb_printf(b, "iogate_redis_dropped_total %llu\n", (unsigned long long)m->redis_dropped);

    gw_app *app = a->app;
    if (app) {
        family(b, "iogate_sockets", "gauge", "Connected Socket.IO sockets per namespace.");
        for (gw_nsp *n = app->nsps; n; n = n->hh.next)
            sb_printf(b, "iogate_sockets{nsp=\"%s\"} %zu\n", lv(n->name, t, sizeof t),
                      n->n_sockets);
        family(b, "iogate_worker_up", "gauge", "1 if a worker serves the namespace now.");
        for (gw_nsp *n = app->nsps; n; n = n->hh.next)
            sb_printf(b, "iogate_worker_up{nsp=\"%s\"} %d\n", lv(n->name, t, sizeof t),
                      n->worker != NULL);
        family(b, "iogate_worker_given_up", "gauge",
               "1 if the namespace's worker was given up after a crash loop.");
        for (gw_child *c = app->router->children; c; c = c->next)
            if (!c->retiring && !c->draining)
                sb_printf(b, "iogate_worker_given_up{nsp=\"%s\"} %d\n", lv(c->nsp, t, sizeof t),
                          c->given_up);
        family(b, "iogate_ipc_rtt_seconds", "gauge",
               "Last heartbeat PING to PONG round trip per worker.");
        for (gw_worker *w = app->router->workers; w; w = w->hh.next)
            if (w->state == GW_WORKER_SERVING && w->rtt > 0)
                sb_printf(b, "iogate_ipc_rtt_seconds{nsp=\"%s\",pid=\"%ld\"} %.6f\n",
                          lv(w->name, t, sizeof t), w->pid, w->rtt);
        family(b, "iogate_worker_in_flight", "gauge",
               "Client packets sent to the worker, not yet PROCESSED.");
        for (gw_worker *w = app->router->workers; w; w = w->hh.next)
            if (w->state == GW_WORKER_SERVING)
                sb_printf(b, "iogate_worker_in_flight{nsp=\"%s\",pid=\"%ld\"} %zu\n",
                          lv(w->name, t, sizeof t), w->pid, w->n_ret);
    }
    nsp_family(b, "iogate_packets_received_total", offsetof(gw_nsp_counters, packets_in),
               "Socket.IO EVENT/ACK packets from clients to the namespace's worker.");
    nsp_family(
        b, "iogate_packets_sent_total", offsetof(gw_nsp_counters, packets_out),
        "Socket.IO EVENT/ACK packets queued to clients (a broadcast counts once per receiver).");
    nsp_family(b, "iogate_packet_received_bytes_total", offsetof(gw_nsp_counters, bytes_in),
               "Payload bytes of the packets from clients.");
    nsp_family(b, "iogate_packet_sent_bytes_total", offsetof(gw_nsp_counters, bytes_out),
               "Payload bytes of EMIT/ACK packets to single sockets.");
    nsp_family(b, "iogate_worker_restarts_total", offsetof(gw_nsp_counters, restarts),
               "Worker processes started again after an exit.");
    nsp_family(b, "iogate_worker_crash_loops_total", offsetof(gw_nsp_counters, crash_loops),
               "Times the namespace's worker was given up after a crash loop.");
    nsp_family(b, "iogate_packets_held_total", offsetof(gw_nsp_counters, held),
               "Client packets held while the namespace's worker restarted.");
    nsp_family(b, "iogate_packets_replayed_total", offsetof(gw_nsp_counters, replayed),
               "Held packets replayed to the next worker.");
}

/* ---- /healthz ------------------------------------------------------------ */

int gw_admin_health(gw_admin *a, char *buf, size_t cap)
{
    gw_app *app = a->app;
    if (!app) {
        snprintf(buf, cap, "{\"status\":\"ok\"}\n");
        return 200;
    }
    json_t *down = json_array(), *given = json_array();
    for (gw_child *c = app->router->children; c; c = c->next) {
        if (c->dynamic || c->retiring || c->draining) continue;
        gw_nsp *n = sio_nsp_get(app, c->nsp, strlen(c->nsp), 0);
        if (c->given_up)
            json_array_append_new(given, json_string(c->nsp));
        else if (!n || !n->worker)
            json_array_append_new(down, json_string(c->nsp));
    }
    int ok = app->listening && !json_array_size(down) && !json_array_size(given);
    json_t *j;
    if (ok) {
        j = json_pack("{s:s}", "status", "ok");
    } else {
        char reason[512];
        size_t rl = 0;
        if (!app->listening) rl += (size_t)snprintf(reason, sizeof reason, "not listening yet; ");
        size_t i;
        json_t *v;
        json_array_foreach(given, i, v)
            if (rl < sizeof reason)
                rl += (size_t)snprintf(
                    reason + rl, sizeof reason - rl,
                    "%s given up after a crash loop (its CONNECTs get \"Namespace unavailable\"); ",
                    json_string_value(v));
        json_array_foreach(down, i, v)
            if (rl < sizeof reason)
                rl += (size_t)snprintf(reason + rl, sizeof reason - rl, "%s has no worker now; ",
                                       json_string_value(v));
        if (rl >= sizeof reason) rl = sizeof reason - 1;
        if (rl >= 2) reason[rl - 2] = '\0';
        j = json_pack("{s:s, s:b, s:O, s:O, s:s}", "status", "unavailable", "listening",
                      app->listening, "down", down, "given_up", given, "reason", reason);
    }
    char *s = json_dumps(j, JSON_COMPACT);
    snprintf(buf, cap, "%s\n", s ? s : "{\"status\":\"unavailable\"}");
    free(s);
    json_decref(j);
    json_decref(down);
    json_decref(given);
    return ok ? 200 : 503;
}

/* ---- HTTP ---------------------------------------------------------------- */

static void on_head(http_conn *c, const http_request *r, void *ud)
{
    gw_admin *a = ud;
    static const char nf[] = "404 Not Found (try /healthz or /metrics)\n";
    int is_health = !strcmp(r->path, "/healthz"), is_metrics = !strcmp(r->path, "/metrics");
    if (!is_health && !is_metrics) {
        http_respond(c, 404, "text/plain; charset=UTF-8", NULL, nf, sizeof nf - 1, 0);
        return;
    }
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        static const char na[] = "405 Method Not Allowed\n";
        http_respond(c, 405, "text/plain; charset=UTF-8", "Allow: GET, HEAD\r\n", na, sizeof na - 1,
                     1);
        return;
    }
    if (is_health) {
        char body[2048];
        int st = gw_admin_health(a, body, sizeof body);
        http_respond(c, st, "application/json", "Cache-Control: no-store\r\n", body, strlen(body),
                     0);
        return;
    }
    sbuf b = {xmalloc(16384), 0, 16384};
    metrics(a, &b);
    http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", "Cache-Control: no-store\r\n",
                 b.p, b.len, 0);
    free(b.p);
}

static void on_upgrade(http_conn *c, const http_request *r, void *ud)
{
    static const char nf[] = "404 Not Found\n";
    http_respond(c, 404, "text/plain; charset=UTF-8", NULL, nf, sizeof nf - 1, 1);
}

static void on_body(http_conn *c, const char *p, size_t n, void *ud) {}
static void on_end(http_conn *c, void *ud) {}

gw_admin *gw_admin_new(struct ev_loop *loop, const char *host, int port, gw_app *app,
                       eio_server *srv)
{
    gw_admin *a = xcalloc(1, sizeof *a);
    a->app = app;
    a->srv = srv;
    http_limits lim = {.max_header_bytes = 8192,
                       .max_url_bytes = 2048,
                       .max_output = 64 << 20,
                       .idle_timeout = 30,
                       .header_timeout = 10,
                       .max_conns = 64};
    http_handler h = {
        .on_head = on_head, .on_body = on_body, .on_end = on_end, .on_upgrade = on_upgrade};
    a->http = http_server_new(loop, &lim, &h, a);
    if (http_server_listen(a->http, host, port) < 0) {
        gw_admin_destroy(&a);
        return NULL;
    }
    log_info("admin endpoint on http://%s%s%s:%d (/healthz, /metrics)",
             strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    return a;
}

void gw_admin_destroy(gw_admin **pa)
{
    gw_admin *a = *pa;
    if (!a) return;
    http_server_close_all(a->http);
    http_server_destroy(&a->http);
    free(a);
    *pa = NULL;
}
