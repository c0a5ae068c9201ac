"""AsyncWorker: the Worker on asyncio.

A separate class rather than an async-aware Worker, because the two differ in
what their methods return: here ``run()``, ``call()`` are coroutines and
``emit_with_ack`` without a callback, ``fetch_sockets`` and the
python-socketio methods are awaitables, as in python-socketio's AsyncServer;
the synchronous Worker keeps plain return values (and refuses ``async def``
callbacks at registration instead of never running them).

Every callback may be an ``async def``: handlers, middleware (awaited in
order; one that returns without calling ``next`` continues), connection and
disconnect handlers, ack callbacks.  Each runs as an asyncio task; what it
raises is logged with its traceback (and, from middleware, refuses the
socket with "Internal server error" unless it is a ConnectError).

The protocol machinery is the Worker's, unchanged: ``run()`` waits for the
gateway sockets with the event loop's own reader on their ZMQ_FD and calls
``process()``.  Sends are the Worker's too: they do not wait, except when a
gateway stops reading (rule 32: at most one heartbeat, then it counts as
lost), which blocks the event loop for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Callable, Dict, Generator, List, Optional, Set, Tuple

import zmq

from .errors import DisconnectedError
from .sioapi import DEFAULT_CALL_TIMEOUT_MS, SocketIOAPI, ack_value, sio_args
from .socket import CONNECTED, Socket
from .worker import STOP_GRACE, BroadcastOperator, Timer, Worker


class Done:
    """The result of an operation that is already done, usable with and
    without ``await``: ``await worker.emit(...)`` (python-socketio's
    AsyncServer) and ``worker.emit(...)`` (Node style) both send at once."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # pragma: no cover - makes this a generator

    def __bool__(self) -> bool:
        return bool(self.value)

    def __repr__(self) -> str:
        return "Done(%r)" % (self.value,)


class AsyncBroadcastOperator(BroadcastOperator):
    def fetch_sockets(self) -> Any:  # type: ignore[override]
        """Awaitable list of {"id", "rooms", "handshake", "data"}."""
        return Done(BroadcastOperator.fetch_sockets(self))


class AsyncWorker(Worker):
    """The Worker with asyncio: ``await worker.run()``; see the module
    docstring.  Same constructor as Worker."""

    _aio = True
    _operator_class = AsyncBroadcastOperator

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._wake: Optional[asyncio.Event] = None
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._in_process = False

    # -- tasks -------------------------------------------------------------------
    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _spawn(self, awaitable: Any, fn: Any, on_error: Any, on_done: Any) -> None:
        async def run() -> None:
            try:
                value = await awaitable
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if on_error is not None:
                    on_error(e)
                else:
                    self.log.error("%r raised", getattr(fn, "__name__", fn), exc_info=(type(e), e, e.__traceback__))
                return
            if on_done is not None:
                on_done(value)

        task = self._get_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._poke()

    def start_background_task(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> "asyncio.Task[Any]":
        """Run ``fn(*args, **kw)`` (a coroutine function) as a task whose
        exception is logged (python-socketio)."""
        task = self._get_loop().create_task(fn(*args, **kw))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            e = task.exception()
            self.log.error("background task raised", exc_info=(type(e), e, e.__traceback__))

    async def sleep(self, ms: float) -> None:
        """``await worker.sleep(ms)`` (python-socketio's sleep, in milliseconds)."""
        await asyncio.sleep(ms / 1000.0)

    def _poke(self) -> None:
        """Wake run() so it recomputes its timeout (a new timer, a task)."""
        if self._wake is not None:
            self._wake.set()

    def call_later(self, delay_ms: float, fn: Callable[..., Any], *args: Any) -> Timer:
        t = super().call_later(delay_ms, fn, *args)
        self._poke()
        return t

    # -- life --------------------------------------------------------------------
    async def run(self) -> Optional[str]:  # type: ignore[override]
        """Serve until stop() (then up to 0.25 s more, as Worker.run) or
        every gateway's BYE; returns the BYE reason or None."""
        self._loop = loop = asyncio.get_running_loop()
        self._wake = wake = asyncio.Event()
        self.start()
        # The loop's own reader on each ZMQ_FD (zmq.asyncio's poller costs
        # two futures and a task per wait): it only says "look at
        # ZMQ_EVENTS", which next_timeout() does before each wait; a send
        # from a task may take that signal, so such a send pokes (_sent).
        fds = [g.sock.getsockopt(zmq.FD) for g in self._gws]
        for fd in fds:
            loop.add_reader(fd, wake.set)
        deadline = None
        try:
            while not self._closed:
                if self._all_bye():
                    return self._bye_reason()
                now = time.monotonic()
                if self._stop and deadline is None:
                    deadline = now + STOP_GRACE
                if deadline is not None and now >= deadline:
                    return None
                t = self.next_timeout()
                if deadline is not None:
                    t = min(t, (deadline - now) * 1000.0)
                if t > 0 and not wake.is_set():
                    timer = loop.call_later(t / 1000.0, wake.set)
                    await wake.wait()
                    timer.cancel()
                else:
                    await asyncio.sleep(0)  # let the tasks run
                wake.clear()
                self._in_process = True
                try:
                    self.process()
                finally:
                    self._in_process = False
            return None
        finally:
            for fd in fds:
                try:
                    loop.remove_reader(fd)
                except (OSError, ValueError):  # closed meanwhile
                    pass
            self._stop = False

    def _sent(self) -> None:
        if not self._in_process:
            self._poke()

    def stop(self) -> None:
        """Make run() return soon.  Safe from signal handlers and threads."""
        self._stop = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        super().close()

    async def __aenter__(self) -> "AsyncWorker":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    # -- awaitables ----------------------------------------------------------------
    def _ack_future(self, s: Socket, event: str, args: Tuple[Any, ...], timeout: Optional[float]) -> Any:
        fut = self._get_loop().create_future()

        def settle(err: Any, *reply: Any) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(ack_value(reply))

        if not s._emit_ack(event, args, settle, timeout):
            settle(DisconnectedError())
        return fut

    def _bcast_ack_future(self, op: BroadcastOperator, event: str, args: Any) -> Any:
        fut = self._get_loop().create_future()

        def settle(err: Any, responses: Any) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(responses)

        op.emit(event, *args, callback=settle)
        return fut

    async def call(self, event: str, *data: Any, to: Optional[str] = None,  # type: ignore[override]
                   sid: Optional[str] = None, namespace: Optional[str] = None,
                   timeout: Optional[float] = DEFAULT_CALL_TIMEOUT_MS) -> Any:
        """``await worker.call(event, data, to=sid, timeout=ms)``: the ack
        value (None, one value or a tuple); AckTimeoutError /
        DisconnectedError."""
        self._check_nsp(namespace)
        s = self._call_target(to if to is not None else sid)
        return await self._ack_future(s, event, tuple(sio_args(data)), timeout)

    def fetch_sockets(self, rooms: Any = None) -> Any:
        return Done(super().fetch_sockets(rooms).value)

    def emit(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.emit(self, *args, **kw))

    def send(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.send(self, *args, **kw))

    def enter_room(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.enter_room(self, *args, **kw))

    def leave_room(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.leave_room(self, *args, **kw))

    def close_room(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.close_room(self, *args, **kw))

    def disconnect(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.disconnect(self, *args, **kw))

    def get_session(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.get_session(self, *args, **kw))

    def save_session(self, *args: Any, **kw: Any) -> Any:
        return Done(SocketIOAPI.save_session(self, *args, **kw))

    @contextlib.asynccontextmanager
    async def session(self, sid: str, namespace: Optional[str] = None) -> AsyncIterator[Dict[str, Any]]:  # type: ignore[override]
        """``async with worker.session(sid) as session: …``"""
        self._check_nsp(namespace)
        yield self._session_socket(sid)._session
