"""Issue 11 item 11: mail and password hashes are readable by the server's user alone.

With the shell's umask at 022, `init` used to leave the data directory 0755 and
the store, its -wal/-shm and the config 0644: any local user could read every
password hash and message. Every command now works under umask 077, and
`posteingang check` reports (and `--repair` corrects) modes that let others in.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.delivery.test_deliver_cli import POSTEINGANG
from tests.serving import serve_process
from tests.smtp.test_smtp_crash import free_port


def _loose_umask() -> None:
    os.umask(0o022)


def _cli(config: Path | None, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    prefix = ["--config", str(config)] if config else []
    return subprocess.run(
        [POSTEINGANG, *prefix, *args], input=stdin, capture_output=True, preexec_fn=_loose_umask
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _every_path(root: Path) -> list[Path]:
    out = [root]
    for base, dirs, files in os.walk(root):
        out += [Path(base, n) for n in dirs + files]
    return out


def test_everything_a_command_creates_is_private_under_umask_022(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _cli(None, "init", "--data-dir", str(data), "--hostname", "mx.test").returncode == 0
    config = data / "posteingang.toml"
    assert _cli(config, "user", "add", "bob@example.test").returncode == 0
    delivered = _cli(config, "deliver", "--to", "bob@example.test", stdin=b"Subject: x\n\nhi\n")
    assert delivered.returncode == 0, delivered.stderr
    # init's listeners use fixed ports, which another test run may hold: free ones
    head = config.read_text().split("\n[[listener]]\n")[0]
    config.write_text(
        head + f'\n[[listener]]\nprotocol = "LMTP"\nhost = "127.0.0.1"\nport = {free_port()}\n'
    )
    proc = serve_process(config, stderr=subprocess.DEVNULL, preexec_fn=_loose_umask)
    try:
        sock = data / "control.sock"
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        assert _mode(sock) == 0o600
        modes = {p: _mode(p) for p in _every_path(data)}
    finally:
        proc.terminate()
        proc.wait(30)
    names = {p.name for p in modes}
    assert {"posteingang.toml", "store.sqlite3", "store.sqlite3-wal", "key.pem"} <= names
    loose = [f"{p}: {mode:04o}" for p, mode in modes.items() if mode & 0o077]
    assert loose == []
    assert _mode(data) == 0o700


def test_check_reports_and_repairs_modes_others_can_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _cli(None, "init", "--data-dir", str(data), "--hostname", "mx.test").returncode == 0
    config = data / "posteingang.toml"
    (data / "auth-secret.key").write_bytes(b"k" * 32)
    for path, mode in (
        (data, 0o755),
        (data / "store.sqlite3", 0o644),
        (config, 0o644),
        (data / "auth-secret.key", 0o640),
    ):
        path.chmod(mode)
    found = _cli(config, "check")
    assert found.returncode == 1, found.stdout
    out = found.stdout.decode()
    for name in ("store.sqlite3 is mode 0644", "posteingang.toml is mode 0644",
                 "auth-secret.key is mode 0640", f"{data} is mode 0755"):  # fmt: skip
        assert name in out, out
    assert "not clean: 4 file mode(s)" in out
    repaired = _cli(config, "check", "--repair")
    assert repaired.returncode == 0, repaired.stdout
    assert "after repair: clean" in repaired.stdout.decode()
    assert _mode(data) == 0o700 and _mode(data / "store.sqlite3") == 0o600
    assert _cli(config, "check").stdout.decode().strip() == "clean"


def test_in_process_cli_restores_the_callers_umask(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from posteingang.cli import cli

    before = os.umask(0o022)
    try:
        CliRunner().invoke(cli, ["config-doc"])
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)
    assert sys.executable  # the CLI ran in this process


def test_init_force_makes_an_existing_directory_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _cli(None, "init", "--data-dir", str(data), "--hostname", "mx.test").returncode == 0
    for path, mode in ((data, 0o755), (data / "store.sqlite3", 0o644)):
        path.chmod(mode)
    (data / "posteingang.toml").chmod(0o644)
    again = _cli(None, "init", "--data-dir", str(data), "--hostname", "mx.test", "--force")
    assert again.returncode == 0, again.stderr
    loose = [f"{p}: {_mode(p):04o}" for p in _every_path(data) if _mode(p) & 0o077]
    assert loose == []
