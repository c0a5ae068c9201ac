/* admission.h — handshakes parked while an application worker decides
 * whether they may open a session (the reference's `allowRequest`; README
 * "Refusing handshakes", PROTOCOL.md rule 39).
 *
 * Private to the Engine.IO layer: eio.c calls adm_check() on a handshake
 * (a polling GET or a WebSocket upgrade without sid) after its own limits,
 * and the upper layer answers through eio_admission_answer().  Nothing of
 * a session exists while a request is parked: the pending entry is one
 * slot of a pool sized --admission-max-pending at start, holding the HTTP
 * connection (whose request head http.c keeps until it is answered), an id
 * and a deadline.  Past the pool, past the deadline, and when the upper
 * layer cannot ask anyone, the handshake is refused with 503 and a log
 * line: admission fails closed.
 */
#ifndef IOGATE_ADMISSION_H
#define IOGATE_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "eio.h"
#include "http.h"

typedef struct adm_queue adm_queue;

typedef struct {
    struct ev_loop *loop;
    const eio_config *cfg; /* timeout, pool size, CORS and trusted proxies */
    /* Ask the upper layer (eio_handler.on_admission). */
    int (*ask)(uint64_t id, const eio_handshake *hs, void *ud);
    void *ask_ud;
    /* Run the handshake of an admitted request again (eio.c); adm_check()
     * lets it through during this call. */
    void (*resume)(http_conn *c, int upgrade, void *ud);
    void *ud;
} adm_setup;

/* A queue with its pool allocated now.  NULL never (out of memory aborts). */
adm_queue *adm_new(const adm_setup *setup);
/* Answer every parked request 503 (shutting down) and free; *q = NULL. */
void adm_destroy(adm_queue **q);

/* A handshake request on c (upgrade: a WebSocket one).  0: go on with the
 * handshake (c is being resumed after an ADMIT yes).  1: not now — the
 * request is parked until the answer, or was refused already (503). */
int adm_check(adm_queue *q, http_conn *c, const http_request *r, int upgrade);

/* The answer for id: ok, or a refusal with an optional message (NULL =
 * "Forbidden").  0, or -1 when no request waits under that id any more
 * (its connection closed, or it timed out): the caller logs it. */
int adm_answer(adm_queue *q, uint64_t id, int ok, const char *message);

/* Whether an http_conn owner pointer is one of this queue's slots, and the
 * on_gone for it: the client left while waiting, the slot is freed and a
 * late answer will find nothing. */
int adm_owns(const adm_queue *q, const void *owner);
void adm_gone(adm_queue *q, void *owner);

/* Requests parked now. */
size_t adm_pending(const adm_queue *q);

#endif
