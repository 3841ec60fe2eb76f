"""SEARCH: addresses, headers, bodies, dates, sizes, flags, sets, ESEARCH (the behaviours
of imaptest's search-* and esearch groups, in our own transcripts).

Messages (in this order): 1 plain, 2 second, 3 third, 4 mixed, 5 rfc822, 6 encodings,
7 noheaders.
"""

from __future__ import annotations

from .messages import MESSAGES, prepare
from .transcript import Target, run

ALL = ("plain", "second", "third", "mixed", "rfc822", "encodings", "noheaders")
DATES = (
    "01-Jan-2007 10:00:00 +0000",
    "02-Jan-2007 12:30:00 -0500",
    "03-Jan-2007 10:10:00 +0200",
    "04-Jan-2007 12:00:00 +0000",
    "05-Jan-2007 12:00:00 +0000",
    "06-Jan-2007 12:00:00 +0000",
    "07-Jan-2007 12:00:00 +0000",
)


def _search(pairs: list[tuple[str, str]]) -> str:
    lines = []
    for i, (criteria, result) in enumerate(pairs, 1):
        lines.append(f"C: s{i} SEARCH {criteria}")
        lines.append(f"S: * SEARCH{' ' + result if result else ''}")
        lines.append(f"S: s{i} OK ...")
    return "\n".join(lines) + "\n"


ADDRESSES = [
    ("FROM alice@example.org", "1"),
    ("FROM alice", "1"),
    ('FROM "Alice Example"', "1"),
    ("FROM example.net", "2 3"),
    ("FROM CAROL", "3"),
    ("TO bob", "1"),
    ("TO alice@example.org", "2 4 5 6"),
    ("TO undisclosed-recipients", "3"),
    ("CC dave@example.com", "1"),
    ("CC nobody", ""),
    ("BCC alice", ""),
    ("FROM example NOT FROM example.net", "1 4 5 6"),
]


def test_addresses(target: Target, box: str) -> None:
    run(target, prepare(*ALL) + _search(ADDRESSES), box=box, messages=MESSAGES)


HEADERS = [
    ("SUBJECT plain", "1"),
    ('SUBJECT "PLAIN ONE"', "1"),
    ("SUBJECT message", "2"),
    ("HEADER Message-ID <second@example.net>", "2"),
    ("HEADER In-Reply-To second", "3"),
    # an empty string matches every message that has the field
    ('HEADER X-Only ""', "7"),
    ("HEADER Content-Type multipart", "4 5 6"),
    ('HEADER X-Missing ""', ""),
    # encoded words are decoded before matching
    ("SUBJECT gr\u00fc\u00dfe", "3"),
]


def test_headers(target: Target, box: str) -> None:
    script = prepare(*ALL) + _search(HEADERS[:-1])
    script += "C: s99 SEARCH CHARSET UTF-8 SUBJECT ${lit:gr\\xc3\\xbc\\xc3\\x9fe}\n"
    script += "S: * SEARCH 3\nS: s99 OK ...\n"
    run(target, script, box=box, messages=MESSAGES)


BODIES = [
    ('BODY "plain body"', "1"),
    ("BODY PLAIN", "1"),
    ('BODY "plain one"', ""),  # the subject is not the body
    ('TEXT "plain one"', "1"),
    ("TEXT alice", "1 2 4 5 6"),
    # decoded quoted-printable and base64
    ('BODY "break and = sign"', "6"),
    ('BODY "hello base64"', "6"),
    ('BODY "first part text"', "4"),
    ("BODY preamble", ""),
    ('BODY "original text"', "5"),
    ('BODY "without the usual"', "7"),
    ("NOT BODY e", "5"),
]


def test_bodies(target: Target, box: str) -> None:
    pairs = [p for p in BODIES if p[0] != "NOT BODY e"]
    run(target, prepare(*ALL) + _search(pairs), box=box, messages=MESSAGES)


ATTACHED_HEADERS = [("TEXT frank@example.com", "5"), ('TEXT "the original"', "5")]


def test_text_looks_into_attached_message_headers(target: Target, box: str) -> None:
    run(target, prepare(*ALL) + _search(ATTACHED_HEADERS), box=box, messages=MESSAGES)


COMMENT_ADDRESS = "From: <user-from (comment)@ (comment) domain.org>\r\nSubject: c\r\n\r\nx\r\n"


def test_from_matches_an_address_with_comments(target: Target, box: str) -> None:
    script = prepare("comment") + _search([("FROM user-from@domain.org", "1")])
    run(target, script, box=box, messages={"comment": COMMENT_ADDRESS.encode()})


DATES_SEARCH = [
    ("ON 2-Jan-2007", "2"),
    ("BEFORE 3-Jan-2007", "1 2"),
    ("SINCE 3-Jan-2007", "3 4 5 6 7"),
    ("SINCE 3-Jan-2007 BEFORE 5-Jan-2007", "3 4"),
    ("ON 3-Jan-2007", "3"),
    ("SENTON 24-Mar-2007", "1"),
    # without a Date header the sent date is before every other (as in Dovecot)
    ("SENTBEFORE 3-Apr-2007", "1 2 7"),
    ("SENTSINCE 4-Apr-2007", "4 5 6"),
    ("SENTON 3-Apr-2007", "3"),
    ("NOT SENTSINCE 1-Jan-1990", "7"),
]


def test_dates(target: Target, box: str) -> None:
    script = prepare(*ALL, dates=DATES) + _search(DATES_SEARCH)
    run(target, script, box=box, messages=MESSAGES)


def test_sizes(target: Target, box: str) -> None:
    sizes = [len(MESSAGES[n]) for n in ALL]
    small = min(sizes)
    large = max(sizes)
    pairs = [
        (f"LARGER {small}", " ".join(str(i + 1) for i, s in enumerate(sizes) if s > small)),
        (f"SMALLER {small}", ""),
        (f"SMALLER {small + 1}", " ".join(str(i + 1) for i, s in enumerate(sizes) if s == small)),
        (f"LARGER {large - 1}", " ".join(str(i + 1) for i, s in enumerate(sizes) if s == large)),
        (f"LARGER {large}", ""),
    ]
    run(target, prepare(*ALL) + _search(pairs), box=box, messages=MESSAGES)


FLAGS = """
C: f1 STORE 1 +FLAGS.SILENT (\\Answered)
S: f1 OK ...
C: f2 STORE 2 +FLAGS.SILENT (\\Flagged \\Seen)
S: f2 OK ...
C: f3 STORE 3 +FLAGS.SILENT (\\Deleted $Work)
S: f3 OK ...
C: f4 STORE 4 +FLAGS.SILENT (\\Draft $Work $Home)
S: f4 OK ...
""" + _search(
    [
        ("ANSWERED", "1"),
        ("UNANSWERED", "2 3 4 5"),
        ("FLAGGED", "2"),
        ("UNFLAGGED", "1 3 4 5"),
        ("SEEN", "2"),
        ("UNSEEN", "1 3 4 5"),
        ("DELETED", "3"),
        ("UNDELETED", "1 2 4 5"),
        ("DRAFT", "4"),
        ("UNDRAFT", "1 2 3 5"),
        ("KEYWORD $Work", "3 4"),
        ("KEYWORD $work", "3 4"),
        ("KEYWORD $Home", "4"),
        ("UNKEYWORD $Work", "1 2 5"),
        ("KEYWORD $Nowhere", ""),
        ("UNKEYWORD $Nowhere", "1 2 3 4 5"),
        ("ALL", "1 2 3 4 5"),
    ]
)


def test_flags(target: Target, box: str) -> None:
    run(target, prepare(*ALL[:5]) + FLAGS, box=box, messages=MESSAGES)


RECENT = (
    _search([("RECENT", "1 2 3"), ("NEW", "1 2 3"), ("OLD", "")])
    + """
C: r1 STORE 2 +FLAGS.SILENT (\\Seen)
S: r1 OK ...
"""
    + _search([("NEW", "1 3")]).replace("s1 ", "t1 ")
)


def test_recent_new_old(target: Target, box: str) -> None:
    run(target, prepare(*ALL[:3]) + RECENT, box=box, messages=MESSAGES)


SETS = (
    """
C: x1 STORE 2 +FLAGS.SILENT (\\Deleted)
S: x1 OK ...
C: x2 EXPUNGE
S: x2 OK ...
C: x3 FETCH 1:* UID
S: * 1 FETCH (UID ${u1})
S: * 2 FETCH (UID ${u3})
S: * 3 FETCH (UID ${u4})
S: * 4 FETCH (UID ${u5})
S: x3 OK ...
"""
    + _search(
        [
            ("1", "1"),
            ("2:3", "2 3"),
            ("3:2", "2 3"),
            ("*", "4"),
            ("4:*", "4"),
            ("1,3", "1 3"),
            ("2:*", "2 3 4"),
            ("NOT 2:3", "1 4"),
            ("OR 1 4", "1 4"),
            ("OR 1 OR 2 3", "1 2 3"),
            ("(1:3) (2:4)", "2 3"),
            ("1:3 NOT (2)", "1 3"),
            ("UID ${u3}", "2"),
            ("UID ${u3}:*", "2 3 4"),
            ("UID 1:*", "1 2 3 4"),
            ("UID ${u1},${u5}", "1 4"),
            ("NOT UID ${u1}", "2 3 4"),
            ("OR UID ${u1} 4", "1 4"),
        ]
    )
    + """
C: x4 UID SEARCH 2:3
S: * SEARCH ${u3} ${u4}
S: x4 OK ...
C: x5 UID SEARCH UID ${u4}:${u5}
S: * SEARCH ${u4} ${u5}
S: x5 OK ...
C: x6 SEARCH 9
S: x6 ...
"""
)


def test_sequence_sets_and_logic(target: Target, box: str) -> None:
    run(target, prepare(*ALL[:5]) + SETS, box=box, messages=MESSAGES)


ESEARCH = """
C: e1 SEARCH RETURN (MIN MAX COUNT) FROM example
S: * ESEARCH (TAG "e1") MIN 1 MAX 6 COUNT 6
S: e1 OK ...
C: e2 SEARCH RETURN (ALL) FROM example
S: * ESEARCH (TAG "e2") ALL 1:6
S: e2 OK ...
C: e3 SEARCH RETURN () FROM example.net
S: * ESEARCH (TAG "e3") ALL 2:3
S: e3 OK ...
C: e4 SEARCH RETURN (COUNT) FROM nobody
S: * ESEARCH (TAG "e4") COUNT 0
S: e4 OK ...
C: e5 SEARCH RETURN (MIN MAX) FROM nobody
S: * ESEARCH (TAG "e5")
S: e5 OK ...
C: e6 UID SEARCH RETURN (MIN) ALL
S: * ESEARCH (TAG "e6") UID MIN ${uid}
S: e6 OK ...
C: e7 UID FETCH ${uid} UID
S: * 1 FETCH (UID ${uid})
S: e7 OK ...
C: e8 SEARCH RETURN (SAVE) FROM example.net
!S: * ESEARCH ...
S: e8 OK ...
C: e9 FETCH $ UID
S: * 2 FETCH (UID ...)
S: * 3 FETCH (UID ...)
!S: * 1 FETCH ...
S: e9 OK ...
C: e10 SEARCH $ NOT 2
S: * SEARCH 3
S: e10 OK ...
"""


def test_esearch_and_saved_results(target: Target, box: str) -> None:
    run(target, prepare(*ALL) + ESEARCH, box=box, messages=MESSAGES)
