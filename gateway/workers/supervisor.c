/* supervisor.c — the processes behind --worker (PROTOCOL.md §3.1, §4):
 * spawning them (CGI style: the namespace, endpoint and key go in an
 * explicit environment), noticing their exit, restarting with backoff,
 * giving up after a crash loop, starting one per namespace a --worker
 * pattern matches (dynamic namespaces) and retiring it when idle, and
 * applying a SIGHUP's new list.  The ZeroMQ side is router.c.
 */
#include "router.h"
#include "authority.h"
#include "metrics.h"
#include "supervisor.h"
#include "util.h"
#include "wout.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP_WAIT_MS 2000 /* at shutdown, a spawned worker's time to exit after SIGTERM */
#define STOP_POLL_MS 10   /* ... checked this often */

/* A spawned worker we sent BYE to (replaced by a worker with the
 * namespace's key) stays quiet by rule 15; once the namespace has no worker
 * again it is needed: restart it (not counted as a crash, child_cb). */
void gw_sup_wake_dismissed(gw_router *r, const char *nsp)
{
    for (gw_child *c = r->children; c; c = c->next) {
        if (!c->bye_sent || c->given_up || c->retiring || strcmp(c->nsp, nsp) != 0) continue;
        if (c->pid > 0) {
            log_info("namespace %s has no worker: restarting its dismissed worker (pid %d)", c->nsp,
                     (int)c->pid);
            kill(c->pid, SIGTERM);
        } else if (!ev_is_active(&c->restart)) {
            c->bye_sent = 0;
            ev_timer_set(&c->restart, r->opt.restart_min_ms / 1000.0, 0);
            ev_timer_start(r->loop, &c->restart);
        }
    }
}

static void maybe_listen(gw_router *r)
{
    for (gw_child *c = r->children; c; c = c->next)
        if (!c->hello_seen) return;
    ev_timer_stop(r->loop, &r->startup);
    r->ready = 1;
    r->h->on_ready(r->ud);
}

void gw_sup_worker_ready(gw_router *r, gw_worker *w, gw_child *child)
{
    for (gw_child *c = r->children; c; c = c->next)
        if ((long)c->pid == w->pid || strcmp(c->nsp, w->name) == 0) c->hello_seen = 1;
    if (child) child->bye_sent = 0;
    maybe_listen(r);
}

void gw_sup_dismissed(gw_router *r, long pid)
{
    for (gw_child *c = r->children; pid && c; c = c->next)
        if ((long)c->pid == pid) c->bye_sent = 1; /* its exit is no crash */
}

void gw_sup_kill_hung(gw_router *r, long pid)
{
    for (gw_child *c = r->children; c; c = c->next)
        if (c->pid > 0 && (long)c->pid == pid) {
            log_warn("worker for %s (pid %ld) is hung: killing it", c->nsp, pid);
            kill(c->pid, SIGKILL);
        }
}

/* ---- spawned workers -------------------------------------------------------- */

static int spawn(gw_router *r, gw_child *c);

/* A --worker pattern: namespaces it matches get a process each. */
typedef struct gw_template {
    struct gw_template *next;
    char *pattern;
    pcre2_code *re;
    char *command;
} gw_template;

static gw_child *child_new(gw_router *r, const char *nsp, const char *command, int dynamic);

static gw_template *template_new(const gw_worker_spec *ws)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)ws->nsp, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        log_error("--worker pattern %s: %s at offset %zu", ws->nsp, (char *)msg, (size_t)off);
        return NULL;
    }
    gw_template *t = xcalloc(1, sizeof *t);
    t->pattern = xstrdup(ws->nsp);
    t->re = re;
    t->command = xstrdup(ws->command);
    return t;
}

static void template_free(gw_template *t)
{
    pcre2_code_free(t->re);
    free(t->pattern);
    free(t->command);
    free(t);
}
static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents);

int gw_sup_spawn_dynamic(gw_router *r, const char *nsp, size_t len)
{
    for (gw_template *t = r->templates; t; t = t->next) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
        int rc = pcre2_match(t->re, (PCRE2_SPTR)nsp, len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc < 0) continue;
        char *name = xstrndup(nsp, len);
        if (r->n_dynamic >= r->opt.max_dynamic) {
            log_warn("namespace %s matches %s but %zu dynamic workers already run; refused", name,
                     t->pattern, r->n_dynamic);
            free(name);
            return 0;
        }
        gw_child *c = child_new(r, name, t->command, 1);
        c->tmpl = t;
        log_info("namespace %s matches %s: starting a worker for it", name, t->pattern);
        free(name);
        if (spawn(r, c) < 0) {
            c->given_up = 1;
            return 0;
        }
        return 1;
    }
    return 0;
}

/* Stop the dynamic workers whose namespace has had no socket for a while. */
static void reaper_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_router *r = t->data;
    double now = ev_now(loop), idle = r->opt.dynamic_idle_ms / 1000.0;
    for (gw_child *c = r->children; c; c = c->next) {
        if ((!c->dynamic && !c->draining) || c->retiring || c->pid <= 0) continue;
        double last_active;
        if (r->h->nsp_in_use(r->ud, c->nsp, &last_active)) continue;
        if (!c->draining && now - last_active < idle) continue;
        if (c->draining)
            log_info("namespace %s drained: stopping its worker (pid %d)", c->nsp, (int)c->pid);
        else
            log_info("namespace %s unused for %u ms: stopping its worker (pid %d)", c->nsp,
                     r->opt.dynamic_idle_ms, (int)c->pid);
        c->retiring = 1;
        /* From now on the namespace has no worker: a new CONNECT starts a
         * fresh process instead of reaching this one on its way out. */
        gw_router_retire(r, c->nsp);
        kill(c->pid, SIGTERM);
    }
}

int gw_sup_pattern_matches(gw_router *r, const char *nsp, size_t len)
{
    for (gw_template *t = r->templates; t; t = t->next) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
        int rc = pcre2_match(t->re, (PCRE2_SPTR)nsp, len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc >= 0) return 1;
    }
    return 0;
}

int gw_sup_given_up(gw_router *r, const char *nsp)
{
    for (gw_child *c = r->children; c; c = c->next)
        if (c->given_up && !c->retiring && !c->draining && strcmp(c->nsp, nsp) == 0) return 1;
    return 0;
}

int gw_sup_worker_expected(gw_router *r, const char *nsp)
{
    if (r->shutting_down) return 0;
    if (gw_auth_in_grace(r, nsp)) return 1;
    for (gw_child *c = r->children; c; c = c->next)
        if (!c->given_up && !c->retiring && !c->draining && strcmp(c->nsp, nsp) == 0) return 1;
    return 0;
}

static gw_child *child_new(gw_router *r, const char *nsp, const char *command, int dynamic)
{
    gw_child *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->nsp = xstrdup(nsp);
    c->command = xstrdup(command);
    c->dynamic = dynamic;
    c->hello_seen = dynamic; /* the listener never waits for dynamic ones */
    ev_init(&c->restart, restart_cb);
    c->restart.data = c;
    c->next = r->children;
    r->children = c;
    if (dynamic) r->n_dynamic++;
    return c;
}

static void child_free(gw_router *r, gw_child *c)
{
    for (gw_child **pp = &r->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c->dynamic) r->n_dynamic--;
    ev_child_stop(r->loop, &c->watcher);
    ev_timer_stop(r->loop, &c->restart);
    gw_wout_destroy(&c->out);
    free(c->nsp);
    free(c->command);
    free(c);
}

static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_child *c = t->data;
    if (c->r->shutting_down || c->pid > 0) return;
    gw_metrics_nsp(c->nsp)->restarts++;
    spawn(c->r, c);
}

/* Decide whether and when to start an exited worker again. */
static void schedule_restart(gw_router *r, gw_child *c)
{
    double now = ev_now(r->loop);
    /* Exits are counted in a window that opens at the first exit and lasts
     * crash_window_ms; a worker that stays up longer starts a new one. */
    if (c->n_crashes == 0 || now - c->window_start > r->opt.crash_window_ms / 1000.0) {
        c->window_start = now;
        c->n_crashes = 0;
    }
    unsigned recent = ++c->n_crashes, limit = r->opt.crash_limit;
    if (limit && recent >= limit) {
        c->given_up = 1;
        gw_metrics_nsp(c->nsp)->crash_loops++;
        size_t n = r->h->nsp_unserved(r->ud, c->nsp, "crash loop");
        log_error("worker for %s exited %u times within %u ms: crash loop, not restarting it until "
                  "SIGHUP; %zu connected socket(s) were disconnected and new CONNECTs to %s get "
                  "CONNECT_ERROR \"Namespace unavailable\"",
                  c->nsp, recent, r->opt.crash_window_ms, n, c->nsp);
        return;
    }
    c->backoff_ms = gw_sup_backoff(c->backoff_ms, now - c->started, r->opt.restart_min_ms,
                                   r->opt.restart_max_ms, r->opt.crash_window_ms,
                                   r->h->nsp_holds_sockets(r->ud, c->nsp), GW_RESTART_HELD_MAX_MS);
    log_info("restarting worker for %s in %u ms", c->nsp, c->backoff_ms);
    ev_timer_set(&c->restart, c->backoff_ms / 1000.0, 0);
    ev_timer_start(r->loop, &c->restart);
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    gw_child *c = w->data;
    gw_router *r = c->r;
    ev_child_stop(loop, w);
    gw_wout_destroy(&c->out); /* its last words come before the exit line */
    int st = w->rstatus;
    if (WIFSIGNALED(st))
        gw_log_fields(
            GW_LOG_WARN,
            GW_FIELDS("nsp", c->nsp, "pid", GW_FNUM(c->pid), "signal", GW_FNUM(WTERMSIG(st))),
            "worker for %s (pid %d) killed by signal %d", c->nsp, (int)c->pid, WTERMSIG(st));
    else
        gw_log_fields(
            GW_LOG_WARN,
            GW_FIELDS("nsp", c->nsp, "pid", GW_FNUM(c->pid), "status", GW_FNUM(WEXITSTATUS(st))),
            "worker for %s (pid %d) exited with status %d", c->nsp, (int)c->pid, WEXITSTATUS(st));
    gw_worker *wk, *tmp;
    long dead = (long)c->pid;
    c->pid = 0;           /* reaped: never signal that number again (gw_sup_wake_dismissed) */
    c->key_hex[0] = '\0'; /* its key dies with it */
    HASH_ITER(hh, r->workers, wk, tmp)
        if (wk->spawned && wk->pid == dead) gw_worker_drop(r, wk, "worker process exited");
    c->hello_seen = 1; /* do not hold the listener for a dead worker */
    if (!r->ready) maybe_listen(r);
    if (c->retiring || c->draining) {
        child_free(r, c); /* stopped on purpose, or leaving anyway */
        return;
    }
    if (r->shutting_down) return;
    if (c->bye_sent) {
        /* We dismissed it (rule 12): leaving then is what it should do. */
        int served = gw_router_served(r, c->nsp) != NULL;
        log_info("worker for %s exited after BYE: not counted as a crash%s", c->nsp,
                 served ? "; another worker serves the namespace" : "");
        if (served) return; /* gw_sup_wake_dismissed restarts it when needed */
        c->bye_sent = 0;
        ev_timer_set(&c->restart, r->opt.restart_min_ms / 1000.0, 0);
        ev_timer_start(r->loop, &c->restart);
        return;
    }
    schedule_restart(r, c);
}

static int spawn(gw_router *r, gw_child *c)
{
    /* The gateway has threads (libzmq's, FastCGI's): between fork() and
     * exec() the child may only make async-signal-safe calls, so the
     * environment and the command line are built here, before forking
     * (a malloc or setenv in the child can deadlock on a lock another
     * thread held at fork time). */
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = xcalloc(n + 7, sizeof *envp);
    gw_auth_new_spawn_key(c); /* rule 10a: this process's own key, for its namespace only */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "IOGATE_ENDPOINT=", 16) != 0 &&
            strncmp(environ[i], "IOGATE_NAMESPACE=", 17) != 0 &&
            strncmp(environ[i], "IOGATE_GATEWAY=", 15) != 0 &&
            strncmp(environ[i], "IOGATE_GATEWAY_PID=", 19) != 0 &&
            strncmp(environ[i], "IOGATE_WORKER_KEY=", 18) != 0 &&
            strncmp(environ[i], "IOGATE_CURVE_SERVERKEY=", 23) != 0)
            envp[k++] = environ[i];
    /* CURVE (PROTOCOL.md §1): the server key for the worker libraries;
     * without CURVE none is passed on, not even an inherited one. */
    char curvenv[24 + sizeof r->curve_pub];
    snprintf(curvenv, sizeof curvenv, "IOGATE_CURVE_SERVERKEY=%s", r->curve_pub);
    if (r->curve_pub[0]) envp[k++] = curvenv;
    /* IOGATE_GATEWAY_PID tells the worker libraries they were spawned by
     * this process, so they end with it (PR_SET_PDEATHSIG) instead of
     * retrying HELLO for ever under PID 1 after a kill -9 of the gateway. */
    char pidenv[40];
    snprintf(pidenv, sizeof pidenv, "IOGATE_GATEWAY_PID=%ld", (long)getpid());
    envp[k++] = pidenv;
    char *own[4];
    size_t l0 = strlen(r->endpoint) + 17, l1 = strlen(c->nsp) + 18,
           l2 = strlen(r->incarnation) + 16;
    own[0] = xmalloc(l0);
    snprintf(own[0], l0, "IOGATE_ENDPOINT=%s", r->endpoint);
    own[1] = xmalloc(l1);
    snprintf(own[1], l1, "IOGATE_NAMESPACE=%s", c->nsp);
    own[2] = xmalloc(l2);
    snprintf(own[2], l2, "IOGATE_GATEWAY=%s", r->incarnation);
    envp[k++] = own[0];
    envp[k++] = own[1];
    envp[k++] = own[2];
    own[3] = xmalloc(18 + GW_KEY_HEX + 1);
    snprintf(own[3], 18 + GW_KEY_HEX + 1, "IOGATE_WORKER_KEY=%s", c->key_hex);
    envp[k++] = own[3];
    envp[k] = NULL;
    /* "exec" so the worker replaces the shell: its pid is the one we
     * watch, signal and match against HELLO.  "env" (which execs in turn,
     * same pid) lets the command start with VAR=value words, which plain
     * "exec" would take for the program's name. */
    size_t ll = strlen(c->command) + 10;
    char *line = xmalloc(ll);
    snprintf(line, ll, "exec env %s", c->command);
    char *argv[] = {"sh", "-c", line, NULL};
    sigset_t none;
    sigemptyset(&none);
    gw_wout *out = gw_wout_new(r->loop, c->nsp);

    pid_t pid = fork();
    if (pid == 0) {
        if (out) gw_wout_child(out);
        /* The worker starts with default signal dispositions and mask. */
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    int e = errno;
    free(line);
    for (int i = 0; i < 4; i++)
        free(own[i]);
    free(envp);
    if (pid < 0) {
        log_error("fork for worker %s: %s", c->nsp, strerror(e));
        gw_wout_destroy(&out);
        return -1;
    }
    gw_wout_destroy(&c->out);
    if (out) gw_wout_started(out, pid);
    c->out = out;
    c->pid = pid;
    c->started = ev_now(r->loop);
    ev_child_init(&c->watcher, child_cb, pid, 0);
    c->watcher.data = c;
    ev_child_start(r->loop, &c->watcher);
    gw_log_fields(GW_LOG_INFO, GW_FIELDS("nsp", c->nsp, "pid", GW_FNUM(pid), "command", c->command),
                  "started worker for %s (pid %d): %s", c->nsp, (int)pid, c->command);
    return 0;
}

static void startup_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_router *r = t->data;
    for (gw_child *c = r->children; c; c = c->next)
        if (!c->hello_seen)
            log_warn("worker for %s has not said HELLO yet; listening anyway", c->nsp);
    r->ready = 1;
    r->h->on_ready(r->ud);
}

int gw_sup_start(gw_router *r)
{
    gw_template **tail = &r->templates;
    for (size_t i = 0; i < r->opt.n_workers; i++) {
        const gw_worker_spec *ws = &r->opt.workers[i];
        if (ws->nsp[0] == '^') {
            gw_template *t = template_new(ws);
            if (!t) return -1;
            *tail = t;
            tail = &t->next;
            continue;
        }
        gw_child *c = child_new(r, ws->nsp, ws->command, 0);
        if (spawn(r, c) < 0) c->hello_seen = 1;
    }
    /* Retires idle dynamic workers and drained ones. */
    double every = r->opt.dynamic_idle_ms / 4000.0;
    if (every > 1.0) every = 1.0;
    ev_timer_init(&r->reaper, reaper_cb, every, every);
    r->reaper.data = r;
    ev_timer_start(r->loop, &r->reaper);
    if (r->children) {
        ev_timer_init(&r->startup, startup_cb, r->opt.startup_wait_ms / 1000.0, 0);
        r->startup.data = r;
        ev_timer_start(r->loop, &r->startup);
    } else {
        r->ready = 1;
        r->h->on_ready(r->ud);
    }
    return 0;
}

void gw_sup_stop(gw_router *r)
{
    struct ev_loop *loop = r->loop;
    /* Stop the workers we started: SIGTERM, up to STOP_WAIT_MS, then
     * SIGKILL.  The loop is over: poll their exits every STOP_POLL_MS. */
    for (gw_child *c = r->children; c; c = c->next)
        if (c->pid > 0) kill(c->pid, SIGTERM);
    for (int waited = 0;; waited += STOP_POLL_MS) {
        int alive = 0;
        for (gw_child *c = r->children; c; c = c->next) {
            gw_wout_drain(c->out); /* a worker blocked writing its last lines could not exit */
            if (c->pid <= 0) continue;
            if (waitpid(c->pid, NULL, WNOHANG) == c->pid)
                c->pid = 0;
            else
                alive++;
        }
        if (!alive || waited >= STOP_WAIT_MS) break;
        usleep(STOP_POLL_MS * 1000);
    }
    while (r->children) {
        gw_child *c = r->children;
        if (c->pid > 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
        }
        child_free(r, c);
    }
    while (r->templates) {
        gw_template *t = r->templates;
        r->templates = t->next;
        template_free(t);
    }
    ev_timer_stop(loop, &r->reaper);
    ev_timer_stop(loop, &r->startup);
}

/* ---- SIGHUP -------------------------------------------------------------- */

static void drain_child(gw_router *r, gw_child *c, const char *why)
{
    if (c->draining || c->retiring) return;
    c->draining = 1;
    ev_timer_stop(r->loop, &c->restart);
    r->h->nsp_draining(r->ud, c->nsp);
    if (c->pid <= 0) c->retiring = 1; /* nothing running: nothing to wait for */
    log_info("namespace %s %s: draining (no new sockets; its worker stops when empty)", c->nsp,
             why);
}

void gw_sup_reload(gw_router *r, const gw_worker_spec *specs, size_t n)
{
    if (r->shutting_down) return;
    /* Static namespaces: removed ones drain, changed commands restart. */
    for (gw_child *c = r->children; c; c = c->next) {
        if (c->dynamic || c->draining || c->retiring) continue;
        const gw_worker_spec *ws = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(specs[i].nsp, c->nsp) == 0) ws = &specs[i];
        if (!ws) {
            drain_child(r, c, "removed from the configuration");
        } else if (c->given_up && strcmp(ws->command, c->command) == 0) {
            /* Given up after a crash loop: SIGHUP is the operator's way of
             * saying "try again", with a clean crash history. */
            log_info("namespace %s: starting its given-up worker again", c->nsp);
            c->given_up = 0;
            c->n_crashes = 0;
            c->backoff_ms = 0;
            if (c->pid <= 0 && spawn(r, c) < 0) c->given_up = 1;
        } else if (strcmp(ws->command, c->command) != 0) {
            log_info("namespace %s: command changed to %s; restarting its worker", c->nsp,
                     ws->command);
            free(c->command);
            c->command = xstrdup(ws->command);
            c->given_up = 0;
            c->n_crashes = 0;
            c->backoff_ms = 0;
            if (c->pid > 0)
                kill(c->pid, SIGTERM); /* child_cb restarts it; sockets are recovered */
            else
                spawn(r, c);
        }
    }
    /* Patterns: removed ones stop matching and their namespaces drain. */
    for (gw_template **pp = &r->templates; *pp;) {
        gw_template *t = *pp;
        int keep = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(specs[i].nsp, t->pattern) == 0 && strcmp(specs[i].command, t->command) == 0)
                keep = 1;
        if (keep) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        for (gw_child *c = r->children; c; c = c->next)
            if (c->tmpl == t) {
                c->tmpl = NULL;
                drain_child(r, c, "no longer matched by a pattern");
            }
        log_info("pattern %s removed", t->pattern);
        template_free(t);
    }
    /* Added namespaces and patterns start. */
    for (size_t i = 0; i < n; i++) {
        const gw_worker_spec *ws = &specs[i];
        if (ws->nsp[0] == '^') {
            int have = 0;
            gw_template **tail = &r->templates;
            for (gw_template *t = r->templates; t; t = t->next) {
                if (strcmp(t->pattern, ws->nsp) == 0) have = 1;
                tail = &t->next;
            }
            if (!have) {
                gw_template *t = template_new(ws);
                if (t) {
                    *tail = t;
                    log_info("pattern %s added", ws->nsp);
                }
            }
            continue;
        }
        int have = 0;
        for (gw_child *c = r->children; c; c = c->next)
            if (!c->dynamic && !c->draining && !c->retiring && strcmp(c->nsp, ws->nsp) == 0)
                have = 1;
        if (have) continue;
        r->h->nsp_expected(r->ud, ws->nsp);
        gw_child *c = child_new(r, ws->nsp, ws->command, 0);
        c->hello_seen = 1; /* already listening */
        log_info("namespace %s added", ws->nsp);
        spawn(r, c);
    }
}

unsigned gw_sup_backoff(unsigned prev_ms, double ran_s, unsigned min_ms, unsigned max_ms,
                        unsigned window_ms, int holds_sockets, unsigned held_max_ms)
{
    unsigned ms;
    /* A worker that ran for a while starts again from the smallest delay. */
    if (ran_s > window_ms / 1000.0 || prev_ms == 0)
        ms = min_ms;
    else
        ms = prev_ms * 2 > max_ms ? max_ms : prev_ms * 2;
    /* While its sockets are kept, each second of waiting fills their holds
     * (rule 35): past the bound they are disconnected.  So the delay stays
     * short then; a worker that keeps dying reaches the crash limit sooner,
     * and poison packets are quarantined after two deaths (rule 37). */
    if (ms > held_max_ms && holds_sockets) ms = min_ms > held_max_ms ? min_ms : held_max_ms;
    return ms;
}
