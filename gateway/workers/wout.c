/* wout.c — worker output as log lines.  See wout.h. */
#include "wout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

typedef struct {
    gw_wout *o;
    const char *name; /* "stdout" / "stderr" */
    int rfd, wfd;
    ev_io io;
    char buf[GW_WOUT_MAX_LINE];
    size_t len;
    int skipping; /* inside a line already cut: drop up to its newline */
} stream;

struct gw_wout {
    struct ev_loop *loop;
    char *nsp;
    pid_t pid;
    stream s[2];
};

static void emit(stream *st, const char *p, size_t n, const char *note)
{
    gw_wout *o = st->o;
    char label[300], pid[24];
    snprintf(label, sizeof label, "worker[%s pid %ld]", o->nsp, (long)o->pid);
    snprintf(pid, sizeof pid, "#%ld", (long)o->pid);
    if (n && p[n - 1] == '\r') n--;
    const char *f[] = {"nsp", o->nsp, "pid", pid, "stream", st->name, note ? "note" : NULL,
                       note,  NULL};
    if (!note) {
        gw_log_raw(GW_LOG_INFO, "worker", label, f, p, n);
        return;
    }
    /* The cut line says so in the text too. */
    char *m = xmalloc(n + strlen(note) + 4);
    memcpy(m, p, n);
    size_t ml = n + (size_t)sprintf(m + n, " [%s]", note);
    gw_log_raw(GW_LOG_INFO, "worker", label, f, m, ml);
    free(m);
}

/* Split what is buffered into lines; keep a partial tail. */
static void lines(stream *st, int flush)
{
    size_t start = 0;
    for (size_t i = 0; i < st->len; i++) {
        if (st->buf[i] != '\n') continue;
        if (st->skipping)
            st->skipping = 0;
        else
            emit(st, st->buf + start, i - start, NULL);
        start = i + 1;
    }
    if (st->skipping)
        start = st->len; /* still inside the cut line */
    else if (st->len - start == sizeof st->buf || (flush && st->len > start)) {
        /* A full buffer without a newline: emit it cut; the rest of that
         * line is skipped.  At exit a partial last line is emitted as is. */
        int cut = st->len - start == sizeof st->buf && !flush;
        emit(st, st->buf + start, st->len - start,
             cut ? "line cut at " GW_WOUT_STR(GW_WOUT_MAX_LINE) " bytes; the rest of it is dropped"
             : flush ? "no newline at exit"
                     : NULL);
        st->skipping = cut;
        start = st->len;
    }
    memmove(st->buf, st->buf + start, st->len - start);
    st->len -= start;
}

static void close_stream(gw_wout *o, stream *st)
{
    if (st->rfd < 0) return;
    ev_io_stop(o->loop, &st->io);
    close(st->rfd);
    st->rfd = -1;
}

/* Read at most `rounds` buffers, so a chatty worker cannot starve the
 * loop; the watcher brings us back for the rest. */
static void pump(gw_wout *o, stream *st, int rounds)
{
    while (st->rfd >= 0 && rounds-- > 0) {
        ssize_t n = read(st->rfd, st->buf + st->len, sizeof st->buf - st->len);
        if (n > 0) {
            st->len += (size_t)n;
            lines(st, 0);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        lines(st, 1); /* EOF (or error): the worker and its children closed it */
        close_stream(o, st);
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    stream *st = w->data;
    pump(st->o, st, 16);
}

gw_wout *gw_wout_new(struct ev_loop *loop, const char *nsp)
{
    gw_wout *o = xcalloc(1, sizeof *o);
    o->loop = loop;
    o->nsp = xstrdup(nsp);
    for (int i = 0; i < 2; i++) {
        stream *st = &o->s[i];
        st->o = o;
        st->name = i ? "stderr" : "stdout";
        int fds[2];
        /* O_CLOEXEC: other workers must not inherit this one's pipe. */
        if (pipe2(fds, O_CLOEXEC) < 0) {
            log_warn(
                "worker for %s: cannot make an output pipe (%s); it writes to the gateway's stderr",
                nsp, strerror(errno));
            st->rfd = st->wfd = -1;
            if (i) close(o->s[0].rfd), close(o->s[0].wfd);
            free(o->nsp);
            free(o);
            return NULL;
        }
        st->rfd = fds[0];
        st->wfd = fds[1];
        fcntl(st->rfd, F_SETFL, fcntl(st->rfd, F_GETFL) | O_NONBLOCK);
    }
    return o;
}

void gw_wout_child(const gw_wout *o)
{
    /* dup2 clears FD_CLOEXEC on the copy, so exec keeps fds 1 and 2. */
    dup2(o->s[0].wfd, 1);
    dup2(o->s[1].wfd, 2);
}

void gw_wout_started(gw_wout *o, pid_t pid)
{
    o->pid = pid;
    for (int i = 0; i < 2; i++) {
        stream *st = &o->s[i];
        close(st->wfd);
        st->wfd = -1;
        ev_io_init(&st->io, io_cb, st->rfd, EV_READ);
        st->io.data = st;
        ev_io_start(o->loop, &st->io);
    }
}

void gw_wout_drain(gw_wout *o)
{
    if (!o) return;
    for (int i = 0; i < 2; i++)
        pump(o, &o->s[i], 16);
}

void gw_wout_destroy(gw_wout **po)
{
    gw_wout *o = *po;
    if (!o) return;
    for (int i = 0; i < 2; i++) {
        stream *st = &o->s[i];
        /* What the worker wrote before it exited is in the pipe: read it
         * (bounded: a grandchild may still hold the write end). */
        pump(o, st, 64);
        if (st->rfd >= 0 && !st->skipping) lines(st, 1);
        close_stream(o, st);
        if (st->wfd >= 0) close(st->wfd);
    }
    free(o->nsp);
    free(o);
    *po = NULL;
}
