"""Structured logging: structlog configured once, for people (console) or machines (JSON).

Every module gets its logger with `get_logger(__name__)` and logs events as a
short snake_case name plus key/value pairs (`log.info("store_opened",
backend="sqlite")`), never pre-formatted sentences, so JSON output stays
queryable. Logs go to standard error; standard output belongs to the CLI's
tables and the passwords it prints. This module must never log secrets: keys
named in `REDACTED_KEYS` are masked whatever the caller passes.

structlog (and the rich console it pulls in) is imported on first use, not when a
module creates its logger: commands that never log (`posteingang user list`)
start without it (bench/bench_cli.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast

if TYPE_CHECKING:
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
    import structlog

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
        # One write per record, newline included (print() writes the newline apart):
        # worker processes share the server's stderr, and a line written in one piece
        # is not split by another process's line (a pipe writes up to PIPE_BUF whole).
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def _plain(sio: TextIO, exc_info: Any) -> None:
    import structlog

    structlog.dev.plain_traceback(sio, exc_info)


class _LazyLogger:
    """A module's logger until its first call: then structlog is imported and the
    call goes to structlog's own lazy proxy (which follows `configure_logging`)."""

    __slots__ = ("_initial", "_logger")

    def __init__(self, initial: dict[str, Any]) -> None:
        self._initial = initial
        self._logger: Any = None

    def __getattr__(self, name: str) -> Any:
        logger = self._logger
        if logger is None:
            import structlog

            logger = self._logger = structlog.get_logger(**self._initial)
        return getattr(logger, name)


def get_logger(name: str | None = None, **initial: Any) -> FilteringBoundLogger:
    """A structlog logger; `name` (usually `__name__`) becomes the `component` key.

    The logger stays lazy: a module-level logger created at import time still
    follows a later `configure_logging` call, and imports structlog only when it
    first logs.
    """
    if name:
        initial["component"] = name
    return cast("FilteringBoundLogger", _LazyLogger(initial))
