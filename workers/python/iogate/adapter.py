"""The adapter's room events (socket.io's ``io.of(nsp).adapter.on(...)``):
``create-room`` (room), ``join-room`` (room, sid), ``leave-room`` (room,
sid) and ``delete-room`` (room), in socket.io's order, plus ``rooms`` (room
-> set of sids) and ``sids`` (sid -> its rooms, in join order, as dict keys).

The worker owns its namespace's room state — every join and leave goes
through it — so it raises them itself; the gateway has nothing to add
(PROTOCOL.md rule 26).  As in socket.io a socket's own id is a room: joined
when the socket arrives (here at its CONNECT, before the middleware), left
with every other room between "disconnecting" and "disconnect".

    @worker.on_adapter("join-room")
    def joined(room, sid): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Set

if TYPE_CHECKING:  # pragma: no cover
    from .worker import Worker

EVENTS = ("create-room", "join-room", "leave-room", "delete-room")


class Adapter:
    def __init__(self, worker: "Worker") -> None:
        self._worker = worker
        self.rooms: Dict[str, Set[str]] = {}
        self.sids: Dict[str, Dict[str, bool]] = {}  # ordered: rooms are left in join order
        self._listeners: Dict[str, List[Callable[..., Any]]] = {e: [] for e in EVENTS}

    def on(self, event: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """Listen to one of EVENTS; usable as a decorator."""
        if event not in self._listeners:
            raise ValueError("adapter events are %s, not %r" % (", ".join(EVENTS), event))

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self._worker._check_fn(f)
            self._listeners[event].append(f)
            return f
        return register(fn) if fn is not None else register

    def off(self, event: str, fn: Optional[Callable[..., Any]] = None) -> None:
        if event in self._listeners:
            self._listeners[event] = [] if fn is None else [f for f in self._listeners[event] if f is not fn]

    def _emit(self, event: str, *args: Any) -> None:
        for fn in list(self._listeners[event]):
            self._worker._call(fn, *args)  # logged if it raises

    def _add(self, sid: str, rooms: Iterable[str]) -> None:
        mine = self.sids.setdefault(sid, {})
        for room in rooms:
            mine[room] = True
            if room not in self.rooms:
                self.rooms[room] = set()
                self._emit("create-room", room)
            if sid not in self.rooms[room]:
                self.rooms[room].add(sid)
                self._emit("join-room", room, sid)

    def _del(self, sid: str, room: str) -> None:
        if sid in self.sids:
            self.sids[sid].pop(room, None)
        members = self.rooms.get(room)
        if members is None:
            return
        if sid in members:
            members.discard(sid)
            self._emit("leave-room", room, sid)
        if not members:
            del self.rooms[room]
            self._emit("delete-room", room)

    def _del_all(self, sid: str) -> None:
        for room in list(self.sids.get(sid, ())):
            self._del(sid, room)
        self.sids.pop(sid, None)

    def _reset(self) -> None:
        self.rooms.clear()
        self.sids.clear()
