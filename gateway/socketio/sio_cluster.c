/* sio_cluster.c — the Socket.IO meaning of the Redis adapter's messages
 * (ipc/REDIS.md) for a gateway started with --redis: a worker's BROADCAST
 * is published for the other nodes, and what they publish — broadcasts,
 * socketsJoin/Leave, disconnectSockets, fetchSockets, allRooms — is applied
 * to this node's sockets and answered.  cluster/ carries the bytes.
 *
 * Messages from Redis are untrusted input like a worker's: anything
 * malformed is logged and ignored, never half applied. */
#include "app.h"
#include "cl_codec.h"
#include "cluster.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

enum { R_BCAST, R_REQ, R_RESP, R_SHARD, R_SRESP };

/* classic request types (RequestType in redis-adapter 8.3) */
enum {
    RQ_SOCKETS,
    RQ_ALL_ROOMS,
    RQ_JOIN,
    RQ_LEAVE,
    RQ_DISCONNECT,
    RQ_FETCH,
    RQ_SSE,
    RQ_BROADCAST,
    RQ_CLIENT_COUNT,
    RQ_ACK
};
/* sharded message types (MessageType in socket.io-adapter 2.5) */
enum {
    MT_BROADCAST = 3,
    MT_JOIN,
    MT_LEAVE,
    MT_DISCONNECT,
    MT_FETCH,
    MT_FETCH_RESP,
    MT_SSE,
    MT_SSE_RESP,
    MT_CLIENT_COUNT,
    MT_ACK
};

static char *chan(const cl_node *n, const char *mid, const char *nsp, const char *tail)
{
    size_t len = strlen(cl_key(n)) + strlen(mid) + strlen(nsp) + strlen(tail) + 4;
    char *c = xmalloc(len);
    snprintf(c, len, "%s%s#%s#%s", cl_key(n), mid, nsp, tail);
    return c;
}

void sio_cluster_nsp(gw_app *app, gw_nsp *nsp)
{
    cl_node *n = app->cluster;
    if (!n) return;
    char *c;
    if (cl_sharded(n)) {
        c = chan(n, "", nsp->name, "");
        cl_subscribe(n, CL_SSUB, c, nsp->name, R_SHARD);
        free(c);
        char tail[40];
        snprintf(tail, sizeof tail, "%s#", cl_uid(n));
        c = chan(n, "", nsp->name, tail);
        cl_subscribe(n, CL_SSUB, c, nsp->name, R_SRESP);
        free(c);
        return;
    }
    c = chan(n, "", nsp->name, "*");
    cl_subscribe(n, CL_PSUB, c, nsp->name, R_BCAST);
    free(c);
    c = chan(n, "-request", nsp->name, "");
    cl_subscribe(n, CL_SUB, c, nsp->name, R_REQ);
    free(c);
    c = chan(n, "-response", nsp->name, "");
    cl_subscribe(n, CL_SUB, c, nsp->name, R_RESP);
    free(c);
}

/* Sharded "dynamic" mode: a broadcast to one public room (not a socket's
 * own) travels on that room's channel, so a node listens to the rooms it
 * has. */
void sio_cluster_room(gw_app *app, gw_nsp *nsp, const char *room, int created)
{
    cl_node *n = app ? app->cluster : NULL; /* unit tests build rooms without an app */
    if (!n || !cl_sharded(n) || strlen(room) == IPC_ID_LEN) return;
    size_t tl = strlen(room) + 2;
    char *tail = xmalloc(tl);
    snprintf(tail, tl, "%s#", room);
    char *c = chan(n, "", nsp->name, tail);
    if (created)
        cl_subscribe(n, CL_SSUB, c, nsp->name, R_SHARD);
    else
        cl_unsubscribe(n, CL_SSUB, c);
    free(c);
    free(tail);
}

/* ---- this node's broadcasts, out ----------------------------------------- */

static json_t *str_array(json_t *a)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    if (json_is_array(a))
        json_array_foreach(a, i, v)
            if (json_is_string(v)) json_array_append(out, v);
    return out;
}

void sio_cluster_broadcast(gw_app *app, gw_nsp *nsp, const ipc_msg *m)
{
    cl_node *n = app->cluster;
    if (!n || json_is_true(json_object_get(m->meta, "local"))) return;
    json_t *data = json_loadb(m->data.data, m->data.len, 0, NULL);
    if (!data) return; /* checked by sio_worker_data_ok() already */
    json_t *ids = json_object_get(m->meta, "sockets");
    json_t *rooms = str_array(json_is_array(ids) ? ids : json_object_get(m->meta, "rooms"));
    json_t *except = str_array(json_is_array(ids) ? NULL : json_object_get(m->meta, "except"));
    json_t *flags = json_object();
    if (json_is_true(json_object_get(m->meta, "volatile")))
        json_object_set_new(flags, "volatile", json_true());
    json_t *packet = json_pack("{s:i, s:o, s:s}", "type", 2, "data", data, "nsp", nsp->name);
    json_t *opts = json_pack("{s:o, s:o, s:o}", "rooms", rooms, "except", except, "flags", flags);
    const char *one =
        json_array_size(rooms) == 1 ? json_string_value(json_array_get(rooms, 0)) : NULL;
    char *c, *body = NULL;
    size_t len = 0;
    char tail[512] = "";
    if (cl_sharded(n)) {
        json_t *msg = json_pack("{s:i, s:{s:O, s:O}, s:s, s:s}", "type", MT_BROADCAST, "data",
                                "packet", packet, "opts", opts, "uid", cl_uid(n), "nsp", nsp->name);
        /* JSON unless there is binary, as the sharded adapter encodes */
        body =
            m->n_att ? clc_to_msgpack(msg, m->att, m->n_att, &len) : json_dumps(msg, JSON_COMPACT);
        if (body && !m->n_att) len = strlen(body);
        json_decref(msg);
        if (one && strlen(one) != IPC_ID_LEN) snprintf(tail, sizeof tail, "%s#", one);
    } else {
        json_t *msg = json_pack("[s, O, O]", cl_uid(n), packet, opts);
        body = clc_to_msgpack(msg, m->att, m->n_att, &len);
        json_decref(msg);
        if (one) snprintf(tail, sizeof tail, "%s#", one);
    }
    json_decref(packet);
    json_decref(opts);
    if (!body) {
        log_warn("namespace %s: broadcast not published to the cluster: cannot encode it (nested "
                 "over %d)",
                 nsp->name, CLC_MAX_DEPTH);
        return;
    }
    c = chan(n, "", nsp->name, tail);
    cl_publish(n, c, body, len);
    free(c);
    free(body);
}

/* ---- other nodes' messages, in ------------------------------------------- */

typedef struct {
    gw_app *app;
    json_t *list;
    json_t *rooms;
    int close, join, fetch;
} visit_ctx;

static json_t *socket_rooms(sio_socket *s)
{
    json_t *rooms = json_array();
    for (gw_member *m = s->rooms; m; m = m->snext)
        json_array_append_new(rooms, json_string(m->room->name));
    return rooms;
}

static void collect(sio_socket *s, void *ud)
{
    visit_ctx *v = ud;
    if (!v->fetch) {
        json_array_append_new(v->list, json_string(s->id));
        return;
    }
    /* A RemoteSocket: no `data` — it lives in the worker (ipc/REDIS.md). */
    json_t *auth = json_object(); /* the CONNECT's auth is not kept once connected */
    json_t *hs = sio_handshake_json(eio_session_handshake(s->client->session), auth);
    json_decref(auth);
    json_array_append_new(v->list, json_pack("{s:s, s:o, s:o}", "id", s->id, "handshake",
                                             hs ? hs : json_object(), "rooms", socket_rooms(s)));
}

static void join_one(sio_socket *s, void *ud)
{
    visit_ctx *v = ud;
    size_t i;
    json_t *r;
    json_array_foreach(v->rooms, i, r) {
        if (!json_is_string(r)) continue;
        if (v->join)
            gw_room_join(v->app, s, json_string_value(r), json_string_length(r));
        else
            gw_room_leave(v->app, s, json_string_value(r), json_string_length(r));
    }
}

/* Selected sockets are gathered first: disconnecting one while the room
 * lists are being walked would free what the walk stands on. */
static void gather(sio_socket *s, void *ud)
{
    json_array_append_new(((visit_ctx *)ud)->list, json_string(s->id));
}

static void kick_list(gw_app *app, gw_nsp *nsp, json_t *ids, int close)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        sio_socket *s;
        HASH_FIND(hh, app->sockets, json_string_value(v), IPC_ID_LEN, s);
        if (s && s->nsp == nsp && s->state == SOCK_CONNECTED && !s->client->closing)
            sio_socket_kick(app, s, close);
    }
}

static size_t select_opts(gw_app *app, gw_nsp *nsp, json_t *opts, void (*fn)(sio_socket *, void *),
                          void *ud);

/* socketsJoin/socketsLeave: gathered first too, since joining or leaving
 * adds and frees rooms of the walk. */
static void rooms_change(gw_app *app, gw_nsp *nsp, json_t *opts, json_t *rooms, int join)
{
    if (!json_is_array(rooms)) return;
    visit_ctx v = {app, json_array(), rooms, 0, join, 0};
    select_opts(app, nsp, opts, gather, &v);
    size_t i;
    json_t *id;
    json_array_foreach(v.list, i, id) {
        sio_socket *s;
        HASH_FIND(hh, app->sockets, json_string_value(id), IPC_ID_LEN, s);
        if (s && s->nsp == nsp && s->state == SOCK_CONNECTED) join_one(s, &v);
    }
    json_decref(v.list);
}

static size_t select_opts(gw_app *app, gw_nsp *nsp, json_t *opts, void (*fn)(sio_socket *, void *),
                          void *ud)
{
    return gw_rooms_select(app, nsp, json_object_get(opts, "rooms"),
                           json_object_get(opts, "except"), fn, ud);
}

/* Deliver a packet {type, data, nsp} from another node to this node's
 * sockets chosen by opts.  -1 (logged) when it is not an event. */
static int deliver(gw_app *app, gw_nsp *nsp, json_t *packet, json_t *opts, clc_atts *atts,
                   const char *from)
{
    json_t *type = json_object_get(packet, "type");
    json_t *data = json_object_get(packet, "data");
    if (!json_is_integer(type) ||
        (json_integer_value(type) != 2 && json_integer_value(type) != 5) || !json_is_array(data) ||
        !json_is_string(json_array_get(data, 0))) {
        log_warn("namespace %s: broadcast from node %s ignored: not an event with a name",
                 nsp->name, from);
        return -1;
    }
    char *text = json_dumps(data, JSON_COMPACT);
    if (!text) return -1;
    ipc_buf att[CLC_MAX_ATT];
    for (size_t i = 0; i < atts->n; i++)
        att[i] = (ipc_buf){atts->data[i], atts->len[i]};
    sio_broadcast_local(app, nsp, text, strlen(text), att, atts->n, json_object_get(opts, "rooms"),
                        json_object_get(opts, "except"));
    free(text);
    return 0;
}

static void publish_json(gw_app *app, const char *channel, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (s) cl_publish(app->cluster, channel, s, strlen(s));
    free(s);
    json_decref(msg);
}

static json_t *all_rooms(gw_nsp *nsp)
{
    json_t *a = json_array();
    for (gw_room *r = nsp->rooms; r; r = r->hh.next)
        json_array_append_new(a, json_string(r->name));
    return a;
}

static void once_log(gw_nsp *nsp, const char *what, const char *from)
{
    /* Not rate-limited per message on purpose: each one is an answer that
     * the asking node will not get (or not in full). */
    log_warn("namespace %s: %s from node %s: not supported by this gateway yet, answered in part "
             "or not at all (see ipc/REDIS.md)",
             nsp->name, what, from);
}

static void on_classic_request(gw_app *app, gw_nsp *nsp, json_t *req, clc_atts *atts)
{
    cl_node *n = app->cluster;
    json_t *type = json_object_get(req, "type");
    json_t *rid = json_object_get(req, "requestId");
    const char *from = json_string_value(json_object_get(req, "uid"));
    if (!from) from = "?";
    if (!json_is_integer(type)) return;
    char *resp = chan(n, "-response", nsp->name, "");
    visit_ctx v = {app, NULL, NULL, 0, 0, 0};
    json_t *opts = json_object_get(req, "opts");
    switch (json_integer_value(type)) {
    case RQ_SOCKETS:
        v.list = json_array();
        gw_rooms_select(app, nsp, json_object_get(req, "rooms"), NULL, collect, &v);
        publish_json(app, resp, json_pack("{s:O, s:o}", "requestId", rid, "sockets", v.list));
        break;
    case RQ_ALL_ROOMS:
        publish_json(app, resp, json_pack("{s:O, s:o}", "requestId", rid, "rooms", all_rooms(nsp)));
        break;
    case RQ_JOIN:
    case RQ_LEAVE:
        v.join = json_integer_value(type) == RQ_JOIN;
        if (json_is_object(opts)) {
            rooms_change(app, nsp, opts, json_object_get(req, "rooms"), v.join);
        } else {
            json_t *sid = json_object_get(req, "sid"), *room = json_object_get(req, "room");
            sio_socket *s = NULL;
            if (json_is_string(sid) && json_string_length(sid) == IPC_ID_LEN)
                HASH_FIND(hh, app->sockets, json_string_value(sid), IPC_ID_LEN, s);
            if (!s || s->nsp != nsp || !json_is_string(room)) break;
            v.rooms = json_pack("[O]", room);
            join_one(s, &v);
            json_decref(v.rooms);
            publish_json(app, resp, json_pack("{s:O}", "requestId", rid));
        }
        break;
    case RQ_DISCONNECT:
        v.list = json_array();
        if (json_is_object(opts)) {
            select_opts(app, nsp, opts, gather, &v);
            kick_list(app, nsp, v.list, json_is_true(json_object_get(req, "close")));
        } else {
            json_t *sid = json_object_get(req, "sid");
            if (json_is_string(sid) && json_string_length(sid) == IPC_ID_LEN) {
                json_array_append(v.list, sid);
                size_t before = nsp->n_sockets;
                kick_list(app, nsp, v.list, json_is_true(json_object_get(req, "close")));
                if (nsp->n_sockets != before)
                    publish_json(app, resp, json_pack("{s:O}", "requestId", rid));
            }
        }
        json_decref(v.list);
        break;
    case RQ_FETCH:
        v.list = json_array();
        v.fetch = 1;
        if (json_is_object(opts)) select_opts(app, nsp, opts, collect, &v);
        publish_json(app, resp, json_pack("{s:O, s:o}", "requestId", rid, "sockets", v.list));
        break;
    case RQ_BROADCAST: {
        /* Delivered, but this gateway does not collect client acks for
         * another node yet: it says so with a client count of 0. */
        if (deliver(app, nsp, json_object_get(req, "packet"), opts, atts, from) == 0) {
            publish_json(app, resp,
                         json_pack("{s:i, s:O, s:i}", "type", RQ_CLIENT_COUNT, "requestId", rid,
                                   "clientCount", 0));
            once_log(nsp, "broadcast with acks (delivered without ack ids, count 0)", from);
        }
        break;
    }
    case RQ_SSE:
        once_log(nsp, "serverSideEmit", from);
        break;
    default:
        break;
    }
    free(resp);
}

static void on_sharded(gw_app *app, gw_nsp *nsp, json_t *msg, clc_atts *atts)
{
    cl_node *n = app->cluster;
    json_t *type = json_object_get(msg, "type"), *data = json_object_get(msg, "data");
    const char *from = json_string_value(json_object_get(msg, "uid"));
    const char *mnsp = json_string_value(json_object_get(msg, "nsp"));
    if (!from || !strcmp(from, cl_uid(n)) || !mnsp || strcmp(mnsp, nsp->name) ||
        !json_is_integer(type) || !json_is_object(data))
        return; /* our own, another namespace's, or not a message */
    json_t *opts = json_object_get(data, "opts");
    json_t *rid = json_object_get(data, "requestId");
    char tail[64];
    snprintf(tail, sizeof tail, "%.40s#", from);
    char *resp = chan(n, "", nsp->name, tail);
    visit_ctx v = {app, NULL, NULL, 0, 0, 0};
    switch (json_integer_value(type)) {
    case MT_BROADCAST:
        if (deliver(app, nsp, json_object_get(data, "packet"), opts, atts, from) == 0 && rid) {
            publish_json(app, resp,
                         json_pack("{s:i, s:{s:O, s:i}, s:s, s:s}", "type", MT_CLIENT_COUNT, "data",
                                   "requestId", rid, "clientCount", 0, "uid", cl_uid(n), "nsp",
                                   nsp->name));
            once_log(nsp, "broadcast with acks (delivered without ack ids, count 0)", from);
        }
        break;
    case MT_JOIN:
    case MT_LEAVE:
        rooms_change(app, nsp, opts, json_object_get(data, "rooms"),
                     json_integer_value(type) == MT_JOIN);
        break;
    case MT_DISCONNECT:
        v.list = json_array();
        select_opts(app, nsp, opts, gather, &v);
        kick_list(app, nsp, v.list, json_is_true(json_object_get(data, "close")));
        json_decref(v.list);
        break;
    case MT_FETCH:
        v.list = json_array();
        v.fetch = 1;
        select_opts(app, nsp, opts, collect, &v);
        publish_json(app, resp,
                     json_pack("{s:i, s:{s:O, s:o}, s:s, s:s}", "type", MT_FETCH_RESP, "data",
                               "requestId", rid ? rid : json_null(), "sockets", v.list, "uid",
                               cl_uid(n), "nsp", nsp->name));
        break;
    case MT_SSE:
        once_log(nsp, "serverSideEmit", from);
        break;
    default:
        break;
    }
    free(resp);
}

static void on_message(void *ud, int role, const char *nspname, const char *channel,
                       const char *data, size_t len)
{
    gw_app *app = ud;
    gw_nsp *nsp = sio_nsp_get(app, nspname, strlen(nspname), 0);
    if (!nsp || role == R_RESP || role == R_SRESP) return; /* this node asks nothing (yet) */
    clc_atts atts = {0};
    char err[128];
    json_t *j = len && data[0] == '{' ? json_loadb(data, len, 0, NULL)
                                      : clc_from_msgpack(data, len, &atts, err, sizeof err);
    if (!j) {
        log_warn("namespace %s: malformed message on %s ignored (%zu bytes)", nsp->name, channel,
                 len);
        return;
    }
    if (role == R_BCAST) {
        /* [uid, packet, {rooms, except, flags}] */
        const char *from = json_string_value(json_array_get(j, 0));
        json_t *packet = json_array_get(j, 1), *opts = json_array_get(j, 2);
        json_t *pn = json_object_get(packet, "nsp");
        if (!from || !json_is_object(packet) || !json_is_object(opts)) {
            log_warn("namespace %s: malformed broadcast on %s ignored", nsp->name, channel);
        } else if (strcmp(from, cl_uid(app->cluster)) &&
                   !strcmp(json_is_string(pn) ? json_string_value(pn) : "/", nsp->name)) {
            deliver(app, nsp, packet, opts, &atts, from);
        }
    } else if (role == R_REQ) {
        on_classic_request(app, nsp, j, &atts);
    } else if (role == R_SHARD) {
        on_sharded(app, nsp, j, &atts);
    }
    json_decref(j);
    clc_atts_free(&atts);
}

int sio_cluster_start(gw_app *app)
{
    if (!app->opt.redis_url) return 0;
    cl_options o = {app->opt.redis_url, app->opt.redis_key, app->opt.redis_sharded,
                    app->opt.redis_queue};
    static const cl_handler h = {on_message};
    app->cluster = cl_node_new(app->loop, &o, &h, app);
    if (!app->cluster) return -1;
    for (gw_nsp *nsp = app->nsps; nsp; nsp = nsp->hh.next)
        sio_cluster_nsp(app, nsp);
    return 0;
}

void sio_cluster_stop(gw_app *app)
{
    cl_node_destroy(&app->cluster);
}
