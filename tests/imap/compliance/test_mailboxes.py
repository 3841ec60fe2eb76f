"""LIST, LIST-EXTENDED, SUBSCRIBE/LSUB, CREATE/DELETE/RENAME and mailbox names (the
behaviours of imaptest's list, listext, subscribe, mutf7 and atoms groups, in our own
transcripts)."""

from __future__ import annotations

from .transcript import Target, run

LIST = """
C: a1 LIST "" ""
S: * LIST (\\Noselect) "${sep}" ""
S: a1 OK ...
C: a2 CREATE ${box}
S: a2 OK ...
C: a3a CREATE ${box}${sep}one
S: a3a OK ...
C: a3 CREATE ${box}${sep}one${sep}two
S: a3 OK ...
C: a4 CREATE ${box}${sep}three${sep}
S: a4 OK ...
C: a5 CREATE ${box}
S: a5 NO ...
C: a6 LIST "" ${box}${sep}%
S: * LIST (\\HasChildren) "${sep}" ${box}${sep}one
S: * LIST (\\HasNoChildren) "${sep}" ${box}${sep}three
!S: * LIST ... ${box}${sep}one${sep}two
S: a6 OK ...
C: a7 LIST "" ${box}*
S: * LIST (\\HasChildren) "${sep}" ${box}
S: * LIST (\\HasChildren) "${sep}" ${box}${sep}one
S: * LIST (\\HasNoChildren) "${sep}" ${box}${sep}one${sep}two
S: * LIST (\\HasNoChildren) "${sep}" ${box}${sep}three
S: a7 OK ...
# the reference is prefixed to the pattern
C: a8 LIST ${box}${sep} %
S: * LIST (...) "${sep}" ${box}${sep}one
S: * LIST (...) "${sep}" ${box}${sep}three
S: a8 OK ...
C: a9 LIST "" ${box}${sep}%${sep}%
S: * LIST (\\HasNoChildren) "${sep}" ${box}${sep}one${sep}two
!S: * LIST ... ${box}${sep}three
S: a9 OK ...
C: a10 LIST "" ${box}${sep}nothing*
!S: * LIST ...
S: a10 OK ...
# INBOX is case-insensitive
C: a11 LIST "" inbox
S: * LIST (...) "${sep}" INBOX
S: a11 OK ...
C: a12 STATUS iNbOx (MESSAGES)
S: * STATUS INBOX (MESSAGES ...)
S: a12 OK ...
# RENAME takes the children along
C: a13 RENAME ${box}${sep}one ${box}${sep}uno
S: a13 OK ...
C: a14 LIST "" ${box}${sep}*
S: * LIST (...) "${sep}" ${box}${sep}uno
S: * LIST (...) "${sep}" ${box}${sep}uno${sep}two
!S: * LIST ... ${box}${sep}one...
S: a14 OK ...
C: a15 RENAME ${box}${sep}uno ${box}${sep}three
S: a15 NO ...
C: a16 RENAME ${box}${sep}missing ${box}${sep}other
S: a16 NO ...
C: a17 DELETE ${box}${sep}uno${sep}two
S: a17 OK ...
C: a18 DELETE ${box}${sep}uno${sep}two
S: a18 NO ...
C: a19 DELETE INBOX
S: a19 NO ...
"""


def test_list_create_rename_delete(target: Target, box: str) -> None:
    run(target, LIST, box=box)


LIST_EXTENDED = """
C: a1 CREATE ${box}${sep}a
S: a1 OK ...
C: a2 CREATE ${box}${sep}b${sep}c
S: a2 OK ...
C: a3 LIST "" (${box}${sep}a ${box}${sep}b)
S: * LIST (...) "${sep}" ${box}${sep}a
S: * LIST (...) "${sep}" ${box}${sep}b
S: a3 OK ...
C: a4 LIST "" ${box}${sep}% RETURN (CHILDREN)
S: * LIST (\\HasNoChildren) "${sep}" ${box}${sep}a
S: * LIST (...\\HasChildren...) "${sep}" ${box}${sep}b
S: a4 OK ...
C: a5 LIST "" ${box}${sep}a RETURN (STATUS (MESSAGES UIDNEXT))
S: * LIST (...) "${sep}" ${box}${sep}a
S: * STATUS ${box}${sep}a (MESSAGES 0 UIDNEXT ...)
S: a5 OK ...
"""


def test_list_extended(target: Target, box: str) -> None:
    run(target, LIST_EXTENDED, box=box)


SUBSCRIPTIONS = """
C: a1 CREATE ${box}${sep}x
S: a1 OK ...
C: a2 CREATE ${box}${sep}y${sep}z
S: a2 OK ...
# CREATE does not subscribe
C: a3 LSUB "" ${box}*
!S: * LSUB ...
S: a3 OK ...
C: a4 SUBSCRIBE ${box}${sep}y${sep}z
S: a4 OK ...
C: a5 SUBSCRIBE ${box}${sep}x
S: a5 OK ...
# a subscribed child under an unsubscribed parent: LSUB % shows the parent \\Noselect
C: a6 LSUB "" ${box}${sep}%
S: * LSUB () "${sep}" ${box}${sep}x
S: * LSUB (\\Noselect) "${sep}" ${box}${sep}y
S: a6 OK ...
# DELETE keeps the subscription (RFC 3501 §6.3.9)
C: a7 DELETE ${box}${sep}x
S: a7 OK ...
C: a8 LSUB "" ${box}${sep}*
S: * LSUB () "${sep}" ${box}${sep}x
S: a8 OK ...
C: a9 LIST (SUBSCRIBED) "" ${box}${sep}x
S: * LIST (...\\NonExistent...) "${sep}" ${box}${sep}x
S: a9 OK ...
C: a10 UNSUBSCRIBE ${box}${sep}x
S: a10 OK ...
C: a11 LSUB "" ${box}${sep}*
!S: * LSUB ... ${box}${sep}x
S: a11 OK ...
C: a12 LIST (SUBSCRIBED RECURSIVEMATCH) "" ${box}${sep}%
# (the tag is an astring: CHILDINFO or "CHILDINFO", RFC 5258 §9)
S: * LIST (...) "${sep}" ${box}${sep}y (...CHILDINFO... ("SUBSCRIBED"))
S: a12 OK ...
# (posteingang created the parent with the child, Dovecot did not: either is allowed)
C: a13a CREATE ${box}${sep}y
S: a13a ...
C: a13 SUBSCRIBE ${box}${sep}y
S: a13 OK ...
C: a14 LIST (SUBSCRIBED) "" ${box}${sep}*
S: * LIST (...\\Subscribed...) "${sep}" ${box}${sep}y
S: * LIST (...\\Subscribed...) "${sep}" ${box}${sep}y${sep}z
S: a14 OK ...
C: a15 LIST "" ${box}${sep}% RETURN (SUBSCRIBED)
S: * LIST (...\\Subscribed...) "${sep}" ${box}${sep}y
!S: * LIST ... ${box}${sep}x
S: a15 OK ...
"""


def test_subscriptions(target: Target, box: str) -> None:
    run(target, SUBSCRIPTIONS, box=box)


SUBSCRIBE_BASICS = """
C: a1 CREATE ${box}${sep}s
S: a1 OK ...
C: a2 SUBSCRIBE ${box}${sep}s
S: a2 OK ...
C: a3 LSUB "" ${box}${sep}*
S: * LSUB (...) "${sep}" ${box}${sep}s
S: a3 OK ...
C: a4 UNSUBSCRIBE ${box}${sep}s
S: a4 OK ...
C: a5 LSUB "" ${box}${sep}*
!S: * LSUB ...
S: a5 OK ...
"""


def test_subscribe_and_unsubscribe(target: Target, box: str) -> None:
    run(target, SUBSCRIBE_BASICS, box=box)


MUTF7 = """
# names travel as modified UTF-7 (RFC 3501 §5.1.3)
C: a1 CREATE ${box}${sep}&AOQAxA-
S: a1 OK ...
C: a2 CREATE ${box}${sep}a&-b
S: a2 OK ...
C: a3 LIST "" ${box}${sep}*
S: * LIST (...) "${sep}" ${box}${sep}&AOQAxA-
S: * LIST (...) "${sep}" ${box}${sep}a&-b
S: a3 OK ...
C: a4 SELECT ${box}${sep}&AOQAxA-
S: a4 OK ...
C: a5 STATUS ${box}${sep}a&-b (MESSAGES)
S: * STATUS ${box}${sep}a&-b (MESSAGES 0)
S: a5 OK ...
"""


def test_modified_utf7_names(target: Target, box: str) -> None:
    run(target, MUTF7, box=box)


INVALID_MUTF7 = """
# syntactically valid commands whose names are not valid mUTF-7: NO, not BAD
C: a1 SELECT ${box}&
S: a1 NO ...
C: a2 CREATE ${box}&Jjo
S: a2 NO ...
C: a3 LIST "" ${box}&Jjo*
S: a3 OK ...
C: a4 SELECT !#$&'+,-.0123456789:;<=>?@^_`|}
S: a4 NO ...
C: a5 LIST "" !#$&'+,-.0123456789:;<=>?@^_`|}%*
S: a5 OK ...
"""


def test_invalid_names_are_no_not_bad(target: Target, box: str) -> None:
    run(target, INVALID_MUTF7, box=box)
