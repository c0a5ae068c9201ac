/* proxy.c — trusted proxies and X-Forwarded-*.  See proxy.h for the rule. */
#include "proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    int family; /* AF_INET or AF_INET6 */
    uint8_t b[16];
} ipaddr;

/* Parse a textual address (IPv6 may be in brackets); IPv4-mapped IPv6
 * becomes IPv4.  0 or -1. */
static int parse_ip(const char *s, size_t n, ipaddr *out)
{
    char buf[INET6_ADDRSTRLEN + 2];
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->b) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        out->family = AF_INET6;
        if (memcmp(out->b, mapped, 12) == 0) {
            memmove(out->b, out->b + 12, 4);
            out->family = AF_INET;
        }
        return 0;
    }
    return -1;
}

/* Parse a spec into an address and a prefix length.  0 or -1. */
static int parse_spec(const char *spec, ipaddr *net, int *bits)
{
    const char *slash = strchr(spec, '/');
    size_t n = slash ? (size_t)(slash - spec) : strlen(spec);
    if (parse_ip(spec, n, net) < 0) return -1;
    int max = net->family == AF_INET ? 32 : 128;
    if (!slash) {
        *bits = max;
        return 0;
    }
    char *end;
    if (!isdigit((unsigned char)slash[1])) return -1;
    long b = strtol(slash + 1, &end, 10);
    if (*end || b < 0 || b > max) return -1;
    *bits = (int)b;
    return 0;
}

static int prefix_match(const ipaddr *a, const ipaddr *net, int bits)
{
    if (a->family != net->family) return 0;
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a->b, net->b, (size_t)full) != 0) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a->b[full] & mask) == (net->b[full] & mask);
}

int proxy_trust_check(const char *spec)
{
    ipaddr net;
    int bits;
    if (!strcmp(spec, "loopback")) return 0;
    return parse_spec(spec, &net, &bits);
}

static int match_ip(const char *const *specs, const ipaddr *a)
{
    for (; specs && *specs; specs++) {
        ipaddr net;
        int bits;
        if (!strcmp(*specs, "loopback")) {
            static const uint8_t lo6[16] = {[15] = 1};
            if ((a->family == AF_INET && a->b[0] == 127) ||
                (a->family == AF_INET6 && memcmp(a->b, lo6, 16) == 0))
                return 1;
            continue;
        }
        if (parse_spec(*specs, &net, &bits) == 0 && prefix_match(a, &net, bits)) return 1;
    }
    return 0;
}

int proxy_trust_match(const char *const *specs, const char *addr)
{
    ipaddr a;
    if (!addr || parse_ip(addr, strlen(addr), &a) < 0) return 0;
    return match_ip(specs, &a);
}

static void set_addr(char *out, size_t outlen, const char *s, size_t n)
{
    if (!outlen) return;
    if (n >= outlen) n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Print a parsed address in its canonical text form. */
static void put_ip(char *out, size_t outlen, const ipaddr *a)
{
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(a->family, a->b, buf, sizeof buf)) buf[0] = '\0';
    set_addr(out, outlen, buf, strlen(buf));
}

/* Walk the X-Forwarded-For entries right to left.  Returns 1 once the
 * client is decided (written to addr), 0 to go on to the header before. */
static int walk_xff(const char *const *trusted, const char *v, char *addr, size_t addrlen)
{
    size_t end = strlen(v);
    for (;;) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (b > a) { /* empty list elements are allowed and skipped */
            ipaddr ip;
            if (parse_ip(v + a, b - a, &ip) < 0) return 1; /* keep the last trusted address */
            put_ip(addr, addrlen, &ip);
            if (!match_ip(trusted, &ip)) return 1;
        }
        if (start == 0) return 0;
        end = start - 1;
    }
}

void proxy_resolve(const char *const *trusted, const char *peer, int peer_secure,
                   const http_field *headers, size_t n_headers, char *addr, size_t addrlen,
                   int *secure)
{
    ipaddr p;
    int peer_ok = peer && parse_ip(peer, strlen(peer), &p) == 0;
    if (peer_ok)
        put_ip(addr, addrlen, &p);
    else
        set_addr(addr, addrlen, peer ? peer : "", peer ? strlen(peer) : 0);
    *secure = peer_secure;
    if (!peer_ok || !match_ip(trusted, &p)) return;

    for (size_t i = n_headers; i-- > 0;)
        if (!strcmp(headers[i].name, "x-forwarded-for") &&
            walk_xff(trusted, headers[i].value, addr, addrlen))
            break;

    for (size_t i = n_headers; i-- > 0;) {
        if (strcmp(headers[i].name, "x-forwarded-proto") != 0) continue;
        const char *v = headers[i].value, *c = strrchr(v, ',');
        if (c) v = c + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n) {
            *secure = n == 5 && !strncasecmp(v, "https", 5);
            break;
        }
    }
}
