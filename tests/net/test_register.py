"""`net/register.py`: every process's logged-in sessions, listed and ended one by one.

The "other process" here is a `RegisterServer` on the same loop answering for a
register of its own (its socket is named for another pid): the questions and answers
go over the real UNIX socket.  The runtime with a real worker process is tested in
tests/web/test_connections.py.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from posteingang.net.limits import AccountLimits
from posteingang.net.register import MailSessions, RegisterServer, register_dir


def _register(limits: AccountLimits, account_id: int, **kw: object) -> list[bool]:
    """One registered session; the list records whether it was ended."""
    ended: list[bool] = []
    limits.register(account_id, None, lambda: ended.append(True), **kw)  # type: ignore[arg-type]
    return ended


async def test_sessions_of_every_process_are_listed_and_ended_by_id(tmp_path: Path) -> None:
    here, there = AccountLimits(), AccountLimits()
    mine = _register(here, 1, protocol="IMAP", address="192.0.2.1", client=lambda: "Mail/1")
    theirs = _register(there, 1, protocol="POP3", address="192.0.2.2")
    bobs = _register(there, 2, protocol="IMAP", address="192.0.2.3")
    directory = register_dir(tmp_path)
    other = RegisterServer(directory, there)
    other.path = directory / "999999999"  # as if another process answered
    await other.start()
    try:
        sessions = MailSessions(lambda: here, directory)
        listed = await sessions.of_account(1)
        assert [(s.protocol, s.address, s.client) for s in listed] == [
            ("IMAP", "192.0.2.1", "Mail/1"),
            ("POP3", "192.0.2.2", None),
        ]
        (bob,) = await sessions.of_account(2)
        # Another account's session is not this account's to end, anywhere.
        assert not await sessions.disconnect(1, bob.id)
        assert await sessions.disconnect(1, listed[1].id)
        assert theirs == [True] and mine == [] and bobs == []
        assert await sessions.disconnect(1, listed[0].id)
        assert mine == [True]
        assert not await sessions.disconnect(1, "nonsense")
        await sessions.disconnect_all(2)
        assert bobs == [True]
    finally:
        await other.close()
    assert not other.path.exists()


async def test_a_socket_nobody_answers_on_is_removed(tmp_path: Path) -> None:
    directory = register_dir(tmp_path)
    directory.mkdir()
    dead = directory / "999999998"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(dead))  # bound, never listening: its process was killed
    (directory / str(os.getpid())).touch()  # this process's own name is never asked
    sessions = MailSessions(lambda: None, directory)
    assert await sessions.of_account(1) == []
    assert not dead.exists()
    assert (directory / str(os.getpid())).exists()


async def test_one_process_needs_no_directory() -> None:
    limits = AccountLimits()
    ended = _register(limits, 1, protocol="IMAP", address="::1")
    sessions = MailSessions(lambda: limits)
    (only,) = await sessions.of_account(1)
    assert only.id.startswith(f"{os.getpid()}-") and only.device_id is None
    assert await sessions.disconnect(1, only.id) and ended == [True]


async def test_a_socket_that_cannot_be_bound_leaves_the_process_serving(tmp_path: Path) -> None:
    directory = register_dir(tmp_path / ("x" * 120))  # longer than a UNIX socket path may be
    server = RegisterServer(directory, AccountLimits())
    await server.start()  # logs the failure; nothing raised
    await server.close()
