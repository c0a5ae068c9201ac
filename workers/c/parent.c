/* parent.c — a worker spawned by a gateway ends with it.
 *
 * The gateway puts its pid in IOGATE_GATEWAY_PID when it starts a --worker
 * (gateway/workers/supervisor.c spawn()).  Without this, a kill -9 of the gateway left
 * its workers under PID 1, retrying HELLO for ever.  A worker started any
 * other way (no IOGATE_GATEWAY_PID, or not the gateway's child) keeps
 * retrying, so that it re-greets a restarted gateway. */
#include "worker_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int iog_bind_to_gateway(void)
{
    const char *v = getenv("IOGATE_GATEWAY_PID");
    if (!v || !*v) return 0;
    char *end;
    long gw = strtol(v, &end, 10);
    if (*end || gw <= 1) return 0;
    if (getppid() != (pid_t)gw) {
        /* Either a process sits between us and the gateway (a shell that
         * did not exec; it does not die with the gateway, so neither do we),
         * or the gateway is gone already and we were adopted. */
        if (kill((pid_t)gw, 0) < 0 && errno == ESRCH) goto gone;
        return 0;
    }
#ifdef PR_SET_PDEATHSIG
    /* SIGTERM: the application's handler (if any) stops the worker
     * gracefully, as for any other SIGTERM. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    /* The gateway may have died between our fork and the prctl: then the
     * signal will never come, but we have a new parent already. */
    if (getppid() == (pid_t)gw) return 0;
gone:
    iog_log(IOG_LOG_ERROR, "the gateway that started this worker (pid %ld) is gone", gw);
    return iog_fail(ESRCH, "the gateway that started this worker is gone");
}
