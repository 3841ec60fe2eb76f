"""Property tests: any bytes, in any state, split anywhere, answered any way: events or
protocol-error replies, never an exception, and the replies stay well formed."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from posteingang.smtp.proto import (
    BareLineBreakPolicy,
    ConnectionClosed,
    DataAborted,
    DataChunk,
    DataEnd,
    DataStart,
    Ehlo,
    Event,
    Helo,
    Lhlo,
    Limits,
    MailFrom,
    NeedData,
    RcptTo,
    Reply,
    SMTPConnection,
    StartTLSRequested,
    State,
)

_REPLY_LINE = re.compile(rb"[2-5][0-9][0-9]([ -][^\r\n]*)?\r\n")

COMMANDS = [
    b"EHLO c.example",
    b"HELO c.example",
    b"LHLO c.example",
    b"MAIL FROM:<a@x.example>",
    b"MAIL FROM:<> SIZE=10 BODY=8BITMIME",
    "MAIL FROM:<jörg@x.example> SMTPUTF8".encode(),
    b"RCPT TO:<b@x.example>",
    b"RCPT TO:<Postmaster>",
    "RCPT TO:<jörg@x.example>".encode(),
    b"DATA",
    b"BDAT 0 LAST",
    b"BDAT 5",
    b"BDAT 3 LAST",
    b"RSET",
    b"NOOP",
    b"QUIT",
    b"STARTTLS",
    b"VRFY x",
    b"HELP",
    b"EXPN x",
    b".",
    b"..x",
]
PIECES = st.one_of(
    st.sampled_from(COMMANDS).map(lambda c: c + b"\r\n"),
    st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\n.\r\n", b"\n.\n", b"\r.\r", b".\r\n", b"\x00"]),
    st.binary(max_size=30),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
WIRE = st.lists(PIECES, max_size=30).map(b"".join)
# A valid opening (hello, MAIL, RCPTs, DATA or BDAT) cut at a random point,
# so that the random tail lands in every state, not just before EHLO.
OPENING = [
    b"EHLO c.example\r\n",
    b"MAIL FROM:<a@x.example> SMTPUTF8\r\n",
    b"RCPT TO:<b@x.example>\r\n",
    b"RCPT TO:<c@x.example>\r\n",
]


def session(choose: st.DataObject, lmtp: bool) -> bytes:
    opening = list(OPENING)
    if lmtp:
        opening[0] = b"LHLO c.example\r\n"
    opening.append(choose.draw(st.sampled_from([b"DATA\r\n", b"BDAT 4\r\n", b"BDAT 9 LAST\r\n"])))
    keep = choose.draw(st.integers(0, len(opening)) | st.just(len(opening)), label="opening")
    tail = choose.draw(st.lists(PIECES, max_size=25), label="tail")
    return b"".join(opening[:keep] + tail)


def note(name: str) -> None:
    event(name)  # hypothesis statistics: shows which events the inputs reach


def check_replies(out: bytes) -> None:
    pos = 0
    while pos < len(out):
        m = _REPLY_LINE.match(out, pos)
        assert m, out[pos : pos + 80]
        pos = m.end()


class Harness:
    """Answers every request with choices drawn by hypothesis; checks invariants."""

    def __init__(self, conn: SMTPConnection, choose: st.DataObject) -> None:
        self.conn = conn
        self.choose = choose
        self.in_data = False
        self.chunk_octets = 0

    def pump(self) -> None:
        for _ in range(10_000):
            event = self.conn.next_event()
            if isinstance(event, NeedData | ConnectionClosed):
                return
            self.handle(event)
        raise AssertionError("next_event() never asked for data")

    def handle(self, event: Event) -> None:
        conn = self.conn
        note(type(event).__name__)
        if self.in_data:
            # SMTP smuggling: nothing but message octets until the message ends.
            assert isinstance(event, DataChunk | DataEnd | DataAborted), event
        accept = self.choose.draw(st.integers(0, 4), label="accept") > 0  # mostly yes
        no = Reply(550, "5.7.1", "no")
        if isinstance(event, DataChunk):
            self.chunk_octets += len(event.data)
        elif isinstance(event, DataEnd | DataAborted):
            self.in_data = False
            if isinstance(event, DataEnd):
                assert event.size == self.chunk_octets
                assert event.size <= conn.limits.max_message_size
                if conn.lmtp and self.choose.draw(st.booleans(), label="per-rcpt"):
                    conn.per_recipient_results([no] * conn.recipient_count)
                elif accept:
                    conn.accept_message()
                else:
                    conn.reject_message(Reply(451, "4.3.0", "later"))
            self.chunk_octets = 0
        elif isinstance(event, Helo | Ehlo | Lhlo):
            conn.accept_helo() if accept else conn.reject_helo(no)
        elif isinstance(event, MailFrom):
            conn.accept_mail() if accept else conn.reject_mail(no)
        elif isinstance(event, RcptTo):
            conn.accept_rcpt() if accept else conn.reject_rcpt(no)
        elif isinstance(event, DataStart):
            if accept:
                conn.accept_data()
                self.in_data = True
                self.chunk_octets = 0
            else:
                conn.reject_data(Reply(451, "4.3.0", "later"))
        elif isinstance(event, StartTLSRequested):
            if accept:
                conn.accept_starttls()
                check_replies(conn.data_to_send())
                conn.tls_established()
            else:
                conn.reject_starttls()


def make_connection(choose: st.DataObject) -> SMTPConnection:
    limits = Limits(
        max_message_size=choose.draw(st.integers(1, 64), label="max size"),
        max_recipients=choose.draw(st.integers(1, 3), label="max rcpt"),
        max_errors=choose.draw(st.integers(1, 30) | st.just(100), label="max errors"),
        bare_line_breaks=choose.draw(st.sampled_from(BareLineBreakPolicy), label="policy"),
    )
    conn = SMTPConnection(
        lmtp=choose.draw(st.booleans(), label="lmtp"),
        hostname="mx.example",
        limits=limits,
        starttls=choose.draw(st.booleans(), label="starttls"),
    )
    conn.accept_connection()
    return conn


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choose=st.data())
def test_any_input_any_split_any_answers(choose: st.DataObject) -> None:
    conn = make_connection(choose)
    wire = session(choose, conn.lmtp)
    harness = Harness(conn, choose)
    cuts = sorted(choose.draw(st.lists(st.integers(0, len(wire)), max_size=5), label="cuts"))
    out = bytearray()
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        if a == b:
            continue
        conn.receive_data(wire[a:b])
        harness.pump()
        out += conn.data_to_send()
    conn.receive_data(b"")
    harness.pump()
    out += conn.data_to_send()
    check_replies(bytes(out))
    assert conn.state is State.CLOSED


@settings(max_examples=150, deadline=None)
@given(choose=st.data())
def test_splitting_does_not_change_the_replies(choose: st.DataObject) -> None:
    wire = session(choose, lmtp=False)

    # Answer everything positively so both runs make the same decisions.
    def run(pieces: list[bytes]) -> bytes:
        conn = SMTPConnection(hostname="mx.example", limits=Limits(max_message_size=40))
        conn.accept_connection()
        out = bytearray()
        for piece in pieces:
            conn.receive_data(piece)
            while not isinstance(event := conn.next_event(), NeedData | ConnectionClosed):
                if isinstance(event, Helo | Ehlo):
                    conn.accept_helo()
                elif isinstance(event, MailFrom):
                    conn.accept_mail()
                elif isinstance(event, RcptTo):
                    conn.accept_rcpt()
                elif isinstance(event, DataStart):
                    conn.accept_data()
                elif isinstance(event, DataEnd):
                    conn.accept_message()
            out += conn.data_to_send()
        return bytes(out)

    cut = choose.draw(st.integers(0, len(wire)), label="cut")
    pieces = [p for p in (wire[:cut], wire[cut:]) if p]
    assert run(pieces) == run([wire] if wire else [])


class SMTPMachine(RuleBasedStateMachine):
    """Drive one connection with commands, raw bytes, EOF and timeouts, in any order."""

    @initialize(choose=st.data())
    def start(self, choose: st.DataObject) -> None:
        self.conn = make_connection(choose)
        self.harness = Harness(self.conn, choose)
        self.out = bytearray()
        self.send(session(choose, self.conn.lmtp))

    @rule(piece=PIECES)
    def send(self, piece: bytes) -> None:
        if piece and not self.conn.closed:
            self.conn.receive_data(piece)
            self.harness.pump()
            self.out += self.conn.data_to_send()

    @rule()
    def noop(self) -> None:
        self.send(b"NOOP\r\n")

    @rule()
    def timeout(self) -> None:
        self.conn.timeout()
        self.harness.pump()
        self.out += self.conn.data_to_send()

    @invariant()
    def replies_are_well_formed(self) -> None:
        if hasattr(self, "out"):
            check_replies(bytes(self.out))


TestSMTPMachine = SMTPMachine.TestCase
TestSMTPMachine.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
