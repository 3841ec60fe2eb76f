"""What a command handler may use of its session: two narrow protocols.

`Context` is what a command after login needs besides its state object: the
store, the settings, the switches ENABLE turned on, a way to send responses,
and the two moves it may make (select a mailbox, leave it). `Connection` adds
what the commands of any state need (the login, TLS, capabilities, reading a
continuation line, IDLE, LOGOUT). `ImapSession` implements both; handlers import
only these protocols, never the session, so `ops` and `session` do not import
each other.

Output: `emit` queues bytes to go out before the tagged line; `send` queues
them and writes once enough is queued (FETCH, STORE: back-pressure).
"""

from __future__ import annotations

from typing import Protocol

from posteingang.auth.throttle import Throttle
from posteingang.imap.ops.common import Reply
from posteingang.imap.proto import commands as c
from posteingang.imap.selected import SelectedMailbox
from posteingang.imap.settings import ImapSettings
from posteingang.imap.state import Authenticated, Selected
from posteingang.store.interface import Store
from posteingang.store.model import Account, Device

__all__ = ["Connection", "Context"]


class Context(Protocol):
    """What the handler of a command valid after login may use (besides its state)."""

    store: Store
    settings: ImapSettings
    rev2: bool  # ENABLE IMAP4rev2
    utf8: bool  # ENABLE UTF8=ACCEPT

    def emit(self, data: bytes) -> None: ...

    async def send(self, data: bytes) -> None: ...

    def select(
        self, auth: Authenticated, view: SelectedMailbox, name: str, keywords: set[str]
    ) -> Selected:
        """Enter SELECTED with ``view`` (leaving any previous selection)."""
        ...

    def deselect(self) -> None:
        """Leave SELECTED for AUTHENTICATED (CLOSE, UNSELECT, the mailbox deleted)."""
        ...


class Connection(Context, Protocol):
    """What the handler of a command valid in any state may use."""

    throttle: Throttle
    address: str
    tls_active: bool
    starttls_available: bool
    client_id: str | None  # RFC 2971, for the login record

    async def flush(self) -> None: ...

    def capabilities(self) -> list[str]: ...

    def cleartext_ok(self) -> bool:
        """May a password cross this connection in the clear (LOGIN, PLAIN)?"""
        ...

    async def logged_in(self, account: Account, device: Device | None) -> Reply:
        """Enter AUTHENTICATED (or refuse: too many connections)."""
        ...

    def logout(self) -> None:
        """Enter LOGOUT."""
        ...

    def enable_utf8(self) -> None:
        """RFC 6855 §3: quoted strings may carry UTF-8 from now on."""
        ...

    async def start_tls(self) -> None:
        """Have the TLS handshake follow this command's reply; a fresh reader after it
        (pipelined plaintext is dropped)."""
        ...

    async def read_continuation(self) -> bytes | None:
        """The next raw client line (CRLF removed); None if it was too long."""
        ...

    def start_idle(self, cmd: c.Idle) -> None:
        """RFC 2177: push updates until the client sends a line (see `ImapSession`)."""
        ...
