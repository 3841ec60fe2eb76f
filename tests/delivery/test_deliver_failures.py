"""Issue 11 item 2: `posteingang deliver` maps every failure to sysexits, never to 1.

Postfix's pipe transport bounces an exit status it does not know (1 among them)
and retries only 75; so a store it cannot write, a missing store and our own
errors must be 75, a bad config 78, bad input 64/65, and no traceback ever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.delivery.test_deliver_cli import POSTEINGANG, run_deliver

MESSAGE = b"Subject: hi\r\n\r\nbody\r\n"
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _no_traceback(done: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in done.stderr
    assert done.stderr.decode().count("\n") == 1, done.stderr


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the user `nobody` can reach (pytest's tmp_path is root's 0700)."""
    path = Path(tempfile.mkdtemp(prefix="posteingang-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _read_only_store(base: Path) -> Path:
    """An initialised data directory owned by `nobody`, with nothing in it writable."""
    data = base / "data"
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--password-stdin"],
        input=b"secret-password\n",
        check=True,
        capture_output=True,
    )
    for root, dirs, files in os.walk(data):
        for name in files:
            os.chown(os.path.join(root, name), 65534, 65534)
            os.chmod(os.path.join(root, name), 0o400)
        for name in dirs:
            os.chown(os.path.join(root, name), 65534, 65534)
            os.chmod(os.path.join(root, name), 0o500)
    os.chown(data, 65534, 65534)
    data.chmod(0o500)
    return data


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run as nobody (root ignores file modes)",
)


@needs_root
def test_read_only_store_is_a_temporary_failure(shared_dir: Path) -> None:
    data = _read_only_store(shared_dir)
    done = subprocess.run(
        [*NOBODY, POSTEINGANG, "--config", str(data / "posteingang.toml"), "deliver",
         "--to", "demo@example.test"],
        input=MESSAGE, capture_output=True, cwd=shared_dir,
    )  # fmt: skip
    assert done.returncode == 75, done.stderr
    _no_traceback(done)


@needs_root
def test_serve_refuses_a_read_only_store(shared_dir: Path) -> None:
    data = _read_only_store(shared_dir)
    done = subprocess.run(
        [*NOBODY, POSTEINGANG, "--config", str(data / "posteingang.toml"), "serve"],
        capture_output=True, cwd=shared_dir, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert b"ready" not in done.stdout
    assert b"cannot write to the store" in done.stderr
    _no_traceback(done)


def test_missing_store_is_temporary_bad_config_is_78_bad_usage_64(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--password-stdin"],
        input=b"secret-password\n",
        check=True,
        capture_output=True,
    )
    (data / "store.sqlite3").rename(tmp_path / "elsewhere.sqlite3")
    missing = run_deliver(data, "demo@example.test", MESSAGE)
    assert missing.returncode == 75 and b"no store at" in missing.stderr
    _no_traceback(missing)
    assert not (data / "store.sqlite3").exists()  # not silently created

    config = data / "posteingang.toml"
    config.write_text(config.read_text() + "\n[limits]\nmax_message_size = -1\n")
    bad = run_deliver(data, "demo@example.test", MESSAGE)
    assert bad.returncode == 78, bad.stderr
    _no_traceback(bad)

    usage = subprocess.run(
        [POSTEINGANG, "--config", str(config), "deliver"], input=MESSAGE, capture_output=True
    )
    assert usage.returncode == 64, usage.stderr


@needs_root
def test_another_user_gets_one_line_not_a_traceback(shared_dir: Path) -> None:
    """The data directory is 0700 (item 11): a command run by another user (a pipe
    transport with the wrong `user=`) says so; `deliver` leaves the mail queued."""
    data = shared_dir / "data"
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--password-stdin"],
        input=b"secret-password\n",
        check=True,
        capture_output=True,
    )
    config = shared_dir / "posteingang.toml"  # a readable copy, as in /etc
    text = (data / "posteingang.toml").read_text()
    config.write_text(text.replace("[server]", f'[server]\ndata_dir = "{data}"', 1))
    config.chmod(0o644)
    listed = subprocess.run(
        [*NOBODY, POSTEINGANG, "--config", str(config), "user", "list"],
        capture_output=True, cwd=shared_dir,
    )  # fmt: skip
    assert listed.returncode == 2, listed.stderr
    assert b"run as the user that owns the data directory" in listed.stderr
    _no_traceback(listed)
    delivered = subprocess.run(
        [*NOBODY, POSTEINGANG, "--config", str(config), "deliver", "--to", "demo@example.test"],
        input=MESSAGE, capture_output=True, cwd=shared_dir,
    )  # fmt: skip
    assert delivered.returncode == 75, delivered.stderr
    _no_traceback(delivered)
