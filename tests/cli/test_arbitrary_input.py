"""Arbitrary names on the command line: a result or one clear error line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import PASSWORD, Cli, invoke

names = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[A-Za-z0-9._+-]{0,12}@[A-Za-z0-9.-]{0,20}", fullmatch=True),
    st.sampled_from(["demo@example.test", "@example.test", "a@", "a@b", "ä@bücher.example"]),
).filter(lambda s: "\x00" not in s and not s.startswith("-"))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    data = tmp_path_factory.mktemp("arbitrary") / "data"
    result = invoke("init", "--data-dir", str(data), "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    return Cli(Path(data / "posteingang.toml"))


def assert_result_or_one_line(result: object) -> None:
    exit_code = result.exit_code  # type: ignore[attr-defined]
    exception = result.exception  # type: ignore[attr-defined]
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    if exit_code != 0:
        assert exit_code in (1, 2)
        lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
        assert len(lines) == 1 and lines[0].startswith("Error: "), lines


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(["domain add", "domain remove", "user passwd", "device list"]), names)
def test_one_name_commands(shared: Cli, command: str, name: str) -> None:
    assert_result_or_one_line(shared(*command.split(), name, input="x\n"))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names, names)
def test_alias_add(shared: Cli, source: str, target: str) -> None:
    assert_result_or_one_line(shared("alias", "add", source, target))
