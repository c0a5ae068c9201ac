/* buf.c — growth policy and appendable bytes (see buf.h). */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MIN_BYTES 256

void *gw_grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return p;
    size_t n = need * 2;
    if (n * size < MIN_BYTES) n = (MIN_BYTES + size - 1) / size;
    *cap = n;
    return xrealloc(p, n * size);
}

void gw_buf_put(gw_buf *b, const void *s, size_t n)
{
    b->p = gw_grow(b->p, &b->cap, b->len + n + 1, 1);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void gw_buf_str(gw_buf *b, const char *s)
{
    gw_buf_put(b, s, strlen(s));
}

void gw_buf_free(gw_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
