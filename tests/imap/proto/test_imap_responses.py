"""Response serialisation vectors; encoded strings must parse back to the same bytes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posteingang.imap.proto import responses as r
from posteingang.imap.proto.commands import Login
from posteingang.imap.proto.reader import CommandReader, CommandReady, LiteralExpected
from posteingang.imap.proto.responses import Atom, ResponseCode
from posteingang.imap.proto.sequence import SequenceSet


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (b"INBOX", b"INBOX"),
        (b"a]b", b"a]b"),
        (b"", b'""'),
        (b"NIL", b'"NIL"'),
        (b"two words", b'"two words"'),
        (b'say "hi"\\', b'"say \\"hi\\"\\\\"'),
        (b"%", b'"%"'),
        (b"line\r\nbreak", b"{11}\r\nline\r\nbreak"),
        (b"caf\xc3\xa9", b"{5}\r\ncaf\xc3\xa9"),
        (b"a\0b", b"~{3}\r\na\0b"),
        (b"x " * 1000, b"{2000}\r\n" + b"x " * 1000),  # too long to quote
    ],
)
def test_astring_chooses_atom_quoted_or_literal(value: bytes, wire: bytes) -> None:
    assert r.astring(value) == wire


def test_utf8_clients_get_quoted_utf8() -> None:
    assert r.string("café", utf8=True) == '"café"'.encode()
    assert r.string(b"\xff", utf8=True) == b"{1}\r\n\xff"  # not UTF-8: literal
    assert r.nstring(None) == b"NIL"


@given(st.binary(max_size=60).filter(lambda b: b"\0" not in b))
def test_encoded_astrings_parse_back(value: bytes) -> None:
    reader = CommandReader()
    reader.feed(b"a LOGIN " + r.astring(value) + b" " + r.astring(value) + b"\r\n")
    events = []
    while True:
        ev = reader.next_event()
        if isinstance(ev, LiteralExpected):
            continue
        events.append(ev)
        break
    assert events == [CommandReady(Login(b"a", value, value))]


def test_mailbox_names_in_mutf7_or_utf8() -> None:
    assert r.mailbox("Entwürfe") == b"Entw&APw-rfe"
    assert r.mailbox("Entwürfe", utf8=True) == '"Entwürfe"'.encode()
    assert r.mailbox("My Mail") == b'"My Mail"'


def test_status_responses_and_codes() -> None:
    assert r.tagged(b"a1", "OK", "LOGIN completed") == b"a1 OK LOGIN completed\r\n"
    assert (
        r.tagged(b"a", "NO", "no such mailbox", ResponseCode("TRYCREATE"))
        == b"a NO [TRYCREATE] no such mailbox\r\n"
    )
    assert r.untagged("OK", "", ResponseCode.uidvalidity(3857529045)) == (
        b"* OK [UIDVALIDITY 3857529045] OK\r\n"
    )
    assert r.untagged("OK", "Limited", ResponseCode.permanentflags(["\\Deleted", "\\*"])) == (
        b"* OK [PERMANENTFLAGS (\\Deleted \\*)] Limited\r\n"
    )
    assert r.tagged(
        b"A3", "OK", "Done", ResponseCode.appenduid(38505, SequenceSet.parse(b"3955"))
    ) == (b"A3 OK [APPENDUID 38505 3955] Done\r\n")
    code = ResponseCode.copyuid(
        38505, SequenceSet.parse(b"304,319:320"), SequenceSet.parse(b"3956:3958")
    )
    assert code.to_bytes() == b"[COPYUID 38505 304,319:320 3956:3958]"
    assert (
        ResponseCode.badcharset(["UTF-8", "US-ASCII"]).to_bytes()
        == b"[BADCHARSET (UTF-8 US-ASCII)]"
    )
    assert (
        ResponseCode.capability(["IMAP4rev2", "IDLE"]).to_bytes() == b"[CAPABILITY IMAP4rev2 IDLE]"
    )
    assert ResponseCode("UNKNOWN-CTE").to_bytes() == b"[UNKNOWN-CTE]"
    assert r.bye("Autologout") == b"* BYE Autologout\r\n"
    # A CR/LF in human text must never split the response.
    assert r.tagged(b"a", "BAD", "x\r\ny") == b"a BAD x  y\r\n"
    with pytest.raises(ValueError):
        ResponseCode("MADE-UP")


@pytest.mark.parametrize(
    "name",
    [
        "ALERT",
        "PARSE",
        "READ-ONLY",
        "READ-WRITE",
        "TRYCREATE",
        "UIDNOTSTICKY",
        "AUTHENTICATIONFAILED",
        "AUTHORIZATIONFAILED",
        "EXPIRED",
        "PRIVACYREQUIRED",
        "CONTACTADMIN",
        "NOPERM",
        "INUSE",
        "EXPUNGEISSUED",
        "CORRUPTION",
        "SERVERBUG",
        "CLIENTBUG",
        "CANNOT",
        "LIMIT",
        "OVERQUOTA",
        "ALREADYEXISTS",
        "NONEXISTENT",
        "HASCHILDREN",
        "CLOSED",
        "UNKNOWN-CTE",
    ],
)
def test_all_rfc9051_and_rfc5530_codes_are_known(name: str) -> None:
    assert ResponseCode(name).to_bytes() == b"[" + name.encode() + b"]"


def test_continuation() -> None:
    assert r.continuation() == b"+ \r\n"
    assert r.continuation("idling") == b"+ idling\r\n"
    assert r.continuation(b"dGVzdA==") == b"+ dGVzdA==\r\n"
    with pytest.raises(ValueError):
        r.continuation("a\r\nb")


def test_data_responses() -> None:
    assert (
        r.capability(["IMAP4rev1", "IMAP4rev2", "IDLE"])
        == b"* CAPABILITY IMAP4rev1 IMAP4rev2 IDLE\r\n"
    )
    assert r.enabled(["UTF8=ACCEPT"]) == b"* ENABLED UTF8=ACCEPT\r\n"
    assert r.enabled([]) == b"* ENABLED\r\n"
    assert r.exists(23) == b"* 23 EXISTS\r\n"
    assert r.expunge(3) == b"* 3 EXPUNGE\r\n"
    assert r.recent(0) == b"* 0 RECENT\r\n"
    assert r.flags(["\\Seen", "$Junk"]) == b"* FLAGS (\\Seen $Junk)\r\n"
    assert r.vanished(SequenceSet.parse(b"41,43:116"), earlier=True) == (
        b"* VANISHED (EARLIER) 41,43:116\r\n"
    )
    assert r.list_response(["\\HasNoChildren"], "/", "INBOX") == (
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
    )
    assert r.list_response(["\\Noselect"], "/", "Entwürfe", child_info=["SUBSCRIBED"]) == (
        b'* LIST (\\Noselect) "/" Entw&APw-rfe ("CHILDINFO" ("SUBSCRIBED"))\r\n'
    )
    assert r.list_response([], None, "", kind=b"LIST") == b'* LIST () NIL ""\r\n'
    assert r.lsub_response([], "/", "news") == b'* LSUB () "/" news\r\n'
    assert r.status_response("blurdybloop", [("MESSAGES", 231), ("UIDNEXT", 44292)]) == (
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    )
    assert r.namespace([("", "/")]) == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    assert r.id_response([("name", "posteingang"), ("version", None)]) == (
        b'* ID ("name" "posteingang" "version" NIL)\r\n'
    )
    assert r.id_response(None) == b"* ID NIL\r\n"
    assert r.search([2, 3, 6]) == b"* SEARCH 2 3 6\r\n"
    assert r.search([], modseq=None) == b"* SEARCH\r\n"
    assert r.search([2], modseq=917162500) == b"* SEARCH 2 (MODSEQ 917162500)\r\n"
    assert r.esearch(b"A282", min=2, count=3) == b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n'
    assert r.esearch(b"A283", uid=True, all=SequenceSet.parse(b"2,10:11")) == (
        b'* ESEARCH (TAG "A283") UID ALL 2,10:11\r\n'
    )
    # RFC 4731: ALL with no matches is omitted.
    assert r.esearch(b"t", all=SequenceSet(), count=0) == b'* ESEARCH (TAG "t") COUNT 0\r\n'


def test_fetch_whole_and_streamed() -> None:
    when = dt.datetime(1996, 7, 17, 2, 44, 25, tzinfo=dt.timezone(-dt.timedelta(hours=7)))
    whole = r.fetch(
        12,
        [
            r.fetch_flags(["\\Seen"]),
            r.fetch_internaldate(when),
            r.fetch_size(4286),
            r.fetch_uid(7),
            r.fetch_modseq(624140003),
            r.fetch_body(b"BODY[]", b"hi"),
        ],
    )
    assert whole == (
        b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
        b"RFC822.SIZE 4286 UID 7 MODSEQ (624140003) BODY[] {2}\r\nhi)\r\n"
    )
    streamed = r.fetch_start(12) + b"UID 7 BODY[] " + r.literal_header(2) + b"hi" + r.fetch_end()
    assert streamed == b"* 12 FETCH (UID 7 BODY[] {2}\r\nhi)\r\n"
    assert r.fetch_body(b"BINARY[1]", b"\0x", binary=True) == b"BINARY[1] ~{2}\r\n\0x"
    assert r.fetch_body(b"BINARY[1]", b"ok", binary=True) == b"BINARY[1] {2}\r\nok"
    assert r.fetch_body(b"BODY[1]", None) == b"BODY[1] NIL"


def test_nested_values_for_envelope_and_bodystructure() -> None:
    envelope = [
        "Wed, 17 Jul 1996 02:23:25 -0700",
        "IMAP4rev2 WG mtg summary",
        [["Terry Gray", None, "gray", "cac.washington.edu"]],
        None,
        12,
        Atom(b"\\Seen"),
    ]
    assert r.encode(envelope) == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700" "IMAP4rev2 WG mtg summary" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) NIL 12 \\Seen)'
    )
    with pytest.raises(TypeError):
        r.encode(True)
