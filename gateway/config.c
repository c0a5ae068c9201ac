/* config.c — command line and config file.  See config.h. */
#include "config.h"
#include "cluster.h"
#include "gw_app.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "util.h"

static const char usage[] =
    "Usage: iogate [options]\n"
    "A Socket.IO v5 / Engine.IO v4 gateway.\n"
    "\n"
    "  --listen HOST:PORT        address to listen on (127.0.0.1:3000)\n"
    "  --path PATH               Engine.IO path (/socket.io/)\n"
    "  --ping-interval MS        heartbeat interval (25000)\n"
    "  --ping-timeout MS         heartbeat timeout (20000)\n"
    "  --upgrade-timeout MS      time to complete a WebSocket upgrade (10000)\n"
    "  --max-payload BYTES       POST body / WebSocket message cap (1000000)\n"
    "  --transports LIST         polling,websocket (both)\n"
    "  --cors-origin ORIGIN      allowed origin, repeatable, or *\n"
    "  --cors-credentials        allow credentials (the origin is echoed, never *)\n"
    "  --allow-eio3              also accept Engine.IO v3 clients (socket.io-client 2.x)\n"
    "  --cookie NAME             set a cookie NAME=<sid> on handshake\n"
    "  --static DIR              serve files from DIR for other paths\n"
    "  --client-js FILE|DIR      serve FILE at <path>socket.io.js, or every\n"
    "                            socket.io*.js(.map) of DIR (socket.io-client/dist/)\n"
    "  --worker NSP=COMMAND      a worker process for a namespace, repeatable;\n"
    "                            NSP starting with ^ is a pattern: one process per\n"
    "                            matching namespace, started on its first CONNECT\n"
    "  --worker-heartbeat MS     IPC heartbeat; 3 missed = worker dead (5000)\n"
    "  --worker-key NSP=FILE     a worker started elsewhere may serve NSP (* = any)\n"
    "                            if its HELLO presents the key in FILE; repeatable.\n"
    "                            Once one is given, every HELLO needs a key\n"
    "  --emitter-key NSPS=FILE   an emitter presenting the key in FILE may emit\n"
    "                            into NSPS (comma-separated, * = any); repeatable\n"
    "  --worker-grace MS         CONNECTs to a --worker-key namespace wait this long\n"
    "                            for its worker after a start or a loss\n"
    "                            (worker heartbeat + 1000)\n"
    "  --worker-restart MS       first restart delay, doubling (100)\n"
    "  --worker-restart-max MS   longest restart delay (10000)\n"
    "  --worker-crash-limit N    exits within 60 s before giving up (10)\n"
    "  --worker-credit N         client packets in flight per worker (10000)\n"
    "  --worker-idle MS          stop an unused dynamic namespace's worker (60000)\n"
    "  --max-dynamic N           dynamic namespace workers at once (100)\n"
    "  --connect-timeout MS      Socket.IO CONNECT deadline (45000)\n"
    "  --ipc ENDPOINT            ZeroMQ endpoint for the workers\n"
    "  --redis URL               join a cluster of @socket.io/redis-adapter nodes:\n"
    "                            redis://[:password@]host[:port][/db] or unix:/path\n"
    "  --redis-key KEY           the adapter's channel prefix (socket.io)\n"
    "  --redis-sharded           Redis 7 sharded pub/sub, as createShardedAdapter\n"
    "  --redis-queue N           messages held for Redis while it is away; more\n"
    "                            are dropped and logged (1000)\n"
    "  --admission NSP           ask NSP's worker before each handshake (off)\n"
    "  --admission-timeout MS    no answer by then: refused with 503 (2000)\n"
    "  --admission-max-pending N handshakes waiting for it; more get 503 (1024)\n"
    "  --max-attachments N       binary attachments per packet (10)\n"
    "  --max-depth N             JSON nesting accepted from clients (32)\n"
    "  --max-connections N       open sessions; more handshakes get 503\n"
    "                            (from the descriptor limit, at most 10000)\n"
    "  --max-sessions-per-address N  sessions from one IP; more get 429 (off)\n"
    "  --max-buffered BYTES      queued for one client before it is dropped\n"
    "                            (4 x max-payload + 16 MiB)\n"
    "  --max-buffered-total BYTES  queued for all clients together; past it the\n"
    "                            ones holding the most are dropped first\n"
    "                            (1 GiB, or 4 x max-buffered if more)\n"
    "  --header-timeout MS       a request head must arrive within (10000)\n"
    "  --idle-timeout MS         idle keep-alive connections are closed after\n"
    "                            (ping-interval + ping-timeout)\n"
    "  --max-header-bytes BYTES  request head cap, more gets 431 (8192)\n"
    "  --max-url-bytes BYTES     request URL cap, more gets 414 (8192)\n"
    "  --ipc-curve-secret FILE   ZeroMQ CURVE for the IPC endpoint: FILE holds the\n"
    "                            gateway's Z85 secret key (40 characters)\n"
    "  --log-level LEVEL         error|warn|info|debug (info)\n"
    "  --log-format FORMAT       text|json (text)\n"
    "  --admin-listen HOST:PORT  serve /healthz and /metrics here (off; never\n"
    "                            the --listen address)\n"
    "  --trust-proxy ADDR        a reverse proxy whose X-Forwarded-For/-Proto are\n"
    "                            believed: an address, ADDR/BITS or loopback; repeatable\n"
    "  --fastcgi HOST:PORT       also serve polling as a FastCGI responder\n"
    "  --fastcgi unix:PATH       ... on a unix socket\n"
    "  --fastcgi-max-threads N   FastCGI requests in progress at once (4096)\n"
    "  --fastcgi-socket-mode MODE  octal permissions of the unix socket (umask)\n"
    "  --fastcgi-socket-owner USER[:GROUP]  owner of the unix socket, e.g. :www-data\n"
    "  --tls-cert FILE           serve HTTPS/WSS: PEM certificate chain (server\n"
    "                            certificate first); reloaded on SIGHUP\n"
    "  --tls-key FILE            ... and its PEM private key (both or neither)\n"
    "  --recovery-window [NSP=]MS  connection state recovery: keep a socket whose\n"
    "                            transport was lost for MS (on = 120000, 0 = off)\n"
    "                            and give it back to its client; NSP= for one\n"
    "                            namespace, repeatable (off)\n"
    "  --recovery-skip-middlewares [NSP]  a recovered socket skips the namespace\n"
    "                            middleware (of NSP only, repeatable)\n"
    "  --echo                    diagnostic: echo every Engine.IO message back\n"
    "  --config FILE             read `key = value` lines (long option names)\n"
    "  -h, --help                this text\n"
    "  -v, --version             print the version\n";

const char *gw_config_usage(void)
{
    return usage;
}

void gw_config_init(gw_config *c)
{
    memset(c, 0, sizeof *c);
    eio_config_defaults(&c->eio);
    c->host = xstrdup(c->eio.host);
    c->path = xstrdup(c->eio.path);
    c->eio.host = c->host;
    c->eio.path = c->path;
    /* The Socket.IO layer's defaults live in one place: gw_app_options. */
    gw_app_options d;
    gw_app_options_defaults(&d);
    c->connect_timeout_ms = d.connect_timeout_ms;
    c->worker_heartbeat_ms = d.heartbeat_ms;
    c->worker_restart_ms = d.restart_min_ms;
    c->worker_restart_max_ms = d.restart_max_ms;
    c->worker_idle_ms = d.dynamic_idle_ms;
    c->worker_crash_limit = d.crash_limit;
    c->worker_credit = (unsigned)d.credit;
    c->max_dynamic = (unsigned)d.max_dynamic;
    c->redis_queue = d.redis_queue;
    c->max_attachments = (unsigned)d.max_attachments;
    c->max_depth = (unsigned)d.max_depth;
    c->log_level = GW_LOG_INFO;
    c->eio.fastcgi_socket_uid = -1;
    c->eio.fastcgi_socket_gid = -1;
}

static void clear_cors(gw_config *c)
{
    for (size_t i = 0; i < c->ncors; i++)
        free(c->cors[i]);
    free(c->cors);
    c->cors = NULL;
    c->ncors = 0;
    c->eio.cors_origins = NULL;
}

static void clear_trust(gw_config *c)
{
    for (size_t i = 0; i < c->ntrust; i++)
        free(c->trust[i]);
    free(c->trust);
    c->trust = NULL;
    c->ntrust = 0;
    c->eio.trust_proxies = NULL;
}

static void clear_workers(gw_config *c)
{
    for (size_t i = 0; i < c->nworkers; i++) {
        free(c->workers[i].nsp);
        free(c->workers[i].cmd);
    }
    free(c->workers);
    c->workers = NULL;
    c->nworkers = 0;
}

static void clear_keys(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

void gw_config_free(gw_config *c)
{
    clear_keys(&c->worker_keys, &c->nworker_keys);
    clear_keys(&c->emitter_keys, &c->nemitter_keys);
    clear_cors(c);
    clear_workers(c);
    clear_trust(c);
    for (size_t i = 0; i < c->nrecovery; i++)
        free(c->recovery[i].nsp);
    free(c->recovery);
    free(c->fastcgi);
    free(c->host);
    free(c->path);
    free(c->cookie);
    free(c->static_dir);
    free(c->client_js);
    free(c->ipc);
    free(c->ipc_curve_secret);
    free(c->admin_host);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->admission);
    free(c->redis);
    free(c->redis_key);
    memset(c, 0, sizeof *c);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_uint(const char *v, unsigned long long max, unsigned long long *out)
{
    if (!v || !*v || !isdigit((unsigned char)v[0])) return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > max) return -1;
    *out = x;
    return 0;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

static int parse_bool(const char *v)
{
    if (!v || !*v || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
        return 1;
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off")) return 0;
    return -1;
}

static int set_listen(gw_config *c, const char *v, char *err, size_t errlen)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v) return fail(err, errlen, "--listen wants HOST:PORT, got '%s'", v);
    unsigned long long port;
    if (parse_uint(colon + 1, 65535, &port) || port == 0)
        return fail(err, errlen, "--listen: invalid port in '%s'", v);
    const char *h = v;
    size_t hl = (size_t)(colon - v);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1]:3000 */
        h++;
        hl -= 2;
    }
    free(c->host);
    c->host = xstrndup(h, hl);
    c->eio.host = c->host;
    c->eio.port = (int)port;
    return 0;
}

/* --worker-key NSP=FILE, --emitter-key NSP[,NSP…]=FILE: checked here, the
 * files are read when the gateway starts (authority.c). */
static int add_key(gw_config *c, const char *key, const char *v, int from_file, char *err,
                   size_t errlen)
{
    int emitter = key[0] == 'e';
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1])
        return fail(err, errlen, "--%s wants %s=FILE, got '%s'", key,
                    emitter ? "NAMESPACE[,NAMESPACE...]" : "NAMESPACE", v);
    for (const char *p = v; p < eq;) {
        size_t l = strcspn(p, ",=");
        if (l == 0 || (p[0] != '/' && !(l == 1 && p[0] == '*')) || (!emitter && p + l != eq))
            return fail(err, errlen, "--%s: namespace must start with '/' (or be *) in '%s'", key,
                        v);
        p += l;
        if (*p == ',') p++;
    }
    char ***list = emitter ? &c->emitter_keys : &c->worker_keys;
    size_t *n = emitter ? &c->nemitter_keys : &c->nworker_keys;
    int *ff = emitter ? &c->emitter_keys_from_file : &c->worker_keys_from_file;
    if (*ff && !from_file) clear_keys(list, n);
    *ff = from_file;
    *list = xrealloc(*list, (*n + 2) * sizeof **list);
    (*list)[(*n)++] = xstrdup(v);
    (*list)[*n] = NULL;
    return 0;
}

/* USER, USER:GROUP or :GROUP, names or numbers; resolved now so that a typo
 * stops the gateway before it listens, not when the socket is made. */
static int set_owner(gw_config *c, const char *v, char *err, size_t errlen)
{
    const char *colon = strchr(v, ':');
    size_t ul = colon ? (size_t)(colon - v) : strlen(v);
    const char *grp = colon ? colon + 1 : "";
    if (!ul && !*grp)
        return fail(err, errlen, "--fastcgi-socket-owner wants USER[:GROUP], got '%s'", v);
    char user[256];
    if (ul >= sizeof user) return fail(err, errlen, "--fastcgi-socket-owner: user name too long");
    memcpy(user, v, ul);
    user[ul] = '\0';
    unsigned long long n;
    long uid = -1, gid = -1;
    if (ul) {
        struct passwd *pw = getpwnam(user);
        if (pw)
            uid = (long)pw->pw_uid;
        else if (parse_uint(user, INT_MAX, &n) == 0)
            uid = (long)n;
        else
            return fail(err, errlen, "--fastcgi-socket-owner: no user '%s'", user);
    }
    if (*grp) {
        struct group *gr = getgrnam(grp);
        if (gr)
            gid = (long)gr->gr_gid;
        else if (parse_uint(grp, INT_MAX, &n) == 0)
            gid = (long)n;
        else
            return fail(err, errlen, "--fastcgi-socket-owner: no group '%s'", grp);
    }
    c->eio.fastcgi_socket_uid = uid;
    c->eio.fastcgi_socket_gid = gid;
    return 0;
}

/* The entry of --recovery-* for namespace nsp (made if missing). */
static struct gw_recovery_cfg *recovery_for(gw_config *c, const char *nsp, size_t len)
{
    for (size_t i = 0; i < c->nrecovery; i++)
        if (strlen(c->recovery[i].nsp) == len && !strncmp(c->recovery[i].nsp, nsp, len))
            return &c->recovery[i];
    c->recovery = xrealloc(c->recovery, (c->nrecovery + 1) * sizeof *c->recovery);
    struct gw_recovery_cfg *r = &c->recovery[c->nrecovery++];
    r->nsp = xstrndup(nsp, len);
    r->window_ms = -1;
    r->skip = -1;
    return r;
}

/* --recovery-window MS | on | NSP=MS, --recovery-skip-middlewares [true|false|NSP] */
static int set_recovery(gw_config *c, const char *key, const char *v, char *err, size_t errlen)
{
    if (v && v[0] == '/' && c->nrecovery >= GW_CONFIG_MAX_RECOVERY) {
        size_t len = strchr(v, '=') ? (size_t)(strchr(v, '=') - v) : strlen(v);
        int known = 0;
        for (size_t i = 0; i < c->nrecovery; i++)
            known |= strlen(c->recovery[i].nsp) == len && !strncmp(c->recovery[i].nsp, v, len);
        if (!known)
            return fail(err, errlen, "--%s: at most %d namespaces", key, GW_CONFIG_MAX_RECOVERY);
    }
    if (!strcmp(key, "recovery-skip-middlewares")) {
        if (v && v[0] == '/') {
            recovery_for(c, v, strlen(v))->skip = 1;
            return 0;
        }
        int b = parse_bool(v);
        if (b < 0)
            return fail(err, errlen,
                        "--recovery-skip-middlewares wants a namespace (/…), "
                        "true or false, got '%s'",
                        v);
        c->recovery_skip = b;
        return 0;
    }
    const char *eq = v[0] == '/' ? strchr(v, '=') : NULL;
    if (v[0] == '/' && !eq) return fail(err, errlen, "--recovery-window wants NSP=MS, got '%s'", v);
    const char *ms = eq ? eq + 1 : v;
    unsigned long long n;
    if (!strcmp(ms, "on") || !strcmp(ms, "true"))
        n = 120000;
    else if (!strcmp(ms, "off") || !strcmp(ms, "false"))
        n = 0;
    else if (parse_uint(ms, 24ull * 3600 * 1000, &n))
        return fail(err, errlen,
                    "--recovery-window: '%s' is not a number of ms (at most a day), "
                    "on or off",
                    ms);
    if (eq)
        recovery_for(c, v, (size_t)(eq - v))->window_ms = (long)n;
    else
        c->recovery_window_ms = (unsigned)n;
    return 0;
}

int gw_config_set(gw_config *c, const char *key, const char *v, int from_file, char *err,
                  size_t errlen)
{
    unsigned long long n;
    /* bare flags */
    if (!strcmp(key, "recovery-skip-middlewares") || (!strcmp(key, "recovery-window") && v))
        return set_recovery(c, key, v, err, errlen);
    if (!strcmp(key, "cors-credentials") || !strcmp(key, "echo") || !strcmp(key, "allow-eio3") ||
        !strcmp(key, "redis-sharded")) {
        int b = parse_bool(v);
        if (b < 0)
            return fail(err, errlen, "--%s takes no value (or true/false), got '%s'", key, v);
        if (key[0] == 'r')
            c->redis_sharded = b;
        else if (key[0] == 'e')
            c->echo = b;
        else if (key[0] == 'a')
            c->eio.allow_eio3 = b;
        else
            c->eio.cors_credentials = b;
        return 0;
    }
    if (!v) return fail(err, errlen, "--%s needs a value", key);
    if (!strcmp(key, "listen")) return set_listen(c, v, err, errlen);
    if (!strcmp(key, "path")) {
        if (v[0] != '/') return fail(err, errlen, "--path must start with '/', got '%s'", v);
        size_t l = strlen(v);
        free(c->path);
        c->path = xmalloc(l + 2);
        memcpy(c->path, v, l + 1);
        if (v[l - 1] != '/') memcpy(c->path + l, "/", 2);
        c->eio.path = c->path;
        return 0;
    }
    struct {
        const char *name;
        unsigned *dst;
    } ms[] = {{"ping-interval", &c->eio.ping_interval_ms},
              {"ping-timeout", &c->eio.ping_timeout_ms},
              {"upgrade-timeout", &c->eio.upgrade_timeout_ms},
              {"connect-timeout", &c->connect_timeout_ms},
              {"max-attachments", &c->max_attachments},
              {"worker-heartbeat", &c->worker_heartbeat_ms},
              {"worker-restart", &c->worker_restart_ms},
              {"worker-restart-max", &c->worker_restart_max_ms},
              {"worker-idle", &c->worker_idle_ms},
              {"worker-crash-limit", &c->worker_crash_limit},
              {"worker-credit", &c->worker_credit},
              {"worker-grace", &c->worker_grace_ms},
              {"max-dynamic", &c->max_dynamic},
              {"max-depth", &c->max_depth},
              {"header-timeout", &c->eio.header_timeout_ms},
              {"idle-timeout", &c->eio.idle_timeout_ms},
              {"admission-timeout", &c->eio.admission_timeout_ms}};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        if (strcmp(key, ms[i].name)) continue;
        int attach = !strcmp(key, "max-attachments") || !strcmp(key, "worker-crash-limit") ||
                     !strcmp(key, "worker-credit") || !strcmp(key, "max-dynamic") ||
                     !strcmp(key, "max-depth");
        if (parse_uint(v, 24ull * 3600 * 1000, &n) || (!attach && n == 0))
            return fail(err, errlen, "--%s wants a %s, got '%s'", key,
                        attach ? "count" : "positive number of milliseconds", v);
        if (!strcmp(key, "max-depth") && (n == 0 || n > 10000))
            return fail(err, errlen, "--max-depth wants a depth from 1 to 10000, got '%s'", v);
        *ms[i].dst = (unsigned)n;
        return 0;
    }
    if (!strcmp(key, "max-payload")) {
        if (parse_uint(v, (unsigned long long)1 << 30, &n) || n == 0)
            return fail(err, errlen,
                        "--max-payload wants a positive number of bytes (max 1 GiB), got '%s'", v);
        c->eio.max_payload = (size_t)n;
        return 0;
    }
    struct {
        const char *name;
        size_t *dst;
        unsigned long long max;
        int zero_ok;
    } sz[] = {{"max-connections", &c->eio.max_connections, 10000000, 0},
              {"max-sessions-per-address", &c->eio.max_sessions_per_address, 10000000, 1},
              {"max-buffered", &c->eio.max_buffered, (unsigned long long)1 << 40, 0},
              {"max-buffered-total", &c->eio.max_buffered_total, (unsigned long long)1 << 44, 0},
              {"max-header-bytes", &c->eio.max_header_bytes, (unsigned long long)1 << 24, 0},
              {"max-url-bytes", &c->eio.max_url_bytes, (unsigned long long)1 << 24, 0},
              {"admission-max-pending", &c->eio.admission_max_pending, 1000000, 0},
              {"redis-queue", &c->redis_queue, 10000000, 0}};
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        if (strcmp(key, sz[i].name)) continue;
        if (parse_uint(v, sz[i].max, &n) || (!sz[i].zero_ok && n == 0))
            return fail(err, errlen, "--%s wants a %snumber up to %llu, got '%s'", key,
                        sz[i].zero_ok ? "" : "positive ", sz[i].max, v);
        *sz[i].dst = (size_t)n;
        return 0;
    }
    if (!strcmp(key, "ipc-curve-secret")) {
        if (!*v) return fail(err, errlen, "--ipc-curve-secret: empty file name");
        set_str(&c->ipc_curve_secret, v);
        return 0;
    }
    if (!strcmp(key, "transports")) {
        unsigned mask = 0;
        const char *p = v;
        while (*p) {
            size_t l = strcspn(p, ",");
            if (l == 7 && !strncmp(p, "polling", 7))
                mask |= EIO_TRANSPORT_POLLING;
            else if (l == 9 && !strncmp(p, "websocket", 9))
                mask |= EIO_TRANSPORT_WEBSOCKET;
            else
                return fail(err, errlen,
                            "--transports: unknown transport in '%s' (polling, websocket)", v);
            p += l;
            if (*p == ',') p++;
        }
        if (!mask) return fail(err, errlen, "--transports: none given");
        c->eio.transports = mask;
        return 0;
    }
    if (!strcmp(key, "cors-origin")) {
        if (!*v) return fail(err, errlen, "--cors-origin: empty origin");
        if (strpbrk(v, "\r\n")) return fail(err, errlen, "--cors-origin: invalid characters");
        if (c->cors_from_file && !from_file) clear_cors(c);
        c->cors_from_file = from_file;
        c->cors = xrealloc(c->cors, (c->ncors + 2) * sizeof *c->cors);
        c->cors[c->ncors++] = xstrdup(v);
        c->cors[c->ncors] = NULL;
        c->eio.cors_origins = (const char **)c->cors;
        return 0;
    }
    if (!strcmp(key, "cookie")) {
        if (!*v || strpbrk(v, "=;, \t\r\n"))
            return fail(err, errlen, "--cookie: invalid cookie name '%s'", v);
        set_str(&c->cookie, v);
        c->eio.cookie = c->cookie;
        return 0;
    }
    if (!strcmp(key, "static")) {
        set_str(&c->static_dir, v);
        size_t l = strlen(c->static_dir);
        while (l > 1 && c->static_dir[l - 1] == '/')
            c->static_dir[--l] = '\0';
        c->eio.static_dir = c->static_dir;
        return 0;
    }
    if (!strcmp(key, "client-js")) {
        set_str(&c->client_js, v);
        c->eio.client_js = c->client_js;
        return 0;
    }
    if (!strcmp(key, "trust-proxy")) {
        if (proxy_trust_check(v) < 0)
            return fail(err, errlen,
                        "--trust-proxy wants an IP address, ADDR/BITS or 'loopback', got '%s'", v);
        if (c->trust_from_file && !from_file) clear_trust(c);
        c->trust_from_file = from_file;
        c->trust = xrealloc(c->trust, (c->ntrust + 2) * sizeof *c->trust);
        c->trust[c->ntrust++] = xstrdup(v);
        c->trust[c->ntrust] = NULL;
        c->eio.trust_proxies = (const char **)c->trust;
        return 0;
    }
    if (!strcmp(key, "fastcgi")) {
        const char *colon = strrchr(v, ':');
        unsigned long long port;
        int ok = !strncmp(v, "unix:", 5)
                     ? v[5] == '/' || (v[5] && v[5] != ':')
                     : colon && parse_uint(colon + 1, 65535, &port) == 0 && port;
        if (!ok) return fail(err, errlen, "--fastcgi wants HOST:PORT or unix:PATH, got '%s'", v);
        set_str(&c->fastcgi, v);
        c->eio.fastcgi = c->fastcgi;
        return 0;
    }
    if (!strcmp(key, "fastcgi-max-threads")) {
        if (parse_uint(v, 100000, &n) || n < 2)
            return fail(err, errlen,
                        "--fastcgi-max-threads wants a count from 2 to 100000, got '%s'", v);
        c->eio.fastcgi_max_threads = (unsigned)n;
        return 0;
    }
    if (!strcmp(key, "fastcgi-socket-mode")) {
        char *end;
        errno = 0;
        unsigned long m = strtoul(v, &end, 8);
        if (!*v || *end || errno || m > 07777)
            return fail(err, errlen,
                        "--fastcgi-socket-mode wants octal permissions like 0660, got '%s'", v);
        c->eio.fastcgi_socket_mode = (unsigned)m | GW_FCGI_MODE_SET;
        return 0;
    }
    if (!strcmp(key, "fastcgi-socket-owner")) return set_owner(c, v, err, errlen);
    if (!strcmp(key, "tls-cert") || !strcmp(key, "tls-key")) {
        if (!*v) return fail(err, errlen, "--%s: empty file name", key);
        set_str(key[4] == 'c' ? &c->tls_cert : &c->tls_key, v);
        return 0;
    }
    if (!strcmp(key, "admission")) {
        if (v[0] != '/' || strchr(v, ','))
            return fail(err, errlen, "--admission wants a namespace starting with '/', got '%s'",
                        v);
        set_str(&c->admission, v);
        c->eio.admission = c->admission;
        return 0;
    }
    if (!strcmp(key, "redis") || !strcmp(key, "redis-key")) {
        if (!*v) return fail(err, errlen, "--%s: empty value", key);
        if (key[5] == '-') {
            set_str(&c->redis_key, v);
        } else {
            cl_url u;
            char why[300];
            if (cl_url_parse(v, &u, why, sizeof why) < 0)
                return fail(err, errlen, "--redis: %s", why);
            set_str(&c->redis, v);
        }
        return 0;
    }
    if (!strcmp(key, "ipc")) {
        if (!*v) return fail(err, errlen, "--ipc: empty endpoint");
        set_str(&c->ipc, v);
        return 0;
    }
    if (!strcmp(key, "log-format")) {
        int f = gw_log_format_parse(v);
        if (f < 0) return fail(err, errlen, "--log-format: unknown format '%s' (text|json)", v);
        c->log_format = f;
        return 0;
    }
    if (!strcmp(key, "admin-listen")) {
        const char *colon = strrchr(v, ':');
        unsigned long long port;
        if (!colon || colon == v || parse_uint(colon + 1, 65535, &port) || port == 0)
            return fail(err, errlen, "--admin-listen wants HOST:PORT, got '%s'", v);
        const char *h = v;
        size_t hl = (size_t)(colon - v);
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') h++, hl -= 2;
        free(c->admin_host);
        c->admin_host = xstrndup(h, hl);
        c->admin_port = (int)port;
        return 0;
    }
    if (!strcmp(key, "log-level")) {
        int l = gw_log_level_parse(v);
        if (l < 0)
            return fail(err, errlen, "--log-level: unknown level '%s' (error|warn|info|debug)", v);
        c->log_level = l;
        return 0;
    }
    if (!strcmp(key, "worker-key") || !strcmp(key, "emitter-key"))
        return add_key(c, key, v, from_file, err, errlen);
    if (!strcmp(key, "worker")) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1] || (v[0] != '/' && v[0] != '^'))
            return fail(err, errlen,
                        "--worker wants NAMESPACE=COMMAND with NAMESPACE starting with '/' (or a "
                        "pattern starting with '^'), got '%s'",
                        v);
        if (c->workers_from_file && !from_file) clear_workers(c);
        c->workers_from_file = from_file;
        /* One namespace, one worker: two would take it from each other
         * (HELLO replaces) for ever. */
        for (size_t i = 0; i < c->nworkers; i++)
            if (strlen(c->workers[i].nsp) == (size_t)(eq - v) &&
                !strncmp(c->workers[i].nsp, v, (size_t)(eq - v)))
                return fail(err, errlen,
                            "--worker: namespace %.*s is given twice (one worker per namespace)",
                            (int)(eq - v), v);
        c->workers = xrealloc(c->workers, (c->nworkers + 1) * sizeof *c->workers);
        c->workers[c->nworkers].nsp = xstrndup(v, (size_t)(eq - v));
        c->workers[c->nworkers].cmd = xstrdup(eq + 1);
        c->nworkers++;
        return 0;
    }
    return fail(err, errlen, "unknown option --%s", key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1]))
        s[--l] = '\0';
    return s;
}

static int is_bare(const char *key)
{
    return !strcmp(key, "cors-credentials") || !strcmp(key, "echo") || !strcmp(key, "allow-eio3") ||
           !strcmp(key, "recovery-skip-middlewares") || !strcmp(key, "redis-sharded") ||
           !strcmp(key, "help") || !strcmp(key, "version");
}

/* The --help text is the list of options: a name it does not show is
 * unknown, so a bare `--typo` is reported as that rather than as an
 * option missing its value. */
static int is_known(const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = strstr(usage, "--"); p; p = strstr(p + 2, "--"))
        if (!strncmp(p + 2, key, kl) && (p[2 + kl] == ' ' || p[2 + kl] == '\n' || p[2 + kl] == ','))
            return 1;
    return 0;
}

int gw_config_load(gw_config *c, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) return fail(err, errlen, "--config %s: %s", file, strerror(errno));
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        char *key = s, *val = NULL;
        if (eq) {
            *eq = '\0';
            val = trim(eq + 1);
            key = trim(s);
        } else if (!is_bare(key)) {
            rc = fail(err, errlen, "%s:%d: '%s' has no '=' (lines are 'key = value'%s)", file,
                      lineno, key, is_known(key) ? "" : "; and it is not a known option either");
            break;
        }
        if (!strcmp(key, "config") || !strcmp(key, "help") || !strcmp(key, "version")) {
            rc =
                fail(err, errlen, "%s:%d: '%s' is not allowed in a config file", file, lineno, key);
            break;
        }
        char e[512];
        if (gw_config_set(c, key, val, 1, e, sizeof e) < 0) {
            rc = fail(err, errlen, "%s:%d: %s", file, lineno, e);
            break;
        }
    }
    fclose(f);
    return rc;
}

int gw_config_parse(gw_config *c, int argc, char **argv, char *err, size_t errlen)
{
    /* pass 1: --help, --version, --config; pass 2: everything else */
    for (int pass = 1; pass <= 2; pass++) {
        for (int i = 1; i < argc; i++) {
            const char *a = argv[i];
            if (!strcmp(a, "-h"))
                a = "--help";
            else if (!strcmp(a, "-v"))
                a = "--version";
            if (strncmp(a, "--", 2) != 0 || !a[2])
                return fail(err, errlen, "unexpected argument '%s'", a);
            char key[64];
            const char *val = NULL;
            const char *eq = strchr(a + 2, '=');
            size_t kl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (kl >= sizeof key) return fail(err, errlen, "unknown option %s", a);
            memcpy(key, a + 2, kl);
            key[kl] = '\0';
            if (eq) {
                val = eq + 1;
            } else if (!is_bare(key)) {
                if (!is_known(key)) return fail(err, errlen, "unknown option --%s", key);
                if (i + 1 >= argc) return fail(err, errlen, "--%s needs a value", key);
                val = argv[++i];
            }
            if (pass == 1) {
                if (!strcmp(key, "help")) return GW_CONFIG_HELP;
                if (!strcmp(key, "version")) return GW_CONFIG_VERSION;
                if (!strcmp(key, "config") && gw_config_load(c, val, err, errlen) < 0)
                    return GW_CONFIG_ERROR;
                continue;
            }
            if (!strcmp(key, "config") || !strcmp(key, "help") || !strcmp(key, "version")) continue;
            if (gw_config_set(c, key, val, 0, err, errlen) < 0) return GW_CONFIG_ERROR;
        }
    }
    /* The admin endpoint tells anyone who reaches it how the gateway is
     * doing: it never shares the public listener. */
    if (c->admin_host && c->admin_port == c->eio.port) {
        static const char *any[] = {"0.0.0.0", "::", "*", ""};
        int same = !strcmp(c->admin_host, c->host);
        for (size_t i = 0; i < 4; i++)
            if (!strcmp(c->admin_host, any[i]) || !strcmp(c->host, any[i])) same = 1;
        if (same)
            return fail(err, errlen,
                        "--admin-listen %s:%d is the public --listen address; give it its own port",
                        c->admin_host, c->admin_port),
                   GW_CONFIG_ERROR;
    }
    if (!c->tls_cert != !c->tls_key) {
        fail(err, errlen, "--tls-cert and --tls-key go together (got only --%s)",
             c->tls_cert ? "tls-cert" : "tls-key");
        return GW_CONFIG_ERROR;
    }
    return GW_CONFIG_OK;
}
