/* cl_codec.c — msgpack ⇄ jansson for the Redis adapter's messages
 * (cl_codec.h).  msgpack-c does the bytes (msgpack_unpack_next,
 * msgpack_pack_*); this file only maps values and binaries. */
#include "cl_codec.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void clc_atts_free(clc_atts *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->data[i]);
    a->n = 0;
}

static json_t *placeholder(size_t num)
{
    return json_pack("{s:b, s:I}", "_placeholder", 1, "num", (json_int_t)num);
}

static json_t *from_obj(const msgpack_object *o, int depth, clc_atts *atts, const char **why)
{
    if (depth > CLC_MAX_DEPTH) {
        *why = "nested too deep";
        return NULL;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        /* notepack writes whole numbers as integers, so a float here is
         * a fraction or a non-finite value (JSON has none: null). */
        double d = o->via.f64;
        if (d != d || d == 1.0 / 0.0 || d == -1.0 / 0.0) return json_null();
        return json_real(d);
    }
    case MSGPACK_OBJECT_STR: {
        json_t *s = json_stringn(o->via.str.ptr, o->via.str.size);
        if (!s) *why = "string not UTF-8";
        return s;
    }
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT: {
        const char *p = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.ptr : o->via.ext.ptr;
        size_t n = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.size : o->via.ext.size;
        if (!atts || atts->n >= CLC_MAX_ATT) {
            *why = atts ? "too many binaries" : "binary not allowed here";
            return NULL;
        }
        char *copy = malloc(n ? n : 1);
        if (!copy) return NULL;
        memcpy(copy, p, n);
        atts->data[atts->n] = copy;
        atts->len[atts->n] = n;
        return placeholder(atts->n++);
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *v = from_obj(&o->via.array.ptr[i], depth + 1, atts, why);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                *why = "map key not a string";
                json_decref(m);
                return NULL;
            }
            char *k = strndup(kv->key.via.str.ptr, kv->key.via.str.size);
            json_t *v = k ? from_obj(&kv->val, depth + 1, atts, why) : NULL;
            if (!v || json_object_set_new(m, k, v) < 0) {
                if (v) *why = "map key not UTF-8";
                free(k);
                json_decref(m);
                return NULL;
            }
            free(k);
        }
        return m;
    }
    }
    *why = "unknown msgpack type";
    return NULL;
}

json_t *clc_from_msgpack(const char *buf, size_t len, clc_atts *atts, char *err, size_t errlen)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    const char *why = NULL;
    json_t *j = NULL;
    msgpack_unpack_return r = msgpack_unpack_next(&u, buf, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS)
        why = r == MSGPACK_UNPACK_CONTINUE ? "truncated msgpack" : "malformed msgpack";
    else if (off != len)
        why = "bytes after the msgpack value";
    else
        j = from_obj(&u.data, 0, atts, &why);
    msgpack_unpacked_destroy(&u);
    if (!j) {
        if (atts) clc_atts_free(atts);
        if (err) snprintf(err, errlen, "%s", why ? why : "out of memory");
    }
    return j;
}

static int is_placeholder(const json_t *j, size_t n_att, size_t *num)
{
    if (json_object_size(j) != 2 || !json_is_true(json_object_get(j, "_placeholder"))) return 0;
    json_t *v = json_object_get(j, "num");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (size_t)json_integer_value(v) >= n_att)
        return 0;
    *num = (size_t)json_integer_value(v);
    return 1;
}

static int to_pk(msgpack_packer *pk, const json_t *j, const ipc_buf *att, size_t n_att, int depth)
{
    if (depth > CLC_MAX_DEPTH) return -1;
    switch (json_typeof(j)) {
    case JSON_NULL:
        return msgpack_pack_nil(pk);
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, (int64_t)json_integer_value(j));
    case JSON_REAL: {
        double d = json_real_value(j);
        /* notepack: a whole number is an integer whatever JSON spelled */
        if (d == (double)(int64_t)d && d > -9.2e18 && d < 9.2e18)
            return msgpack_pack_int64(pk, (int64_t)d);
        return msgpack_pack_double(pk, d);
    }
    case JSON_STRING: {
        size_t n = json_string_length(j);
        if (msgpack_pack_str(pk, n) < 0) return -1;
        return msgpack_pack_str_body(pk, json_string_value(j), n);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        if (msgpack_pack_array(pk, json_array_size(j)) < 0) return -1;
        json_array_foreach(j, i, v)
            if (to_pk(pk, v, att, n_att, depth + 1) < 0) return -1;
        return 0;
    }
    case JSON_OBJECT: {
        size_t num;
        if (is_placeholder(j, n_att, &num)) {
            if (msgpack_pack_bin(pk, att[num].len) < 0) return -1;
            return msgpack_pack_bin_body(pk, att[num].data, att[num].len);
        }
        const char *k;
        json_t *v;
        if (msgpack_pack_map(pk, json_object_size(j)) < 0) return -1;
        json_object_foreach((json_t *)j, k, v) {
            size_t kl = strlen(k);
            if (msgpack_pack_str(pk, kl) < 0 || msgpack_pack_str_body(pk, k, kl) < 0) return -1;
            if (to_pk(pk, v, att, n_att, depth + 1) < 0) return -1;
        }
        return 0;
    }
    }
    return -1;
}

char *clc_to_msgpack(const json_t *j, const ipc_buf *att, size_t n_att, size_t *out_len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (to_pk(&pk, j, att, n_att, 0) < 0) {
        msgpack_sbuffer_destroy(&sb);
        return NULL;
    }
    *out_len = sb.size;
    if (!sb.data) return calloc(1, 1);
    return msgpack_sbuffer_release(&sb);
}
