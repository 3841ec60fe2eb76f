"""Bad configuration through the CLI: check-config lists everything; other commands one line."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from posteingang.cli import cli

from .conftest import Cli, assert_one_line_error, invoke

BAD = """
[limits]
max_message_size = "50M"
max_conections = 3
[log]
format = "xml"
[store]
backend = "postgres"
"""


def test_check_config_ok(run: Cli) -> None:
    result = run("check-config")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok")


def test_check_config_reports_every_error_with_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = invoke("--config", str(path), "check-config")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        "limits.max_conections",
        "limits.max_message_size",
        "log.format",
        "store.dsn",
    ]
    assert "limits.max_message_size: expected int, got str" in lines
    assert any("did you mean 'max_connections'" in line for line in lines)
    assert "Traceback" not in result.output


def test_check_config_reports_missing_certificate(run: Cli, data_dir: Path) -> None:
    (data_dir / "tls" / "key.pem").unlink()
    result = run("check-config")
    assert result.exit_code == 2
    assert result.stderr.startswith("tls.key: file not found")


def test_env_variable_names_the_config(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTEINGANG_CONFIG", str(run.config))
    result = invoke("user", "list")
    assert result.exit_code == 0, result.output
    assert "demo@example.test" in result.stdout


@pytest.mark.parametrize(
    "args", [["user", "list"], ["domain", "add", "x.test"], ["serve"], ["check"]]
)
def test_other_commands_refuse_a_bad_config_in_one_line(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = invoke("--config", str(path), *args)
    assert_one_line_error(result, 2, "bad config", "and 3 more", "check-config")
    assert not (tmp_path / "store.sqlite3").exists()


def test_missing_config_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTEINGANG_CONFIG", raising=False)
    assert_one_line_error(invoke("user", "list"), 2, "no config file", "init")
    assert_one_line_error(invoke("--config", "nope.toml", "user", "list"), 2, "not found")


def test_default_config_location(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(data_dir.parent)  # ./data/posteingang.toml exists here
    monkeypatch.delenv("POSTEINGANG_CONFIG", raising=False)
    result = invoke("user", "list")
    assert result.exit_code == 0, result.output
    assert "demo@example.test" in result.stdout


def test_usage_errors_are_one_line() -> None:
    assert_one_line_error(invoke("user", "add"), 2, "Missing argument", "--help")
    assert_one_line_error(invoke("frobnicate"), 2, "No such command")
    assert_one_line_error(invoke("init"), 2, "--data-dir")


def test_help_lists_every_command_with_help_text() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("init", "check-config", "serve", "check", "domain", "user", "alias", "device"):
        line = next(x for x in result.stdout.splitlines() if x.strip().startswith(command + " "))
        assert len(line.split(None, 1)[1]) > 10, line
    # Every command and group, at every level, has help text of its own.
    pending: list[click.Command] = [cli]
    while pending:
        command = pending.pop()
        assert (command.help or "").strip(), command.name
        if isinstance(command, click.Group):
            pending.extend(command.commands.values())


@pytest.mark.parametrize("args", [["user", "list"], ["serve"], ["check"]])
def test_an_unusable_store_is_one_line(run: Cli, data_dir: Path, args: list[str]) -> None:
    for leftover in data_dir.glob("store.sqlite3*"):
        leftover.unlink()
    (data_dir / "store.sqlite3").write_bytes(b"this is not a database" * 100)
    assert_one_line_error(run(*args), 1, "not a database")


def test_serve_refuses_a_listener_for_an_unknown_protocol(run: Cli) -> None:
    with run.config.open("a") as f:
        f.write('\n[[listener]]\nprotocol = "GOPHER"\nport = 0\n')
    assert_one_line_error(run("serve"), 2, "].protocol", "GOPHER")


def test_check_config_and_serve_share_the_listener_check(run: Cli) -> None:
    """Issue 11 item 14: check-config passed `protocol = "IMAPS"`, which serve refused."""
    with run.config.open("a") as f:
        f.write('\n[[listener]]\nprotocol = "IMAPS"\nport = 0\n')
    checked = run("check-config")
    assert checked.exit_code == 2, checked.output
    assert "].protocol: 'IMAPS' is not served by this build" in checked.stderr
    assert_one_line_error(run("serve"), 2, "].protocol: 'IMAPS' is not served by this build")
