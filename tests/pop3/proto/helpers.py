"""Shared drivers for the POP3 core tests: put a connection into a state, run lines through it."""

from __future__ import annotations

from posteingang.pop3.proto import (
    Continuation,
    Event,
    NeedData,
    Ok,
    POP3Connection,
    ProtocolError,
    State,
)


def feed_line(conn: POP3Connection, line: bytes) -> Event:
    """Send one line (CRLF added) and return the first event it produces."""
    conn.receive_data(line + b"\r\n")
    return conn.next_event()


def conn_in(state: State, *, tls_active: bool = False) -> POP3Connection:
    """A fresh connection driven, through the protocol, into `state`."""
    conn = POP3Connection(tls_active=tls_active)
    if state is State.AUTHORIZATION:
        return conn
    if state is State.USER_ACCEPTED:
        feed_line(conn, b"USER bob")
        conn.send(Ok())
    elif state is State.SASL:
        feed_line(conn, b"AUTH PLAIN")
        conn.send(Continuation())
    elif state is State.TLS_HANDSHAKE:
        feed_line(conn, b"STLS")
        conn.send(Ok("Begin TLS negotiation"))
    elif state is State.TRANSACTION:
        feed_line(conn, b"USER bob")
        conn.send(Ok())
        feed_line(conn, b"PASS secret")
        conn.send(Ok("maildrop ready"))
    elif state is State.UPDATE:
        conn = conn_in(State.TRANSACTION)
        feed_line(conn, b"QUIT")
    elif state is State.CLOSED:
        feed_line(conn, b"QUIT")
        conn.send(Ok("bye"))
    assert conn.state is state
    return conn


def drain(conn: POP3Connection) -> list[Event]:
    """All events up to NeedData, answering every command with +OK."""
    events: list[Event] = []
    while True:
        event = conn.next_event()
        if isinstance(event, NeedData):
            return events
        events.append(event)
        if conn.pending is not None:
            conn.send(Ok())
        elif not isinstance(event, ProtocolError):
            return events  # Paused with nothing pending, or closed
