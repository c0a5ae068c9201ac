/* ipc.c — pure decoding of gateway<->worker messages (PROTOCOL.md §2–3).
 * Input is untrusted: it comes from another process.  No ZeroMQ here; the
 * frames are already in memory (see ipc_zmq.c for the socket half). */
#include "ipc.h"

#include <string.h>

static const char *const type_names[IPC_TYPE_COUNT] = {
    [IPC_HELLO] = "HELLO",
    [IPC_WELCOME] = "WELCOME",
    [IPC_PING] = "PING",
    [IPC_PONG] = "PONG",
    [IPC_BYE] = "BYE",
    [IPC_CONNECT] = "CONNECT",
    [IPC_EVENT] = "EVENT",
    [IPC_ACK] = "ACK",
    [IPC_DISCONNECT] = "DISCONNECT",
    [IPC_CONN] = "CONN",
    [IPC_ACCEPT] = "ACCEPT",
    [IPC_REFUSE] = "REFUSE",
    [IPC_EMIT] = "EMIT",
    [IPC_BROADCAST] = "BROADCAST",
    [IPC_JOIN] = "JOIN",
    [IPC_LEAVE] = "LEAVE",
    [IPC_QUERY] = "QUERY",
    [IPC_REPLY] = "REPLY",
    [IPC_ERROR] = "ERROR",
    [IPC_PROCESSED] = "PROCESSED",
    [IPC_ADMIT] = "ADMIT",
    [IPC_BROADCAST_ACK] = "BROADCAST_ACK",
    [IPC_SERVER_EMIT] = "SERVER_EMIT",
    [IPC_SERVER_EMIT_ACK] = "SERVER_EMIT_ACK",
};

#define W IPC_FROM_WORKER
#define G IPC_FROM_GATEWAY
/* Which way each type may travel, and whether it names one socket. */
static const struct {
    int dirs;
    int needs_sid;
} type_rules[IPC_TYPE_COUNT] = {
    [IPC_HELLO] = {W, 0},         [IPC_WELCOME] = {G, 0},         [IPC_PING] = {W | G, 0},
    [IPC_PONG] = {W | G, 0},      [IPC_BYE] = {W | G, 0},         [IPC_CONNECT] = {G, 1},
    [IPC_EVENT] = {G, 1},         [IPC_ACK] = {W | G, 1},         [IPC_DISCONNECT] = {W | G, 1},
    [IPC_CONN] = {G, 1},          [IPC_ACCEPT] = {W, 1},          [IPC_REFUSE] = {W, 1},
    [IPC_EMIT] = {W, 1},          [IPC_BROADCAST] = {W, 0},       [IPC_JOIN] = {W, 1},
    [IPC_LEAVE] = {W, 1},         [IPC_QUERY] = {W, 0},           [IPC_REPLY] = {G, 0},
    [IPC_ERROR] = {G, 0},         [IPC_PROCESSED] = {W, 0},       [IPC_ADMIT] = {W | G, 0},
    [IPC_BROADCAST_ACK] = {G, 0}, /* the count has no socket, each answer its socket */
    [IPC_SERVER_EMIT] = {W, 0},   [IPC_SERVER_EMIT_ACK] = {G, 0},
};
#undef W
#undef G

const char *ipc_type_name(ipc_type t)
{
    return (unsigned)t < IPC_TYPE_COUNT ? type_names[t] : "?";
}

int ipc_type_parse(const char *s, size_t len)
{
    for (int t = 0; t < IPC_TYPE_COUNT; t++)
        if (strlen(type_names[t]) == len && memcmp(type_names[t], s, len) == 0) return t;
    return -1;
}

int ipc_type_directions(ipc_type t)
{
    return (unsigned)t < IPC_TYPE_COUNT ? type_rules[t].dirs : 0;
}

static int is_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int fail(const char **code, const char **why, const char *c, const char *w)
{
    if (code) *code = c;
    if (why) *why = w;
    return -1;
}

/* A data frame must be a JSON array; checking its first and last
 * non-blank bytes is enough for the gateway to frame it into a Socket.IO
 * packet without parsing it (PROTOCOL.md rule 30). */
static int looks_like_array(const char *p, size_t n)
{
    size_t a = 0, b = n;
    while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\n' || p[a] == '\r'))
        a++;
    while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\n' || p[b - 1] == '\r'))
        b--;
    return b - a >= 2 && p[a] == '[' && p[b - 1] == ']';
}

int ipc_decode(const ipc_buf *f, size_t n, int from, ipc_msg *out, const char **code,
               const char **why)
{
    memset(out, 0, sizeof *out);
    if (n < IPC_MIN_FRAMES) return fail(code, why, "frames", "fewer than six frames");
    if (n > IPC_MAX_FRAMES) return fail(code, why, "frames", "too many frames");
    if (f[0].len != 4 || memcmp(f[0].data, IPC_VERSION, 4) != 0)
        return fail(code, why, "version", "version frame is not IOG1");
    int t = ipc_type_parse(f[1].data, f[1].len);
    if (t < 0) return fail(code, why, "type", "unknown message type");
    if (!(type_rules[t].dirs & from))
        return fail(code, why, "type", "message type not allowed in this direction");
    out->type = (ipc_type)t;

    out->nsp = f[2];
    if (out->nsp.len > 0 && out->nsp.data[0] != '/')
        return fail(code, why, "meta", "namespace does not start with '/'");
    if (out->nsp.len > 0 &&
        (memchr(out->nsp.data, '\0', out->nsp.len) || memchr(out->nsp.data, ',', out->nsp.len)))
        return fail(code, why, "meta", "namespace holds NUL or ','");

    out->sid = f[3];
    if (out->sid.len != 0) {
        if (out->sid.len != IPC_ID_LEN)
            return fail(code, why, "meta", "socket id is not 20 characters");
        for (size_t i = 0; i < IPC_ID_LEN; i++)
            if (!is_id_char(out->sid.data[i]))
                return fail(code, why, "meta", "socket id has a character outside [A-Za-z0-9_-]");
    } else if (type_rules[t].needs_sid) {
        return fail(code, why, "meta", "message needs a socket id");
    }

    if (f[4].len == 0) {
        out->meta = json_object();
    } else {
        json_error_t err;
        out->meta = json_loadb(f[4].data, f[4].len, JSON_REJECT_DUPLICATES, &err);
        if (!out->meta) return fail(code, why, "meta", "meta is not valid JSON");
        if (!json_is_object(out->meta)) {
            ipc_msg_clear(out);
            return fail(code, why, "meta", "meta is not a JSON object");
        }
    }

    out->data = f[5];
    if (out->data.len > 0 && !looks_like_array(out->data.data, out->data.len)) {
        ipc_msg_clear(out);
        return fail(code, why, "data", "data is not a JSON array");
    }
    out->att = f + 6;
    out->n_att = n - 6;
    if (out->n_att > 0 && out->data.len == 0) {
        ipc_msg_clear(out);
        return fail(code, why, "data", "attachments without data");
    }
    return 0;
}

void ipc_msg_clear(ipc_msg *m)
{
    if (m->meta) json_decref(m->meta);
    m->meta = NULL;
}
