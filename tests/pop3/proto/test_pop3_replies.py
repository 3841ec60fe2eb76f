"""Reply lines, response codes, SASL challenges, greetings, listings and CAPA."""

from __future__ import annotations

import hmac

import pytest

from posteingang.pop3.proto import (
    NEVER,
    Capabilities,
    LocalProtocolError,
    ResponseCode,
    apop_digest,
    capa_lines,
    continuation,
    err,
    greeting,
    listing,
    ok,
    scan_line,
    uidl_line,
)

REPLY_VECTORS = [
    (ok(), b"+OK\r\n"),
    (ok("2 messages (320 octets)"), b"+OK 2 messages (320 octets)\r\n"),
    (ok("Grüße"), "+OK Grüße\r\n".encode()),
    (err(), b"-ERR\r\n"),
    (err("no such message"), b"-ERR no such message\r\n"),
    (err("maildrop locked", ResponseCode.IN_USE), b"-ERR [IN-USE] maildrop locked\r\n"),
    (err("wait", ResponseCode.LOGIN_DELAY), b"-ERR [LOGIN-DELAY] wait\r\n"),
    (err("disk full", ResponseCode.SYS_TEMP), b"-ERR [SYS/TEMP] disk full\r\n"),
    (err("account disabled", ResponseCode.SYS_PERM), b"-ERR [SYS/PERM] account disabled\r\n"),
    (err("bad password", ResponseCode.AUTH), b"-ERR [AUTH] bad password\r\n"),
    (err("enable UTF8 first", ResponseCode.UTF8), b"-ERR [UTF8] enable UTF8 first\r\n"),
    (err("", ResponseCode.SYS_TEMP), b"-ERR [SYS/TEMP]\r\n"),
    (continuation(), b"+ \r\n"),
    (continuation(b"\x00\xffchallenge"), b"+ AP9jaGFsbGVuZ2U=\r\n"),
]


@pytest.mark.parametrize(("built", "wire"), REPLY_VECTORS)
def test_reply_vectors(built: bytes, wire: bytes) -> None:
    assert built == wire


@pytest.mark.parametrize("text", ["a\r\nb", "a\nb", "a\rb", "nul\x00"])
def test_reply_text_cannot_smuggle_lines(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        ok(text)
    with pytest.raises(LocalProtocolError):
        err(text)


def test_first_line_limit_is_512_octets() -> None:
    # RFC 2449 §4: "+OK " + text + CRLF must fit in 512 octets.
    assert len(ok("x" * 506)) == 512
    with pytest.raises(LocalProtocolError):
        ok("x" * 507)
    with pytest.raises(LocalProtocolError):
        err("x" * 600, ResponseCode.AUTH)


def test_challenges_may_exceed_512_octets() -> None:
    assert len(continuation(b"x" * 1000)) > 512


def test_apop_greeting_and_digest_from_rfc_1939() -> None:
    timestamp = "<1896.697170952@dbc.mtview.ca.us>"
    assert greeting("POP3 server ready", timestamp) == (
        b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
    )
    digest = apop_digest(timestamp, "tanstaaf")
    assert hmac.compare_digest(digest, "c4c9334bac560ecc979e58001b3e22fb")


@pytest.mark.parametrize("bad", ["1896.697170952@host", "<no-at-sign>", "<a b@c>", "<a@b>x"])
def test_malformed_apop_timestamp_is_refused(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        greeting("ready", bad)


def test_listing_is_dot_stuffed_and_terminated() -> None:
    assert listing(["1 120", "2 200"]) == b"1 120\r\n2 200\r\n.\r\n"
    assert listing([]) == b".\r\n"
    assert listing([".hidden"]) == b"..hidden\r\n.\r\n"
    with pytest.raises(LocalProtocolError):
        listing(["two\r\nlines"])


def test_scan_and_uidl_lines() -> None:
    assert scan_line(1, 120) == "1 120"
    assert uidl_line(2, "QhdPYR:00WBw1Ph7x7") == "2 QhdPYR:00WBw1Ph7x7"
    for msg, size in [(0, 1), (1, -1)]:
        with pytest.raises(LocalProtocolError):
            scan_line(msg, size)
    # RFC 1939 §7: unique-id is 1..70 octets of 0x21..0x7E
    for bad_uid in ["", "with space", "x" * 71, "ümlaut"]:
        with pytest.raises(LocalProtocolError):
            uidl_line(1, bad_uid)
    assert uidl_line(1, "x" * 70)


# -- CAPA (RFC 2449 §5, §6) --------------------------------------------------------------------


def test_default_capabilities() -> None:
    assert capa_lines(Capabilities(), authenticated=False) == [
        "TOP",
        "USER",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "UIDL",
    ]


def test_full_capabilities_before_login() -> None:
    caps = Capabilities(
        sasl=("SCRAM-SHA-256", "PLAIN"),
        expire=30,
        expire_per_user=True,
        login_delay=60,
        login_delay_per_user=True,
        implementation="posteingang 0.1",
        stls=True,
        utf8=True,
        utf8_user=True,
        lang=True,
    )
    lines = capa_lines(caps, authenticated=False)
    assert "SASL SCRAM-SHA-256 PLAIN" in lines
    assert "EXPIRE 30 USER" in lines  # RFC 2449 §6.7: varies per user, say so before login
    assert "LOGIN-DELAY 60 USER" in lines  # RFC 2449 §6.5
    assert "STLS" in lines
    assert "UTF8 USER" in lines
    assert "LANG" in lines
    assert "IMPLEMENTATION posteingang 0.1" in lines


def test_after_login_per_user_values_replace_the_tagged_defaults() -> None:
    caps = Capabilities(
        expire=30, expire_per_user=True, login_delay=60, login_delay_per_user=True, stls=True
    )
    lines = capa_lines(caps, authenticated=True, expire=NEVER, login_delay=0)
    assert "EXPIRE NEVER" in lines
    assert "LOGIN-DELAY 0" in lines
    assert not any(line.endswith(" USER") for line in lines)
    assert "STLS" not in lines  # RFC 2595 §4: only before login
    assert "USER" in lines  # RFC 2449 §5: AUTHORIZATION capabilities stay listed


def test_stls_is_not_offered_over_tls() -> None:
    caps = Capabilities(stls=True)
    assert "STLS" in capa_lines(caps, authenticated=False)
    assert "STLS" not in capa_lines(caps, authenticated=False, tls_active=True)


def test_expire_zero_and_never() -> None:
    assert "EXPIRE 0" in capa_lines(Capabilities(expire=0), authenticated=False)
    assert "EXPIRE NEVER" in capa_lines(Capabilities(expire=NEVER), authenticated=False)


@pytest.mark.parametrize(
    "caps",
    [
        Capabilities(sasl=("plain",)),
        Capabilities(sasl=("BAD MECH",)),
        Capabilities(expire=-1),
        Capabilities(login_delay=-5),
    ],
)
def test_bad_capability_values_are_refused(caps: Capabilities) -> None:
    with pytest.raises(LocalProtocolError):
        capa_lines(caps, authenticated=False)


def test_capa_reply_as_a_session_sends_it() -> None:
    body = listing(capa_lines(Capabilities(top=False, user=False), authenticated=False))
    assert body == b"RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\n.\r\n"
