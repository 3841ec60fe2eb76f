"""The sans-I/O SMTP/LMTP server connection: bytes in, events out, replies to bytes.

Theory of operation
-------------------
The shell feeds whatever it read with :meth:`SMTPConnection.receive_data`
(``b""`` for EOF) and then calls :meth:`next_event` until it returns
:class:`NeedData` or :class:`ConnectionClosed`; then it writes
:meth:`data_to_send`.  Because the shell writes only when the input runs
dry, the replies to a pipelined group leave in one batch (RFC 2920 §3.2).

Events that are *requests* (see :mod:`.events`) must be answered with one of
the ``accept_*``/``reject_*`` methods before :meth:`next_event` may be called
again; until then the core reads nothing further.  This is what keeps replies
in command order under pipelining, and lets the answer to MAIL decide how the
pipelined RCPT after it is treated.

The core answers protocol mistakes itself (out of sequence 503 5.5.1, unknown
500 5.5.2, syntax 501 5.5.4, unknown parameter 555 5.5.4, …) and reports them
as :class:`ProtocolError` events; after ``Limits.max_errors`` of them it says
421 and closes.  Which commands are valid in which state is the table
``ALLOWED`` in :mod:`.states`.

Mistakes of the *application* (answering when nothing is asked, answering the
wrong request) raise :class:`LocalProtocolError`.

This module is the reader (bytes to commands to events, and the replies the
core decides itself); the connection's state and the answers live in
:mod:`.answers` (`ConnectionAnswers`, the base class).

This module must never touch sockets, clocks, files or the store.  The
message body streams through as :class:`DataChunk` events; nothing here ever
holds a whole message.
"""

from __future__ import annotations

from . import commands as c
from .answers import ConnectionAnswers
from .envelope import check_mail, check_rcpt
from .events import (
    BdatChunk,
    ConnectionClosed,
    DataAborted,
    DataEnd,
    DataStart,
    Ehlo,
    Event,
    Helo,
    Lhlo,
    MailFrom,
    NeedData,
    Noop,
    ProtocolError,
    Quit,
    RcptTo,
    Reset,
    StartTLSRequested,
    Vrfy,
)
from .replies import LocalProtocolError, Reply
from .states import ALLOWED, State
from .transfer import TOO_BIG, MessageTransfer

__all__ = ["SMTPConnection", "State"]


# Replies the core sends on its own.
_OK = Reply(250, "2.0.0", "OK")
_BYE = Reply(221, "2.0.0", "Bye")
_LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")
_BARE_CR_COMMAND = Reply(500, "5.5.2", "Bare CR in command line")
_TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing connection")
_NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")
_VRFY = Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery")
_HELP = Reply(214, "2.0.0", "See RFC 5321")
# Replies counted towards Limits.max_errors: the client got the protocol wrong.
# (Not 452/552/553/554: a big mailing list must not be disconnected.)
_ERROR_CODES = frozenset({500, 501, 502, 503, 504, 555})


def _sequence(text: str) -> Reply:
    return Reply(503, "5.5.1", text)


class SMTPConnection(ConnectionAnswers):
    """One SMTP or LMTP server connection, as a pure state machine.

    ``hostname`` is our name in the greeting and EHLO reply.  ``starttls``
    says the shell can do STARTTLS (advertised until TLS is active);
    ``tls_active`` is for implicit-TLS listeners.
    """

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the client; ``b""`` means the client closed its side."""
        if self.state is State.CLOSED:
            return
        if self.state is State.TLS_HANDSHAKE:
            raise LocalProtocolError("no plaintext may be fed between STARTTLS and the handshake")
        if not data:
            self._eof = True
            return
        if self._discarding_line:
            # Drop an over-long command line as it arrives, keeping only what
            # follows its end: a 1 MB line is never held in memory.
            i = data.find(b"\n")
            if i < 0:
                return
            self._discarding_line = False
            self._line_too_long = True
            data = data[i + 1 :]
        self._buffer.append(data)

    def next_event(self) -> Event:
        """The next event; :class:`NeedData` when more input is needed."""
        if self._awaiting is not None:
            name = type(self._awaiting).__name__
            raise LocalProtocolError(f"answer the pending {name} first")
        if self._events:
            return self._pop()
        if self.state is State.GREETING:
            raise LocalProtocolError("call accept_connection() or refuse_connection() first")
        while True:
            if self.state is State.CLOSED:
                return ConnectionClosed()
            if self.state is State.TLS_HANDSHAKE:
                return NeedData()
            progressed = self._step()
            if self._events:
                return self._pop()
            if not progressed:
                if self._eof:
                    self._close()
                    continue
                return NeedData()

    def _pop(self) -> Event:
        event = self._events.popleft()
        if isinstance(event, _REQUESTS):
            self._awaiting = event
        return event

    # ------------------------------------------------------------- the reader

    def _step(self) -> bool:
        """Process some input; queue events.  False when nothing could be done."""
        if self.state is State.DATA:
            return self._step_data()
        if self.state is State.BDAT:
            return self._step_bdat()
        if self._line_too_long:
            self._line_too_long = False
            self._refuse(_LINE_TOO_LONG)
            return True
        if self._discarding_line:
            return False
        line = self._buffer.take_line()
        if line is None:
            if len(self._buffer) >= self.limits.max_command_line:
                # RFC 5321 §4.5.3.1.4: 500 for a line too long.  The reply
                # waits for the line's end so replies stay in step.
                self._buffer.clear()
                self._discarding_line = True
            return False
        if len(line) > self.limits.max_command_line:
            self._refuse(_LINE_TOO_LONG)
            return True
        # RFC 5321 §2.3.8 wants CRLF; a bare-LF command line is accepted (it
        # cannot smuggle anything: its reply goes back to the same client).
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if b"\r" in line:
            self._refuse(_BARE_CR_COMMAND)
            return True
        try:
            command = c.parse_command(line)
        except c.CommandError as exc:
            self._refuse(exc.reply)
            return True
        self._dispatch(command)
        return True

    def _step_data(self) -> bool:
        if not len(self._buffer):
            return False
        outcome = self._transfer.read_data(self._buffer, self._events)
        if isinstance(outcome, Reply):
            self._abort_message(outcome, per_recipient=True)
        elif outcome is not None:
            self.state = State.RCPT  # until the DataEnd answer
            self._events.append(outcome)
        return True

    def _step_bdat(self) -> bool:
        complete = self._transfer.read_chunk(self._buffer, self._events)
        if not complete:
            return complete is not None
        # The chunk is complete (RFC 3030 §2: the reply follows the octets).
        reply = self._bdat_reply
        if reply is not None:
            self._bdat_reply = None
            if reply is TOO_BIG:
                self._abort_message(reply, per_recipient=self._bdat_last)
            else:
                self.state = self._bdat_resume
                self._refuse(reply)
        elif self._bdat_last:
            self.state = State.RCPT  # until the DataEnd answer
            self._events.append(self._transfer.chunks_end())
        else:
            self.state = State.BDAT_MORE
            self._send(Reply(250, "2.0.0", f"{self._bdat_size} octets received"))
        return True

    # ------------------------------------------------------------- commands

    def _dispatch(self, command: c.Command) -> None:
        if self.state is State.REFUSED and not isinstance(command, c.QuitCommand):
            # RFC 5321 §3.1: after a 554 greeting, 503 to everything but QUIT.
            self._refuse(_sequence("No SMTP service here"))
            return
        if isinstance(command, c.UnimplementedCommand):
            self._refuse(c.NOT_IMPLEMENTED)
            return
        if isinstance(command, c.HeloCommand):
            self._on_helo(command)
            return
        if isinstance(command, c.BdatCommand):
            self._on_bdat(command)
            return
        if isinstance(command, c.StartTLSCommand):
            self._on_starttls()
            return
        if self.state not in ALLOWED[type(command)]:
            self._refuse_out_of_sequence(command)
            return
        if isinstance(command, c.MailCommand):
            self._on_mail(command)
        elif isinstance(command, c.RcptCommand):
            self._on_rcpt(command)
        elif isinstance(command, c.DataCommand):
            self._events.append(DataStart())
        elif isinstance(command, c.RsetCommand):
            self._clear_transaction()
            self._send(_OK)
            self._events.append(Reset())
        elif isinstance(command, c.NoopCommand):
            self._send(_OK)
            self._events.append(Noop())
        elif isinstance(command, c.QuitCommand):
            self._send(_BYE)
            self._events.append(Quit())
            self.state = State.CLOSED
        elif isinstance(command, c.VrfyCommand):
            # RFC 5321 §3.5.3: 252 when we will not verify (user enumeration).
            self._send(_VRFY)
            self._events.append(Vrfy(command.argument))
        else:
            self._send(_HELP)

    def _refuse_out_of_sequence(self, command: c.Command) -> None:
        state = self.state
        hello = "LHLO" if self.lmtp else "EHLO/HELO"
        if state is State.CONNECTED:
            self._refuse(_sequence(f"Send {hello} first"))
        elif isinstance(command, c.MailCommand):
            self._refuse(_sequence("Nested MAIL command"))
        elif isinstance(command, c.RcptCommand):
            self._refuse(_sequence("Need MAIL before RCPT"))
        elif isinstance(command, c.DataCommand):
            if state is State.MAIL:
                self._refuse(_NO_VALID_RECIPIENTS)
            elif state is State.BDAT_MORE:
                # RFC 3030 §2: DATA after BDAT in one transaction is a 503,
                # and the transaction is then void.
                self._abort_message(_sequence("DATA not allowed after BDAT"), per_recipient=False)
            else:
                self._refuse(_sequence("Need MAIL and RCPT before DATA"))
        else:  # pragma: no cover - every other command is allowed in all command states
            self._refuse(_sequence("Bad sequence of commands"))

    def _on_helo(self, command: c.HeloCommand) -> None:
        if (command.verb == "LHLO") != self.lmtp:
            expected = "LHLO" if self.lmtp else "EHLO or HELO"
            self._refuse(Reply(500, "5.5.1", f"Use {expected}"))
            return
        # RFC 5321 §4.1.4: EHLO in the middle of a transaction is like RSET.
        self._clear_transaction()
        if command.verb == "HELO":
            self._events.append(Helo(command.domain))
        elif command.verb == "EHLO":
            self._events.append(Ehlo(command.domain))
        else:
            self._events.append(Lhlo(command.domain))

    def _on_mail(self, command: c.MailCommand) -> None:
        result = check_mail(command, esmtp=self.esmtp, max_size=self.limits.max_message_size)
        if isinstance(result, Reply):
            self._refuse(result)
        else:
            self._events.append(result)

    def _on_rcpt(self, command: c.RcptCommand) -> None:
        result = check_rcpt(
            command,
            smtputf8=self._smtputf8,
            recipients=self._recipients,
            max_recipients=self.limits.max_recipients,
        )
        if isinstance(result, Reply):
            self._refuse(result)
        else:
            self._events.append(result)

    def _on_bdat(self, command: c.BdatCommand) -> None:
        # RFC 3030 §2: the chunk's octets follow the command whatever we think
        # of it, so even a refused BDAT has its octets read and dropped;
        # otherwise they would be taken for commands.
        if command.size > self.limits.max_message_size:
            # A chunk bigger than the advertised SIZE can never be taken, and
            # reading (and dropping) up to 10^19 octets would leave the client
            # without a reply for ever: answer at once, as Dovecot does, and end
            # the transaction.  Octets the client sends anyway are read as
            # command lines and refused one by one; the session stays usable.
            if self.state in (State.RCPT, State.BDAT_MORE):
                self._abort_message(TOO_BIG, per_recipient=command.last)
            else:
                self._refuse(TOO_BIG)
            return
        self._bdat_size = command.size
        self._bdat_last = command.last
        self._bdat_resume = self.state
        refusal: Reply | None = None
        if not self.esmtp:
            refusal = _sequence("Send LHLO first" if self.lmtp else "CHUNKING needs EHLO")
        elif self.state is State.MAIL:
            refusal = _NO_VALID_RECIPIENTS
        elif self.state not in ALLOWED[c.BdatCommand]:
            refusal = _sequence("Need MAIL and RCPT before BDAT")
        if self.state is State.RCPT:
            self._transfer = MessageTransfer(self.limits)
        too_big = self._transfer.start_chunk(command.size, discard=refusal is not None)
        self._bdat_reply = refusal or too_big
        if self._bdat_reply is None:
            first = self.state is State.RCPT
            self._events.append(BdatChunk(command.size, command.last, first))
        self.state = State.BDAT

    def _on_starttls(self) -> None:
        if not self.starttls_offered:
            self._refuse(c.NOT_IMPLEMENTED)
        elif self.tls_active:
            self._refuse(_sequence("TLS already active"))
        elif not self.esmtp:
            self._refuse(_sequence("Send EHLO first"))  # STARTTLS is an extension
        elif self.state is not State.READY:
            self._refuse(_sequence("STARTTLS not allowed during a mail transaction"))
        else:
            self._events.append(StartTLSRequested())

    # -------------------------------------------------------------- helpers

    def _refuse(self, reply: Reply) -> None:
        """Send an error reply the core decided on, and report it."""
        self._send(reply)
        self._events.append(ProtocolError(reply))
        if reply.code in _ERROR_CODES:
            self._errors += 1
            if self._errors >= self.limits.max_errors:
                self._send(_TOO_MANY_ERRORS)
                self._close()

    def _abort_message(self, reply: Reply, *, per_recipient: bool) -> None:
        """End a transaction whose message failed; LMTP answers once per recipient."""
        times = self._recipients if (self.lmtp and per_recipient) else 1
        for _ in range(max(times, 1)):
            self._send(reply)
        self._events.append(DataAborted(reply))
        self._clear_transaction()


_REQUESTS = (Helo, Ehlo, Lhlo, MailFrom, RcptTo, DataStart, DataEnd, StartTLSRequested)
