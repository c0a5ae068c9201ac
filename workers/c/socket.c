/* socket.c — one client's socket in the namespace: namespace and packet
 * middleware chains, accept/refuse, event dispatch, acknowledgements both
 * ways, rooms, data, and the disconnect sequence.
 *
 * Life of a socket (state table):
 *
 *   state      | event                         | action                         | next
 *   -----------+-------------------------------+--------------------------------+----------
 *   PENDING    | CONNECT (created)             | run namespace middleware       | PENDING
 *   PENDING    | last middleware calls next    | ACCEPT, JOIN rooms, connection | CONNECTED
 *   PENDING    | a middleware calls next_error | REFUSE, unlink (no events)     | CLOSED
 *   PENDING    | DISCONNECT / gateway lost     | unlink (no events)             | CLOSED
 *   CONNECTED  | EVENT                         | packet middleware, handlers    | CONNECTED
 *   CONNECTED  | ACK                           | emit_with_ack callback         | CONNECTED
 *   CONNECTED  | DISCONNECT(reason) / lost     | disconnecting, rooms cleared,  | CLOSED
 *              | / iog_socket_disconnect       | disconnect, acks failed, unlink|
 *   CLOSED     | (end of iog_worker_process)   | free                           | —
 *
 * Handles given to middleware and acks given to handlers outlive nothing:
 * when the socket closes they are orphaned (s = NULL) and freed when the
 * application consumes them, or at once if no one holds them. */
#include "worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CALL(list, i, type) ((type)(list).v[i].fn)

/* ---- creation and destruction ---- */

static void add_room(iog_socket *s, const char *room)
{
    if (s->n_rooms == s->cap_rooms) {
        s->cap_rooms = s->cap_rooms ? s->cap_rooms * 2 : 4;
        s->rooms = iog_xrealloc(s->rooms, s->cap_rooms * sizeof *s->rooms);
    }
    s->rooms[s->n_rooms++] = iog_xstrdup(room);
    iog_adapter_joined(s, room);
}

iog_socket *iog_socket_create(iog_gw *g, const char *sid, json_t *meta)
{
    iog_socket *s = iog_xcalloc(1, sizeof *s);
    s->w = g->w;
    s->gw = g;
    memcpy(s->id, sid, IPC_ID_LEN);
    s->id[IPC_ID_LEN] = '\0';
    s->state = IOG_S_PENDING;
    json_t *hs = json_object_get(meta, "handshake");
    s->handshake = json_is_object(hs) ? json_incref(hs) : iog_jcheck(json_object());
    if (!json_is_object(json_object_get(s->handshake, "auth"))) {
        if (hs) s->handshake = iog_jcheck(json_deep_copy(hs)), json_decref(hs);
        json_object_set_new(s->handshake, "auth", json_object());
    }
    const char *tr = json_string_value(json_object_get(meta, "transport"));
    s->transport = iog_xstrdup(tr ? tr : "polling");
    /* Like the reference's socket.recovered: the client kept its state,
     * whether the worker restarted (rule 16) or the client came back
     * (rule 16a); iog_socket_restored() tells the second apart. */
    s->restored = json_is_true(json_object_get(meta, "restored"));
    s->skip_mw = s->restored && json_is_true(json_object_get(meta, "skip_middlewares"));
    s->recovered = json_is_true(json_object_get(meta, "recovered")) || s->restored;
    s->data = iog_jcheck(json_object());
    add_room(s, s->id);
    s->gw_rooms = iog_jcheck(json_array());
    json_array_append_new(s->gw_rooms, json_string(s->id));
    /* A recovered socket (PROTOCOL.md rule 16) comes back with the rooms of
     * the gateway's routing copy: restore them before any handler runs. */
    json_t *rooms = json_object_get(meta, "rooms");
    size_t i;
    json_t *r;
    if (s->recovered && json_is_array(rooms))
        json_array_foreach(rooms, i, r) {
            const char *name = json_string_value(r);
            if (!name || iog_socket_in_room(s, name)) continue;
            add_room(s, name);
            json_array_append(s->gw_rooms, r);
        }
    return s;
}

static void ack_free_if_idle(iog_ack *a)
{
    if (a->in_dispatch == 0) free(a);
}

static void ack_unlink(iog_ack *a)
{
    if (!a->s) return;
    if (a->prev)
        a->prev->next = a->next;
    else
        a->s->acks_in = a->next;
    if (a->next) a->next->prev = a->prev;
    a->next = a->prev = NULL;
    a->s = NULL;
}

/* Orphan everything the application may still hold, release the rest. */
static void detach(iog_socket *s)
{
    while (s->handles) {
        iog_next_handle *h = s->handles;
        s->handles = h->next;
        h->s = NULL;
        h->ack = NULL; /* the ack is freed below */
        h->next = h->prev = NULL;
    }
    while (s->acks_in) {
        iog_ack *a = s->acks_in;
        ack_unlink(a);
        ack_free_if_idle(a);
    }
}

void iog_socket_free(iog_socket *s)
{
    detach(s);
    while (s->acks_out) { /* only on iog_worker_destroy: no callbacks then */
        iog_pending_ack *a = s->acks_out;
        s->acks_out = a->next;
        iog_worker_timed_del(s->w, a);
        free(a);
    }
    for (size_t i = 0; i < s->n_rooms; i++)
        free(s->rooms[i]);
    free(s->rooms);
    json_decref(s->handshake);
    json_decref(s->data);
    json_decref(s->gw_rooms);
    free(s->transport);
    if (s->ufree && s->uptr) s->ufree(s->uptr);
    iog_cbs_clear(&s->on_event);
    iog_cbs_clear(&s->on_raw);
    iog_cbs_clear(&s->on_any);
    iog_cbs_clear(&s->on_any_out);
    iog_cbs_clear(&s->on_error);
    iog_cbs_clear(&s->on_disconnecting);
    iog_cbs_clear(&s->on_disconnect);
    iog_cbs_clear(&s->on_conn);
    iog_cbs_clear(&s->mw);
    free(s);
}

/* ---- accessors ---- */

const char *iog_socket_id(const iog_socket *s)
{
    return s->id;
}
iog_worker *iog_socket_worker(const iog_socket *s)
{
    return s->w;
}
json_t *iog_socket_handshake(const iog_socket *s)
{
    return s->handshake;
}
const char *iog_socket_transport(const iog_socket *s)
{
    return s->transport;
}
bool iog_socket_restored(const iog_socket *s)
{
    return s->restored;
}

bool iog_socket_recovered(const iog_socket *s)
{
    return s->recovered;
}
bool iog_socket_connected(const iog_socket *s)
{
    return s->state == IOG_S_CONNECTED;
}

const char *const *iog_socket_rooms(const iog_socket *s, size_t *n)
{
    if (n) *n = s->n_rooms;
    return (const char *const *)s->rooms;
}

json_t *iog_socket_rooms_json(const iog_socket *s)
{
    json_t *a = iog_jcheck(json_array());
    for (size_t i = 0; i < s->n_rooms; i++)
        json_array_append_new(a, json_string(s->rooms[i]));
    return a;
}

json_t *iog_socket_data(const iog_socket *s)
{
    return s->data;
}

void iog_socket_set_data(iog_socket *s, json_t *data)
{
    json_decref(s->data);
    s->data = data ? data : iog_jcheck(json_object());
}

void iog_socket_set_user(iog_socket *s, void *ptr, void (*free_fn)(void *))
{
    if (s->ufree && s->uptr && s->uptr != ptr) s->ufree(s->uptr);
    s->uptr = ptr;
    s->ufree = free_fn;
}

void *iog_socket_user(const iog_socket *s)
{
    return s->uptr;
}

/* ---- registration ---- */

#define FN(f) ((void (*)(void))(f))
void iog_socket_on(iog_socket *s, const char *event, iog_event_fn fn, void *user)
{
    iog_cbs_add(&s->on_event, FN(fn), user, event);
}
void iog_socket_off(iog_socket *s, const char *event, iog_event_fn fn)
{
    /* Tombstones, not removal: a dispatch may be iterating this list. */
    for (size_t i = 0; i < s->on_event.n; i++)
        if (s->on_event.v[i].event && strcmp(s->on_event.v[i].event, event) == 0 &&
            (!fn || s->on_event.v[i].fn == FN(fn)))
            s->on_event.v[i].fn = NULL;
}
void iog_socket_on_any(iog_socket *s, iog_any_fn fn, void *user)
{
    iog_cbs_add(&s->on_any, FN(fn), user, NULL);
}
void iog_socket_use(iog_socket *s, iog_packet_middleware_fn fn, void *user)
{
    iog_cbs_add(&s->mw, FN(fn), user, NULL);
}
void iog_socket_on_error(iog_socket *s, iog_error_fn fn, void *user)
{
    iog_cbs_add(&s->on_error, FN(fn), user, NULL);
}
void iog_socket_on_disconnecting(iog_socket *s, iog_disconnect_fn fn, void *user)
{
    iog_cbs_add(&s->on_disconnecting, FN(fn), user, NULL);
}
void iog_socket_on_disconnect(iog_socket *s, iog_disconnect_fn fn, void *user)
{
    iog_cbs_add(&s->on_disconnect, FN(fn), user, NULL);
}
void iog_socket_on_conn(iog_socket *s, iog_conn_fn fn, void *user)
{
    iog_cbs_add(&s->on_conn, FN(fn), user, NULL);
}

/* ---- middleware ---- */

static iog_next_handle *handle_new(iog_socket *s, int kind, size_t index)
{
    iog_next_handle *h = iog_xcalloc(1, sizeof *h);
    h->kind = kind;
    h->s = s;
    h->index = index;
    h->next = s->handles;
    if (s->handles) s->handles->prev = h;
    s->handles = h;
    return h;
}

static void handle_unlink(iog_next_handle *h)
{
    if (!h->s) return;
    if (h->prev)
        h->prev->next = h->next;
    else
        h->s->handles = h->next;
    if (h->next) h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

static bool in_list(json_t *list, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        if (strcmp(json_string_value(r), name) == 0) return true;
    }
    return false;
}

static void accept_socket(iog_socket *s)
{
    iog_worker *w = s->w;
    s->state = IOG_S_CONNECTED;
    w->n_connected++;
    iog_send(s->gw, IPC_ACCEPT, s->id, NULL, NULL, 0);
    /* Rooms joined or left in middleware: the gateway learns the difference
     * between what it routes (the socket's own id, plus a recovered
     * socket's rooms) and what we hold now. */
    json_t *join = iog_jcheck(json_array()), *leave = iog_jcheck(json_array());
    for (size_t i = 0; i < s->n_rooms; i++)
        if (!in_list(s->gw_rooms, s->rooms[i]))
            json_array_append_new(join, json_string(s->rooms[i]));
    size_t i;
    json_t *r;
    json_array_foreach(s->gw_rooms, i, r) {
        if (!iog_socket_in_room(s, json_string_value(r))) json_array_append(leave, r);
    }
    json_decref(s->gw_rooms);
    s->gw_rooms = NULL;
    if (json_array_size(join)) {
        json_t *meta = iog_jcheck(json_pack("{s:o}", "rooms", join));
        iog_send(s->gw, IPC_JOIN, s->id, meta, NULL, 0);
        json_decref(meta);
    } else {
        json_decref(join);
    }
    if (json_array_size(leave)) {
        json_t *meta = iog_jcheck(json_pack("{s:o}", "rooms", leave));
        iog_send(s->gw, IPC_LEAVE, s->id, meta, NULL, 0);
        json_decref(meta);
    } else {
        json_decref(leave);
    }
    for (size_t i = 0; i < w->on_connection.n && s->state == IOG_S_CONNECTED; i++)
        CALL(w->on_connection, i, iog_connection_fn)(s, w->on_connection.v[i].user);
}

static void run_ns_middleware(iog_socket *s, size_t i)
{
    iog_worker *w = s->w;
    if (s->state != IOG_S_PENDING) return;
    if (i >= w->mw.n) {
        accept_socket(s);
        return;
    }
    iog_next_handle *h = handle_new(s, IOG_NEXT_NS, i);
    CALL(w->mw, i, iog_middleware_fn)(s, h, w->mw.v[i].user);
}

void iog_socket_start_middleware(iog_socket *s)
{
    run_ns_middleware(s, s->skip_mw ? s->w->mw.n : 0);
}

void iog_socket_replace(iog_socket *old, iog_socket *s)
{
    json_decref(s->data);
    s->data = json_incref(old->data);
    if (old->state == IOG_S_CONNECTED) old->w->n_connected--;
    old->state = IOG_S_CLOSED; /* no events: its client is back, as s */
    while (old->acks_out)
        iog_pending_ack_fire(old->acks_out, "socket has been disconnected", NULL);
    detach(old);
    iog_worker_unlink(old->w, old);
}

static void dispatch(iog_socket *s, json_t *packet, iog_ack *ack);
static void run_packet_middleware(iog_socket *s, json_t *packet, iog_ack *ack, size_t i);

static void ack_drop(iog_ack *a)
{
    if (!a) return;
    ack_unlink(a);
    ack_free_if_idle(a);
}

void iog_next(iog_next_handle **ph)
{
    iog_next_handle *h = *ph;
    if (!h) return;
    *ph = NULL;
    iog_socket *s = h->s;
    handle_unlink(h);
    if (s && h->kind == IOG_NEXT_NS)
        run_ns_middleware(s, h->index + 1);
    else if (s && h->kind == IOG_NEXT_PACKET)
        run_packet_middleware(s, h->packet, h->ack, h->index + 1);
    json_decref(h->packet);
    free(h);
}

static void raise_error(iog_socket *s, const char *message, json_t *data)
{
    if (s->on_error.n == 0) {
        iog_log(IOG_LOG_WARN, "socket %s: unhandled error: %s", s->id, message);
        return;
    }
    for (size_t i = 0; i < s->on_error.n && s->state == IOG_S_CONNECTED; i++)
        CALL(s->on_error, i, iog_error_fn)(s, message, data, s->on_error.v[i].user);
}

void iog_next_error(iog_next_handle **ph, const char *message, json_t *data)
{
    iog_next_handle *h = *ph;
    if (!h) {
        json_decref(data);
        return;
    }
    *ph = NULL;
    iog_socket *s = h->s;
    handle_unlink(h);
    if (!message) message = "error";
    if (s && h->kind == IOG_NEXT_NS && s->state == IOG_S_PENDING) {
        json_t *meta = iog_jcheck(json_pack("{s:s}", "message", message));
        if (data) json_object_set(meta, "data", data);
        iog_send(s->gw, IPC_REFUSE, s->id, meta, NULL, 0);
        json_decref(meta);
        iog_log(IOG_LOG_DEBUG, "socket %s refused: %s", s->id, message);
        s->state = IOG_S_CLOSED;
        iog_adapter_left_all(s);
        detach(s);
        iog_worker_unlink(s->w, s);
    } else if (s && h->kind == IOG_NEXT_PACKET) {
        ack_drop(h->ack);
        if (s->state == IOG_S_CONNECTED) raise_error(s, message, data);
    }
    json_decref(h->packet);
    json_decref(data);
    free(h);
}

/* ---- events in ---- */

bool iog_reserved_event(const char *event)
{
    static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                           "disconnecting", "newListener",   "removeListener"};
    if (!event) return true;
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(event, reserved[i]) == 0) return true;
    return false;
}

static void run_packet_middleware(iog_socket *s, json_t *packet, iog_ack *ack, size_t i)
{
    if (s->state != IOG_S_CONNECTED) {
        ack_drop(ack);
        return;
    }
    if (i >= s->mw.n) {
        dispatch(s, packet, ack);
        return;
    }
    iog_next_handle *h = handle_new(s, IOG_NEXT_PACKET, i);
    h->packet = json_incref(packet);
    h->ack = ack;
    CALL(s->mw, i, iog_packet_middleware_fn)(s, packet, h, s->mw.v[i].user);
}

int iog_cbs_has(const iog_cbs *l, const char *ev)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].fn && strcmp(l->v[i].event, ev) == 0) return 1;
    return 0;
}

/* Run the raw handlers of ev; returns how many ran.  A handler may
 * disconnect the socket: the others are then skipped, as in dispatch(). */
size_t iog_socket_run_raw(iog_socket *s, const char *ev, const char *json, size_t len,
                          const ipc_buf *att, size_t n_att, iog_ack *ack)
{
    size_t called = 0;
    for (size_t i = 0; i < s->on_raw.n && s->state == IOG_S_CONNECTED; i++) {
        iog_cb *cb = &s->on_raw.v[i];
        if (!cb->fn || strcmp(cb->event, ev) != 0) continue;
        called++;
        ((iog_raw_event_fn)cb->fn)(s, json, len, (const iog_buf *)att, n_att,
                                   ack && !ack->sent && ack->s ? ack : NULL, cb->user);
    }
    return called;
}

/* An event that took the parsed path, for its raw handlers too: the packet
 * serialized again (raw.c's handlers see the text the client sent). */
static size_t raw_dispatch_parsed(iog_socket *s, const char *ev, json_t *packet, iog_ack *ack)
{
    if (!iog_cbs_has(&s->on_raw, ev) || s->state != IOG_S_CONNECTED) return 0;
    iog_atts att;
    memset(&att, 0, sizeof att);
    char *text = iog_dump_wire(packet, &att);
    if (!text) {
        free(att.v);
        iog_log(IOG_LOG_WARN, "EVENT %s for %s: cannot be serialized for raw handlers", ev, s->id);
        return 0;
    }
    size_t called = iog_socket_run_raw(s, ev, text, strlen(text), att.v, att.n, ack);
    free(text);
    free(att.v);
    return called;
}

static void dispatch(iog_socket *s, json_t *packet, iog_ack *ack)
{
    const char *event = json_string_value(json_array_get(packet, 0));
    if (!event) { /* a middleware broke the packet */
        ack_drop(ack);
        return;
    }
    char *ev = iog_xstrdup(event); /* a handler may modify the packet */
    json_t *args = iog_jcheck(json_array());
    for (size_t i = 1; i < json_array_size(packet); i++)
        json_array_append(args, json_array_get(packet, i));
    size_t called = 0;
    if (ack) ack->in_dispatch++;
    for (size_t i = 0; i < s->on_any.n && s->state == IOG_S_CONNECTED; i++, called++) {
        iog_any_fn fn = CALL(s->on_any, i, iog_any_fn);
        fn(s, ev, args, ack && !ack->sent && ack->s ? ack : NULL, s->on_any.v[i].user);
    }
    for (size_t i = 0; i < s->on_event.n && s->state == IOG_S_CONNECTED; i++) {
        iog_cb *cb = &s->on_event.v[i];
        if (!cb->fn || strcmp(cb->event, ev) != 0) continue;
        called++;
        ((iog_event_fn)cb->fn)(s, args, ack && !ack->sent && ack->s ? ack : NULL, cb->user);
    }
    if (s->on_raw.n) called += raw_dispatch_parsed(s, ev, packet, ack);
    iog_ack_dispatched(ack, called);
    json_decref(args);
    free(ev);
}

void iog_ack_dispatched(iog_ack *ack, size_t called)
{
    if (ack) {
        ack->in_dispatch--;
        /* No handler saw it: no one can answer it, so do not keep it until
         * the disconnect (a client sending unhandled events with ack ids
         * would grow memory). */
        if (called == 0) ack_unlink(ack);
        /* Sent, or its socket gone during the handlers: free it now.
         * Otherwise a handler may answer it later; it stays on the list. */
        if (ack->in_dispatch == 0 && (ack->sent || !ack->s)) free(ack);
    }
}

void iog_ack_sent(iog_ack *a)
{
    a->sent = 1;
    ack_unlink(a);
    ack_free_if_idle(a);
}

void iog_socket_handle_event(iog_socket *s, json_t *data, json_t *meta)
{
    if (s->state != IOG_S_CONNECTED) {
        iog_log(IOG_LOG_DEBUG, "EVENT for socket %s not connected, dropped", s->id);
        return;
    }
    const char *event = json_string_value(json_array_get(data, 0));
    if (!event) {
        iog_log(IOG_LOG_WARN, "EVENT for %s without an event name, dropped", s->id);
        return;
    }
    if (iog_reserved_event(event)) {
        iog_log(IOG_LOG_WARN, "EVENT %s for %s: reserved name, dropped", event, s->id);
        return;
    }
    iog_ack *ack = NULL;
    json_t *id = json_object_get(meta, "ack");
    if (json_is_integer(id) && json_integer_value(id) >= 0) {
        ack = iog_xcalloc(1, sizeof *ack);
        ack->s = s;
        ack->id = json_integer_value(id);
        ack->next = s->acks_in;
        if (s->acks_in) s->acks_in->prev = ack;
        s->acks_in = ack;
    }
    run_packet_middleware(s, data, ack, 0);
}

/* The data frame of an EMIT/BROADCAST: ["event", arg…].  Consumes args. */
static json_t *event_data(const char *event, json_t *args)
{
    json_t *d = iog_jcheck(json_array());
    json_array_append_new(d, json_string(event));
    if (json_is_array(args))
        json_array_extend(d, args);
    else if (args)
        json_array_append(d, args);
    json_decref(args);
    return d;
}

static json_t *ack_args(json_t *args)
{
    if (json_is_array(args)) return args;
    json_t *d = iog_jcheck(json_array());
    if (args) json_array_append_new(d, args);
    return d;
}

int iog_ack_send(iog_ack **pa, json_t *args)
{
    iog_ack *a = pa ? *pa : NULL;
    if (!a) {
        json_decref(args);
        return iog_fail(EINVAL, "no ack");
    }
    *pa = NULL;
    if (a->sent || !a->s) {
        json_decref(args);
        return iog_fail(EALREADY, a->sent ? "ack already sent" : "socket is gone");
    }
    iog_socket *s = a->s;
    json_t *data = ack_args(args);
    json_t *meta = iog_jcheck(json_pack("{s:I}", "id", (json_int_t)a->id));
    int rc = s->state == IOG_S_CONNECTED ? iog_send(s->gw, IPC_ACK, s->id, meta, data, 0)
                                         : iog_fail(ENOTCONN, "socket is not connected");
    json_decref(meta);
    json_decref(data);
    a->sent = 1;
    ack_unlink(a);
    ack_free_if_idle(a);
    return rc;
}

/* ---- acks out (emit_with_ack) ---- */

void iog_pending_ack_fire(iog_pending_ack *a, const char *err, json_t *args)
{
    iog_socket *s = a->s;
    if (a->prev)
        a->prev->next = a->next;
    else
        s->acks_out = a->next;
    if (a->next) a->next->prev = a->prev;
    iog_worker_timed_del(s->w, a);
    iog_ack_fn cb = a->cb;
    void *user = a->user;
    free(a);
    if (cb) cb(s, err, args, user);
}

void iog_socket_handle_ack(iog_socket *s, json_t *data, json_t *meta)
{
    json_t *id = json_object_get(meta, "id");
    if (!json_is_integer(id)) return;
    for (iog_pending_ack *a = s->acks_out; a; a = a->next)
        if (a->id == json_integer_value(id)) {
            iog_pending_ack_fire(a, NULL, data);
            return;
        }
    iog_log(IOG_LOG_DEBUG, "ACK %lld for %s: no such pending ack (late?)",
            (long long)json_integer_value(id), s->id);
}

/* ---- events out ---- */

static int emit(iog_socket *s, const char *event, json_t *args, int vol, int64_t ack_id)
{
    if (iog_reserved_event(event)) {
        json_decref(args);
        return iog_fail(EINVAL, "reserved event name");
    }
    if (s->state != IOG_S_CONNECTED) {
        json_decref(args);
        return iog_fail(ENOTCONN, "socket is not connected");
    }
    json_t *data = event_data(event, args);
    json_t *meta = NULL;
    if (ack_id >= 0)
        meta = json_pack("{s:I}", "ack", (json_int_t)ack_id);
    else if (vol)
        meta = json_pack("{s:b}", "volatile", 1);
    int rc = iog_send(s->gw, IPC_EMIT, s->id, meta, data, vol);
    if (rc == 0) iog_socket_notify_outgoing(s, data);
    json_decref(meta);
    json_decref(data);
    return rc;
}

int iog_socket_emit(iog_socket *s, const char *event, json_t *args)
{
    return emit(s, event, args, 0, -1);
}

int iog_socket_emit_volatile(iog_socket *s, const char *event, json_t *args)
{
    return emit(s, event, args, 1, -1);
}

int iog_socket_emit_with_ack(iog_socket *s, const char *event, json_t *args, int timeout_ms,
                             iog_ack_fn cb, void *user)
{
    int64_t id = s->next_ack_id;
    if (emit(s, event, args, 0, id) != 0) return -1;
    s->next_ack_id++;
    iog_pending_ack *a = iog_xcalloc(1, sizeof *a);
    a->s = s;
    a->id = id;
    a->cb = cb;
    a->user = user;
    a->next = s->acks_out;
    if (s->acks_out) s->acks_out->prev = a;
    s->acks_out = a;
    if (timeout_ms > 0) {
        a->deadline = iog_now_ms() + timeout_ms;
        iog_worker_timed_add(s->w, a);
    }
    return 0;
}

/* ---- rooms ---- */

static int room_change(iog_socket *s, ipc_type t, const char *room)
{
    if (s->state != IOG_S_CONNECTED) return 0; /* pending: told at ACCEPT */
    json_t *meta = iog_jcheck(json_pack("{s:[s]}", "rooms", room));
    int rc = iog_send(s->gw, t, s->id, meta, NULL, 0);
    json_decref(meta);
    return rc;
}

int iog_socket_join(iog_socket *s, const char *room)
{
    if (!room) return iog_fail(EINVAL, "no room");
    if (s->state == IOG_S_CLOSED) return 0; /* gone: ignored, nothing leaks */
    if (iog_socket_in_room(s, room)) return 0;
    add_room(s, room);
    return room_change(s, IPC_JOIN, room);
}

int iog_socket_leave(iog_socket *s, const char *room)
{
    if (!room) return iog_fail(EINVAL, "no room");
    if (s->state == IOG_S_CLOSED) return 0;
    for (size_t i = 0; i < s->n_rooms; i++) {
        if (strcmp(s->rooms[i], room) != 0) continue;
        iog_adapter_left(s, room);
        free(s->rooms[i]);
        memmove(&s->rooms[i], &s->rooms[i + 1], (s->n_rooms - i - 1) * sizeof *s->rooms);
        s->n_rooms--;
        return room_change(s, IPC_LEAVE, room);
    }
    return 0;
}

/* One JOIN / LEAVE per room: the same rooms in the end as socket.io's
 * join([…]), and rule 26 makes repeats harmless. */
int iog_socket_join_rooms(iog_socket *s, const char *const *rooms)
{
    int rc = 0;
    for (size_t i = 0; rooms && rooms[i]; i++)
        if (iog_socket_join(s, rooms[i]) != 0) rc = -1;
    return rc;
}

int iog_socket_leave_rooms(iog_socket *s, const char *const *rooms)
{
    int rc = 0;
    for (size_t i = 0; rooms && rooms[i]; i++)
        if (iog_socket_leave(s, rooms[i]) != 0) rc = -1;
    return rc;
}

/* ---- conn notices ---- */

void iog_socket_handle_conn(iog_socket *s, json_t *meta)
{
    const char *ev = json_string_value(json_object_get(meta, "event"));
    if (!ev) return;
    if (strcmp(ev, "upgrade") == 0) {
        const char *tr = json_string_value(json_object_get(meta, "transport"));
        if (tr) {
            free(s->transport);
            s->transport = iog_xstrdup(tr);
        }
    }
    for (size_t i = 0; i < s->on_conn.n && s->state != IOG_S_CLOSED; i++)
        CALL(s->on_conn, i, iog_conn_fn)(s, ev, meta, s->on_conn.v[i].user);
}

/* ---- disconnect ---- */

void iog_socket_close(iog_socket *s, const char *reason)
{
    if (s->state == IOG_S_CLOSED) return;
    int was_connected = s->state == IOG_S_CONNECTED;
    s->state = IOG_S_CLOSED; /* no emit, no join from here on */
    if (was_connected) {
        s->w->n_connected--;
        for (size_t i = 0; i < s->on_disconnecting.n; i++) {
            iog_disconnect_fn fn = CALL(s->on_disconnecting, i, iog_disconnect_fn);
            fn(s, reason, s->on_disconnecting.v[i].user);
        }
        iog_adapter_left_all(s);
        for (size_t i = 0; i < s->n_rooms; i++)
            free(s->rooms[i]);
        s->n_rooms = 0;
        for (size_t i = 0; i < s->on_disconnect.n; i++)
            CALL(s->on_disconnect, i, iog_disconnect_fn)(s, reason, s->on_disconnect.v[i].user);
        while (s->acks_out)
            iog_pending_ack_fire(s->acks_out, "socket has been disconnected", NULL);
    } else {
        iog_adapter_left_all(s); /* gone during its middleware */
    }
    detach(s);
    iog_worker_unlink(s->w, s);
}

int iog_socket_disconnect(iog_socket *s, bool close)
{
    if (s->state != IOG_S_CONNECTED)
        return iog_fail(ENOTCONN, s->state == IOG_S_PENDING
                                      ? "socket is not connected yet (use iog_next_error)"
                                      : "socket is gone");
    json_t *meta = iog_jcheck(json_pack("{s:b}", "close", close));
    iog_send(s->gw, IPC_DISCONNECT, s->id, meta, NULL, 0);
    json_decref(meta);
    iog_socket_close(s, "server namespace disconnect");
    return 0;
}
