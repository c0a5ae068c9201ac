/* test_examples.c — the echo and chat example workers, run as real
 * processes (build/examples/…, found through IOGATE_BUILD as tests/run.sh
 * sets it) against a fake gateway: a ZeroMQ ROUTER speaking the real codec.
 * The end-to-end suite covers them again behind the real gateway. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"

#define S1 "AAAAAAAAAAAAAAAAAAA1"
#define S2 "AAAAAAAAAAAAAAAAAAA2"

static void *ctx, *router;
static char ep[128], errpath[128];
static char rid[256];
static size_t rid_len;
static ipc_frames F;
static ipc_msg M;
static int have;
static pid_t child;

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* The next message other than PING/PONG, as "TYPE sid meta data #att". */
static char *next(char *out, size_t cap)
{
    if (have) ipc_msg_clear(&M);
    have = 0;
    ipc_frames_reset(&F);
    long long end = now_ms() + 3000;
    zmq_pollitem_t it = {.socket = router, .events = ZMQ_POLLIN};
    while (now_ms() < end) {
        if (zmq_poll(&it, 1, 20) <= 0) continue;
        assert_int_equal(ipc_recv(router, &F, 0), 0);
        memcpy(rid, F.bufs[0].data, F.bufs[0].len);
        rid_len = F.bufs[0].len;
        const char *code, *why;
        assert_int_equal(ipc_decode(F.bufs + 1, F.n - 1, IPC_FROM_WORKER, &M, &code, &why), 0);
        have = 1;
        if (M.type == IPC_PING || M.type == IPC_PONG) {
            ipc_msg_clear(&M);
            have = 0;
            ipc_frames_reset(&F);
            continue;
        }
        char *meta = json_dumps(M.meta, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(out, cap, "%s %.*s %s %.*s #%zu", ipc_type_name(M.type), (int)M.sid.len,
                 M.sid.data, meta, (int)M.data.len, M.data.data, M.n_att);
        free(meta);
        return out;
    }
    snprintf(out, cap, "(nothing)");
    return out;
}

#define EXPECT(want)                                                                               \
    do {                                                                                           \
        char got_[2048];                                                                           \
        assert_string_equal(next(got_, sizeof got_), want);                                        \
    } while (0)

static void send_msg(ipc_type t, const char *sid, const char *meta, const char *data,
                     const ipc_buf *att, size_t n_att)
{
    ipc_buf r = {rid, rid_len};
    ipc_out o = {.type = t,
                 .nsp = "/",
                 .nsp_len = 1,
                 .sid = sid,
                 .sid_len = sid ? strlen(sid) : 0,
                 .meta = meta,
                 .meta_len = meta ? strlen(meta) : 0,
                 .data = data,
                 .data_len = data ? strlen(data) : 0,
                 .att = att,
                 .n_att = n_att};
    assert_int_equal(ipc_send(router, &r, &o, 0), 0);
}

static void start(const char *example)
{
    ctx = zmq_ctx_new();
    router = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    snprintf(ep, sizeof ep, "ipc:///tmp/iog-test-examples-%d.sock", (int)getpid());
    assert_int_equal(zmq_bind(router, ep), 0);
    snprintf(errpath, sizeof errpath, "/tmp/iog-test-examples-%d.err", (int)getpid());
    const char *build = getenv("IOGATE_BUILD");
    char path[512];
    snprintf(path, sizeof path, "%s/examples/%s", build ? build : "build", example);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        setenv("IOGATE_ENDPOINT", ep, 1);
        setenv("IOGATE_NAMESPACE", "/", 1);
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    char got[2048];
    next(got, sizeof got);
    assert_int_equal(strncmp(got, "HELLO  {\"conn_events\":[\"upgrade\"],\"incarnation\":", 48), 0);
    send_msg(IPC_WELCOME, NULL, "{\"version\":1,\"gateway\":\"g\",\"heartbeat_ms\":5000}", NULL,
             NULL, 0);
}

/* SIGTERM after the gateway's shutdown sequence; returns the exit status. */
static int stop(void)
{
    kill(child, SIGTERM);
    int st = 0;
    waitpid(child, &st, 0);
    if (have) ipc_msg_clear(&M);
    have = 0;
    ipc_frames_close(&F);
    zmq_close(router);
    zmq_ctx_term(ctx);
    unlink(ep + 6);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void connect_sock(const char *sid, const char *auth)
{
    char meta[512];
    snprintf(meta, sizeof meta,
             "{\"handshake\":{\"headers\":{},\"query\":{},\"auth\":%s,\"address\":\"127.0.0.1\"},"
             "\"transport\":\"polling\",\"recovered\":false}",
             auth);
    send_msg(IPC_CONNECT, sid, meta, NULL, NULL, 0);
}

static void echo_worker(void **st)
{
    start("echo");
    connect_sock(S2, "{\"refuse\":true}");
    EXPECT("REFUSE " S2 " {\"data\":{\"reason\":\"auth\"},\"message\":\"refused\"}  #0");
    connect_sock(S1, "{\"a\":1}");
    EXPECT("ACCEPT " S1 " {}  #0");
    EXPECT("EMIT " S1 " {} [\"auth\",{\"a\":1}] #0");

    ipc_buf att[1] = {{"\x01\x02", 2}};
    send_msg(IPC_EVENT, S1, NULL, "[\"message\",\"x\",{\"b\":{\"_placeholder\":true,\"num\":0}}]",
             att, 1);
    EXPECT("EMIT " S1 " {} [\"message-back\",\"x\",{\"b\":{\"_placeholder\":true,\"num\":0}}] #1");
    assert_memory_equal(M.att[0].data, "\x01\x02", 2);
    send_msg(IPC_EVENT, S1, "{\"ack\":5}", "[\"message-with-ack\",1,\"y\"]", NULL, 0);
    EXPECT("ACK " S1 " {\"id\":5} [1,\"y\"] #0");

    send_msg(IPC_EVENT, S1, "{\"ack\":6}", "[\"emit-with-ack\",2000]", NULL, 0);
    EXPECT("EMIT " S1 " {\"ack\":0} [\"ping-back\",\"ping\"] #0");
    send_msg(IPC_ACK, S1, "{\"id\":0}", "[\"pong:ping\"]", NULL, 0);
    EXPECT("ACK " S1 " {\"id\":6} [\"pong:ping\"] #0");
    send_msg(IPC_EVENT, S1, "{\"ack\":7}", "[\"emit-with-ack\",50]", NULL, 0);
    EXPECT("EMIT " S1 " {\"ack\":1} [\"ping-back\",\"ping\"] #0");
    EXPECT("ACK " S1 " {\"id\":7} [\"operation has timed out\"] #0");

    send_msg(IPC_EVENT, S1, NULL, "[\"forbidden\",1]", NULL, 0);
    EXPECT("EMIT " S1 " {} [\"error-seen\",\"forbidden event\"] #0");
    send_msg(IPC_EVENT, S1, "{\"ack\":8}", "[\"join\",\"r1\"]", NULL, 0);
    EXPECT("JOIN " S1 " {\"rooms\":[\"r1\"]}  #0");
    EXPECT("ACK " S1 " {\"id\":8} [[\"" S1 "\",\"r1\"]] #0");
    send_msg(IPC_EVENT, S1, "{\"ack\":9}", "[\"set-data\",{\"n\":1}]", NULL, 0);
    EXPECT("ACK " S1 " {\"id\":9} [{\"n\":1}] #0");
    send_msg(IPC_EVENT, S1, "{\"ack\":10}", "[\"fetch\"]", NULL, 0);
    EXPECT("ACK " S1 " {\"id\":10} [[{\"id\":\"" S1 "\",\"rooms\":[\"" S1
           "\",\"r1\"],\"data\":{\"n\":1}}]] #0");
    send_msg(IPC_EVENT, S1, NULL, "[\"to-room\",\"r1\",\"hi\"]", NULL, 0);
    EXPECT("BROADCAST  {\"except\":[\"" S1 "\"],\"rooms\":[\"r1\"]} [\"room-message\",\"hi\"] #0");
    send_msg(IPC_EVENT, S1, "{\"ack\":11}", "[\"leave\",\"r1\"]", NULL, 0);
    EXPECT("LEAVE " S1 " {\"rooms\":[\"r1\"]}  #0");
    EXPECT("ACK " S1 " {\"id\":11} [[\"" S1 "\"]] #0");
    send_msg(IPC_EVENT, S1, "{\"ack\":12}", "[\"pid\"]", NULL, 0);
    char want[128];
    snprintf(want, sizeof want, "ACK " S1 " {\"id\":12} [%d] #0", (int)child);
    EXPECT(want);

    connect_sock(S2, "{}");
    EXPECT("ACCEPT " S2 " {}  #0");
    EXPECT("EMIT " S2 " {} [\"auth\",{}] #0");
    send_msg(IPC_EVENT, S2, NULL, "[\"disconnect-me\",true]", NULL, 0);
    EXPECT("DISCONNECT " S2 " {\"close\":true}  #0");

    /* Gateway shutdown: DISCONNECT to every socket, BYE, then SIGTERM. */
    send_msg(IPC_DISCONNECT, S1, "{\"reason\":\"server shutting down\"}", NULL, NULL, 0);
    send_msg(IPC_BYE, NULL, "{\"reason\":\"shutdown\"}", NULL, NULL, 0);
    assert_int_equal(stop(), 0);
    char log[8192] = "";
    FILE *f = fopen(errpath, "r");
    assert_non_null(f);
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    unlink(errpath);
    assert_non_null(strstr(log, "disconnect " S2 " server namespace disconnect rooms=" S2 "\n"));
    assert_non_null(strstr(log, "disconnect " S1 " server shutting down rooms=" S1 "\n"));
}

static void chat_worker(void **st)
{
    start("chat");
    connect_sock(S1, "{}");
    EXPECT("ACCEPT " S1 " {}  #0");
    connect_sock(S2, "{}");
    EXPECT("ACCEPT " S2 " {}  #0");
    send_msg(IPC_EVENT, S1, NULL, "[\"add user\",\"alice\"]", NULL, 0);
    EXPECT("JOIN " S1 " {\"rooms\":[\"lobby\"]}  #0");
    EXPECT("EMIT " S1 " {} [\"login\",{\"numUsers\":1,\"room\":\"lobby\"}] #0");
    EXPECT("BROADCAST  {\"except\":[\"" S1
           "\"]} [\"user joined\",{\"username\":\"alice\",\"numUsers\":1}] #0");
    send_msg(IPC_EVENT, S2, NULL, "[\"add user\",\"bob\"]", NULL, 0);
    EXPECT("JOIN " S2 " {\"rooms\":[\"lobby\"]}  #0");
    EXPECT("EMIT " S2 " {} [\"login\",{\"numUsers\":2,\"room\":\"lobby\"}] #0");
    EXPECT("BROADCAST  {\"except\":[\"" S2
           "\"]} [\"user joined\",{\"username\":\"bob\",\"numUsers\":2}] #0");
    send_msg(IPC_EVENT, S1, NULL, "[\"new message\",\"hello\"]", NULL, 0);
    EXPECT("BROADCAST  {\"except\":[\"" S1 "\"],\"rooms\":[\"lobby\"]} [\"new "
           "message\",{\"username\":\"alice\",\"message\":\"hello\",\"room\":\"lobby\"}] #0");
    send_msg(IPC_EVENT, S1, NULL, "[\"typing\"]", NULL, 0);
    EXPECT("BROADCAST  {\"except\":[\"" S1
           "\"],\"rooms\":[\"lobby\"]} [\"typing\",{\"username\":\"alice\"}] #0");
    send_msg(IPC_EVENT, S1, "{\"ack\":1}", "[\"join room\",\"den\"]", NULL, 0);
    EXPECT("BROADCAST  {\"except\":[\"" S1 "\"],\"rooms\":[\"lobby\"]} [\"user left "
           "room\",{\"username\":\"alice\",\"room\":\"lobby\"}] #0");
    EXPECT("LEAVE " S1 " {\"rooms\":[\"lobby\"]}  #0");
    EXPECT("JOIN " S1 " {\"rooms\":[\"den\"]}  #0");
    EXPECT("BROADCAST  {\"except\":[\"" S1 "\"],\"rooms\":[\"den\"]} [\"user joined "
           "room\",{\"username\":\"alice\",\"room\":\"den\"}] #0");
    EXPECT("ACK " S1 " {\"id\":1} [{\"room\":\"den\",\"numUsers\":1}] #0");
    EXPECT("EMIT " S1 " {} [\"room joined\",{\"room\":\"den\",\"numUsers\":1}] #0");
    send_msg(IPC_DISCONNECT, S2, "{\"reason\":\"transport close\"}", NULL, NULL, 0);
    EXPECT("BROADCAST  {\"except\":[\"" S2
           "\"]} [\"user left\",{\"username\":\"bob\",\"numUsers\":1}] #0");
    assert_int_equal(stop(), 0);
    unlink(errpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_worker),
        cmocka_unit_test(chat_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
