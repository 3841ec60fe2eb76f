"""Fuzz the pure POP3 core: command reader, state machine, dot-stuffer, TOP and size counter.

Run (atheris is not a project dependency; install it in a scratch venv)::

    python fuzz/fuzz_pop3.py -max_total_time=300

The first input byte picks how chunks are cut and how commands are answered,
the rest is the client's byte stream. Anything but a command event, `NeedData`,
`Paused`, `ConnectionClosed` or a well-formed ``-ERR`` reply is a bug, as is any
exception. The same bytes also go through `DotStuffer`/`OctetCounter`/`TopFilter`,
which must agree with their whole-message forms.
"""

from __future__ import annotations

import sys

try:
    import atheris
except ImportError:  # pragma: no cover - atheris is optional
    atheris = None

if atheris is not None:
    with atheris.instrument_imports():
        from posteingang.pop3 import proto
else:
    from posteingang.pop3 import proto


def _drive(data: bytes) -> None:
    if not data:
        return
    control, stream = data[0], data[1:]
    chunk = (control & 0x0F) + 1
    answers = [proto.Ok(), proto.Err("no"), proto.Continuation(b"x")]
    conn = proto.POP3Connection()
    pos = 0
    turn = control >> 4
    for _ in range(len(stream) * 4 + 16):
        event = conn.next_event()
        if isinstance(event, proto.NeedData):
            if pos >= len(stream):
                conn.receive_data(b"")
            else:
                conn.receive_data(stream[pos : pos + chunk])
                pos += chunk
        elif isinstance(event, proto.ConnectionClosed):
            break
        elif isinstance(event, proto.ProtocolError):
            assert event.reply.startswith(b"-ERR") and event.reply.endswith(b"\r\n")
        elif isinstance(event, proto.Paused):
            assert conn.state is proto.State.TLS_HANDSHAKE
            conn.tls_established()
        else:
            turn += 1
            try:
                conn.send(answers[turn % 3])
            except proto.LocalProtocolError:
                conn.send(proto.Err("no"))

    stuffer = proto.DotStuffer()
    counter = proto.OctetCounter()
    wire = b""
    for i in range(0, len(stream), chunk):
        wire += stuffer.feed(stream[i : i + chunk])
        counter.feed(stream[i : i + chunk])
    wire += stuffer.finish()
    assert wire == proto.dot_stuff(stream)
    assert counter.finish() == proto.octet_count(stream)
    offset = proto.find_body_offset(stream)
    cut = proto.TopFilter(offset, control & 0x07)
    top = b"".join(cut.feed(stream[i : i + chunk]) for i in range(0, len(stream), chunk))
    assert top == proto.top(stream, offset, control & 0x07)


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed; see the module docstring")
    atheris.Setup(sys.argv, _drive)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
