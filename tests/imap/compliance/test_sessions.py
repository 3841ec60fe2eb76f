"""SELECT, EXAMINE, CLOSE, EXPUNGE, STORE and UIDVALIDITY, with two sessions on one mailbox
(the behaviours of imaptest's select, close, expunge, expunge2, store, uidvalidity,
uidvalidity-rename and pipeline groups, in our own transcripts)."""

from __future__ import annotations

from .messages import MESSAGES, prepare
from .transcript import Target, run

SELECT = """
C: a1 EXAMINE ${box}
S: * 2 EXISTS
S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
S: * OK [UIDVALIDITY ${uidvalidity}] ...
S: * OK [UIDNEXT ${uidnext}] ...
S: a1 OK [READ-ONLY] ...
# STATUS tells the same
C: a2 STATUS ${box} (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)
S: * STATUS ${box} (MESSAGES 2 UIDNEXT ${uidnext} UIDVALIDITY ${uidvalidity} UNSEEN 2)
S: a2 OK ...
# a read-only mailbox keeps its flags (NO, or Dovecot's OK that ignores the STORE),
# and FETCH BODY[] does not set \\Seen
C: a3 STORE 1 +FLAGS (\\Seen)
!S: * 1 FETCH ...
S: a3 ...
C: a4 FETCH 1 BODY[TEXT]
!S: * 1 FETCH (...\\Seen...)
S: a4 OK ...
C: a5 SELECT ${box}
S: * 2 EXISTS
S: * OK [PERMANENTFLAGS (...\\*...)] ...
S: a5 OK [READ-WRITE] ...
C: a6 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS ())
S: a6 OK ...
# SELECT of a mailbox that does not exist: NO, and nothing is selected any more
C: a7 SELECT ${box}nonexistent
S: a7 NO ...
C: a8 FETCH 1 FLAGS
S: a8 BAD ...
"""


def test_select_examine_and_status(target: Target, box: str) -> None:
    run(target, prepare("plain", "second", select=False) + SELECT, box=box, messages=MESSAGES)


RECENT = """
C: a1 EXAMINE ${box}
S: * 2 RECENT
S: a1 OK ...
C: a2 STATUS ${box} (RECENT)
S: * STATUS ${box} (RECENT 2)
S: a2 OK ...
C: a3 SELECT ${box}
S: * 2 RECENT
S: a3 OK ...
C: a4 SEARCH RECENT
S: * SEARCH 1 2
S: a4 OK ...
C: a5 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS (\\Recent))
S: a5 OK ...
C: a6 CLOSE
S: a6 OK ...
C: a7 STATUS ${box} (RECENT)
S: * STATUS ${box} (RECENT 0)
S: a7 OK ...
"""


def test_recent_belongs_to_the_first_session_that_sees_a_message(target: Target, box: str) -> None:
    script = prepare("plain", "second", select=False) + RECENT
    run(target, script, box=box, messages=MESSAGES, keep_recent=True)


CLOSE = """
C: a1 STORE 1,3 +FLAGS.SILENT (\\Deleted)
S: a1 OK ...
# CLOSE expunges silently; EXAMINE + CLOSE does not expunge
C: a2 CLOSE
!S: * ... EXPUNGE
S: a2 OK ...
C: a3 STATUS ${box} (MESSAGES)
S: * STATUS ${box} (MESSAGES 1)
S: a3 OK ...
C: a4 SELECT ${box}
S: a4 OK ...
C: a5 STORE 1 +FLAGS.SILENT (\\Deleted)
S: a5 OK ...
C: a6 UNSELECT
!S: * ... EXPUNGE
S: a6 OK ...
C: a7 EXAMINE ${box}
S: a7 OK ...
C: a8 CLOSE
S: a8 OK ...
C: a9 STATUS ${box} (MESSAGES)
S: * STATUS ${box} (MESSAGES 1)
S: a9 OK ...
# CLOSE without a selected mailbox is an error
C: a10 CLOSE
S: a10 BAD ...
"""


def test_close_expunges_and_examine_close_does_not(target: Target, box: str) -> None:
    run(target, prepare("plain", "second", "third") + CLOSE, box=box, messages=MESSAGES)


EXPUNGE = """
2 C: b0 SELECT ${box}
2 S: * 4 EXISTS
2 S: b0 OK ...
C: a1 FETCH 1:4 UID
S: * 1 FETCH (UID ${uid1})
S: * 2 FETCH (UID ${uid2})
S: * 3 FETCH (UID ${uid3})
S: * 4 FETCH (UID ${uid4})
S: a1 OK ...
C: a2 STORE 1,3 FLAGS (\\Deleted)
S: * 1 FETCH (FLAGS (\\Deleted)...)
S: * 3 FETCH (FLAGS (\\Deleted)...)
S: a2 OK ...
C: a3 STORE 2,4 FLAGS (\\Seen)
S: a3 OK ...
C: a4 EXPUNGE
S: * 3 EXPUNGE
S: * 1 EXPUNGE
S: a4 OK ...
# session 2 is not told during FETCH, STORE or SEARCH: its numbers still hold
2 C: b1 FETCH 2,4 (UID)
2 S: * 2 FETCH (UID ${uid2})
2 S: * 4 FETCH (UID ${uid4})
2 !S: * ... EXPUNGE
2 S: b1 OK ...
2 C: b2 SEARCH ALL
2 S: * SEARCH 1 2 3 4
2 !S: * ... EXPUNGE
2 S: b2 OK ...
2 C: b3 STORE 4 +FLAGS (\\Flagged)
2 S: * 4 FETCH (FLAGS (\\Flagged \\Seen)...)
2 !S: * ... EXPUNGE
2 S: b3 OK ...
# NOOP (or CHECK) tells it
2 C: b4 CHECK
2 S: * 3 EXPUNGE
2 S: * 1 EXPUNGE
2 S: b4 OK ...
2 C: b5 FETCH 1:2 (UID FLAGS)
2 S: * 1 FETCH (UID ${uid2} FLAGS (\\Seen))
2 S: * 2 FETCH (UID ${uid4} FLAGS (\\Flagged \\Seen))
2 S: b5 OK ...
C: a5 NOOP
S: * 2 FETCH (FLAGS (\\Flagged \\Seen)...)
S: a5 OK ...
# UID FETCH and UID STORE in session 2 while session 1 expunges
C: a6 STORE 1 +FLAGS.SILENT (\\Deleted)
S: a6 OK ...
C: a7 EXPUNGE
S: * 1 EXPUNGE
S: a7 OK ...
# (UID STORE may report the expunge at once: uids do not shift)
2 C: b6 UID STORE ${uid4} +FLAGS (\\Answered)
2 S: * 2 FETCH (...UID ${uid4}...)
2 S: * 1 EXPUNGE
2 S: b6 OK ...
2 C: b7 NOOP
2 !S: * ... EXPUNGE
2 S: b7 OK ...
C: a8 NOOP
S: * 1 FETCH (FLAGS (\\Answered \\Flagged \\Seen)...)
S: a8 OK ...
# both sessions expunge the same message: each is told once
C: a9 STORE 1 +FLAGS.SILENT (\\Deleted)
S: a9 OK ...
2 C: b8 STORE 1 +FLAGS.SILENT (\\Deleted)
2 S: b8 OK ...
C: a10 EXPUNGE
S: * 1 EXPUNGE
S: a10 OK ...
2 C: b9 EXPUNGE
2 S: * 1 EXPUNGE
2 S: b9 OK ...
2 C: b10 STATUS ${box} (MESSAGES)
2 S: * STATUS ${box} (MESSAGES 0)
2 S: b10 OK ...
"""


def test_expunge_seen_by_two_sessions(target: Target, box: str) -> None:
    script = prepare("plain", "second", "third", "mixed") + EXPUNGE
    run(target, script, box=box, messages=MESSAGES)


STORE = """
2 C: b0 SELECT ${box}
2 S: b0 OK ...
C: a1 STORE 1:3 FLAGS (\\Seen)
S: * 1 FETCH (FLAGS (\\Seen)...)
S: * 2 FETCH (FLAGS (\\Seen)...)
S: * 3 FETCH (FLAGS (\\Seen)...)
S: a1 OK ...
2 C: b1 NOOP
2 S: * 1 FETCH (FLAGS (\\Seen)...)
2 S: * 2 FETCH (FLAGS (\\Seen)...)
2 S: * 3 FETCH (FLAGS (\\Seen)...)
2 S: b1 OK ...
C: a2 STORE 3 FLAGS.SILENT (\\Draft)
!S: * 3 FETCH ...
S: a2 OK ...
C: a3 STORE 3 -FLAGS (\\Draft)
S: * 3 FETCH (FLAGS ())
S: a3 OK ...
# keywords: announced in FLAGS before they are used, in every session
C: a4 STORE 2,4 +FLAGS ($Hello World)
S: * FLAGS (...$Hello...)
S: * 2 FETCH (FLAGS (\\Seen $Hello World))
S: * 4 FETCH (FLAGS ($Hello World))
S: a4 OK ...
2 C: b2 NOOP
2 S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Hello World)
2 S: * 2 FETCH (FLAGS (\\Seen $Hello World)...)
2 S: b2 OK ...
# two sessions change different flags of one message: neither change is lost
C: a5 STORE 1 +FLAGS (\\Answered)
S: a5 OK ...
2 C: b3 STORE 1 -FLAGS (\\Seen)
2 S: b3 OK ...
C: a6 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS (\\Answered))
S: a6 OK ...
2 C: b4 FETCH 1 FLAGS
2 S: * 1 FETCH (FLAGS (\\Answered))
2 S: b4 OK ...
# \\Recent cannot be stored; an unknown system flag is an error
C: a7 STORE 1 +FLAGS (\\Recent)
S: a7 BAD ...
C: a8 STORE 1 +FLAGS (\\Bogus)
S: a8 BAD ...
"""


def test_store_flags_and_keywords_across_sessions(target: Target, box: str) -> None:
    script = prepare("plain", "second", "third", "mixed") + STORE
    run(target, script, box=box, messages=MESSAGES)


KEYWORD_ELSEWHERE = """
2 C: b0 SELECT ${box}
2 S: b0 OK ...
C: a1 STORE 1 +FLAGS.SILENT ($Elsewhere)
S: a1 OK ...
# session 2 reads flags another session changed: FLAGS names the keyword first
2 C: b1 FETCH 1 FLAGS
2 S: * FLAGS (...$Elsewhere...)
2 S: * 1 FETCH (FLAGS ($Elsewhere)...)
2 S: b1 OK ...
"""


def test_fetch_of_a_keyword_set_elsewhere_announces_it(target: Target, box: str) -> None:
    script = prepare("plain") + KEYWORD_ELSEWHERE
    bound = run(target, script, box=box, messages=MESSAGES)
    assert bound["box"] == box


UIDVALIDITY = """
C: a1 STATUS ${box} (UIDNEXT UIDVALIDITY)
S: * STATUS ${box} (UIDNEXT ${n1} UIDVALIDITY ${v1})
S: a1 OK ...
C: a2 DELETE ${box}
S: a2 OK ...
C: a3 CREATE ${box}
S: a3 OK ...
C: a4 STATUS ${box} (UIDVALIDITY)
!S: * STATUS ${box} (UIDVALIDITY ${v1})
S: a4 OK ...
# a renamed mailbox keeps its uidvalidity; a new one under the old name gets another
C: a5 STATUS ${box} (UIDVALIDITY)
S: * STATUS ${box} (UIDVALIDITY ${v2})
S: a5 OK ...
C: a6 RENAME ${box} ${box}-renamed
S: a6 OK ...
C: a7 STATUS ${box}-renamed (UIDVALIDITY)
S: * STATUS ${box}-renamed (UIDVALIDITY ${v2})
S: a7 OK ...
C: a8 CREATE ${box}
S: a8 OK ...
C: a9 STATUS ${box} (UIDVALIDITY)
!S: * STATUS ${box} (UIDVALIDITY ${v2})
S: a9 OK ...
"""


def test_uidvalidity_changes_when_a_name_is_reused(target: Target, box: str) -> None:
    run(target, prepare("plain", select=False) + UIDVALIDITY, box=box, messages=MESSAGES)


REUSED_NAME = """
2 C: b0 NOOP
2 S: b0 OK ...
C: a1 DELETE ${box}
S: a1 OK ...
C: a2 CREATE ${box}
S: a2 OK ...
C: a3 APPEND ${box} ${msg:second}
S: a3 OK ...
# a session that logged in before sees the new mailbox as it is: no phantom expunges
2 C: b1 SELECT ${box}
2 S: * 1 EXISTS
2 !S: * ... EXPUNGE
2 S: b1 OK ...
2 C: b2 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])
2 S: * 1 FETCH (BODY[HEADER.FIELDS (...)] {27}Subject: second message\\r\\n\\r\\n)
2 S: b2 OK ...
"""


def test_a_deleted_and_recreated_mailbox_is_a_new_one(target: Target, box: str) -> None:
    run(target, prepare("plain", "third", select=False) + REUSED_NAME, box=box, messages=MESSAGES)


PIPELINE = """
# several commands sent at once are answered in order, each completely
C: a1 NOOP
S: a1 OK ...
"""


def test_pipelined_commands(target: Target, box: str) -> None:
    run(target, prepare("plain", "second") + PIPELINE, box=box, messages=MESSAGES)


SEARCH_EXPUNGED = """
2 C: b0 SELECT ${box}
2 S: b0 OK ...
C: a1 STORE 2 +FLAGS.SILENT (\\Deleted)
S: a1 OK ...
C: a2 EXPUNGE
S: a2 OK ...
# session 2 still shows message 2, whose text is gone: it is not found, and the
# client is told why (RFC 9051 §7.1 EXPUNGEISSUED)
2 C: b1 SEARCH TEXT alice
2 S: * SEARCH 1 3
2 !S: * ... EXPUNGE
2 S: b1 OK [EXPUNGEISSUED] ...
2 C: b2 NOOP
2 S: * 2 EXPUNGE
2 S: b2 OK ...
2 C: b3 SEARCH TEXT alice
2 S: * SEARCH 1 2
2 S: b3 OK ...
"""


def test_search_of_a_message_expunged_meanwhile(target: Target, box: str) -> None:
    script = prepare("plain", "second", "mixed") + SEARCH_EXPUNGED
    run(target, script, box=box, messages=MESSAGES)
