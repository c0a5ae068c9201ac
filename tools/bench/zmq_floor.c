/* zmq_floor.c — iogate-zmq-floor: what ZeroMQ alone costs on the path
 * gateway → worker → gateway, so `make bench` can show how much of a
 * round trip's CPU is libzmq's own and how much is ours (issue 12 item 6).
 *
 * Two processes ping-pong a message with nothing else around it:
 *   "gateway"  a ROUTER with ROUTER_MANDATORY, bound to an ipc:// endpoint
 *              in a private temporary directory, high-water marks and
 *              linger as gateway/router.c sets them; it sends each message
 *              to the worker's routing id and reads the answers;
 *   "worker"   a DEALER connected to it, options as workers/c/worker.c sets
 *              them; it sends every message straight back (the received
 *              zmq_msg_t itself: no copy, no parsing — the floor).
 * Both wait the way the real ones do: poll() on ZMQ_FD (edge-triggered, so
 * ZMQ_EVENTS is checked before blocking and receives are drained with
 * ZMQ_DONTWAIT).  The gateway side is also the load: woken by a timerfd at
 * each scheduled send (fixed-rate), as the real gateway is woken by each
 * client frame, or keeping --window messages in flight (saturated).
 *
 * This process only orchestrates: it forks the two, pins them (--cpu), steps
 * them through warm-up and measure through shared memory, and samples every
 * thread of both (libzmq's I/O threads included) from /proc: utime+stime
 * and voluntary+involuntary context switches.  Latency is taken by the
 * gateway side from the send time carried in the message (fixed-rate: the
 * scheduled time, so falling behind shows as queueing delay).
 *
 * Exit status as iogate-bench: 0, 1 when fewer than --min-ops round trips
 * were measured, 2 bad command line, 3 hard time limit. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define HWM 100000 /* gateway/sio.c's --ipc-sndhwm default, workers/c HWM */
#define BATCH 1024 /* messages handled per wake-up before polling again */
#define MAX_FRAMES 16
#define MAX_THREADS 32 /* per process: main + libzmq's I/O and reaper threads */

enum mode { M_FIXED = 0, M_SATURATED };
enum fphase { F_SETUP = 0, F_WARMUP, F_MEASURE, F_DONE };

static struct {
    enum mode mode;
    double rate, duration, warmup, setup_timeout, max_time;
    int window, size, frames, cpu;
    const char *json_path, *label;
    bool quiet;
    uint64_t min_ops;
} O = {.rate = 20000,
       .duration = 5,
       .warmup = 1,
       .setup_timeout = 10,
       .max_time = -1,
       .window = 400,
       .size = 100,
       .frames = 1,
       .cpu = -1,
       .min_ops = 1};

/* Shared (MAP_SHARED, before fork) between this process and the gateway
 * side: phases go down, counts and latencies come up. */
typedef struct {
    _Atomic int phase;
    _Atomic int ready;              /* the gateway side heard the worker's hello */
    _Atomic uint64_t t_meas, t_end; /* CLOCK_MONOTONIC ns, set by the orchestrator */
    uint64_t ops;                   /* round trips measured */
    uint64_t sent, received;        /* every phase */
    uint64_t skipped;               /* sends refused with EAGAIN (high-water mark) */
    uint64_t unroutable;            /* EHOSTUNREACH (ROUTER_MANDATORY) */
    char error[200];
    hist lat;
} shared_t;
static shared_t *S;

static char g_dir[256], g_endpoint[300];
static volatile sig_atomic_t g_stop;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_stop(int sig)
{
    g_stop = 1;
}

static void child_setup(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the orchestrator */
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (O.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(O.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            perror("iogate-zmq-floor: sched_setaffinity");
    }
}

static void set_error(const char *what)
{
    snprintf(S->error, sizeof S->error, "%s: %s", what, zmq_strerror(errno));
}

static int zevents(void *z)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(z, ZMQ_EVENTS, &ev, &len) != 0) return 0;
    return ev;
}

static int zfd(void *z)
{
    int fd = -1;
    size_t len = sizeof fd;
    zmq_getsockopt(z, ZMQ_FD, &fd, &len);
    return fd;
}

/* ------------------------------------------------------------------ */
/* The worker side: a DEALER that returns every message as it came. */

static int run_worker(void)
{
    child_setup();
    void *ctx = zmq_ctx_new();
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, hwm = HWM;
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(d, g_endpoint) != 0 || zmq_send(d, "hello", 5, 0) != 5) {
        set_error("worker: connect/hello");
        return 1;
    }
    struct pollfd p = {.fd = zfd(d), .events = POLLIN};
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (!g_stop) {
        for (int n = 0; n < BATCH; n++) {
            if (zmq_msg_recv(&m, d, ZMQ_DONTWAIT) < 0) break;
            /* the parts of one message arrive together: pass each on as read */
            int more = zmq_msg_more(&m);
            if (zmq_msg_send(&m, d, more ? ZMQ_SNDMORE : 0) < 0) {
                set_error("worker: send");
                zmq_msg_close(&m);
                zmq_msg_init(&m);
            }
        }
        if (zevents(d) & ZMQ_POLLIN) continue;
        poll(&p, 1, 100);
    }
    zmq_msg_close(&m);
    zmq_close(d);
    zmq_ctx_term(ctx);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The gateway side: a ROUTER that sends to the worker and times answers. */

static char rid[256];
static size_t rid_len;
static char *frame[MAX_FRAMES];
static size_t frame_len[MAX_FRAMES];
static uint64_t next_seq;

/* One message: the worker's routing id, then the frames; the first carries
 * the time the send was due (or made) and a sequence number. */
static int send_one(void *r, uint64_t t)
{
    memcpy(frame[0], &t, 8);
    memcpy(frame[0] + 8, &next_seq, 8);
    if (zmq_send(r, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) goto fail;
    for (int i = 0; i < O.frames; i++)
        if (zmq_send(r, frame[i], frame_len[i], (i + 1 < O.frames ? ZMQ_SNDMORE : 0)) < 0) {
            set_error("gateway: send");
            return -1;
        }
    next_seq++;
    S->sent++;
    return 0;
fail:
    if (errno == EAGAIN)
        S->skipped++;
    else if (errno == EHOSTUNREACH)
        S->unroutable++;
    else
        set_error("gateway: send");
    return -1;
}

/* An answer: its first frame (the rest, if any, is read and dropped). */
static void on_answer(const char *p, size_t n)
{
    uint64_t now = mono_ns(), t;
    S->received++;
    if (n < 16) {
        snprintf(S->error, sizeof S->error, "gateway: short answer (%zu bytes)", n);
        return;
    }
    memcpy(&t, p, 8);
    uint64_t tm = atomic_load(&S->t_meas), te = atomic_load(&S->t_end);
    if (!tm || now < tm || (te && now >= te)) return;
    /* fixed-rate: only messages scheduled inside the interval, as iogate-bench */
    if (O.mode == M_FIXED && t < tm) return;
    S->ops++;
    hist_add(&S->lat, now > t ? now - t : 0);
}

static int run_gateway(void)
{
    child_setup();
    void *ctx = zmq_ctx_new();
    void *r = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, zero = 0, hwm = HWM, tmo = (int)(O.setup_timeout * 1000);
    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (zmq_bind(r, g_endpoint) != 0) {
        set_error("gateway: bind");
        return 1;
    }
    /* The worker's hello tells its routing id, as HELLO does. */
    int n = zmq_recv(r, rid, sizeof rid, 0);
    char hello[16];
    if (n <= 0 || (size_t)n > sizeof rid || zmq_recv(r, hello, sizeof hello, 0) < 0) {
        set_error("gateway: no hello from the worker");
        return 1;
    }
    rid_len = (size_t)n;
    tmo = -1;
    zmq_setsockopt(r, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    atomic_store(&S->ready, 1);

    int tfd = -1;
    if (O.mode == M_FIXED) {
        prctl(PR_SET_TIMERSLACK, 1UL); /* wake at the scheduled time, not 50 µs later */
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (tfd < 0) {
            set_error("gateway: timerfd_create");
            return 1;
        }
    }
    struct pollfd p[2] = {{.fd = zfd(r), .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
    bool started = false;
    uint64_t t0 = 0, inflight_target = (uint64_t)O.window;
    double period = 1e9 / O.rate;
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (!g_stop) {
        int ph = atomic_load(&S->phase);
        if (ph == F_DONE) break;
        if (ph >= F_WARMUP && !started) {
            started = true;
            t0 = mono_ns();
            if (O.mode == M_FIXED) {
                uint64_t per = (uint64_t)period ? (uint64_t)period : 1;
                struct itimerspec its = {.it_interval = {.tv_sec = (time_t)(per / 1000000000u),
                                                         .tv_nsec = (long)(per % 1000000000u)},
                                         .it_value = {.tv_sec = (time_t)(t0 / 1000000000u),
                                                      .tv_nsec = (long)(t0 % 1000000000u)}};
                timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            }
        }
        if (started && O.mode == M_FIXED) {
            uint64_t now = mono_ns();
            for (int b = 0; b < 4096; b++) {
                uint64_t due = t0 + (uint64_t)((double)next_seq * period);
                if (due > now) break;
                if (send_one(r, due) < 0) next_seq++; /* counted as skipped */
            }
        }
        if (started && O.mode == M_SATURATED)
            while (S->sent - S->received < inflight_target && send_one(r, mono_ns()) == 0) {
            }
        for (int i = 0; i < BATCH; i++) {
            if (zmq_msg_recv(&m, r, ZMQ_DONTWAIT) < 0) break; /* the routing id */
            if (!zmq_msg_more(&m)) continue;
            if (zmq_msg_recv(&m, r, ZMQ_DONTWAIT) < 0) break;
            on_answer(zmq_msg_data(&m), zmq_msg_size(&m));
            while (zmq_msg_more(&m) && zmq_msg_recv(&m, r, ZMQ_DONTWAIT) >= 0) {
            }
            if (O.mode == M_SATURATED) send_one(r, mono_ns());
        }
        if (zevents(r) & ZMQ_POLLIN) continue;
        /* 20 ms at most: the orchestrator's phase changes are seen soon */
        if (poll(p, tfd >= 0 ? 2 : 1, 20) > 0 && tfd >= 0 && (p[1].revents & POLLIN)) {
            uint64_t x;
            if (read(tfd, &x, sizeof x) < 0) { /* spurious: the pump catches up */
            }
        }
    }
    zmq_msg_close(&m);
    zmq_close(r);
    zmq_ctx_term(ctx);
    return 0;
}

/* ------------------------------------------------------------------ */
/* /proc: every thread of both processes */

typedef struct {
    int pid, tid;
    char comm[32];
    uint64_t ticks;     /* utime+stime */
    uint64_t csw, icsw; /* context switches: all; the involuntary ones (preempted) */
} thread_sample;

typedef struct {
    thread_sample t[2 * MAX_THREADS];
    size_t n;
} sample;

static int read_thread(int pid, int tid, thread_sample *ts)
{
    char path[96], buf[1024];
    ts->pid = pid;
    ts->tid = tid;
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open) return -1;
    size_t cl = (size_t)(close - open - 1);
    if (cl >= sizeof ts->comm) cl = sizeof ts->comm - 1;
    memcpy(ts->comm, open + 1, cl);
    ts->comm[cl] = 0;
    unsigned long long ut, st;
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    ts->ticks = ut + st;
    ts->csw = ts->icsw = 0;
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
    if (!(f = fopen(path, "r"))) return -1;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0 ||
            strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0) {
            uint64_t v = strtoull(strchr(line, ':') + 1, NULL, 10);
            ts->csw += v;
            if (line[0] == 'n') ts->icsw += v;
        }
    fclose(f);
    return 0;
}

static void take_sample(sample *s, const int *pids)
{
    s->n = 0;
    for (int i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", pids[i]);
        DIR *d = opendir(path);
        if (!d) continue;
        struct dirent *e;
        size_t mine = 0;
        while ((e = readdir(d)) && mine < MAX_THREADS) {
            int tid = atoi(e->d_name);
            if (tid > 0 && read_thread(pids[i], tid, &s->t[s->n]) == 0) {
                s->n++;
                mine++;
            }
        }
        closedir(d);
    }
}

static const thread_sample *find_thread(const sample *s, int tid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i].tid == tid) return &s->t[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The orchestrator */

static int pids[2];  /* gateway side, worker side; 0 once reaped */
static int procs[2]; /* the same, kept for the report */

static void reap(void)
{
    for (int i = 0; i < 2; i++)
        if (pids[i] > 0) kill(pids[i], SIGTERM);
    for (int i = 0; i < 2; i++) {
        if (pids[i] <= 0) continue;
        int st;
        for (int k = 0; k < 100 && waitpid(pids[i], &st, WNOHANG) == 0; k++)
            usleep(20000);
        if (waitpid(pids[i], &st, WNOHANG) == 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], &st, 0);
        }
        pids[i] = 0;
    }
    char sock[300];
    snprintf(sock, sizeof sock, "%s/floor.sock", g_dir);
    unlink(sock);
    rmdir(g_dir);
}

static bool children_alive(void)
{
    for (int i = 0; i < 2; i++) {
        int st;
        if (waitpid(pids[i], &st, WNOHANG) != 0) {
            pids[i] = 0;
            return false;
        }
    }
    return true;
}

/* Sleep until `until`, the hard limit or a child's death. */
static bool wait_until(uint64_t until, uint64_t hard)
{
    while (!g_stop) {
        uint64_t now = mono_ns();
        if (now >= until) return true;
        if (now >= hard || !children_alive()) return false;
        uint64_t left = until - now;
        if (left > 20000000u) left = 20000000u;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void loadavg(double *out)
{
    FILE *f = fopen("/proc/loadavg", "r");
    *out = -1;
    if (f) {
        if (fscanf(f, "%lf", out) != 1) *out = -1;
        fclose(f);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: iogate-zmq-floor [options] MODE\n"
            "ZeroMQ alone, as iogate uses it: a ROUTER (ROUTER_MANDATORY, bound to ipc://) in\n"
            "one process and a DEALER in another ping-pong a message; CPU of both processes\n"
            "(all threads) per round trip, context switches, latency.\n"
            "\n"
            "Modes:\n"
            "  fixed-rate  one message every 1/R s (timerfd); latency from the scheduled time\n"
            "  saturated   W messages in flight, each answer sends the next\n"
            "\n"
            "Options:\n"
            "  -r, --rate R           fixed-rate: round trips per second (20000)\n"
            "  -w, --window W         saturated: messages in flight (400)\n"
            "  -s, --size BYTES       message size, >= 16 (100)\n"
            "  -f, --frames N         split the message into N frames, 1..%d (1)\n"
            "  -C, --cpu N            pin both processes to CPU N (this one stays put)\n"
            "  -d, --duration SEC     measured time (5)\n"
            "  -W, --warmup SEC       unmeasured traffic first (1)\n"
            "      --setup-timeout S  give up when the two have not met after S s (10)\n"
            "      --max-time SEC     hard bound on the whole run (setup+warm-up+duration+30)\n"
            "  -j, --json FILE        also write the results as JSON\n"
            "  -l, --label TEXT       label for the report and JSON\n"
            "      --min-ops N        exit 1 if fewer round trips were measured (1)\n"
            "  -q, --quiet            (accepted for iogate-bench's command lines)\n"
            "  -h, --help\n",
            MAX_FRAMES);
}

int main(int argc, char **argv)
{
    enum { OPT_SETUP = 256, OPT_MAXT, OPT_MINOPS };
    static const struct option lo[] = {{"rate", 1, 0, 'r'},
                                       {"window", 1, 0, 'w'},
                                       {"size", 1, 0, 's'},
                                       {"frames", 1, 0, 'f'},
                                       {"cpu", 1, 0, 'C'},
                                       {"duration", 1, 0, 'd'},
                                       {"warmup", 1, 0, 'W'},
                                       {"setup-timeout", 1, 0, OPT_SETUP},
                                       {"max-time", 1, 0, OPT_MAXT},
                                       {"json", 1, 0, 'j'},
                                       {"label", 1, 0, 'l'},
                                       {"min-ops", 1, 0, OPT_MINOPS},
                                       {"quiet", 0, 0, 'q'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "r:w:s:f:C:d:W:j:l:qh", lo, NULL)) != -1) {
        switch (ch) {
        case 'r':
            O.rate = atof(optarg);
            break;
        case 'w':
            O.window = atoi(optarg);
            break;
        case 's':
            O.size = atoi(optarg);
            break;
        case 'f':
            O.frames = atoi(optarg);
            break;
        case 'C':
            O.cpu = atoi(optarg);
            break;
        case 'd':
            O.duration = atof(optarg);
            break;
        case 'W':
            O.warmup = atof(optarg);
            break;
        case OPT_SETUP:
            O.setup_timeout = atof(optarg);
            break;
        case OPT_MAXT:
            O.max_time = atof(optarg);
            break;
        case 'j':
            O.json_path = optarg;
            break;
        case 'l':
            O.label = optarg;
            break;
        case OPT_MINOPS:
            O.min_ops = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            O.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[optind], "fixed-rate") == 0 || strcmp(argv[optind], "fixed") == 0)
        O.mode = M_FIXED;
    else if (strcmp(argv[optind], "saturated") == 0)
        O.mode = M_SATURATED;
    else {
        usage(stderr);
        return 2;
    }
    if (O.rate <= 0 || O.rate > 1e7 || O.window < 1 || O.window > HWM / 2 || O.size < 16 ||
        O.size > 1 << 20 || O.frames < 1 || O.frames > MAX_FRAMES || O.duration <= 0 ||
        O.warmup < 0 || O.setup_timeout <= 0 || O.cpu < -1 || O.cpu >= CPU_SETSIZE) {
        fprintf(stderr, "iogate-zmq-floor: option out of range\n");
        return 2;
    }
    if (O.max_time <= 0) O.max_time = O.setup_timeout + O.warmup + O.duration + 30;

    /* the frames: the first gets what the others (size/frames each) leave */
    size_t each = (size_t)O.size / (size_t)O.frames;
    for (int i = 0; i < O.frames; i++) {
        frame_len[i] = i ? each : (size_t)O.size - each * (size_t)(O.frames - 1);
        if (!(frame[i] = malloc(frame_len[i] + 1))) return 1;
        memset(frame[i], 'x', frame_len[i]);
    }

    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED) {
        perror("iogate-zmq-floor: mmap");
        return 1;
    }
    hist_reset(&S->lat);
    /* a private directory (mode 0700), as the gateway's own endpoint */
    const char *base = getenv("XDG_RUNTIME_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/iogate-zmq-floor-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("iogate-zmq-floor: mkdtemp");
        return 1;
    }
    snprintf(g_endpoint, sizeof g_endpoint, "ipc://%s/floor.sock", g_dir);

    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    double load[2];
    loadavg(&load[0]);
    uint64_t t_start = mono_ns(), hard = t_start + (uint64_t)(O.max_time * 1e9);
    for (int i = 0; i < 2; i++) {
        pid_t p = fork();
        if (p < 0) {
            perror("iogate-zmq-floor: fork");
            reap();
            return 1;
        }
        if (p == 0) _exit(i == 0 ? run_gateway() : run_worker());
        pids[i] = procs[i] = p;
    }

    /* setup: the two have met */
    bool ok = true, timed_out = false;
    uint64_t setup_end = t_start + (uint64_t)(O.setup_timeout * 1e9);
    while (!atomic_load(&S->ready) && ok) {
        ok = !g_stop && children_alive() && mono_ns() < setup_end;
        usleep(2000);
    }
    double setup_s = (double)(mono_ns() - t_start) / 1e9;
    sample s0 = {0}, s1 = {0};
    uint64_t t_meas = 0, t_end = 0;
    if (ok) {
        atomic_store(&S->phase, F_WARMUP);
        ok = wait_until(mono_ns() + (uint64_t)(O.warmup * 1e9), hard);
    }
    if (ok) {
        t_meas = mono_ns();
        atomic_store(&S->t_meas, t_meas);
        atomic_store(&S->phase, F_MEASURE);
        take_sample(&s0, pids);
        ok = wait_until(t_meas + (uint64_t)(O.duration * 1e9), hard);
        t_end = mono_ns();
        atomic_store(&S->t_end, t_end);
        take_sample(&s1, pids);
        if (!ok && mono_ns() >= hard) timed_out = true;
    }
    atomic_store(&S->phase, F_DONE);
    reap();
    loadavg(&load[1]);

    /* ---------------------------------------------------------- report */
    double secs = t_end > t_meas ? (double)(t_end - t_meas) / 1e9 : 0;
    uint64_t ops = S->ops;
    double tck = (double)proc_clk_tck();
    double cpu_us = 0, csw = 0, icsw = 0;
    json_t *threads = json_array();
    for (size_t i = 0; i < s1.n; i++) {
        const thread_sample *b = &s1.t[i], *a = find_thread(&s0, b->tid);
        if (!a) continue;
        double us = (double)(b->ticks - a->ticks) * 1e6 / tck, sw = (double)(b->csw - a->csw);
        icsw += (double)(b->icsw - a->icsw);
        cpu_us += us;
        csw += sw;
        json_array_append_new(threads,
                              json_pack("{s:s, s:s, s:b, s:f, s:f, s:f}", "process",
                                        b->pid == procs[0] ? "gateway" : "worker", "thread",
                                        b->comm, "main", b->tid == b->pid, "cpu_us", us,
                                        "cpu_us_per_op", ops ? us / (double)ops : 0.0,
                                        "ctx_switches_per_op", ops ? sw / (double)ops : 0.0));
    }
    double lat[6];
    static const double q[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (int i = 0; i < 5; i++)
        lat[i] = (double)hist_quantile(&S->lat, q[i]) / 1e3;
    lat[5] = S->lat.count ? (double)S->lat.sum_ns / (double)S->lat.count / 1e3 : 0;
    double rate = secs > 0 ? (double)ops / secs : 0;
    uint64_t unanswered = S->sent - S->received;

    const char *mode = O.mode == M_FIXED ? "fixed-rate" : "saturated";
    printf("\n== iogate-zmq-floor %s%s%s ==\n", mode, O.label ? " — " : "", O.label ? O.label : "");
    printf("path        ROUTER (ROUTER_MANDATORY) ⇄ DEALER over %s\n", g_endpoint);
    printf("load        %d frame(s), %d bytes  ", O.frames, O.size);
    if (O.mode == M_FIXED)
        printf("rate %.0f/s", O.rate);
    else
        printf("window %d", O.window);
    if (O.cpu >= 0) printf("  both processes on CPU %d", O.cpu);
    printf("\n");
    printf("measured    %.2f s  (setup %.2f s)\n", secs, setup_s);
    printf("round trips %llu  (%.0f/s)\n", (unsigned long long)ops, rate);
    if (S->lat.count)
        printf("latency µs  p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  mean %.0f\n",
               lat[0], lat[1], lat[2], lat[3], lat[4], lat[5]);
    printf("CPU         %.2f µs/round trip, both processes, all threads  (%.0f%% of a core)\n",
           ops ? cpu_us / (double)ops : 0.0, secs > 0 ? cpu_us / (secs * 1e6) * 100 : 0.0);
    printf("switches    %.2f context switches/round trip (%.2f of them involuntary)\n",
           ops ? csw / (double)ops : 0.0, ops ? icsw / (double)ops : 0.0);
    for (size_t i = 0; i < json_array_size(threads); i++) {
        json_t *t = json_array_get(threads, i);
        double us = json_real_value(json_object_get(t, "cpu_us"));
        if (us <= 0 && !json_is_true(json_object_get(t, "main"))) continue;
        printf("  %-8s %-14s %6.2f µs/round trip  %5.1f%%  %.2f switches/round trip\n",
               json_string_value(json_object_get(t, "process")),
               json_string_value(json_object_get(t, "thread")),
               json_real_value(json_object_get(t, "cpu_us_per_op")),
               cpu_us > 0 ? us / cpu_us * 100 : 0.0,
               json_real_value(json_object_get(t, "ctx_switches_per_op")));
    }
    printf("errors      skipped %llu  unroutable %llu  unanswered at the end %llu%s%s\n",
           (unsigned long long)S->skipped, (unsigned long long)S->unroutable,
           (unsigned long long)unanswered, S->error[0] ? "  last: " : "", S->error);
    if (timed_out) printf("TIMED OUT (hard limit %.0f s)\n", O.max_time);
    fflush(stdout);

    int rc = 0;
    if (O.json_path) {
        json_t *o = json_pack(
            "{s:s, s:s, s:s?, s:{s:s, s:f, s:i, s:i, s:i, s:i, s:f, s:f}, s:f, s:I, s:f, "
            "s:{s:f, s:f, s:f, s:f, s:f, s:f, s:I}, "
            "s:{s:[i,i], s:f, s:f, s:f, s:f, s:f, s:o}, "
            "s:{s:I, s:I, s:I, s:s?}, s:b, s:[f,f]}",
            "scenario", "zmq-floor", "mode", mode, "label", O.label, "params", "endpoint", "ipc",
            "rate", O.rate, "window", O.window, "size", O.size, "frames", O.frames, "cpu", O.cpu,
            "duration", O.duration, "warmup", O.warmup, "seconds", secs, "ops", (json_int_t)ops,
            "ops_per_sec", rate, "latency_us", "p50", lat[0], "p90", lat[1], "p99", lat[2], "p999",
            lat[3], "max", lat[4], "mean", lat[5], "count", (json_int_t)S->lat.count, "server",
            "pids", procs[0], procs[1], "cpu_us", cpu_us, "cpu_us_per_op",
            ops ? cpu_us / (double)ops : 0.0, "cpu_pct",
            secs > 0 ? cpu_us / (secs * 1e6) * 100 : 0.0, "ctx_switches_per_op",
            ops ? csw / (double)ops : 0.0, "involuntary_switches_per_op",
            ops ? icsw / (double)ops : 0.0, "threads", threads, "errors", "skipped",
            (json_int_t)S->skipped, "unroutable", (json_int_t)S->unroutable, "unanswered",
            (json_int_t)unanswered, "last", S->error[0] ? S->error : NULL, "timed_out", timed_out,
            "loadavg", load[0], load[1]);
        threads = NULL;
        if (!o || json_dump_file(o, O.json_path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) < 0) {
            fprintf(stderr, "iogate-zmq-floor: cannot write %s\n", O.json_path);
            rc = 1;
        }
        json_decref(o);
    }
    json_decref(threads);
    if (timed_out) return 3;
    if (ops < O.min_ops) {
        fprintf(stderr,
                "iogate-zmq-floor: only %llu round trips measured (at least %llu wanted)%s%s\n",
                (unsigned long long)ops, (unsigned long long)O.min_ops, S->error[0] ? ": " : "",
                S->error);
        return 1;
    }
    return rc;
}
