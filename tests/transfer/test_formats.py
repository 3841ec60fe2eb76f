"""Flags and dates in mbox headers and Maildir names; Dovecot's index files; folder names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.transfer.flags import (
    date_field,
    header_block,
    maildir_flags,
    maildir_info,
    split_info,
    status_flags,
)
from posteingang.transfer.maildir import (
    MaildirError,
    decode_level,
    encode_level,
    folder_dir_name,
    format_keywords,
    format_uidlist,
    parse_keywords,
    parse_uidlist,
    scan_tree,
)

STATUS = [
    (b"Status: RO\n", {"\\Seen"}),
    (b"Status: O\n", set()),
    (b"X-Status: AF\n", {"\\Answered", "\\Flagged"}),
    (b"Status: R\nX-Status: DT\n", {"\\Seen", "\\Deleted", "\\Draft"}),
    (b"status: r\n", set()),  # letters are case-sensitive
    (b"Status: RO\r\nSubject: x\r\n", {"\\Seen"}),
    (b"Subject: Status: R\n", set()),
    (b"X-Status-Foo: R\n", set()),
]


@pytest.mark.parametrize(("header", "flags"), STATUS)
def test_status_headers(header: bytes, flags: set[str]) -> None:
    assert status_flags(header) == flags


def test_status_only_in_the_header_block() -> None:
    raw = b"Subject: x\n\nStatus: R\n"
    assert status_flags(header_block(raw)) == frozenset()


HEADER_BLOCKS = [
    (b"A: 1\n\nbody", b"A: 1\n"),
    (b"A: 1\r\n\r\nbody", b"A: 1\r\n"),
    (b"\nbody", b""),
    (b"A: 1\n", b"A: 1\n"),
]


@pytest.mark.parametrize(("raw", "header"), HEADER_BLOCKS)
def test_header_block(raw: bytes, header: bytes) -> None:
    assert header_block(raw) == header


DATES = [
    (b"Date: Mon, 02 Jan 2023 03:18:00 -0500\n", datetime(2023, 1, 2, 8, 18, tzinfo=UTC)),
    (b"Date: Mon, 02 Jan 2023\n 03:18:00 -0500\n", datetime(2023, 1, 2, 8, 18, tzinfo=UTC)),
    (b"Date: 2 Jan 2023 03:18:00 -0000\n", datetime(2023, 1, 2, 3, 18, tzinfo=UTC)),
    (b"Date: yesterday\n", None),
    (b"Subject: x\n", None),
]


@pytest.mark.parametrize(("header", "expected"), DATES)
def test_date_field(header: bytes, expected: datetime | None) -> None:
    assert date_field(header) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_header_helpers_never_raise(raw: bytes) -> None:
    header = header_block(raw)
    status_flags(header)
    date_field(b"Date: " + raw)


# -- Maildir names -------------------------------------------------------------------------

KEYWORDS = {0: "$Junk", 1: "work", 25: "last"}

INFO = [
    ("", set(), []),
    ("S", {"\\Seen"}, []),
    ("DFPRST", {"\\Draft", "\\Flagged", "$Forwarded", "\\Answered", "\\Seen", "\\Deleted"}, []),
    ("Sab", {"\\Seen", "$Junk", "work"}, []),
    ("Sz", {"\\Seen", "last"}, []),
    ("Sc", {"\\Seen"}, ["c"]),
    ("X", set(), []),  # unknown uppercase letters are ignored
]


@pytest.mark.parametrize(("info", "flags", "unknown"), INFO)
def test_maildir_info_to_flags(info: str, flags: set[str], unknown: list[str]) -> None:
    assert maildir_flags(info, KEYWORDS) == (flags, unknown)


def test_flags_to_maildir_info_is_sorted_and_inverse() -> None:
    index = {v: k for k, v in KEYWORDS.items()}
    flags = frozenset({"\\Seen", "\\Flagged", "$Forwarded", "work", "$Junk", "unlisted"})
    info, lost = maildir_info(flags, index)
    assert info == "FPSab"
    assert lost == ["unlisted"]
    assert maildir_flags(info, KEYWORDS)[0] == flags - {"unlisted"}


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("123.M1P2.host,S=5:2,FS", ("123.M1P2.host,S=5", "FS")),
        ("123.M1P2.host", ("123.M1P2.host", None)),
        ("123.M1P2.host:2,", ("123.M1P2.host", "")),
    ],
)
def test_split_info(name: str, split: tuple[str, str | None]) -> None:
    assert split_info(name) == split


UIDLISTS = [
    (
        b"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n"
        b"25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n"
        b"25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n",
        1275660208,
        25022,
        {
            "1276528487.M364837P9451.kurkku,S=1355,W=1394": 25006,
            "1276533073.M242911P3632.kurkku": 25017,
        },
    ),
    (
        b"1 1275660208 7\n3 123.host\n5 124.host:2,S\n",
        1275660208,
        7,
        {"123.host": 3, "124.host": 5},
    ),
    # uidnext below a listed uid is corrected
    (b"3 V5 N2\n9 :a\n", 5, 10, {"a": 9}),
    (b"3 V5\n", 5, 1, {}),
]


@pytest.mark.parametrize(("data", "validity", "uidnext", "uids"), UIDLISTS)
def test_parse_uidlist(data: bytes, validity: int, uidnext: int, uids: dict[str, int]) -> None:
    got = parse_uidlist(data)
    assert (got.uidvalidity, got.uidnext, got.uids) == (validity, uidnext, uids)


@pytest.mark.parametrize(
    "data", [b"", b"2 V1 N1\n", b"3 N5\n", b"3 V0 N1\n", b"3 V1 N1\nx :a\n", b"3 Vx\n"]
)
def test_bad_uidlist(data: bytes) -> None:
    with pytest.raises(MaildirError, match="dovecot-uidlist"):
        parse_uidlist(data)


def test_uidlist_round_trip() -> None:
    data = format_uidlist(77, 12, [(3, "a.host:2,S"), (11, "b.host:2,")])
    got = parse_uidlist(data)
    assert (got.uidvalidity, got.uidnext, got.uids) == (77, 12, {"a.host": 3, "b.host": 11})


def test_keywords_round_trip_and_garbage() -> None:
    assert parse_keywords(format_keywords(["$Junk", "work"])) == {0: "$Junk", 1: "work"}
    assert parse_keywords(b"0 a\nx y\n30 far\n\n2 \xff\n") == {0: "a", 2: "\ufffd"}


LEVELS = [
    ("Sent", "Sent"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("a.b", "a%2eb"),
    ("100%", "100%25"),
    ("R&D", "R&-D"),
]


@pytest.mark.parametrize(("level", "encoded"), LEVELS)
def test_folder_levels(level: str, encoded: str) -> None:
    assert encode_level(level) == encoded
    assert decode_level(encoded) == level


def test_folder_dir_name() -> None:
    assert folder_dir_name("Archiv/2024/Entwürfe") == ".Archiv.2024.Entw&APw-rfe"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=["Cc", "Cs"], blacklist_characters="/"),
        min_size=1,
        max_size=20,
    )
)
def test_level_round_trip(level: str) -> None:
    encoded = encode_level(level)
    assert "." not in encoded
    assert decode_level(encoded) == level


def test_a_level_that_is_not_mutf7_is_kept() -> None:
    assert decode_level("Entwürfe") == "Entwürfe"


# -- scanning ----------------------------------------------------------------------------


def _maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True)
    return path


def test_scan_tree_finds_maildirpp_folders(tmp_path: Path) -> None:
    root = _maildir(tmp_path / "Maildir")
    (root / "cur" / "1.host:2,S").write_bytes(b"a")
    (root / "new" / "2.host").write_bytes(b"b")
    _maildir(root / ".Sent")
    _maildir(root / ".Archiv.2024")
    (root / ".not-a-folder").mkdir()
    (root / "dovecot.index").write_bytes(b"")
    folders = scan_tree(root)
    assert [f.levels for f in folders] == [(), ("Archiv", "2024"), ("Sent",)]
    assert [(f.base, f.info, f.in_new) for f in folders[0].files] == [
        ("1.host", "S", False),
        ("2.host", None, True),
    ]
    assert [f.levels for f in scan_tree(root, recursive=False)] == [()]


def test_scan_tree_refuses_a_folder_without_cur(tmp_path: Path) -> None:
    root = _maildir(tmp_path / "Maildir")
    (root / ".Broken" / "new").mkdir(parents=True)
    with pytest.raises(MaildirError, match="no cur/"):
        scan_tree(root)
