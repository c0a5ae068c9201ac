/* echo.c — the --echo diagnostic handler.  See echo.h. */
#include "echo.h"

#include "util.h"

static void on_open(eio_session *s, void *ud)
{
    log_info("echo: session %s open (%s)", eio_session_id(s), eio_session_transport_name(s));
}

static void on_message(eio_session *s, const char *data, size_t len, int binary, void *ud)
{
    eio_msg *m = eio_msg_copy(binary, data, len);
    eio_session_send(s, m);
    eio_msg_unref(&m);
}

static void on_upgrade(eio_session *s, void *ud)
{
    log_info("echo: session %s upgraded", eio_session_id(s));
}

static void on_close(eio_session *s, eio_close_reason reason, void *ud)
{
    log_info("echo: session %s closed: %s", eio_session_id(s), eio_close_reason_str(reason));
}

const eio_handler *gw_echo_handler(void)
{
    static const eio_handler h = {
        .on_open = on_open,
        .on_message = on_message,
        .on_upgrade = on_upgrade,
        .on_close = on_close,
    };
    return &h;
}
