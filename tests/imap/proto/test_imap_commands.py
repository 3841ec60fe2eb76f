"""Vector tables: one command line in, one typed command (or a tagged BAD) out."""

from __future__ import annotations

import datetime as dt

import pytest

from posteingang.imap.proto import commands as c
from posteingang.imap.proto import fetch as f
from posteingang.imap.proto import search as s
from posteingang.imap.proto.parse import parse_command
from posteingang.imap.proto.reader import (
    CommandReader,
    CommandReady,
    LiteralExpected,
    NeedData,
    ProtocolError,
)
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.proto.tokens import ParseError


def events(data: bytes, *, utf8: bool = False) -> list[object]:
    reader = CommandReader(utf8=utf8)
    reader.feed(data)
    out: list[object] = []
    while not isinstance(ev := reader.next_event(), NeedData):
        if not isinstance(ev, LiteralExpected):
            out.append(ev)
    return out


def parse(line: bytes, *, utf8: bool = False) -> object:
    evs = events(line + b"\r\n", utf8=utf8)
    assert len(evs) == 1, evs
    ev = evs[0]
    if isinstance(ev, CommandReady):
        return ev.command
    return ev


def seq(text: str) -> SequenceSet:
    return SequenceSet.parse(text.encode())


UTC1 = dt.timezone(dt.timedelta(hours=1))

VALID: list[tuple[bytes, object]] = [
    # --- any state
    (b"a CAPABILITY", c.Capability(b"a")),
    (b"a capability", c.Capability(b"a")),
    (b"A001 NoOp", c.Noop(b"A001")),
    (b"x.y-z_1 LOGOUT", c.Logout(b"x.y-z_1")),
    (b"a]b NOOP", c.Noop(b"a]b")),  # "]" is an ASTRING-CHAR, so allowed in a tag
    (b"$tag! NOOP", c.Noop(b"$tag!")),
    # --- not authenticated
    (b"a STARTTLS", c.StartTLS(b"a")),
    (b"a AUTHENTICATE plain", c.Authenticate(b"a", "PLAIN")),
    (b"a AUTHENTICATE PLAIN =", c.Authenticate(b"a", "PLAIN", b"")),
    (
        b"a AUTHENTICATE PLAIN AHVzZXIAcGFzcw==",
        c.Authenticate(b"a", "PLAIN", b"\0user\0pass"),
    ),
    (b"a AUTHENTICATE SCRAM-SHA-256", c.Authenticate(b"a", "SCRAM-SHA-256")),
    (b"a LOGIN fred secret", c.Login(b"a", b"fred", b"secret")),
    (b'a LOGIN "" ""', c.Login(b"a", b"", b"")),
    (b'a LOGIN "fr\\"ed" "a\\\\b"', c.Login(b"a", b'fr"ed', b"a\\b")),
    (b"a LOGIN {4}\r\nfred {0}\r\n", c.Login(b"a", b"fred", b"")),
    (b"a LOGIN {4+}\r\nfred pw]x", c.Login(b"a", b"fred", b"pw]x")),
    (b"a LOGIN user@example.org p%ss", None),  # % is not an ASTRING-CHAR -> BAD
    # --- authenticated
    (b"a ENABLE UTF8=ACCEPT", c.Enable(b"a", ("UTF8=ACCEPT",))),
    (b"a enable condstore qresync", c.Enable(b"a", ("CONDSTORE", "QRESYNC"))),
    (b"a SELECT INBOX", c.Select(b"a", "INBOX")),
    (b"a SELECT inbox", c.Select(b"a", "INBOX")),
    (b'a SELECT "Inbox/Sub"', c.Select(b"a", "INBOX/Sub")),
    (b"a SELECT Entw&APw-rfe", c.Select(b"a", "Entwürfe")),
    (b"a SELECT {5}\r\nDraft", c.Select(b"a", "Draft")),
    (b"a EXAMINE Trash", c.Examine(b"a", "Trash")),
    (b"a SELECT INBOX (CONDSTORE)", c.Select(b"a", "INBOX", condstore=True)),
    (
        b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        c.Select(
            b"a",
            "INBOX",
            qresync=c.QResync(67890007, 20050715194045000, seq("41,43:211,214:541")),
        ),
    ),
    (
        b"a EXAMINE INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000 "
        b"4964,7402,8994)))",
        c.Examine(
            b"a",
            "INBOX",
            qresync=c.QResync(
                67890007,
                90060115194045000,
                seq("1:29997"),
                (seq("5000,7500,9000"), seq("4964,7402,8994")),
            ),
        ),
    ),
    (b"a SELECT INBOX (QRESYNC (1 2))", c.Select(b"a", "INBOX", qresync=c.QResync(1, 2))),
    (b"a CREATE Projects/2024", c.Create(b"a", "Projects/2024")),
    (b"a CREATE Sent (USE (\\Sent))", c.Create(b"a", "Sent", ("\\Sent",))),
    (b"a CREATE x (USE (\\Sent \\archive))", c.Create(b"a", "x", ("\\Sent", "\\Archive"))),
    # well-formed but unknown: parsed, and refused by the session with NO [USEATTR]
    (b"a CREATE x (USE (\\Bogus))", c.Create(b"a", "x", ("\\Bogus",))),
    (b"a DELETE foo", c.Delete(b"a", "foo")),
    (b"a RENAME foo bar", c.Rename(b"a", "foo", "bar")),
    (b'a RENAME "a b" {3}\r\nc d', c.Rename(b"a", "a b", "c d")),
    (b"a SUBSCRIBE news", c.Subscribe(b"a", "news")),
    (b"a UNSUBSCRIBE news", c.Unsubscribe(b"a", "news")),
    (b'a LIST "" *', c.List(b"a", "", ("*",))),
    (b'a LIST "" ""', c.List(b"a", "", ("",))),
    (b"a LIST ~/Mail/ %", c.List(b"a", "~/Mail/", ("%",))),
    (b'a LIST "" INBOX/%]', c.List(b"a", "", ("INBOX/%]",))),
    (
        b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" (% "Other/*") RETURN (CHILDREN)',
        c.List(
            b"a",
            "",
            ("%", "Other/*"),
            frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
            c.ListReturn(children=True),
            extended=True,
        ),
    ),
    (
        b'a LIST () "" % RETURN (SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN))',
        c.List(
            b"a",
            "",
            ("%",),
            frozenset(),
            c.ListReturn(subscribed=True, special_use=True, status=("MESSAGES", "UNSEEN")),
            extended=True,
        ),
    ),
    (
        b'a LIST (SPECIAL-USE) "" *',
        c.List(b"a", "", ("*",), frozenset({"SPECIAL-USE"}), extended=True),
    ),
    (b'a LIST "" % RETURN ()', c.List(b"a", "", ("%",), extended=True)),
    (b'a LSUB "" news/*', c.Lsub(b"a", "", "news/*")),
    (b"a NAMESPACE", c.Namespace(b"a")),
    (
        b"a STATUS blurdybloop (UIDNEXT MESSAGES)",
        c.Status(b"a", "blurdybloop", ("UIDNEXT", "MESSAGES")),
    ),
    (
        b"a status INBOX (size deleted highestmodseq recent)",
        c.Status(b"a", "INBOX", ("SIZE", "DELETED", "HIGHESTMODSEQ", "RECENT")),
    ),
    (b"a APPEND INBOX {5}\r\nhello", c.Append(b"a", "INBOX", (c.AppendMessage(b"hello"),))),
    (b"a APPEND INBOX {0}\r\n", c.Append(b"a", "INBOX", (c.AppendMessage(b""),))),
    (
        b'a APPEND Drafts (\\Seen $Work) "05-Jan-2024 10:11:12 +0100" {2+}\r\nhi',
        c.Append(
            b"a",
            "Drafts",
            (
                c.AppendMessage(
                    b"hi",
                    ("\\Seen", "$Work"),
                    dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=UTC1),
                ),
            ),
        ),
    ),
    (
        b'a APPEND x " 5-Jan-2024 10:11:12 +0100" ~{3}\r\na\0b',
        c.Append(
            b"a",
            "x",
            (
                c.AppendMessage(
                    b"a\0b",
                    (),
                    dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=UTC1),
                    binary=True,
                ),
            ),
        ),
    ),
    (
        b"a APPEND x () {1}\r\na (\\Flagged) {1}\r\nb",  # MULTIAPPEND
        c.Append(b"a", "x", (c.AppendMessage(b"a"), c.AppendMessage(b"b", ("\\Flagged",)))),
    ),
    (
        b"a APPEND INBOX UTF8 (~{2}\r\nhi)",
        c.Append(b"a", "INBOX", (c.AppendMessage(b"hi", binary=True, utf8=True),)),
    ),
    (b"a IDLE", c.Idle(b"a")),
    (b"a ID NIL", c.Id(b"a", None)),
    (
        b'a ID ("name" "sodr" "version" NIL)',
        c.Id(b"a", ((b"name", b"sodr"), (b"version", None))),
    ),
    # --- selected
    (b"a CHECK", c.Check(b"a")),
    (b"a CLOSE", c.Close(b"a")),
    (b"a UNSELECT", c.Unselect(b"a")),
    (b"a EXPUNGE", c.Expunge(b"a")),
    (b"a UID EXPUNGE 3000:3002", c.Expunge(b"a", seq("3000:3002"))),
    (b"a COPY 2:4 MEETING", c.Copy(b"a", seq("2:4"), "MEETING")),
    (b"a uid copy 4:2 MEETING", c.Copy(b"a", seq("4:2"), "MEETING", uid=True)),
    (b"a MOVE *:4 Trash", c.Move(b"a", seq("*:4"), "Trash")),
    (b"a UID MOVE $ Trash", c.Move(b"a", SequenceSet(saved=True), "Trash", uid=True)),
    (
        b"a STORE 2:4 +FLAGS (\\Deleted)",
        c.Store(b"a", seq("2:4"), c.StoreMode.ADD, ("\\Deleted",)),
    ),
    (
        b"a STORE 1 -flags.silent \\seen $x",
        c.Store(b"a", seq("1"), c.StoreMode.REMOVE, ("\\Seen", "$x"), silent=True),
    ),
    (b"a STORE 1 FLAGS ()", c.Store(b"a", seq("1"), c.StoreMode.REPLACE, ())),
    (
        b"a UID STORE 1:* (UNCHANGEDSINCE 12345) FLAGS.SILENT (\\Answered)",
        c.Store(
            b"a",
            seq("1:*"),
            c.StoreMode.REPLACE,
            ("\\Answered",),
            silent=True,
            uid=True,
            unchangedsince=12345,
        ),
    ),
    # --- FETCH
    (b"a FETCH 1 FLAGS", c.Fetch(b"a", seq("1"), (f.FetchAttr("FLAGS"),))),
    (
        b"a FETCH 1:* FAST",
        c.Fetch(
            b"a",
            seq("1:*"),
            (f.FetchAttr("FLAGS"), f.FetchAttr("INTERNALDATE"), f.FetchAttr("RFC822.SIZE")),
        ),
    ),
    (
        b"a FETCH 1 all",
        c.Fetch(
            b"a",
            seq("1"),
            (
                f.FetchAttr("FLAGS"),
                f.FetchAttr("INTERNALDATE"),
                f.FetchAttr("RFC822.SIZE"),
                f.FetchAttr("ENVELOPE"),
            ),
        ),
    ),
    (b"a FETCH 1 FULL", None),  # checked separately: 5 items
    (
        b"a FETCH 2 (BODY BODYSTRUCTURE ENVELOPE RFC822 RFC822.HEADER RFC822.TEXT UID MODSEQ)",
        c.Fetch(
            b"a",
            seq("2"),
            tuple(
                f.FetchAttr(n)
                for n in (
                    "BODY",
                    "BODYSTRUCTURE",
                    "ENVELOPE",
                    "RFC822",
                    "RFC822.HEADER",
                    "RFC822.TEXT",
                    "UID",
                    "MODSEQ",
                )
            ),
        ),
    ),
    (b"a FETCH 1 BODY[]", c.Fetch(b"a", seq("1"), (f.FetchBody(f.Section()),))),
    (
        b"a FETCH 1 BODY.PEEK[]<0.1024>",
        c.Fetch(b"a", seq("1"), (f.FetchBody(f.Section(), (0, 1024), peek=True),)),
    ),
    (
        b"a FETCH 1 (BODY[HEADER] BODY[TEXT] BODY[1.2.MIME] BODY[3])",
        c.Fetch(
            b"a",
            seq("1"),
            (
                f.FetchBody(f.Section(text="HEADER")),
                f.FetchBody(f.Section(text="TEXT")),
                f.FetchBody(f.Section((1, 2), "MIME")),
                f.FetchBody(f.Section((3,))),
            ),
        ),
    ),
    (
        b"a FETCH 1 BODY[4.2.HEADER.FIELDS.NOT (Received {3}\r\nX-Y)]",
        c.Fetch(
            b"a",
            seq("1"),
            (f.FetchBody(f.Section((4, 2), "HEADER.FIELDS.NOT", ("Received", "X-Y"))),),
        ),
    ),
    (
        b"a FETCH 1 body.peek[header.fields (date from)]",
        c.Fetch(
            b"a",
            seq("1"),
            (f.FetchBody(f.Section((), "HEADER.FIELDS", ("date", "from")), peek=True),),
        ),
    ),
    (
        b"a FETCH 1 (BINARY[1] BINARY.PEEK[1.2]<10.20> BINARY.SIZE[2] BINARY[])",
        c.Fetch(
            b"a",
            seq("1"),
            (
                f.FetchBinary((1,)),
                f.FetchBinary((1, 2), (10, 20), peek=True),
                f.FetchBinarySize((2,)),
                f.FetchBinary(()),
            ),
        ),
    ),
    (
        b"a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
        c.Fetch(b"a", seq("1:*"), (f.FetchAttr("FLAGS"),), changedsince=12345),
    ),
    (
        b"a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        c.Fetch(
            b"a",
            seq("300:500"),
            (f.FetchAttr("FLAGS"),),
            uid=True,
            changedsince=12345,
            vanished=True,
        ),
    ),
    # --- SEARCH
    (b"a SEARCH ALL", c.Search(b"a", s.SearchAll())),
    (
        b'a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        c.Search(
            b"a",
            s.SearchAnd(
                (
                    s.SearchFlag("\\Flagged"),
                    s.SearchDate("INTERNAL", "SINCE", dt.date(1994, 2, 1)),
                    s.SearchNot(s.SearchHeader("FROM", b"Smith")),
                )
            ),
        ),
    ),
    (
        b"a UID SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX",
        c.Search(b"a", s.SearchText(b"XXXXXX"), charset="UTF-8", uid=True),
    ),
    (
        b"a SEARCH RETURN (MIN COUNT) OR (SEEN UNDELETED) 1:*",
        c.Search(
            b"a",
            s.SearchOr(
                s.SearchAnd((s.SearchFlag("\\Seen"), s.SearchFlag("\\Deleted", False))),
                s.SearchSequence(seq("1:*")),
            ),
            returns=("MIN", "COUNT"),
        ),
    ),
    (b"a SEARCH RETURN () ALL", c.Search(b"a", s.SearchAll(), returns=())),
    (
        b"a SEARCH RETURN (SAVE) $",
        c.Search(b"a", s.SearchSequence(SequenceSet(saved=True)), returns=("SAVE",)),
    ),
    (
        b"a SEARCH NEW",
        c.Search(b"a", s.SearchAnd((s.SearchFlag("\\Recent"), s.SearchFlag("\\Seen", False)))),
    ),
    (b"a SEARCH OLD", c.Search(b"a", s.SearchFlag("\\Recent", False))),
    (b"a SEARCH KEYWORD $Junk", c.Search(b"a", s.SearchFlag("$Junk"))),
    (b"a SEARCH UNKEYWORD foo", c.Search(b"a", s.SearchFlag("foo", False))),
    (b'a SEARCH HEADER Message-ID ""', c.Search(b"a", s.SearchHeader("MESSAGE-ID", b""))),
    (
        b"a SEARCH LARGER 1000 SMALLER 5000000000",
        c.Search(
            b"a", s.SearchAnd((s.SearchSize("LARGER", 1000), s.SearchSize("SMALLER", 5000000000)))
        ),
    ),
    (
        b'a SEARCH SENTBEFORE "1-Jan-2000" SENTON 31-dec-1999',
        c.Search(
            b"a",
            s.SearchAnd(
                (
                    s.SearchDate("SENT", "BEFORE", dt.date(2000, 1, 1)),
                    s.SearchDate("SENT", "ON", dt.date(1999, 12, 31)),
                )
            ),
        ),
    ),
    (
        b"a SEARCH UID 1,3:5 BODY x",
        c.Search(b"a", s.SearchAnd((s.SearchUid(seq("1,3:5")), s.SearchBody(b"x")))),
    ),
    (b"a SEARCH MODSEQ 620162338", c.Search(b"a", s.SearchModSeq(620162338))),
    (
        b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338',
        c.Search(b"a", s.SearchModSeq(620162338, b"/flags/\\draft", "ALL")),
    ),
    (b"a SEARCH YOUNGER 3600", c.Search(b"a", s.SearchWithin("YOUNGER", 3600))),
    (
        b"a SEARCH SAVEDSINCE 1-Mar-2024 EMAILID M6d99ac3275bb4e",
        c.Search(
            b"a",
            s.SearchAnd(
                (
                    s.SearchDate("SAVED", "SINCE", dt.date(2024, 3, 1)),
                    s.SearchObjectId("EMAILID", "M6d99ac3275bb4e"),
                )
            ),
        ),
    ),
    (
        b"a FETCH 1 (PREVIEW EMAILID)",
        c.Fetch(b"a", seq("1"), (f.FetchAttr("PREVIEW"), f.FetchAttr("EMAILID"))),
    ),
    (b"a SEARCH ((((SEEN))))", c.Search(b"a", s.SearchFlag("\\Seen"))),
    (
        b"a SEARCH ANSWERED DELETED DRAFT RECENT UNANSWERED UNDRAFT UNFLAGGED UNSEEN",
        c.Search(
            b"a",
            s.SearchAnd(
                tuple(
                    s.SearchFlag(n, p)
                    for n, p in (
                        ("\\Answered", True),
                        ("\\Deleted", True),
                        ("\\Draft", True),
                        ("\\Recent", True),
                        ("\\Answered", False),
                        ("\\Draft", False),
                        ("\\Flagged", False),
                        ("\\Seen", False),
                    )
                )
            ),
        ),
    ),
    (
        b"a SEARCH BCC a CC b TO c SUBJECT d",
        c.Search(
            b"a",
            s.SearchAnd(
                (
                    s.SearchHeader("BCC", b"a"),
                    s.SearchHeader("CC", b"b"),
                    s.SearchHeader("TO", b"c"),
                    s.SearchHeader("SUBJECT", b"d"),
                )
            ),
        ),
    ),
    (
        b"a SEARCH BEFORE 1-Jan-2024 ON 2-Jan-2024",
        c.Search(
            b"a",
            s.SearchAnd(
                (
                    s.SearchDate("INTERNAL", "BEFORE", dt.date(2024, 1, 1)),
                    s.SearchDate("INTERNAL", "ON", dt.date(2024, 1, 2)),
                )
            ),
        ),
    ),
]


@pytest.mark.parametrize(("line", "expected"), [v for v in VALID if v[1] is not None])
def test_valid_commands(line: bytes, expected: object) -> None:
    assert parse(line) == expected


def test_fetch_full_macro_expands_to_all_plus_body() -> None:
    cmd = parse(b"a FETCH 1 FULL")
    assert isinstance(cmd, c.Fetch)
    assert [i.name for i in cmd.items if isinstance(i, f.FetchAttr)] == [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODY",
    ]


INVALID: list[tuple[bytes, bytes]] = [
    # (line, expected response prefix)
    (b"a FOO", b"a BAD unknown command FOO"),
    (b"a UID NOOP", b"a BAD UID NOOP is not a command"),
    (b"a NOOP ", b"a BAD unexpected trailing space"),
    (b"a NOOP x", b"a BAD unexpected extra arguments"),
    (b"a  NOOP", b"a BAD unexpected extra space"),
    (b"a", b"a BAD missing argument"),
    (b"", b"* BAD missing or invalid tag"),
    (b"+ NOOP", b"* BAD missing or invalid tag"),
    (b"* NOOP", b"* BAD missing or invalid tag"),
    (b"a{ NOOP", b"* BAD"),
    (b"a LOGIN fred", b"a BAD missing argument"),
    (b"a LOGIN fred pw extra", b"a BAD unexpected extra arguments"),
    (b'a LOGIN "fred pw', b"a BAD unterminated quoted string"),
    (b'a LOGIN "fr\\ed" pw', b"a BAD invalid escape"),
    (b'a LOGIN "fr\xe9d" pw', b"a BAD invalid UTF-8 in quoted string"),
    (b'a LOGIN "fr\xc3d" pw', b"a BAD invalid UTF-8 in quoted string"),
    (b"a LOGIN fr\xc3\xa9d pw", b"a BAD"),
    (b"a SELECT INBOX ()", b"a BAD expected a SELECT parameter"),
    (b"a SELECT INBOX (FOO)", b"a BAD unknown SELECT parameter FOO"),
    (b'a LIST (RECURSIVEMATCH) "" %', b"a BAD RECURSIVEMATCH needs another"),
    (b'a LIST (BOGUS) "" %', b"a BAD unknown LIST selection option BOGUS"),
    (b'a LIST "" % RETURN (BOGUS)', b"a BAD unknown LIST return option BOGUS"),
    (b"a STATUS INBOX ()", b"a BAD empty STATUS item list"),
    (b"a STATUS INBOX (FOO)", b"a BAD unknown STATUS item FOO"),
    (b"a APPEND INBOX", b"a BAD APPEND needs a message literal"),
    (b"a APPEND INBOX hello", b"a BAD expected the message as a literal"),
    (b"a APPEND INBOX (\\Recent) {1}\r\nx", b"a BAD \\Recent cannot be set"),
    (b'a APPEND INBOX "31-Feb-2024 00:00:00 +0000" {1}\r\nx', b"a BAD invalid date-time"),
    (b"a APPEND INBOX {3}\r\na\0b", b"a BAD NUL octet in message literal"),
    (b"a LOGIN ~{1}\r\na b", b"a BAD literal8"),
    (b"a APPEND INBOX UTF8 ({2}\r\nhi)", b"a BAD APPEND UTF8 needs a literal8"),
    (b"a APPEND INBOX UTF8 (~{2}\r\nhi", b"a BAD expected ')'"),
    (b"a LOGIN {1}\r\n\0 b", b"a BAD NUL octet in literal"),
    (b"a FETCH 0 FLAGS", b"a BAD invalid sequence number"),
    (b"a FETCH 01 FLAGS", b"a BAD invalid sequence number"),
    (b"a FETCH 1: FLAGS", b"a BAD invalid sequence number"),
    (b"a FETCH 4294967296 FLAGS", b"a BAD sequence number out of range"),
    (b"a FETCH 1 ()", b"a BAD empty fetch item list"),
    (b"a FETCH 1 BOGUS", b"a BAD unknown fetch item BOGUS"),
    (b"a FETCH 1 ALLX", b"a BAD unknown fetch item ALLX"),
    (b"a FETCH 1 (ALL)", b"a BAD unknown fetch item ALL"),  # macros only stand alone
    (b"a FETCH 1 FAST FLAGS", b"a BAD expected '(' starting FETCH modifiers"),
    (b"a FETCH 1 BODY[HEADER", b"a BAD expected ']'"),
    (b"a FETCH 1 BODY[MIME]", b"a BAD invalid section"),
    (b"a FETCH 1 BODY[]<0.0>", b"a BAD partial length must not be zero"),
    (b"a FETCH 1 BODY.PEEK", b"a BAD BODY.PEEK needs a section"),
    (b"a FETCH 1 BINARY[TEXT]", b"a BAD"),
    (b"a FETCH 1 FLAGS (VANISHED)", b"a BAD unknown FETCH modifier VANISHED"),
    (b"a UID FETCH 1 FLAGS (VANISHED)", b"a BAD VANISHED requires CHANGEDSINCE"),
    (b"a STORE 1 FLAGZ (\\Seen)", b"a BAD expected FLAGS"),
    (b"a STORE 1 +FLAGS (\\Seen", b"a BAD missing argument"),
    (b"a SEARCH", b"a BAD missing argument"),
    (b"a SEARCH FOO", b"a BAD unknown search key FOO"),
    (b"a SEARCH (SEEN", b"a BAD missing argument"),
    (b"a SEARCH ()", b"a BAD expected a search key"),
    (b"a SEARCH SINCE 1-Foo-2024", b"a BAD invalid date: unknown month Foo"),
    (b"a SEARCH OR SEEN", b"a BAD missing argument"),
    (b"a SEARCH RETURN (BOGUS) ALL", b"a BAD unknown SEARCH return option BOGUS"),
    (b"a SEARCH " + b"NOT " * 40 + b"SEEN", b"a BAD search criteria nested too deeply"),
    (b"a SEARCH " + b"(" * 40 + b"SEEN" + b")" * 40, b"a BAD search criteria nested too deeply"),
    (b"a AUTHENTICATE PLAIN AHVz!", b"a BAD unexpected extra arguments"),
    (b"a AUTHENTICATE PLAIN AHV", b"a BAD invalid base64"),
    (b'a ID ("name")', b"a BAD expected a space"),
    (b"a ID (" + b'"k" "v" ' * 31 + b")", b"a BAD"),
    (b"a ENABLE", b"a BAD missing argument"),
    (b"a COPY 1", b"a BAD missing argument"),
    (b"a UID EXPUNGE", b"a BAD missing argument"),
    (b"a SELECT INBOX (QRESYNC (1 0))", b"a BAD QRESYNC mod-sequence must not be zero"),
]


@pytest.mark.parametrize(("line", "prefix"), INVALID)
def test_malformed_commands_get_a_bad_with_a_reason(line: bytes, prefix: bytes) -> None:
    ev = parse(line)
    assert isinstance(ev, ProtocolError), ev
    assert ev.response.startswith(prefix), ev.response
    assert ev.response.endswith(b"\r\n")
    assert ev.response.count(b"\n") == 1
    # There is always a human reason after BAD.
    assert len(ev.response.split(b" BAD ", 1)[1].strip()) > 3


def test_utf8_accept_allows_8bit_quoted_and_utf8_mailbox_names() -> None:
    assert parse('a SELECT "Entwürfe"'.encode(), utf8=True) == c.Select(b"a", "Entwürfe")
    # In UTF-8 mode "&" is an ordinary character, not a shift.
    assert parse(b"a SELECT A&B", utf8=True) == c.Select(b"a", "A&B")
    bad = parse(b'a LOGIN "\xff" x', utf8=True)
    assert isinstance(bad, ProtocolError)
    assert b"invalid UTF-8" in bad.response


def test_search_charset_then_return_order() -> None:
    cmd = parse(b"a UID SEARCH RETURN (ALL) CHARSET us-ascii SUBJECT hi")
    assert cmd == c.Search(
        b"a", s.SearchHeader("SUBJECT", b"hi"), charset="US-ASCII", returns=("ALL",), uid=True
    )


def test_fetch_response_names_echo_the_request() -> None:
    cmd = parse(b"a FETCH 1 (BODY.PEEK[1.HEADER.FIELDS (From Subject)]<5.10> BINARY.PEEK[2]<0.3>)")
    assert isinstance(cmd, c.Fetch)
    names = [item.response_name() for item in cmd.items]
    assert names == [b"BODY[1.HEADER.FIELDS (From Subject)]<5>", b"BINARY[2]<0>"]


# RFC 9051 §4.3: wherever an astring is allowed, an atom, a quoted string, a
# literal and a non-synchronising literal are the same value.
ASTRING_TEMPLATES = [
    (b"a LOGIN %s %s", c.Login(b"a", b"Box", b"Box")),
    (b"a SELECT %s", c.Select(b"a", "Box")),
    (b"a EXAMINE %s (CONDSTORE)", c.Examine(b"a", "Box", condstore=True)),
    (b"a CREATE %s", c.Create(b"a", "Box")),
    (b"a DELETE %s", c.Delete(b"a", "Box")),
    (b"a RENAME %s %s", c.Rename(b"a", "Box", "Box")),
    (b"a SUBSCRIBE %s", c.Subscribe(b"a", "Box")),
    (b"a UNSUBSCRIBE %s", c.Unsubscribe(b"a", "Box")),
    (b"a STATUS %s (MESSAGES)", c.Status(b"a", "Box", ("MESSAGES",))),
    (b"a LIST %s %s", c.List(b"a", "Box", ("Box",))),
    (b"a LSUB %s %s", c.Lsub(b"a", "Box", "Box")),
    (b"a APPEND %s {1}\r\nx", c.Append(b"a", "Box", (c.AppendMessage(b"x"),))),
    (b"a COPY 1 %s", c.Copy(b"a", seq("1"), "Box")),
    (b"a UID MOVE 1 %s", c.Move(b"a", seq("1"), "Box", uid=True)),
    (b"a SEARCH SUBJECT %s", c.Search(b"a", s.SearchHeader("SUBJECT", b"Box"))),
    (b"a SEARCH HEADER %s %s", c.Search(b"a", s.SearchHeader("BOX", b"Box"))),
    (b"a SEARCH CHARSET %s ALL", c.Search(b"a", s.SearchAll(), charset="BOX")),
    (
        b"a FETCH 1 BODY[HEADER.FIELDS (%s %s)]",
        c.Fetch(b"a", seq("1"), (f.FetchBody(f.Section((), "HEADER.FIELDS", ("Box", "Box"))),)),
    ),
]
FORMS = [b"Box", b'"Box"', b"{3}\r\nBox", b"{3+}\r\nBox"]


@pytest.mark.parametrize(("template", "expected"), ASTRING_TEMPLATES)
@pytest.mark.parametrize("form", FORMS)
def test_every_astring_position_takes_every_string_form(
    template: bytes, expected: object, form: bytes
) -> None:
    line = template.replace(b"%s", form)
    assert parse(line) == expected


def test_id_values_may_be_literals() -> None:
    assert parse(b'a ID ({4}\r\nname "x")') == c.Id(b"a", ((b"name", b"x"),))


def test_known_commands_cover_every_parser() -> None:
    from posteingang.imap.proto.parse import KNOWN_COMMANDS

    assert {b"APPEND", b"UID", b"IDLE", b"MOVE", b"ID", b"ENABLE"} <= KNOWN_COMMANDS
    assert b"FOO" not in KNOWN_COMMANDS


@pytest.mark.parametrize(
    "line",
    [
        b"a SELECT &Jjo",
        b"a SELECT &AGE-",
        b'a CREATE "a&b"',
        b"a STATUS a&b (MESSAGES)",
        b'a RENAME INBOX/x "caf\xc3\xa9"',
        b"a COPY 1 &Jjo",
    ],
)
def test_names_that_are_not_modified_utf7_get_a_no(line: bytes) -> None:
    # Issue 10 item 7: the command is well-formed, so NO (as Dovecot), not BAD.
    ev = parse(line)
    assert isinstance(ev, ProtocolError), ev
    assert ev.response.startswith(b"a NO Mailbox name is not valid mUTF-7"), ev.response


def test_list_patterns_that_are_not_modified_utf7_match_nothing() -> None:
    cmd = parse(b'a LIST "" ("a&b" INBOX "&Jjo*")')
    assert isinstance(cmd, c.List) and cmd.patterns == ("INBOX",)
    cmd = parse(b'a LIST "&Jjo" *')
    assert isinstance(cmd, c.List) and cmd.patterns == ()
    cmd = parse(b'a LSUB "" a&b')
    assert isinstance(cmd, c.Lsub) and cmd.pattern is None


def test_search_key_count_is_bounded() -> None:
    # Issue 10 item 2: a SEARCH costs keys x messages, so the keys are counted.
    at_limit = b"a SEARCH " + b"OR SEEN UNSEEN " * 333 + b"ALL"  # 1000 keys
    ev = parse_command([at_limit], [], max_search_keys=1000)
    assert isinstance(ev, c.Search)
    with pytest.raises(ParseError, match="too many search keys"):
        parse_command([at_limit + b" ALL"], [], max_search_keys=1000)
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_command([b"a SEARCH " + b"NOT " * 100 + b"ALL"], [])


def test_ten_thousand_ors_are_refused_by_default() -> None:
    with pytest.raises(ParseError, match="too many search keys"):
        parse_command([b"a SEARCH " + b"OR SEEN UNSEEN " * 10_000 + b"ALL"], [])
