/* authority.h — who may speak for a namespace (ipc/PROTOCOL.md rules 10a-10f):
 * per-spawn worker keys, operator-configured worker keys (--worker-key),
 * emitter keys (--emitter-key) and the grace a namespace with a configured
 * worker key gets while its worker (re)connects.
 *
 * Trust: a HELLO comes from anyone who can reach the IPC endpoint, spawned
 * workers of other namespaces included.  Keys are compared as SHA-256
 * digests with CRYPTO_memcmp, so neither their content nor their length
 * leaks through timing.  Key files come from the operator and are read once,
 * at start. */
#ifndef IOGATE_AUTHORITY_H
#define IOGATE_AUTHORITY_H

#include <stddef.h>

#include "app.h"

#define GW_KEY_DIGEST 32 /* SHA-256 */
#define GW_KEY_HEX 64    /* a spawn key: 32 random bytes, hex */

typedef struct gw_authkey gw_authkey;

/* Read the key files named by opt.worker_keys / opt.emitter_keys and start
 * the grace of every namespace a worker key names.  0, or -1 (logged). */
int gw_auth_start(gw_app *app);
/* Free what gw_auth_start made; app->auth is NULL afterwards. */
void gw_auth_stop(gw_app *app);

/* A fresh per-spawn key for a child: GW_KEY_HEX hex characters and a NUL
 * into c->key_hex, its digest into c->key_digest. */
void gw_auth_new_spawn_key(gw_child *c);

enum { GW_AUTH_REFUSED = -1, GW_AUTH_OPEN = 0, GW_AUTH_KEY = 1, GW_AUTH_SPAWNED = 2 };
/* Decide a worker HELLO for namespace (nsp, len) presenting `key` (NULL:
 * none).  Returns GW_AUTH_SPAWNED (the key of a child spawned for nsp; *child
 * set), GW_AUTH_KEY (a --worker-key for nsp), GW_AUTH_OPEN (no key needed:
 * no --worker-key at all and nobody is spawned for nsp), or GW_AUTH_REFUSED
 * with *why set to a static string. */
int gw_auth_worker(gw_app *app, const char *nsp, size_t len, const char *key, gw_child **child,
                   const char **why);
/* Decide an emitter HELLO: the --emitter-key entry its key matches, or NULL
 * with *why set. */
const gw_authkey *gw_auth_emitter(gw_app *app, const char *key, const char **why);
/* Handle a message from an emitter connection (rules 10d-10f): EMIT without
 * ack and BROADCAST into a namespace its key allows; anything else gets an
 * ERROR and a log line. */
void gw_auth_emitter_msg(gw_app *app, gw_worker *w, const ipc_msg *m);

/* Whether CONNECTs to nsp should wait: its worker key is configured and
 * the grace started at gateway start or at its worker's loss still runs. */
int gw_auth_in_grace(gw_app *app, const gw_nsp *nsp);
/* nsp lost its worker: start its grace if a worker key names it. */
void gw_auth_grace_start(gw_app *app, gw_nsp *nsp);

/* router.c: whether a --worker pattern matches the namespace. */
int gw_router_pattern_matches(gw_app *app, const char *nsp, size_t len);

#endif
