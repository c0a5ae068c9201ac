/* eio3.h — internal to eio.c: the Engine.IO protocol v3 parts of a session
 * (--allow-eio3), kept out of eio.c behind this small interface.  The pure
 * framing is in eio_codec.h; this half writes it to connections.
 *
 * What differs for a v3 session (socket.io-client 2.x), and where:
 *   handshake   EIO=3 accepted only with --allow-eio3 (else 400 code 5);
 *               the open packet is the same, framed as a v3 payload on polling
 *   heartbeat   the client pings: "2" is answered "3"; no ping within
 *               pingInterval + pingTimeout closes with "ping timeout"; a "3"
 *               from the client is a transport error (eio.c on_pkt)
 *   polling     length-prefixed payloads, text or binary (eio3_poll_respond,
 *               eio3_payload_dec); `b64` in the query forces text
 *   WebSocket   binary messages carry the type byte 0x04 (eio3_ws_send)
 *   upgrade     the same 2probe / 3probe / 5 sequence
 */
#ifndef IOGATE_EIO3_H
#define IOGATE_EIO3_H

#include <stddef.h>

#include "eio_codec.h"
#include "http.h"

/* One packet waiting for a poll: a control packet (type 0..6, msg NULL)
 * or a message (type 4, msg set). */
typedef struct {
    int type;
    eio_msg *msg;
} eio_pend;

/* The protocol a request asks for: 4, 3 (only if allow_eio3), or -1 when
 * EIO is absent or another value (the reference's 400 code 5). */
int eio3_query_protocol(const char *query, int allow_eio3);
/* 1 if the query has a non-empty `b64` (the client cannot take binary:
 * binary messages go as `b4<base64>` text, on WebSocket too). */
int eio3_query_b64(const char *query);

/* Answer a poll of a v3 session: the queued packets, then `tail` ('1'
 * close, '6' noop, or 0), as one text or binary payload. */
void eio3_poll_respond(http_conn *c, const eio_pend *q, size_t nq, char tail, int b64,
                       const char *extra);
/* The handshake response body: the open packet framed as a v3 payload. */
int eio3_open_payload(char *out, size_t cap, const char *open, size_t n);
/* Queue a message on a v3 session's WebSocket. */
void eio3_ws_send(http_conn *c, eio_msg *m, int b64);

#endif
