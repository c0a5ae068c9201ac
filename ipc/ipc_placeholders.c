/* ipc_placeholders.c — validation of binary attachment placeholders
 * ({"_placeholder":true,"num":k}) shared by the Socket.IO codec and IPC. */
#include "ipc.h"

#include <stdlib.h>
#include <string.h>

static int walk(json_t *v, size_t n_att, unsigned char *seen, int depth, const char **why)
{
    if (depth <= 0) {
        *why = "JSON nested too deeply";
        return -1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (walk(e, n_att, seen, depth - 1, why) < 0) return -1;
        return 0;
    }
    if (!json_is_object(v)) return 0;
    json_t *ph = json_object_get(v, "_placeholder");
    if (ph) {
        json_t *num = json_object_get(v, "num");
        if (!json_is_true(ph) || json_object_size(v) != 2 || !json_is_integer(num)) {
            *why = "malformed placeholder";
            return -1;
        }
        json_int_t k = json_integer_value(num);
        if (k < 0 || (size_t)k >= n_att) {
            *why = "placeholder num out of range";
            return -1;
        }
        seen[k] = 1;
        return 0;
    }
    const char *key;
    json_t *e;
    json_object_foreach(v, key, e) if (walk(e, n_att, seen, depth - 1, why) < 0) return -1;
    return 0;
}

int ipc_check_placeholders(json_t *v, size_t n_att, int max_depth, const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    unsigned char small[64];
    unsigned char *seen = n_att <= sizeof small ? small : calloc(n_att, 1);
    if (!seen) {
        *why = "out of memory";
        return -1;
    }
    memset(seen, 0, n_att <= sizeof small ? sizeof small : 0);
    int rc = walk(v, n_att, seen, max_depth, why);
    for (size_t i = 0; rc == 0 && i < n_att; i++)
        if (!seen[i]) {
            *why = "attachment not referenced by any placeholder";
            rc = -1;
        }
    if (seen != small) free(seen);
    return rc;
}
