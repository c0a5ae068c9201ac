/* chat.c — the classic Socket.IO chat, as an iogate worker, with rooms.
 *
 * Protocol (as the socket.io "chat" example, plus rooms):
 *   client → "add user" (name)        → "login" {numUsers, room} to the user;
 *                                        "user joined" {username, numUsers} to the others
 *   client → "new message" (text)     → "new message" {username, message, room} to the
 *                                        others in the user's room
 *   client → "typing" / "stop typing" → same name {username} to the others in the room
 *   client → "join room" (name)       → leave the current room ("user left room" there),
 *                                        join the new one ("user joined room" there);
 *                                        the user gets "room joined" {room, numUsers}
 *   disconnect                        → "user left" {username, numUsers} to everyone
 * Everyone starts in the room "lobby".  Serve it with
 *   make run   (iogate --static examples/chat/public --worker /=build/examples/chat)
 */
#include "iogate_worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOBBY "lobby"
#define MAX_NAME 64

typedef struct {
    char username[MAX_NAME + 1];
    char room[MAX_NAME + 1];
} user;

static iog_worker *worker;
static int num_users;

static void on_signal(int sig)
{
    iog_worker_stop(worker);
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, MAX_NAME + 1, "%s", src);
}

/* Users that said "add user" in room `room`. */
static int room_users(const char *room)
{
    const char *rooms[] = {room, NULL};
    json_t *list = iog_fetch_sockets(worker, rooms);
    int n = (int)json_array_size(list);
    json_decref(list);
    return n;
}

static void to_room(iog_socket *s, const char *room, const char *event, json_t *args)
{
    iog_broadcast *b = iog_socket_to(s, room);
    iog_bc_emit(&b, event, args);
}

static void on_add_user(iog_socket *s, json_t *args, iog_ack *ack, void *unused)
{
    const char *name = json_string_value(json_array_get(args, 0));
    if (!name || !*name || iog_socket_user(s)) return;
    user *u = calloc(1, sizeof *u);
    if (!u) abort();
    copy_name(u->username, name);
    copy_name(u->room, LOBBY);
    iog_socket_set_user(s, u, free);
    iog_socket_join(s, LOBBY);
    iog_socket_set_data(s, json_pack("{s:s}", "username", u->username));
    num_users++;
    iog_socket_emit(s, "login", json_pack("[{s:i,s:s}]", "numUsers", num_users, "room", u->room));
    iog_broadcast *b = iog_socket_broadcast(s);
    iog_bc_emit(&b, "user joined",
                json_pack("[{s:s,s:i}]", "username", u->username, "numUsers", num_users));
}

static void on_new_message(iog_socket *s, json_t *args, iog_ack *ack, void *unused)
{
    user *u = iog_socket_user(s);
    const char *text = json_string_value(json_array_get(args, 0));
    if (!u || !text) return;
    to_room(
        s, u->room, "new message",
        json_pack("[{s:s,s:s,s:s}]", "username", u->username, "message", text, "room", u->room));
}

static void on_typing(iog_socket *s, json_t *args, iog_ack *ack, void *event)
{
    user *u = iog_socket_user(s);
    if (u) to_room(s, u->room, event, json_pack("[{s:s}]", "username", u->username));
}

static void on_join_room(iog_socket *s, json_t *args, iog_ack *ack, void *unused)
{
    user *u = iog_socket_user(s);
    const char *room = json_string_value(json_array_get(args, 0));
    if (!u || !room || !*room || strlen(room) > MAX_NAME) return;
    if (strcmp(room, u->room) != 0) {
        to_room(s, u->room, "user left room",
                json_pack("[{s:s,s:s}]", "username", u->username, "room", u->room));
        iog_socket_leave(s, u->room);
        copy_name(u->room, room);
        iog_socket_join(s, u->room);
        to_room(s, u->room, "user joined room",
                json_pack("[{s:s,s:s}]", "username", u->username, "room", u->room));
    }
    json_t *info = json_pack("{s:s,s:i}", "room", u->room, "numUsers", room_users(u->room));
    if (ack) iog_ack_send(&ack, json_pack("[O]", info));
    iog_socket_emit(s, "room joined", json_pack("[o]", info));
}

static void on_disconnect(iog_socket *s, const char *reason, void *unused)
{
    user *u = iog_socket_user(s);
    if (!u) return;
    num_users--;
    iog_broadcast *b = iog_socket_broadcast(s);
    iog_bc_emit(&b, "user left",
                json_pack("[{s:s,s:i}]", "username", u->username, "numUsers", num_users));
}

static void on_connection(iog_socket *s, void *unused)
{
    iog_socket_on(s, "add user", on_add_user, NULL);
    iog_socket_on(s, "new message", on_new_message, NULL);
    iog_socket_on(s, "typing", on_typing, "typing");
    iog_socket_on(s, "stop typing", on_typing, "stop typing");
    iog_socket_on(s, "join room", on_join_room, NULL);
    iog_socket_on_disconnect(s, on_disconnect, NULL);
}

int main(void)
{
    worker = iog_worker_new(NULL, NULL);
    if (!worker) {
        fprintf(stderr, "chat: %s\n", iog_strerror());
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    iog_on_connection(worker, on_connection, NULL);
    int rc = iog_worker_run(worker);
    /* a SIGTERM from the gateway can still arrive: the handler must not
     * run on a worker that is being freed (UBSan caught it at shutdown) */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    iog_worker_destroy(&worker);
    return rc == 0 ? 0 : 1;
}
