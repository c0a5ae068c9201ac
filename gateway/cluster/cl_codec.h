/* cl_codec.h — the msgpack side of the Redis adapter's wire format
 * (ipc/REDIS.md): pure functions between msgpack bytes and jansson trees.
 *
 * Socket.IO packets carry binary values inline (a Buffer in a msgpack
 * `bin`); the gateway carries them as attachments with placeholders
 * {"_placeholder":true,"num":k} in the JSON, as the Socket.IO parser does.
 * So a `bin` becomes a placeholder plus an attachment on the way in, and a
 * placeholder becomes a `bin` again on the way out. */
#ifndef IOGATE_CL_CODEC_H
#define IOGATE_CL_CODEC_H

#include <jansson.h>
#include <stddef.h>

#include "ipc.h"

#define CLC_MAX_DEPTH 32
#define CLC_MAX_ATT 64

typedef struct {
    char *data[CLC_MAX_ATT]; /* owned copies */
    size_t len[CLC_MAX_ATT];
    size_t n;
} clc_atts;

void clc_atts_free(clc_atts *a);

/* Decode exactly one msgpack value filling buf[0..len).  bin/ext values
 * become placeholders with their bytes appended to `atts` (NULL: refused).
 * Map keys must be strings.  NULL (why in err) on malformed input, trailing
 * bytes, depth over CLC_MAX_DEPTH, more than CLC_MAX_ATT binaries or
 * strings that are not UTF-8. */
json_t *clc_from_msgpack(const char *buf, size_t len, clc_atts *atts, char *err, size_t errlen);

/* Encode j as msgpack the way notepack.io (the adapter's encoder) does:
 * smallest integer form, float64 for reals, str8+ for strings, maps in
 * insertion order.  Placeholders whose num is below n_att become `bin`.
 * Returns a malloc'd buffer (length in *out_len), or NULL for a tree deeper
 * than CLC_MAX_DEPTH. */
char *clc_to_msgpack(const json_t *j, const ipc_buf *att, size_t n_att, size_t *out_len);

#endif
