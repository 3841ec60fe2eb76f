"""Issue 11 item 9: SCRAM's fake salts come from a key on disk, so they survive restarts.

The restart over real sockets is in tests/auth/test_sessions_e2e.py; here the key file
itself (created once, mode 0600, never a symlink, refused when damaged) and the fake
records derived from it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from posteingang.auth.sasl import scram_sha_256
from posteingang.auth.secret import SECRET_FILE, SecretKeyError, load_server_secret


def test_the_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_server_secret(tmp_path)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600
    assert load_server_secret(tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary left


def test_a_damaged_key_is_an_error_not_a_weak_key(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("abcd\n")
    with pytest.raises(SecretKeyError, match="not a key"):
        load_server_secret(tmp_path)


def test_a_symlinked_key_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("00" * 32)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / SECRET_FILE).symlink_to(target)
    with pytest.raises(OSError):
        load_server_secret(tmp_path / "d")


def fake_salt(data_dir: Path, user: str) -> str:
    """The fake salt a fresh process (a restarted server) gives ``user``."""
    code = (
        "import sys; from pathlib import Path\n"
        "from posteingang.auth.secret import load_server_secret\n"
        "from posteingang.auth.sasl import scram_sha_256 as m\n"
        "m.use_fake_secret(load_server_secret(Path(sys.argv[1])))\n"
        "print(m.fake_record(sys.argv[2]).salt.hex())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), user],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_fake_salts_survive_a_restart_and_differ_between_servers(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    salt = fake_salt(one, "nobody@example.test")
    assert fake_salt(one, "nobody@example.test") == salt  # another process, same key
    assert fake_salt(one, "Nobody@Example.TEST.") == salt  # spelled like a real account
    assert fake_salt(one, "other@example.test") != salt
    assert fake_salt(two, "nobody@example.test") != salt  # another server's key


def test_fake_records_follow_the_key_in_process(tmp_path: Path) -> None:
    before = scram_sha_256._fake_secret
    try:
        scram_sha_256.use_fake_secret(load_server_secret(tmp_path))
        a = scram_sha_256.fake_record("nobody@example.test")
        scram_sha_256.use_fake_secret(load_server_secret(tmp_path))
        b = scram_sha_256.fake_record("nobody@example.test")
        assert a.salt == b.salt and a.stored_key == b.stored_key
    finally:
        scram_sha_256._fake_secret = before
