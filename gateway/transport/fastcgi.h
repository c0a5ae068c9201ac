/* fastcgi.h — the FastCGI front: serve Engine.IO long-polling as a FastCGI
 * responder (libfcgi) behind nginx `fastcgi_pass`, Apache
 * mod_proxy_fcgi or lighttpd mod_fastcgi, sharing sessions with the native
 * HTTP listener (so a client may poll through FastCGI and upgrade to
 * WebSocket through a reverse proxy to the listener).
 *
 * Design: libfcgi is blocking, so a pool of small-stack threads (growing on
 * demand, 64 KiB stacks) each accepts a request with FCGX_Accept_r and
 * bridges it into the gateway as an HTTP/1.1 request over a socketpair:
 * one end is handed to the libev loop through a mutex-protected queue and
 * an ev_async, where http_server_adopt() serves it like any accepted
 * connection, with REMOTE_ADDR and HTTPS as its peer address and TLS flag;
 * the thread writes the request (REQUEST_METHOD, REQUEST_URI, HTTP_*
 * params as headers, the body) into its end and turns the response back
 * into FastCGI (`Status:`, headers, `X-Accel-Buffering: no`, body).  A held
 * long-poll holds one thread blocked in poll(2) and nothing in the loop;
 * the loop never blocks on libfcgi.  eio.c sees ordinary HTTP requests, so
 * polling semantics, limits and sessions are the native ones by
 * construction.  If the web server drops a held request (its client went
 * away), the thread closes its end and the session sees a dropped poll.
 *
 * Threads touch only their own descriptors, the queue and counters under
 * one mutex: no gateway state.  A malformed request gets a 4xx status and
 * a log line, and costs nothing but its thread's time.
 *
 * Trust: FastCGI params come from the web server, which is trusted to say
 * who the client is (REMOTE_ADDR, HTTPS); header params (HTTP_*) are the
 * client's and are validated like any request.
 */
#ifndef IOGATE_FASTCGI_H
#define IOGATE_FASTCGI_H

#include <ev.h>

#include "http.h"

typedef struct fastcgi_front fastcgi_front;

#define GW_FCGI_MODE_SET 0x10000u /* fastcgi_options.socket_mode: a mode was given */

typedef struct {
    const char *endpoint;         /* "HOST:PORT", "[IPV6]:PORT" or "unix:PATH" */
    unsigned max_threads;         /* requests in progress at once (4096) */
    unsigned response_timeout_ms; /* a bridged request with no complete answer by then gets 504 */
    /* unix socket only: permissions (| GW_FCGI_MODE_SET; 0 = the umask's)
     * and owner (-1 = unchanged), so that a web server running as another
     * user (www-data) may connect */
    unsigned socket_mode;
    long socket_uid, socket_gid;
} fastcgi_options;

/* Open the FastCGI socket and start the pool; bridged requests go to
 * `http` on `loop`.  NULL (logged) if the socket cannot be opened. */
fastcgi_front *fastcgi_front_new(struct ev_loop *loop, http_server *http,
                                 const fastcgi_options *opt);
/* Stop accepting and handing over (loop thread).  Requests in progress end
 * when their bridged connections close (http_server_close_all). */
void fastcgi_front_stop(fastcgi_front *f);
/* Stop, wait briefly for the threads to finish, free; sets *f to NULL. */
void fastcgi_front_destroy(fastcgi_front **f);

#endif
