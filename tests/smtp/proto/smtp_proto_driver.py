"""A scripted application for SMTPConnection tests: answers requests by simple rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from posteingang.smtp.proto import (
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
)

NO_SUCH_USER = Reply(550, "5.1.1", "No such user")


@dataclass
class Driver:
    """Feeds bytes, answers every request, records events and delivered messages.

    Recipients whose local part starts with ``bad`` are rejected; senders
    starting with ``spammer`` are rejected.  ``on_data_end`` may answer
    DataEnd itself (for LMTP per-recipient results).
    """

    lmtp: bool = False
    limits: Limits = field(default_factory=Limits)
    starttls: bool = False
    on_data_end: Callable[[SMTPConnection, DataEnd], None] | None = None
    conn: SMTPConnection = field(init=False)
    events: list[Event] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    discarded_plaintext: int = 0
    _current: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.conn = SMTPConnection(
            lmtp=self.lmtp, hostname="mx.example", limits=self.limits, starttls=self.starttls
        )
        self.conn.accept_connection()
        self.greeting = self.conn.data_to_send()

    def feed(self, data: bytes) -> bytes:
        """Feed bytes, run to NeedData/ConnectionClosed, return the replies."""
        self.conn.receive_data(data)
        self.pump()
        return self.conn.data_to_send()

    def pump(self) -> None:
        while True:
            event = self.conn.next_event()
            self.events.append(event)
            if isinstance(event, NeedData | ConnectionClosed):
                return
            self.answer(event)

    def answer(self, event: Event) -> None:
        conn = self.conn
        if isinstance(event, Helo | Ehlo | Lhlo):
            conn.accept_helo()
        elif isinstance(event, MailFrom):
            if event.address is not None and event.address.local_part.startswith("spammer"):
                conn.reject_mail(Reply(550, "5.7.1", "Go away"))
            else:
                conn.accept_mail()
        elif isinstance(event, RcptTo):
            if event.address.local_part.startswith("bad"):
                conn.reject_rcpt(NO_SUCH_USER)
            else:
                conn.accept_rcpt()
        elif isinstance(event, DataStart):
            self._current.clear()
            conn.accept_data()
        elif isinstance(event, DataChunk):
            self._current += event.data
        elif isinstance(event, DataEnd):
            self.messages.append(bytes(self._current))
            self._current.clear()
            if self.on_data_end is not None:
                self.on_data_end(conn, event)
            else:
                conn.accept_message()
        elif isinstance(event, DataAborted):
            self._current.clear()
        elif isinstance(event, StartTLSRequested):
            self.discarded_plaintext = conn.accept_starttls()

    def of_type(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def ehlo(driver: Driver) -> bytes:
    return driver.feed(b"LHLO c.example\r\n" if driver.lmtp else b"EHLO c.example\r\n")
