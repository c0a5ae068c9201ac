/* binary.c — binary values inside jansson trees, and the conversion
 * between them and Socket.IO attachment placeholders.
 *
 * A binary value is a JSON object with one key, BIN_KEY, whose value is a
 * jansson string holding the raw bytes (made with the _nocheck calls, so it
 * may hold any byte).  BIN_KEY starts with the byte 0xFF, which is never
 * valid UTF-8: jansson's parser validates every key, so no JSON text — and
 * so no client — can produce a value this file mistakes for binary. */
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

#define BIN_KEY "\xffiog-binary"

json_t *iog_binary_new(const void *data, size_t len)
{
    json_t *o = iog_jcheck(json_object());
    json_t *str = iog_jcheck(json_stringn_nocheck(len ? data : "", len));
    if (json_object_set_new_nocheck(o, BIN_KEY, str) < 0) iog_jcheck(NULL);
    return o;
}

bool iog_is_binary(const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) != 1) return false;
    return json_is_string(json_object_get(v, BIN_KEY));
}

const void *iog_binary_data(const json_t *v, size_t *len)
{
    if (!iog_is_binary(v)) {
        if (len) *len = 0;
        return NULL;
    }
    json_t *str = json_object_get(v, BIN_KEY);
    if (len) *len = json_string_length(str);
    return json_string_value(str);
}

/* Replace the placeholders of v, a tree ipc_check_placeholders() accepted:
 * every object with a "_placeholder" key in it is then exactly
 * {"_placeholder":true,"num":k} with 0 <= k < n_att, and the nesting is
 * bounded, so nothing is checked again here. */
static json_t *resolve(json_t *v, const ipc_buf *att)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            json_t *r = resolve(json_incref(e), att);
            if (r != e) json_array_set(v, i, r);
            json_decref(r);
        }
    } else if (json_is_object(v)) {
        if (json_object_get(v, "_placeholder")) {
            json_int_t k = json_integer_value(json_object_get(v, "num"));
            json_decref(v);
            return iog_binary_new(att[k].data, att[k].len);
        }
        void *it = json_object_iter(v);
        while (it) {
            json_t *e = json_object_iter_value(it);
            json_t *r = resolve(json_incref(e), att);
            if (r != e) json_object_iter_set(v, it, r);
            json_decref(r);
            it = json_object_iter_next(v, it);
        }
    }
    return v;
}

json_t *iog_resolve_placeholders(json_t *v, const ipc_buf *att, size_t n_att, const char **why)
{
    /* The one check of a received value (PROTOCOL.md rule 7): the gateway
     * is a separate process, so its numbers are not taken on trust. */
    if (ipc_check_placeholders(v, n_att, IOG_MAX_DEPTH, why) != 0) {
        json_decref(v);
        return NULL;
    }
    if (!v || n_att == 0) return v;
    return resolve(v, att);
}

static bool has_binary(json_t *v, int depth)
{
    if (depth > IOG_MAX_DEPTH) return false;
    if (iog_is_binary(v)) return true;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (has_binary(json_array_get(v, i), depth + 1)) return true;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *e;
        json_object_foreach(v, key, e) {
            if (has_binary(e, depth + 1)) return true;
        }
    }
    return false;
}

static void att_push(iog_atts *a, const char *data, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4;
        a->v = iog_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n].data = data;
    a->v[a->n].len = len;
    a->n++;
}

/* A copy of v where binary values are placeholders; containers without
 * binary inside are shared, not copied. */
static json_t *to_wire(json_t *v, iog_atts *a, int depth)
{
    size_t len;
    const void *bytes = iog_binary_data(v, &len);
    if (bytes) {
        json_t *ph = iog_jcheck(json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)a->n));
        att_push(a, bytes, len);
        return ph;
    }
    if (depth > IOG_MAX_DEPTH || !has_binary(v, depth)) return json_incref(v);
    if (json_is_array(v)) {
        json_t *out = iog_jcheck(json_array());
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(out, to_wire(json_array_get(v, i), a, depth + 1));
        return out;
    }
    json_t *out = iog_jcheck(json_object());
    const char *key;
    size_t key_len;
    json_t *e;
    json_object_keylen_foreach(v, key, key_len, e) {
        json_object_setn_new_nocheck(out, key, key_len, to_wire(e, a, depth + 1));
    }
    return out;
}

char *iog_dump_wire(json_t *v, iog_atts *a)
{
    json_t *wire = to_wire(v, a, 0);
    char *text = json_dumps(wire, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(wire);
    return text;
}
