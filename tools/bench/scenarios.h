/* scenarios.h — options and results of one iogate-bench run, shared by
 * main.c (command line, report) and scenarios.c (the load itself). */
#ifndef IOGATE_BENCH_SCENARIOS_H
#define IOGATE_BENCH_SCENARIOS_H

#include "bench.h"

enum scenario { SC_ECHO = 0, SC_BROADCAST, SC_CONNECT, SC_IDLE, SC_FIXED };
enum phase { PH_SETUP = 0, PH_WARMUP, PH_MEASURE, PH_DONE };

typedef struct {
    enum scenario scenario;
    bench_target target;
    enum bconn_transport transport;
    int clients, window, size, inflight;
    bool ack;
    double duration, warmup, max_time, setup_timeout, rate;
    const char *event, *reply_event, *join_event, *joined_event, *bcast_event, *recv_event;
    const char *room;
    int pids[64];
    size_t npids;
    const char *json_path, *label;
    bool quiet, allow_remote;
    uint64_t min_ops;
} bench_opts;

typedef struct {
    enum phase phase;
    uint64_t t0, t_setup, t_warm, t_meas, t_end; /* now_ns() at each phase */
    uint64_t ops;                                /* operations completed during measure */
    uint64_t ops_total;                          /* … in every phase */
    hist lat;                                    /* latencies of the measured operations */
    uint64_t ready, joined;                      /* clients connected / joined the room */
    uint64_t failed;                             /* clients that never became ready */
    uint64_t lost;                               /* clients lost after being ready */
    uint64_t unexpected;                         /* packets the scenario did not expect */
    uint64_t extra;                              /* echo events besides acks (--ack) */
    uint64_t skipped;                            /* fixed-rate sends skipped (server far behind) */
    bool timed_out;
    proc_sample pbase, p0, p1; /* server: before setup, measure start/end */
    uint64_t cpu0, cpu1;       /* this process's CPU (ns) at measure start/end */
    bconn_stats cs0, cs1;      /* client counters at measure start/end */
} bench_run;

extern bench_opts O;
extern bench_run R;

/* Run O.scenario to completion (fills R).  0. */
int bench_run_scenario(void);
const char *scenario_name(enum scenario s);

#endif
