/* send.c — sending to the gateways: one message to one gateway connection
 * (iog_send, or iog_send_raw with the data frame already serialized) or a BROADCAST to each
 * (iog_send_all), with binary values as attachment frames, the "done" mark of PROTOCOL.md rule 36,
 * and a failed send flagged for worker.c to resynchronise.  Below socket.c, admission.c,
 * broadcast.c and worker.c: it calls none of them. */
#include "worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Send one message whose data frame is already serialized (text, att). */
static int send_text(iog_gw *g, ipc_type t, const char *sid, json_t *meta, const char *text,
                     const iog_atts *att, int vol)
{
    return iog_send_raw(g, t, sid, meta, text, text ? strlen(text) : 0, att->v, att->n, vol);
}

int iog_send_raw(iog_gw *g, ipc_type t, const char *sid, json_t *meta, const char *text,
                 size_t text_len, const ipc_buf *att, size_t n_att, int vol)
{
    iog_worker *w = g->w;
    if (!g->welcomed && t != IPC_PING && t != IPC_PONG) /* nothing to route it to */
        return iog_fail(ENOTCONN, "not connected to the gateway");
    /* PING / PONG name no namespace (PROTOCOL.md rule 14). */
    const char *nsp = t == IPC_PING || t == IPC_PONG ? "" : w->nsp;
    /* Rule 36: the first message sent while handling packet N of this
     * gateway says so ("done"), so a crash right after it cannot replay N.
     * Numbers are per connection: each gateway hears its own. */
    json_t *own = NULL;
    int piggyback = g->seq_done != g->seq_reported && t != IPC_PING && t != IPC_PONG &&
                    t != IPC_HELLO && t != IPC_PROCESSED;
    if (piggyback) {
        own = iog_jcheck(meta ? json_copy(meta) : json_object());
        json_object_set_new(own, "done", json_integer(g->seq_done));
        meta = own;
    }
    int rc = ipc_send_json(g->zsock, NULL, t, nsp, sid ? sid : "", meta, text, text_len, att, n_att,
                           vol ? ZMQ_DONTWAIT : 0);
    int err = errno;
    json_decref(own);
    if (rc == 0) {
        if (piggyback) g->seq_reported = g->seq_done;
        return 0;
    }
    if (vol && err == EAGAIN) {
        iog_log(IOG_LOG_DEBUG, "volatile %s to %s dropped", ipc_type_name(t), w->nsp);
        return iog_fail(EAGAIN, "volatile message dropped (gateway busy)");
    }
    iog_log(IOG_LOG_WARN, "send %s on %s to %s failed: %s", ipc_type_name(t), w->nsp, g->endpoint,
            zmq_strerror(err));
    /* Blocked a whole heartbeat (ZMQ_SNDTIMEO) or worse: the message is
     * lost, so this gateway's view and ours differ.  Start over with it. */
    g->send_failed = 1;
    return iog_fail(err, "send to the gateway failed");
}

/* data (borrowed) serialized for the wire: binary values become attachments
 * (views into data).  NULL data is no data frame.  -1 if not encodable. */
static int wire(iog_worker *w, ipc_type t, json_t *data, char **text, iog_atts *att)
{
    *text = NULL;
    memset(att, 0, sizeof *att);
    if (!data) return 0;
    *text = iog_dump_wire(data, att);
    if (*text) return 0;
    free(att->v);
    att->v = NULL;
    iog_log(IOG_LOG_ERROR, "%s %s: arguments cannot be encoded as JSON", ipc_type_name(t), w->nsp);
    return iog_fail(EINVAL, "arguments cannot be encoded as JSON");
}

/* Send one message about `sid` (NULL = none) to gateway g.  meta and data
 * are borrowed; data is the array of the data frame (binary values become
 * attachments).  Volatile messages never block and are dropped at the
 * high-water mark; others may block up to ZMQ_SNDTIMEO (PROTOCOL.md rule
 * 32). */
int iog_send(iog_gw *g, ipc_type t, const char *sid, json_t *meta, json_t *data, int vol)
{
    if (!g->welcomed && t != IPC_PING && t != IPC_PONG) /* before encoding anything */
        return iog_fail(ENOTCONN, "not connected to the gateway");
    char *text;
    iog_atts att;
    if (wire(g->w, t, data, &text, &att) != 0) return -1;
    int rc = send_text(g, t, sid, meta, text, &att, vol);
    free(text);
    free(att.v);
    return rc;
}

int iog_send_all(iog_worker *w, ipc_type t, json_t *meta, json_t *data, int vol)
{
    size_t up = 0;
    for (size_t i = 0; i < w->n_gws; i++)
        up += w->gws[i]->welcomed != 0;
    if (!up) return iog_fail(ENOTCONN, "not connected to the gateway");
    char *text;
    iog_atts att;
    if (wire(w, t, data, &text, &att) != 0) return -1; /* encoded once for all */
    int rc = 0, err = 0;
    const char *why = NULL;
    for (size_t i = 0; i < w->n_gws; i++) {
        if (!w->gws[i]->welcomed) continue; /* its sockets are gone with it */
        if (send_text(w->gws[i], t, NULL, meta, text, &att, vol) != 0) {
            rc = -1;
            err = errno;
            why = iog_strerror();
        }
    }
    free(text);
    free(att.v);
    return rc ? iog_fail(err, why) : 0;
}
