/* sio_codec.h — Socket.IO protocol v5 packet codec: pure functions over
 * buffers, no I/O.  Input to the decoder is untrusted client data.
 *
 * Wire form of one packet (the payload of one Engine.IO message packet):
 *   <type>[<attachments>-][<nsp>,][<ack id>][<json>]
 * type 0..6; attachments only for 5 and 6; nsp starts with '/' and ends at
 * ','; the ack id is a run of digits; the JSON data runs to the end.
 * Binary packets (5/6) are followed by <attachments> binary Engine.IO
 * messages, referred to from the JSON by {"_placeholder":true,"num":k}.
 */
#ifndef IOGATE_SIO_CODEC_H
#define IOGATE_SIO_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
} sio_type;

#define SIO_MAX_ATTACHMENTS_DEFAULT 10
#define SIO_MAX_DEPTH_DEFAULT 32 /* JSON nesting accepted from clients */

typedef struct {
    size_t max_attachments; /* more → error (reference caps at 10) */
    int max_depth;          /* deeper JSON → error */
} sio_limits;

/* A decoded packet head.  Pointers are views into the input buffer. */
typedef struct {
    sio_type type;
    size_t attachments; /* 0 unless BINARY_* */
    const char *nsp;    /* "/" when absent (points to a static "/") */
    size_t nsp_len;
    int64_t id;       /* ack id, -1 when absent */
    const char *data; /* raw JSON text, NULL/0 when absent */
    size_t data_len;
    json_t *json; /* CONNECT only: the auth object (new reference), or
                   * NULL; the data of other types is validated by
                   * jscan_check() and never parsed (issue 12) */
} sio_packet;

/* Decode one packet from buf[0..len).  Validates by type:
 *  CONNECT: data absent or a JSON object (auth);
 *  DISCONNECT: no data;
 *  EVENT / BINARY_EVENT: data is an array whose first element is a string;
 *  ACK / BINARY_ACK: id present, data is an array;
 *  CONNECT_ERROR: never accepted from a client (error);
 *  BINARY_*: "<n>-" present, n <= limits->max_attachments, and the
 *  placeholders are valid for n attachments (json_scan.h's rules);
 *  JSON: as json_scan.h — one pass, no tree, numbers by grammar (2^64 and
 *  1e400 pass, as JSON.parse reads them; except in a CONNECT auth, which
 *  jansson must load), a NUL byte anywhere refused;
 *  ack id: 1..15 digits (fits in int64, JS safe integer range).
 * 0 on success (release with sio_packet_clear()), -1 with *why. */
int sio_decode(const char *buf, size_t len, const sio_limits *limits, sio_packet *out,
               const char **why);
void sio_packet_clear(sio_packet *p);

/* Write the head of a packet — "<type>[<n>-][<nsp>,][<id>]" — into out
 * (at least sio_head_max(nsp_len) bytes).  nsp "/" is omitted.  id < 0 means
 * none.  Returns the number of bytes written.  The caller appends the JSON. */
size_t sio_encode_head(char *out, sio_type type, size_t attachments, const char *nsp,
                       size_t nsp_len, int64_t id);
static inline size_t sio_head_max(size_t nsp_len)
{
    return 1 + 21 + nsp_len + 1 + 21;
}

#endif
