"""APPEND, MULTIAPPEND, COPY, MOVE and UIDPLUS (the behaviours of imaptest's append,
append-binary, multiappend, copy, move and uidplus groups, in our own transcripts)."""

from __future__ import annotations

from .messages import MESSAGES, literal, prepare
from .transcript import Target, run

APPEND = (
    """
C: a1 CREATE ${box}
S: a1 OK ...
C: a2 APPEND ${box} (\\Seen $Work) "05-Oct-2005 13:01:02 +0000" ${msg:plain}
S: a2 OK [APPENDUID ${uidvalidity} ${uid1}] ...
C: a3 APPEND ${box} ${msg:second}
S: a3 OK [APPENDUID ${uidvalidity} ${uid2}] ...
C: a4 APPEND ${box}missing ${msg:second}
S: a4 NO [TRYCREATE] ...
C: a5 APPEND ${box} (\\Recent) ${msg:second}
S: a5 BAD ...
C: a6 STATUS ${box} (MESSAGES UIDNEXT)
S: * STATUS ${box} (MESSAGES 2 UIDNEXT ...)
S: a6 OK ...
C: a7 SELECT ${box}
S: * FLAGS (...$Work...)
S: a7 OK ...
C: a8 FETCH 1:2 (UID FLAGS INTERNALDATE RFC822.SIZE)
S: * 1 FETCH (UID ${uid1} FLAGS (\\Seen $Work) INTERNALDATE "05-Oct-2005 13:01:02 +0000" \\
   RFC822.SIZE @size1@)
S: * 2 FETCH (UID ${uid2} FLAGS () INTERNALDATE ... RFC822.SIZE @size2@)
S: a8 OK ...
C: a9 FETCH 1 BODY.PEEK[]
S: * 1 FETCH (BODY[] @body1@)
S: a9 OK ...
# APPEND to the selected mailbox: the session learns of the new message
C: a10 APPEND ${box} ${msg:third}
S: * 3 EXISTS
S: a10 OK ...
""".replace("@size1@", str(len(MESSAGES["plain"])))
    .replace("@size2@", str(len(MESSAGES["second"])))
    .replace("@body1@", literal(MESSAGES["plain"]))
)


def test_append(target: Target, box: str) -> None:
    run(target, APPEND, box=box, messages=MESSAGES)


MULTIAPPEND = """
C: a1 CREATE ${box}
S: a1 OK ...
C: a2 APPEND ${box} ${msg:plain} (\\Flagged) ${msg:second} ${msg:third}
S: a2 OK [APPENDUID ${uidvalidity} ${first}:${last}] ...
C: a3 STATUS ${box} (MESSAGES)
S: * STATUS ${box} (MESSAGES 3)
S: a3 OK ...
# one bad message in the list: nothing is appended
C: a4 APPEND ${box} ${msg:plain} (\\Bogus) ${msg:second}
S: a4 BAD ...
C: a5 STATUS ${box} (MESSAGES)
S: * STATUS ${box} (MESSAGES 3)
S: a5 OK ...
C: a6 EXAMINE ${box}
S: a6 OK ...
C: a7 FETCH 2 (UID FLAGS)
S: * 2 FETCH (UID ... FLAGS (\\Flagged))
S: a7 OK ...
"""


def test_multiappend(target: Target, box: str) -> None:
    run(target, MULTIAPPEND, box=box, messages=MESSAGES)


COPY = """
C: a0 CREATE ${box}${sep}dest
S: a0 OK ...
C: a1 STORE 1 +FLAGS.SILENT (\\Seen)
S: a1 OK ...
C: a2 STORE 3 +FLAGS.SILENT (\\Flagged $Keyword1 $Keyword2)
S: a2 OK ...
C: a3 FETCH 1:3 UID
S: * 1 FETCH (UID ${s1})
S: * 3 FETCH (UID ${s3})
S: a3 OK ...
C: a4 COPY 1,3 ${box}${sep}dest
S: a4 OK [COPYUID ${uidvalidity2} ${s1},${s3} ${d1}:${d3}] ...
C: a5 COPY 1 ${box}${sep}missing
S: a5 NO [TRYCREATE] ...
C: a6 COPY 9 ${box}${sep}dest
S: a6 BAD ...
C: a7 UID COPY 999999 ${box}${sep}dest
S: a7 OK ...
C: a8 STATUS ${box}${sep}dest (MESSAGES UIDVALIDITY)
S: * STATUS ${box}${sep}dest (MESSAGES 2 UIDVALIDITY ${uidvalidity2})
S: a8 OK ...
# flags and internal dates travel with the copy
C: a9 SELECT ${box}${sep}dest
S: a9 OK ...
C: a10 UID FETCH ${d1}:${d3} (FLAGS INTERNALDATE)
S: * 1 FETCH (UID ${d1} FLAGS (\\Seen) INTERNALDATE "22-Feb-2008 17:06:23 +0000")
S: * 2 FETCH (UID ${d3} FLAGS (\\Flagged $Keyword1 $Keyword2) INTERNALDATE ...)
S: a10 OK ...
# COPY into the selected mailbox itself: new messages with new uids
C: a11 COPY 1 ${box}${sep}dest
S: * 3 EXISTS
S: a11 OK [COPYUID ${uidvalidity2} ${d1} ${d4}] ...
C: a12 FETCH 3 (UID FLAGS)
S: * 3 FETCH (UID ${d4} FLAGS (\\Seen))
S: a12 OK ...
"""


def test_copy(target: Target, box: str) -> None:
    run(target, prepare("plain", "second", "third") + COPY, box=box, messages=MESSAGES)


COPY_RECENT = """
C: a0 CREATE ${box}${sep}dest
S: a0 OK ...
2 C: b0 SELECT ${box}${sep}dest
2 S: b0 OK ...
C: a1 COPY 1:2 ${box}${sep}dest
S: a1 OK ...
2 C: b1 NOOP
2 S: * 2 EXISTS
2 S: * 2 RECENT
2 S: b1 OK ...
2 C: b2 FETCH 1:2 FLAGS
2 S: * 1 FETCH (FLAGS (\\Recent))
2 S: * 2 FETCH (FLAGS (\\Recent))
2 S: b2 OK ...
"""


def test_copies_are_recent_in_the_destination(target: Target, box: str) -> None:
    script = prepare("plain", "second") + COPY_RECENT
    run(target, script, box=box, messages=MESSAGES, keep_recent=True)


MOVE = """
C: a0 CREATE ${box}${sep}dest
S: a0 OK ...
C: a1 FETCH 1:3 UID
S: * 1 FETCH (UID ${s1})
S: * 2 FETCH (UID ${s2})
S: * 3 FETCH (UID ${s3})
S: a1 OK ...
C: a2 STORE 2 +FLAGS.SILENT (\\Answered $Moved)
S: a2 OK ...
C: a3 MOVE 2 ${box}${sep}dest
S: * OK [COPYUID ${v2} ${s2} ${d2}] ...
S: * 2 EXPUNGE
S: a3 OK ...
C: a4 UID MOVE ${s3} ${box}${sep}dest
S: * OK [COPYUID ${v2} ${s3} ${d3}] ...
S: * 2 EXPUNGE
S: a4 OK ...
C: a5 MOVE 1 ${box}${sep}missing
S: a5 NO [TRYCREATE] ...
C: a6 STATUS ${box}${sep}dest (MESSAGES)
S: * STATUS ${box}${sep}dest (MESSAGES 2)
S: a6 OK ...
C: a7 EXAMINE ${box}${sep}dest
S: a7 OK ...
C: a8 UID FETCH ${d2} (FLAGS)
S: * 1 FETCH (UID ${d2} FLAGS (\\Answered $Moved))
S: a8 OK ...
"""


def test_move(target: Target, box: str) -> None:
    run(target, prepare("plain", "second", "third") + MOVE, box=box, messages=MESSAGES)


MOVE_SAME = """
C: a1 FETCH 1 UID
S: * 1 FETCH (UID ${s1})
S: a1 OK ...
C: a2 MOVE 1 ${box}
S: * OK [COPYUID ${uidvalidity} ${s1} ${new}] ...
S: * 1 EXPUNGE
S: a2 OK ...
C: a3 UID FETCH ${new} UID
S: * 2 FETCH (UID ${new})
S: a3 OK ...
"""


def test_move_into_the_same_mailbox(target: Target, box: str) -> None:
    run(target, prepare("plain", "second") + MOVE_SAME, box=box, messages=MESSAGES)


UIDPLUS = """
C: a1 FETCH 1:3 UID
S: * 1 FETCH (UID ${s1})
S: * 2 FETCH (UID ${s2})
S: * 3 FETCH (UID ${s3})
S: a1 OK ...
C: a2 STORE 1:3 +FLAGS.SILENT (\\Deleted)
S: a2 OK ...
# UID EXPUNGE removes only the given uids that are \\Deleted
C: a3 UID EXPUNGE ${s2}
S: * 2 EXPUNGE
!S: * 1 EXPUNGE
S: a3 OK ...
C: a4 UID EXPUNGE ${s3}:${s3}
S: * 2 EXPUNGE
S: a4 OK ...
C: a5 FETCH 1:* (UID FLAGS)
S: * 1 FETCH (UID ${s1} FLAGS (\\Deleted))
S: a5 OK ...
C: a6 STORE 1 -FLAGS.SILENT (\\Deleted)
S: a6 OK ...
C: a7 UID EXPUNGE 1:*
!S: * ... EXPUNGE
S: a7 OK ...
"""


def test_uid_expunge(target: Target, box: str) -> None:
    run(target, prepare("plain", "second", "third") + UIDPLUS, box=box, messages=MESSAGES)


NUL_MESSAGE = (
    b"From: user@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"\x00\x01-\xff\r\n"
)

APPEND_BINARY = """
C: a1 CREATE ${box}
S: a1 OK ...
C: a2 APPEND ${box} ${bin:nul}
S: a2 OK ...
C: a3 SELECT ${box}
S: a3 OK ...
C: a4 FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])
S: * 1 FETCH (BINARY.SIZE[1] 6 BINARY[1] ~{6}\x00\x01-\ufffd\\r\\n)
S: a4 OK ...
# a NUL may not travel in an ordinary literal (RFC 9051 §4.3): BODY[1] is
# re-encoded (Dovecot) or has the NUL mapped, never the raw octets
C: a5 FETCH 1 (BODY.PEEK[1])
!S: * 1 FETCH (BODY[1] ...\x00...)
S: a5 OK ...
"""


def test_append_binary(target: Target, box: str) -> None:
    run(target, APPEND_BINARY, box=box, messages={"nul": NUL_MESSAGE})
