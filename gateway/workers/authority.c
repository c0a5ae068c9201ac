/* authority.c — who may speak for a namespace (ipc/PROTOCOL.md rules 10a-10f).
 *
 * Three kinds of key, all compared as SHA-256 digests in constant time:
 *  - a spawn key: fresh random for each process the gateway starts, handed
 *    to it in IOGATE_WORKER_KEY, valid for that child's namespace only, and
 *    dead once the child exits (the next spawn gets a new one);
 *  - a worker key (--worker-key NSP=FILE): lets a worker started elsewhere
 *    serve NSP ("*": any namespace);
 *  - an emitter key (--emitter-key NSP,NSP=FILE): lets a connection emit
 *    into those namespaces without serving any (rules 10d-10f).
 * Without any --worker-key the gateway stays open for namespaces nobody is
 * spawned for (the behaviour before keys existed), so a key-less HELLO can
 * never take a spawned namespace, and configuring one key closes the rest.
 */
#include "authority.h"
#include "supervisor.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_MIN 16   /* characters: shorter keys are refused at start */
#define KEY_MAX 4096 /* a key file larger than this is not a key */

struct gw_authkey {
    gw_authkey *next;
    int emitter;
    char **nsps; /* "/chat", or "*" for any namespace */
    size_t n_nsps;
    unsigned char digest[GW_KEY_DIGEST];
    char *file; /* for log lines: which key matched, never the key */
};

/* A namespace a worker key names, waiting for its worker until `until`. */
typedef struct gw_grace {
    char *nsp;
    double until; /* ev_now */
    UT_hash_handle hh;
} gw_grace;

struct gw_auth {
    gw_authkey *keys;
    size_t n_worker_keys;
    double grace_s;
    ev_timer grace;
    gw_grace *graces; /* by namespace name */
};

static void digest(const char *key, size_t len, unsigned char out[GW_KEY_DIGEST])
{
    unsigned int n = GW_KEY_DIGEST;
    if (EVP_Digest(key, len, out, &n, EVP_sha256(), NULL) != 1) {
        /* Without a digest nothing can be authenticated: fail closed with
         * a value no key hashes to in practice. */
        memset(out, 0, GW_KEY_DIGEST);
        log_error("SHA-256 unavailable: keys cannot be checked");
    }
}

static int same(const unsigned char *a, const unsigned char *b)
{
    return CRYPTO_memcmp(a, b, GW_KEY_DIGEST) == 0;
}

static int names(const gw_authkey *k, const char *nsp, size_t len, int wildcard)
{
    for (size_t i = 0; i < k->n_nsps; i++) {
        if (wildcard && strcmp(k->nsps[i], "*") == 0) return 1;
        if (strlen(k->nsps[i]) == len && memcmp(k->nsps[i], nsp, len) == 0) return 1;
    }
    return 0;
}

/* Read a key file: its content minus surrounding white space. */
static int read_key(const char *file, unsigned char out[GW_KEY_DIGEST])
{
    FILE *f = fopen(file, "r");
    if (!f) {
        log_error("key file %s: %s", file, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        log_warn("key file %s can be read by other users (mode %03o): chmod 600 it", file,
                 (unsigned)(st.st_mode & 0777));
    char buf[KEY_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n > KEY_MAX) {
        log_error("key file %s: larger than %d bytes, not a key", file, KEY_MAX);
        return -1;
    }
    size_t a = 0;
    while (a < n && isspace((unsigned char)buf[a]))
        a++;
    while (n > a && isspace((unsigned char)buf[n - 1]))
        n--;
    if (n - a < KEY_MIN) {
        log_error("key file %s: the key must have at least %d characters", file, KEY_MIN);
        memset(buf, 0, sizeof buf);
        return -1;
    }
    digest(buf + a, n - a, out);
    memset(buf, 0, sizeof buf);
    return 0;
}

/* "NSP[,NSP…]=FILE" (already checked by config.c). */
static gw_authkey *key_new(const char *spec, int emitter)
{
    const char *eq = strchr(spec, '=');
    if (!eq) return NULL;
    gw_authkey *k = xcalloc(1, sizeof *k);
    k->emitter = emitter;
    k->file = xstrdup(eq + 1);
    for (const char *p = spec; p < eq;) {
        size_t l = strcspn(p, ",=");
        k->nsps = xrealloc(k->nsps, (k->n_nsps + 1) * sizeof *k->nsps);
        k->nsps[k->n_nsps++] = xstrndup(p, l);
        p += l;
        if (*p == ',') p++;
    }
    if (read_key(k->file, k->digest) < 0) {
        for (size_t i = 0; i < k->n_nsps; i++)
            free(k->nsps[i]);
        free(k->nsps);
        free(k->file);
        free(k);
        return NULL;
    }
    return k;
}

static void grace_cb(struct ev_loop *loop, ev_timer *t, int revents);

int gw_auth_start(gw_router *r)
{
    struct gw_auth *a = xcalloc(1, sizeof *a);
    r->auth = a;
    unsigned g = r->opt.worker_grace_ms ? r->opt.worker_grace_ms : r->opt.heartbeat_ms + 1000;
    a->grace_s = g / 1000.0;
    ev_init(&a->grace, grace_cb);
    a->grace.data = r;
    for (int emitter = 0; emitter < 2; emitter++) {
        const char *const *list = emitter ? r->opt.emitter_keys : r->opt.worker_keys;
        size_t n = emitter ? r->opt.n_emitter_keys : r->opt.n_worker_keys;
        for (size_t i = 0; i < n; i++) {
            gw_authkey *k = key_new(list[i], emitter);
            if (!k) return -1;
            k->next = a->keys;
            a->keys = k;
            if (!emitter) a->n_worker_keys++;
        }
    }
    /* A gateway that starts (or restarts) waits a little for the workers
     * it was told to expect: CONNECTs to them wait instead of failing. */
    for (gw_authkey *k = a->keys; k; k = k->next)
        for (size_t i = 0; !k->emitter && i < k->n_nsps; i++)
            if (k->nsps[i][0] == '/') {
                r->h->nsp_expected(r->ud, k->nsps[i]);
                gw_auth_grace_start(r, k->nsps[i]);
            }
    if (a->n_worker_keys)
        log_info("%zu worker key(s) configured: a HELLO without a valid key is refused",
                 a->n_worker_keys);
    return 0;
}

void gw_auth_stop(gw_router *r)
{
    struct gw_auth *a = r->auth;
    if (!a) return;
    ev_timer_stop(r->loop, &a->grace);
    gw_grace *g, *gt;
    HASH_ITER(hh, a->graces, g, gt) {
        HASH_DEL(a->graces, g);
        free(g->nsp);
        free(g);
    }
    while (a->keys) {
        gw_authkey *k = a->keys;
        a->keys = k->next;
        for (size_t i = 0; i < k->n_nsps; i++)
            free(k->nsps[i]);
        free(k->nsps);
        free(k->file);
        free(k);
    }
    free(a);
    r->auth = NULL;
}

void gw_auth_new_spawn_key(gw_child *c)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[GW_KEY_HEX / 2];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        /* No randomness, no key: util.c's policy for ids is the same. */
        log_error("RAND_bytes failed: cannot make a worker key");
        abort();
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        c->key_hex[2 * i] = hex[raw[i] >> 4];
        c->key_hex[2 * i + 1] = hex[raw[i] & 15];
    }
    c->key_hex[GW_KEY_HEX] = '\0';
    memset(raw, 0, sizeof raw);
    digest(c->key_hex, GW_KEY_HEX, c->key_digest);
}

int gw_auth_worker(gw_router *r, const char *nsp, size_t len, const char *key, gw_child **child,
                   const char **why)
{
    struct gw_auth *a = r->auth;
    *child = NULL;
    int spawned_for = 0;
    for (gw_child *c = r->children; c; c = c->next)
        if (strlen(c->nsp) == len && memcmp(c->nsp, nsp, len) == 0 && !c->retiring) spawned_for = 1;
    if (!key) {
        if (spawned_for || gw_sup_pattern_matches(r, nsp, len)) {
            *why = "no key: the gateway spawns this namespace's worker";
            return GW_AUTH_REFUSED;
        }
        if (a && a->n_worker_keys) {
            *why = "no key: worker keys are configured (--worker-key)";
            return GW_AUTH_REFUSED;
        }
        return GW_AUTH_OPEN;
    }
    unsigned char d[GW_KEY_DIGEST];
    digest(key, strlen(key), d);
    /* Every candidate is compared, so the time taken does not tell which
     * kind of key came close. */
    int verdict = GW_AUTH_REFUSED;
    for (gw_child *c = r->children; c; c = c->next)
        if (c->key_hex[0] && !c->retiring && c->pid > 0 && strlen(c->nsp) == len &&
            memcmp(c->nsp, nsp, len) == 0 && same(d, c->key_digest)) {
            *child = c;
            verdict = GW_AUTH_SPAWNED;
        }
    for (gw_authkey *k = a ? a->keys : NULL; k; k = k->next)
        if (!k->emitter && names(k, nsp, len, 1) && same(d, k->digest) && verdict < 0)
            verdict = GW_AUTH_KEY;
    if (verdict < 0) *why = "wrong key for this namespace";
    return verdict;
}

const gw_authkey *gw_auth_emitter(gw_router *r, const char *key, const char **why)
{
    struct gw_auth *a = r->auth;
    if (!key) {
        *why = "an emitter needs a key (--emitter-key)";
        return NULL;
    }
    unsigned char d[GW_KEY_DIGEST];
    digest(key, strlen(key), d);
    const gw_authkey *found = NULL;
    for (gw_authkey *k = a ? a->keys : NULL; k; k = k->next)
        if (k->emitter && same(d, k->digest) && !found) found = k;
    if (!found) *why = "wrong emitter key";
    return found;
}

static void send_err(gw_router *r, gw_worker *w, const char *nsp, size_t len, const char *code,
                     const char *why, const char *type)
{
    char *name = xstrndup(nsp ? nsp : "", nsp ? len : 0);
    json_t *meta = json_pack("{s:s, s:s, s:s}", "code", code, "message", why, "type", type);
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(r, w, IPC_ERROR, name, NULL, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
    free(name);
}

void gw_auth_emitter_msg(gw_router *r, gw_worker *w, const ipc_msg *m)
{
    const char *tname = ipc_type_name(m->type);
    int nl = (int)(m->nsp.len > 200 ? 200 : m->nsp.len);
    if (m->type != IPC_EMIT && m->type != IPC_BROADCAST) {
        log_warn("emitter %s (pid %ld): %s refused: an emitter only sends EMIT and BROADCAST",
                 w->incarnation, w->pid, tname);
        send_err(r, w, m->nsp.data, m->nsp.len, "type", "an emitter only sends EMIT and BROADCAST",
                 tname);
        return;
    }
    if (json_object_get(m->meta, "ack")) { /* EMIT, or BROADCAST (rule 25a): it hears nothing */
        log_warn("emitter %s (pid %ld): %s asking for an ack refused", w->incarnation, w->pid,
                 tname);
        send_err(r, w, m->nsp.data, m->nsp.len, "meta",
                 "an emitter cannot ask for acknowledgements", tname);
        return;
    }
    if (!m->nsp.len || !names(w->ekey, m->nsp.data, m->nsp.len, 1)) {
        log_warn("emitter %s (pid %ld): %s into %.*s refused: its key (%s) does not name that "
                 "namespace",
                 w->incarnation, w->pid, tname, nl, m->nsp.data, w->ekey->file);
        send_err(r, w, m->nsp.data, m->nsp.len, "auth",
                 "namespace not allowed for this emitter key", tname);
        return;
    }
    r->h->on_emitter_msg(r->ud, w, m);
}

int gw_auth_in_grace(gw_router *r, const char *nsp)
{
    gw_grace *g = NULL;
    if (r->auth) HASH_FIND_STR(r->auth->graces, nsp, g);
    return g && g->until > 0 && !gw_router_served(r, nsp) && ev_now(r->loop) < g->until;
}

static void arm(gw_router *r)
{
    struct gw_auth *a = r->auth;
    double now = ev_now(r->loop), next = 0;
    gw_grace *g, *tmp;
    HASH_ITER(hh, a->graces, g, tmp)
        if (g->until > 0 && (next == 0 || g->until < next)) next = g->until;
    ev_timer_stop(r->loop, &a->grace);
    if (next > 0) {
        ev_timer_set(&a->grace, next > now ? next - now + 0.001 : 0.001, 0);
        ev_timer_start(r->loop, &a->grace);
    }
}

void gw_auth_grace_start(gw_router *r, const char *nsp)
{
    struct gw_auth *a = r->auth;
    if (!a || r->shutting_down) return;
    int keyed = 0;
    for (gw_authkey *k = a->keys; k; k = k->next)
        if (!k->emitter && names(k, nsp, strlen(nsp), 0)) keyed = 1;
    if (!keyed) return;
    gw_grace *g;
    HASH_FIND_STR(a->graces, nsp, g);
    if (!g) {
        g = xcalloc(1, sizeof *g);
        g->nsp = xstrdup(nsp);
        HASH_ADD_KEYPTR(hh, a->graces, g->nsp, strlen(g->nsp), g);
    }
    g->until = ev_now(r->loop) + a->grace_s;
    arm(r);
}

/* A grace ended: CONNECTs still waiting for a worker that did not come get
 * "Namespace unavailable" (nsp_unserved), new ones "Invalid namespace". */
static void grace_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_router *r = t->data;
    double now = ev_now(loop);
    gw_grace *g, *tmp;
    HASH_ITER(hh, r->auth->graces, g, tmp) {
        if (g->until <= 0 || now < g->until) continue;
        g->until = 0;
        if (gw_router_served(r, g->nsp) || gw_sup_worker_expected(r, g->nsp)) continue;
        double last_active;
        if (r->h->nsp_in_use(r->ud, g->nsp, &last_active))
            r->h->nsp_unserved(r->ud, g->nsp, "no worker said HELLO within the grace period");
    }
    arm(r);
}
