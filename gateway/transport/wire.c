/* wire.c — the shared outgoing message and its one-time WebSocket framing
 * (see wire.h). */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct wire_msg {
    unsigned refs;
    unsigned char binary;
    unsigned char has_prefix;
    unsigned char ws_hlen; /* 0 until framed */
    size_t len;
    char *alt; /* the upper layer's other encoding, lazily */
    size_t alt_len;
    unsigned char raw[]; /* WIRE_MSG_HEADROOM + len + 1 */
};

wire_msg *wire_msg_new(int binary, int prefix, size_t len)
{
    wire_msg *m = xmalloc(sizeof *m + WIRE_MSG_HEADROOM + len + 1);
    m->refs = 1;
    m->binary = binary ? 1 : 0;
    m->has_prefix = prefix != WIRE_NO_PREFIX;
    m->ws_hlen = 0;
    m->len = len;
    m->alt = NULL;
    m->alt_len = 0;
    m->raw[WIRE_MSG_HEADROOM - 1] = m->has_prefix ? (unsigned char)prefix : 0;
    m->raw[WIRE_MSG_HEADROOM + len] = '\0';
    return m;
}

char *wire_msg_data(wire_msg *m)
{
    return (char *)m->raw + WIRE_MSG_HEADROOM;
}
size_t wire_msg_len(const wire_msg *m)
{
    return m->len;
}
int wire_msg_binary(const wire_msg *m)
{
    return m->binary;
}

wire_msg *wire_msg_ref(wire_msg *m)
{
    m->refs++;
    return m;
}

void wire_msg_unref(wire_msg **mp)
{
    wire_msg *m = *mp;
    *mp = NULL;
    if (!m || --m->refs) return;
    free(m->alt);
    free(m);
}

const char *wire_msg_packet(wire_msg *m, size_t *len)
{
    *len = m->len + m->has_prefix;
    return (const char *)m->raw + WIRE_MSG_HEADROOM - m->has_prefix;
}

const char *wire_msg_alt(const wire_msg *m, size_t *len)
{
    *len = m->alt_len;
    return m->alt;
}

void wire_msg_set_alt(wire_msg *m, char **p, size_t len)
{
    free(m->alt);
    m->alt = *p;
    m->alt_len = len;
    *p = NULL;
}

size_t wire_ws_header(unsigned char out[10], int opcode, uint64_t len)
{
    out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

const char *wire_msg_ws_frame(wire_msg *m, size_t *len)
{
    size_t plen;
    const char *p = wire_msg_packet(m, &plen);
    size_t start = (size_t)((const unsigned char *)p - m->raw);
    if (!m->ws_hlen) {
        unsigned char h[10];
        size_t hl = wire_ws_header(h, m->binary ? 2 : 1, plen);
        memcpy(m->raw + start - hl, h, hl);
        m->ws_hlen = (unsigned char)hl;
    }
    *len = m->ws_hlen + plen;
    return (const char *)m->raw + start - m->ws_hlen;
}
