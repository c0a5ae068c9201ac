/* sio_worker.c — what a namespace's worker sends its clients (PROTOCOL.md
 * §3): EMIT, ACK, BROADCAST, JOIN/LEAVE, DISCONNECT, QUERY and the ACCEPT or
 * REFUSE of a CONNECT; and a worker's arrival and loss as its sockets see
 * them.  router.c hands each checked message here (sio_handle_worker_msg).
 */
#include "app.h"
#include "metrics.h"
#include "supervisor.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <utlist.h>

typedef struct {
    eio_msg **msgs;
    size_t n;
    gw_app *app;
    uint64_t off; /* 0: no offset (recovery off) */
} bcast_ctx;

static void bcast_one(sio_socket *s, void *ud)
{
    bcast_ctx *b = ud;
    if (!s->client->closing)
        GW_COUNT(deliveries), GW_NSP_M(s->nsp)->packets_out++,
            sio_send_msgs(s->client, b->msgs, b->n);
    if (b->off) sio_rec_log(b->app, s, b->off, b->msgs, b->n);
}

static void reply_sockets(gw_app *app, gw_worker *w, gw_nsp *nsp, json_t *req)
{
    json_t *list = json_array();
    for (sio_socket *s = nsp->sockets; s; s = s->nnext) {
        json_t *rooms = json_array();
        for (gw_member *m = s->rooms; m; m = m->snext)
            json_array_append_new(rooms, json_string(m->room->name));
        json_array_append_new(list,
                              json_pack("{s:s, s:o, s:s}", "id", s->id, "rooms", rooms, "transport",
                                        eio_session_transport_name(s->client->session)));
    }
    json_t *meta = json_pack("{s:O, s:o}", "req", req ? req : json_null(), "sockets", list);
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app->router, w, IPC_REPLY, nsp->name, NULL, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
}

static void join_rooms(gw_app *app, sio_socket *s, json_t *rooms, int join)
{
    size_t i;
    json_t *v;
    if (!json_is_array(rooms)) return;
    json_array_foreach(rooms, i, v) {
        if (!json_is_string(v)) continue;
        if (join)
            gw_room_join(app, s, json_string_value(v), json_string_length(v));
        else
            gw_room_leave(app, s, json_string_value(v), json_string_length(v));
    }
}

/* Call fn once for each connected socket of nsp named in ids (rule 25's
 * bounded list); unknown, gone and repeated ids are skipped. */
static void select_listed(gw_app *app, gw_nsp *nsp, json_t *ids,
                          void (*fn)(sio_socket *s, void *ud), void *ud)
{
    uint64_t epoch = ++app->epoch; /* a socket listed twice gets it once */
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        if (!json_is_string(v) || json_string_length(v) != IPC_ID_LEN) continue;
        sio_socket *s;
        HASH_FIND(hh, app->sockets, json_string_value(v), IPC_ID_LEN, s);
        if (!s || s->nsp != nsp || !sio_accepted(s) || s->mark == epoch) continue;
        s->mark = epoch;
        fn(s, ud);
    }
}

/* A worker's BROADCAST: encoded once, then handed to each receiver, chosen
 * by an explicit list of socket ids or by {rooms, except} (rule 25). */
static void broadcast(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    gw_nsp *nsp = w->nsp;
    json_t *ids = json_object_get(m->meta, "sockets");
    if (json_is_array(ids) && json_array_size(ids) > GW_MAX_SOCKET_LIST) {
        char meta[160];
        snprintf(meta, sizeof meta,
                 "{\"code\":\"meta\",\"message\":\"more than %d sockets\",\"type\":\"BROADCAST\"}",
                 GW_MAX_SOCKET_LIST);
        gw_router_send(app->router, w, IPC_ERROR, nsp->name, NULL, meta, strlen(meta), NULL, 0,
                       NULL, 0);
        return;
    }
    if (json_object_get(m->meta, "ack")) {
        /* Acks asked (rule 25a): one packet per receiver, each with an ack
         * id of its own, counted in sio_bcast_ack.c. */
        gw_bcast_ack *ba = gw_bcast_ack_new(app, w, m);
        if (!ba) return;
        if (json_is_array(ids))
            select_listed(app, nsp, ids, gw_bcast_ack_send, ba);
        else
            gw_rooms_select(app, nsp, json_object_get(m->meta, "rooms"),
                            json_object_get(m->meta, "except"), gw_bcast_ack_send, ba);
        gw_bcast_ack_sent(app, w, &ba);
        return;
    }
    eio_msg *stack[16];
    eio_msg **msgs = m->n_att + 1 <= 16 ? stack : xmalloc((m->n_att + 1) * sizeof *msgs);
    /* Recovery on: one offset for the whole broadcast, as the reference's
     * adapter gives it; every receiver logs the same messages. */
    uint64_t off = 0;
    size_t dl = 0;
    char *d = sio_rec_offset_data(app, nsp, m, &off, &dl);
    bcast_ctx b = {msgs,
                   sio_build_packet(msgs, SIO_EVENT, nsp->name, strlen(nsp->name), -1,
                                    d ? d : m->data.data, d ? dl : m->data.len, m->att, m->n_att),
                   app, off};
    if (json_is_array(ids))
        select_listed(app, nsp, ids, bcast_one, &b);
    else
        gw_rooms_select(app, nsp, json_object_get(m->meta, "rooms"),
                        json_object_get(m->meta, "except"), bcast_one, &b);
    GW_COUNT(broadcasts);
    if (d) sio_rec_broadcast(app, nsp, m->meta, off, msgs, b.n);
    free(d);
    sio_free_msgs(msgs, b.n);
    if (msgs != stack) free(msgs);
    sio_cluster_broadcast(app, nsp, m); /* the other nodes' sockets (--redis) */
}

void sio_broadcast_local(gw_app *app, gw_nsp *nsp, const char *data, size_t len, const ipc_buf *att,
                         size_t n_att, json_t *rooms, json_t *except)
{
    eio_msg *stack[16];
    eio_msg **msgs = n_att + 1 <= 16 ? stack : xmalloc((n_att + 1) * sizeof *msgs);
    bcast_ctx b = {
        msgs,
        sio_build_packet(msgs, SIO_EVENT, nsp->name, strlen(nsp->name), -1, data, len, att, n_att),
        app, 0};
    gw_rooms_select(app, nsp, rooms, except, bcast_one, &b);
    sio_free_msgs(msgs, b.n);
    if (msgs != stack) free(msgs);
}

/* Another node's disconnectSockets(): as a worker's DISCONNECT (rule 27),
 * but the worker did not ask, so it hears of it. */
void sio_socket_kick(gw_app *app, sio_socket *s, int close)
{
    sio_client *c = s->client;
    gw_nsp *nsp = s->nsp;
    sio_send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
    sio_tomb_add(c, nsp);
    sio_socket_remove(app, s, "server namespace disconnect");
    if (close) {
        while (c->sockets) {
            sio_socket *o = c->sockets;
            if (o->state == SOCK_CONNECTED)
                sio_send_packet(c, SIO_DISCONNECT, o->nsp->name, strlen(o->nsp->name), -1, NULL, 0,
                                NULL, 0);
            sio_socket_remove(app, o, "server namespace disconnect");
        }
        sio_close_client(c, EIO_CLOSE_FORCED_SERVER);
    } else if (!c->sockets) {
        sio_client_idle(app, c);
    }
}

/* Answer a worker's message that is not acted on with ERROR (rule 30), and
 * log it: a worker is untrusted input, and nothing it sends vanishes. */
static void tell_worker(gw_app *app, gw_worker *w, const char *sid, const char *code,
                        const char *why, ipc_type t)
{
    log_info("namespace %s: %s from the worker%s%s not sent: %s (ERROR %s)", w->nsp->name,
             ipc_type_name(t), sid ? " for socket " : "", sid ? sid : "", why, code);
    json_t *meta =
        json_pack("{s:s, s:s, s:s}", "code", code, "message", why, "type", ipc_type_name(t));
    char *mt = json_dumps(meta, JSON_COMPACT);
    gw_router_send(app->router, w, IPC_ERROR, w->nsp->name, sid, mt, strlen(mt), NULL, 0, NULL, 0);
    free(mt);
    json_decref(meta);
}

void sio_handle_worker_msg(gw_app *app, gw_worker *w, const ipc_msg *m)
{
    gw_nsp *nsp = w->nsp;
    if (!sio_worker_data_ok(app, w, m)) return; /* no client sees it (rule 30a) */
    if (m->type == IPC_QUERY) {
        json_t *op = json_object_get(m->meta, "op");
        if (json_is_string(op) && strcmp(json_string_value(op), "sockets") == 0) {
            reply_sockets(app, w, nsp, json_object_get(m->meta, "req"));
        } else {
            json_t *meta = json_pack(
                "{s:O, s:s}", "req",
                json_object_get(m->meta, "req") ? json_object_get(m->meta, "req") : json_null(),
                "error", "unknown op");
            char *mt = json_dumps(meta, JSON_COMPACT);
            gw_router_send(app->router, w, IPC_REPLY, nsp->name, NULL, mt, strlen(mt), NULL, 0,
                           NULL, 0);
            free(mt);
            json_decref(meta);
        }
        return;
    }
    if (m->type == IPC_BROADCAST) {
        broadcast(app, w, m);
        return;
    }
    if (m->type == IPC_SERVER_EMIT) {
        gw_server_emit(app, w, m);
        return;
    }
    if (m->type == IPC_ADMIT) {
        sio_admission_reply(app, w, m);
        return;
    }

    /* Everything else names one socket of this worker's namespace.  One that
     * is gone (or never was) is ignored: the normal race with a client that
     * just left (rule 28). */
    sio_socket *s;
    HASH_FIND(hh, app->sockets, m->sid.data, IPC_ID_LEN, s);
    if (!s) {
        /* ... or one whose client may still come back (sio_recovery.c) */
        sio_rec *r = m->sid.len == IPC_ID_LEN ? sio_rec_detached(app, m->sid.data) : NULL;
        if (r && sio_rec_worker_msg(app, w, r, m)) return;
        gw_ghost_answer(app, w, m); /* a socket dropped while it restarted */
        return;
    }
    if (s->nsp != nsp || s->client->closing) return;
    sio_client *c = s->client;

    if (s->state == SOCK_RECOVERING && (m->type == IPC_ACCEPT || m->type == IPC_REFUSE)) {
        s->state = SOCK_CONNECTED;
        if (m->type == IPC_REFUSE) {
            json_t *msg = json_object_get(m->meta, "message");
            log_info("namespace %s: worker refused recovered socket %s (%s); %zu held "
                     "packet(s) of it dropped",
                     nsp->name, s->id, json_is_string(msg) ? json_string_value(msg) : "no reason",
                     s->n_held);
            sio_send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
            sio_tomb_add(c, nsp);
            sio_socket_remove(app, s, NULL);
            if (!c->sockets) sio_close_client(c, EIO_CLOSE_FORCED_SERVER);
            return;
        }
        sio_hold_replay(app, s);
        return;
    }
    switch (m->type) {
    case IPC_ACCEPT:
        if (sio_accepted(s)) return;
        s->state = SOCK_CONNECTED;
        DL_APPEND2(nsp->sockets, s, nprev, nnext);
        nsp->n_sockets++;
        gw_room_join(app, s, s->id, IPC_ID_LEN);
        c->ever_connected = 1;
        gw_log_socket("connect", nsp->name, s->id, eio_session_handshake(c->session)->address,
                      "accepted by the worker");
        sio_timeout_dequeue(app, c);
        sio_conn_catch_up(app, s); /* an upgrade it missed while pending (rule 20) */
        {
            /* A recovered session: rooms back and the missed packets
             * first, then the reply, as the reference sends them. */
            size_t missed = 0;
            int restored = s->restore != NULL;
            int broken = restored && sio_rec_accepted(app, s, sio_send_msgs, &missed) < 0;
            /* protocol v4 (Engine.IO v3 clients) knows no recovery: a bare
             * CONNECT reply, no sid, no offsets */
            int v3 = eio_session_protocol(c->session) == 3;
            if (!broken && !v3) sio_rec_attach_new(app, s);
            char body[96];
            size_t bl = v3 ? 0 : sio_rec_connect_body(s, body, sizeof body);
            sio_send_packet(c, SIO_CONNECT, nsp->name, strlen(nsp->name), -1, bl ? body : NULL, bl,
                            NULL, 0);
            if (broken) {
                /* What it missed overflowed the bounds while its worker
                 * took it back: it cannot be given whole (README). */
                sio_drop_socket(app, s, "more missed packets than the recovery bounds", 0);
                return;
            }
            if (restored)
                log_info("namespace %s: socket %s recovered by its client, %zu missed packet(s) "
                         "delivered",
                         nsp->name, s->id, missed);
        }
        return;
    case IPC_REFUSE: {
        if (sio_accepted(s)) return;
        json_t *msg = json_object_get(m->meta, "message");
        sio_send_refusal(c, nsp->name, json_is_string(msg) ? json_string_value(msg) : "refused",
                         json_object_get(m->meta, "data"));
        sio_socket_remove(app, s, NULL);
        return;
    }
    default:
        break;
    }
    if (!sio_accepted(s) && s->restore && sio_rec_worker_msg(app, w, s->restore, m))
        return; /* a socket its client is taking back: emits are logged */
    if (!sio_accepted(s)) {
        /* PENDING: the worker has not answered CONNECT yet.  JOIN/LEAVE are
         * ignored (rule 26); anything else cannot reach the client, and the
         * worker is told so instead of the message vanishing (rule 28a). */
        if (m->type != IPC_JOIN && m->type != IPC_LEAVE)
            tell_worker(app, w, s->id, "state", "socket not accepted yet", m->type);
        return;
    }

    switch (m->type) {
    case IPC_EMIT: {
        GW_NSP_COUNT2(nsp, packets_out, bytes_out, m->data.len);
        json_t *ack = json_object_get(m->meta, "ack");
        if (json_is_integer(ack) && json_integer_value(ack) >= GW_BCAST_ACK_BASE) {
            tell_worker(app, w, s->id, "meta", "ack ids from 2^40 are the gateway's (rule 25a)",
                        m->type);
            return;
        }
        if (s->rec) {
            /* Recovery on: an emit that can be replayed carries its offset
             * and is logged, as the reference sends socket.emit through
             * its adapter's broadcast. */
            uint64_t off;
            size_t dl;
            char *d = sio_rec_offset_data(app, nsp, m, &off, &dl);
            if (d) {
                eio_msg *st[16];
                eio_msg **msgs = m->n_att + 1 <= 16 ? st : xmalloc((m->n_att + 1) * sizeof *msgs);
                size_t n = sio_build_packet(msgs, SIO_EVENT, nsp->name, strlen(nsp->name), -1, d,
                                            dl, m->att, m->n_att);
                sio_send_msgs(c, msgs, n);
                sio_rec_log(app, s, off, msgs, n);
                sio_free_msgs(msgs, n);
                if (msgs != st) free(msgs);
                free(d);
                return;
            }
        }
        sio_send_packet(c, SIO_EVENT, nsp->name, strlen(nsp->name),
                        json_is_integer(ack) ? (int64_t)json_integer_value(ack) : -1, m->data.data,
                        m->data.len, m->att, m->n_att);
        return;
    }
    case IPC_ACK: {
        json_t *id = json_object_get(m->meta, "id");
        if (!json_is_integer(id)) return;
        GW_NSP_COUNT2(nsp, packets_out, bytes_out, m->data.len);
        sio_send_packet(c, SIO_ACK, nsp->name, strlen(nsp->name), (int64_t)json_integer_value(id),
                        m->data.len ? m->data.data : "[]", m->data.len ? m->data.len : 2, m->att,
                        m->n_att);
        return;
    }
    case IPC_JOIN:
    case IPC_LEAVE:
        join_rooms(app, s, json_object_get(m->meta, "rooms"), m->type == IPC_JOIN);
        return;
    case IPC_DISCONNECT: {
        int close = json_is_true(json_object_get(m->meta, "close"));
        sio_send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
        sio_tomb_add(c, nsp);
        sio_socket_remove(app, s, NULL);
        if (close) {
            /* Rule 27: the whole connection goes; the other namespaces are
             * told as the reference tells them. */
            while (c->sockets) {
                sio_socket *o = c->sockets;
                if (sio_accepted(o))
                    sio_send_packet(c, SIO_DISCONNECT, o->nsp->name, strlen(o->nsp->name), -1, NULL,
                                    0, NULL, 0);
                sio_socket_remove(app, o, "server namespace disconnect");
            }
        }
        if (close) {
            sio_close_client(c, EIO_CLOSE_FORCED_SERVER);
        } else if (!c->sockets) {
            sio_client_idle(app, c);
        }
        return;
    }
    default:
        return;
    }
}

void sio_worker_gone(gw_app *app, gw_nsp *nsp, const char *why)
{
    size_t n = 0, held = 0, lost = 0;
    int expected = gw_sup_worker_expected(app->router, nsp->name);
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp) {
        if (s->nsp != nsp) continue;
        sio_client *c = s->client;
        if (s->quarantined && sio_accepted(s) && expected && !c->closing) {
            /* Its poison packet is not replayed (rule 37); the next worker
             * is told the socket is gone once it has it back. */
            s->state = SOCK_ORPHANED;
            sio_drop_socket(app, s, "poison packet quarantined", 0);
            n++;
            continue;
        }
        if (sio_accepted(s) && expected) {
            s->state = SOCK_ORPHANED;
            held++;
            continue;
        }
        if (!sio_accepted(s) && expected) {
            /* Its CONNECT went to the dead worker (or none did yet): send it
             * again to the next one. */
            s->state = SOCK_UNSENT;
            held++;
            continue;
        }
        if (sio_accepted(s) && !c->closing) {
            sio_send_packet(c, SIO_DISCONNECT, nsp->name, strlen(nsp->name), -1, NULL, 0, NULL, 0);
            sio_tomb_add(c, nsp);
        } else if (!c->closing)
            sio_send_connect_error(c, nsp->name, "Namespace unavailable", NULL);
        lost += s->n_held + s->n_lost;
        sio_socket_remove(app, s, NULL);
        n++;
    }
    gw_ghosts_worker_gone(app, nsp, expected);
    log_warn(
        "namespace %s: worker gone (%s); %zu socket(s) disconnected, %zu kept for the next worker",
        nsp->name, why, n, held);
    if (lost)
        log_warn("namespace %s: %zu packet(s) of the disconnected sockets dropped: no worker "
                 "will handle them",
                 nsp->name, lost);
}

void sio_worker_arrived(gw_app *app, gw_nsp *nsp)
{
    sio_socket *s, *tmp;
    HASH_ITER(hh, app->sockets, s, tmp) {
        if (s->nsp == nsp && (s->state == SOCK_UNSENT || s->state == SOCK_ORPHANED) &&
            !s->client->closing)
            sio_send_connect(app, s);
    }
    gw_ghosts_send(app, nsp);
}
