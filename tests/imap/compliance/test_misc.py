"""Pipelining, LOGOUT, ID, NIL as a string, atoms (the behaviours of imaptest's pipeline,
logout, id, nil and atoms groups, in our own transcripts)."""

from __future__ import annotations

from .messages import prepare
from .transcript import Target, run

PIPELINE = """
C&: a1 CREATE ${box}
C&: a2 CREATE ${box}${sep}two
C&: a3 CREATE ${box}${sep}three
C: a4 CREATE ${box}${sep}four
S: a1 OK ...
S: a2 OK ...
S: a3 OK ...
S: a4 OK ...
C&: b1 STATUS ${box} (MESSAGES)
S: * STATUS ${box} (MESSAGES 0)
S: b1 OK ...
C&: b2 STATUS ${box}${sep}two (MESSAGES)
S: * STATUS ${box}${sep}two (MESSAGES 0)
C&: b3 STATUS ${box}${sep}three (MESSAGES)
S: * STATUS ${box}${sep}three (MESSAGES 0)
C: b4 STATUS ${box}${sep}four (MESSAGES)
S: * STATUS ${box}${sep}four (MESSAGES 0)
S: b4 OK ...
C&: c1 SELECT ${box}
C&: c2 FETCH 1:* UID
C: c3 NOOP
S: c1 OK ...
S: c2 BAD ...
S: c3 OK ...
"""


def test_pipelined_commands_are_answered_in_order(target: Target, box: str) -> None:
    run(target, PIPELINE, box=box)


LOGOUT = """
C: a1 NOOP
!S: * BYE ...
S: a1 OK ...
2 C: b1 NOOP
2 !S: * BYE ...
2 S: b1 OK ...
C: a2 LOGOUT
S: * BYE ...
S: a2 OK ...
# the other session goes on
2 C: b2 NOOP
2 S: b2 OK ...
2 C: b3 LOGOUT
2 S: * BYE ...
2 S: b3 OK ...
"""


def test_logout_says_bye_first(target: Target, box: str) -> None:
    run(target, LOGOUT, box=box)


def test_id_with_the_largest_allowed_parameters(target: Target, box: str) -> None:
    # RFC 2971 §3.3: at most 30 pairs, field names up to 30 octets, values up to 1024
    pairs = " ".join(f'"{chr(97 + i % 26)}{i:02d}{"x" * 27}" "{"v" * 1024}"' for i in range(30))
    script = f"""
C: a1 ID ({pairs})
S: * ID ...
S: a1 OK ...
C: a2 ID NIL
S: * ID ...
S: a2 OK ...
"""
    run(target, script, box=box)


NIL_MESSAGE = b"Date: Sat, 24 Mar 2007 23:00:00 +0200\r\nSubject: NiL\r\n\r\nnil\r\n"

NIL = """
# NIL is an atom where a string is expected, not "nothing"
C: a1 SEARCH SUBJECT NIL
S: * SEARCH 1
S: a1 OK ...
C: a2 SEARCH BODY nil
S: * SEARCH 1
S: a2 OK ...
C: a3 LIST "" NIL
S: a3 OK ...
C: a4 STORE 1 +FLAGS NIL
S: * FLAGS (...NIL...)
S: a4 OK ...
C: a5 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS (NIL))
S: a5 OK ...
"""


def test_nil_is_a_string_or_a_keyword(target: Target, box: str) -> None:
    run(target, prepare("nil") + NIL, box=box, messages={"nil": NIL_MESSAGE})


ATOMS = """
# ~ starts a literal8 only before {
C: a1 LIST "" ~foo
S: a1 OK ...
C: a2 SELECT ~foo
S: a2 NO ...
C: a3 CAPABILITY
S: * CAPABILITY ...IMAP4rev1...
S: a3 OK ...
"""


def test_atoms(target: Target, box: str) -> None:
    run(target, ATOMS, box=box)
