"""`posteingang import maildir`: Dovecot Maildir++ trees with UIDs, keywords and folders."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posteingang.delivery.ingest import prepare_message
from posteingang.store.interface import Store
from tests.transfer.conftest import (
    Cli,
    assert_one_line_error,
    sha_multiset,
    stored,
    stored_form,
    with_store,
)
from tests.transfer.mail import WHEN, maildir, message, put

USER = "demo@example.test"


def dovecot_tree(root: Path) -> dict[str, bytes]:
    """A Maildir as Dovecot leaves it: uidlist, keywords, a new/ file, two subfolders."""
    inbox = maildir(root)
    msgs = {name: message(n) for n, name in enumerate(["a", "b", "c", "d", "e", "f"])}
    put(inbox, "1001.M1P1.host,S=10:2,RS", msgs["a"], WHEN)
    put(inbox, "1002.M2P1.host,S=10:2,Fab", msgs["b"], WHEN + timedelta(hours=1))
    put(inbox, "1003.M3P1.host", msgs["c"], WHEN + timedelta(hours=2), new=True)
    put(inbox, "1004.M4P1.host:2,P", msgs["d"], WHEN)  # not in the uidlist
    (inbox / "dovecot-uidlist").write_bytes(
        b"3 V1700000000 N40 G0123456789abcdef0123456789abcdef\n"
        b"10 :1001.M1P1.host,S=10:2,RS\n"
        b"17 W123 :1002.M2P1.host,S=10\n"
        b"30 :1003.M3P1.host\n"
    )
    (inbox / "dovecot-keywords").write_bytes(b"0 $Junk\n1 work\n")
    sent = maildir(root / ".Sent")
    put(sent, "2001.M1P1.host:2,S", msgs["e"], WHEN)
    deep = maildir(root / ".Archiv.Entw&APw-rfe")
    put(deep, "3001.M1P1.host:2,T", msgs["f"], WHEN)
    return msgs


def test_dovecot_maildir_imports_everything(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    msgs = dovecot_tree(tmp_path / "Maildir")
    result = run("import", "maildir", str(tmp_path / "Maildir"), "--user", USER)
    assert result.exit_code == 0, result.output
    assert "imported 6 of 6" in result.stdout
    got = {s.sha256: s for s in stored(data_dir)}
    digest = {k: next(iter(sha_multiset(stored_form([v])))) for k, v in msgs.items()}
    a, b, c, d = (got[digest[k]] for k in "abcd")
    assert (a.mailbox, a.uid, a.uidvalidity is not None) == ("INBOX", 10, True)
    assert (b.uid, c.uid) == (17, 30)
    # issue 11 item 5: no UID in the uidlist: the uidlist's next UID (N40), not 31 —
    # 31-39 may have been used under the same UIDVALIDITY
    assert d.uid == 40
    assert set(a.flags) == {"\\Answered", "\\Seen"}
    assert set(b.flags) == {"\\Flagged", "$Junk", "work"}
    assert set(c.flags) == set()  # new/: not seen
    assert set(d.flags) == {"$Forwarded"}
    assert a.internal_date == WHEN
    assert b.internal_date == WHEN + timedelta(hours=1)
    assert got[digest["e"]].mailbox == "Sent"
    assert got[digest["f"]].mailbox == "Archiv/Entwürfe"
    assert set(got[digest["f"]].flags) == {"\\Deleted"}


def test_new_mailbox_takes_the_uidvalidity(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    dovecot_tree(tmp_path / "Maildir")
    assert (
        run(
            "import", "maildir", str(tmp_path / "Maildir"), "--user", USER, "--mailbox", "Old"
        ).exit_code
        == 0
    )
    boxes = {s.mailbox: s.uidvalidity for s in stored(data_dir)}
    assert boxes["Old"] == 1700000000
    assert set(boxes) == {"Old", "Old/Sent", "Old/Archiv/Entwürfe"}


def test_no_recursive_imports_only_the_root(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    dovecot_tree(tmp_path / "Maildir")
    result = run("import", "maildir", str(tmp_path / "Maildir"), "--user", USER, "--no-recursive")
    assert result.exit_code == 0
    assert {s.mailbox for s in stored(data_dir)} == {"INBOX"}


def test_rerun_and_resume_keep_uids(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    msgs = dovecot_tree(root)
    # first run sees only part of the folder (as if interrupted after a batch)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name in os.listdir(root / "cur"):
        if name.startswith(("1002", "1004")):
            os.rename(root / "cur" / name, hidden / name)
    assert run("import", "maildir", str(root), "--user", USER).exit_code == 0
    for name in os.listdir(hidden):
        os.rename(hidden / name, root / "cur" / name)
    result = run("import", "maildir", str(root), "--user", USER)
    assert result.exit_code == 0, result.output
    got = stored(data_dir)
    assert Counter(s.sha256 for s in got) == sha_multiset(stored_form(list(msgs.values())))
    inbox = sorted(s.uid for s in got if s.mailbox == "INBOX")
    # 17 was below uidnext after the first run (30 was imported), so it gets a new UID
    assert inbox[:2] == [10, 30] and len(inbox) == 4
    again = run("import", "maildir", str(root), "--user", USER)
    assert "imported 0 of 6" in again.stdout


def test_zero_byte_file_is_skipped_with_a_warning(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = maildir(tmp_path / "M")
    put(box, "1.host:2,S", b"", WHEN)
    put(box, "2.host:2,S", message(2), WHEN)
    result = run("import", "maildir", str(box), "--user", USER)
    assert result.exit_code == 0
    assert "1 empty skipped" in result.stdout
    assert "1.host" in result.stderr
    assert len(stored(data_dir)) == 1


def test_non_utf8_file_name_is_imported(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = maildir(tmp_path / "M")
    put(box, os.fsdecode(b"1.h\xf6st:2,S"), message(1), WHEN)
    (box / "dovecot-uidlist").write_bytes(b"3 V99 N9\n5 :1.h\xf6st\n")
    result = run("import", "maildir", str(box), "--user", USER)
    assert result.exit_code == 0, result.output
    (s,) = stored(data_dir)
    assert (s.uid, set(s.flags)) == (5, {"\\Seen"})


def test_unreadable_message_file_fails_at_the_end(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = maildir(tmp_path / "M")
    (box / "cur" / "1.host:2,S").mkdir()  # listed like a message, unreadable even for root
    put(box, "2.host:2,S", message(2), WHEN)
    result = run("import", "maildir", str(box), "--user", USER)
    assert result.exit_code == 1
    assert "could not be read" in result.stderr
    assert len(stored(data_dir)) == 1


# -- bad input ---------------------------------------------------------------------------


def test_missing_cur_writes_nothing(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "M"
    (root / "new").mkdir(parents=True)
    put(root, "1.host", message(1), WHEN, new=True)
    assert_one_line_error(run("import", "maildir", str(root), "--user", USER), "no cur/")
    assert stored(data_dir) == []


def test_broken_subfolder_writes_nothing(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    dovecot_tree(root)
    (root / ".Broken" / "new").mkdir(parents=True)
    assert_one_line_error(run("import", "maildir", str(root), "--user", USER), ".Broken", "cur/")
    assert stored(data_dir) == []


def test_bad_uidlist_writes_nothing(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    dovecot_tree(root)
    (root / "dovecot-uidlist").write_bytes(b"garbage\n")
    assert_one_line_error(run("import", "maildir", str(root), "--user", USER), "dovecot-uidlist")
    assert stored(data_dir) == []


def test_not_a_directory(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"x")
    assert_one_line_error(run("import", "maildir", str(f), "--user", USER), "not a directory")
    assert_one_line_error(
        run("import", "maildir", str(tmp_path / "nope"), "--user", USER), "no such"
    )


def test_unknown_user_writes_nothing(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    dovecot_tree(tmp_path / "Maildir")
    result = run("import", "maildir", str(tmp_path / "Maildir"), "--user", "x@example.test")
    assert_one_line_error(result, "unknown user")


def test_internal_date_is_the_file_mtime(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = maildir(tmp_path / "M")
    when = datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
    put(box, "1.host:2,", message(1), when)
    assert run("import", "maildir", str(box), "--user", USER).exit_code == 0
    assert stored(data_dir)[0].internal_date == when


def test_pop3_uidls_from_the_dovecot_uidlist_are_kept(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    """Dovecot's "P" extension holds the UIDL POP3 clients know: keep it (issue 5, item 3)."""
    from tests.transfer.conftest import with_store

    inbox = maildir(tmp_path / "Maildir")
    put(inbox, "1.M1P1.host:2,S", message(1), WHEN)
    put(inbox, "2.M2P1.host:2,S", message(2), WHEN)
    put(inbox, "3.M3P1.host:2,S", message(3), WHEN)
    (inbox / "dovecot-uidlist").write_bytes(
        b"3 V1700000001 N10\n"
        b"4 P0000000400000001 :1.M1P1.host\n"
        b"5 W99 Pold-uidl-5 :2.M2P1.host\n"
        b"6 P :3.M3P1.host\n"  # an empty UIDL is not one
    )
    result = run("import", "maildir", str(tmp_path / "Maildir"), "--user", USER)
    assert result.exit_code == 0, result.output

    async def uidls(store):  # type: ignore[no-untyped-def]
        account = await store.get_account(USER)
        box = await store.get_mailbox(account.id, "INBOX")
        return await store.get_pop3_uidls(box.id)

    assert with_store(data_dir, uidls) == {4: "0000000400000001", 5: "old-uidl-5"}


def test_lf_messages_are_stored_with_crlf_unless_kept(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    lf = message(1)
    put(maildir(tmp_path / "Maildir"), "1.M1P1.host:2,S", lf, WHEN)
    path = str(tmp_path / "Maildir")
    assert run("import", "maildir", path, "--user", USER, "--mailbox", "A").exit_code == 0
    kept = run("import", "maildir", path, "--user", USER, "--mailbox", "B", "--keep-line-endings")
    assert kept.exit_code == 0
    by_box = Counter((s.mailbox, s.sha256) for s in stored(data_dir))
    crlf = lf.replace(b"\n", b"\r\n")
    assert by_box == Counter(
        [("A", h) for h in sha_multiset([crlf])] + [("B", h) for h in sha_multiset([lf])]
    )


def test_new_mailbox_continues_at_the_uidlists_next_uid(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    """Issue 11 item 5: a folder whose uidlist says N50 (UIDs up to 49 used there)
    continues at 50 after the import, even when every file was listed."""
    root = maildir(tmp_path / "Maildir")
    box = maildir(root / ".Projekte")
    put(box, "1.host:2,S", message(1), WHEN)
    (box / "dovecot-uidlist").write_bytes(b"3 V1234 N50\n7 :1.host\n")
    assert run("import", "maildir", str(root), "--user", USER).exit_code == 0

    async def next_uid(store: Store) -> tuple[int, int]:
        account = await store.get_account(USER)
        assert account is not None
        mailbox = await store.get_mailbox(account.id, "Projekte")
        assert mailbox is not None
        appended = await store.append(mailbox.id, await prepare_message(store, message(2)))
        return mailbox.uidnext, appended.uid

    assert with_store(data_dir, next_uid) == (50, 50)
