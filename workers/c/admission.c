/* admission.c — handshake admission in the C worker library (PROTOCOL.md
 * rule 39): a gateway started with `--admission NSP` asks NSP's worker,
 * before any session exists, whether a handshake may go on.  The
 * application answers through iog_on_admission(), now or later. */
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

struct iog_admission {
    iog_gw *g; /* gateways are never freed before the worker */
    json_int_t req;
};

void iog_on_admission(iog_worker *w, iog_admission_fn fn, void *user)
{
    w->admission_fn = fn;
    w->admission_user = user;
}

void iog_admission_answer(iog_admission **ap, bool ok, const char *message)
{
    iog_admission *a = *ap;
    if (!a) return;
    *ap = NULL;
    json_t *meta = json_pack("{s:I, s:b}", "req", a->req, "ok", ok);
    if (!ok && message && *message) {
        json_t *m = json_string(message); /* NULL for invalid UTF-8: no message then */
        if (m) json_object_set_new(meta, "message", m);
    }
    if (iog_send(a->g, IPC_ADMIT, NULL, meta, NULL, 0) != 0)
        iog_log(IOG_LOG_WARN,
                "admission answer not sent (%s): the gateway refuses that handshake "
                "after its timeout",
                iog_strerror());
    json_decref(meta);
    free(a);
}

void iog_admission_handle(iog_gw *g, const ipc_msg *m)
{
    iog_worker *w = g->w;
    json_t *req = json_object_get(m->meta, "req");
    if (!json_is_integer(req)) {
        iog_log(IOG_LOG_WARN, "ADMIT without an integer req ignored");
        return;
    }
    iog_admission *a = iog_xcalloc(1, sizeof *a);
    a->g = g;
    a->req = json_integer_value(req);
    if (!w->admission_fn) { /* not meant for admission: fail closed, say so once */
        if (!w->admission_warned)
            iog_log(IOG_LOG_WARN, "the gateway asks for admission (ADMIT) but no "
                                  "iog_on_admission handler is set: refusing");
        w->admission_warned = 1;
        iog_admission_answer(&a, false, NULL);
        return;
    }
    json_t *hs = json_object_get(m->meta, "handshake");
    json_t *empty = NULL;
    if (!json_is_object(hs)) hs = empty = json_object();
    w->admission_fn(a, hs, w->admission_user);
    json_decref(empty);
}
