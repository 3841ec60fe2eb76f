"""The installed `posteingang` console script, run as a real process."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "posteingang"
#: how long a step may take before the test calls it hung: not a speed bound (a loaded
#: machine starts the server's worker processes slowly), only so a hang fails
HANG_GUARD = 180.0

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")


def posteingang(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], input=input, capture_output=True, text=True, timeout=HANG_GUARD
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    done = posteingang(
        "init", "--data-dir", str(data), "--hostname", "mail.test", "--password-stdin",
        input="pw for tests\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return data / "posteingang.toml"


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = HANG_GUARD) -> str:
    """Read proc's stdout until a line containing `text`; everything read so far.

    Reads the raw file descriptor: a buffered readline could hold the line we
    wait for in its buffer while select() says there is nothing to read.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.2):
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        seen += chunk
        if any(text in line for line in seen.decode(errors="replace").splitlines()):
            return seen.decode()
    raise AssertionError(f"no {text!r} in output: {seen!r}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_starts_and_stops_cleanly_on_a_signal(config: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [str(SCRIPT), "--config", str(config), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = wait_for_line(proc, "ready")
        assert "Store open (sqlite)" in out
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:  # pragma: no cover - only on failure
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "store_closed" in err and "stopped" in err
    assert "Traceback" not in err
    # The store it closed is consistent and usable.
    check = posteingang("--config", str(config), "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "clean" in check.stdout


def test_serve_logs_json_when_configured(config: Path) -> None:
    text = config.read_text().replace('# format = "console"', 'format = "json"')
    config.write_text(text)
    proc = subprocess.Popen(
        [str(SCRIPT), "--config", str(config), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(proc, "ready")
        proc.terminate()
        _, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert "store_opened" in names and "stopped" in names
    assert all("timestamp" in e and "level" in e for e in events)


def test_bad_config_is_one_line_with_exit_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nmax_message_size = 'huge'\n")
    done = posteingang("--config", str(bad), "serve")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "limits.max_message_size" in done.stderr
    env = {**os.environ, "POSTEINGANG_CONFIG": str(bad)}
    checked = subprocess.run(
        [str(SCRIPT), "check-config"], env=env, capture_output=True, text=True, timeout=HANG_GUARD
    )
    assert checked.returncode == 2
    assert checked.stderr.startswith("limits.max_message_size: expected int, got str")


def test_unknown_user_is_one_line_with_exit_status_1(config: Path) -> None:
    done = posteingang("--config", str(config), "user", "passwd", "ghost@example.test")
    assert done.returncode == 1
    assert done.stderr == "Error: unknown user: ghost@example.test\n"
