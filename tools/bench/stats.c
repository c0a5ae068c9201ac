/* stats.c — what iogate-bench measures besides counting: a log-linear
 * latency histogram, and the CPU time and resident memory of the server
 * processes read from /proc (the server is on this machine: loopback only). */
#include "bench.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Histogram: values below 128 ns have their own bucket; above, each power
 * of two is split into 64 buckets (relative error under 1/64).  Bucket of
 * v >= 128 with msb m: shift = m - 6, index = 64 * shift + (v >> shift),
 * which continues 0..127 without gaps. */

static size_t bucket_of(uint64_t v)
{
    if (v < 128) return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6;
    size_t i = (size_t)shift * 64 + (size_t)(v >> shift);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t bucket_value(size_t i)
{
    if (i < 128) return i;
    size_t shift = i / 64 - 1;
    uint64_t m = i - 64 * shift;
    return (m << shift) + ((1ull << shift) >> 1); /* middle of the bucket */
}

void hist_reset(hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

void hist_add(hist *h, uint64_t ns)
{
    h->b[bucket_of(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns) h->max_ns = ns;
    if (ns < h->min_ns) h->min_ns = ns;
}

uint64_t hist_quantile(const hist *h, double q)
{
    if (h->count == 0) return 0;
    if (q >= 1.0) return h->max_ns;
    uint64_t want = (uint64_t)(q * (double)h->count);
    if (want >= h->count) want = h->count - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want) {
            uint64_t v = bucket_value(i);
            return v > h->max_ns ? h->max_ns : v < h->min_ns ? h->min_ns : v;
        }
    }
    return h->max_ns;
}

/* ------------------------------------------------------------------ */
/* /proc */

long proc_clk_tck(void)
{
    static long t;
    if (!t) t = sysconf(_SC_CLK_TCK);
    return t > 0 ? t : 100;
}

/* Fields of /proc/<pid>/stat after the command (which may hold spaces and
 * parentheses, hence the last ')').  field 0 here is the state (stat's 3rd). */
static int read_stat(int pid, int *ppid, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    char state;
    int pp;
    unsigned long long ut, st;
    if (sscanf(p, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &pp, &ut, &st) !=
        4)
        return -1;
    if (ppid) *ppid = pp;
    if (ticks) *ticks = ut + st;
    return 0;
}

static uint64_t read_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    uint64_t kb = 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static bool has_pid(const proc_sample *s, int pid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->pid[i] == pid) return true;
    return false;
}

void proc_expand(proc_sample *s, const int *pids, size_t n)
{
    s->n = 0;
    for (size_t i = 0; i < n && s->n < 64; i++)
        if (!has_pid(s, pids[i])) s->pid[s->n++] = pids[i];
    /* Descendants: repeat the scan until no new child appears (a few
     * levels at most: gateway → worker). */
    for (int pass = 0; pass < 4; pass++) {
        size_t before = s->n;
        DIR *d = opendir("/proc");
        if (!d) return;
        struct dirent *e;
        while ((e = readdir(d)) && s->n < 64) {
            if (!isdigit((unsigned char)e->d_name[0])) continue;
            int pid = atoi(e->d_name), ppid;
            if (has_pid(s, pid) || read_stat(pid, &ppid, NULL) < 0) continue;
            if (has_pid(s, ppid)) s->pid[s->n++] = pid;
        }
        closedir(d);
        if (s->n == before) break;
    }
}

int proc_read(proc_sample *s)
{
    s->cpu_ticks = 0;
    s->rss_kb = 0;
    s->alive = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t t;
        if (read_stat(s->pid[i], NULL, &t) < 0) continue;
        s->cpu_ticks += t;
        s->rss_kb += read_rss_kb(s->pid[i]);
        s->alive++;
    }
    return s->alive ? 0 : -1;
}
