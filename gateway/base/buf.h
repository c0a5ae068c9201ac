/* buf.h — the gateway's one growable buffer: a growth policy for any
 * array (gw_grow) and an appendable byte string on top of it (gw_buf).
 * Out of memory aborts (util.h), so nothing here fails.
 */
#ifndef IOGATE_BUF_H
#define IOGATE_BUF_H

#include <stddef.h>

/* Make the array p of `size`-byte elements, with room for *cap, hold at
 * least `need` elements.  When it must grow it doubles what is needed (at
 * least 256 bytes), so n appends cost O(n) copies.  Returns the (possibly
 * moved) array and updates *cap; contents are kept. */
void *gw_grow(void *p, size_t *cap, size_t need, size_t size);

/* A byte string built by appending; p is NUL-terminated once anything was
 * put (NULL before).  Zero-initialise it; free with gw_buf_free. */
typedef struct {
    char *p;
    size_t len, cap;
} gw_buf;

void gw_buf_put(gw_buf *b, const void *s, size_t n);
void gw_buf_str(gw_buf *b, const char *s);
void gw_buf_free(gw_buf *b);

#endif
