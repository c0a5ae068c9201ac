"""Broadcasts that ask for acknowledgements (PROTOCOL.md rule 25a):
``worker.to(room).timeout(ms).emit(ev, *args, callback=cb)`` — socket.io's
``io.to(room).timeout(ms).emit(ev, ..., (err, responses) => ...)``.

The gateways resolve the receivers: each gateway the BROADCAST went to
answers BROADCAST_ACK {id, count} once, then BROADCAST_ACK {id} naming a
socket for each client's answer.  ``cb(err, responses)`` runs once: err None
when every gateway has counted and every receiver answered, or an
AckTimeoutError ("operation has timed out") with the responses that arrived
at the timeout.  Each response is the client's first ack argument, as in
socket.io.

``worker.server_side_emit(ev, *args, callback=cb)`` (SERVER_EMIT /
SERVER_EMIT_ACK, rule 25b) is counted the same way: each gateway gives the
number of other worker processes of the namespace it relayed to, and their
answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set

from .errors import AckError, AckTimeoutError

if TYPE_CHECKING:  # pragma: no cover
    from .gateway import Gateway
    from .worker import Worker

MAX_ID = 2 ** 53 - 1
MAX_TIMEOUT_MS = 3600000


class _Pending:
    __slots__ = ("gateways", "expected", "responses", "timer", "callback")

    def __init__(self, callback: Callable[..., Any]) -> None:
        self.gateways: Set[Any] = set()
        self.expected = 0
        self.responses: List[Any] = []
        self.timer: Any = None
        self.callback = callback


class BroadcastAcks:
    def __init__(self, worker: "Worker") -> None:
        self._worker = worker
        self._next = 0
        self._pending: Dict[int, _Pending] = {}

    def emit(self, meta: Dict[str, Any], data: List[Any], timeout: Optional[float],
             callback: Callable[..., Any], mtype: str = "BROADCAST") -> bool:
        if type(timeout) not in (int, float) or not 1 <= timeout <= MAX_TIMEOUT_MS:
            raise ValueError("a broadcast with an acknowledgement needs timeout(ms), 1 to 3600000 ms")
        ack_id = self._next
        self._next = 0 if self._next >= MAX_ID else self._next + 1
        p = _Pending(callback)
        m = dict(meta, ack=ack_id, timeout=int(timeout))
        m.pop("volatile", None)  # an emit that waits for answers is never dropped
        for g in self._worker._gws:
            if g.send_app(mtype, "", m, data, False):
                p.gateways.add(g)
        self._pending[ack_id] = p
        p.timer = self._worker.call_later(timeout, self._settle, ack_id, AckTimeoutError())
        self._check(ack_id)  # no gateway took it: no receivers
        return bool(p.gateways)

    def on_message(self, g: "Gateway", m: Any) -> None:
        ack_id = m.meta.get("id")
        p = self._pending.get(ack_id) if type(ack_id) is int else None
        if p is None:
            self._worker.log.debug("BROADCAST_ACK %r after its callback ran, ignored", ack_id)
            return
        count = m.meta.get("count")
        if type(count) is int:
            if g in p.gateways:
                p.gateways.discard(g)
                p.expected += count
        else:
            p.responses.append(m.data[0] if m.data else None)
        self._check(ack_id)

    def _check(self, ack_id: int) -> None:
        p = self._pending.get(ack_id)
        if p is not None and not p.gateways and len(p.responses) >= p.expected:
            self._settle(ack_id, None)

    def _settle(self, ack_id: int, err: Optional[AckError]) -> None:
        p = self._pending.pop(ack_id, None)
        if p is None:
            return
        if p.timer is not None:
            p.timer.cancel()
        self._worker._call(p.callback, err, list(p.responses))

    def close(self) -> None:
        for ack_id in list(self._pending):
            self._settle(ack_id, AckError("worker closed"))
