/* emitter.c — emit into namespaces from a process that is not their worker
 * (ipc/PROTOCOL.md rules 10d-10f): one DEALER, HELLO with role "emitter" and
 * a key from the gateway's --emitter-key, then EMIT/BROADCAST.  The emitter
 * receives no client packets and never displaces a worker; it cannot ask
 * for acknowledgements.  Synchronous and single-threaded on purpose: the
 * typical caller is a web request handler or a cron job that sends a few
 * notifications and goes. */
#include "iogate_worker.h"
#include "ipc.h"
#include "worker_int.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

struct iog_emitter {
    void *zctx;
    void *zsock;
    char *key;
    char incarnation[33];
    int timeout_ms;
    int heartbeat_ms; /* from WELCOME */
    int64_t last_rx;  /* when the gateway last said anything */
    ipc_frames frames;
    char error[256]; /* the last ERROR the gateway sent, for iog_strerror */
};

/* Read what the gateway sent: answer PINGs, note ERRORs.  Waits up to
 * wait_ms for the first message of type `want` (IPC_TYPE_COUNT: none) and
 * returns 0 once it came; -1 on timeout or when an ERROR came instead. */
static int pump(iog_emitter *e, int want, int wait_ms)
{
    int64_t end = iog_now_ms() + wait_ms;
    for (;;) {
        int64_t left = end - iog_now_ms();
        zmq_pollitem_t it = {e->zsock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, left > 0 ? (long)left : 0);
        if (n <= 0)
            return want == IPC_TYPE_COUNT ? 0 : iog_fail(ETIMEDOUT, "no answer from the gateway");
        if (ipc_recv(e->zsock, &e->frames, ZMQ_DONTWAIT) < 0) continue;
        ipc_msg m;
        const char *code, *why;
        int ok = ipc_decode(e->frames.bufs, e->frames.n, IPC_FROM_GATEWAY, &m, &code, &why) == 0;
        int rc = 1;
        if (ok) e->last_rx = iog_now_ms();
        if (ok && m.type == IPC_WELCOME) {
            json_t *hb = json_object_get(m.meta, "heartbeat_ms");
            if (json_is_integer(hb) && json_integer_value(hb) > 0)
                e->heartbeat_ms = (int)json_integer_value(hb);
        }
        if (ok && m.type == IPC_PING) {
            ipc_send_parts(e->zsock, NULL, IPC_PONG, NULL, NULL, NULL, 0, NULL, 0, NULL, 0,
                           ZMQ_DONTWAIT);
        } else if (ok && m.type == IPC_ERROR) {
            json_t *c = json_object_get(m.meta, "code"), *msg = json_object_get(m.meta, "message");
            snprintf(e->error, sizeof e->error, "gateway refused %s: %s (%s)",
                     json_string_value(json_object_get(m.meta, "type")) ?: "?",
                     json_is_string(msg) ? json_string_value(msg) : "?",
                     json_is_string(c) ? json_string_value(c) : "?");
            iog_log(IOG_LOG_WARN, "emitter: %s", e->error);
            rc = iog_fail(EPERM, e->error);
        } else if (ok && (int)m.type == want) {
            rc = 0;
        }
        if (ok) ipc_msg_clear(&m);
        ipc_frames_reset(&e->frames);
        if (rc <= 0) return rc;
    }
}

static int hello(iog_emitter *e)
{
    json_t *meta = iog_jcheck(json_pack("{s:i,s:s,s:s,s:i,s:s}", "version", IPC_PROTOCOL_VERSION,
                                        "role", "emitter", "incarnation", e->incarnation, "pid",
                                        (int)getpid(), "key", e->key));
    int rc = ipc_send_json(e->zsock, NULL, IPC_HELLO, "", "", meta, NULL, 0, NULL, 0, 0);
    json_decref(meta);
    if (rc < 0) return iog_fail(errno, "cannot send HELLO");
    return pump(e, IPC_WELCOME, e->timeout_ms);
}

iog_emitter *iog_emitter_new(const char *endpoint, const char *key, int timeout_ms)
{
    if (!endpoint) endpoint = getenv("IOGATE_ENDPOINT");
    if (!key) key = getenv("IOGATE_EMITTER_KEY");
    if (!endpoint || !*endpoint) {
        iog_fail(EINVAL, "no gateway endpoint (set IOGATE_ENDPOINT)");
        return NULL;
    }
    if (!key || !*key) {
        iog_fail(EINVAL, "no emitter key (set IOGATE_EMITTER_KEY)");
        return NULL;
    }
    iog_emitter *e = calloc(1, sizeof *e);
    if (!e) {
        iog_fail(ENOMEM, "out of memory");
        return NULL;
    }
    e->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    e->heartbeat_ms = 5000;
    e->last_rx = iog_now_ms();
    e->key = strdup(key);
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) memset(rnd, 0, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(e->incarnation + 2 * i, 3, "%02x", rnd[i]);
    e->zctx = zmq_ctx_new();
    e->zsock = e->zctx ? zmq_socket(e->zctx, ZMQ_DEALER) : NULL;
    /* What was sent still reaches the gateway after destroy, for a while. */
    int linger = e->timeout_ms;
    const char *curve = getenv("IOGATE_CURVE_SERVERKEY");
    if (!e->key || !e->zsock || zmq_setsockopt(e->zsock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        (curve && *curve && ipc_curve_client(e->zsock, curve) < 0) ||
        zmq_connect(e->zsock, endpoint) < 0) {
        iog_fail(errno ? errno : EINVAL, "cannot connect the emitter");
        iog_emitter_destroy(&e);
        return NULL;
    }
    if (hello(e) < 0) {
        /* keep the reason hello() left for iog_strerror */
        char why[256];
        snprintf(why, sizeof why, "%s", iog_strerror());
        int err = errno;
        iog_emitter_destroy(&e);
        iog_fail(err, why);
        return NULL;
    }
    return e;
}

void iog_emitter_destroy(iog_emitter **pe)
{
    iog_emitter *e = pe ? *pe : NULL;
    if (!e) return;
    *pe = NULL;
    if (e->zsock) {
        ipc_send_parts(e->zsock, NULL, IPC_BYE, NULL, NULL, "{\"reason\":\"emitter done\"}", 25,
                       NULL, 0, NULL, 0, ZMQ_DONTWAIT);
        zmq_close(e->zsock);
    }
    ipc_frames_close(&e->frames);
    if (e->zctx) zmq_ctx_term(e->zctx);
    if (e->key) memset(e->key, 0, strlen(e->key));
    free(e->key);
    free(e);
}

/* Send one message; args (consumed) become [event, arg…].  Before, read
 * what the gateway sent meanwhile: an ERROR about an earlier message makes
 * this call fail, and a gateway that forgot us (ERROR hello) is greeted
 * again. */
static int send_one(iog_emitter *e, ipc_type type, const char *nsp, const char *sid, json_t *meta,
                    const char *event, json_t *args)
{
    int rc = -1;
    json_t *data = iog_jcheck(json_array());
    json_array_append_new(data, iog_jcheck(json_string(event)));
    if (args && json_is_array(args))
        json_array_extend(data, args);
    else if (args)
        json_array_append(data, args);
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!event || !nsp || nsp[0] != '/' || !text) {
        iog_fail(EINVAL, "emit needs a namespace starting with '/' and an event name");
        goto out;
    }
    e->error[0] = '\0';
    if (pump(e, IPC_TYPE_COUNT, 0) < 0) {
        if (strstr(e->error, "(hello)") && hello(e) == 0) {
            e->error[0] = '\0';
        } else {
            goto out;
        }
    } else if (iog_now_ms() - e->last_rx > 2 * (int64_t)e->heartbeat_ms && hello(e) < 0) {
        /* idle past its heartbeats, the gateway has forgotten us: it would
         * answer this message with ERROR hello and drop it, so greet first */
        goto out;
    }
    if (ipc_send_json(e->zsock, NULL, type, nsp, sid, meta, text, strlen(text), NULL, 0, 0) < 0) {
        iog_fail(errno, "send to the gateway failed");
        goto out;
    }
    rc = 0;
out:
    free(text);
    json_decref(data);
    json_decref(args);
    json_decref(meta);
    return rc;
}

int iog_emitter_emit(iog_emitter *e, const char *nsp, const char *sid, const char *event,
                     json_t *args)
{
    if (!sid || strlen(sid) != IPC_ID_LEN) {
        json_decref(args);
        return iog_fail(EINVAL, "emit needs a socket id");
    }
    return send_one(e, IPC_EMIT, nsp, sid, NULL, event, args);
}

static json_t *str_list(const char *const *v)
{
    json_t *a = iog_jcheck(json_array());
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, iog_jcheck(json_string(v[i])));
    return a;
}

int iog_emitter_broadcast(iog_emitter *e, const char *nsp, const char *const *rooms,
                          const char *const *except, const char *event, json_t *args)
{
    json_t *meta = iog_jcheck(json_object());
    if (rooms && rooms[0]) json_object_set_new(meta, "rooms", str_list(rooms));
    if (except && except[0]) json_object_set_new(meta, "except", str_list(except));
    return send_one(e, IPC_BROADCAST, nsp, NULL, meta, event, args);
}

int iog_emitter_flush(iog_emitter *e, int wait_ms)
{
    e->error[0] = '\0';
    return pump(e, IPC_TYPE_COUNT, wait_ms);
}
