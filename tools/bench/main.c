/* main.c — iogate-bench: a Socket.IO v5 / Engine.IO v4 load generator for
 * any Socket.IO server (iogate, the Node.js reference, …), in the spirit of
 * redis-benchmark.  This file reads the command line, checks the target is
 * on loopback, raises the fd limit, runs one scenario (scenarios.c) and
 * prints a table and, with --json, a JSON object.  Exit status: 0 when at
 * least --min-ops operations were measured, 1 when fewer (no traffic got
 * through), 2 for a bad command line, 3 when the hard time limit hit. */
#include "scenarios.h"
#include "util.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: iogate-bench [options] SCENARIO\n"
               "A Socket.IO v5 / Engine.IO v4 load generator (WebSocket and long-polling).\n"
               "\n"
               "Scenarios:\n"
               "  echo        N clients, W outstanding emits each; an operation is a round trip\n"
               "  broadcast   N clients join a room, one more client emits bcast(room, payload);\n"
               "              an operation is one delivery of the room event at one client\n"
               "  connect     K clients in a loop: handshake, namespace connect, close\n"
               "  idle        hold N connections; server memory per connection\n"
               "  fixed-rate  echo at an offered rate; latency from the scheduled send time\n"
               "\n"
               "Options:\n"
               "  -u, --url URL          target, [http[s]://]HOST:PORT[/PATH] "
               "(127.0.0.1:3000/socket.io/);\n"
               "                         https:// for TLS (WSS / HTTPS polling; not verified)\n"
               "      --nsp NSP          namespace (/)\n"
               "  -c, --clients N        clients (50; idle 1000; broadcast: receivers)\n"
               "  -w, --window W         outstanding emits per client / broadcasts (1)\n"
               "  -s, --size BYTES       payload string length (32)\n"
               "  -a, --ack              echo: ask for an ack and count acks\n"
               "  -k, --inflight K       handshakes in flight (64; the K of connect)\n"
               "  -t, --transport T      websocket | polling (connect, idle) (websocket)\n"
               "  -r, --rate R           fixed-rate: messages per second, all clients (20000)\n"
               "  -d, --duration SEC     measured time (5; idle: how long to hold)\n"
               "  -W, --warmup SEC       unmeasured traffic first (1)\n"
               "      --setup-timeout S  give up waiting for clients after S s (30)\n"
               "      --max-time SEC     hard bound on the whole run (setup+warm-up+duration+30)\n"
               "      --event NAME       event to emit (echo)\n"
               "      --reply-event NAME event that answers it (echo)\n"
               "      --join-event NAME / --joined-event NAME      (join / joined)\n"
               "      --bcast-event NAME / --recv-event NAME       (bcast / b)\n"
               "      --room NAME        broadcast room (bench)\n"
               "  -b, --bind LIST        source addresses: A,B,… or A-B (127.0.0.1-127.0.0.8)\n"
               "  -p, --pids LIST        server pids (their descendants are added): CPU/RSS\n"
               "  -j, --json FILE        also write the results as JSON\n"
               "  -l, --label TEXT       label for the report and JSON\n"
               "      --min-ops N        exit 1 if fewer operations were measured (1)\n"
               "      --allow-remote     allow a target or source outside 127.0.0.0/8\n"
               "  -q, --quiet            no progress line\n"
               "  -h, --help\n");
}

static int parse_scenario(const char *s, enum scenario *out)
{
    static const struct {
        const char *n;
        enum scenario s;
    } t[] = {{"echo", SC_ECHO}, {"broadcast", SC_BROADCAST}, {"connect", SC_CONNECT},
             {"idle", SC_IDLE}, {"fixed-rate", SC_FIXED},    {"fixed", SC_FIXED}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(s, t[i].n) == 0) {
            *out = t[i].s;
            return 0;
        }
    return -1;
}

static bool is_loopback(struct in_addr a)
{
    return (ntohl(a.s_addr) >> 24) == 127;
}

/* [http://|https://]host:port[/path]; https (or wss) speaks TLS: a client
 * context that does not verify the certificate (the bench measures the
 * server's TLS cost, not a trust decision). */
static int parse_url(const char *url, bench_target *t, const char **why)
{
    if (strncmp(url, "http://", 7) == 0) url += 7;
    if (strncmp(url, "ws://", 5) == 0) url += 5;
    if (strncmp(url, "https://", 8) == 0 || strncmp(url, "wss://", 6) == 0) {
        url += url[0] == 'h' ? 8 : 6;
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx) return *why = "cannot create a TLS context", -1;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        t->tls = ctx;
    }
    const char *slash = strchr(url, '/');
    size_t hl = slash ? (size_t)(slash - url) : strlen(url);
    char hp[256];
    if (hl == 0 || hl >= sizeof(hp)) return *why = "bad host:port", -1;
    memcpy(hp, url, hl);
    hp[hl] = 0;
    snprintf(t->hostport, sizeof(t->hostport), "%s", hp);
    char *colon = strrchr(hp, ':');
    int port = t->tls ? 443 : 80;
    if (colon) {
        *colon = 0;
        port = atoi(colon + 1);
        if (port <= 0 || port > 65535) return *why = "bad port", -1;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(hp, NULL, &hints, &res) != 0) return *why = "cannot resolve host (IPv4)", -1;
    t->addr = *(struct sockaddr_in *)res->ai_addr;
    t->addr.sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    const char *path = slash && slash[1] ? slash : "/socket.io/";
    snprintf(t->path, sizeof(t->path), "%s", path);
    return 0;
}

/* A,B,C or A-B (inclusive, last octets counting up). */
static int parse_bind(const char *list, bench_target *t, const char **why)
{
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok, '-');
        struct in_addr a, b;
        if (dash) *dash = 0;
        if (inet_pton(AF_INET, tok, &a) != 1 || (dash && inet_pton(AF_INET, dash + 1, &b) != 1)) {
            free(copy);
            return *why = "bad source address", -1;
        }
        uint32_t lo = ntohl(a.s_addr), hi = dash ? ntohl(b.s_addr) : lo;
        if (hi < lo || hi - lo > 1024) {
            free(copy);
            return *why = "bad source range", -1;
        }
        for (uint32_t x = lo; x <= hi; x++) {
            t->src = xrealloc(t->src, (t->nsrc + 1) * sizeof(*t->src));
            t->src[t->nsrc++].s_addr = htonl(x);
        }
    }
    free(copy);
    return 0;
}

static int parse_pids(const char *list)
{
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int pid = atoi(tok);
        if (pid <= 0 || O.npids >= 16) {
            free(copy);
            return -1;
        }
        O.pids[O.npids++] = pid;
    }
    free(copy);
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)O.clients + 64 > rl.rlim_cur)
        fprintf(stderr, "iogate-bench: warning: %d clients but only %llu file descriptors\n",
                O.clients, (unsigned long long)rl.rlim_cur);
}

/* ------------------------------------------------------------------ */
/* Report */

typedef struct {
    double seconds, rate, lat_us[6]; /* p50 p90 p99 p99.9 max mean */
    double srv_cpu_us, srv_cpu_per_op, srv_cpu_pct, cli_cpu_pct;
    double rss_kb, rss_base_kb, rss_per_conn;
    uint64_t ops, conns;
} summary;

static void summarise(summary *s)
{
    memset(s, 0, sizeof(*s));
    uint64_t t_meas = R.t_meas ? R.t_meas : R.t_end;
    s->seconds = (double)(R.t_end - t_meas) / 1e9;
    s->ops = R.ops;
    s->conns = R.ready - R.lost;
    if (O.scenario == SC_IDLE) s->ops = s->conns;
    s->rate = s->seconds > 0 && O.scenario != SC_IDLE ? (double)s->ops / s->seconds : 0;
    static const double q[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (int i = 0; i < 5; i++)
        s->lat_us[i] = (double)hist_quantile(&R.lat, q[i]) / 1e3;
    s->lat_us[5] = R.lat.count ? (double)R.lat.sum_ns / (double)R.lat.count / 1e3 : 0;
    if (O.npids) {
        s->srv_cpu_us = (double)(R.p1.cpu_ticks - R.p0.cpu_ticks) * 1e6 / (double)proc_clk_tck();
        s->srv_cpu_per_op = s->ops ? s->srv_cpu_us / (double)s->ops : 0;
        s->srv_cpu_pct = s->seconds > 0 ? s->srv_cpu_us / (s->seconds * 1e6) * 100 : 0;
        s->rss_kb = (double)R.p1.rss_kb;
        s->rss_base_kb = (double)R.pbase.rss_kb;
        if (s->conns)
            s->rss_per_conn =
                ((double)R.p1.rss_kb - (double)R.pbase.rss_kb) * 1024 / (double)s->conns;
    }
    s->cli_cpu_pct = s->seconds > 0 ? (double)(R.cpu1 - R.cpu0) / (s->seconds * 1e9) * 100 : 0;
}

static void print_table(const summary *s)
{
    const char *unit[] = {"round trips", "deliveries", "connects", "connections", "replies"};
    printf("\n== iogate-bench %s%s%s ==\n", scenario_name(O.scenario), O.label ? " — " : "",
           O.label ? O.label : "");
    printf("target      %s%s  namespace %s  transport %s\n", O.target.hostport, O.target.path,
           O.target.nsp, O.transport == BT_POLLING ? "polling" : "websocket");
    printf("load        clients %d  window %d  size %d  ack %s  inflight %d", O.clients, O.window,
           O.size, O.ack ? "yes" : "no", O.inflight);
    if (O.scenario == SC_FIXED) printf("  rate %.0f/s", O.rate);
    printf("\nmeasured    %.2f s  (setup %.2f s)\n", s->seconds, (double)(R.t_setup - R.t0) / 1e9);
    printf("%-11s %llu", unit[O.scenario], (unsigned long long)s->ops);
    if (O.scenario != SC_IDLE) printf("  (%.0f/s)", s->rate);
    printf("\n");
    if (R.lat.count)
        printf("latency µs  p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  mean %.0f\n",
               s->lat_us[0], s->lat_us[1], s->lat_us[2], s->lat_us[3], s->lat_us[4], s->lat_us[5]);
    if (O.npids) {
        printf("server      %zu processes  CPU %.1f µs/op  (%.0f%% of a core)  RSS %.1f MB", R.p1.n,
               s->srv_cpu_per_op, s->srv_cpu_pct, s->rss_kb / 1024);
        if (O.scenario == SC_IDLE)
            printf("  (%.0f bytes/connection above %.1f MB)", s->rss_per_conn,
                   s->rss_base_kb / 1024);
        printf("\n");
    }
    printf("client      CPU %.0f%% of a core  msgs out %llu in %llu  pings %llu\n", s->cli_cpu_pct,
           (unsigned long long)(R.cs1.msgs_out - R.cs0.msgs_out),
           (unsigned long long)(R.cs1.msgs_in - R.cs0.msgs_in),
           (unsigned long long)(R.cs1.pings - R.cs0.pings));
    printf("errors      connection %llu  protocol %llu  unexpected %llu  lost %llu  failed %llu"
           "  skipped %llu%s%s\n",
           (unsigned long long)R.cs1.conn_errors, (unsigned long long)R.cs1.proto_errors,
           (unsigned long long)R.unexpected, (unsigned long long)R.lost,
           (unsigned long long)R.failed, (unsigned long long)R.skipped,
           R.cs1.last_error ? "  last: " : "", R.cs1.last_error ? R.cs1.last_error : "");
    if (R.timed_out) printf("TIMED OUT (hard limit %.0f s)\n", O.max_time);
}

static void loadavg(double *out)
{
    FILE *f = fopen("/proc/loadavg", "r");
    out[0] = -1;
    if (f) {
        if (fscanf(f, "%lf", out) != 1) out[0] = -1;
        fclose(f);
    }
}

static double g_load[2]; /* 1-minute load average before and after the run */

static int write_json(const summary *s, const char *path)
{
    json_t *pids = json_array();
    for (size_t i = 0; i < R.p1.n; i++)
        json_array_append_new(pids, json_integer(R.p1.pid[i]));
    json_t *o = json_pack(
        "{s:s, s:s?, s:{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:i, s:f, s:f, s:f}, "
        "s:f, s:I, s:f, s:I, "
        "s:{s:f, s:f, s:f, s:f, s:f, s:f, s:I}, "
        "s:{s:o, s:f, s:f, s:f, s:f, s:f, s:f}, "
        "s:{s:f, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:s?}, s:b}",
        "scenario", scenario_name(O.scenario), "label", O.label, "params", "target",
        O.target.hostport, "path", O.target.path, "namespace", O.target.nsp, "transport",
        O.transport == BT_POLLING ? "polling" : "websocket", "clients", O.clients, "window",
        O.window, "size", O.size, "ack", O.ack, "inflight", O.inflight, "rate", O.rate, "duration",
        O.duration, "warmup", O.warmup, "seconds", s->seconds, "ops", (json_int_t)s->ops,
        "ops_per_sec", s->rate, "connections", (json_int_t)s->conns, "latency_us", "p50",
        s->lat_us[0], "p90", s->lat_us[1], "p99", s->lat_us[2], "p999", s->lat_us[3], "max",
        s->lat_us[4], "mean", s->lat_us[5], "count", (json_int_t)R.lat.count, "server", "pids",
        pids, "cpu_us", s->srv_cpu_us, "cpu_us_per_op", s->srv_cpu_per_op, "cpu_pct",
        s->srv_cpu_pct, "rss_kb", s->rss_kb, "rss_base_kb", s->rss_base_kb, "rss_bytes_per_conn",
        s->rss_per_conn, "client", "cpu_pct", s->cli_cpu_pct, "msgs_out",
        (json_int_t)(R.cs1.msgs_out - R.cs0.msgs_out), "msgs_in",
        (json_int_t)(R.cs1.msgs_in - R.cs0.msgs_in), "bytes_out",
        (json_int_t)(R.cs1.bytes_out - R.cs0.bytes_out), "bytes_in",
        (json_int_t)(R.cs1.bytes_in - R.cs0.bytes_in), "errors", "connection",
        (json_int_t)R.cs1.conn_errors, "protocol", (json_int_t)R.cs1.proto_errors, "unexpected",
        (json_int_t)R.unexpected, "lost", (json_int_t)R.lost, "failed", (json_int_t)R.failed,
        "skipped", (json_int_t)R.skipped, "last", R.cs1.last_error, "timed_out", R.timed_out);
    if (!o) {
        fprintf(stderr, "iogate-bench: cannot build JSON\n");
        return -1;
    }
    /* Other processes on the machine skew every figure: say how busy it was. */
    json_object_set_new(o, "loadavg", json_pack("[f,f]", g_load[0], g_load[1]));
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (rc < 0) fprintf(stderr, "iogate-bench: cannot write %s\n", path);

    return rc;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    enum {
        OPT_NSP = 256,
        OPT_SETUP,
        OPT_MAXT,
        OPT_EVENT,
        OPT_REPLY,
        OPT_JOIN,
        OPT_JOINED,
        OPT_BCAST,
        OPT_RECV,
        OPT_ROOM,
        OPT_MINOPS,
        OPT_REMOTE
    };
    static const struct option lo[] = {{"url", 1, 0, 'u'},
                                       {"nsp", 1, 0, OPT_NSP},
                                       {"clients", 1, 0, 'c'},
                                       {"window", 1, 0, 'w'},
                                       {"size", 1, 0, 's'},
                                       {"ack", 0, 0, 'a'},
                                       {"inflight", 1, 0, 'k'},
                                       {"transport", 1, 0, 't'},
                                       {"rate", 1, 0, 'r'},
                                       {"duration", 1, 0, 'd'},
                                       {"warmup", 1, 0, 'W'},
                                       {"setup-timeout", 1, 0, OPT_SETUP},
                                       {"max-time", 1, 0, OPT_MAXT},
                                       {"event", 1, 0, OPT_EVENT},
                                       {"reply-event", 1, 0, OPT_REPLY},
                                       {"join-event", 1, 0, OPT_JOIN},
                                       {"joined-event", 1, 0, OPT_JOINED},
                                       {"bcast-event", 1, 0, OPT_BCAST},
                                       {"recv-event", 1, 0, OPT_RECV},
                                       {"room", 1, 0, OPT_ROOM},
                                       {"bind", 1, 0, 'b'},
                                       {"pids", 1, 0, 'p'},
                                       {"json", 1, 0, 'j'},
                                       {"label", 1, 0, 'l'},
                                       {"min-ops", 1, 0, OPT_MINOPS},
                                       {"allow-remote", 0, 0, OPT_REMOTE},
                                       {"quiet", 0, 0, 'q'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *url = "127.0.0.1:3000/socket.io/", *nsp = "/", *bind_list = NULL, *why = NULL;
    O.clients = -1;
    O.window = 1;
    O.size = 32;
    O.inflight = 64;
    O.rate = 20000;
    O.duration = 5;
    O.warmup = 1;
    O.setup_timeout = 30;
    O.max_time = -1;
    O.event = O.reply_event = "echo";
    O.join_event = "join";
    O.joined_event = "joined";
    O.bcast_event = "bcast";
    O.recv_event = "b";
    O.room = "bench";
    O.min_ops = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "u:c:w:s:ak:t:r:d:W:b:p:j:l:qh", lo, NULL)) != -1) {
        switch (ch) {
        case 'u':
            url = optarg;
            break;
        case OPT_NSP:
            nsp = optarg;
            break;
        case 'c':
            O.clients = atoi(optarg);
            break;
        case 'w':
            O.window = atoi(optarg);
            break;
        case 's':
            O.size = atoi(optarg);
            break;
        case 'a':
            O.ack = true;
            break;
        case 'k':
            O.inflight = atoi(optarg);
            break;
        case 't':
            if (strcmp(optarg, "websocket") == 0)
                O.transport = BT_WEBSOCKET;
            else if (strcmp(optarg, "polling") == 0)
                O.transport = BT_POLLING;
            else
                goto bad;
            break;
        case 'r':
            O.rate = atof(optarg);
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
        case OPT_EVENT:
            O.event = optarg;
            break;
        case OPT_REPLY:
            O.reply_event = optarg;
            break;
        case OPT_JOIN:
            O.join_event = optarg;
            break;
        case OPT_JOINED:
            O.joined_event = optarg;
            break;
        case OPT_BCAST:
            O.bcast_event = optarg;
            break;
        case OPT_RECV:
            O.recv_event = optarg;
            break;
        case OPT_ROOM:
            O.room = optarg;
            break;
        case 'b':
            bind_list = optarg;
            break;
        case 'p':
            if (parse_pids(optarg) < 0) goto bad;
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
        case OPT_REMOTE:
            O.allow_remote = true;
            break;
        case 'q':
            O.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc - 1 || parse_scenario(argv[optind], &O.scenario) < 0) goto bad;
    if (O.clients < 0)
        O.clients = O.scenario == SC_IDLE ? 1000 : O.scenario == SC_BROADCAST ? 100 : 50;
    if (O.clients < 1 || O.window < 1 || O.size < 0 || O.inflight < 1 || O.rate <= 0 ||
        O.duration <= 0 || O.warmup < 0 || strlen(O.room) > 100 || strlen(O.event) > 100 ||
        strlen(O.bcast_event) > 100 || strlen(O.join_event) > 100) {
        fprintf(stderr, "iogate-bench: option out of range\n");
        return 2;
    }
    if (O.transport == BT_POLLING && O.scenario != SC_CONNECT) {
        fprintf(stderr, "iogate-bench: polling is for the connect scenario only\n");
        return 2;
    }
    if (parse_url(url, &O.target, &why) < 0 ||
        (bind_list && parse_bind(bind_list, &O.target, &why) < 0)) {
        fprintf(stderr, "iogate-bench: %s\n", why);
        return 2;
    }
    if (nsp[0] != '/' || strlen(nsp) >= sizeof(O.target.nsp) || strpbrk(nsp, ",\"\\")) {
        fprintf(stderr, "iogate-bench: bad namespace\n");
        return 2;
    }
    snprintf(O.target.nsp, sizeof(O.target.nsp), "%s", nsp);
    O.target.nsp_len = strlen(nsp);
    if (!O.allow_remote) {
        bool ok = is_loopback(O.target.addr.sin_addr);
        for (size_t i = 0; i < O.target.nsrc; i++)
            ok = ok && is_loopback(O.target.src[i]);
        if (!ok) {
            fprintf(stderr, "iogate-bench: refusing a target or source outside 127.0.0.0/8 "
                            "(--allow-remote to insist)\n");
            return 2;
        }
    }
    if (O.max_time <= 0) O.max_time = O.setup_timeout + O.warmup + O.duration + 30;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    loadavg(&g_load[0]);
    bench_run_scenario();
    loadavg(&g_load[1]);

    summary s;
    summarise(&s);
    print_table(&s);
    fflush(stdout);
    if (O.json_path && write_json(&s, O.json_path) < 0) return 1;
    if (R.timed_out) return 3;
    if (s.ops < O.min_ops) {
        fprintf(stderr, "iogate-bench: only %llu operations measured (at least %llu wanted)\n",
                (unsigned long long)s.ops, (unsigned long long)O.min_ops);
        return 1;
    }
    return 0;
bad:
    usage(stderr);
    return 2;
}
