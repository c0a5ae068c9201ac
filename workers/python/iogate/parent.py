"""A worker spawned by a gateway ends with it.

The gateway puts its pid in IOGATE_GATEWAY_PID when it starts a --worker.
Without this, a kill -9 of the gateway left its workers under PID 1,
retrying HELLO for ever.  A worker started any other way (no
IOGATE_GATEWAY_PID, or not the gateway's child) keeps retrying, so that it
re-greets a restarted gateway.
"""
import errno
import os
import signal

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as e:
        return e.errno != errno.ESRCH
    return True


def bind_to_gateway() -> None:
    """Arrange for SIGTERM when the spawning gateway dies (PR_SET_PDEATHSIG,
    through ctypes).  Raises RuntimeError if that gateway is gone already."""
    try:
        gw = int(os.environ.get("IOGATE_GATEWAY_PID", ""))
    except ValueError:
        return
    if gw <= 1:
        return
    if os.getppid() != gw:
        # a shell in between (it does not die with the gateway, so neither
        # do we), or the gateway died already and we were adopted
        if not _alive(gw):
            raise RuntimeError("the gateway that started this worker (pid %d) is gone" % gw)
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return  # not Linux: nothing to arrange
    # the gateway may have died between our fork and the prctl
    if os.getppid() != gw:
        raise RuntimeError("the gateway that started this worker (pid %d) is gone" % gw)
