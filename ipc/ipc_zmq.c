/* ipc_zmq.c — send and receive whole IPC messages over a ZeroMQ socket.
 * Shared by the gateway (ROUTER) and the C worker library (DEALER). */
#include "ipc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int send_frame(void *z, const void *p, size_t n, int flags)
{
    return zmq_send(z, n ? p : "", n, flags) < 0 ? -1 : 0;
}

int ipc_send(void *z, const ipc_buf *rid, const ipc_out *m, int flags)
{
    const int more = ZMQ_SNDMORE | (flags & ZMQ_DONTWAIT);
    /* Only the first frame can fail with EAGAIN: once a multipart message
     * has started, ZeroMQ queues the rest atomically. */
    if (rid && send_frame(z, rid->data, rid->len, more) < 0) return -1;
    if (send_frame(z, IPC_VERSION, 4, rid ? ZMQ_SNDMORE : more) < 0) return -1;
    const char *tn = ipc_type_name(m->type);
    int last_plain = m->n_att == 0;
    if (send_frame(z, tn, strlen(tn), ZMQ_SNDMORE) < 0 ||
        send_frame(z, m->nsp, m->nsp ? m->nsp_len : 0, ZMQ_SNDMORE) < 0 ||
        send_frame(z, m->sid, m->sid ? m->sid_len : 0, ZMQ_SNDMORE) < 0 ||
        send_frame(z, m->meta, m->meta ? m->meta_len : 0, ZMQ_SNDMORE) < 0 ||
        send_frame(z, m->data, m->data ? m->data_len : 0, last_plain ? 0 : ZMQ_SNDMORE) < 0)
        return -1;
    for (size_t i = 0; i < m->n_att; i++)
        if (send_frame(z, m->att[i].data, m->att[i].len, i + 1 < m->n_att ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    return 0;
}

int ipc_send_parts(void *z, const ipc_buf *rid, ipc_type type, const char *nsp, const char *sid,
                   const char *meta, size_t meta_len, const char *data, size_t data_len,
                   const ipc_buf *att, size_t n_att, int flags)
{
    ipc_out m = {
        .type = type,
        .nsp = nsp,
        .nsp_len = nsp ? strlen(nsp) : 0,
        .sid = sid,
        .sid_len = sid ? strlen(sid) : 0,
        .meta = meta,
        .meta_len = meta_len,
        .data = data,
        .data_len = data_len,
        .att = att,
        .n_att = n_att,
    };
    return ipc_send(z, rid, &m, flags);
}

int ipc_send_json(void *z, const ipc_buf *rid, ipc_type type, const char *nsp, const char *sid,
                  json_t *meta, const char *data, size_t data_len, const ipc_buf *att, size_t n_att,
                  int flags)
{
    char *mt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    int rc = ipc_send_parts(z, rid, type, nsp, sid, mt, mt ? strlen(mt) : 0, data, data_len, att,
                            n_att, flags);
    int e = errno;
    free(mt);
    errno = e;
    return rc;
}

void ipc_frames_reset(ipc_frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        zmq_msg_close(&f->parts[i]);
    f->n = 0;
}

void ipc_frames_close(ipc_frames *f)
{
    ipc_frames_reset(f);
    free(f->parts);
    free(f->bufs);
    memset(f, 0, sizeof *f);
}

static int grow(ipc_frames *f)
{
    size_t cap = f->cap ? f->cap * 2 : 16;
    zmq_msg_t *p = realloc(f->parts, cap * sizeof *p);
    if (!p) return -1;
    f->parts = p;
    ipc_buf *b = realloc(f->bufs, cap * sizeof *b);
    if (!b) return -1;
    f->bufs = b;
    f->cap = cap;
    return 0;
}

int ipc_recv(void *z, ipc_frames *f, int flags)
{
    ipc_frames_reset(f);
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, z, f->n == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            ipc_frames_reset(f);
            errno = e;
            return -1;
        }
        int more = zmq_msg_more(&part);
        /* Keep at most IPC_MAX_FRAMES + 2 parts: one more than the
         * longest valid message has with a ROUTER's routing id, so that
         * the decoder sees too many frames and refuses the message as a
         * whole (keeping only IPC_MAX_FRAMES + 1 cut a ROUTER's message to
         * a valid length that was then forwarded, attachments missing).
         * Drain the rest so the socket stays in step. */
        if (f->n <= IPC_MAX_FRAMES + 1) {
            if (f->n == f->cap && grow(f) < 0) {
                zmq_msg_close(&part);
                abort(); /* out of memory: the one policy */
            }
            f->parts[f->n++] = part;
        } else {
            zmq_msg_close(&part);
        }
        if (!more) break;
    }
    for (size_t i = 0; i < f->n; i++) {
        f->bufs[i].data = zmq_msg_data(&f->parts[i]);
        f->bufs[i].len = zmq_msg_size(&f->parts[i]);
    }
    return 0;
}

/* --- CURVE ----------------------------------------------------------------- */

static int z85_key_ok(const char *k)
{
    uint8_t bin[32];
    return k && strlen(k) == 40 && zmq_z85_decode(bin, k) != NULL;
}

int ipc_curve_server(void *z, const char *secret, char public_z85[41])
{
    if (!zmq_has("curve")) {
        errno = ENOTSUP;
        return -1;
    }
    if (!z85_key_ok(secret) || zmq_curve_public(public_z85, secret) != 0) {
        errno = EINVAL;
        return -1;
    }
    int one = 1;
    if (zmq_setsockopt(z, ZMQ_CURVE_SERVER, &one, sizeof one) != 0) return -1;
    return zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, secret, 41);
}

int ipc_curve_client(void *z, const char *server_public)
{
    if (!zmq_has("curve")) {
        errno = ENOTSUP;
        return -1;
    }
    char pub[41], sec[41];
    if (!z85_key_ok(server_public)) {
        errno = EINVAL;
        return -1;
    }
    if (zmq_curve_keypair(pub, sec) != 0) return -1;
    int rc = zmq_setsockopt(z, ZMQ_CURVE_SERVERKEY, server_public, 41);
    if (rc == 0) rc = zmq_setsockopt(z, ZMQ_CURVE_PUBLICKEY, pub, 41);
    if (rc == 0) rc = zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, sec, 41);
    memset(sec, 0, sizeof sec);
    return rc;
}

int ipc_curve_read_key(const char *file, char key[41])
{
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    size_t n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF && n < 40)
        if (!isspace(ch)) key[n++] = (char)ch;
    fclose(f);
    key[n] = '\0';
    if (n != 40 || !z85_key_ok(key)) {
        memset(key, 0, 41);
        errno = EINVAL;
        return -1;
    }
    return 0;
}
