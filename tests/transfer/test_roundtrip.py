"""import -> export -> import into a new account loses nothing; export refuses bad targets."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from posteingang.store.interface import Store
from tests.transfer.conftest import Cli, Stored, assert_one_line_error, stored, with_store
from tests.transfer.mail import WHEN, maildir, message, put
from tests.transfer.test_import_maildir import dovecot_tree

USER = "demo@example.test"
OTHER = "copy@example.test"

AWKWARD = [
    message(1, extra=b"X-Odd: From the start\n") + b"From here\n>From there\n>>From far\n",
    b"Subject: no final newline\n\nlast line",
    message(2, eol=b"\r\n") + b"\r\nFrom crlf\r\n",
    message(3) + b"\n\n\n",
]


def add_account(data_dir: Path, address: str = OTHER) -> None:
    async def go(store: Store) -> None:
        await store.create_account(address, "{PLAIN}x")

    with_store(data_dir, go)


def view(messages: list[Stored]) -> set[tuple[object, ...]]:
    return {(s.mailbox, s.uid, s.sha256, s.flags, s.internal_date) for s in messages}


def source_tree(root: Path) -> None:
    dovecot_tree(root)
    box = maildir(root / ".Odd.a%2eb")
    for n, raw in enumerate(AWKWARD):
        put(box, f"{n}.host:2,S", raw, WHEN + timedelta(days=n))


@pytest.mark.parametrize("form", ["maildir", "mbox"])
def test_round_trip_keeps_everything(run: Cli, data_dir: Path, tmp_path: Path, form: str) -> None:
    source_tree(tmp_path / "Maildir")
    assert run("import", "maildir", str(tmp_path / "Maildir"), "--user", USER).exit_code == 0
    first = [s for s in stored(data_dir) if s.uid]
    assert {s.mailbox for s in first} >= {"INBOX", "Sent", "Odd/a.b", "Archiv/Entwürfe"}
    out = tmp_path / "export"
    result = run("export", form, str(out), "--user", USER)
    assert result.exit_code == 0, result.output
    add_account(data_dir)
    result = run("import", form, str(out), "--user", OTHER)
    assert result.exit_code == 0, result.output
    second = stored(data_dir, OTHER)
    assert view(second) == view(first)
    validity = {s.mailbox: s.uidvalidity for s in first}
    for s in second:
        if s.mailbox not in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"):
            # a mailbox created by the import takes the exported UIDVALIDITY
            assert s.uidvalidity == validity[s.mailbox]


def test_export_maildir_layout(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    source_tree(tmp_path / "Maildir")
    assert run("import", "maildir", str(tmp_path / "Maildir"), "--user", USER).exit_code == 0
    out = tmp_path / "export"
    assert run("export", "maildir", str(out), "--user", USER).exit_code == 0
    assert {p.name for p in out.iterdir()} >= {
        "cur", "new", "tmp", "dovecot-uidlist", "dovecot-keywords",
        ".Sent", ".Odd.a%2eb", ".Archiv.Entw&APw-rfe",
    }  # fmt: skip
    inbox = next(s for s in stored(data_dir) if s.mailbox == "INBOX")
    assert (out / "dovecot-uidlist").read_bytes().startswith(b"3 V%d N41 " % inbox.uidvalidity)
    names = sorted(os.listdir(out / "cur"))
    flagged = [n for n in names if n.endswith(":2,Fab")]
    assert len(flagged) == 1
    (keywords,) = [(out / "dovecot-keywords").read_text()]
    assert keywords == "0 $Junk\n1 work\n"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_export_one_mailbox_as_mbox_file(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    source_tree(tmp_path / "Maildir")
    assert run("import", "maildir", str(tmp_path / "Maildir"), "--user", USER).exit_code == 0
    out = tmp_path / "odd.mbox"
    result = run("export", "mbox", str(out), "--user", USER, "--mailbox", "Odd/a.b")
    assert result.exit_code == 0, result.output
    assert "exported 4 messages" in result.stdout
    data = out.read_bytes()
    assert data.startswith(b"From MAILER-DAEMON ")
    # mboxrd quoting; the stored (CRLF) bytes are otherwise untouched
    assert b"\r\n>>From there\r\n>>>From far\r\n" in data
    assert (tmp_path / "odd.mbox.meta.json").exists()
    add_account(data_dir)
    assert run("import", "mbox", str(out), "--user", OTHER, "--mailbox", "Odd/a.b").exit_code == 0
    want = {s for s in view(stored(data_dir)) if s[0] == "Odd/a.b"}
    assert view(stored(data_dir, OTHER)) == want


def test_mbox_without_sidecar_still_has_bytes_and_dates(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    box = maildir(tmp_path / "M")
    for n, raw in enumerate(AWKWARD[:1] + AWKWARD[2:]):  # each ends with a line ending
        put(box, f"{n}.host:2,S", raw, WHEN + timedelta(days=n))
    assert run("import", "maildir", str(box), "--user", USER).exit_code == 0
    out = tmp_path / "x.mbox"
    assert run("export", "mbox", str(out), "--user", USER, "--mailbox", "INBOX").exit_code == 0
    (tmp_path / "x.mbox.meta.json").unlink()
    add_account(data_dir)
    result = run("import", "mbox", str(out), "--user", OTHER, "--format", "mboxrd")
    assert result.exit_code == 0
    first = {(s.sha256, s.internal_date) for s in stored(data_dir)}
    assert {(s.sha256, s.internal_date) for s in stored(data_dir, OTHER)} == first


def test_export_refuses_an_existing_target(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "there"
    out.mkdir()
    (out / "file").write_bytes(b"x")
    assert_one_line_error(run("export", "maildir", str(out), "--user", USER), "already exists")
    result = run("export", "mbox", str(out / "file"), "--user", USER, "--mailbox", "INBOX")
    assert_one_line_error(result, "already exists")
    assert os.listdir(out) == ["file"]


def test_export_into_an_empty_directory(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert run("export", "maildir", str(out), "--user", USER).exit_code == 0
    assert (out / "cur").is_dir()


def test_export_unknown_mailbox_and_user(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    result = run("export", "maildir", str(out), "--user", USER, "--mailbox", "Nope")
    assert_one_line_error(result, "unknown mailbox")
    assert_one_line_error(
        run("export", "mbox", str(out), "--user", "n@example.test"), "unknown user"
    )
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
