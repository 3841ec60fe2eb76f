"""Whole sessions (C:/S: transcripts) for SMTP and LMTP, pipelining, STARTTLS, BDAT, smuggling."""

from __future__ import annotations

import pytest
from smtp_proto_driver import Driver, ehlo

from posteingang.smtp.proto import (
    BareLineBreakPolicy,
    BdatChunk,
    ConnectionClosed,
    DataAborted,
    DataChunk,
    DataEnd,
    Limits,
    LocalProtocolError,
    MailFrom,
    NeedData,
    Noop,
    ProtocolError,
    RcptTo,
    Reply,
    SMTPConnection,
    State,
)


def run_transcript(driver: Driver, transcript: str) -> None:
    """Run ``C:`` lines (sent as one packet per C: block) and compare ``S:`` lines."""
    client: list[str] = []
    expected: list[str] = []

    def flush() -> None:
        if client:
            wire = "".join(line + "\r\n" for line in client).encode()
            got = driver.feed(wire).decode()
            want = "".join(line + "\r\n" for line in expected)
            assert got == want, f"after {client!r}"
            client.clear()
            expected.clear()

    for raw in transcript.strip().splitlines():
        line = raw.strip()
        if line.startswith("C:"):
            if expected:
                flush()
            client.append(line[3:])
        elif line.startswith("S:"):
            expected.append(line[3:])
    flush()


def test_smtp_session() -> None:
    driver = Driver()
    assert driver.greeting == b"220 mx.example ESMTP ready\r\n"
    run_transcript(
        driver,
        """
        C: EHLO client.example
        S: 250-mx.example
        S: 250-PIPELINING
        S: 250-SIZE 52428800
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250 CHUNKING
        C: MAIL FROM:<alice@example.org>
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<bob@example.com>
        S: 250 2.1.5 Recipient OK
        C: RCPT TO:<bad@example.com>
        S: 550 5.1.1 No such user
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Subject: hello
        C:
        C: ..a stuffed line
        C: .
        S: 250 2.0.0 Message accepted
        C: QUIT
        S: 221 2.0.0 Bye
        """,
    )
    assert driver.messages == [b"Subject: hello\r\n\r\n.a stuffed line\r\n"]
    assert isinstance(driver.events[-1], ConnectionClosed)


def test_two_transactions_and_rset() -> None:
    driver = Driver()
    run_transcript(
        driver,
        """
        C: HELO client.example
        S: 250 mx.example
        C: MAIL FROM:<>
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<a@example.com>
        S: 250 2.1.5 Recipient OK
        C: RSET
        S: 250 2.0.0 OK
        C: RCPT TO:<a@example.com>
        S: 503 5.5.1 Need MAIL before RCPT
        C: MAIL FROM:<x@example.org>
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<a@example.com>
        S: 250 2.1.5 Recipient OK
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: one
        C: .
        S: 250 2.0.0 Message accepted
        C: MAIL FROM:<y@example.org>
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<a@example.com>
        S: 250 2.1.5 Recipient OK
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: two
        C: .
        S: 250 2.0.0 Message accepted
        """,
    )
    assert driver.messages == [b"one\r\n", b"two\r\n"]


def test_lmtp_session_with_per_recipient_results() -> None:
    def results(conn: SMTPConnection, event: DataEnd) -> None:
        conn.per_recipient_results(
            [
                Reply(250, "2.0.0", "<a@example.com> delivered"),
                Reply(452, "4.2.2", "<b@example.com> mailbox full"),
                Reply(250, "2.0.0", "<c@example.com> delivered"),
            ]
        )

    driver = Driver(lmtp=True, on_data_end=results)
    run_transcript(
        driver,
        """
        C: LHLO client.example
        S: 250-mx.example
        S: 250-PIPELINING
        S: 250-SIZE 52428800
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250 CHUNKING
        C: MAIL FROM:<alice@example.org>
        C: RCPT TO:<a@example.com>
        C: RCPT TO:<bad@example.com>
        C: RCPT TO:<b@example.com>
        C: RCPT TO:<c@example.com>
        C: DATA
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 550 5.1.1 No such user
        S: 250 2.1.5 Recipient OK
        S: 250 2.1.5 Recipient OK
        S: 354 End data with <CR><LF>.<CR><LF>
        C: hi
        C: .
        S: 250 2.0.0 <a@example.com> delivered
        S: 452 4.2.2 <b@example.com> mailbox full
        S: 250 2.0.0 <c@example.com> delivered
        """,
    )


def test_lmtp_accept_message_answers_every_recipient() -> None:
    driver = Driver(lmtp=True)
    ehlo(driver)
    out = driver.feed(
        b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\nDATA\r\n"
    )
    assert out.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n")
    assert driver.feed(b"x\r\n.\r\n") == b"250 2.0.0 Message accepted\r\n" * 2


def test_lmtp_oversize_message_is_refused_once_per_recipient() -> None:
    driver = Driver(lmtp=True, limits=Limits(max_message_size=10))
    ehlo(driver)
    driver.feed(
        b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\nDATA\r\n"
    )
    out = driver.feed(b"0123456789abcdef\r\n.\r\n")
    assert out == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n" * 2


def test_per_recipient_results_checks_count_and_mode() -> None:
    def wrong(conn: SMTPConnection, event: DataEnd) -> None:
        with pytest.raises(LocalProtocolError):
            conn.per_recipient_results([])
        conn.accept_message()

    driver = Driver(lmtp=True, on_data_end=wrong)
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    assert driver.feed(b".\r\n") == b"250 2.0.0 Message accepted\r\n"

    def smtp(conn: SMTPConnection, event: DataEnd) -> None:
        with pytest.raises(LocalProtocolError):
            conn.per_recipient_results([Reply(250, "2.0.0", "x")])
        conn.reject_message(Reply(451, "4.3.0", "Try later"))

    driver = Driver(on_data_end=smtp)
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    assert driver.feed(b".\r\n") == b"451 4.3.0 Try later\r\n"


# ------------------------------------------------------------------ pipelining


def test_pipelined_group_is_answered_in_one_batch_in_order() -> None:
    driver = Driver()
    out = driver.feed(
        b"EHLO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n"
        b"RCPT TO:<bad@x.example>\r\nRCPT TO:<c@x.example>\r\nDATA\r\n"
    )
    lines = out.split(b"\r\n")
    codes = [line[:4] for line in lines if line[:4] in (b"250 ", b"550 ", b"354 ")]
    assert codes == [b"250 ", b"250 ", b"250 ", b"550 ", b"250 ", b"354 "]


def test_whole_session_in_one_packet() -> None:
    driver = Driver()
    out = driver.feed(
        b"EHLO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n"
        b"line 1\r\n.\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n"
        b"line 2\r\n.\r\nQUIT\r\n"
    )
    assert driver.messages == [b"line 1\r\n", b"line 2\r\n"]
    assert out.endswith(b"250 2.0.0 Message accepted\r\n221 2.0.0 Bye\r\n")
    assert out.count(b"250 2.0.0 Message accepted") == 2


def test_commands_after_a_rejected_mail_are_refused_in_order() -> None:
    driver = Driver()
    ehlo(driver)
    out = driver.feed(b"MAIL FROM:<spammer@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    assert out == (
        b"550 5.7.1 Go away\r\n503 5.5.1 Need MAIL before RCPT\r\n"
        b"503 5.5.1 Need MAIL and RCPT before DATA\r\n"
    )


def test_data_with_no_valid_recipients_keeps_following_lines_as_commands() -> None:
    driver = Driver()
    ehlo(driver)
    out = driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<bad@x.example>\r\nDATA\r\nNOOP\r\n")
    assert out.endswith(b"554 5.5.1 No valid recipients\r\n250 2.0.0 OK\r\n")


def test_every_split_point_of_a_pipelined_session() -> None:
    wire = (
        b"EHLO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n"
        b"a\r\n..b\r\n.\r\nQUIT\r\n"
    )
    whole = Driver()
    expected = whole.feed(wire)
    for i in range(len(wire) + 1):
        driver = Driver()
        got = b"".join(driver.feed(part) for part in (wire[:i], wire[i:]) if part)
        assert got == expected, i
        assert driver.messages == [b"a\r\n.b\r\n"]


# --------------------------------------------------------------------- STARTTLS


def test_starttls_discards_pipelined_plaintext_and_requires_ehlo_again() -> None:
    driver = Driver(starttls=True)
    ehlo(driver)
    out = driver.feed(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
    assert out == b"220 2.0.0 Ready to start TLS\r\n"
    assert driver.discarded_plaintext == len(b"MAIL FROM:<injected@evil.example>\r\n")
    assert driver.conn.state is State.TLS_HANDSHAKE
    with pytest.raises(LocalProtocolError):
        driver.conn.receive_data(b"handshake bytes must not reach the core")
    driver.conn.tls_established()
    assert driver.conn.tls_active
    assert driver.feed(b"MAIL FROM:<a@x.example>\r\n").startswith(b"503 5.5.1 Send EHLO/HELO first")
    caps = ehlo(driver)
    assert b"STARTTLS" not in caps and b"CHUNKING" in caps
    assert driver.feed(b"STARTTLS\r\n") == b"503 5.5.1 TLS already active\r\n"
    assert not driver.of_type(MailFrom)  # the injected command never surfaced


def test_starttls_rules() -> None:
    driver = Driver(starttls=True)
    assert driver.feed(b"STARTTLS\r\n").startswith(b"503 5.5.1 Send EHLO first")
    driver.feed(b"HELO c.example\r\n")
    assert driver.feed(b"STARTTLS\r\n").startswith(b"503 5.5.1 Send EHLO first")
    ehlo(driver)
    assert driver.feed(b"STARTTLS now\r\n").startswith(b"501 5.5.4")
    driver.feed(b"MAIL FROM:<a@x.example>\r\n")
    assert driver.feed(b"STARTTLS\r\n").startswith(b"503 5.5.1 STARTTLS not allowed")


def test_starttls_can_be_refused() -> None:
    conn = SMTPConnection(hostname="mx.example", starttls=True)
    conn.accept_connection()
    conn.receive_data(b"EHLO c.example\r\n")
    conn.next_event()
    conn.accept_helo()
    conn.receive_data(b"STARTTLS\r\nNOOP\r\n")
    conn.next_event()
    conn.reject_starttls()
    assert conn.next_event() == Noop()
    assert conn.next_event() == NeedData()
    assert conn.state is State.READY and not conn.tls_active
    assert conn.data_to_send().endswith(
        b"454 4.7.0 TLS not available due to temporary reason\r\n250 2.0.0 OK\r\n"
    )


# ------------------------------------------------------------------------- BDAT


def test_bdat_session() -> None:
    driver = Driver()
    ehlo(driver)
    out = driver.feed(
        b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n"
        b"BDAT 7\r\nline 1\nBDAT 9 LAST\r\n.\r\nline 2"
    )
    assert out == (
        b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
        b"250 2.0.0 7 octets received\r\n250 2.0.0 Message accepted\r\n"
    )
    # BDAT content is verbatim: no dot-unstuffing, no end-of-data detection.
    assert driver.messages == [b"line 1\n.\r\nline 2"]
    chunks = driver.of_type(BdatChunk)
    assert chunks == [BdatChunk(7, False, True), BdatChunk(9, True, False)]


def test_bdat_chunk_split_everywhere() -> None:
    wire = b"BDAT 5\r\nab\r\ncBDAT 3 LAST\r\nxyzNOOP\r\n"
    expected: bytes | None = None
    for i in range(len(wire) + 1):
        driver = Driver()
        ehlo(driver)
        driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n")
        out = b"".join(driver.feed(part) for part in (wire[:i], wire[i:]) if part)
        expected = expected or out
        assert (
            out
            == expected
            == (b"250 2.0.0 5 octets received\r\n250 2.0.0 Message accepted\r\n250 2.0.0 OK\r\n")
        )
        assert driver.messages == [b"ab\r\ncxyz"]


def test_refused_bdat_still_consumes_its_chunk() -> None:
    driver = Driver()
    ehlo(driver)
    # No MAIL: the 20 octets must be dropped, not run as commands.
    out = driver.feed(b"BDAT 22\r\nMAIL FROM:<e@vil.ex>\r\nNOOP\r\n")
    assert out == b"503 5.5.1 Need MAIL and RCPT before BDAT\r\n250 2.0.0 OK\r\n"
    assert not driver.of_type(MailFrom)


def test_bdat_without_valid_recipients() -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<bad@x.example>\r\n")
    assert driver.feed(b"BDAT 3 LAST\r\nabc") == b"554 5.5.1 No valid recipients\r\n"


def test_data_after_bdat_voids_the_transaction() -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nBDAT 1\r\nx")
    out = driver.feed(b"DATA\r\nBDAT 1 LAST\r\ny")
    assert (
        out
        == b"503 5.5.1 DATA not allowed after BDAT\r\n503 5.5.1 Need MAIL and RCPT before BDAT\r\n"
    )
    assert len(driver.of_type(DataAborted)) == 1
    assert driver.messages == []


def test_bdat_over_the_size_cap() -> None:
    driver = Driver(limits=Limits(max_message_size=10))
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n")
    out = driver.feed(b"BDAT 6\r\n123456BDAT 6 LAST\r\n123456NOOP\r\n")
    assert out == (
        b"250 2.0.0 6 octets received\r\n"
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"
    )
    assert driver.messages == [] and len(driver.of_type(DataAborted)) == 1
    assert driver.conn.state is State.READY


@pytest.mark.parametrize("lmtp", [False, True])
def test_bdat_chunk_over_size_is_refused_before_its_octets(lmtp: bool) -> None:
    # Issue 10 item 10: waiting for octets that can never be taken hung the session.
    driver = Driver(lmtp=lmtp, limits=Limits(max_message_size=10))
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\n")
    out = driver.feed(b"BDAT 11 LAST\r\n")
    too_big = b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    assert out == too_big * (2 if lmtp else 1)
    assert driver.conn.state is State.READY and len(driver.of_type(DataAborted)) == 1
    assert driver.feed(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"


def test_bdat_needs_ehlo() -> None:
    driver = Driver()
    driver.feed(b"HELO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n")
    assert driver.feed(b"BDAT 2 LAST\r\nab") == b"503 5.5.1 CHUNKING needs EHLO\r\n"


def test_lmtp_bdat_last_gets_per_recipient_replies() -> None:
    driver = Driver(lmtp=True)
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\n")
    assert driver.feed(b"BDAT 2\r\nabBDAT 1 LAST\r\nc") == (
        b"250 2.0.0 2 octets received\r\n" + b"250 2.0.0 Message accepted\r\n" * 2
    )


# --------------------------------------------------- DATA policies and limits


SMUGGLING = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r", b"\r\n.\n", b"\n.\r", b"\r.\n"]


@pytest.mark.parametrize("vector", SMUGGLING)
def test_smuggled_message_is_refused_and_never_executed(vector: bytes) -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@relay.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    out = driver.feed(
        b"Subject: innocent\r\n\r\nhi"
        + vector
        + b"MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\nforged\r\n"
        + b"\r\n.\r\nQUIT\r\n"
    )
    assert out == (
        b"554 5.6.0 Message must use CRLF line endings (bare CR or LF found)\r\n221 2.0.0 Bye\r\n"
    )
    assert len(driver.of_type(MailFrom)) == 1  # only the real one
    assert driver.messages == [] and len(driver.of_type(DataAborted)) == 1


@pytest.mark.parametrize("vector", SMUGGLING)
def test_smuggling_vector_under_accept_policy_is_content(vector: bytes) -> None:
    driver = Driver(limits=Limits(bare_line_breaks=BareLineBreakPolicy.ACCEPT))
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@relay.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    out = driver.feed(b"hi" + vector + b"MAIL FROM:<ceo@victim.example>\r\n\r\n.\r\n")
    assert out == b"250 2.0.0 Message accepted\r\n"
    assert len(driver.of_type(MailFrom)) == 1
    assert b"MAIL FROM:<ceo@victim.example>" in driver.messages[0]
    end = driver.of_type(DataEnd)[0]
    assert isinstance(end, DataEnd) and end.bare_line_break


def test_running_size_cap_reads_to_the_end_then_refuses() -> None:
    driver = Driver(limits=Limits(max_message_size=100))
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    out = driver.feed(b"x" * 60 + b"\r\n")
    out += driver.feed(b"y" * 60 + b"\r\n")  # over the cap here, but keep reading
    out += driver.feed(b"z\r\n.\r\nNOOP\r\n")
    assert out == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"
    assert not driver.of_type(DataEnd)
    delivered = sum(len(e.data) for e in driver.events if isinstance(e, DataChunk))
    assert delivered <= 100


def test_message_of_exactly_the_limit_is_accepted() -> None:
    driver = Driver(limits=Limits(max_message_size=10))
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    assert driver.feed(b"12345678\r\n.\r\n") == b"250 2.0.0 Message accepted\r\n"


def test_eight_bit_and_long_lines_are_accepted_and_flagged() -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n")
    body = b"Gr\xc3\xbc\xc3\x9fe\r\n" + b"L" * 5000 + b"\r\n"
    assert driver.feed(body + b".\r\n") == b"250 2.0.0 Message accepted\r\n"
    assert driver.messages == [body]
    assert driver.of_type(DataEnd) == [DataEnd(size=len(body), eight_bit=True, long_lines=True)]


def test_ehlo_mid_transaction_resets_it() -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n")
    ehlo(driver)
    assert driver.feed(b"DATA\r\n").startswith(b"503 5.5.1")
    assert driver.feed(b"MAIL FROM:<a@x.example>\r\n").startswith(b"250")


# ---------------------------------------------------- shell-facing lifecycle


def test_eof_closes_and_voids_the_transaction() -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\npartial")
    assert driver.feed(b"") == b""
    assert isinstance(driver.events[-1], ConnectionClosed)
    assert not driver.of_type(DataEnd)


def test_eof_after_complete_pipelined_commands_runs_them_first() -> None:
    driver = Driver()
    driver.conn.receive_data(b"EHLO c.example\r\nQUIT\r\n")
    driver.conn.receive_data(b"")
    driver.pump()
    assert driver.conn.data_to_send().endswith(b"221 2.0.0 Bye\r\n")


def test_timeout_and_shutdown() -> None:
    driver = Driver()
    ehlo(driver)
    driver.conn.timeout()
    assert driver.conn.data_to_send() == b"421 4.4.2 mx.example Timeout, closing connection\r\n"
    assert isinstance(driver.conn.next_event(), ConnectionClosed)
    driver.conn.shutdown()  # already closed: nothing more
    assert driver.conn.data_to_send() == b""
    other = Driver()
    other.conn.shutdown()
    assert other.conn.data_to_send() == b"421 4.3.2 mx.example Service shutting down\r\n"
    other.conn.receive_data(b"NOOP\r\n")  # ignored after close
    assert isinstance(other.conn.next_event(), ConnectionClosed)


def test_refuse_connection_with_421_closes() -> None:
    conn = SMTPConnection(hostname="mx.example")
    conn.refuse_connection(Reply(421, "4.3.2", "mx.example busy"))
    assert conn.data_to_send() == b"421 4.3.2 mx.example busy\r\n"
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_application_mistakes_raise_local_protocol_error() -> None:
    conn = SMTPConnection(hostname="mx.example")
    with pytest.raises(LocalProtocolError):
        conn.next_event()  # not greeted yet
    conn.accept_connection()
    with pytest.raises(LocalProtocolError):
        conn.accept_connection()
    with pytest.raises(LocalProtocolError):
        conn.accept_rcpt()  # nothing asked
    conn.receive_data(b"EHLO c.example\r\nMAIL FROM:<a@x.example>\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.next_event()  # EHLO not answered
    with pytest.raises(LocalProtocolError):
        conn.accept_mail()  # wrong answer
    with pytest.raises(LocalProtocolError):
        conn.reject_helo(Reply(250, "2.0.0", "not a rejection"))
    conn.accept_helo()
    assert isinstance(conn.next_event(), MailFrom)
    conn.reject_mail(Reply(451, "4.7.1", "Greylisted"))
    assert isinstance(conn.next_event(), NeedData)
    with pytest.raises(LocalProtocolError):
        conn.tls_established()
    with pytest.raises(LocalProtocolError):
        SMTPConnection(hostname="evil\r\n250 forged")


def test_rejected_helo_leaves_client_ungreeted() -> None:
    conn = SMTPConnection(hostname="mx.example")
    conn.accept_connection()
    conn.receive_data(b"EHLO bad.example\r\nMAIL FROM:<a@x.example>\r\n")
    conn.next_event()
    conn.reject_helo(Reply(550, "5.7.1", "Bad HELO"))
    assert isinstance(conn.next_event(), ProtocolError)
    assert isinstance(conn.next_event(), NeedData)
    out = conn.data_to_send()
    assert b"550 5.7.1 Bad HELO\r\n503 5.5.1 Send EHLO/HELO first" in out


def test_rcpt_event_for_postmaster() -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\n")
    rcpt = driver.of_type(RcptTo)[0]
    assert isinstance(rcpt, RcptTo) and rcpt.address.is_postmaster


def test_bdat_after_a_failed_chunk_is_refused_and_consumed() -> None:
    driver = Driver(limits=Limits(max_message_size=4))
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n")
    # Each chunk fits the SIZE, so its octets are read (and dropped) before the
    # reply; only the running total is too big.  (A single chunk over SIZE is
    # answered at once: test_bdat_chunk_over_size_is_refused_before_its_octets.)
    out = driver.feed(b"BDAT 3\r\n123BDAT 2\r\n45BDAT 2 LAST\r\nabNOOP\r\n")
    assert out == (
        b"250 2.0.0 3 octets received\r\n"
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
        b"503 5.5.1 Need MAIL and RCPT before BDAT\r\n250 2.0.0 OK\r\n"
    )
    assert driver.messages == []


def test_ehlo_between_bdat_chunks_voids_the_transaction() -> None:
    driver = Driver()
    ehlo(driver)
    driver.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nBDAT 2\r\nab")
    ehlo(driver)
    assert driver.feed(b"BDAT 1 LAST\r\nc") == b"503 5.5.1 Need MAIL and RCPT before BDAT\r\n"
    assert driver.messages == []


def test_lmtp_bare_line_break_refused_once_per_recipient() -> None:
    driver = Driver(lmtp=True)
    ehlo(driver)
    driver.feed(
        b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\nDATA\r\n"
    )
    out = driver.feed(b"a\nb\r\n.\r\n")
    assert out == b"554 5.6.0 Message must use CRLF line endings (bare CR or LF found)\r\n" * 2


def test_limits_are_validated() -> None:
    for bad in (
        {"max_message_size": 0},
        {"max_recipients": 0},
        {"max_command_line": 100},
        {"max_errors": 0},
    ):
        with pytest.raises(ValueError):
            Limits(**bad)  # type: ignore[arg-type]
