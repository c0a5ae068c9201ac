/* fastcgi_int.h — shared by fastcgi.c and fastcgi_sock.c only. */
#ifndef IOGATE_FASTCGI_INT_H
#define IOGATE_FASTCGI_INT_H

#include "fastcgi.h"

/* A listening socket for the front; -1 with errno set (logged where the
 * reason is not in errno). */
int fcgi_open_unix(const char *path);
int fcgi_open_tcp(const char *spec);
/* --fastcgi-socket-mode / -owner applied to the socket file; -1 logged. */
int fcgi_socket_access(const char *path, const fastcgi_options *opt);

#endif
