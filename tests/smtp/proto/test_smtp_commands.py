"""Vector table: (state, command line) -> reply and events, for every command."""

from __future__ import annotations

import pytest
from smtp_proto_driver import Driver

from posteingang.smtp.proto import (
    ConnectionClosed,
    Ehlo,
    Helo,
    Limits,
    Mailbox,
    MailFrom,
    MailParams,
    NeedData,
    Noop,
    ProtocolError,
    Quit,
    RcptTo,
    Reset,
    State,
    Vrfy,
)

SETUP = {
    "connected": [],
    "helo": [b"HELO c.example\r\n"],
    "ready": [b"EHLO c.example\r\n"],
    "mail": [b"EHLO c.example\r\n", b"MAIL FROM:<s@example.org>\r\n"],
    "mail8": [b"EHLO c.example\r\n", b"MAIL FROM:<s@example.org> SMTPUTF8\r\n"],
    "rcpt": [
        b"EHLO c.example\r\n",
        b"MAIL FROM:<s@example.org>\r\n",
        b"RCPT TO:<r@example.com>\r\n",
    ],
}


def in_state(state: str, limits: Limits | None = None) -> Driver:
    driver = Driver(limits=limits or Limits())
    for line in SETUP[state]:
        reply = driver.feed(line)
        assert reply[:1] == b"2", (state, line, reply)
    driver.events.clear()
    return driver


# (state, command line, reply prefix)
REPLIES = [
    # HELO / EHLO
    ("connected", b"HELO c.example", b"250 mx.example\r\n"),
    ("connected", b"helo c.example", b"250 mx.example\r\n"),
    ("connected", b"HELO", b"501 5.5.4 "),
    ("connected", b"HELO a b", b"501 5.5.4 "),
    ("connected", b"EHLO", b"501 5.5.4 "),
    ("connected", b"EHLO [192.0.2.1]", b"250-mx.example\r\n"),
    ("connected", b"LHLO c.example", b"500 5.5.1 Use EHLO or HELO\r\n"),
    ("rcpt", b"EHLO c.example", b"250-mx.example\r\n"),  # acts as RSET
    # before HELO
    ("connected", b"MAIL FROM:<a@b.example>", b"503 5.5.1 Send EHLO/HELO first\r\n"),
    ("connected", b"RCPT TO:<a@b.example>", b"503 5.5.1 "),
    ("connected", b"DATA", b"503 5.5.1 "),
    ("connected", b"STARTTLS", b"502 5.5.1 "),
    ("connected", b"RSET", b"250 2.0.0 OK\r\n"),
    ("connected", b"NOOP", b"250 2.0.0 OK\r\n"),
    ("connected", b"NOOP anything goes", b"250 2.0.0 OK\r\n"),
    ("connected", b"QUIT", b"221 2.0.0 Bye\r\n"),
    ("connected", b"VRFY postmaster", b"252 2.5.0 "),
    ("connected", b"VRFY", b"501 5.5.4 "),
    ("connected", b"HELP", b"214 2.0.0 "),
    ("connected", b"EXPN list", b"502 5.5.1 "),
    ("connected", b"AUTH PLAIN", b"502 5.5.1 "),
    ("connected", b"TURN", b"502 5.5.1 "),
    ("connected", b"XYZZY", b"500 5.5.2 Command not recognized\r\n"),
    ("connected", b"", b"500 5.5.2 "),
    ("connected", b"MAILFROM:<a@b.example>", b"500 5.5.2 "),
    ("connected", b"RSET now", b"501 5.5.4 "),
    ("connected", b"QUIT now", b"501 5.5.4 "),
    ("connected", b"NOOP \xff\xfe", b"501 5.5.4 Invalid characters"),
    ("connected", b"NOOP a\x00b", b"501 5.5.4 Invalid characters"),
    ("connected", b"NOOP a\rb", b"500 5.5.2 Bare CR"),
    # MAIL
    ("ready", b"MAIL FROM:<a@b.example>", b"250 2.1.0 "),
    ("ready", b"mail from:<a@b.example>", b"250 2.1.0 "),
    ("ready", b"MAIL FROM: <a@b.example>", b"250 2.1.0 "),  # tolerated space
    ("ready", b"MAIL FROM:<>", b"250 2.1.0 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE=1000", b"250 2.1.0 "),
    ("ready", b"MAIL FROM:<a@b.example> BODY=8BITMIME", b"250 2.1.0 "),
    ("ready", b"MAIL FROM:<a@b.example> BODY=7bit", b"250 2.1.0 "),
    ("ready", b"MAIL FROM:<a@b.example> SMTPUTF8", b"250 2.1.0 "),
    ("ready", "MAIL FROM:<jörg@b.example> SMTPUTF8".encode(), b"250 2.1.0 "),
    ("ready", "MAIL FROM:<jörg@b.example>".encode(), b"553 5.6.7 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE=52428801", b"552 5.3.4 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE=52428800", b"250 2.1.0 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE=99999999999999999999", b"552 5.3.4 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE=999999999999999999999", b"501 5.5.4 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE=abc", b"501 5.5.4 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE", b"501 5.5.4 "),
    ("ready", b"MAIL FROM:<a@b.example> SIZE=1 SIZE=2", b"501 5.5.4 Duplicate"),
    ("ready", b"MAIL FROM:<a@b.example> BODY=BINARYMIME", b"501 5.5.4 "),
    ("ready", b"MAIL FROM:<a@b.example> SMTPUTF8=yes", b"501 5.5.4 "),
    ("ready", b"MAIL FROM:<a@b.example> RET=FULL", b"555 5.5.4 "),
    ("ready", b"MAIL FROM:<a@b.example> AUTH=<>", b"555 5.5.4 "),
    ("helo", b"MAIL FROM:<a@b.example> SIZE=10", b"555 5.5.4 "),  # no ESMTP after HELO
    ("helo", b"MAIL FROM:<a@b.example>", b"250 2.1.0 "),
    ("ready", b"MAIL FROM:a@b.example", b"501 5.1.7 "),
    ("ready", b"MAIL FROM:<a@b.example", b"501 5.1.7 "),
    ("ready", b"MAIL FROM:<not an address>", b"501 5.1.7 "),
    ("ready", b"MAIL FROM:<Postmaster>", b"501 5.1.7 "),
    ("ready", b"MAIL TO:<a@b.example>", b"501 5.5.4 "),
    ("ready", b"MAIL", b"501 5.5.4 "),
    ("ready", b"MAIL FROM:<a@b.example>garbage", b"501 5.5.4 "),
    ("mail", b"MAIL FROM:<a@b.example>", b"503 5.5.1 Nested MAIL"),
    ("ready", b"RCPT TO:<a@b.example>", b"503 5.5.1 Need MAIL"),
    ("ready", b"DATA", b"503 5.5.1 "),
    # RCPT
    ("mail", b"RCPT TO:<r@example.com>", b"250 2.1.5 "),
    ("mail", b"rcpt to:<r@example.com>", b"250 2.1.5 "),
    ("mail", b"RCPT TO:<Postmaster>", b"250 2.1.5 "),
    ("mail", b"RCPT TO:<@relay.example:r@example.com>", b"250 2.1.5 "),
    ("mail", b"RCPT TO:<>", b"501 5.1.3 "),
    ("mail", b"RCPT TO:<bad@example.com>", b"550 5.1.1 No such user"),
    ("mail", b"RCPT TO:<r@example.com> NOTIFY=NEVER", b"555 5.5.4 "),
    ("mail", "RCPT TO:<jörg@example.com>".encode(), b"553 5.6.7 "),
    ("mail8", "RCPT TO:<jörg@example.com>".encode(), b"250 2.1.5 "),
    ("mail8", "RCPT TO:<user@bücher.example>".encode(), b"250 2.1.5 "),
    ("mail", b"RCPT FROM:<r@example.com>", b"501 5.5.4 "),
    ("mail", b"RCPT TO:r@example.com", b"501 5.1.3 "),
    ("mail", b"DATA", b"554 5.5.1 No valid recipients"),
    ("rcpt", b"RCPT TO:<r2@example.com>", b"250 2.1.5 "),
    ("rcpt", b"DATA", b"354 "),
    ("rcpt", b"DATA now", b"501 5.5.4 "),
    ("rcpt", b"RSET", b"250 2.0.0 OK\r\n"),
    ("rcpt", b"STARTTLS", b"502 5.5.1 "),  # not offered in this connection
    ("ready", b"BDAT 0 LAST", b"503 5.5.1 "),
    ("ready", b"BDAT", b"501 5.5.4 "),
    ("ready", b"BDAT x", b"501 5.5.4 "),
    ("ready", b"BDAT 10 FIRST", b"501 5.5.4 "),
    ("ready", b"BDAT -1", b"501 5.5.4 "),
    ("rcpt", b"BDAT 99999999999999999999 LAST", b"501 5.5.4 Invalid chunk size parameter"),
    ("rcpt", b"BDAT 9223372036854775808", b"501 5.5.4 Invalid chunk size parameter"),
    ("rcpt", b"BDAT 0 LAST", b"250 2.0.0 Message accepted"),
    ("rcpt", b"BDAT 0 last", b"250 2.0.0 Message accepted"),
    ("rcpt", b"BDAT 0", b"250 2.0.0 0 octets received"),
]


@pytest.mark.parametrize(("state", "line", "reply"), REPLIES)
def test_reply(state: str, line: bytes, reply: bytes) -> None:
    driver = in_state(state)
    got = driver.feed(line + b"\r\n")
    assert got.startswith(reply), got


@pytest.mark.parametrize(("state", "line", "reply"), REPLIES)
def test_reply_with_bare_lf_line_ending(state: str, line: bytes, reply: bytes) -> None:
    # Command lines ending in a bare LF are accepted (see docs/smtp.md).
    driver = in_state(state)
    assert driver.feed(line + b"\n").startswith(reply)


@pytest.mark.parametrize(("state", "line", "reply"), REPLIES)
def test_error_replies_come_with_a_protocol_error_event(
    state: str, line: bytes, reply: bytes
) -> None:
    driver = in_state(state)
    driver.feed(line + b"\r\n")
    errors = driver.of_type(ProtocolError)
    core_errors = reply[:1] in (b"4", b"5") and not reply.startswith(b"550 5.1.1")
    assert bool(errors) == core_errors, driver.events
    for error in errors:
        assert isinstance(error, ProtocolError)
        assert error.reply.to_bytes().startswith(reply[:3])


EVENTS = [
    ("connected", b"HELO c.example", Helo("c.example")),
    ("connected", b"EHLO c.example", Ehlo("c.example")),
    ("connected", b"NOOP", Noop()),
    ("connected", b"RSET", Reset()),
    ("connected", b"QUIT", Quit()),
    ("connected", b"VRFY  someone ", Vrfy("someone")),
    (
        "ready",
        b"MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME SMTPUTF8",
        MailFrom(
            Mailbox("a", "b.example"),
            MailParams(
                size=10,
                body="8BITMIME",
                smtputf8=True,
                raw=(("SIZE", "10"), ("BODY", "8BITMIME"), ("SMTPUTF8", None)),
            ),
        ),
    ),
    ("ready", b"MAIL FROM:<>", MailFrom(None, MailParams())),
    ("mail", b'RCPT TO:<"x y"@example.com>', RcptTo(Mailbox("x y", "example.com"))),
]


@pytest.mark.parametrize(("state", "line", "event"), EVENTS)
def test_event(state: str, line: bytes, event: object) -> None:
    driver = in_state(state)
    driver.feed(line + b"\r\n")
    assert driver.events[0] == event


def test_ehlo_capabilities() -> None:
    driver = Driver(limits=Limits(max_message_size=1000), starttls=True)
    assert driver.greeting == b"220 mx.example ESMTP ready\r\n"
    assert driver.feed(b"EHLO c.example\r\n") == (
        b"250-mx.example\r\n"
        b"250-PIPELINING\r\n"
        b"250-SIZE 1000\r\n"
        b"250-8BITMIME\r\n"
        b"250-SMTPUTF8\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n"
        b"250-CHUNKING\r\n"
        b"250 STARTTLS\r\n"
    )


def test_lmtp_lhlo_and_no_helo() -> None:
    driver = Driver(lmtp=True)
    assert driver.greeting == b"220 mx.example LMTP ready\r\n"
    assert driver.feed(b"HELO c.example\r\n").startswith(b"500 5.5.1 Use LHLO")
    assert driver.feed(b"EHLO c.example\r\n").startswith(b"500 5.5.1 Use LHLO")
    assert driver.feed(b"MAIL FROM:<a@b.example>\r\n").startswith(b"503 5.5.1 Send LHLO first")
    assert driver.feed(b"LHLO c.example\r\n").startswith(b"250-mx.example\r\n250-PIPELINING\r\n")


def test_command_line_limit() -> None:
    limits = Limits()
    driver = in_state("ready")
    ok = b"NOOP " + b"x" * (limits.max_command_line - 7) + b"\r\n"
    assert len(ok) == limits.max_command_line
    assert driver.feed(ok) == b"250 2.0.0 OK\r\n"
    too_long = b"NOOP " + b"x" * (limits.max_command_line - 6) + b"\r\n"
    assert driver.feed(too_long) == b"500 5.5.2 Line too long\r\n"
    assert driver.feed(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"


def test_one_megabyte_line_is_not_buffered() -> None:
    driver = in_state("ready")
    for _ in range(16):
        assert driver.feed(b"A" * 65536) == b""
        assert len(driver.conn._buffer) < 2 * Limits().max_command_line
    assert driver.feed(b"AAA\r\nNOOP\r\n") == b"500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"


def test_too_many_errors_closes_with_421() -> None:
    driver = in_state("ready", limits=Limits(max_errors=3))
    out = driver.feed(b"BOGUS\r\nBOGUS\r\nBOGUS\r\nNOOP\r\n")
    assert out == (
        b"500 5.5.2 Command not recognized\r\n" * 3
        + b"421 4.7.0 Too many errors, closing connection\r\n"
    )
    assert driver.conn.closed
    assert isinstance(driver.events[-1], ConnectionClosed)
    assert driver.conn.state is State.CLOSED


def test_rejected_recipients_do_not_count_as_errors() -> None:
    driver = in_state("mail", limits=Limits(max_errors=2))
    out = driver.feed(b"RCPT TO:<bad1@x.example>\r\n" * 5 + b"NOOP\r\n")
    assert out.count(b"550 5.1.1") == 5 and out.endswith(b"250 2.0.0 OK\r\n")


def test_max_recipients() -> None:
    driver = in_state("mail", limits=Limits(max_recipients=2))
    out = driver.feed(
        b"RCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\n"
    )
    assert out == b"250 2.1.5 Recipient OK\r\n" * 2 + b"452 4.5.3 Too many recipients\r\n"
    assert driver.conn.recipient_count == 2


def test_refused_connection_serves_only_quit() -> None:
    from posteingang.smtp.proto import SMTPConnection

    conn = SMTPConnection(hostname="mx.example")
    conn.refuse_connection()
    assert conn.data_to_send() == b"554 5.3.2 mx.example No SMTP service here\r\n"
    conn.receive_data(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n")
    events = []
    while not isinstance(event := conn.next_event(), NeedData):
        events.append(event)
        if conn.closed:
            break
    assert conn.data_to_send() == b"503 5.5.1 No SMTP service here\r\n" * 2 + b"221 2.0.0 Bye\r\n"
