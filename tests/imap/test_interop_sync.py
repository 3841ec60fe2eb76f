"""Two-way sync with real programs: mbsync (isync) and offlineimap3.

Two local replicas of one account: mark read, delete and move on replica A; sync A;
sync B; B ends in the same state as A (and the server agrees). Skips cleanly when
the program is not installed (Debian packages ``isync``, ``offlineimap3``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from tests.imap.harness import ALICE, PASSWORD, message
from tests.imap.server_fixture import RunningServer, running_server

State = dict[str, set[tuple[str, str]]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    async def setup(store: object) -> None:
        for n in range(1, 5):
            await deliver(store, ALICE, message(n))  # type: ignore[arg-type]

    with running_server(tmp_path / "server", setup=setup) as running:
        yield running


def maildir_state(root: Path, *, inbox: Path | None = None) -> State:
    """folder -> {(subject, flags)} of every message in a tree of Maildirs."""
    state: State = {}
    for cur in sorted(root.rglob("cur")):
        folder_dir = cur.parent
        name = (
            "INBOX"
            if inbox is not None and folder_dir == inbox
            else str(folder_dir.relative_to(root))
        )
        entries = set()
        for sub in ("cur", "new"):
            for f in (folder_dir / sub).iterdir():
                subject = re.search(rb"^Subject: (.*?)\r?$", f.read_bytes(), re.M)
                flags = f.name.rsplit(":2,", 1)[1] if ":2," in f.name else ""
                entries.add((subject[1].decode() if subject else "?", "".join(sorted(flags))))
        state[name] = entries
    return state


def find_message(root: Path, subject: str) -> Path:
    for path in root.rglob("*"):
        if (
            path.is_file()
            and path.parent.name in ("cur", "new")
            and re.search(rb"^Subject: " + subject.encode() + rb"\r?$", path.read_bytes(), re.M)
        ):
            return path
    raise FileNotFoundError(subject)


def edit_replica(inbox: Path, archive: Path) -> None:
    """Mark "message 1" read, delete "message 2", move "message 3" to Archive."""
    one = find_message(inbox, "message 1")
    base = one.name.split(":2,")[0]
    flags = one.name.split(":2,")[1] if ":2," in one.name else ""
    one.rename(inbox / "cur" / f"{base}:2,{''.join(sorted(set(flags + 'S')))}")
    find_message(inbox, "message 2").unlink()
    three = find_message(inbox, "message 3")
    # A moved file is a new message for the target: drop the sync tool's uid marker.
    fresh = re.sub(r",U=\d+", "", three.name.split(":2,")[0])
    (archive / "cur").mkdir(parents=True, exist_ok=True)
    three.rename(archive / "cur" / f"{fresh}:2,")


# -- mbsync -----------------------------------------------------------------------------


def mbsync_config(path: Path, port: int, replica: Path) -> Path:
    replica.mkdir(parents=True, exist_ok=True)
    cfg = path / f"mbsyncrc-{replica.name}"
    cfg.write_text(
        f"""IMAPAccount acc
Host 127.0.0.1
Port {port}
User {ALICE}
Pass "{PASSWORD}"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account acc

MaildirStore local
Path {replica}/
Inbox {replica}/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
Remove None
SyncState *
Sync All
"""
    )
    return cfg


def mbsync(cfg: Path) -> None:
    result = subprocess.run(
        ["mbsync", "-c", str(cfg), "-a"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) is not installed")
def test_mbsync_two_replicas(server: RunningServer, tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    cfg_a = mbsync_config(tmp_path, server.imap_port, a)
    cfg_b = mbsync_config(tmp_path, server.imap_port, b)
    mbsync(cfg_a)
    mbsync(cfg_b)
    assert len(maildir_state(a)["INBOX"]) == 4
    edit_replica(a / "INBOX", a / "Archive")
    mbsync(cfg_a)
    mbsync(cfg_b)
    mbsync(cfg_a)  # settles A's own renames (uid markers) after the first push
    state_a, state_b = maildir_state(a), maildir_state(b)
    assert state_a == state_b
    assert state_b["INBOX"] == {("message 1", "S"), ("message 4", "")}
    assert state_b["Archive"] == {("message 3", "")}

    async def server_state() -> dict[str, int]:
        account = await server.store.get_account(ALICE)
        assert account is not None
        out = {}
        for name in ("INBOX", "Archive"):
            box = await server.store.get_mailbox(account.id, name)
            assert box is not None
            out[name] = (await server.store.mailbox_status(box.id)).messages
        return out

    assert server.call(server_state) == {"INBOX": 2, "Archive": 1}


# -- offlineimap3 -----------------------------------------------------------------------


def offlineimap_config(path: Path, port: int, replica: Path) -> Path:
    replica.mkdir(parents=True, exist_ok=True)
    cfg = path / f"offlineimaprc-{replica.name}"
    cfg.write_text(
        f"""[general]
accounts = acc
metadata = {path}/meta-{replica.name}
ui = quiet

[Account acc]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {replica}

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {port}
remoteuser = {ALICE}
remotepass = {PASSWORD}
ssl = no
starttls = no
auth_mechanisms = LOGIN
"""
    )
    return cfg


def offlineimap(cfg: Path) -> None:
    result = subprocess.run(
        ["offlineimap", "-c", str(cfg), "-o", "-u", "basic"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(cfg.parent)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("offlineimap") is None, reason="offlineimap3 is not installed")
def test_offlineimap_two_replicas(server: RunningServer, tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    cfg_a = offlineimap_config(tmp_path, server.imap_port, a)
    cfg_b = offlineimap_config(tmp_path, server.imap_port, b)
    offlineimap(cfg_a)
    offlineimap(cfg_b)
    assert len(maildir_state(a)["INBOX"]) == 4
    edit_replica(a / "INBOX", a / "Archive")
    offlineimap(cfg_a)
    offlineimap(cfg_b)
    state_a, state_b = maildir_state(a), maildir_state(b)
    assert state_a == state_b, (state_a, state_b)
    assert state_b["INBOX"] == {("message 1", "S"), ("message 4", "")}
    assert state_b["Archive"] == {("message 3", "")}
