"""Logging: JSON lines for machines, secrets never written."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from posteingang.log import configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_json_lines_with_level_timestamp_and_component() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    log = get_logger("posteingang.test", session="s1")
    log.info("login_ok", user="demo@example.test")
    log.debug("too_detailed")
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert event["event"] == "login_ok"
    assert event["level"] == "info"
    assert event["component"] == "posteingang.test"
    assert event["session"] == "s1"
    assert event["timestamp"].endswith("Z")


def test_secrets_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging("debug", "console", stream=stream)
    get_logger("t").warning("auth_failed", password="hunter2", dsn="postgresql://u:pw@h/db")
    text = stream.getvalue()
    assert "auth_failed" in text
    assert "hunter2" not in text and "pw@h" not in text


def test_module_level_loggers_follow_later_configuration() -> None:
    log = get_logger("early")  # created before configuration, like a module-level logger
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", stream=first)
    log.info("one")
    configure_logging("error", "json", stream=second)
    log.info("two")
    log.error("three")
    assert [json.loads(x)["event"] for x in first.getvalue().splitlines()] == ["one"]
    assert [json.loads(x)["event"] for x in second.getvalue().splitlines()] == ["three"]
