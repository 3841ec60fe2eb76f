"""`posteingang import mbox`: what a user notices in the mailbox afterwards."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.transfer.conftest import (
    Cli,
    assert_one_line_error,
    sha_multiset,
    stored,
    stored_form,
)
from tests.transfer.mail import from_line, message, write_mbox

USER = "demo@example.test"


def test_import_keeps_bytes_dates_and_status_flags(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    msgs = [
        message(0, extra=b"Status: RO\nX-Status: AF\n"),
        message(1, extra=b"Status: O\n"),
        message(2, eol=b"\r\n"),
    ]
    box = tmp_path / "in.mbox"
    with open(box, "wb") as f:
        f.write(from_line(0) + b"\n" + msgs[0] + b"\n")
        f.write(from_line(1) + b"\n" + msgs[1] + b"\n")
        f.write(from_line(2) + b"\r\n" + msgs[2] + b"\r\n")
    result = run("import", "mbox", str(box), "--user", USER, "--mailbox", "Old/Mail")
    assert result.exit_code == 0, result.output
    assert "imported 3 of 3" in result.stdout
    got = sorted(stored(data_dir), key=lambda s: s.uid)
    assert [s.mailbox for s in got] == ["Old/Mail"] * 3
    assert sha_multiset(stored_form(msgs)) == Counter(s.sha256 for s in got)
    assert [set(s.flags) for s in got] == [{"\\Seen", "\\Answered", "\\Flagged"}, set(), set()]
    assert got[0].internal_date == datetime(2023, 1, 2, 8, 18, 0, tzinfo=UTC)
    assert got[2].internal_date == datetime(2023, 1, 2, 8, 18, 2, tzinfo=UTC)


def test_date_falls_back_to_date_header_then_mtime(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    box = tmp_path / "in.mbox"
    with_date = message(1)
    without = b"Subject: no date\n\nx\n"
    box.write_bytes(b"From someone\n" + with_date + b"\nFrom other\n" + without)
    mtime = datetime(2020, 2, 2, 2, 2, 2, tzinfo=UTC).timestamp()
    os.utime(box, (mtime, mtime))
    assert run("import", "mbox", str(box), "--user", USER).exit_code == 0
    got = sorted(stored(data_dir), key=lambda s: s.uid)
    assert got[0].internal_date == datetime(2023, 1, 2, 8, 18, 1, tzinfo=UTC)
    assert got[1].internal_date == datetime(2020, 2, 2, 2, 2, 2, tzinfo=UTC)


def test_rerun_imports_nothing_twice_but_keeps_source_duplicates(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    same = message(7)
    msgs = [message(1), same, message(2), same, same]
    box = write_mbox(tmp_path / "in.mbox", msgs)
    assert run("import", "mbox", str(box), "--user", USER).exit_code == 0
    again = run("import", "mbox", str(box), "--user", USER)
    assert again.exit_code == 0
    assert "imported 0 of 5" in again.stdout
    assert Counter(s.sha256 for s in stored(data_dir)) == sha_multiset(stored_form(msgs))


def test_resume_after_a_partial_import(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    same = message(9)
    msgs = [message(n) for n in range(6)] + [same, same, same]
    partial = write_mbox(tmp_path / "part.mbox", [*msgs[:4], same])
    full = write_mbox(tmp_path / "full.mbox", msgs)
    assert run("import", "mbox", str(partial), "--user", USER).exit_code == 0
    result = run("import", "mbox", str(full), "--user", USER)
    assert "imported 4 of 9" in result.stdout
    assert Counter(s.sha256 for s in stored(data_dir)) == sha_multiset(stored_form(msgs))


def test_mboxrd_unescaping_is_chosen_explicitly(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    body = b"Subject: q\n\n>From quoted\n>>From twice\n"
    box = tmp_path / "rd.mbox"
    box.write_bytes(b"From x Mon Jan  2 08:18:00 2023\n" + body + b"\n")
    assert run("import", "mbox", str(box), "--user", USER, "--mailbox", "O").exit_code == 0
    assert (
        run(
            "import", "mbox", str(box), "--user", USER, "--mailbox", "RD", "--format", "mboxrd"
        ).exit_code
        == 0
    )
    by_box = {s.mailbox: s.sha256 for s in stored(data_dir)}
    assert by_box["O"] == sha_multiset(stored_form([body])).most_common(1)[0][0]
    unescaped = b"Subject: q\n\nFrom quoted\n>From twice\n"
    assert by_box["RD"] == sha_multiset(stored_form([unescaped])).most_common(1)[0][0]


def test_lf_messages_are_stored_with_crlf_unless_kept(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    lf = message(1)
    mixed = b"Subject: m\r\n\nbare LF after a CR line\n"
    box = write_mbox(tmp_path / "in.mbox", [lf, mixed])
    assert run("import", "mbox", str(box), "--user", USER, "--mailbox", "A").exit_code == 0
    kept = run("import", "mbox", str(box), "--user", USER, "--mailbox", "B", "--keep-line-endings")
    assert kept.exit_code == 0
    by_box = Counter((s.mailbox, s.sha256) for s in stored(data_dir))
    crlf = lf.replace(b"\n", b"\r\n")
    assert by_box == Counter(
        [("A", h) for h in sha_multiset([crlf, mixed])]  # a CR anywhere: byte-exact
        + [("B", h) for h in sha_multiset([lf, mixed])]
    )


def test_empty_message_is_skipped_with_a_warning(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = tmp_path / "e.mbox"
    box.write_bytes(b"From a\n\nFrom b\n" + message(1))
    result = run("import", "mbox", str(box), "--user", USER)
    assert result.exit_code == 0
    assert "1 empty skipped" in result.stdout
    assert "empty" in result.stderr and "message 1" in result.stderr
    assert len(stored(data_dir)) == 1


def test_empty_file_imports_nothing(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = tmp_path / "empty.mbox"
    box.write_bytes(b"")
    result = run("import", "mbox", str(box), "--user", USER)
    assert result.exit_code == 0
    assert "imported 0 of 0" in result.stdout


def test_structured_progress_lines_when_not_a_terminal(
    run: Cli, data_dir: Path, tmp_path: Path
) -> None:
    box = write_mbox(tmp_path / "in.mbox", [message(n) for n in range(3)])
    result = run("import", "mbox", str(box), "--user", USER)
    assert "import_done" in result.stderr
    assert "imported=3" in result.stderr


# -- bad input ---------------------------------------------------------------------------


def test_unknown_user(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = write_mbox(tmp_path / "in.mbox", [message(1)])
    result = run("import", "mbox", str(box), "--user", "nobody@example.test")
    assert_one_line_error(result, "unknown user")


def test_missing_and_unreadable_paths(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        run("import", "mbox", str(tmp_path / "nope"), "--user", USER), "no such file"
    )
    box = write_mbox(tmp_path / "locked.mbox", [message(1)])
    box.chmod(0)
    try:
        if not os_can_read(box):
            assert_one_line_error(run("import", "mbox", str(box), "--user", USER), "cannot read")
    finally:
        box.chmod(0o644)
    assert stored(data_dir) == []


def os_can_read(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return False
    return True  # running as root: permissions do not apply


def test_truncated_mbox_writes_nothing(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = tmp_path / "cut.mbox"
    full = write_mbox(tmp_path / "full.mbox", [message(1), message(2)]).read_bytes()
    box.write_bytes(full[: full.rindex(b"Body") + 6])  # cut in the middle of a line
    result = run("import", "mbox", str(box), "--user", USER)
    assert_one_line_error(result, "truncated", "cut off")
    assert stored(data_dir) == []


def test_a_directory_without_mbox_files(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_bytes(b"hello\n")
    result = run("import", "mbox", str(tmp_path / "dir"), "--user", USER)
    assert_one_line_error(result, "not an mbox")


def test_a_file_that_is_not_an_mbox(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(message(1))
    assert_one_line_error(run("import", "mbox", str(eml), "--user", USER), "not an mbox")
    assert stored(data_dir) == []


def test_bad_mailbox_name_is_a_usage_error(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    box = write_mbox(tmp_path / "in.mbox", [message(1)])
    result = run("import", "mbox", str(box), "--user", USER, "--mailbox", "a//b")
    assert_one_line_error(result, "mailbox", exit_code=2)


def test_non_utf8_path(run: Cli, data_dir: Path, tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.mbox")
    box = write_mbox(tmp_path / name, [message(1)])
    assert run("import", "mbox", str(box), "--user", USER).exit_code == 0
    missing = tmp_path / os.fsdecode(b"gone\xff.mbox")
    result = run("import", "mbox", str(missing), "--user", USER)
    assert_one_line_error(result, "no such file", "\\xff")
