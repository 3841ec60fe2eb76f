"""`posteingang block list|lift` against a running server's control socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

POSTEINGANG = str(Path(sys.executable).with_name("posteingang"))


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [POSTEINGANG, "--config", str(data / "posteingang.toml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def running_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = tmp_path / "d"
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--password-stdin"],
        input="pw-pw-pw-pw\n",
        text=True,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [POSTEINGANG, "--config", str(data / "posteingang.toml"), "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (data / "control.sock").exists():
        assert proc.poll() is None, "serve exited early"
        assert time.monotonic() < deadline, "control socket never appeared"
        time.sleep(0.1)
    yield data
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_block_commands_talk_to_the_running_server(running_server: Path) -> None:
    data = running_server
    assert (os.stat(data / "control.sock").st_mode & 0o777) == 0o600
    listed = cli(data, "block", "list")
    assert listed.returncode == 0 and "No blocks in force." in listed.stdout
    lift = cli(data, "block", "lift", "192.0.2.1")
    assert lift.returncode == 1 and lift.stderr.count("\n") == 1


def test_block_commands_without_a_server_fail_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "d"
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--password-stdin"],
        input="pw-pw-pw-pw\n",
        text=True,
        check=True,
        capture_output=True,
    )
    result = cli(data, "block", "list")
    assert result.returncode == 1
    assert "cannot reach the running server" in result.stderr and result.stderr.count("\n") == 1


def test_control_requests_list_and_lift_blocks() -> None:
    """The request handler itself, with a throttle that has blocked someone."""
    from types import SimpleNamespace

    from posteingang.auth.throttle import Throttle, ThrottlePolicy
    from posteingang.control import handle_request

    throttle = Throttle(ThrottlePolicy(block_after=2))
    for _ in range(3):
        throttle.record_failure(
            protocol="imap", address="198.51.100.7", user="x@example.test", reason="bad"
        )
    runtime = SimpleNamespace(throttle=throttle)
    blocks = handle_request(runtime, {"cmd": "blocks"})  # type: ignore[arg-type]
    assert {b["key"] for b in blocks["blocks"]} >= {"198.51.100.7"}
    assert handle_request(runtime, {"cmd": "lift", "target": "198.51.100.7"})["cleared"] >= 1  # type: ignore[arg-type]
    assert not handle_request(runtime, {"cmd": "nope"})["ok"]  # type: ignore[arg-type]
