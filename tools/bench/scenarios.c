/* scenarios.c — the five load shapes of iogate-bench and the run's phases.
 *
 *   setup → warm-up → measure → done
 *
 * setup opens the clients (at most --inflight handshakes at a time) and, for
 * broadcast, joins them to the room; warm-up runs the traffic without
 * counting; measure counts operations and latencies and samples the server
 * processes at both ends; done stops the loop.  An "operation" is:
 *   echo        one round trip (the echo event back, or the ack with --ack)
 *   broadcast   one delivery of `b` at one receiver
 *   connect     one full handshake + namespace connect (then closed)
 *   idle        one connection held (memory per connection is the figure)
 *   fixed-rate  one echo answered; latency from its *scheduled* send time,
 *               so a server falling behind shows as queueing delay */
#include "scenarios.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

bench_opts O;
bench_run R;

static struct ev_loop *loop;
static bconn *conns; /* O.clients slots (+1 for the broadcast sender) */
static size_t nconns;
static ev_prepare prep;
/* fixed-rate wakes at each scheduled send time from a timerfd: libev's
 * timers (epoll_wait) have millisecond resolution, which would add up to
 * 1 ms of sending delay to latencies meant to be read in microseconds; a
 * busy loop would be precise but would fight the server for CPU. */
static int tfd = -1;
static ev_io tfd_io;
static ev_timer tick, hard;

/* Per-connection scenario state. */
typedef struct {
    uint64_t *ts; /* send (or scheduled) times of outstanding emits */
    size_t cap, head, tail;
    int64_t next_id;
    uint64_t recvd;
    bool joined;
    bool up;           /* counted as ready (broadcast receivers: joined) */
    uint64_t retry_at; /* connect scenario: no reopen before this */
} cstate;
static cstate *cs;

static char *payload; /* "xxxx…" as a JSON string */
static size_t payload_len;
static char *bcast_args; /* "room","xxxx…" */
static size_t bcast_args_len;
static char room_arg[160];

/* broadcast */
static uint64_t *bts;   /* send time of outstanding broadcasts, by seq % window */
static uint32_t *bdone; /* receivers that got it, by seq % window */
static uint64_t bsent, bcompleted;
static size_t receivers; /* receivers joined when traffic started */

/* fixed-rate */
static uint64_t fr_next; /* next message number */
static uint64_t fr_t0;
static size_t *ready_list, nready;

static uint64_t opened, pending; /* setup: connections opened / not yet ready */

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}
static cstate *st(bconn *c)
{
    return &cs[c->slot];
}

static uint64_t client_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u +
           (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

/* ------------------------------------------------------------------ */
/* Timestamp rings */

static void ring_push(cstate *s, uint64_t t)
{
    if (s->head - s->tail == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        uint64_t *n = xmalloc(ncap * sizeof(*n));
        for (size_t i = 0; i < s->head - s->tail; i++)
            n[i] = s->ts[(s->tail + i) % s->cap];
        free(s->ts);
        s->ts = n;
        s->head -= s->tail;
        s->tail = 0;
        s->cap = ncap;
    }
    s->ts[s->head++ % s->cap] = t;
}

static bool ring_pop(cstate *s, uint64_t *t)
{
    if (s->head == s->tail) return false;
    *t = s->ts[s->tail++ % s->cap];
    return true;
}

static size_t ring_len(const cstate *s)
{
    return s->head - s->tail;
}

/* ------------------------------------------------------------------ */
/* Counting */

static void count_op(uint64_t lat_ns, uint64_t sent_at)
{
    R.ops_total++;
    if (R.phase != PH_MEASURE) return;
    if (sent_at && sent_at < R.t_meas) return; /* sent during warm-up */
    R.ops++;
    hist_add(&R.lat, lat_ns);
}

/* ------------------------------------------------------------------ */
/* echo and fixed-rate */

static bool traffic_on(void)
{
    return R.phase == PH_WARMUP || R.phase == PH_MEASURE;
}

static void echo_send(bconn *c, uint64_t t)
{
    cstate *s = st(c);
    ring_push(s, t);
    bconn_emit(c, O.event, payload, payload_len, O.ack ? s->next_id++ : -1);
}

static void echo_fill(bconn *c)
{
    if (!traffic_on() || c->state != BC_READY) return;
    cstate *s = st(c);
    while (ring_len(s) < (size_t)O.window)
        echo_send(c, now_ns());
}

static void echo_answer(bconn *c)
{
    uint64_t t, now = now_ns();
    if (!ring_pop(st(c), &t)) {
        R.unexpected++;
        return;
    }
    count_op(now - t, O.scenario == SC_FIXED ? t : 0);
    if (O.scenario == SC_ECHO) echo_fill(c);
}

static void on_event(bconn *c, const char *name, size_t n, const char *pkt, size_t len, int64_t id)
{
    size_t rl = strlen(O.reply_event);
    if (O.scenario == SC_BROADCAST) {
        size_t jl = strlen(O.joined_event), bl = strlen(O.recv_event);
        cstate *s = st(c);
        if (n == jl && memcmp(name, O.joined_event, n) == 0 && !s->joined) {
            s->joined = true;
            s->up = true;
            R.joined++;
            pending--;
            return;
        }
        if (n == bl && memcmp(name, O.recv_event, n) == 0) {
            uint64_t r = ++s->recvd;
            if (r > bsent) {
                R.unexpected++;
                return;
            }
            size_t k = (size_t)((r - 1) % (uint64_t)O.window);
            count_op(now_ns() - bts[k], 0);
            if (++bdone[k] >= receivers) {
                bdone[k] = 0;
                bcompleted++;
            }
            return;
        }
        R.unexpected++;
        return;
    }
    if (n == rl && memcmp(name, O.reply_event, n) == 0) {
        if (O.ack && O.scenario != SC_IDLE) {
            R.extra++; /* the server emits and acks: the ack is the answer */
            return;
        }
        echo_answer(c);
        return;
    }
    R.unexpected++;
}

static void on_ack(bconn *c, int64_t id)
{
    if (!O.ack) {
        R.unexpected++;
        return;
    }
    echo_answer(c);
}

/* A periodic timer at the offered rate from fr_t0: one wake-up (one read)
 * per message slot, no re-arming. */
static void start_timerfd(void)
{
    uint64_t period = (uint64_t)(1e9 / O.rate);
    if (period == 0) period = 1;
    struct itimerspec its = {.it_interval = {.tv_sec = (time_t)(period / 1000000000u),
                                             .tv_nsec = (long)(period % 1000000000u)},
                             .it_value = {.tv_sec = (time_t)(fr_t0 / 1000000000u),
                                          .tv_nsec = (long)(fr_t0 % 1000000000u)}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* fixed-rate: send every message whose scheduled time has come. */
static void fixed_pump(void)
{
    if (!traffic_on() || nready == 0) return;
    uint64_t now = now_ns();
    double period = 1e9 / O.rate;
    for (int burst = 0; burst < 4096; burst++) {
        uint64_t due = fr_t0 + (uint64_t)((double)fr_next * period);
        if (due > now) break;
        bconn *c = &conns[ready_list[fr_next % nready]];
        fr_next++;
        if (c->state != BC_READY) continue;
        if (ring_len(st(c)) >= 65536) {
            R.skipped++; /* the server is hopelessly behind: do not grow forever */
            continue;
        }
        echo_send(c, due);
    }
}

/* ------------------------------------------------------------------ */
/* broadcast */

static void bcast_pump(void)
{
    bconn *snd = &conns[O.clients];
    if (!traffic_on() || snd->state != BC_READY || receivers == 0) return;
    while (bsent - bcompleted < (uint64_t)O.window) {
        bts[bsent % (uint64_t)O.window] = now_ns();
        bsent++;
        bconn_emit(snd, O.bcast_event, bcast_args, bcast_args_len, -1);
    }
}

/* ------------------------------------------------------------------ */
/* connections */

static void on_ready(bconn *c)
{
    uint64_t now = now_ns();
    switch (O.scenario) {
    case SC_CONNECT:
        count_op(now - c->t_start, 0);
        bconn_close(c, false);
        return;
    case SC_BROADCAST:
        R.ready++;
        if ((size_t)c->slot < (size_t)O.clients) {
            bconn_emit(c, O.join_event, room_arg, strlen(room_arg), -1);
        } else {
            st(c)->up = true;
            pending--;
        }
        return;
    case SC_FIXED:
        ready_list[nready++] = (size_t)c->slot;
        /* fall through */
    default:
        R.ready++;
        st(c)->up = true;
        pending--;
        if (O.scenario == SC_ECHO) echo_fill(c);
        return;
    }
}

static void on_closed(bconn *c, const char *why, bool error)
{
    if (O.scenario == SC_CONNECT) {
        if (error) st(c)->retry_at = now_ns() + 50000000u;
        return;
    }
    if (error && !O.quiet && R.phase != PH_DONE)
        fprintf(stderr, "iogate-bench: client %d: %s\n", c->slot, why);
    cstate *s = st(c);
    if (!s->up) {
        if (R.phase == PH_SETUP) pending--;
        R.failed++;
    } else if (R.phase != PH_DONE) {
        R.lost++;
    }
}

static const bconn_ops ops = {
    .ready = on_ready, .event = on_event, .ack = on_ack, .closed = on_closed};

/* Open more clients during setup (and, for connect, all the time). */
static void open_pump(void)
{
    if (O.scenario == SC_CONNECT) {
        if (!traffic_on()) return;
        uint64_t now = now_ns();
        for (size_t i = 0; i < nconns; i++) {
            bconn *c = &conns[i];
            if ((c->state == BC_CLOSED || c->state == BC_IDLE) && cs[i].retry_at <= now)
                if (bconn_open(c, &O.target, O.transport, &ops) < 0)
                    cs[i].retry_at = now + 50000000u;
        }
        return;
    }
    while (R.phase == PH_SETUP && opened < nconns && pending < (uint64_t)O.inflight) {
        bconn *c = &conns[opened++];
        if (bconn_open(c, &O.target, O.transport, &ops) == 0) pending++;
    }
}

/* ------------------------------------------------------------------ */
/* Phases */

static void start_traffic(void)
{
    R.phase = PH_WARMUP;
    R.t_warm = now_ns();
    if (O.scenario == SC_BROADCAST) receivers = R.joined;
    if (O.scenario == SC_FIXED) {
        fr_t0 = R.t_warm;
        start_timerfd();
    }
    if (O.scenario == SC_ECHO)
        for (size_t i = 0; i < nconns; i++)
            echo_fill(&conns[i]);
    if (O.warmup <= 0 || O.scenario == SC_IDLE) {
        R.phase = PH_MEASURE;
        R.t_meas = R.t_warm;
        proc_read(&R.p0);
        R.cpu0 = client_cpu_ns();
        R.cs0 = g_cstats;
    }
}

static void progress(uint64_t now, bool final)
{
    static uint64_t last, last_ops;
    if (O.quiet) return;
    bool tty = isatty(2);
    uint64_t every = tty ? 1000000000u : 10000000000u;
    if (!final && now - last < every) return;
    static const char *names[] = {"setup", "warm-up", "measure", "done"};
    double dt = last ? secs(now - last) : 0;
    uint64_t ops = R.ops_total;
    fprintf(stderr, "%s[%s] %-7s %6.1fs  ops %llu (%.0f/s)  clients %llu/%zu  errors %llu%s",
            tty ? "\r" : "", scenario_name(O.scenario), names[R.phase], secs(now - R.t0),
            (unsigned long long)ops, dt > 0 ? (double)(ops - last_ops) / dt : 0.0,
            (unsigned long long)(O.scenario == SC_CONNECT ? 0 : R.ready), nconns,
            (unsigned long long)g_cstats.conn_errors, tty ? "   " : "\n");
    if (final && tty) fputc('\n', stderr);
    last = now;
    last_ops = ops;
}

static void finish(void)
{
    R.t_end = now_ns();
    proc_read(&R.p1);
    R.cpu1 = client_cpu_ns();
    R.cs1 = g_cstats;
    R.phase = PH_DONE;
    progress(R.t_end, true);
    ev_break(loop, EVBREAK_ALL);
}

static void on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    uint64_t now = now_ns();
    switch (R.phase) {
    case PH_SETUP: {
        bool all;
        if (O.scenario == SC_BROADCAST) {
            bconn *snd = &conns[O.clients];
            bool sender_settled = st(snd)->up || snd->state == BC_CLOSED;
            all = sender_settled && R.joined + R.failed >= (uint64_t)O.clients;
        } else {
            all = R.ready + R.failed >= nconns;
        }
        bool late = secs(now - R.t0) > O.setup_timeout;
        if (R.failed >= nconns || (all && R.ready == 0)) { /* nothing to measure */
            if (!O.quiet) fprintf(stderr, "\niogate-bench: no client could connect\n");
            R.t_setup = now;
            finish();
            return;
        }
        if (all || late) {
            if (late && !O.quiet)
                fprintf(stderr, "\niogate-bench: setup timed out: %llu of %zu clients ready\n",
                        (unsigned long long)R.ready, nconns);
            R.t_setup = now;
            start_traffic();
        }
        break;
    }
    case PH_WARMUP:
        if (secs(now - R.t_warm) >= O.warmup) {
            R.phase = PH_MEASURE;
            R.t_meas = now;
            proc_read(&R.p0);
            R.cpu0 = client_cpu_ns();
            R.cs0 = g_cstats;
        }
        break;
    case PH_MEASURE:
        if (secs(now - R.t_meas) >= O.duration) finish();
        break;
    case PH_DONE:
        break;
    }
    if (R.phase != PH_DONE) progress(now, false);
}

static void on_hard(struct ev_loop *l, ev_timer *w, int revents)
{
    R.timed_out = true;
    if (!O.quiet) fprintf(stderr, "\niogate-bench: hard time limit reached\n");
    finish();
}

/* Before every wait: send what is due, open what is missing, flush. */
static void on_prepare(struct ev_loop *l, ev_prepare *w, int revents)
{
    if (O.scenario == SC_FIXED) fixed_pump();
    if (O.scenario == SC_BROADCAST) bcast_pump();
    open_pump();
    bconn_flush_all();
}

static void on_timerfd(struct ev_loop *l, ev_io *w, int revents)
{
    uint64_t n;
    if (read(tfd, &n, sizeof(n)) < 0) { /* spurious: the pump re-arms */
    }
    fixed_pump();
    bconn_flush_all();
}

int bench_run_scenario(void)
{
    loop = EV_DEFAULT;
    bconn_global_init(loop);
    hist_reset(&R.lat);

    nconns = (size_t)O.clients + (O.scenario == SC_BROADCAST ? 1 : 0);
    if (O.scenario == SC_CONNECT) nconns = (size_t)O.inflight;
    conns = xcalloc(nconns, sizeof(*conns));
    cs = xcalloc(nconns, sizeof(*cs));
    ready_list = xcalloc(nconns, sizeof(*ready_list));
    for (size_t i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].slot = (int)i;
    }

    payload_len = (size_t)O.size + 2;
    payload = xmalloc(payload_len + 1);
    payload[0] = '"';
    memset(payload + 1, 'x', (size_t)O.size);
    payload[payload_len - 1] = '"';
    payload[payload_len] = 0;
    snprintf(room_arg, sizeof(room_arg), "\"%s\"", O.room);
    bcast_args_len = strlen(room_arg) + 1 + payload_len;
    bcast_args = xmalloc(bcast_args_len + 1);
    snprintf(bcast_args, bcast_args_len + 1, "%s,%s", room_arg, payload);
    if (O.scenario == SC_BROADCAST) {
        bts = xcalloc((size_t)O.window, sizeof(*bts));
        bdone = xcalloc((size_t)O.window, sizeof(*bdone));
    }

    proc_expand(&R.p0, O.pids, O.npids);
    R.p1 = R.p0;
    R.pbase = R.p0;
    proc_read(&R.pbase);

    R.t0 = now_ns();
    R.phase = PH_SETUP;
    ev_prepare_init(&prep, on_prepare);
    ev_prepare_start(loop, &prep);
    if (O.scenario == SC_FIXED) {
        prctl(PR_SET_TIMERSLACK, 1UL); /* wake at the scheduled time, not 50 µs later */
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (tfd < 0) {
            perror("iogate-bench: timerfd_create");
            return -1;
        }
        ev_io_init(&tfd_io, on_timerfd, tfd, EV_READ);
        ev_io_start(loop, &tfd_io);
    }
    ev_timer_init(&tick, on_tick, 0.05, 0.05);
    ev_timer_start(loop, &tick);
    ev_timer_init(&hard, on_hard, O.max_time, 0);
    ev_timer_start(loop, &hard);
    if (O.scenario == SC_CONNECT) {
        R.t_setup = R.t0;
        start_traffic();
    }

    ev_run(loop, 0);

    for (size_t i = 0; i < nconns; i++)
        bconn_close(&conns[i], true);
    for (size_t i = 0; i < nconns; i++) {
        bconn_free(&conns[i]);
        free(cs[i].ts);
    }
    free(conns);
    free(cs);
    free(ready_list);
    free(payload);
    free(bcast_args);
    free(bts);
    free(bdone);
    return 0;
}

const char *scenario_name(enum scenario s)
{
    static const char *n[] = {"echo", "broadcast", "connect", "idle", "fixed-rate"};
    return n[s];
}
