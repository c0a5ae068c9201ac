/* b64.c — base64 over OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock (see b64.h). */
#include "b64.h"

#include <openssl/evp.h>
#include <string.h>

size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t b64_encode(const void *in, size_t n, char *out)
{
    /* EVP_EncodeBlock takes an int length: encode in big slices (a multiple
     * of 3 so the slices join without padding in the middle). */
    size_t done = 0, o = 0;
    const size_t slice = (size_t)3 << 28;
    while (n - done > slice) {
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, (const unsigned char *)in + done,
                                     (int)slice);
        done += slice;
    }
    o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, (const unsigned char *)in + done,
                                 (int)(n - done));
    out[o] = '\0';
    return o;
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

long b64_decode(const char *in, size_t n, unsigned char *out)
{
    /* EVP_DecodeBlock is lenient (skips surrounding whitespace) and counts
     * '=' padding as zero bytes in its result, so validate here first and
     * decode the unpadded tail separately. */
    size_t pad = 0;
    while (pad < 2 && n > pad && in[n - 1 - pad] == '=')
        pad++;
    if (pad && n % 4) return -1;
    size_t body = n - pad;
    for (size_t i = 0; i < body; i++)
        if (!b64_char((unsigned char)in[i])) return -1;
    size_t rem = body % 4;
    if (rem == 1) return -1;
    size_t full = body - rem;
    if (full > (size_t)1 << 30) return -1; /* int range of EVP; far above any payload cap */
    long o = 0;
    if (full) {
        int r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)full);
        if (r < 0) return -1;
        o = r;
    }
    if (rem) {
        unsigned char q[4] = {'=', '=', '=', '='}, t[3];
        memcpy(q, in + full, rem);
        if (EVP_DecodeBlock(t, q, 4) < 0) return -1;
        memcpy(out + o, t, rem - 1);
        o += (long)rem - 1;
    }
    return o;
}
