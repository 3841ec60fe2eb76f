"""FETCH: sequence sets, uid mapping after expunges, macros, BODY sections, ENVELOPE and
BODYSTRUCTURE (the behaviours of imaptest's fetch* groups, in our own transcripts)."""

from __future__ import annotations

from .messages import MESSAGES, header_of, literal, prepare, text_of
from .transcript import Target, run

END = "\r\n\r\n"  # the empty line after a header

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


def _body_sections() -> str:
    plain = MESSAGES["plain"]
    fields = b"From: Alice Example <alice@example.org>\r\nSubject: plain one\r\n\r\n"
    lines = [
        "C: a1 FETCH 1 (BODY.PEEK[])",
        f"S: * 1 FETCH (BODY[] {literal(plain)})",
        "S: a1 OK ...",
        "C: a2 FETCH 1 (BODY.PEEK[HEADER])",
        f"S: * 1 FETCH (BODY[HEADER] {literal(header_of(plain))})",
        "S: a2 OK ...",
        "C: a3 FETCH 1 (BODY.PEEK[TEXT])",
        f"S: * 1 FETCH (BODY[TEXT] {literal(text_of(plain))})",
        "S: a3 OK ...",
        # a message that is not multipart has a part 1: its body
        "C: a4 FETCH 1 (BODY.PEEK[1])",
        f"S: * 1 FETCH (BODY[1] {literal(text_of(plain))})",
        "S: a4 OK ...",
        "C: a5 FETCH 1 (BODY.PEEK[]<0.10>)",
        f"S: * 1 FETCH (BODY[]<0> {literal(plain[:10])})",
        "S: a5 OK ...",
        "C: a6 FETCH 1 (BODY.PEEK[TEXT]<6.4>)",
        f"S: * 1 FETCH (BODY[TEXT]<6> {literal(text_of(plain)[6:10])})",
        "S: a6 OK ...",
        # a partial range that starts beyond the end is empty
        "C: a7 FETCH 1 (BODY.PEEK[]<10000.5>)",
        "S: * 1 FETCH (BODY[]<10000> {0})",
        "S: a7 OK ...",
        # the fields asked for (in the message's order), the empty line after them
        "C: a8 FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject FROM)])",
        f"S: * 1 FETCH (BODY[HEADER.FIELDS (...)] {literal(fields)})",
        "S: a8 OK ...",
        "C: a9 FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Not-There)])",
        "S: * 1 FETCH (BODY[HEADER.FIELDS (...)] {2}\\r\\n)",
        "S: a9 OK ...",
        "C: a10 FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Date Message-ID)])",
        "S: * 1 FETCH (BODY[HEADER.FIELDS.NOT (...)] {22}Subject: plain one\\r\\n\\r\\n)",
        "S: a10 OK ...",
        "C: a11 FETCH 1 (RFC822.HEADER)",
        f"S: * 1 FETCH (RFC822.HEADER {literal(header_of(plain))})",
        "S: a11 OK ...",
        # PEEK leaves \\Seen alone; BODY[] sets it and reports it in the same response
        "C: a12 FETCH 1 FLAGS",
        "S: * 1 FETCH (FLAGS ())",
        "S: a12 OK ...",
        "C: a13 FETCH 1 BODY[TEXT]",
        f"S: * 1 FETCH (FLAGS (\\Seen) BODY[TEXT] {literal(text_of(plain))})",
        "S: a13 OK ...",
        "C: a14 FETCH 1 (RFC822.TEXT)",
        f"S: * 1 FETCH (RFC822.TEXT {literal(text_of(plain))})",
        "S: a14 OK ...",
    ]
    return "\n".join(lines) + "\n"


def test_body_sections_of_a_single_part_message(target: Target, box: str) -> None:
    run(target, prepare("plain") + _body_sections(), box=box, messages=MESSAGES)


def _mime_sections() -> str:
    mixed = MESSAGES["mixed"].decode()
    part = mixed.split("--outer\r\n")
    first_mime, first_body = part[1].split("\r\n\r\n", 1)
    alt = part[2].split("\r\n\r\n", 1)[1]
    qp_mime, qp_body = alt.split("--inner\r\n")[1].split("\r\n\r\n", 1)
    lines = [
        "C: a1 FETCH 1 (BODY.PEEK[1])",
        f"S: * 1 FETCH (BODY[1] {literal(first_body[:-2].encode())})",
        "S: a1 OK ...",
        "C: a2 FETCH 1 (BODY.PEEK[1.MIME])",
        f"S: * 1 FETCH (BODY[1.MIME] {literal((first_mime + END).encode())})",
        "S: a2 OK ...",
        "C: a3 FETCH 1 (BODY.PEEK[2.1])",
        f"S: * 1 FETCH (BODY[2.1] {literal(qp_body[:-2].encode())})",
        "S: a3 OK ...",
        "C: a4 FETCH 1 (BODY.PEEK[2.1.MIME])",
        f"S: * 1 FETCH (BODY[2.1.MIME] {literal((qp_mime + END).encode())})",
        "S: a4 OK ...",
        "C: a5 FETCH 1 (BODY.PEEK[3])",
        "S: * 1 FETCH (BODY[3] {12}AAECAwQFBgc=)",
        "S: a5 OK ...",
        # a part that does not exist is empty, not an error
        "C: a6 FETCH 1 (BODY.PEEK[9])",
        "S: * 1 FETCH (BODY[9] ...)",
        "S: a6 OK ...",
        # TEXT of a part that is not a message: empty (as Dovecot)
        "C: a7 FETCH 1 (BODY.PEEK[1.TEXT])",
        "S: * 1 FETCH (BODY[1.TEXT] {0})",
        "S: a7 OK ...",
    ]
    return "\n".join(lines) + "\n"


def test_body_sections_of_a_multipart_message(target: Target, box: str) -> None:
    run(target, prepare("mixed") + _mime_sections(), box=box, messages=MESSAGES)


def _rfc822_sections() -> str:
    inner = MESSAGES["rfc822"].decode().split("Content-Type: message/rfc822\r\n\r\n")[1]
    inner = inner.split("--fw--")[0]  # the CRLF of the inner closing line belongs to it
    inner_header, inner_text = inner.split("\r\n\r\n", 1)
    lines = [
        "C: a1 FETCH 1 (BODY.PEEK[2])",
        f"S: * 1 FETCH (BODY[2] {literal(inner.encode())})",
        "S: a1 OK ...",
        "C: a2 FETCH 1 (BODY.PEEK[2.HEADER])",
        f"S: * 1 FETCH (BODY[2.HEADER] {literal((inner_header + END).encode())})",
        "S: a2 OK ...",
        "C: a3 FETCH 1 (BODY.PEEK[2.TEXT])",
        f"S: * 1 FETCH (BODY[2.TEXT] {literal(inner_text.encode())})",
        "S: a3 OK ...",
        "C: a4 FETCH 1 (BODY.PEEK[2.1])",
        "S: * 1 FETCH (BODY[2.1] {13}original text)",
        "S: a4 OK ...",
        "C: a5 FETCH 1 (BODY.PEEK[2.HEADER.FIELDS (Subject)])",
        "S: * 1 FETCH (BODY[2.HEADER.FIELDS (...)] {25}Subject: the original\\r\\n\\r\\n)",
        "S: a5 OK ...",
        "C: a6 FETCH 1 (BODY.PEEK[2.MIME])",
        f"S: * 1 FETCH (BODY[2.MIME] {literal(b'Content-Type: message/rfc822' + END.encode())})",
        "S: a6 OK ...",
        "C: a7 FETCH 1 (BODYSTRUCTURE)",
        'S: * 1 FETCH (BODYSTRUCTURE (("text" "plain" ...)("message" "rfc822" NIL NIL NIL '
        '"7bit" ${size} ("Fri, 30 Mar 2007 07:00:00 +0000" "the original" ...) '
        '(("text" "plain" ...)("text" "html" ...) "alternative" ...) ${lines} ...) '
        '"mixed" ("boundary" "fw") NIL NIL NIL))',
        "S: a7 OK ...",
    ]
    return "\n".join(lines) + "\n"


def test_sections_inside_an_attached_message(target: Target, box: str) -> None:
    run(target, prepare("rfc822") + _rfc822_sections(), box=box, messages=MESSAGES)


ENVELOPE = """
C: a1 FETCH 1 ENVELOPE
S: * 1 FETCH (ENVELOPE ("Sat, 24 Mar 2007 23:00:00 +0200" "plain one" \\
  (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) \\
  (("Alice Example" NIL "alice" "example.org")) \\
  (("Bob" NIL "bob" "example.net")(NIL NIL "carol" "example.net")) \\
  ((NIL NIL "dave" "example.com")) NIL NIL "<plain1@example.org>"))
S: a1 OK ...
# group syntax, a quoted display name, Reply-To, an encoded word left encoded, In-Reply-To
C: a2 FETCH 2 ENVELOPE
S: * 2 FETCH (ENVELOPE ("Tue, 3 Apr 2007 12:30:00 -0500" "=?utf-8?q?gr=C3=BC=C3=9Fe?=" \\
  (("Carol, C." NIL "carol" "example.net")) (("Carol, C." NIL "carol" "example.net")) \\
  ((NIL NIL "replies" "example.net")) \\
  ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) \\
  NIL NIL "<second@example.net>" "<third@example.net>"))
S: a2 OK ...
# missing fields are NIL; From is still NIL-free in the structure
C: a3 FETCH 3 ENVELOPE
S: * 3 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))
S: a3 OK ...
C: a4 FETCH 3 (BODY.PEEK[HEADER.FIELDS (Subject)])
S: * 3 FETCH (BODY[HEADER.FIELDS (...)] {2}\\r\\n)
S: a4 OK ...
"""


def test_envelope(target: Target, box: str) -> None:
    run(target, prepare("plain", "third", "noheaders") + ENVELOPE, box=box, messages=MESSAGES)


BINARY = """
C: a1 FETCH 1 (BINARY.SIZE[3] BINARY.PEEK[3])
S: * 1 FETCH (BINARY.SIZE[3] 8 BINARY[3] ~{8}\x00\x01\x02\x03\x04\x05\x06\x07)
S: a1 OK ...
C: a2 FETCH 1 (BINARY.PEEK[2.1])
S: * 1 FETCH (BINARY[2.1] ...caf\u00e9 au lait...)
S: a2 OK ...
C: a3 FETCH 1 (BINARY.SIZE[2.1])
S: * 1 FETCH (BINARY.SIZE[2.1] 13)
S: a3 OK ...
C: a4 FETCH 1 (BINARY.PEEK[3]<2.3>)
S: * 1 FETCH (BINARY[3]<2> ...{3}\x02\x03\x04)
S: a4 OK ...
C: a5 FETCH 2 (BINARY.PEEK[1] BINARY.PEEK[2])
S: * 2 FETCH (BINARY[1] ...{21}soft break and = sign BINARY[2] ...{13}hello base64...)
S: a5 OK ...
"""


def test_binary_decodes_transfer_encodings(target: Target, box: str) -> None:
    run(target, prepare("mixed", "encodings") + BINARY, box=box, messages=MESSAGES)
