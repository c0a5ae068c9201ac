/* ipc_placeholders.c — ipc_check_placeholders(): validate the binary
 * attachment placeholders {"_placeholder":true,"num":k} in a decoded JSON
 * value (see ipc/PROTOCOL.md §2 rule 7 and ipc.h).
 *
 * Input trust: the JSON comes from a client (via sio_decode) or from a peer
 * process (via ipc_decode), so it is hostile.  The walk is recursive but
 * bounded by max_depth, and it allocates nothing.
 *
 * This function lives in its own file so that exactly one copy exists in
 * the tree: if ipc.c grows its own ipc_check_placeholders(), delete one of
 * the two (both define the same symbol in libiogate.a).
 */
#include "ipc.h"

#include <stdint.h>
#include <string.h>

/* More attachments than a message can carry frames is never valid, so the
 * set of referenced attachments fits a fixed bitmap on the stack. */
#define MAX_ATT IPC_MAX_FRAMES

typedef struct {
    size_t n_att;
    int max_depth;
    uint8_t seen[(MAX_ATT + 7) / 8];
    const char *why;
} walk_state;

/* An object that carries "_placeholder": it must be exactly
 * {"_placeholder":true,"num":k} with integer 0 <= k < n_att, keys in any
 * order, nothing else. */
static int check_one(json_t *obj, walk_state *st)
{
    json_t *flag = json_object_get(obj, "_placeholder");
    json_t *num = json_object_get(obj, "num");
    if (json_object_size(obj) != 2 || !json_is_true(flag) || num == NULL) {
        st->why = "malformed attachment placeholder";
        return -1;
    }
    /* JSON.stringify writes integral numbers without a fraction, so a real
     * here (1.0, 1e0) did not come from a Socket.IO encoder. */
    if (!json_is_integer(num)) {
        st->why = "attachment placeholder num is not an integer";
        return -1;
    }
    json_int_t k = json_integer_value(num);
    if (k < 0 || (uint64_t)k >= st->n_att) {
        st->why = "attachment placeholder num out of range";
        return -1;
    }
    st->seen[k / 8] |= (uint8_t)(1u << (k % 8));
    return 0;
}

/* `depth` is the number of containers enclosing v; v itself, when it is a
 * container, sits at depth + 1 (the top-level array of a packet is depth 1,
 * the same count sio_decode's pre-scan uses). */
static int walk(json_t *v, int depth, walk_state *st)
{
    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (depth + 1 > st->max_depth) {
        st->why = "JSON nested too deeply";
        return -1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (walk(e, depth + 1, st) < 0) return -1;
        }
        return 0;
    }
    if (json_object_get(v, "_placeholder") != NULL) return check_one(v, st);
    const char *key;
    json_t *e;
    json_object_foreach(v, key, e) {
        if (walk(e, depth + 1, st) < 0) return -1;
    }
    return 0;
}

int ipc_check_placeholders(json_t *v, size_t n_att, int max_depth, const char **why)
{
    static const char *ignored;
    if (why == NULL) why = &ignored;
    if (n_att > MAX_ATT) {
        *why = "too many attachments";
        return -1;
    }
    walk_state st;
    memset(&st, 0, sizeof st);
    st.n_att = n_att;
    st.max_depth = max_depth;
    if (v != NULL && walk(v, 0, &st) < 0) {
        *why = st.why;
        return -1;
    }
    for (size_t k = 0; k < n_att; k++) {
        if (!(st.seen[k / 8] & (1u << (k % 8)))) {
            *why = "attachment not referenced by any placeholder";
            return -1;
        }
    }
    return 0;
}
