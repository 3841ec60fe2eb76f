"""FETCH: sequence sets, uid mapping after expunges, macros, BODY sections, ENVELOPE and
BODYSTRUCTURE (the behaviours of imaptest's fetch* groups, in our own transcripts)."""

from __future__ import annotations

from .messages import MESSAGES, prepare
from .transcript import Target, run

SEQUENCE_SETS = """
C: a1 FETCH 1:3 UID
S: * 1 FETCH (UID ${uid1})
S: * 2 FETCH (UID ${uid2})
S: * 3 FETCH (UID ${uid3})
S: a1 OK ...
# a range may be given high to low, and * is the last message
C: a2 FETCH 3:1 UID
S: * 1 FETCH (UID ${uid1})
S: * 3 FETCH (UID ${uid3})
S: a2 OK ...
C: a3 FETCH 1,* UID
S: * 1 FETCH (UID ${uid1})
S: * 3 FETCH (UID ${uid3})
!S: * 2 FETCH ...
S: a3 OK ...
C: a4 FETCH *:2 UID
S: * 2 FETCH (UID ${uid2})
S: * 3 FETCH (UID ${uid3})
!S: * 1 FETCH ...
S: a4 OK ...
# UID n:* always includes the last message, even when n is beyond it
C: a5 UID FETCH ${uidnext}:* UID
S: * 3 FETCH (UID ${uid3})
!S: * 1 FETCH ...
S: a5 OK ...
# a sequence number beyond EXISTS is an error; a uid that does not exist is not
C: a6 FETCH 4 UID
S: a6 BAD ...
C: a7 UID FETCH ${uidnext} UID
!S: * ... FETCH ...
S: a7 OK ...
# after an expunge the numbers close up, the uids stay
C: a8 STORE 2 +FLAGS.SILENT (\\Deleted)
S: a8 OK ...
C: a9 EXPUNGE
S: * 2 EXPUNGE
S: a9 OK ...
C: a10 UID FETCH 1:* UID
S: * 1 FETCH (UID ${uid1})
S: * 2 FETCH (UID ${uid3})
S: a10 OK ...
C: a11 UID FETCH ${uid2} UID
!S: * ... FETCH ...
S: a11 OK ...
C: a12 UID FETCH ${uid1},* UID
S: * 1 FETCH (UID ${uid1})
S: * 2 FETCH (UID ${uid3})
S: a12 OK ...
"""


def test_sequence_sets_and_uids(target: Target, box: str) -> None:
    run(target, prepare("plain", "second", "third") + SEQUENCE_SETS, box=box, messages=MESSAGES)


MACROS = """
C: a1 FETCH 1 FAST
S: * 1 FETCH (FLAGS () INTERNALDATE "22-Feb-2008 17:06:23 +0000" RFC822.SIZE ${size})
S: a1 OK ...
C: a2 FETCH 1 ALL
S: * 1 FETCH (FLAGS () INTERNALDATE "22-Feb-2008 17:06:23 +0000" RFC822.SIZE ${size} ENVELOPE (...))
S: a2 OK ...
C: a3 FETCH 1 FULL
S: * 1 FETCH (FLAGS () INTERNALDATE "22-Feb-2008 17:06:23 +0000" RFC822.SIZE ${size} \\
   ENVELOPE (...) BODY (...))
S: a3 OK ...
C: a4 FETCH 1 (RFC822.SIZE)
S: * 1 FETCH (RFC822.SIZE %d)
S: a4 OK ...
"""


def test_macros_and_size(target: Target, box: str) -> None:
    script = prepare("plain") + MACROS % len(MESSAGES["plain"])
    run(target, script, box=box, messages=MESSAGES)
