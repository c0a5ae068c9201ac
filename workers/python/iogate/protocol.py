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


# Built once: json.dumps with options builds a new encoder on every call,
# which costs as much as encoding a small message.
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
try:
    # ... and JSONEncoder.encode still builds the C encoder on every call:
    # build it once too.  No circular-reference markers (a dict kept across
    # calls); a cycle ends in RecursionError, as the placeholder walk did.
    from json.encoder import c_make_encoder as _c_make_encoder, encode_basestring as _enc_str
    if _c_make_encoder is None:
        raise ImportError("no C JSON encoder")
    _c_encode = _c_make_encoder(None, json.JSONEncoder().default, _enc_str, None, ":", ",", False,
                                False, False)

    def _encode_json(value: Any, _c: Any = _c_encode) -> str:  # noqa: F811
        return "".join(_c(value, 0))
except ImportError:  # pragma: no cover - an interpreter without _json
    pass
# The C scanner json.loads ends in, without its two whitespace regexes; a
# text it does not take whole goes to json.loads, which has the last word.
_scan_json = json.JSONDecoder().scan_once

#: the type frames a worker accepts, as bytes (one dict lookup per message)
_FROM_GATEWAY_BYTES = {t.encode("ascii"): t for t in FROM_GATEWAY}


def _dump(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes, like JSON.stringify (non-ASCII kept)."""
    text = _encode_json(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it as JSON allows
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


def _load(frame: bytes) -> Any:
    """json.loads of a UTF-8 frame (ValueError, UnicodeDecodeError)."""
    text = frame.decode("utf-8")
    try:
        value, end = _scan_json(text, 0)
        if end == len(text):
            return value
    except StopIteration:  # leading whitespace or not JSON: json.loads says which
        pass
    return json.loads(text)


def dump_data(data: Sequence[Any]) -> List[bytes]:
    """[data frame, *attachments] for a list of arguments: one pass of the
    C encoder when there is no binary (it raises TypeError at bytes, which
    JSON cannot hold), the placeholder walk otherwise."""
    try:
        return [_dump(data)]
    except TypeError:
        value, attachments = deconstruct(list(data))
        return [_dump(value), *attachments]


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
              (sid or "").encode("ascii"), _dump(meta) if meta else b""]
    if data is None:
        frames.append(b"")
    else:
        frames.extend(dump_data(data))
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
    mtype = _FROM_GATEWAY_BYTES.get(bytes(frames[1]))
    if mtype is None:
        try:
            raise ProtocolError("unknown type %r" % bytes(frames[1]).decode("ascii"))
        except UnicodeDecodeError:
            raise ProtocolError("type frame is not ASCII") from None
    try:
        namespace = bytes(frames[2]).decode("utf-8")
        sid = bytes(frames[3]).decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("namespace or socket frame is not text")
    meta = {}
    if frames[4]:
        try:
            meta = _load(bytes(frames[4]))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("meta is not JSON")
        if not isinstance(meta, dict):
            raise ProtocolError("meta is not a JSON object")
    data = None
    attachments = [bytes(f) for f in frames[6:]] if len(frames) > 6 else []
    if frames[5]:
        raw = bytes(frames[5])
        try:
            value = _load(raw)
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("data is not JSON")
        if not isinstance(value, list):
            raise ProtocolError("data is not a JSON array")
        # Only a text that can hold a placeholder (spelled out or behind a
        # \u escape) needs the walk; it also refuses one without attachment.
        if attachments or b"_placeholder" in raw or b"\\u" in raw:
            value = reconstruct(value, attachments)
        data = value
    elif attachments:
        raise ProtocolError("attachments without data")
    return Message(mtype, namespace, sid, meta, data)
