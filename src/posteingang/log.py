"""Structured logging: structlog configured once, for people (console) or machines (JSON).

Every module gets its logger with `get_logger(__name__)` and logs events as a
short snake_case name plus key/value pairs (`log.info("store_opened",
backend="sqlite")`), never pre-formatted sentences, so JSON output stays
queryable. Logs go to standard error; standard output belongs to the CLI's
tables and the passwords it prints. This module must never log secrets: keys
named in `REDACTED_KEYS` are masked whatever the caller passes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import FilteringBoundLogger

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

REDACTED_KEYS = frozenset({"password", "secret", "dsn", "token", "authorization"})


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in REDACTED_KEYS.intersection(event):
        event[key] = "***"
    return event


def configure_logging(
    level: str = "info",
    format: Literal["console", "json"] = "console",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog process-wide. Safe to call again (tests, reconfigure after load)."""
    stream = stream or sys.stderr
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if format == "json":
        processors += [
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors.append(
            structlog.dev.ConsoleRenderer(colors=stream.isatty(), exception_formatter=_plain)
        )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def _plain(sio: TextIO, exc_info: Any) -> None:
    structlog.dev.plain_traceback(sio, exc_info)


def get_logger(name: str | None = None, **initial: Any) -> FilteringBoundLogger:
    """A structlog logger; `name` (usually `__name__`) becomes the `component` key.

    The logger stays lazy: a module-level logger created at import time still
    follows a later `configure_logging` call.
    """
    if name:
        initial["component"] = name
    logger: FilteringBoundLogger = structlog.get_logger(**initial)
    return logger
