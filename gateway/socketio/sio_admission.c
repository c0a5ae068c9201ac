/* sio_admission.c — the worker side of handshake admission (PROTOCOL.md
 * rule 39, README "Refusing handshakes"): the question goes to the worker
 * of the --admission namespace as ADMIT, its ADMIT answer goes back to the
 * Engine.IO layer (admission.c), which parks the HTTP request meanwhile.
 *
 * Trust: the answer comes from a worker, untrusted; a malformed one gets
 * ERROR `meta` and the handshake stays parked until its timeout (closed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "app.h"
#include "util.h"

int sio_admission_ask(uint64_t id, const struct eio_handshake *hs, void *ud)
{
    gw_app *app = ud;
    const char *name = app->ecfg.admission;
    gw_nsp *nsp = sio_nsp_get(app, name, strlen(name), 0);
    if (!nsp || !nsp->worker) {
        log_warn("admission: no worker serves %s (--admission): refusing the handshake from %s "
                 "with 503",
                 name, hs->address);
        return -1;
    }
    json_t *h = sio_handshake_json(hs, json_null());
    json_object_del(h, "auth"); /* there is none before a session */
    json_t *meta = json_pack("{s:I, s:o}", "req", (json_int_t)id, "handshake", h);
    char *mt = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    int rc = gw_router_send(app->router, nsp->worker, IPC_ADMIT, nsp->name, NULL, mt, strlen(mt),
                            NULL, 0, NULL, 0);
    free(mt);
    if (rc < 0)
        log_warn("admission: cannot ask the worker of %s (%s): refusing the handshake from %s "
                 "with 503",
                 name, errno == EAGAIN ? "at its high-water mark" : zmq_strerror(errno),
                 hs->address);
    return rc;
}

static void bad_answer(gw_app *app, gw_worker *w, const char *code, const char *why)
{
    log_info("namespace %s: ADMIT from the worker not used: %s (ERROR %s)", w->nsp->name, why,
             code);
    json_t *meta = json_pack("{s:s, s:s, s:s}", "code", code, "message", why, "type", "ADMIT");
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app->router, w, IPC_ERROR, w->nsp->name, NULL, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
}

void sio_admission_reply(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    const char *name = app->ecfg.admission;
    if (!name || strcmp(w->nsp->name, name) != 0) {
        bad_answer(app, w, "state", "this worker is not the --admission worker");
        return;
    }
    json_t *req = json_object_get(m->meta, "req"), *ok = json_object_get(m->meta, "ok");
    json_t *msg = json_object_get(m->meta, "message");
    if (!json_is_integer(req) || json_integer_value(req) < 0 || !json_is_boolean(ok)) {
        bad_answer(app, w, "meta", "ADMIT needs an integer req and a boolean ok");
        return;
    }
    if (msg && !json_is_string(msg) && !json_is_null(msg)) {
        bad_answer(app, w, "meta", "ADMIT message must be a string");
        return;
    }
    uint64_t id = (uint64_t)json_integer_value(req);
    if (eio_admission_answer(app->eio, id, json_is_true(ok), json_string_value(msg)) < 0)
        log_info("admission: answer for request %llu ignored: that handshake no longer waits "
                 "(the client left, or --admission-timeout passed)",
                 (unsigned long long)id);
}
