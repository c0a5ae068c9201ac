"""iogate IPC protocol version 1: frames, JSON and binary placeholders.

Implements the message format of ipc/PROTOCOL.md §2 for the worker side.  A
message is a ZeroMQ multipart message of at least six frames::

    version type namespace socket meta data *attachment

This module has no state; the Worker uses it to build and parse frames.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

VERSION_FRAME = b"IOG1"
PROTOCOL_VERSION = 1

# Types a worker receives (gateway -> worker) and sends (worker -> gateway).
FROM_GATEWAY = frozenset(
    ["WELCOME", "PING", "PONG", "BYE", "CONNECT", "EVENT", "ACK", "DISCONNECT", "CONN", "REPLY", "ERROR", "ADMIT",
     "BROADCAST_ACK", "SERVER_EMIT_ACK"]
)
TO_GATEWAY = frozenset(
    ["HELLO", "PING", "PONG", "BYE", "ACCEPT", "REFUSE", "EMIT", "ACK", "BROADCAST", "JOIN", "LEAVE",
     "DISCONNECT", "QUERY", "PROCESSED", "ADMIT"]
)

#: Event names the server-side API may not emit (Socket.IO v5).
RESERVED_EVENTS = frozenset(
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]
)

_BINARY = (bytes, bytearray, memoryview)


class ProtocolError(Exception):
    """A received message that must not be acted on (PROTOCOL.md rule 8)."""


def _dump(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes, like JSON.stringify (non-ASCII kept)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it as JSON allows
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


def deconstruct(args: Any) -> Tuple[Any, List[bytes]]:
    """Replace binary values in `args` (at any depth) by placeholders.

    Returns (json_value, attachments).  Tuples become lists; dict keys must be
    strings (JSON objects)."""
    attachments: List[bytes] = []

    def walk(v: Any) -> Any:
        if isinstance(v, _BINARY):
            attachments.append(bytes(v))
            return {"_placeholder": True, "num": len(attachments) - 1}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    return walk(args), attachments


def reconstruct(value: Any, attachments: Sequence[bytes]) -> Any:
    """Replace placeholders in a parsed JSON value by the attachment bytes.

    Raises ProtocolError for a placeholder that refers to no attachment."""

    def walk(v: Any) -> Any:
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            if v.get("_placeholder") is True and "num" in v:
                num = v["num"]
                if type(num) is not int or not 0 <= num < len(attachments):
                    raise ProtocolError("placeholder refers to no attachment")
                return attachments[num]
            return {k: walk(x) for k, x in v.items()}
        return v

    return walk(value)


def has_binary(value: Any) -> bool:
    if isinstance(value, _BINARY):
        return True
    if isinstance(value, (list, tuple)):
        return any(has_binary(x) for x in value)
    if isinstance(value, dict):
        return any(has_binary(x) for x in value.values())
    return False


def encode(mtype: str, namespace: str = "", sid: str = "", meta: Optional[Dict[str, Any]] = None,
           data: Optional[Sequence[Any]] = None) -> List[bytes]:
    """Frames of one message.  `meta` is a dict (None or {} -> empty frame);
    `data` is a list of arguments, may hold bytes (None -> empty frame)."""
    frames = [VERSION_FRAME, mtype.encode("ascii"), (namespace or "").encode("utf-8"),
              (sid or "").encode("ascii")]
    frames.append(_dump(meta) if meta else b"")
    if data is None:
        frames.append(b"")
    else:
        value, attachments = deconstruct(list(data))
        frames.append(_dump(value))
        frames.extend(attachments)
    return frames


class Message:
    """One decoded message from the gateway."""

    __slots__ = ("type", "namespace", "sid", "meta", "data")

    def __init__(self, mtype: str, namespace: str, sid: str, meta: Dict[str, Any],
                 data: Optional[List[Any]]) -> None:
        self.type = mtype
        self.namespace = namespace
        self.sid = sid
        self.meta = meta
        self.data = data  # list with bytes for attachments, or None

    def __repr__(self) -> str:
        return "Message(%s %r %r %r %r)" % (self.type, self.namespace, self.sid, self.meta, self.data)


def decode(frames: Sequence[bytes]) -> Message:
    """Parse a multipart message (a list of bytes).  Raises ProtocolError for
    anything rule 8 says must not be acted on."""
    if len(frames) < 6:
        raise ProtocolError("too few frames (%d)" % len(frames))
    if frames[0] != VERSION_FRAME:
        raise ProtocolError("wrong version frame %r" % bytes(frames[0][:8]))
    try:
        mtype = bytes(frames[1]).decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("type frame is not ASCII")
    if mtype not in FROM_GATEWAY:
        raise ProtocolError("unknown type %r" % mtype)
    try:
        namespace = bytes(frames[2]).decode("utf-8")
        sid = bytes(frames[3]).decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("namespace or socket frame is not text")
    meta = {}
    if frames[4]:
        try:
            meta = json.loads(bytes(frames[4]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("meta is not JSON")
        if not isinstance(meta, dict):
            raise ProtocolError("meta is not a JSON object")
    data = None
    attachments = [bytes(f) for f in frames[6:]]
    if frames[5]:
        try:
            value = json.loads(bytes(frames[5]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("data is not JSON")
        if not isinstance(value, list):
            raise ProtocolError("data is not a JSON array")
        data = reconstruct(value, attachments)
    elif attachments:
        raise ProtocolError("attachments without data")
    return Message(mtype, namespace, sid, meta, data)
