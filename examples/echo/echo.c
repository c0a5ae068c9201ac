/* echo.c — the echo worker: serves the namespace named by IOGATE_NAMESPACE
 * at the gateway named by IOGATE_ENDPOINT (both set by a gateway that
 * spawns it) and echoes what clients send.  The end-to-end tests use it, so
 * it also exercises every part of the worker API:
 *
 *   connection              emit "auth" with the handshake's auth object
 *                           (not for a recovered socket: the client never left)
 *   "message" (args…)       emit "message-back" with the same args (binary too)
 *   "message-with-ack"      ack with the same args
 *   "join" (room)           join, ack with the socket's rooms
 *   "leave" (room)          leave, ack with the socket's rooms
 *   "to-room" (room, a…)    broadcast "room-message" (a…) to room, not sender
 *   "disconnect-me" (close) iog_socket_disconnect(close)
 *   "fetch"                 ack with [{id, rooms, data}…] of every socket
 *   "set-data" (obj)        set the socket's data, ack with it
 *   "emit-with-ack" (ms)    emit "ping-back" ("ping") asking an ack within ms;
 *                           ack with the client's ack arguments, or with the
 *                           error message ("operation has timed out")
 *   "pid"                   ack with the worker's pid
 *   "handshake"             ack with the socket's handshake object (address,
 *                           secure, headers, query, url, ...)
 *   "sleep" (ms)            block the worker for ms (a slow worker), then ack
 *   "emit-reserved"         try to emit each reserved event name; emit
 *                           "reserved-refused" (n) with how many were refused
 *   middleware              refuse auth {"refuse":true}: "refused", {"reason":"auth"};
 *                           refuse a *recovered* socket whose auth has
 *                           {"no_recovery":true}: "recovery refused"
 *   socket middleware       event "forbidden" fails with "forbidden event"
 *   error                   emit "error-seen" with the error message
 *   disconnecting/disconnect  log "disconnect <id> <reason> rooms=<r1,r2>"
 *                             (the rooms seen at disconnecting) to stderr
 */
#include "iogate_worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static iog_worker *worker;

static void on_signal(int sig)
{
    iog_worker_stop(worker);
}

static void refuse_mw(iog_socket *s, iog_next_handle *next, void *user)
{
    json_t *auth = json_object_get(iog_socket_handshake(s), "auth");
    if (json_is_true(json_object_get(auth, "refuse")))
        iog_next_error(&next, "refused", json_pack("{s:s}", "reason", "auth"));
    else if (iog_socket_recovered(s) && json_is_true(json_object_get(auth, "no_recovery")))
        iog_next_error(&next, "recovery refused", NULL);
    else
        iog_next(&next);
}

static void forbid_mw(iog_socket *s, json_t *packet, iog_next_handle *next, void *user)
{
    const char *ev = json_string_value(json_array_get(packet, 0));
    if (ev && strcmp(ev, "forbidden") == 0)
        iog_next_error(&next, "forbidden event", NULL);
    else
        iog_next(&next);
}

static void on_error(iog_socket *s, const char *message, json_t *data, void *user)
{
    iog_socket_emit(s, "error-seen", json_pack("[s]", message));
}

static void on_message(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    iog_socket_emit(s, "message-back", json_incref(args));
    if (ack) iog_ack_send(&ack, json_incref(args));
}

static void on_message_with_ack(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    if (ack) iog_ack_send(&ack, json_incref(args));
}

static void on_join(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    const char *room = json_string_value(json_array_get(args, 0));
    if (room) iog_socket_join(s, room);
    if (ack) iog_ack_send(&ack, json_pack("[o]", iog_socket_rooms_json(s)));
}

static void on_leave(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    const char *room = json_string_value(json_array_get(args, 0));
    if (room) iog_socket_leave(s, room);
    if (ack) iog_ack_send(&ack, json_pack("[o]", iog_socket_rooms_json(s)));
}

static void on_to_room(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    const char *room = json_string_value(json_array_get(args, 0));
    if (!room) return;
    json_t *rest = json_array();
    for (size_t i = 1; i < json_array_size(args); i++)
        json_array_append(rest, json_array_get(args, i));
    iog_broadcast *b = iog_socket_to(s, room);
    int rc = iog_bc_emit(&b, "room-message", rest);
    if (ack) iog_ack_send(&ack, json_pack("[b]", rc == 0));
}

static void on_disconnect_me(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    iog_socket_disconnect(s, json_is_true(json_array_get(args, 0)));
}

static void on_fetch(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    if (!ack) return;
    json_t *all = iog_fetch_sockets(iog_socket_worker(s), NULL);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        json_array_append_new(out, json_pack("{s:O,s:O,s:O}", "id", json_object_get(e, "id"),
                                             "rooms", json_object_get(e, "rooms"), "data",
                                             json_object_get(e, "data")));
    }
    json_decref(all);
    iog_ack_send(&ack, json_pack("[o]", out));
}

static void on_set_data(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    json_t *data = json_array_get(args, 0);
    iog_socket_set_data(s, json_incref(data ? data : json_null()));
    if (ack) iog_ack_send(&ack, json_pack("[O]", iog_socket_data(s)));
}

static void ping_back_done(iog_socket *s, const char *err, json_t *args, void *user)
{
    iog_ack *ack = user;
    if (err)
        iog_ack_send(&ack, json_pack("[s]", err));
    else
        iog_ack_send(&ack, json_incref(args));
}

static void on_emit_with_ack(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    json_t *t = json_array_get(args, 0);
    int timeout = json_is_number(t) ? (int)json_number_value(t) : 1000;
    if (iog_socket_emit_with_ack(s, "ping-back", json_pack("[s]", "ping"), timeout, ping_back_done,
                                 ack) != 0 &&
        ack)
        iog_ack_send(&ack, json_pack("[s]", iog_strerror()));
}

static void on_pid(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    if (ack) iog_ack_send(&ack, json_pack("[i]", (int)getpid()));
}

static void on_handshake(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    if (ack) iog_ack_send(&ack, json_pack("[O]", iog_socket_handshake(s)));
}

static void on_sleep(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    json_int_t ms = json_integer_value(json_array_get(args, 0));
    if (ms > 0 && ms < 60000) usleep((useconds_t)ms * 1000);
    if (ack) iog_ack_send(&ack, json_array());
}

static void on_emit_reserved(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    static const char *names[] = {"connect",       "connect_error", "disconnect",
                                  "disconnecting", "newListener",   "removeListener"};
    int refused = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (iog_socket_emit(s, names[i], json_array()) < 0) refused++;
    iog_socket_emit(s, "reserved-refused", json_pack("[i]", refused));
    if (ack) iog_ack_send(&ack, json_array());
}

static void on_disconnecting(iog_socket *s, const char *reason, void *user)
{
    size_t n, len = 0;
    const char *const *rooms = iog_socket_rooms(s, &n);
    for (size_t i = 0; i < n; i++)
        len += strlen(rooms[i]) + 1;
    char *txt = calloc(1, len + 1);
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(txt, ",");
        strcat(txt, rooms[i]);
    }
    iog_socket_set_user(s, txt, free);
}

static void on_disconnect(iog_socket *s, const char *reason, void *user)
{
    const char *rooms = iog_socket_user(s);
    fprintf(stderr, "disconnect %s %s rooms=%s\n", iog_socket_id(s), reason, rooms ? rooms : "");
    fflush(stderr);
}

static void on_connection(iog_socket *s, void *user)
{
    iog_socket_use(s, forbid_mw, NULL);
    iog_socket_on_error(s, on_error, NULL);
    iog_socket_on(s, "message", on_message, NULL);
    iog_socket_on(s, "message-with-ack", on_message_with_ack, NULL);
    iog_socket_on(s, "join", on_join, NULL);
    iog_socket_on(s, "leave", on_leave, NULL);
    iog_socket_on(s, "to-room", on_to_room, NULL);
    iog_socket_on(s, "disconnect-me", on_disconnect_me, NULL);
    iog_socket_on(s, "fetch", on_fetch, NULL);
    iog_socket_on(s, "set-data", on_set_data, NULL);
    iog_socket_on(s, "emit-with-ack", on_emit_with_ack, NULL);
    iog_socket_on(s, "pid", on_pid, NULL);
    iog_socket_on(s, "handshake", on_handshake, NULL);
    iog_socket_on(s, "emit-reserved", on_emit_reserved, NULL);
    iog_socket_on(s, "sleep", on_sleep, NULL);
    iog_socket_on_disconnecting(s, on_disconnecting, NULL);
    iog_socket_on_disconnect(s, on_disconnect, NULL);
    /* A recovered socket (its worker restarted, PROTOCOL.md rule 16) is one
     * the client never saw leave: no second greeting. */
    if (!iog_socket_recovered(s)) {
        json_t *auth = json_object_get(iog_socket_handshake(s), "auth");
        iog_socket_emit(s, "auth", json_pack("[O]", auth)); /* always an object */
    }
}

int main(void)
{
    worker = iog_worker_new(NULL, NULL);
    if (!worker) {
        fprintf(stderr, "echo: %s\n", iog_strerror());
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    iog_use(worker, refuse_mw, NULL);
    iog_on_connection(worker, on_connection, NULL);
    int rc = iog_worker_run(worker);
    /* run() also returns after the gateway's BYE, and the gateway's SIGTERM
     * may follow: the handler must not see a destroyed worker */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    iog_worker_destroy(&worker);
    return rc == 0 ? 0 : 1;
}
