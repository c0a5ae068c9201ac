/* fuzz_http.c — libFuzzer driver for HTTP request handling as the gateway
 * does it: http-parser and our callbacks (request head, 414/431, query
 * string, headers, 100-continue, pipelining, bodies), then everything
 * eio.c does with a request (handshake, polling GET/POST, payload decoding,
 * CORS, WebSocket upgrade and — once upgraded — wslay reading frames
 * through ws.c).  The handler on top is the --echo diagnostic, so no
 * ZeroMQ is involved.
 *
 * The bytes really travel: each connection is one end of a socketpair
 * handed to eio_server_adopt() (the same path accept() takes), the driver
 * writes the input into the other end and runs the loop without blocking,
 * reading and discarding what the gateway answers.
 *
 * Input: byte 0 picks the write size (bits 5-7: all at once, or 1, 3, 7,
 * 64 bytes) and the configuration (bit 0 CORS credentials, bit 1 the sid
 * cookie, bit 2 one session per address, bit 3 --allow-eio3); the rest
 * is what the client sends.  Two tokens steer it past the random parts:
 *   "@C@"   opens a new connection; what follows goes there (max 4);
 *   "@SID@" is replaced by the last Engine.IO sid the gateway answered
 *           with, so polling and upgrades on a session are reachable.
 * Besides the sanitizers (and LeakSanitizer at exit), every input must
 * leave no session and no connection behind once the server is destroyed.
 */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo.h"
#include "eio.h"
#include "util.h"

#define MAX_CONNS 4

static struct ev_loop *loop;
static char sid[64];

/* Read what the gateway sent on fd, remember the last sid it handed out
 * (the open packet is small: it arrives in one read). */
static void drain(int fd)
{
    static char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0) return;
        buf[n] = '\0';
        for (const char *p = buf; (p = memmem(p, (size_t)(buf + n - p), "\"sid\":\"", 7));) {
            p += 7;
            size_t l = strcspn(p, "\"");
            if (p[l] == '"' && l < sizeof sid) {
                memcpy(sid, p, l);
                sid[l] = '\0';
            }
        }
    }
}

/* Let the gateway read, answer (at its safe point, the next loop turn) and
 * parse what was pipelined behind; then read its answers. */
static void spin(int *fds, int nfds)
{
    for (int i = 0; i < 3; i++)
        ev_run(loop, EVRUN_NOWAIT);
    for (int k = 0; k < nfds; k++)
        drain(fds[k]);
    ev_run(loop, EVRUN_NOWAIT);
}

/* Write everything, letting the gateway read (and answer) in between. */
static void send_all(int fd, const char *p, size_t n, size_t step, int *fds, int nfds)
{
    while (n) {
        size_t w = n < step ? n : step;
        ssize_t r = write(fd, p, w);
        if (r < 0) {
            if (errno != EAGAIN) return; /* the gateway closed its end */
            r = 0;
        }
        p += r;
        n -= (size_t)r;
        spin(fds, nfds);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!loop) {
        loop = ev_loop_new(EVFLAG_AUTO);
        signal(SIGPIPE, SIG_IGN); /* as main.c does (http.h) */
        gw_log_level = getenv("FUZZ_HTTP_LOG") ? GW_LOG_DEBUG : -1;
    }
    /* bits 5-7 pick the write size: half the inputs are split (1, 3, 7 or
     * 64 bytes: the resumable parsers), half go at once (fast) */
    static const size_t steps[8] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 1, 3, 7, 64};
    size_t step = steps[data[0] >> 5];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    static const char *origins[] = {"http://a.example", NULL};
    eio_config cfg;
    eio_config_defaults(&cfg);
    cfg.max_payload = 2048; /* small caps: 413, 1009, 414 and 431 are reachable */
    cfg.max_header_bytes = 1024;
    cfg.max_url_bytes = 256;
    cfg.cors_origins = origins;
    cfg.cors_credentials = data[0] & 1;
    cfg.cookie = data[0] & 2 ? "io" : NULL;
    cfg.max_connections = 3;
    cfg.max_sessions_per_address = data[0] & 4 ? 1 : 0;
    cfg.allow_eio3 = data[0] & 8 ? 1 : 0;
    cfg.max_buffered = 64 * 1024;
    eio_server *srv = eio_server_new(loop, &cfg, gw_echo_handler(), NULL);
    if (!srv) abort();

    int mine[MAX_CONNS], nconns = 0;
    sid[0] = '\0';
    const char *seg = in, *end = in + n;
    while (seg <= end && nconns < MAX_CONNS) {
        const char *next = memmem(seg, (size_t)(end - seg), "@C@", 3);
        const char *stop = next ? next : end;
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) abort();
        eio_server_adopt(srv, pair[0], nconns & 1 ? "10.0.0.2" : "10.0.0.1");
        mine[nconns++] = pair[1];
        /* substitute @SID@ now: the sid comes from earlier answers */
        size_t len = (size_t)(stop - seg);
        char *buf = malloc(len * 13 + 1), *o = buf; /* "@SID@" (5) → a sid (≤ 64) */
        for (const char *p = seg; p < stop;) {
            if ((size_t)(stop - p) >= 5 && memcmp(p, "@SID@", 5) == 0) {
                size_t sl = strlen(sid);
                memcpy(o, sid, sl);
                o += sl;
                p += 5;
            } else {
                *o++ = *p++;
            }
        }
        send_all(pair[1], buf, (size_t)(o - buf), step, mine, nconns);
        free(buf);
        if (!next) break;
        seg = next + 3;
    }
    /* the client hangs up, then the server goes */
    for (int k = 0; k < nconns; k++)
        shutdown(mine[k], SHUT_WR);
    spin(mine, nconns);
    eio_server_shutdown(srv);
    ev_run(loop, EVRUN_NOWAIT);
    if (eio_server_sessions(srv) != 0) abort(); /* shutdown closes every session */
    eio_server_destroy(&srv);
    ev_run(loop, EVRUN_NOWAIT);
    for (int k = 0; k < nconns; k++)
        close(mine[k]);
    return 0;
}
