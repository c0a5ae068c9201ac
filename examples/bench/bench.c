/* bench.c — the benchmark worker: the handlers of bench/reference.js (the
 * Node.js socket.io server `make bench` compares against), in C on the
 * iogate worker library.  Spawned by the gateway, which sets
 * IOGATE_ENDPOINT and IOGATE_NAMESPACE:
 *
 *   build/iogate --worker "/=build/examples/bench"
 *
 *   "echo" (args…)          emit "echo" (args…) back; ack (args…) if asked
 *   "join" (room)           join room, emit "joined" (room)
 *   "bcast" (room, payload) emit "b" (payload) to everyone in room
 *
 * Keep it exactly as lean as the reference: the point is to measure the
 * gateway and the library, not the handlers. */
#include "iogate_worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

static iog_worker *worker;

static void on_signal(int sig)
{
    iog_worker_stop(worker);
}

/* The raw path (issue 12): the client's ["echo", arg…] goes back as the
 * same bytes, never parsed or dumped; the ack is "[" + the arguments. */
static void on_echo(iog_socket *s, const char *json, size_t len, const iog_buf *att, size_t n_att,
                    iog_ack *ack, void *user)
{
    iog_socket_emit_raw(s, json, len, att, n_att);
    if (!ack) return;
    size_t off = iog_raw_args_off(json, len);
    if (off == 0) return;
    char small[2048];
    char *a = len - off + 1 <= sizeof small ? small : malloc(len - off + 1);
    if (!a) return;
    a[0] = '[';
    memcpy(a + 1, json + off, len - off);
    iog_ack_send_raw(&ack, a, len - off + 1, att, n_att);
    if (a != small) free(a);
}

static void on_join(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    json_t *room = json_array_get(args, 0);
    if (!json_is_string(room)) return;
    iog_socket_join(s, json_string_value(room));
    iog_socket_emit(s, "joined", json_pack("[O]", room));
}

static void on_bcast(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    const char *room = json_string_value(json_array_get(args, 0));
    json_t *payload = json_array_get(args, 1);
    if (!room || !payload) return;
    iog_broadcast *b = iog_to(iog_socket_worker(s), room);
    iog_bc_emit(&b, "b", json_pack("[O]", payload));
}

static void on_connection(iog_socket *s, void *user)
{
    iog_socket_on_raw(s, "echo", on_echo, NULL);
    iog_socket_on(s, "join", on_join, NULL);
    iog_socket_on(s, "bcast", on_bcast, NULL);
}

int main(void)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* do not outlive the gateway */
    iog_tune_malloc();                /* a process that only serves bursts */
    worker = iog_worker_new(NULL, NULL);
    if (!worker) {
        fprintf(stderr, "bench: %s\n", iog_strerror());
        return 1;
    }
    iog_on_connection(worker, on_connection, NULL);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int rc = iog_worker_run(worker);
    iog_worker_destroy(&worker);
    return rc == 0 ? 0 : 1;
}
