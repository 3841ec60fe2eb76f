"""The SMTP/LMTP connection's state, and the application's answers to its requests.

`connection.SMTPConnection` reads commands and reports them as events (the
reader); the events that are *requests* (see :mod:`.events`) wait for one of
the ``accept_*``/``reject_*`` methods here, which queue the reply and move the
state (the answers).  The two halves meet only in the state this class holds:
an answer never reads input, and the reader never sends a reply the
application decides.  `SMTPConnection` is this class plus the reader.

This module must never touch sockets, clocks, files or the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .buffer import ReceiveBuffer
from .events import (
    DataEnd,
    DataStart,
    Ehlo,
    Event,
    Helo,
    Lhlo,
    MailFrom,
    RcptTo,
    StartTLSRequested,
)
from .limits import Limits
from .replies import LocalProtocolError, Reply
from .states import IN_TRANSACTION, State
from .transfer import MessageTransfer

__all__ = ["ConnectionAnswers"]

# Replies to the application's answers that the core words itself.
_START_MAIL = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
_READY_FOR_TLS = Reply(220, "2.0.0", "Ready to start TLS")


class ConnectionAnswers:
    """One connection's state and the answers to its requests (`SMTPConnection`'s
    half that writes; see the module docstring)."""

    def __init__(
        self,
        *,
        lmtp: bool = False,
        hostname: str,
        limits: Limits | None = None,
        starttls: bool = False,
        tls_active: bool = False,
    ) -> None:
        Reply(250, None, hostname)  # validates: no line breaks in our own name
        self.lmtp = lmtp
        self.hostname = hostname
        self.limits = limits or Limits()
        self.starttls_offered = starttls
        self.tls_active = tls_active
        self.state = State.GREETING
        self.client_domain: str | None = None
        self.esmtp = False
        self._buffer = ReceiveBuffer()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._awaiting: object | None = None  # the request waiting for an answer
        self._eof = False
        self._discarding_line = False  # inside an over-long command line
        self._line_too_long = False  # an over-long line ended; 500 is due
        self._errors = 0
        self._recipients = 0
        self._smtputf8 = False
        self._transfer = MessageTransfer(self.limits)
        self._bdat_size = 0
        self._bdat_last = False
        self._bdat_resume = State.READY  # the state a refused chunk returns to
        self._bdat_reply: Reply | None = None  # set: the chunk is dropped, then this is sent

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def recipient_count(self) -> int:
        """Recipients accepted in the current transaction (LMTP replies this many at the end)."""
        return self._recipients

    def data_to_send(self) -> bytes:
        """The replies queued so far, in order; empties the queue."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # ------------------------------------------------------------- helpers

    def _send(self, reply: Reply) -> None:
        self._out += reply.to_bytes()

    def _clear_transaction(self) -> None:
        self._recipients = 0
        self._smtputf8 = False
        if self.state in IN_TRANSACTION:
            self.state = State.READY

    def _close(self) -> None:
        self.state = State.CLOSED
        self._awaiting = None
        self._buffer.clear()

    def _answer(self, *kinds: type[Event], rejection: Reply | None = None) -> Event:
        """Take the pending request, which must be one of ``kinds``."""
        if rejection is not None and rejection.code < 400:
            raise LocalProtocolError("a rejection must be a 4yz or 5yz reply")
        event = self._awaiting
        if not isinstance(event, kinds):
            wanted = "/".join(k.__name__ for k in kinds)
            raise LocalProtocolError(f"no {wanted} is waiting for an answer (have {event!r})")
        self._awaiting = None
        return event

    # ------------------------------------------------- answers: connection

    def accept_connection(self, text: str | None = None) -> None:
        """Send the 220 greeting (RFC 5321 §4.3.1)."""
        if self.state is not State.GREETING:
            raise LocalProtocolError("the connection was already greeted")
        banner = text or ("LMTP ready" if self.lmtp else "ESMTP ready")
        self._send(Reply(220, None, f"{self.hostname} {banner}"))
        self.state = State.CONNECTED

    def refuse_connection(self, reply: Reply | None = None) -> None:
        """Refuse service: 554 then only QUIT is served, or 421 and close (RFC 5321 §3.1)."""
        if self.state is not State.GREETING:
            raise LocalProtocolError("the connection was already greeted")
        reply = reply or Reply(554, "5.3.2", f"{self.hostname} No SMTP service here")
        if reply.code not in (421, 554):
            raise LocalProtocolError("a refused greeting is 554 or 421")
        self._send(reply)
        self.state = State.CLOSED if reply.code == 421 else State.REFUSED

    def timeout(self) -> None:
        """The shell's idle timer fired: 421 4.4.2 and close (RFC 5321 §4.5.3.2.7)."""
        self._goodbye(Reply(421, "4.4.2", f"{self.hostname} Timeout, closing connection"))

    def shutdown(self) -> None:
        """The server is stopping: 421 4.3.2 and close (RFC 5321 §3.8)."""
        self._goodbye(Reply(421, "4.3.2", f"{self.hostname} Service shutting down"))

    def _goodbye(self, reply: Reply) -> None:
        if self.state is not State.CLOSED:
            self._send(reply)
            self._close()

    # ------------------------------------------------------ answers: hello

    def accept_helo(self, text: str | None = None) -> None:
        """Answer HELO/EHLO/LHLO with 250; for EHLO/LHLO, list the extensions."""
        event = self._answer(Helo, Ehlo, Lhlo)
        assert isinstance(event, Helo | Ehlo | Lhlo)
        self.client_domain = event.domain
        self.esmtp = not isinstance(event, Helo)
        self.state = State.READY
        first = text or self.hostname
        if not self.esmtp:
            self._send(Reply(250, None, first))
            return
        self._send(Reply(250, None, (first, *self.capabilities())))

    def capabilities(self) -> list[str]:
        """The EHLO/LHLO keywords offered now (STARTTLS disappears once TLS is on)."""
        caps = [
            "PIPELINING",  # RFC 2920
            f"SIZE {self.limits.max_message_size}",  # RFC 1870
            "8BITMIME",  # RFC 6152
            "SMTPUTF8",  # RFC 6531
            "ENHANCEDSTATUSCODES",  # RFC 2034
            "CHUNKING",  # RFC 3030
        ]
        if self.starttls_offered and not self.tls_active:
            caps.append("STARTTLS")  # RFC 3207 §4.2: not offered again after TLS
        return caps

    def reject_helo(self, reply: Reply) -> None:
        """Refuse HELO/EHLO/LHLO; any transaction is gone, the greeting state is unchanged."""
        self._answer(Helo, Ehlo, Lhlo, rejection=reply)
        self._send(reply)

    # --------------------------------------------------- answers: envelope

    def accept_mail(self, text: str = "Sender OK") -> None:
        event = self._answer(MailFrom)
        assert isinstance(event, MailFrom)
        self._smtputf8 = event.params.smtputf8
        self.state = State.MAIL
        self._send(Reply(250, "2.1.0", text))

    def reject_mail(self, reply: Reply) -> None:
        self._answer(MailFrom, rejection=reply)
        self._send(reply)

    def accept_rcpt(self, text: str = "Recipient OK") -> None:
        self._answer(RcptTo)
        self._recipients += 1
        self.state = State.RCPT
        self._send(Reply(250, "2.1.5", text))

    def reject_rcpt(self, reply: Reply) -> None:
        self._answer(RcptTo, rejection=reply)
        self._send(reply)

    # ------------------------------------------------------- answers: data

    def accept_data(self) -> None:
        """Send 354; the message follows as DataChunk events and a DataEnd."""
        self._answer(DataStart)
        self._transfer = MessageTransfer(self.limits)
        self._transfer.start_data()
        self.state = State.DATA
        self._send(_START_MAIL)

    def reject_data(self, reply: Reply) -> None:
        """Refuse DATA (the transaction stays; the client may RSET or QUIT)."""
        self._answer(DataStart, rejection=reply)
        self._send(reply)

    def accept_message(self, text: str = "Message accepted") -> None:
        """The message is safely stored: 250 (in LMTP once for every recipient)."""
        self._answer(DataEnd)
        reply = Reply(250, "2.0.0", text)
        for _ in range(self._recipients if self.lmtp else 1):
            self._send(reply)
        self._clear_transaction()

    def reject_message(self, reply: Reply) -> None:
        """The message is refused: ``reply`` (in LMTP once for every recipient)."""
        self._answer(DataEnd, rejection=reply)
        for _ in range(self._recipients if self.lmtp else 1):
            self._send(reply)
        self._clear_transaction()

    def per_recipient_results(self, replies: Sequence[Reply]) -> None:
        """LMTP (RFC 2033 §4.2): one reply per accepted RCPT, in RCPT order."""
        if not self.lmtp:
            raise LocalProtocolError("per-recipient results exist only in LMTP")
        if not isinstance(self._awaiting, DataEnd):
            raise LocalProtocolError("no DataEnd is waiting for an answer")
        if len(replies) != self._recipients:
            raise LocalProtocolError(f"need {self._recipients} replies, got {len(replies)}")
        self._awaiting = None
        for reply in replies:
            self._send(reply)
        self._clear_transaction()

    # ----------------------------------------------------- answers: STARTTLS

    def accept_starttls(self) -> int:
        """Send 220 and wait for the handshake; return how many octets were discarded.

        RFC 3207 §5 / the STARTTLS command-injection defence: anything the
        client pipelined after STARTTLS arrived in plaintext and is dropped.
        """
        self._answer(StartTLSRequested)
        self._send(_READY_FOR_TLS)
        self.state = State.TLS_HANDSHAKE
        self._discarding_line = False
        self._line_too_long = False
        return self._buffer.clear()

    def reject_starttls(self, reply: Reply | None = None) -> None:
        reply = reply or Reply(454, "4.7.0", "TLS not available due to temporary reason")
        self._answer(StartTLSRequested, rejection=reply)
        self._send(reply)

    def tls_established(self) -> None:
        """The handshake is done: back to the start, the client must EHLO again (RFC 3207 §4.2)."""
        if self.state is not State.TLS_HANDSHAKE:
            raise LocalProtocolError("tls_established() without an accepted STARTTLS")
        self.tls_active = True
        self.esmtp = False
        self.client_domain = None
        self._clear_transaction()
        self.state = State.CONNECTED
