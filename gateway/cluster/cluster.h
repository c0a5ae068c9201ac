/* cluster.h — a gateway's link to Redis for the Socket.IO Redis adapter
 * protocol (ipc/REDIS.md): one publishing connection (hiredis's async API
 * on the gateway's libev loop) and one subscribed connection, each
 * reconnecting on its own with backoff.  Knows channels and bytes, not
 * Socket.IO: socketio/sio_cluster.c gives the messages their meaning.
 *
 * While the publishing link is down, messages wait in a bounded queue
 * (queue_max); past it they are dropped, counted and logged.  Every
 * subscription is remembered and sent again after a reconnect. */
#ifndef IOGATE_CLUSTER_H
#define IOGATE_CLUSTER_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cl_node cl_node;

typedef enum { CL_SUB, CL_PSUB, CL_SSUB } cl_sub_kind;

typedef struct {
    const char *url;  /* redis://[:password@]host[:port][/db] or unix:/path */
    const char *key;  /* channel prefix, "socket.io" */
    int sharded;      /* SPUBLISH/SSUBSCRIBE (Redis 7) instead of PUBLISH/(P)SUBSCRIBE */
    size_t queue_max; /* messages held while Redis is away (1000) */
} cl_options;

typedef struct {
    /* A message on a subscription: `role` and `nsp` as given to
     * cl_subscribe(); `channel` is the channel it came on. */
    void (*on_message)(void *ud, int role, const char *nsp, const char *channel, const char *data,
                       size_t len);
} cl_handler;

/* Parse url into its parts (pure; tested).  0, or -1 with why in err. */
typedef struct {
    char host[256];
    int port;
    char unix_path[256];
    char password[256];
    int db;
} cl_url;
int cl_url_parse(const char *url, cl_url *out, char *err, size_t errlen);

/* Starts connecting at once; a Redis that is not there yet is retried. */
cl_node *cl_node_new(struct ev_loop *loop, const cl_options *o, const cl_handler *h, void *ud);
void cl_node_destroy(cl_node **pn);

/* This node's uid (16 hex digits), the `uid` of what it publishes. */
const char *cl_uid(const cl_node *n);
const char *cl_key(const cl_node *n);
int cl_sharded(const cl_node *n);

int cl_subscribe(cl_node *n, cl_sub_kind kind, const char *channel, const char *nsp, int role);
void cl_unsubscribe(cl_node *n, cl_sub_kind kind, const char *channel);
/* PUBLISH (SPUBLISH when sharded) a copy of data; queued while down.
 * -1 when dropped (queue full: logged and counted). */
int cl_publish(cl_node *n, const char *channel, const char *data, size_t len);
/* Messages dropped because the queue was full, since the start. */
uint64_t cl_dropped(const cl_node *n);
int cl_connected(const cl_node *n);

#endif
