"""Fuzz the pure IMAP core: command reader, command parsers, mUTF-7, sequence sets.

Run (atheris is not a project dependency; install it in a scratch venv)::

    python fuzz/fuzz_imap_reader.py -max_total_time=300

The first input byte picks the chunk size, whether UTF8=ACCEPT is on and
whether announced literals are rejected; the rest is the client's byte
stream.  Any exception is a bug, and so is any of:

* an event other than the reader's documented ones;
* a BAD/NO that is not exactly one CRLF-terminated line;
* different events for the same bytes fed whole and fed in chunks
  (the reader must be resumable);
* a reader that holds more than ``max_line`` + one chunk of line data.

The same bytes also go through the strict mUTF-7 decoder (whatever it accepts
must re-encode to the same bytes) and the sequence-set parser.
"""

from __future__ import annotations

import sys

try:
    import atheris
except ImportError:  # pragma: no cover - atheris is optional
    atheris = None

if atheris is not None:
    with atheris.instrument_imports():
        from posteingang.imap.proto import commands, mutf7, reader
        from posteingang.imap.proto.sequence import SequenceSet, SequenceSetError
else:
    from posteingang.imap.proto import commands, mutf7, reader
    from posteingang.imap.proto.sequence import SequenceSet, SequenceSetError

MAX_LINE = 200


def _events(stream: bytes, chunk: int, utf8: bool, reject: bool) -> list[reader.Event]:
    r = reader.CommandReader(max_line=MAX_LINE, max_literal=300, max_command=2000, utf8=utf8)
    out: list[reader.Event] = []
    for i in range(0, len(stream), chunk):
        r.feed(stream[i : i + chunk])
        while True:
            ev = r.next_event()
            if isinstance(ev, reader.NeedData):
                break
            out.append(ev)
            if isinstance(ev, reader.LiteralExpected) and reject and ev.size % 2:
                r.reject_literal()
            elif isinstance(ev, reader.ProtocolError | reader.LiteralTooLarge):
                assert ev.response.endswith(b"\r\n"), ev
                assert ev.response.count(b"\n") == 1, ev
            elif isinstance(ev, reader.CommandReady):
                if isinstance(ev.command, commands.Idle | commands.Authenticate):
                    r.expect_continuation()
            else:
                assert isinstance(ev, reader.LiteralExpected | reader.ContinuationLine), ev
        assert r.buffered <= MAX_LINE + 2 + chunk + 300, r.buffered
    return out


def _drive(data: bytes) -> None:
    if not data:
        return
    control, stream = data[0], data[1:]
    chunk = (control & 0x1F) + 1
    utf8 = bool(control & 0x20)
    reject = bool(control & 0x40)
    whole = _events(stream, max(len(stream), 1), utf8, reject)
    assert _events(stream, chunk, utf8, reject) == whole

    try:
        name = mutf7.decode(stream[:64])
    except mutf7.MUTF7Error:
        pass
    else:
        assert mutf7.encode(name) == stream[:64]

    try:
        seq = SequenceSet.parse(stream[:64])
    except SequenceSetError:
        pass
    else:
        if not seq.saved:
            assert SequenceSet.parse(seq.to_bytes()) == seq
            numbers = seq.resolve(control + 1)
            assert all(1 <= lo <= hi <= control + 1 for lo, hi in numbers)


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed; see the module docstring")
    atheris.Setup(sys.argv, _drive)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
