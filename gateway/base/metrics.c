/* metrics.c — counters for /metrics.  See metrics.h. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "util.h"

gw_metrics_t gw_metrics;

typedef struct nsp_entry {
    char *name;
    gw_nsp_counters c;
    struct nsp_entry *next; /* first-use order */
    UT_hash_handle hh;
} nsp_entry;

static nsp_entry *by_name, *head, **tail = &head;
static size_t n_entries;

gw_nsp_counters *gw_metrics_nsp(const char *name)
{
    nsp_entry *e;
    HASH_FIND_STR(by_name, name, e);
    if (e) return &e->c;
    /* Dynamic namespaces come and go without bound over a long run: past
     * the cap they share one series instead of growing the scrape. */
    if (n_entries >= GW_METRICS_MAX_NSP) {
        HASH_FIND_STR(by_name, "(other)", e);
        if (e) return &e->c;
        name = "(other)";
    }
    e = xcalloc(1, sizeof *e);
    e->name = xstrdup(name);
    HASH_ADD_KEYPTR(hh, by_name, e->name, strlen(e->name), e);
    *tail = e;
    tail = &e->next;
    n_entries++;
    return &e->c;
}

void gw_metrics_nsp_each(void (*fn)(const char *name, const gw_nsp_counters *c, void *ud), void *ud)
{
    for (nsp_entry *e = head; e; e = e->next)
        fn(e->name, &e->c, ud);
}

void gw_metrics_free(void)
{
    HASH_CLEAR(hh, by_name);
    while (head) {
        nsp_entry *e = head;
        head = e->next;
        free(e->name);
        free(e);
    }
    tail = &head;
    n_entries = 0;
}

size_t gw_metrics_escape(char *buf, size_t len, size_t cap, const char *v)
{
    for (; *v && len + 2 < cap; v++) {
        if (*v == '\\' || *v == '"') {
            buf[len++] = '\\';
            buf[len++] = *v;
        } else if (*v == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else {
            buf[len++] = *v;
        }
    }
    if (len < cap) buf[len] = '\0';
    return len;
}

void gw_metrics_parse_error(const char *why)
{
    if (!strcmp(why, "too many attachments"))
        GW_LIMIT(GW_LIMIT_ATTACHMENTS);
    else if (!strcmp(why, "JSON nested too deeply"))
        GW_LIMIT(GW_LIMIT_DEPTH);
}
