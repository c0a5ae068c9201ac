/* worker_data.c — sio_worker_data_ok(): the gateway checks a worker's
 * EMIT, BROADCAST and ACK before any client sees them (PROTOCOL.md rule
 * 30a).  A worker is untrusted input: its data frame is copied into the
 * client's packet, so text that is not one JSON array in valid UTF-8 could
 * end the packet early (a polling payload joins packets with 0x1e), smuggle
 * a packet for another namespace on the same connection, or make the
 * official client close the whole connection (bad JSON, a reserved event
 * name, placeholders that do not match the attachments) — every namespace
 * of that client with it.  The check is jscan_check(), one pass, no tree.
 */
#include "app.h"
#include "json_scan.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Ack ids travel as decimal digits in the packet head; the client reads
 * them with Number(), so keep them below 2^53 as sio_decode() does for
 * clients (at most 15 digits). */
#define MAX_ACK_ID 999999999999999LL

static int refuse(gw_app *app, gw_worker *w, const ipc_msg *m, const char *code, const char *why,
                  size_t at)
{
    const char *tn = ipc_type_name(m->type);
    const char *article = m->type == IPC_BROADCAST || m->type == IPC_SERVER_EMIT ? "a" : "an";
    if (strcmp(code, "data") == 0)
        log_warn("namespace %s: worker %s sent %s %s with invalid data, refused: %s (byte %zu of "
                 "%zu, %zu attachment(s))",
                 w->nsp->name, w->incarnation, article, tn, why, at, m->data.len, m->n_att);
    else
        log_warn("namespace %s: worker %s sent %s %s with invalid meta, refused: %s", w->nsp->name,
                 w->incarnation, article, tn, why);
    json_t *meta = json_pack("{s:s, s:s, s:s}", "code", code, "message", why, "type", tn);
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app, w, IPC_ERROR, w->nsp->name, NULL, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
    return 0;
}

static int ack_id_ok(json_t *id)
{
    return json_is_integer(id) && json_integer_value(id) >= 0 &&
           json_integer_value(id) <= MAX_ACK_ID;
}

int sio_worker_data_ok(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    jscan_opts o = {
        .top = JSCAN_EVENT,
        .max_depth = app->limits.max_depth,
        .n_att = m->n_att,
        .max_att = app->limits.max_attachments,
    };
    switch (m->type) {
    case IPC_EMIT: {
        json_t *ack = json_object_get(m->meta, "ack");
        if (ack && !ack_id_ok(ack))
            return refuse(app, w, m, "meta", "ack is not an integer from 0 to 10^15 - 1", 0);
        break;
    }
    case IPC_BROADCAST:
    case IPC_SERVER_EMIT:
        break;
    case IPC_ACK:
        if (!ack_id_ok(json_object_get(m->meta, "id")))
            return refuse(app, w, m, "meta", "id is not an integer from 0 to 10^15 - 1", 0);
        o.top = JSCAN_ARRAY;
        if (m->data.len == 0) return 1; /* sent as [] */
        break;
    default:
        return 1;
    }
    if (m->data.len == 0) return refuse(app, w, m, "data", "no data", 0);
    jscan_result r;
    const char *why = NULL;
    if (jscan_check(m->data.data, m->data.len, &o, &r, &why) < 0)
        return refuse(app, w, m, "data", why, r.err_off);
    return 1;
}
