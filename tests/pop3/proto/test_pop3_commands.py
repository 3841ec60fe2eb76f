"""Vector tables: every command in every state, and every command's argument rules."""

from __future__ import annotations

import pytest

from posteingang.pop3.proto import (
    Apop,
    Auth,
    AuthResponse,
    Capa,
    ConnectionClosed,
    Dele,
    Lang,
    List,
    Noop,
    Pass,
    Paused,
    ProtocolError,
    Quit,
    Retr,
    Rset,
    Stat,
    State,
    Stls,
    Top,
    Uidl,
    User,
    Utf8,
)

from .helpers import conn_in, feed_line

# One well-formed line per command, and the event it must become.
EVERY_COMMAND = {
    "USER": (b"USER bob", User("bob")),
    "PASS": (b"PASS secret", Pass("secret")),
    "APOP": (
        b"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
        Apop("mrose", "c4c9334bac560ecc979e58001b3e22fb"),
    ),
    "AUTH": (b"AUTH PLAIN", Auth("PLAIN")),
    "STLS": (b"STLS", Stls()),
    "UTF8": (b"UTF8", Utf8()),
    "CAPA": (b"CAPA", Capa()),
    "LANG": (b"LANG", Lang(None)),
    "QUIT": (b"QUIT", Quit()),
    "STAT": (b"STAT", Stat()),
    "LIST": (b"LIST", List(None)),
    "RETR": (b"RETR 1", Retr(1)),
    "DELE": (b"DELE 1", Dele(1)),
    "NOOP": (b"NOOP", Noop()),
    "RSET": (b"RSET", Rset()),
    "TOP": (b"TOP 1 10", Top(1, 10)),
    "UIDL": (b"UIDL", Uidl(None)),
}

# What each state accepts, written out from the RFCs rather than read from the core's table.
_BEFORE_LOGIN = {"USER", "APOP", "AUTH", "STLS", "UTF8", "CAPA", "LANG", "QUIT"}
ACCEPTED_IN = {
    State.AUTHORIZATION: _BEFORE_LOGIN,
    State.USER_ACCEPTED: _BEFORE_LOGIN | {"PASS"},
    State.TRANSACTION: {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL"}
    | {"CAPA", "LANG", "QUIT"},
}

STATE_COMMAND_PAIRS = [(state, keyword) for state in ACCEPTED_IN for keyword in EVERY_COMMAND]


@pytest.mark.parametrize(("state", "keyword"), STATE_COMMAND_PAIRS)
def test_every_command_in_every_state(state: State, keyword: str) -> None:
    conn = conn_in(state)
    line, expected = EVERY_COMMAND[keyword]
    event = feed_line(conn, line)
    if keyword in ACCEPTED_IN[state]:
        assert event == expected
        assert conn.pending == expected
        assert isinstance(conn.next_event(), Paused)  # nothing more until it is answered
    else:
        assert isinstance(event, ProtocolError)
        assert event.reply.startswith(b"-ERR ")
        assert event.reply.endswith(b"\r\n")
        assert keyword.encode() in event.reply  # the client is told which command was refused
        assert conn.pending is None


@pytest.mark.parametrize("keyword", sorted(EVERY_COMMAND))
def test_lower_case_keywords_are_the_same_command(keyword: str) -> None:
    state = next(s for s, ok in ACCEPTED_IN.items() if keyword in ok)
    conn = conn_in(state)
    line, expected = EVERY_COMMAND[keyword]
    word, space, rest = line.partition(b" ")
    assert feed_line(conn, word.lower() + space + rest) == expected


@pytest.mark.parametrize("keyword", sorted(EVERY_COMMAND))
def test_in_sasl_exchange_every_line_is_a_response(keyword: str) -> None:
    conn = conn_in(State.SASL)
    line, _ = EVERY_COMMAND[keyword]
    event = feed_line(conn, line)
    # "STAT", "CAPA" ... happen to be valid base64; lines with a space never are.
    if b" " in line:
        assert isinstance(event, ProtocolError)
        assert b"base64" in event.reply
        assert conn.state is State.AUTHORIZATION  # RFC 5034 §4: the exchange is over
    else:
        assert isinstance(event, AuthResponse)


@pytest.mark.parametrize("keyword", sorted(EVERY_COMMAND))
def test_nothing_is_executed_during_update_tls_or_after_close(keyword: str) -> None:
    line, _ = EVERY_COMMAND[keyword]
    assert isinstance(feed_line(conn_in(State.UPDATE), line), Paused)
    assert isinstance(feed_line(conn_in(State.TLS_HANDSHAKE), line), Paused)
    assert isinstance(feed_line(conn_in(State.CLOSED), line), ConnectionClosed)


# (state, line, expected event, or the text the -ERR must contain)
ARGUMENT_VECTORS: list[tuple[State, bytes, object]] = [
    # STAT / NOOP / RSET / QUIT / CAPA / STLS / UTF8 take nothing
    (State.TRANSACTION, b"stat", Stat()),
    (State.TRANSACTION, b"STAT ", Stat()),
    (State.TRANSACTION, b"STAT 1", "too many arguments"),
    (State.TRANSACTION, b"NOOP x", "too many arguments"),
    (State.TRANSACTION, b"RSET 1", "too many arguments"),
    (State.TRANSACTION, b"QUIT now", "too many arguments"),
    (State.AUTHORIZATION, b"CAPA x", "too many arguments"),
    (State.AUTHORIZATION, b"STLS x", "too many arguments"),
    (State.AUTHORIZATION, b"UTF8 on", "too many arguments"),
    # LIST / UIDL [msg]
    (State.TRANSACTION, b"LIST 3", List(3)),
    (State.TRANSACTION, b"LIST  3 ", List(3)),
    (State.TRANSACTION, b"LIST 007", List(7)),
    (State.TRANSACTION, b"LIST 2147483647", List(2**31 - 1)),
    (State.TRANSACTION, b"LIST 2147483648", "out of range"),
    (State.TRANSACTION, b"LIST 0", "out of range"),
    (State.TRANSACTION, b"LIST -1", "number"),
    (State.TRANSACTION, b"LIST +1", "number"),
    (State.TRANSACTION, b"LIST 1.0", "number"),
    (State.TRANSACTION, b"LIST x", "number"),
    (State.TRANSACTION, "LIST ٣".encode(), "number"),  # a non-ASCII digit is no digit
    (State.TRANSACTION, b"LIST 1 2", "too many arguments"),
    (State.TRANSACTION, b"UIDL 4", Uidl(4)),
    (State.TRANSACTION, b"UIDL 0", "out of range"),
    (State.TRANSACTION, b"UIDL 1 2", "too many arguments"),
    # RETR / DELE msg
    (State.TRANSACTION, b"RETR 12", Retr(12)),
    (State.TRANSACTION, b"RETR", "missing argument"),
    (State.TRANSACTION, b"RETR 0", "out of range"),
    (State.TRANSACTION, b"RETR 1 2", "too many arguments"),
    (State.TRANSACTION, b"DELE 2", Dele(2)),
    (State.TRANSACTION, b"DELE", "missing argument"),
    (State.TRANSACTION, b"DELE abc", "number"),
    # TOP msg n
    (State.TRANSACTION, b"TOP 1 0", Top(1, 0)),
    (State.TRANSACTION, b"TOP 2 99999999999999", Top(2, 99999999999999)),
    (State.TRANSACTION, b"TOP 1", "missing argument"),
    (State.TRANSACTION, b"TOP", "missing argument"),
    (State.TRANSACTION, b"TOP 0 1", "out of range"),
    (State.TRANSACTION, b"TOP 1 -1", "number"),
    (State.TRANSACTION, b"TOP 1 2 3", "too many arguments"),
    (State.TRANSACTION, b"TOP 1 " + b"9" * 41, "number"),
    # USER / PASS
    (State.AUTHORIZATION, b"USER bob@example.org", User("bob@example.org")),
    (State.AUTHORIZATION, "USER jürgen@example.org".encode(), User("jürgen@example.org")),
    (State.AUTHORIZATION, b"USER", "missing argument"),
    (State.AUTHORIZATION, b"USER a b", "too many arguments"),
    (State.AUTHORIZATION, b"USER \xff\xfe", "UTF-8"),
    (State.AUTHORIZATION, b"PASS secret", "must follow"),
    (State.USER_ACCEPTED, b"PASS two  spaces ", Pass("two  spaces ")),
    (State.USER_ACCEPTED, b"PASS  leading", Pass(" leading")),
    (State.USER_ACCEPTED, b"PASS", "missing argument"),
    (State.USER_ACCEPTED, b"PASS \xc3", "UTF-8"),
    # APOP name digest (RFC 1939 §7 example)
    (
        State.AUTHORIZATION,
        b"APOP mrose C4C9334BAC560ECC979E58001B3E22FB",
        Apop("mrose", "c4c9334bac560ecc979e58001b3e22fb"),
    ),
    (State.AUTHORIZATION, b"APOP mrose", "missing argument"),
    (State.AUTHORIZATION, b"APOP mrose abc", "32 hexadecimal"),
    (State.AUTHORIZATION, b"APOP mrose " + b"g" * 32, "32 hexadecimal"),
    (State.AUTHORIZATION, b"APOP a b c", "too many arguments"),
    # AUTH mechanism [initial-response] (RFC 5034 §4)
    (State.AUTHORIZATION, b"auth plain", Auth("PLAIN")),
    (State.AUTHORIZATION, b"AUTH SCRAM-SHA-256", Auth("SCRAM-SHA-256")),
    (State.AUTHORIZATION, b"AUTH PLAIN AGJvYgBzZWNyZXQ=", Auth("PLAIN", b"\0bob\0secret")),
    (State.AUTHORIZATION, b"AUTH PLAIN =", Auth("PLAIN", b"")),
    (State.AUTHORIZATION, b"AUTH PLAIN AGJvYgBzZWNyZXQ", "base64"),
    (State.AUTHORIZATION, b"AUTH PLAIN !!!!", "base64"),
    (State.AUTHORIZATION, b"AUTH", "missing argument"),
    (State.AUTHORIZATION, b"AUTH PL@IN", "mechanism"),
    (State.AUTHORIZATION, b"AUTH " + b"X" * 21, "mechanism"),
    (State.AUTHORIZATION, b"AUTH PLAIN = x", "too many arguments"),
    # LANG [tag] (RFC 6856 §3)
    (State.AUTHORIZATION, b"LANG de", Lang("de")),
    (State.TRANSACTION, b"LANG en-US", Lang("en-US")),
    (State.AUTHORIZATION, b"LANG *", Lang("*")),
    (State.AUTHORIZATION, b"LANG !!", "language tag"),
    (State.AUTHORIZATION, b"LANG de fr", "too many arguments"),
    # unknown commands and framing
    (State.AUTHORIZATION, b"XYZZY", "unknown command"),
    (State.TRANSACTION, b"LAST", "unknown command"),  # RFC 1725's LAST was removed in RFC 1939
    (State.TRANSACTION, b"", "unknown command"),
    (State.TRANSACTION, b" STAT", "unknown command"),
    (State.TRANSACTION, "STÄT".encode(), "unknown command"),
    (State.TRANSACTION, b"ST\x00AT", "control characters"),
    (State.TRANSACTION, b"STAT\r", "control characters"),
    (State.TRANSACTION, b"LIST\t1", "control characters"),
    # commands in the wrong state name the reason
    (State.TRANSACTION, b"STLS", "only allowed before login"),
    (State.TRANSACTION, b"UTF8", "only allowed before login"),
    (State.TRANSACTION, b"USER bob", "not allowed in the TRANSACTION state"),
    (State.AUTHORIZATION, b"STAT", "not allowed in the AUTHORIZATION state"),
    (State.USER_ACCEPTED, b"RETR 1", "not allowed in the AUTHORIZATION state"),
    # ... and the state is judged before the arguments
    (State.AUTHORIZATION, b"RETR", "RETR is not allowed in the AUTHORIZATION state"),
    (State.TRANSACTION, b"AUTH", "AUTH is not allowed in the TRANSACTION state"),
    (State.TRANSACTION, b"APOP x", "APOP is not allowed in the TRANSACTION state"),
]


@pytest.mark.parametrize(("state", "line", "expected"), ARGUMENT_VECTORS)
def test_argument_vectors(state: State, line: bytes, expected: object) -> None:
    conn = conn_in(state)
    event = feed_line(conn, line)
    if isinstance(expected, str):
        assert isinstance(event, ProtocolError), event
        assert event.reply.startswith(b"-ERR ")
        assert expected in event.reply.decode(), event.reply
        assert conn.pending is None
    else:
        assert event == expected


def test_bare_lf_ends_a_line_too() -> None:
    conn = conn_in(State.TRANSACTION)
    conn.receive_data(b"RETR 5\n")
    assert conn.next_event() == Retr(5)


def test_secrets_stay_out_of_reprs() -> None:
    assert "secret" not in repr(Pass("secret"))
    assert "AGJv" not in repr(Auth("PLAIN", b"\0bob\0secret"))
    assert "secret" not in repr(Auth("PLAIN", b"\0bob\0secret"))
    assert "secret" not in repr(AuthResponse(b"secret"))
    assert AuthResponse(None).cancelled
