/* fuzz_worker.c — libFuzzer driver for the C worker library
 * (workers/c/) receiving IPC messages from a gateway: ipc_decode() as a
 * worker calls it, then everything handle() does with a decoded message —
 * WELCOME, PING, BYE, ERROR, CONNECT (a socket, middleware, the connection
 * handler), EVENT / ACK with data and placeholders resolved to binaries,
 * DISCONNECT, CONN — and the application handlers below, which answer with
 * acks, emits, joins, broadcasts and disconnects, and a raw handler
 * (iog_socket_on_raw) that sends the bytes back as they came.
 *
 * The library reads from its ZeroMQ DEALER only, so the driver plays the
 * gateway for real: a ROUTER on an ipc:// socket in a private directory,
 * one worker connected to it (HELLO answered with WELCOME).  For each input
 * the frames go to the worker, followed by a PING; the worker has handled
 * the input once its PONG is back (messages keep their order).  Whatever the
 * worker sends is read and dropped.  Every 200 inputs (or when BYE
 * dismissed it) the worker is replaced, so its sockets do not pile up.
 *
 * Input: the message's frames separated by '\n' (as fuzz_ipc_decode), e.g.
 *   IOG1\nCONNECT\n/\nAAAAAAAAAAAAAAAAAAAA\n{"handshake":{}}\n
 * The driver does not prepend anything: version, type and the rest are
 * fuzzed too.  At most 16 frames.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "iogate_worker.h"
#include "ipc.h"

#define MAX_FRAMES 16

static void *zctx, *router;
static char endpoint[256];
static iog_worker *w;
static char rid[256];
static size_t rid_len;
static unsigned runs;

static void on_answer(iog_socket *s, const char *err, json_t *args, void *user) {}

static void on_event(iog_socket *s, json_t *args, iog_ack *ack, void *user)
{
    const char *what = user;
    if (!strcmp(what, "echo")) {
        iog_socket_emit(s, "echo-back", json_incref(args));
    } else if (!strcmp(what, "join")) {
        const char *room = json_string_value(json_array_get(args, 0));
        if (room) iog_socket_join(s, room);
        iog_broadcast *b = iog_socket_broadcast(s);
        if (room) iog_bc_to(b, room);
        iog_bc_emit(&b, "joined", json_pack("[s]", room ? room : ""));
    } else if (!strcmp(what, "bye")) {
        iog_socket_disconnect(s, json_is_true(json_array_get(args, 0)));
        return;
    } else if (!strcmp(what, "ask")) {
        iog_socket_emit_with_ack(s, "question", json_pack("[i]", 1), 50, on_answer, NULL);
    }
    if (ack) iog_ack_send(&ack, json_incref(args));
}

/* The raw path (raw.c): the bytes go back untouched, the ack gets the
 * arguments after the event name. */
static void on_raw(iog_socket *s, const char *json, size_t len, const iog_buf *att, size_t n_att,
                   iog_ack *ack, void *user)
{
    iog_socket_emit_raw(s, json, len, att, n_att);
    size_t off = iog_raw_args_off(json, len);
    if (ack && off) {
        char *a = malloc(len - off + 1);
        if (!a) abort();
        a[0] = '[';
        memcpy(a + 1, json + off, len - off);
        iog_ack_send_raw(&ack, a, len - off + 1, att, n_att);
        free(a);
    }
    if (len > 2 && json[len - 2] == '1') {
        iog_broadcast *b = iog_socket_broadcast(s);
        iog_bc_emit_raw(&b, json, len, att, n_att);
    }
}

static void on_connection(iog_socket *s, void *user)
{
    iog_socket_on_raw(s, "raw", on_raw, NULL);
    iog_socket_on_raw(s, "echo", on_raw, NULL); /* after the parsed one */
    iog_socket_on(s, "echo", on_event, "echo");
    iog_socket_on(s, "join", on_event, "join");
    iog_socket_on(s, "bye", on_event, "bye");
    iog_socket_on(s, "ask", on_event, "ask");
}

static void mw(iog_socket *s, iog_next_handle *next, void *user)
{
    json_t *auth = json_object_get(iog_socket_handshake(s), "auth");
    if (json_is_true(json_object_get(auth, "refuse")))
        iog_next_error(&next, "refused", NULL);
    else
        iog_next(&next);
}

/* Read everything the worker sent; return 1 if a PONG was among it. */
static int drain_router(void)
{
    int pong = 0;
    for (;;) {
        zmq_msg_t part;
        int i = 0, more = 1;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return pong;
        }
        while (more) {
            if (i == 0) {
                rid_len = zmq_msg_size(&part) < sizeof rid ? zmq_msg_size(&part) : sizeof rid;
                memcpy(rid, zmq_msg_data(&part), rid_len);
            }
            if (i == 2 && zmq_msg_size(&part) == 4 && !memcmp(zmq_msg_data(&part), "PONG", 4))
                pong = 1;
            more = zmq_msg_more(&part);
            zmq_msg_close(&part);
            i++;
            if (more) {
                zmq_msg_init(&part);
                zmq_msg_recv(&part, router, 0);
            }
        }
    }
}

static void send_frames(const ipc_buf *f, size_t n)
{
    zmq_send(router, rid, rid_len, ZMQ_SNDMORE);
    for (size_t i = 0; i < n; i++)
        zmq_send(router, f[i].len ? f[i].data : "", f[i].len, i + 1 < n ? ZMQ_SNDMORE : 0);
}

static void send_ctrl(const char *type, const char *meta)
{
    ipc_buf f[6] = {{"IOG1", 4}, {type, strlen(type)}, {"", 0},
                    {"", 0},     {meta, strlen(meta)}, {"", 0}};
    send_frames(f, 6);
}

/* ADMIT (PROTOCOL.md rule 39): answer from what the handshake holds. */
static void admit(iog_admission *a, json_t *hs, void *user)
{
    (void)user;
    iog_admission_answer(&a, json_object_size(hs) % 2 == 0,
                         json_string_value(json_object_get(hs, "url")));
}

/* Run the worker and read its output until a PONG comes back (or ~2 s). */
static int sync_worker(void)
{
    for (int i = 0; i < 2000 && iog_worker_connected(w); i++) { /* BYE: no PONG */
        iog_worker_process(w);
        if (drain_router()) return 0;
        zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 1);
    }
    return -1;
}

static void new_worker(void)
{
    if (w) iog_worker_destroy(&w);
    w = iog_worker_new(endpoint, "/");
    if (!w) abort();
    iog_use(w, mw, NULL);
    iog_on_connection(w, on_connection, NULL);
    iog_on_admission(w, admit, NULL);
    iog_worker_start(w);
    for (int i = 0; i < 5000 && !iog_worker_connected(w); i++) {
        zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 1);
        size_t before = rid_len;
        rid_len = 0;
        drain_router(); /* the HELLO: it tells us the worker's routing id */
        if (!rid_len)
            rid_len = before;
        else
            send_ctrl("WELCOME", "{\"heartbeat_ms\":600000,\"gateway\":\"fuzz\"}");
        iog_worker_process(w);
    }
    if (!iog_worker_connected(w)) {
        fprintf(stderr, "fuzz_worker: no WELCOME round trip\n");
        abort();
    }
}

static void setup(void)
{
    iog_log_level = getenv("FUZZ_WORKER_LOG") ? 3 : -1;
    char dir[] = "/tmp/iogate-fuzz-XXXXXX";
    if (!mkdtemp(dir)) abort();
    snprintf(endpoint, sizeof endpoint, "ipc://%s/gw.sock", dir);
    zctx = zmq_ctx_new();
    router = zmq_socket(zctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(router, endpoint) != 0) abort();
    new_worker();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!zctx) setup();
    if (++runs % 200 == 0 || !iog_worker_connected(w)) new_worker();
    ipc_buf f[MAX_FRAMES];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < MAX_FRAMES; i++) {
        if (i == size || data[i] == '\n') {
            f[n].data = (const char *)data + start;
            f[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    send_frames(f, n);
    send_ctrl("PING", "");
    if (sync_worker() < 0 && iog_worker_connected(w)) {
        fprintf(stderr, "fuzz_worker: the worker stopped answering PING\n");
        abort();
    }
    return 0;
}
