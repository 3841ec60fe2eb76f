"""The command reader: literals, limits, resynchronisation, continuation lines, resumability."""

from __future__ import annotations

import io
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.imap.proto import commands as c
from posteingang.imap.proto.literals import SpooledLiteral
from posteingang.imap.proto.reader import (
    CommandReader,
    CommandReady,
    ContinuationLine,
    Event,
    LiteralExpected,
    LiteralTooLarge,
    NeedData,
    ProtocolError,
)


def drain(reader: CommandReader) -> list[Event]:
    out: list[Event] = []
    while not isinstance(ev := reader.next_event(), NeedData):
        out.append(ev)
        if isinstance(ev, CommandReady) and isinstance(ev.command, c.Idle | c.Authenticate):
            reader.expect_continuation()
    return out


def run(chunks: list[bytes], **kwargs: object) -> list[Event]:
    reader = CommandReader(**kwargs)  # type: ignore[arg-type]
    out: list[Event] = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(drain(reader))
    return out


def commands(events: list[Event]) -> list[c.Command]:
    return [e.command for e in events if isinstance(e, CommandReady)]


def test_missing_crlf_means_need_data_and_bare_lf_is_accepted() -> None:
    reader = CommandReader()
    reader.feed(b"a NOOP")
    assert isinstance(reader.next_event(), NeedData)
    reader.feed(b"\r")
    assert isinstance(reader.next_event(), NeedData)
    reader.feed(b"\n")
    assert reader.next_event() == CommandReady(c.Noop(b"a"))
    reader.feed(b"b NOOP\n")
    assert reader.next_event() == CommandReady(c.Noop(b"b"))


def test_synchronizing_literal_is_announced_before_its_bytes() -> None:
    reader = CommandReader()
    reader.feed(b"a LOGIN {4}\r\n")
    assert reader.next_event() == LiteralExpected(b"a", b"LOGIN", 4, True, False)
    assert isinstance(reader.next_event(), NeedData)
    reader.feed(b"fred")
    assert isinstance(reader.next_event(), NeedData)
    reader.feed(b" pw\r\n")
    assert reader.next_event() == CommandReady(c.Login(b"a", b"fred", b"pw"))


def test_crlf_and_command_text_inside_a_literal_are_data() -> None:
    body = b"b LOGOUT\r\nc NOOP\r\n"
    evs = run([b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\nd NOOP\r\n"])
    assert commands(evs) == [
        c.Append(b"a", "INBOX", (c.AppendMessage(body),)),
        c.Noop(b"d"),
    ]


def test_rejected_synchronizing_literal_drops_the_command_only() -> None:
    reader = CommandReader()
    reader.feed(b"a APPEND INBOX {100}\r\nb NOOP\r\n")
    ev = reader.next_event()
    assert isinstance(ev, LiteralExpected) and ev.synchronizing
    reader.reject_literal()
    # The client never sends the literal; its next line is a new command.
    assert reader.next_event() == CommandReady(c.Noop(b"b"))


def test_rejected_nonsync_literal_is_skipped_not_executed() -> None:
    reader = CommandReader()
    reader.feed(b"a APPEND INBOX {14+}\r\nb DELETE INBOX x\r\nc NOOP\r\n")
    assert isinstance(reader.next_event(), LiteralExpected)
    reader.reject_literal()
    assert reader.next_event() == CommandReady(c.Noop(b"c"))


def test_reject_literal_only_right_after_the_announcement() -> None:
    reader = CommandReader()
    try:
        reader.reject_literal()
    except RuntimeError:
        pass
    else:
        raise AssertionError("reject_literal() must refuse when no literal is pending")


def test_too_large_sync_literal_gets_no_toobig_and_reader_continues() -> None:
    evs = run([b"a APPEND INBOX {1000}\r\nb NOOP\r\n"], max_literal=999)
    assert evs[0] == LiteralTooLarge(
        b"a", 1000, True, False, b"a NO [TOOBIG] literal too large\r\n"
    )
    assert commands(evs) == [c.Noop(b"b")]


def test_too_large_nonsync_literal_is_skipped_with_bad() -> None:
    payload = b"x NOOP\r\n" * 200
    evs = run(
        [b"a APPEND INBOX {%d+}\r\n" % len(payload), payload, b" {3+}\r\nabc\r\nb NOOP\r\n"],
        max_literal=100,
    )
    assert isinstance(evs[0], LiteralTooLarge)
    assert evs[0].response.startswith(b"a BAD [TOOBIG]")
    assert evs[0].skipping
    # Neither the skipped literal nor the rest of the refused command ran.
    assert commands(evs) == [c.Noop(b"b")]


def test_literal_minus_limits_nonsync_literals_to_4096() -> None:
    evs = run(
        [b"a APPEND INBOX {4097+}\r\n" + b"x" * 4097 + b"\r\nb NOOP\r\n"], max_nonsync_literal=4096
    )
    assert isinstance(evs[0], LiteralTooLarge)
    assert b"LITERAL-" in evs[0].response
    assert commands(evs) == [c.Noop(b"b")]
    ok = run([b"a APPEND INBOX {4096+}\r\n" + b"x" * 4096 + b"\r\n"], max_nonsync_literal=4096)
    assert len(commands(ok)) == 1


def test_absurd_literal_size_is_too_large_not_a_crash() -> None:
    evs = run([b"a LOGIN {" + b"9" * 5000 + b"}\r\nb NOOP\r\n"], max_line=10000)
    assert isinstance(evs[0], LiteralTooLarge)
    assert commands(evs) == [c.Noop(b"b")]


def test_literal_without_tag_is_refused_untagged() -> None:
    evs = run([b"{3+}\r\nabc\r\nb NOOP\r\n"])
    assert evs[0] == ProtocolError(None, b"* BAD missing or invalid tag\r\n")
    assert commands(evs) == [c.Noop(b"b")]


def test_command_memory_budget() -> None:
    evs = run([b"a LOGIN {600}\r\n" + b"u" * 600 + b" {600}\r\n"], max_command=1000)
    assert isinstance(evs[-1], LiteralTooLarge)
    assert b"command too large" in evs[-1].response


def test_overlong_line_is_refused_and_never_buffered() -> None:
    reader = CommandReader(max_line=1000)
    reader.feed(b"a LOGIN ")
    assert isinstance(reader.next_event(), NeedData)
    chunk = b"x" * 65536
    errors = []
    for _ in range(160):  # 10 MiB in total
        reader.feed(chunk)
        errors.extend(drain(reader))
        assert reader.buffered <= len(chunk)
    reader.feed(b"\r\nb NOOP\r\n")
    errors.extend(drain(reader))
    assert errors == [
        ProtocolError(b"a", b"a BAD line too long\r\n"),
        CommandReady(c.Noop(b"b")),
    ]


def test_overlong_line_in_one_piece_gives_the_same_answer() -> None:
    data = b"a LOGIN " + b"x" * 5000 + b"\r\nb NOOP\r\n"
    assert run([data], max_line=1000) == run([data[:1500], data[1500:]], max_line=1000)


def test_overlong_line_ending_in_nonsync_literal_skips_the_literal() -> None:
    data = b"a APPEND " + b"x" * 5000 + b" {8+}\r\nc NOOP\r\n\r\nb NOOP\r\n"
    for split in (10, 3000, 5010, len(data)):
        evs = run([data[:split], data[split:]], max_line=1000)
        assert commands(evs) == [c.Noop(b"b")], split


def test_idle_done_and_authenticate_continuations_are_raw_lines() -> None:
    evs = run([b"a IDLE\r\nDONE\r\nb AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\nc NOOP\r\n"])
    assert evs == [
        CommandReady(c.Idle(b"a")),
        ContinuationLine(b"DONE"),
        CommandReady(c.Authenticate(b"b", "PLAIN")),
        ContinuationLine(b"AHVzZXIAcGFzcw=="),
        CommandReady(c.Noop(b"c")),
    ]


def test_authenticate_cancel_star_and_overlong_continuation() -> None:
    reader = CommandReader(max_line=50)
    reader.expect_continuation()
    reader.feed(b"*\r\n")
    assert reader.next_event() == ContinuationLine(b"*")
    reader.expect_continuation()
    reader.feed(b"A" * 200 + b"\r\na NOOP\r\n")
    assert reader.next_event() == ProtocolError(None, b"* BAD continuation line too long\r\n")
    assert reader.next_event() == CommandReady(c.Noop(b"a"))


def test_large_literal_spools_to_the_caller_sink() -> None:
    sinks: list[io.BytesIO] = []

    def factory(size: int) -> io.BytesIO:
        sink = io.BytesIO()
        sinks.append(sink)
        return sink

    reader = CommandReader(spool_threshold=1000, spool_factory=factory, max_command=2000)
    message = b"Subject: hi\r\n\r\n" + b"y" * 100_000
    reader.feed(b"a APPEND INBOX (\\Seen) {%d}\r\n" % len(message))
    assert isinstance(reader.next_event(), LiteralExpected)
    for i in range(0, len(message), 7000):
        reader.feed(message[i : i + 7000])
        assert isinstance(reader.next_event(), NeedData)
        assert reader.buffered == 0  # streamed out, not held
    reader.feed(b" {3}\r\n")
    assert isinstance(reader.next_event(), LiteralExpected)
    reader.feed(b"abc\r\n")
    ev = reader.next_event()
    assert isinstance(ev, CommandReady) and isinstance(ev.command, c.Append)
    big, small = ev.command.messages
    assert isinstance(big.data, SpooledLiteral)
    assert big.data.size == len(message)
    assert sinks[0].getvalue() == message
    assert small.data == b"abc"  # below the threshold: in memory
    assert len(sinks) == 1


def test_spooled_literal_where_a_string_is_expected_is_bad() -> None:
    evs = run(
        [b"a LOGIN {2000}\r\n" + b"u" * 2000 + b" pw\r\n"],
        spool_threshold=1000,
        spool_factory=lambda size: io.BytesIO(),
    )
    assert isinstance(evs[-1], ProtocolError)
    assert b"literal too large for this argument" in evs[-1].response


def test_utf8_switch_applies_to_the_next_pipelined_command() -> None:
    reader = CommandReader()
    reader.feed('a ENABLE UTF8=ACCEPT\r\nb SELECT "Entwürfe"\r\n'.encode())
    assert reader.next_event() == CommandReady(c.Enable(b"a", ("UTF8=ACCEPT",)))
    reader.utf8 = True
    assert reader.next_event() == CommandReady(c.Select(b"b", "Entwürfe"))


def test_reading_is_linear_in_input_size() -> None:
    # One octet at a time through a 100 KB line and a 100 KB literal: a reader
    # that rescans from the line start would take many minutes, not a second.
    line = b"a LOGIN " + b"x" * 100_000 + b" {100000}\r\n"
    literal = b"z" * 100_000 + b"\r\n"
    reader = CommandReader(max_line=1 << 20, max_command=1 << 21)
    start = time.perf_counter()
    seen = []
    for data in (line, literal):
        for i in range(len(data)):
            reader.feed(data[i : i + 1])
            ev = reader.next_event()
            if not isinstance(ev, NeedData):
                seen.append(type(ev))
    assert seen == [LiteralExpected, CommandReady]
    assert time.perf_counter() - start < 10


def test_many_pipelined_commands_in_one_feed() -> None:
    reader = CommandReader()
    reader.feed(b"a NOOP\r\n" * 20000)
    start = time.perf_counter()
    assert len(drain(reader)) == 20000
    assert time.perf_counter() - start < 10


# -- properties ------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        b"a ", b"b1 ", b"NOOP", b"LOGIN ", b"APPEND INBOX ", b"FETCH 1:* ", b"SEARCH ",
        b"UID ", b"IDLE", b"DONE", b"AUTHENTICATE PLAIN", b"(", b")", b'"', b"\\", b" ",
        b"{0}\r\n", b"{3}\r\n", b"{2+}\r\n", b"~{1}\r\n", b"{99999999999}\r\n", b"\r\n", b"\n",
        b"\r", b"\0", b"\xff", b"*", b"%", b"[", b"]", b"<0.5>", b"BODY[", b"x" * 40,
        b"OR ", b"NOT ", b"ALL", b"FLAGS", b"(\\Seen)", b"&AGE-", b"$", b"1,2:4",
    ]
)  # fmt: skip
_COMMAND_LINES = st.sampled_from(
    [
        b"a NOOP\r\n", b"b LOGIN {3}\r\nfoo {2+}\r\npw\r\n", b"c IDLE\r\nDONE\r\n",
        b"d APPEND INBOX (\\Seen) {5}\r\nhello\r\n", b"e UID FETCH 1:* (FLAGS BODY[])\r\n",
        b"f SEARCH OR SEEN (NOT FROM x)\r\n", b'g LIST "" *\r\n', b"h AUTHENTICATE PLAIN\r\n=\r\n",
        b"i APPEND x ~{2}\r\n\0\0\r\n", b"j SELECT INBOX (CONDSTORE)\r\n",
    ]
)  # fmt: skip
_STREAM = st.lists(st.one_of(_COMMAND_LINES, _PIECES, st.binary(max_size=12)), max_size=40).map(
    b"".join
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STREAM, st.lists(st.integers(min_value=0, max_value=600), max_size=12))
def test_any_stream_any_split_gives_the_same_events(data: bytes, cuts: list[int]) -> None:
    limits = {"max_line": 64, "max_literal": 50, "max_command": 200}
    whole = run([data], **limits)
    assert run(_split(data, cuts), **limits) == whole
    assert run([data[i : i + 1] for i in range(len(data))], **limits) == whole
    for ev in whole:
        if isinstance(ev, ProtocolError | LiteralTooLarge):
            assert ev.response.endswith(b"\r\n") and ev.response.count(b"\n") == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    evs = run([data], max_line=100, max_literal=100)
    for ev in evs:
        assert isinstance(
            ev, CommandReady | ProtocolError | LiteralExpected | LiteralTooLarge | ContinuationLine
        )


def test_overlong_continuation_line_never_counts_as_a_literal() -> None:
    reader = CommandReader(max_line=20)
    reader.expect_continuation()
    reader.feed(b"x" * 30 + b" {5+}\r\na NOOP\r\n")
    assert isinstance(reader.next_event(), ProtocolError)
    assert reader.next_event() == CommandReady(c.Noop(b"a"))


def test_number_of_literals_per_command_is_capped() -> None:
    evs = run([b"a APPEND INBOX" + b" {1+}\r\nx" * 5 + b"\r\nb NOOP\r\n"], max_literals=3)
    assert isinstance(evs[3], LiteralTooLarge)
    assert b"too many literals" in evs[3].response
    assert commands(evs) == [c.Noop(b"b")]
