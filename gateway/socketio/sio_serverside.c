/* sio_serverside.c — SERVER_EMIT (PROTOCOL.md rule 25b): socket.io's
 * io.serverSideEmit(ev, …, (err, responses) => …) between the worker
 * processes of one namespace.
 *
 * The other processes of a namespace behind this gateway are the ones the
 * message would be relayed to.  Today there are none: a namespace has one
 * worker process per gateway (a second HELLO replaces the first), so the
 * gateway relays nothing and, when acks are asked, answers the count 0 at
 * once — what socket.io gives a server that is alone.  The relay (and the
 * answers it collects) comes with worker pools (issue 17), for which the
 * message is shaped; a worker connected to several gateways adds their
 * counts up, so its callback is right on every deployment.
 */
#include "app.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_WORKER_ID 9007199254740991LL /* 2^53 - 1: exact in every library */
#define MAX_TIMEOUT_MS (3600LL * 1000)

void gw_server_emit(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    json_t *ack = json_object_get(m->meta, "ack");
    json_t *to = json_object_get(m->meta, "timeout");
    const char *bad = NULL;
    if (ack && (!json_is_integer(ack) || json_integer_value(ack) < 0 ||
                json_integer_value(ack) > MAX_WORKER_ID))
        bad = "ack is not an integer from 0 to 2^53-1";
    else if (ack && (!json_is_integer(to) || json_integer_value(to) < 1 ||
                     json_integer_value(to) > MAX_TIMEOUT_MS))
        bad = "a SERVER_EMIT asking for acks needs timeout, 1 to 3600000 ms";
    if (bad) {
        log_info("namespace %s: SERVER_EMIT from the worker not relayed: %s (ERROR meta)",
                 w->nsp->name, bad);
        json_t *meta =
            json_pack("{s:s, s:s, s:s}", "code", "meta", "message", bad, "type", "SERVER_EMIT");
        char *mt = json_dumps(meta, JSON_COMPACT);
        gw_router_send(app->router, w, IPC_ERROR, w->nsp->name, NULL, mt, strlen(mt), NULL, 0, NULL,
                       0);
        free(mt);
        json_decref(meta);
        return;
    }
    log_debug("namespace %s: SERVER_EMIT: no other worker process of the namespace here",
              w->nsp->name);
    if (!ack) return;
    char meta[96];
    int ml = snprintf(meta, sizeof meta, "{\"id\":%" PRId64 ",\"count\":0}",
                      (int64_t)json_integer_value(ack));
    gw_router_send(app->router, w, IPC_SERVER_EMIT_ACK, w->nsp->name, NULL, meta, (size_t)ml, NULL,
                   0, NULL, 0);
}
