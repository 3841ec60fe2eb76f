"""Fixtures for driving the real CLI against real SQLite files in temporary directories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from posteingang.cli import cli

PASSWORD = "correct horse battery staple"


@dataclass
class Cli:
    """Runs `posteingang --config <data>/posteingang.toml ARGS...` in-process."""

    config: Path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args], input=input)


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An initialised data dir: domain example.test, user demo@example.test with PASSWORD."""
    data = tmp_path / "data"
    result = invoke(
        "init", "--data-dir", str(data), "--hostname", "mail.example.test",
        "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return data


@pytest.fixture
def run(data_dir: Path) -> Cli:
    return Cli(data_dir / "posteingang.toml")


def assert_one_line_error(result: Result, exit_code: int, *fragments: str) -> None:
    """A user's mistake: the given exit status, one line on stderr, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


Runner = Callable[..., Result]
