/* echo.h — the --echo diagnostic: every Engine.IO message a client sends
 * is sent straight back on the same session (text as text, binary as
 * binary).  No Socket.IO, no workers: it exercises the transport alone. */
#ifndef IOGATE_ECHO_H
#define IOGATE_ECHO_H

#include "eio.h"

/* The handler; pass NULL as its user data. */
const eio_handler *gw_echo_handler(void);

#endif
