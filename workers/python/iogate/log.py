"""Logging in the format all iogate libraries share::

    2026-11-30T04:40:00.123Z INFO  iogate.worker[/chat] welcomed by gateway …

ISO-8601 UTC time with milliseconds, the level padded to five characters,
the component (logger name, plus the namespace in brackets when the record
has one) and the message; a traceback, when there is one, follows on the
next lines.  Everything goes through the ``logging`` module (logger
``"iogate"`` and its children), so an application may route it elsewhere.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, MutableMapping, Optional, Tuple, Union

#: logging's level names, in the five-letter vocabulary of the shared format
_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class LogFormatter(logging.Formatter):
    """``2026-11-30T04:40:00.123Z INFO  iogate.worker[/nsp] message``."""

    def format(self, record: logging.LogRecord) -> str:
        t = time.gmtime(record.created)
        stamp = "%s.%03dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", t), int(record.msecs))
        level = _LEVELS.get(record.levelname, record.levelname)
        nsp = getattr(record, "nsp", None)
        component = record.name if nsp is None else "%s[%s]" % (record.name, nsp)
        line = "%s %-5s %s %s" % (stamp, level, component, record.getMessage())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        return line


class NamespaceLogger(logging.LoggerAdapter):
    """A logger that stamps every record with the worker's namespace."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> Tuple[Any, MutableMapping[str, Any]]:
        kwargs.setdefault("extra", {})["nsp"] = self.extra["nsp"]  # type: ignore[index]
        return msg, kwargs


def level_from_env(default: str = "info") -> int:
    """The level IOGATE_WORKER_LOG names (error, warn, info, debug), as the C
    and Node.js libraries read it."""
    name = (os.environ.get("IOGATE_WORKER_LOG") or default).upper()
    name = {"WARN": "WARNING"}.get(name, name)
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def setup_logging(level: Optional[Union[int, str]] = None, stream: Any = None) -> logging.Handler:
    """Send the library's log to ``stream`` (stderr) in the shared format, at
    ``level`` (default: IOGATE_WORKER_LOG, else info).  Returns the handler."""
    logger = logging.getLogger("iogate")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogFormatter())
    logger.addHandler(handler)
    if level is None:
        level = level_from_env()
    logger.setLevel(level)
    # our own line format; a root handler would print every line twice
    logger.propagate = False
    return handler


def default_logging() -> None:
    """Called by every Worker: when the application has configured no
    logging at all (no handler on the root or "iogate" logger), log in the
    shared format to stderr, so a worker spawned by the gateway logs like the
    gateway's other workers.  A level set beforehand (tests) is kept."""
    logger = logging.getLogger("iogate")
    if logger.handlers or logging.getLogger().handlers:
        return
    keep = logger.level
    setup_logging()
    if keep != logging.NOTSET:
        logger.setLevel(keep)
