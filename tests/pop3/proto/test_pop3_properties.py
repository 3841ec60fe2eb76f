"""Hypothesis: any byte stream, in any state, gives events or -ERR replies, never an exception."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.pop3.proto import (
    Command,
    ConnectionClosed,
    Continuation,
    Err,
    LocalProtocolError,
    NeedData,
    Ok,
    Paused,
    POP3Connection,
    ProtocolError,
    State,
)

from .helpers import conn_in

# Pieces that steer the stream into deep states, mixed with raw noise.
TOKENS = [
    b"USER bob\r\n",
    b"PASS secret\r\n",
    b"APOP bob c4c9334bac560ecc979e58001b3e22fb\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH PLAIN =\r\n",
    b"AGJvYgBzZWNyZXQ=\r\n",
    b"*\r\n",
    b"STLS\r\n",
    b"UTF8\r\n",
    b"CAPA\r\n",
    b"LANG *\r\n",
    b"STAT\r\n",
    b"LIST 1\r\n",
    b"RETR 0\r\n",
    b"TOP 1 5\r\n",
    b"UIDL\r\n",
    b"QUIT\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"A" * 300,
    b"\x00",
    b"\xff",
    b" ",
]

streams = st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=40)), max_size=30).map(
    b"".join
)


def run(stream: bytes, seed: int, conn: POP3Connection) -> None:
    """Feed `stream` in random chunks, answer every command with a random reply kind."""
    rng = random.Random(seed)
    pos = 0
    steps = 0
    while steps < 10_000:
        steps += 1
        event = conn.next_event()
        if isinstance(event, NeedData):
            if pos >= len(stream):
                conn.receive_data(b"")
                continue
            size = rng.randint(1, 64)
            conn.receive_data(stream[pos : pos + size])
            pos += size
        elif isinstance(event, ConnectionClosed):
            return
        elif isinstance(event, ProtocolError):
            assert event.reply.startswith(b"-ERR")
            assert event.reply.endswith(b"\r\n")
            assert event.reply.count(b"\n") == 1
            assert len(event.reply) <= 512
        elif isinstance(event, Paused):
            if conn.state is State.TLS_HANDSHAKE:
                conn.tls_established()
            else:
                raise AssertionError("paused with nothing to answer")
        else:
            assert isinstance(event, Command)
            assert conn.pending == event
            choice = rng.choice([Ok(), Err("no"), Continuation(b"c")])
            try:
                conn.send(choice)
            except LocalProtocolError:
                conn.send(Err("no"))  # Err is always a valid answer
    raise AssertionError("no progress")


@settings(max_examples=400, deadline=None)
@given(stream=streams, seed=st.integers(0, 2**32))
def test_any_stream_gives_events_or_errors(stream: bytes, seed: int) -> None:
    run(stream, seed, POP3Connection())


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from(
        [State.AUTHORIZATION, State.USER_ACCEPTED, State.SASL, State.TRANSACTION]
    ),
    line=st.binary(max_size=300),
    seed=st.integers(0, 2**32),
)
def test_every_state_with_any_line(state: State, line: bytes, seed: int) -> None:
    conn = conn_in(state)
    conn.receive_data(line + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, Command | ProtocolError)
    if isinstance(event, Command):
        assert len(line) + 2 <= (16384 if state is State.SASL else 255)
        conn.send(Err("no"))
    run(b"", seed, conn)  # and the connection still works to the end
