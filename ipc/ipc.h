/* ipc.h — the gateway<->worker message codec (see ipc/PROTOCOL.md).
 *
 * Two halves:
 *  - ipc_decode() / ipc_check_*(): pure functions over frames already in
 *    memory.  Input is untrusted (a peer process); every length is checked.
 *  - ipc_send() / ipc_recv(): move one multipart message over a ZeroMQ
 *    socket (ROUTER on the gateway, DEALER on a worker).
 */
#ifndef IOGATE_IPC_H
#define IOGATE_IPC_H

#include <jansson.h>
#include <stddef.h>
#include <zmq.h>

#define IPC_VERSION "IOG1"
#define IPC_PROTOCOL_VERSION 1
#define IPC_MIN_FRAMES 6
#define IPC_MAX_FRAMES 1024 /* version..data + attachments */
#define IPC_ID_LEN 20

typedef enum {
    IPC_HELLO = 0,
    IPC_WELCOME,
    IPC_PING,
    IPC_PONG,
    IPC_BYE,
    IPC_CONNECT,
    IPC_EVENT,
    IPC_ACK,
    IPC_DISCONNECT,
    IPC_CONN,
    IPC_ACCEPT,
    IPC_REFUSE,
    IPC_EMIT,
    IPC_BROADCAST,
    IPC_JOIN,
    IPC_LEAVE,
    IPC_QUERY,
    IPC_REPLY,
    IPC_ERROR,
    IPC_PROCESSED,
    IPC_ADMIT,           /* handshake admission, both ways (PROTOCOL.md rule 39) */
    IPC_BROADCAST_ACK,   /* rule 25a: count and answers of a BROADCAST that asked for acks */
    IPC_SERVER_EMIT,     /* rule 25b: to the other worker processes of the namespace */
    IPC_SERVER_EMIT_ACK, /* rule 25b: their count and answers */
    IPC_TYPE_COUNT
} ipc_type;

/* Who sent a message: the decoder refuses types that do not travel that way. */
enum { IPC_FROM_WORKER = 1, IPC_FROM_GATEWAY = 2 };

const char *ipc_type_name(ipc_type t);
/* The type named by (s, len), or -1. */
int ipc_type_parse(const char *s, size_t len);
/* IPC_FROM_* mask of the directions type t may travel. */
int ipc_type_directions(ipc_type t);

typedef struct {
    const char *data;
    size_t len;
} ipc_buf;

/* A decoded message.  Every ipc_buf points into the frames given to
 * ipc_decode(); `meta` is a new reference owned by the message. */
typedef struct {
    ipc_type type;
    ipc_buf nsp;
    ipc_buf sid;
    json_t *meta; /* always a JSON object after a successful decode */
    ipc_buf data; /* raw JSON text of the data frame, len 0 when absent */
    const ipc_buf *att;
    size_t n_att;
} ipc_msg;

/* Decode `n` frames (without a ROUTER identity) sent by `from`.  0 on
 * success; -1 with *code set to a PROTOCOL.md §3.4 error code and *why to a
 * static explanation.  Checks: frame count, version, type and direction,
 * socket id shape (empty or 20 id characters), meta is a JSON object (empty
 * frame = {}), data looks like a JSON array when present. */
int ipc_decode(const ipc_buf *frames, size_t n, int from, ipc_msg *out, const char **code,
               const char **why);
/* Release what ipc_decode() allocated (meta); safe on a zeroed message. */
void ipc_msg_clear(ipc_msg *m);

/* Walk a JSON value and check its attachment placeholders against n_att
 * attachments: every {"_placeholder":true,"num":k} has an integer 0 <= k <
 * n_att, and every attachment is referenced.  Objects that carry
 * "_placeholder" but are not exactly a valid placeholder are errors.
 * `max_depth` bounds the walk.  0 ok, -1 with *why. */
int ipc_check_placeholders(json_t *v, size_t n_att, int max_depth, const char **why);

/* One message to send.  Absent fields are NULL/0 and go out as empty frames. */
typedef struct {
    ipc_type type;
    const char *nsp;
    size_t nsp_len;
    const char *sid;
    size_t sid_len;
    const char *meta; /* JSON object text, or NULL */
    size_t meta_len;
    const char *data; /* JSON array text, or NULL */
    size_t data_len;
    const ipc_buf *att;
    size_t n_att;
} ipc_out;

/* Send one message.  When `rid` is not NULL it is sent first as the ROUTER
 * routing id.  `flags` may hold ZMQ_DONTWAIT.  0 on success, -1 with errno
 * as zmq_send left it (EAGAIN at the high-water mark, EHOSTUNREACH for a
 * routing id that is gone); nothing is half-sent on failure of the first
 * frame. */
int ipc_send(void *zsock, const ipc_buf *rid, const ipc_out *m, int flags);
/* Same, from the fields one by one (meta as JSON text, NULL = {}; nsp and
 * sid NUL-terminated or NULL). */
int ipc_send_parts(void *zsock, const ipc_buf *rid, ipc_type type, const char *nsp, const char *sid,
                   const char *meta, size_t meta_len, const char *data, size_t data_len,
                   const ipc_buf *att, size_t n_att, int flags);
/* Same, with meta built from a jansson object (not consumed; NULL = {}). */
int ipc_send_json(void *zsock, const ipc_buf *rid, ipc_type type, const char *nsp, const char *sid,
                  json_t *meta, const char *data, size_t data_len, const ipc_buf *att, size_t n_att,
                  int flags);

/* The frames of one received multipart message. */
typedef struct {
    zmq_msg_t *parts;
    ipc_buf *bufs; /* views of parts */
    size_t n;
    size_t cap;
} ipc_frames;

/* Receive one whole multipart message into `f` (reused between calls; call
 * ipc_frames_close() at the end).  0, or -1 with errno (EAGAIN with
 * ZMQ_DONTWAIT when nothing is waiting).  Messages with more than
 * IPC_MAX_FRAMES + 2 parts are received fully but only that many are kept:
 * one more than any valid message has, routing id included, so that the
 * decoder refuses the message as a whole instead of a truncated copy. */
int ipc_recv(void *zsock, ipc_frames *f, int flags);

/* ZeroMQ CURVE for a tcp:// endpoint across machines (PROTOCOL.md §1).
 * Keys are Z85 text, 40 characters.
 *  - ipc_curve_server(): make zsock (the gateway's ROUTER, before bind) a
 *    CURVE server with this secret key; the matching public key, which
 *    workers need, is written to public_z85 (41 bytes with the NUL).
 *  - ipc_curve_client(): make zsock (a worker's DEALER, before connect) a
 *    CURVE client of the server with this public key, using a fresh
 *    ephemeral client keypair.
 * 0, or -1 with errno (EINVAL: not a valid key; ENOTSUP: libzmq was built
 * without CURVE). */
int ipc_curve_server(void *zsock, const char *secret_z85, char public_z85[41]);
int ipc_curve_client(void *zsock, const char *server_public_z85);
/* Read a Z85 key (the first 40 non-blank characters) from a file into
 * key (41 bytes).  0, or -1 with errno. */
int ipc_curve_read_key(const char *file, char key[41]);
/* Free the parts of the last message, keep the arrays for the next one. */
void ipc_frames_reset(ipc_frames *f);
void ipc_frames_close(ipc_frames *f);

#endif
