"""atheris fuzz target for the pure SMTP/LMTP core (posteingang.smtp.proto).

Run:  python fuzz/fuzz_smtp.py [libFuzzer options, e.g. -max_total_time=60 corpus_dir]

The input decides the mode (SMTP or LMTP), the limits, how the input is cut
into reads and how every request is answered; the core must turn all of it
into events and well-formed replies.  Any exception is a finding, except
none: client mistakes never raise, and this driver makes no application
mistakes.  Without atheris installed the module still imports (so the test
suite can run :func:`TestOneInput` on a few seeds) and the script exits with
a message.
"""

from __future__ import annotations

import re
import sys

try:
    import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None

if atheris is not None:
    with atheris.instrument_imports():
        from posteingang.smtp import proto
else:
    from posteingang.smtp import proto

_REPLY_LINE = re.compile(rb"[2-5][0-9][0-9]([ -][^\r\n]*)?\r\n")


class _Bits:
    """A deterministic stream of choices taken from the front of the input."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def rest(self) -> bytes:
        return self._data[self._pos :]


def _answer(conn: proto.SMTPConnection, event: proto.Event, yes: bool) -> None:
    no = proto.Reply(550, "5.7.1", "no")
    if isinstance(event, proto.Helo | proto.Ehlo | proto.Lhlo):
        conn.accept_helo() if yes else conn.reject_helo(no)
    elif isinstance(event, proto.MailFrom):
        conn.accept_mail() if yes else conn.reject_mail(no)
    elif isinstance(event, proto.RcptTo):
        conn.accept_rcpt() if yes else conn.reject_rcpt(no)
    elif isinstance(event, proto.DataStart):
        conn.accept_data() if yes else conn.reject_data(no)
    elif isinstance(event, proto.DataEnd):
        if conn.lmtp and not yes:
            conn.per_recipient_results([no] * conn.recipient_count)
        else:
            conn.accept_message() if yes else conn.reject_message(no)
    elif isinstance(event, proto.StartTLSRequested):
        if yes:
            conn.accept_starttls()
            conn.tls_established()
        else:
            conn.reject_starttls()


def TestOneInput(data: bytes) -> None:
    bits = _Bits(data)
    flags = bits.byte()
    limits = proto.Limits(
        max_message_size=1 + bits.byte(),
        max_recipients=1 + bits.byte() % 4,
        max_errors=1 + bits.byte() % 32,
        bare_line_breaks=(
            proto.BareLineBreakPolicy.ACCEPT if flags & 4 else proto.BareLineBreakPolicy.REJECT
        ),
    )
    conn = proto.SMTPConnection(
        lmtp=bool(flags & 1), hostname="mx.example", limits=limits, starttls=bool(flags & 2)
    )
    conn.accept_connection()
    answers = bits.byte() | (bits.byte() << 8)
    cut = 1 + bits.byte()
    wire = bits.rest()
    out = bytearray()
    step = 0
    for start in range(0, len(wire), cut):
        conn.receive_data(wire[start : start + cut])
        while True:
            event = conn.next_event()
            if isinstance(event, proto.NeedData | proto.ConnectionClosed):
                break
            _answer(conn, event, yes=not (answers >> (step % 16)) & 1)
            step += 1
        out += conn.data_to_send()
        if conn.closed:
            break
    conn.receive_data(b"")
    final = conn.next_event()
    if not isinstance(final, proto.ConnectionClosed):
        raise AssertionError(f"after EOF: {final!r}, not ConnectionClosed")
    out += conn.data_to_send()
    pos = 0
    while pos < len(out):
        m = _REPLY_LINE.match(out, pos)
        if m is None:
            raise AssertionError(f"malformed reply at {pos}: {bytes(out[pos : pos + 60])!r}")
        pos = m.end()


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed (pip install atheris); nothing to fuzz")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
