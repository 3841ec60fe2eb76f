"""Issue 11 item 3: only `init` creates a store.

A mistyped `data_dir` used to create a new, empty store: `user list` showed no
users with exit 0 and `serve` printed `ready`. Every other command now refuses
a missing data directory or store file with one line and exit 2, and creates
nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, assert_one_line_error

COMMANDS = [
    ("user", "list"),
    ("user", "add", "x@example.test"),
    ("domain", "list"),
    ("alias", "list"),
    ("check",),
    ("export", "maildir", "/nonexistent/out", "--user", "demo@example.test"),
]


def _mistyped(data_dir: Path) -> Path:
    """A copy of the config whose data_dir has a typo."""
    config = data_dir.parent / "typo.toml"
    text = (data_dir / "posteingang.toml").read_text()
    config.write_text(text.replace("[server]", f'[server]\ndata_dir = "{data_dir}-typo"', 1))
    return config


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_commands_refuse_a_missing_data_dir(data_dir: Path, args: tuple[str, ...]) -> None:
    config = _mistyped(data_dir)
    result = Cli(config)(*args)
    assert_one_line_error(result, 2, "data directory not found", f"{data_dir}-typo")
    assert not Path(f"{data_dir}-typo").exists()


def test_commands_refuse_a_missing_store_file(run: Cli, data_dir: Path) -> None:
    (data_dir / "store.sqlite3").unlink()
    result = run("user", "list")
    assert_one_line_error(result, 2, "no store at")
    assert not (data_dir / "store.sqlite3").exists()


def test_check_config_reports_a_missing_data_dir(data_dir: Path) -> None:
    config = _mistyped(data_dir)
    result = Cli(config)("check-config")
    assert result.exit_code == 2
    assert "data directory not found" in result.stderr
    assert not Path(f"{data_dir}-typo").exists()


def test_serve_refuses_a_missing_data_dir(data_dir: Path) -> None:
    config = _mistyped(data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "posteingang", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "ready" not in done.stdout
    assert "data directory not found" in done.stderr and "Traceback" not in done.stderr
    assert not Path(f"{data_dir}-typo").exists()
