/* pct.c — percent-decoding (see pct.h). */
#include "pct.h"

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

long pct_decode(const char *p, size_t n, char *out, size_t outlen, int flags)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '%') {
            int a = i + 2 < n ? hexval((unsigned char)p[i + 1]) : -1;
            int b = a >= 0 ? hexval((unsigned char)p[i + 2]) : -1;
            if (a >= 0 && b >= 0) {
                ch = (char)(a * 16 + b);
                i += 2;
            } else if (!(flags & PCT_LENIENT)) {
                return -1;
            }
        } else if ((flags & PCT_PLUS) && ch == '+') {
            ch = ' ';
        }
        if (o + 1 >= outlen) return -1;
        out[o++] = ch;
    }
    if (!outlen) return -1;
    out[o] = '\0';
    return (long)o;
}
