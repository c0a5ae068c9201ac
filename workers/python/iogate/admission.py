"""Handshake admission (ipc/PROTOCOL.md rule 39): a gateway started with
``--admission NSP`` asks NSP's worker, before any session exists, whether a
handshake may go on.  The application registers one function::

    @worker.allow_request
    def allow(handshake):
        if handshake["headers"].get("origin") != "https://app.example":
            return False, "bad origin"   # the client gets 403 {"code":4,"message":"bad origin"}
        return True

In an AsyncWorker the function may be ``async def``.  ``handshake`` is a dict: headers, query, url, address, secure, xdomain,
time, issued (CONNECT's handshake without auth).  The function returns
True, False (message "Forbidden"), or (False, message).  A function taking
two arguments ``(handshake, callback)`` answers later instead:
``callback(None, True)`` or ``callback("message", False)`` — socket.io's
allowRequest signature.  The gateway refuses a handshake that gets no
answer within its ``--admission-timeout``.
"""
import inspect
import logging

log = logging.getLogger("iogate.worker")


def _arity(fn):
    try:
        ps = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(1 for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def handle(worker, g, m):
    """Answer one ADMIT message ``m`` from gateway ``g`` for ``worker``."""
    req = m.meta.get("req")
    if type(req) is not int:
        log.warning("ADMIT without an integer req ignored")
        return
    answered = []

    def answer(err, ok):
        if answered:
            return
        answered.append(True)
        meta = {"req": req, "ok": bool(ok)}
        if not ok and err:
            meta["message"] = err if isinstance(err, str) else str(err)
        g.send_app("ADMIT", "", meta)

    fn = getattr(worker, "_allow_request", None)
    if fn is None:
        if not getattr(worker, "_admit_warned", False):
            log.warning("the gateway asks for admission (ADMIT) but no allow_request "
                        "function is set: refusing")
        worker._admit_warned = True
        answer(None, False)
        return
    hs = m.meta.get("handshake")
    if not isinstance(hs, dict):
        hs = {}
    two = _arity(fn) >= 2

    def verdict(v):
        if two:
            return  # the callback answers
        if isinstance(v, tuple):
            answer(v[1] if len(v) > 1 else None, bool(v[0]) if v else False)
        else:
            answer(None, v is True or (v is not None and bool(v)))

    def failed(exc):
        log.error("allow_request failed (%s): refusing the handshake", exc)
        answer(None, False)

    try:
        v = fn(hs, answer) if two else fn(hs)
    except Exception:
        log.exception("allow_request raised: refusing the handshake")
        answer(None, False)
        return
    # an ``async def`` (AsyncWorker) is awaited; in the synchronous Worker it
    # is refused, never taken as a yes
    worker._after(v, fn, on_error=failed, on_done=verdict)
