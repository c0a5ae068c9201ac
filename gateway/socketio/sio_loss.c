/* sio_loss.c — what the gateway owes others after it disconnected a socket
 * on its own (PROTOCOL.md rules 37 and 38).
 *
 * Ghosts.  A socket that goes while its namespace's worker restarts (its
 * hold overflowed, its poison packet was quarantined, or its client left)
 * was known to the worker that died; the application state that worker kept
 * (a user "online", a seat taken) only goes away when some worker raises
 * `disconnect` for it.  So the next worker gets it back like every kept
 * socket — a recovered CONNECT with the socket's handshake and rooms — and,
 * as soon as it has ACCEPTed it, the DISCONNECT with the reason (and the
 * cause, when the gateway dropped it).
 * A ghost lives from the drop until that answer, a REFUSE, or the moment no
 * worker is expected any more (logged).
 *
 * Tombstones.  After the gateway sent `41<nsp>,` the client may still have
 * packets for that namespace on the wire.  The reference server closes the
 * whole connection for them (client.js: "invalid state"); here a client
 * remembers the namespaces the gateway disconnected until it CONNECTs them
 * again, and such packets are ignored (debug log), so that the client's
 * other namespaces are not closed for a race the gateway started.
 */
#include "app.h"
#include "util.h"

#include <string.h>

struct gw_ghost {
    char id[IPC_ID_LEN + 1];
    gw_nsp *nsp; /* namespaces live as long as the app */
    char *connect_meta;
    char *reason; /* of the DISCONNECT (rule 19) */
    char *cause;  /* NULL: the client's doing */
    int sent;     /* the current worker has its CONNECT: waiting for the answer */
    UT_hash_handle hh;
};

static void ghost_free(gw_app *app, gw_ghost **pg)
{
    gw_ghost *g = *pg;
    HASH_DEL(app->ghosts, g);
    free(g->connect_meta);
    free(g->reason);
    free(g->cause);
    free(g);
    *pg = NULL;
}

static int ghost_send(gw_app *app, gw_ghost *g)
{
    if (!g->nsp->worker) return -1;
    if (gw_router_send(app->router, g->nsp->worker, IPC_CONNECT, g->nsp->name, g->id,
                       g->connect_meta, strlen(g->connect_meta), NULL, 0, NULL, 0) < 0)
        return -1;
    g->sent = 1;
    return 0;
}

void gw_ghost_add(gw_app *app, gw_nsp *nsp, const char *sid, const char *connect_meta,
                  const char *reason, const char *cause, int sent)
{
    gw_ghost *g;
    HASH_FIND(hh, app->ghosts, sid, IPC_ID_LEN, g);
    if (g) ghost_free(app, &g); /* cannot happen: ids are unique */
    g = xcalloc(1, sizeof *g);
    memcpy(g->id, sid, IPC_ID_LEN);
    g->nsp = nsp;
    g->connect_meta = xstrdup(connect_meta);
    g->reason = xstrdup(reason);
    g->cause = cause ? xstrdup(cause) : NULL;
    g->sent = sent;
    HASH_ADD(hh, app->ghosts, id, IPC_ID_LEN, g);
}

void gw_ghosts_send(gw_app *app, gw_nsp *nsp)
{
    gw_ghost *g, *tmp;
    HASH_ITER(hh, app->ghosts, g, tmp) {
        if (g->nsp != nsp || g->sent) continue;
        if (ghost_send(app, g) < 0)
            log_warn("namespace %s: could not give disconnected socket %s back to the worker; "
                     "it will try again with the next one",
                     nsp->name, g->id);
    }
}

void gw_ghost_answer(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    gw_ghost *g;
    if (m->sid.len != IPC_ID_LEN) return;
    HASH_FIND(hh, app->ghosts, m->sid.data, IPC_ID_LEN, g);
    if (!g || g->nsp != w->nsp || !g->sent) return;
    if (m->type == IPC_ACCEPT) {
        json_t *meta = json_pack("{s:s, s:s*}", "reason", g->reason, "cause", g->cause);
        char *mt = json_dumps(meta, JSON_COMPACT);
        json_decref(meta);
        int rc = gw_router_send(app->router, w, IPC_DISCONNECT, g->nsp->name, g->id, mt, strlen(mt),
                                NULL, 0, NULL, 0);
        free(mt);
        if (rc < 0) {
            /* At its high-water mark, or gone (then the next one is told). */
            log_warn("namespace %s: could not tell the worker that socket %s is gone", g->nsp->name,
                     g->id);
            g->sent = 0;
            return;
        }
        log_info("namespace %s: worker told that socket %s was disconnected (%s)", g->nsp->name,
                 g->id, g->cause ? g->cause : g->reason);
        ghost_free(app, &g);
    } else if (m->type == IPC_REFUSE || m->type == IPC_DISCONNECT) {
        ghost_free(app, &g); /* the worker let it go itself */
    }
}

void gw_ghosts_worker_gone(gw_app *app, gw_nsp *nsp, int expected)
{
    size_t n = 0;
    gw_ghost *g, *tmp;
    HASH_ITER(hh, app->ghosts, g, tmp) {
        if (g->nsp != nsp) continue;
        if (expected) {
            g->sent = 0;
        } else {
            ghost_free(app, &g);
            n++;
        }
    }
    if (n)
        log_warn("namespace %s: no worker will be told of %zu socket(s) the gateway disconnected "
                 "while it restarted",
                 nsp->name, n);
}

void gw_ghosts_free_all(gw_app *app)
{
    gw_ghost *g, *tmp;
    HASH_ITER(hh, app->ghosts, g, tmp)
        ghost_free(app, &g);
}

size_t gw_ghost_count(gw_app *app, const gw_nsp *nsp)
{
    size_t n = 0;
    gw_ghost *g, *tmp;
    HASH_ITER(hh, app->ghosts, g, tmp)
        if (!nsp || g->nsp == nsp) n++;
    return n;
}

/* ---- tombstones ----------------------------------------------------------- */

static int tomb_find(const sio_client *c, const char *nsp, size_t len)
{
    unsigned n = c->n_tomb < SIO_TOMBS ? c->n_tomb : SIO_TOMBS;
    for (unsigned i = 0; i < n; i++) {
        const gw_nsp *t = c->tomb[i];
        if (t && strlen(t->name) == len && memcmp(t->name, nsp, len) == 0) return (int)i;
    }
    return -1;
}

void sio_tomb_add(sio_client *c, gw_nsp *nsp)
{
    if (tomb_find(c, nsp->name, strlen(nsp->name)) >= 0) return;
    c->tomb[c->n_tomb++ % SIO_TOMBS] = nsp;
}

int sio_tomb_has(const sio_client *c, const char *nsp, size_t len)
{
    return tomb_find(c, nsp, len) >= 0;
}

void sio_tomb_clear(sio_client *c, const char *nsp, size_t len)
{
    int i = tomb_find(c, nsp, len);
    if (i >= 0) c->tomb[i] = NULL;
}

int gw_nsp_holds_sockets(gw_app *app, const char *name)
{
    gw_nsp *nsp = sio_nsp_get(app, name, strlen(name), 0);
    if (!nsp) return 0;
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp)
        if (s->nsp == nsp && (s->state == SOCK_ORPHANED || s->state == SOCK_UNSENT)) return 1;
    return 0;
}
