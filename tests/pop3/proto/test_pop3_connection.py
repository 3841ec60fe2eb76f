"""The connection state machine: logins, SASL, STLS, pipelining, limits, QUIT and EOF."""

from __future__ import annotations

import pytest

from posteingang.pop3.proto import (
    Auth,
    AuthResponse,
    Capa,
    ConnectionClosed,
    Continuation,
    Err,
    List,
    LocalProtocolError,
    NeedData,
    Noop,
    Ok,
    Pass,
    Paused,
    POP3Connection,
    ProtocolError,
    Quit,
    ResponseCode,
    Retr,
    Stat,
    State,
    Stls,
    User,
    Utf8,
)

from .helpers import conn_in, drain, feed_line

# -- USER / PASS / APOP ----------------------------------------------------------------------


def test_user_pass_login_reaches_transaction() -> None:
    conn = POP3Connection()
    assert feed_line(conn, b"USER bob") == User("bob")
    assert conn.send(Ok("send PASS")) == b"+OK send PASS\r\n"
    assert conn.state is State.USER_ACCEPTED
    assert conn.user == "bob"
    assert feed_line(conn, b"PASS hunter2") == Pass("hunter2")
    assert conn.send(Ok("2 messages (320 octets)")) == b"+OK 2 messages (320 octets)\r\n"
    assert conn.state is State.TRANSACTION
    assert conn.user is None


def test_failed_pass_needs_a_new_user() -> None:
    conn = conn_in(State.USER_ACCEPTED)
    feed_line(conn, b"PASS wrong")
    assert conn.send(Err("invalid credentials", ResponseCode.AUTH)) == (
        b"-ERR [AUTH] invalid credentials\r\n"
    )
    assert conn.state is State.AUTHORIZATION
    event = feed_line(conn, b"PASS again")
    assert isinstance(event, ProtocolError)
    assert b"must follow" in event.reply


def test_rejected_user_does_not_allow_pass() -> None:
    conn = POP3Connection()
    feed_line(conn, b"USER nobody")
    conn.send(Err("no"))
    assert conn.state is State.AUTHORIZATION
    assert isinstance(feed_line(conn, b"PASS x"), ProtocolError)


@pytest.mark.parametrize("between", [b"CAPA", b"NOOP", b"XYZZY", b"USER"])
def test_pass_must_come_immediately_after_user(between: bytes) -> None:
    # RFC 1939 §7: PASS only "immediately after a successful USER command".
    conn = conn_in(State.USER_ACCEPTED)
    event = feed_line(conn, between)
    if conn.pending is not None:
        conn.send(Ok())
    else:
        assert isinstance(event, ProtocolError)
    assert isinstance(feed_line(conn, b"PASS secret"), ProtocolError)


def test_a_second_user_replaces_the_first() -> None:
    conn = conn_in(State.USER_ACCEPTED)
    assert feed_line(conn, b"USER carol") == User("carol")
    conn.send(Ok())
    assert conn.user == "carol"
    assert feed_line(conn, b"PASS x") == Pass("x")


def test_apop_login() -> None:
    conn = POP3Connection()
    feed_line(conn, b"APOP mrose c4c9334bac560ecc979e58001b3e22fb")
    conn.send(Ok("maildrop has 1 message"))
    assert conn.state is State.TRANSACTION


# -- SASL (RFC 5034) ----------------------------------------------------------------------


def test_sasl_exchange_with_challenges() -> None:
    conn = POP3Connection()
    assert feed_line(conn, b"AUTH PLAIN") == Auth("PLAIN")
    assert conn.send(Continuation()) == b"+ \r\n"
    assert conn.state is State.SASL
    assert feed_line(conn, b"AGJvYgBzZWNyZXQ=") == AuthResponse(b"\0bob\0secret")
    assert conn.send(Continuation(b"more?")) == b"+ bW9yZT8=\r\n"
    assert feed_line(conn, b"") == AuthResponse(b"")
    assert conn.send(Ok("logged in")) == b"+OK logged in\r\n"
    assert conn.state is State.TRANSACTION


def test_sasl_with_initial_response_can_succeed_at_once() -> None:
    conn = POP3Connection()
    assert feed_line(conn, b"AUTH PLAIN AGJvYgBzZWNyZXQ=") == Auth("PLAIN", b"\0bob\0secret")
    conn.send(Ok())
    assert conn.state is State.TRANSACTION


def test_failed_sasl_returns_to_authorization() -> None:
    conn = conn_in(State.SASL)
    feed_line(conn, b"AGJvYgB3cm9uZw==")
    conn.send(Err("authentication failed", ResponseCode.AUTH))
    assert conn.state is State.AUTHORIZATION
    assert feed_line(conn, b"USER bob") == User("bob")


def test_cancel_must_be_answered_with_err() -> None:
    # RFC 5034 §4: "*" cancels, and the server MUST reply -ERR.
    conn = conn_in(State.SASL)
    event = feed_line(conn, b"*")
    assert event == AuthResponse(None)
    with pytest.raises(LocalProtocolError):
        conn.send(Ok())
    with pytest.raises(LocalProtocolError):
        conn.send(Continuation())
    assert conn.send(Err("cancelled")) == b"-ERR cancelled\r\n"
    assert conn.state is State.AUTHORIZATION


def test_undecodable_response_ends_the_exchange() -> None:
    conn = conn_in(State.SASL)
    event = feed_line(conn, b"not base64!")
    assert isinstance(event, ProtocolError)
    assert conn.state is State.AUTHORIZATION
    assert feed_line(conn, b"CAPA") == Capa()


def test_sasl_responses_may_be_longer_than_commands() -> None:
    conn = conn_in(State.SASL)
    long_response = b"QUFB" * 1000  # 4000 octets, fine for a GSSAPI-sized token
    assert feed_line(conn, long_response) == AuthResponse(b"AAA" * 1000)
    conn.send(Err("no"))
    event = feed_line(conn, b"USER " + b"a" * 300)
    assert isinstance(event, ProtocolError)
    assert b"too long" in event.reply


def test_over_long_sasl_response_is_refused() -> None:
    conn = POP3Connection(max_auth_line_length=1000)
    feed_line(conn, b"AUTH PLAIN")
    conn.send(Continuation())
    conn.receive_data(b"QUFB" * 300)
    event = conn.next_event()
    assert isinstance(event, ProtocolError)
    assert conn.state is State.AUTHORIZATION


def test_continuation_only_answers_auth() -> None:
    conn = conn_in(State.TRANSACTION)
    feed_line(conn, b"STAT")
    with pytest.raises(LocalProtocolError):
        conn.send(Continuation(b"x"))
    assert conn.pending == Stat()  # the refused send changed nothing


# -- replies and pausing ------------------------------------------------------------------


def test_send_without_a_command_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        POP3Connection().send(Ok())


def test_a_reply_that_cannot_be_encoded_changes_nothing() -> None:
    conn = conn_in(State.USER_ACCEPTED)
    feed_line(conn, b"PASS x")
    with pytest.raises(LocalProtocolError):
        conn.send(Ok("two\r\nlines"))
    assert conn.pending == Pass("x")
    assert conn.state is State.USER_ACCEPTED


def test_pipelined_commands_come_out_in_order_one_at_a_time() -> None:
    # RFC 2449 §6.6: the client may send a batch; we answer each in order.
    conn = POP3Connection()
    conn.receive_data(b"USER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 1\r\nQUIT\r\n")
    seen = []
    while not isinstance(event := conn.next_event(), ConnectionClosed):
        assert not isinstance(event, NeedData)
        seen.append(event)
        assert isinstance(conn.next_event(), Paused)
        conn.send(Ok())
    assert seen == [User("bob"), Pass("secret"), Stat(), List(None), Retr(1), Quit()]


def test_pipelined_pass_after_rejected_user_is_refused() -> None:
    # Why the core pauses: PASS is valid or not depending on USER's reply.
    conn = POP3Connection()
    conn.receive_data(b"USER ghost\r\nPASS secret\r\nNOOP\r\n")
    assert conn.next_event() == User("ghost")
    conn.send(Err("no such user"))
    assert isinstance(conn.next_event(), ProtocolError)
    assert isinstance(conn.next_event(), ProtocolError)  # NOOP before login
    assert isinstance(conn.next_event(), NeedData)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 64])
def test_chunking_never_changes_the_events(chunk_size: int) -> None:
    stream = b"CAPA\r\nUSER bob\nPASS a b\r\nLIST 2\r\nXYZZY\r\nTOP 1 5\r\n"
    conn = POP3Connection()
    events = []
    for i in range(0, len(stream), chunk_size):
        conn.receive_data(stream[i : i + chunk_size])
        events += drain(conn)
    whole = POP3Connection()
    whole.receive_data(stream)
    assert events == drain(whole)
    assert len(events) == 6


def test_many_pipelined_commands_survive_buffer_compaction() -> None:
    conn = conn_in(State.TRANSACTION)
    conn.receive_data(b"NOOP\r\n" * 5000 + b"RETR 9\r\n")
    events = drain(conn)
    assert events.count(Noop()) == 5000
    assert events[-1] == Retr(9)
    assert conn.buffered == 0


# -- line length (RFC 2449 §4) ----------------------------------------------------------------


def test_command_of_exactly_255_octets_is_accepted() -> None:
    conn = conn_in(State.USER_ACCEPTED)
    line = b"PASS " + b"p" * (255 - 7)
    assert len(line + b"\r\n") == 255
    assert feed_line(conn, line) == Pass("p" * 248)


def test_command_of_256_octets_is_refused() -> None:
    conn = conn_in(State.USER_ACCEPTED)
    event = feed_line(conn, b"PASS " + b"p" * 249)
    assert isinstance(event, ProtocolError)
    assert b"too long" in event.reply
    assert conn.state is State.AUTHORIZATION


def test_endless_line_is_refused_early_and_not_buffered() -> None:
    conn = conn_in(State.TRANSACTION)
    conn.receive_data(b"X" * 200)
    assert isinstance(conn.next_event(), NeedData)
    conn.receive_data(b"X" * 100)
    event = conn.next_event()
    assert isinstance(event, ProtocolError)  # refused before the line ended
    for _ in range(250):  # a megabyte of the same line is dropped as it arrives
        conn.receive_data(b"X" * 4096)
        assert conn.buffered == 0
        assert isinstance(conn.next_event(), NeedData)
    conn.receive_data(b"XXX\r\nSTAT\r\n")
    assert conn.next_event() == Stat()


def test_line_too_long_error_is_reported_once() -> None:
    conn = conn_in(State.TRANSACTION)
    conn.receive_data(b"Y" * 1000 + b"\r\nNOOP\r\n")
    events = drain(conn)
    assert [type(e) for e in events] == [ProtocolError, Noop]


# -- STLS (RFC 2595) ---------------------------------------------------------------------------


def test_stls_discards_pipelined_plaintext() -> None:
    conn = POP3Connection()
    conn.receive_data(b"STLS\r\nUSER evil\r\nPASS injected\r\n")
    assert conn.next_event() == Stls()
    assert conn.send(Ok("Begin TLS negotiation")) == b"+OK Begin TLS negotiation\r\n"
    assert conn.state is State.TLS_HANDSHAKE
    assert conn.buffered == 0
    conn.receive_data(b"\x16\x03\x01 handshake bytes\r\n")  # belongs to TLS, not to us
    assert isinstance(conn.next_event(), Paused)
    conn.tls_established()
    assert conn.tls_active
    assert conn.state is State.AUTHORIZATION
    assert isinstance(conn.next_event(), NeedData)  # USER evil was never executed
    assert feed_line(conn, b"USER bob") == User("bob")


def test_refused_stls_keeps_the_pipelined_commands() -> None:
    conn = POP3Connection()
    conn.receive_data(b"STLS\r\nCAPA\r\n")
    conn.next_event()
    conn.send(Err("TLS not available"))
    assert conn.state is State.AUTHORIZATION
    assert conn.next_event() == Capa()


def test_stls_clears_an_accepted_user() -> None:
    conn = conn_in(State.USER_ACCEPTED)
    feed_line(conn, b"STLS")
    conn.send(Ok())
    conn.tls_established()
    assert isinstance(feed_line(conn, b"PASS secret"), ProtocolError)


def test_stls_is_refused_once_tls_is_active() -> None:
    for conn in (conn_in(State.AUTHORIZATION, tls_active=True), conn_in(State.TLS_HANDSHAKE)):
        if conn.state is State.TLS_HANDSHAKE:
            conn.tls_established()
        event = feed_line(conn, b"STLS")
        assert isinstance(event, ProtocolError)
        assert b"already active" in event.reply


def test_tls_established_without_stls_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        POP3Connection().tls_established()


# -- UTF8 (RFC 6856) ------------------------------------------------------------------------------


def test_utf8_mode_follows_the_reply() -> None:
    conn = POP3Connection()
    assert feed_line(conn, b"UTF8") == Utf8()
    conn.send(Err("not supported"))
    assert not conn.utf8_mode
    feed_line(conn, b"UTF8")
    conn.send(Ok("UTF8 enabled"))
    assert conn.utf8_mode


# -- QUIT, UPDATE and EOF ---------------------------------------------------------------


def test_quit_before_login_closes_without_update() -> None:
    conn = POP3Connection()
    feed_line(conn, b"QUIT")
    assert conn.state is State.AUTHORIZATION  # RFC 1939 §4: no UPDATE state here
    conn.send(Ok("bye"))
    assert conn.state is State.CLOSED
    conn.receive_data(b"STAT\r\n")
    assert isinstance(conn.next_event(), ConnectionClosed)


@pytest.mark.parametrize("reply", [Ok("bye"), Err("some deleted messages not removed")])
def test_quit_in_transaction_enters_update_then_closes(reply: Ok | Err) -> None:
    conn = conn_in(State.TRANSACTION)
    conn.receive_data(b"QUIT\r\nSTAT\r\n")
    assert conn.next_event() == Quit()
    assert conn.state is State.UPDATE  # RFC 1939 §6: the session now applies DELE
    assert isinstance(conn.next_event(), Paused)
    conn.send(reply)
    assert conn.state is State.CLOSED
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_eof_after_the_last_complete_line() -> None:
    conn = conn_in(State.TRANSACTION)
    conn.receive_data(b"STAT\r\nLIS")
    conn.receive_data(b"")
    assert conn.next_event() == Stat()
    conn.send(Ok("0 0"))
    assert isinstance(conn.next_event(), ConnectionClosed)  # the partial line is dropped
    assert conn.state is State.TRANSACTION  # no QUIT, so no UPDATE (RFC 1939 §6)


def test_line_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        POP3Connection(max_line_length=2)
    with pytest.raises(ValueError):
        POP3Connection(max_line_length=300, max_auth_line_length=100)
