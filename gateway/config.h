/* config.h — the gateway's configuration: command-line flags and an
 * optional plain config file (`key = value` lines using the long flag
 * names, `#` comments).  Flags on the command line win over the file; a
 * repeatable flag given on the command line replaces the file's list.
 *
 * Trust: argv and the config file come from the operator; every value is
 * still validated and rejected with a message.
 */
#ifndef IOGATE_CONFIG_H
#define IOGATE_CONFIG_H

#include <stddef.h>

#include "eio.h"

/* One --worker NSP=CMD as given (main.c turns it into a gw_worker_spec). */
typedef struct {
    char *nsp; /* "/chat" */
    char *cmd; /* command line run by the Socket.IO layer */
} gw_cfg_worker;

typedef struct {
    eio_config eio; /* its strings point into the fields below */
    char *host, *path, *cookie, *static_dir, *client_js;
    char **cors; /* NULL-terminated, or NULL */
    size_t ncors;
    gw_cfg_worker *workers;
    size_t nworkers;
    char *ipc;                      /* --ipc ENDPOINT, NULL = the Socket.IO layer picks */
    unsigned connect_timeout_ms;    /* 45000 */
    unsigned max_attachments;       /* 10 */
    unsigned worker_heartbeat_ms;   /* 5000: IPC heartbeat; 3 missed = worker dead */
    unsigned worker_restart_ms;     /* 100: first restart delay, doubling ... */
    unsigned worker_restart_max_ms; /* 10000: ... up to this */
    unsigned worker_idle_ms;        /* 60000: dynamic namespace workers stop when unused */
    unsigned worker_crash_limit;    /* 10 exits within 60 s: stop restarting */
    unsigned worker_credit;         /* 10000 client packets in flight per worker */
    unsigned max_dynamic;           /* 100 dynamic namespace workers at once */
    unsigned max_depth;             /* 32: JSON nesting accepted from clients */
    char *ipc_curve_secret;         /* --ipc-curve-secret FILE, NULL = no CURVE */
    char *admission;                /* --admission NSP, NULL = off */
    char *redis;                    /* --redis URL, NULL = no cluster */
    char *redis_key;                /* --redis-key, NULL = "socket.io" */
    int redis_sharded;              /* --redis-sharded */
    size_t redis_queue;             /* --redis-queue, 1000 */
    /* who may speak for a namespace (ipc/PROTOCOL.md rules 10a-10f), repeatable:
     * "NSP=FILE" / "NSP,NSP=FILE" as given */
    char **worker_keys, **emitter_keys;
    size_t nworker_keys, nemitter_keys;
    int worker_keys_from_file, emitter_keys_from_file;
    unsigned worker_grace_ms; /* 0: worker heartbeat + 1000 */
    /* connection state recovery: --recovery-window, --recovery-skip-middlewares */
    unsigned recovery_window_ms; /* 0 = off */
    int recovery_skip;
#define GW_CONFIG_MAX_RECOVERY 64 /* namespaces with their own recovery settings */
    struct gw_recovery_cfg {
        char *nsp;
        long window_ms; /* -1: as for all namespaces */
        int skip;       /* -1: as for all namespaces */
    } * recovery;
    size_t nrecovery;
    int echo;
    int log_level;    /* GW_LOG_* */
    int log_format;   /* GW_LOG_TEXT / GW_LOG_JSON (--log-format) */
    char *admin_host; /* --admin-listen HOST:PORT (/healthz, /metrics); NULL = off */
    int admin_port;
    /* behind a web server: --trust-proxy (repeatable), --fastcgi */
    char **trust; /* NULL-terminated, or NULL */
    size_t ntrust;
    char *fastcgi;
    /* TLS on the listener: --tls-cert, --tls-key (both or neither) */
    char *tls_cert, *tls_key;
    int trust_from_file;
    /* internal: lists still holding values from the config file */
    int cors_from_file, workers_from_file;
} gw_config;

enum { GW_CONFIG_OK = 0, GW_CONFIG_HELP = 1, GW_CONFIG_VERSION = 2, GW_CONFIG_ERROR = -1 };

void gw_config_init(gw_config *c);
/* Parse argv (argv[0] is skipped), loading --config FILE first.  Returns a
 * GW_CONFIG_* value; on error a message is written to err. */
int gw_config_parse(gw_config *c, int argc, char **argv, char *err, size_t errlen);
/* Set one option by long name (without "--"); value NULL for a bare flag.
 * 0, or -1 with a message. */
int gw_config_set(gw_config *c, const char *key, const char *value, int from_file, char *err,
                  size_t errlen);
/* Read a config file; 0, or -1 with a message naming the line. */
int gw_config_load(gw_config *c, const char *file, char *err, size_t errlen);
void gw_config_free(gw_config *c);
/* The --help text. */
const char *gw_config_usage(void);

#endif
