/* admin.h — the operator's endpoint (--admin-listen HOST:PORT, off by
 * default, never the public listener): GET /healthz and GET /metrics
 * (Prometheus text format 0.0.4), on a second http.c server of its own.
 * README "Metrics and health" lists every series.
 *
 * Trust: requests are untrusted bytes parsed by http-parser like the public
 * ones; only GET/HEAD of the two paths are answered (405/404 otherwise).
 */
#ifndef IOGATE_ADMIN_H
#define IOGATE_ADMIN_H

#include <ev.h>

#include "eio.h"
#include "gw_app.h"

typedef struct gw_admin gw_admin;

/* Listen on host:port.  `app` is the Socket.IO layer (NULL in --echo mode,
 * then `srv` is the Engine.IO server); both outlive the admin endpoint.
 * NULL (logged) if it cannot listen. */
gw_admin *gw_admin_new(struct ev_loop *loop, const char *host, int port, gw_app *app,
                       eio_server *srv);
void gw_admin_destroy(gw_admin **a);

/* The /healthz verdict and body (JSON) into buf; 200 or 503. */
int gw_admin_health(gw_admin *a, char *buf, size_t cap);

#endif
