/* fastcgi_sock.c — the FastCGI front's listening socket: a unix socket
 * (a stale file from an earlier run replaced, a live one refused) with the
 * mode and owner the web server's workers need, or TCP on IPv4 or IPv6.
 * Loop thread only, at start-up. */
#include "fastcgi.h"
#include "fastcgi_int.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* --- the listening socket --------------------------------------------------------- */

/* libfcgi's FCGX_OpenSocket exit()s on a bind failure and knows IPv4 only;
 * the socket is opened here and handed to FCGX_InitRequest instead. */
int fcgi_open_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno != EADDRINUSE) goto fail;
        /* a socket file left by a previous run, or a live server? */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0) close(probe);
        if (live) {
            close(fd);
            errno = EADDRINUSE;
            return -1;
        }
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) goto fail;
    }
    if (listen(fd, 1024) < 0) goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int fcgi_open_tcp(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    char host[256];
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof host) {
        errno = EINVAL;
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    char *h = host;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int r = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
    if (r) {
        log_error("fastcgi: %s: %s", spec, gai_strerror(r));
        errno = EINVAL;
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        errno = e;
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* --fastcgi-socket-mode / -owner.  Distributions run the web server's
 * workers as an unprivileged user (www-data): without these, a socket made
 * by a gateway running as another user is refused to them (nginx: 502). */
int fcgi_socket_access(const char *path, const fastcgi_options *opt)
{
    if (opt->socket_mode & GW_FCGI_MODE_SET && chmod(path, opt->socket_mode & 07777) < 0) {
        log_error("fastcgi: chmod %04o %s: %s", opt->socket_mode & 07777, path, strerror(errno));
        return -1;
    }
    if ((opt->socket_uid >= 0 || opt->socket_gid >= 0) &&
        chown(path, (uid_t)opt->socket_uid, (gid_t)opt->socket_gid) < 0) {
        log_error("fastcgi: chown %ld:%ld %s: %s", opt->socket_uid, opt->socket_gid, path,
                  strerror(errno));
        return -1;
    }
    return 0;
}
