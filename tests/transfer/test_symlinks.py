"""Issue 11 item 12: import and export never follow symbolic links.

`ln -s /etc/shadow Maildir/cur/1700000000.evil:2,S` followed by `import maildir`
used to import the file, and its owner read it over IMAP. Sources are opened
with O_NOFOLLOW and only regular files are imported; what is skipped is named.
"""

from __future__ import annotations

import os
from pathlib import Path

from posteingang.store.interface import Store
from tests.transfer.conftest import Cli, assert_one_line_error, stored, with_store
from tests.transfer.mail import WHEN, maildir, message, put, write_mbox

USER = "demo@example.test"
SECRET = b"root:$6$secret-hash:19000:0:99999:7:::\n"


def _secret(tmp_path: Path) -> Path:
    path = tmp_path / "shadow"
    path.write_bytes(SECRET)
    return path


def _all_bytes(data_dir: Path) -> list[bytes]:
    async def go(store: Store) -> list[bytes]:
        account = await store.get_account(USER)
        assert account is not None
        out = []
        for box in await store.list_mailboxes(account.id):
            index = await store.get_index(box.id)
            for m in await store.get_messages(box.id, index.uids):
                out.append(await store.blobs.get(m.blob_id))
        return out

    return with_store(data_dir, go)


def test_symlink_and_fifo_in_a_maildir_are_skipped_and_named(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    box = maildir(tmp_path / "Maildir")
    put(box, "1.host:2,S", message(1), WHEN)
    (box / "cur" / "1700000000.evil:2,S").symlink_to(_secret(tmp_path))
    os.mkfifo(box / "cur" / "1700000001.fifo:2,S")
    result = run("import", "maildir", str(box), "--user", USER)
    assert result.exit_code == 1, result.output
    assert "1700000000.evil:2,S: a symbolic link, not a regular file" in result.stderr
    assert "1700000001.fifo:2,S: a FIFO, not a regular file" in result.stderr
    assert "not regular" in result.stderr
    assert len(stored(data_dir)) == 1
    assert not any(SECRET in raw for raw in _all_bytes(data_dir))


def test_symlinked_cur_subfolder_or_index_file_is_refused(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    secret_dir = tmp_path / "etc"
    (secret_dir / "cur").mkdir(parents=True)
    (secret_dir / "cur" / "passwd").write_bytes(SECRET)

    linked_cur = tmp_path / "A"
    linked_cur.mkdir()
    (linked_cur / "cur").symlink_to(secret_dir / "cur")
    result = run("import", "maildir", str(linked_cur), "--user", USER)
    assert_one_line_error(result, "symbolic link")

    linked_folder = maildir(tmp_path / "B")
    (linked_folder / ".Evil").symlink_to(secret_dir)
    assert_one_line_error(run("import", "maildir", str(linked_folder), "--user", USER), ".Evil")

    linked_uidlist = maildir(tmp_path / "C")
    put(linked_uidlist, "1.host:2,S", message(1), WHEN)
    (linked_uidlist / "dovecot-uidlist").symlink_to(_secret(tmp_path))
    result = run("import", "maildir", str(linked_uidlist), "--user", USER)
    assert_one_line_error(result, "dovecot-uidlist")
    assert "secret-hash" not in result.output
    assert stored(data_dir) == []


def test_symlinked_mbox_in_a_directory_is_refused(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    tree = tmp_path / "mboxes"
    tree.mkdir()
    write_mbox(tree / "Real.mbox", [message(1)])
    (tree / "Evil.mbox").symlink_to(_secret(tmp_path))
    assert_one_line_error(run("import", "mbox", str(tree), "--user", USER), "symbolic link")
    assert stored(data_dir) == []


def test_export_does_not_write_through_a_symbolic_link(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me\n")
    for args in (("mbox", "--mailbox", "INBOX"), ("mbox",), ("maildir",)):
        target = tmp_path / f"out-{'-'.join(args)}"
        target.symlink_to(victim)
        result = run("export", args[0], str(target), "--user", USER, *args[1:])
        assert_one_line_error(result, "symbolic link")
        assert victim.read_bytes() == b"keep me\n"
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    dir_link = tmp_path / "out-dir-link"
    dir_link.symlink_to(empty_dir)
    assert_one_line_error(run("export", "maildir", str(dir_link), "--user", USER), "symbolic")
    assert list(empty_dir.iterdir()) == []
