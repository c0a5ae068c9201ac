/* cluster.c — the Redis links of cluster.h.
 *
 * Why two kinds of hiredis use: publishing goes through hiredis's async API
 * on the libev adapter.  The subscribed connection reads replies with
 * hiredis's reader on a non-blocking redisContext under our own ev_io,
 * because hiredis 0.14's async layer (Debian 12) knows SUBSCRIBE and
 * PSUBSCRIBE but not Redis 7's SSUBSCRIBE: an `smessage` push with no
 * callback queued trips an assert in it. */
#include "cluster.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uthash.h>

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0

typedef struct cl_sub {
    char *id; /* "<kind>:<channel>" */
    cl_sub_kind kind;
    char *channel;
    char *nsp;
    int role;
    UT_hash_handle hh;
} cl_sub;

typedef struct cl_msg {
    char *channel, *data;
    size_t len;
    struct cl_msg *next;
} cl_msg;

struct cl_node {
    struct ev_loop *loop;
    cl_url url;
    char *key;
    int sharded;
    size_t queue_max;
    cl_handler h;
    void *ud;
    char uid[17];
    /* publishing link */
    redisAsyncContext *pub;
    int pub_ready;
    ev_timer pub_retry;
    double pub_backoff;
    int pub_down_logged;
    /* subscribed link */
    redisContext *sub;
    int sub_ready;
    ev_io sub_rd, sub_wr;
    ev_timer sub_retry;
    double sub_backoff;
    int sub_down_logged;
    cl_sub *subs;
    cl_msg *q, *q_tail;
    size_t q_n;
    uint64_t dropped;
    double last_drop_log;
    int closing;
};

int cl_url_parse(const char *url, cl_url *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->port = 6379;
    if (!strncmp(url, "unix:", 5)) {
        const char *p = url + 5;
        while (p[0] == '/' && p[1] == '/')
            p++; /* unix:///path and unix:/path */
        if (!*p || strlen(p) >= sizeof o->unix_path) {
            snprintf(err, errlen, "unix socket path missing or too long in '%s'", url);
            return -1;
        }
        snprintf(o->unix_path, sizeof o->unix_path, "%s", p);
        return 0;
    }
    if (strncmp(url, "redis://", 8)) {
        snprintf(err, errlen, "want redis://[:password@]host[:port][/db] or unix:/path, got '%s'",
                 url);
        return -1;
    }
    const char *p = url + 8, *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p; /* redis://user:pw@ (user ignored) or pw@ */
        size_t n = (size_t)(at - pw);
        if (n >= sizeof o->password) {
            snprintf(err, errlen, "password too long in --redis");
            return -1;
        }
        memcpy(o->password, pw, n);
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof o->host) {
        snprintf(err, errlen, "host missing in '%s'", url);
        return -1;
    }
    memcpy(o->host, p, hl);
    p += hl;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535) {
            snprintf(err, errlen, "bad port in '%s'", url);
            return -1;
        }
        o->port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0 || v > 1000000) {
            snprintf(err, errlen, "bad database number in '%s'", url);
            return -1;
        }
        o->db = (int)v;
    } else if (*p && strcmp(p, "/")) {
        snprintf(err, errlen, "unexpected '%s' in '%s'", p, url);
        return -1;
    }
    return 0;
}

static const char *where(const cl_node *n, char *buf, size_t len)
{
    if (n->url.unix_path[0])
        snprintf(buf, len, "unix:%s", n->url.unix_path);
    else
        snprintf(buf, len, "%s:%d", n->url.host, n->url.port);
    return buf;
}

/* ---- publishing link ---------------------------------------------------- */

static void pub_connect(cl_node *n);

static void pub_schedule(cl_node *n)
{
    if (n->closing) return;
    n->pub_backoff = n->pub_backoff ? n->pub_backoff * 2 : BACKOFF_MIN;
    if (n->pub_backoff > BACKOFF_MAX) n->pub_backoff = BACKOFF_MAX;
    ev_timer_set(&n->pub_retry, n->pub_backoff, 0);
    ev_timer_start(n->loop, &n->pub_retry);
}

static void pub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    const char *what = priv;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn("redis: %s refused: %s", what ? what : "PUBLISH", reply->str);
}

static void pub_send(cl_node *n, const char *channel, const char *data, size_t len)
{
    const char *argv[3] = {n->sharded ? "SPUBLISH" : "PUBLISH", channel, data};
    size_t argl[3] = {strlen(argv[0]), strlen(channel), len};
    redisAsyncCommandArgv(n->pub, pub_reply, NULL, 3, argv, argl);
    GW_COUNT(redis_published);
}

static void q_flush(cl_node *n)
{
    size_t k = n->q_n;
    while (n->q && n->pub_ready) {
        cl_msg *m = n->q;
        n->q = m->next;
        if (!n->q) n->q_tail = NULL;
        n->q_n--;
        pub_send(n, m->channel, m->data, m->len);
        free(m->channel);
        free(m->data);
        free(m);
    }
    if (k) log_info("redis: %zu queued message(s) published after the reconnect", k);
}

static void pub_on_connect(const redisAsyncContext *ac, int status)
{
    cl_node *n = ac->data;
    char w[300];
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback */
        if (!n->pub_down_logged)
            log_warn("redis: cannot connect to %s (%s); cross-node messages are queued (at most "
                     "%zu) and the connection retried",
                     where(n, w, sizeof w), ac->errstr, n->queue_max);
        n->pub_down_logged = 1;
        n->pub = NULL;
        pub_schedule(n);
        return;
    }
    log_info("redis: publishing connection to %s up", where(n, w, sizeof w));
    n->pub_ready = 1;
    n->pub_backoff = 0;
    n->pub_down_logged = 0;
    q_flush(n);
}

static void pub_on_disconnect(const redisAsyncContext *ac, int status)
{
    cl_node *n = ac->data;
    char w[300];
    n->pub = NULL;
    int was = n->pub_ready;
    n->pub_ready = 0;
    if (n->closing) return;
    if (was)
        log_warn("redis: publishing connection to %s lost (%s); queueing and reconnecting",
                 where(n, w, sizeof w), status == REDIS_OK ? "closed" : ac->errstr);
    pub_schedule(n);
}

static void pub_connect(cl_node *n)
{
    redisAsyncContext *ac = n->url.unix_path[0] ? redisAsyncConnectUnix(n->url.unix_path)
                                                : redisAsyncConnect(n->url.host, n->url.port);
    if (!ac || ac->err) {
        char w[300];
        if (!n->pub_down_logged)
            log_warn("redis: cannot connect to %s (%s); retrying", where(n, w, sizeof w),
                     ac ? ac->errstr : "out of memory");
        n->pub_down_logged = 1;
        if (ac) redisAsyncFree(ac);
        pub_schedule(n);
        return;
    }
    ac->data = n;
    redisLibevAttach(n->loop, ac);
    redisAsyncSetConnectCallback(ac, pub_on_connect);
    redisAsyncSetDisconnectCallback(ac, pub_on_disconnect);
    n->pub = ac;
    /* Sent first once the connection is up (hiredis keeps the order). */
    if (n->url.password[0]) redisAsyncCommand(ac, pub_reply, "AUTH", "AUTH %s", n->url.password);
}

static void pub_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    pub_connect(t->data);
}

/* ---- subscribed link ----------------------------------------------------- */

static void sub_connect(cl_node *n);

static const char *kind_cmd(cl_sub_kind k, int on)
{
    switch (k) {
    case CL_SUB:
        return on ? "SUBSCRIBE" : "UNSUBSCRIBE";
    case CL_PSUB:
        return on ? "PSUBSCRIBE" : "PUNSUBSCRIBE";
    default:
        return on ? "SSUBSCRIBE" : "SUNSUBSCRIBE";
    }
}

static void sub_close(cl_node *n, const char *why)
{
    char w[300];
    if (!n->sub) return;
    ev_io_stop(n->loop, &n->sub_rd);
    ev_io_stop(n->loop, &n->sub_wr);
    if (n->sub_ready)
        log_warn("redis: subscribed connection to %s lost (%s); reconnecting and subscribing again",
                 where(n, w, sizeof w), why);
    else if (!n->sub_down_logged)
        log_warn("redis: cannot connect to %s for subscriptions (%s); retrying",
                 where(n, w, sizeof w), why);
    n->sub_down_logged = 1;
    n->sub_ready = 0;
    redisFree(n->sub);
    n->sub = NULL;
    if (n->closing) return;
    n->sub_backoff = n->sub_backoff ? n->sub_backoff * 2 : BACKOFF_MIN;
    if (n->sub_backoff > BACKOFF_MAX) n->sub_backoff = BACKOFF_MAX;
    ev_timer_set(&n->sub_retry, n->sub_backoff, 0);
    ev_timer_start(n->loop, &n->sub_retry);
}

static int sub_flush(cl_node *n)
{
    int done = 0;
    if (redisBufferWrite(n->sub, &done) != REDIS_OK) {
        sub_close(n, n->sub->errstr);
        return -1;
    }
    if (done)
        ev_io_stop(n->loop, &n->sub_wr);
    else
        ev_io_start(n->loop, &n->sub_wr);
    return 0;
}

static void sub_cmd(cl_node *n, cl_sub_kind k, int on, const char *channel)
{
    const char *argv[2] = {kind_cmd(k, on), channel};
    size_t argl[2] = {strlen(argv[0]), strlen(channel)};
    redisAppendCommandArgv(n->sub, 2, argv, argl);
}

static void sub_dispatch(cl_node *n, redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("redis: subscribed connection got an error: %s", r->str);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return; /* +OK of AUTH, or a (un)subscribe count */
    const char *t = r->element[0]->str;
    cl_sub_kind k;
    redisReply *name, *chan, *payload;
    if (!strcmp(t, "message") || !strcmp(t, "smessage")) {
        k = t[0] == 's' ? CL_SSUB : CL_SUB;
        name = chan = r->element[1];
        payload = r->element[2];
    } else if (!strcmp(t, "pmessage") && r->elements >= 4) {
        k = CL_PSUB;
        name = r->element[1];
        chan = r->element[2];
        payload = r->element[3];
    } else {
        return;
    }
    if (name->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING ||
        payload->type != REDIS_REPLY_STRING)
        return;
    char id[1024];
    int il = snprintf(id, sizeof id, "%d:%.*s", (int)k, (int)name->len, name->str);
    if (il < 0 || (size_t)il >= sizeof id) return;
    cl_sub *s;
    HASH_FIND_STR(n->subs, id, s);
    if (!s) return; /* unsubscribed meanwhile */
    n->h.on_message(n->ud, s->role, s->nsp, chan->str, payload->str, payload->len);
}

static void sub_rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    cl_node *n = w->data;
    if (redisBufferRead(n->sub) != REDIS_OK) {
        sub_close(n, n->sub->errstr[0] ? n->sub->errstr : "connection closed");
        return;
    }
    void *r;
    while (n->sub && redisGetReplyFromReader(n->sub, &r) == REDIS_OK && r) {
        sub_dispatch(n, r);
        freeReplyObject(r);
    }
    if (n->sub && n->sub->err) sub_close(n, n->sub->errstr);
}

static void sub_wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    cl_node *n = w->data;
    if (!n->sub_ready) {
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(n->sub->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0) e = errno;
        if (e) {
            sub_close(n, strerror(e));
            return;
        }
        char wh[300];
        n->sub_ready = 1;
        n->sub_backoff = 0;
        n->sub_down_logged = 0;
        if (n->url.password[0]) {
            const char *argv[2] = {"AUTH", n->url.password};
            size_t argl[2] = {4, strlen(n->url.password)};
            redisAppendCommandArgv(n->sub, 2, argv, argl);
        }
        size_t cnt = 0;
        for (cl_sub *s = n->subs; s; s = s->hh.next, cnt++)
            sub_cmd(n, s->kind, 1, s->channel);
        log_info("redis: subscribed connection to %s up, %zu subscription(s) sent",
                 where(n, wh, sizeof wh), cnt);
        ev_io_start(n->loop, &n->sub_rd);
    }
    sub_flush(n);
}

static void sub_connect(cl_node *n)
{
    n->sub = n->url.unix_path[0] ? redisConnectUnixNonBlock(n->url.unix_path)
                                 : redisConnectNonBlock(n->url.host, n->url.port);
    if (!n->sub) return; /* out of memory: the retry timer is not armed; nothing to do */
    if (n->sub->err) {
        sub_close(n, n->sub->errstr);
        return;
    }
    ev_io_init(&n->sub_rd, sub_rd_cb, n->sub->fd, EV_READ);
    ev_io_init(&n->sub_wr, sub_wr_cb, n->sub->fd, EV_WRITE);
    n->sub_rd.data = n->sub_wr.data = n;
    ev_io_start(n->loop, &n->sub_wr); /* writable = connected (or failed) */
}

static void sub_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    sub_connect(t->data);
}

/* ---- public ----------------------------------------------------------------- */

cl_node *cl_node_new(struct ev_loop *loop, const cl_options *o, const cl_handler *h, void *ud)
{
    char err[300];
    cl_url u;
    if (cl_url_parse(o->url, &u, err, sizeof err) < 0) {
        log_error("--redis: %s", err);
        return NULL;
    }
    cl_node *n = xcalloc(1, sizeof *n);
    n->loop = loop;
    n->url = u;
    n->key = xstrdup(o->key && *o->key ? o->key : "socket.io");
    n->sharded = o->sharded;
    n->queue_max = o->queue_max ? o->queue_max : 1000;
    n->h = *h;
    n->ud = ud;
    unsigned char rnd[8];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(rand() ^ (int)(i * 37));
    }
    if (f) fclose(f);
    for (size_t i = 0; i < 8; i++)
        snprintf(n->uid + 2 * i, 3, "%02x", rnd[i]);
    ev_init(&n->pub_retry, pub_retry_cb);
    ev_init(&n->sub_retry, sub_retry_cb);
    n->pub_retry.data = n->sub_retry.data = n;
    char w[300];
    log_info("redis: node %s joins the cluster at %s, key '%s', %s pub/sub", n->uid,
             where(n, w, sizeof w), n->key, n->sharded ? "sharded" : "classic");
    pub_connect(n);
    sub_connect(n);
    return n;
}

void cl_node_destroy(cl_node **pn)
{
    cl_node *n = *pn;
    if (!n) return;
    n->closing = 1;
    ev_timer_stop(n->loop, &n->pub_retry);
    ev_timer_stop(n->loop, &n->sub_retry);
    if (n->pub) redisAsyncFree(n->pub); /* calls pub_on_disconnect: closing */
    n->pub = NULL;
    sub_close(n, "shutting down");
    cl_sub *s, *t;
    HASH_ITER(hh, n->subs, s, t) {
        HASH_DEL(n->subs, s);
        free(s->id);
        free(s->channel);
        free(s->nsp);
        free(s);
    }
    while (n->q) {
        cl_msg *m = n->q;
        n->q = m->next;
        free(m->channel);
        free(m->data);
        free(m);
    }
    if (n->q_n) log_info("redis: %zu queued message(s) not published: shutting down", n->q_n);
    free(n->key);
    free(n);
    *pn = NULL;
}

const char *cl_uid(const cl_node *n)
{
    return n->uid;
}
const char *cl_key(const cl_node *n)
{
    return n->key;
}
int cl_sharded(const cl_node *n)
{
    return n->sharded;
}
uint64_t cl_dropped(const cl_node *n)
{
    return n->dropped;
}
int cl_connected(const cl_node *n)
{
    return n->pub_ready && n->sub_ready;
}

int cl_subscribe(cl_node *n, cl_sub_kind kind, const char *channel, const char *nsp, int role)
{
    char id[1024];
    int il = snprintf(id, sizeof id, "%d:%s", (int)kind, channel);
    if (il < 0 || (size_t)il >= sizeof id) return -1;
    cl_sub *s;
    HASH_FIND_STR(n->subs, id, s);
    if (s) return 0;
    s = xcalloc(1, sizeof *s);
    s->id = xstrdup(id);
    s->kind = kind;
    s->channel = xstrdup(channel);
    s->nsp = xstrdup(nsp);
    s->role = role;
    HASH_ADD_KEYPTR(hh, n->subs, s->id, strlen(s->id), s);
    if (n->sub_ready) {
        sub_cmd(n, kind, 1, channel);
        sub_flush(n);
    }
    return 0;
}

void cl_unsubscribe(cl_node *n, cl_sub_kind kind, const char *channel)
{
    char id[1024];
    int il = snprintf(id, sizeof id, "%d:%s", (int)kind, channel);
    if (il < 0 || (size_t)il >= sizeof id) return;
    cl_sub *s;
    HASH_FIND_STR(n->subs, id, s);
    if (!s) return;
    HASH_DEL(n->subs, s);
    free(s->id);
    free(s->channel);
    free(s->nsp);
    free(s);
    if (n->sub_ready) {
        sub_cmd(n, kind, 0, channel);
        sub_flush(n);
    }
}

int cl_publish(cl_node *n, const char *channel, const char *data, size_t len)
{
    if (n->pub_ready) {
        pub_send(n, channel, data, len);
        return 0;
    }
    if (n->q_n >= n->queue_max) {
        n->dropped++;
        GW_COUNT(redis_dropped);
        double now = ev_now(n->loop);
        if (now - n->last_drop_log >= 1.0) { /* one line a second, with the total */
            n->last_drop_log = now;
            log_warn("redis: down and %zu message(s) queued: message to %s dropped (%llu "
                     "dropped so far)",
                     n->q_n, channel, (unsigned long long)n->dropped);
        }
        return -1;
    }
    cl_msg *m = xcalloc(1, sizeof *m);
    m->channel = xstrdup(channel);
    m->data = xmalloc(len ? len : 1);
    memcpy(m->data, data, len);
    m->len = len;
    if (n->q_tail)
        n->q_tail->next = m;
    else
        n->q = m;
    n->q_tail = m;
    n->q_n++;
    return 0;
}
