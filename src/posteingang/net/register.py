"""The logged-in mail sessions of every process of one server: listed, and ended one by one.

Why it exists.  Each process keeps the register of its own logged-in IMAP and POP3
sessions (`net.limits.AccountLimits`).  With ``[imap] processes`` or ``[pop3]
processes`` above 1 a client may be served by any of them, but the account page,
served by the server process, lists every session of the account and disconnects any
one of them (what Dovecot's ``doveadm who`` and ``doveadm kick`` do through its anvil
process).  Revoked credentials need none of this: they reach every process on the
store's change feed (`limits.py`).

Theory of operation.  Each worker process answers on a UNIX stream socket of its own,
``<data_dir>/sessions.d/<pid>`` (`RegisterServer`), in a directory only the server's
user may enter.  A question is one line of JSON, ``{"account": 7}`` (which sessions?)
or ``{"account": 7, "end": "4711-3"}`` (disconnect that one; ``"*"``: all), and the answer one line
of JSON: the list of `LiveSession` fields, or whether it had that session.
`MailSessions` asks its own process's register directly and every other socket in the
directory at once, each within `TIMEOUT`; a socket nobody listens on any more (a
killed worker) refuses and is removed.  Nothing of this runs on the login path: a
process answers from its register only when asked, i.e. when an account page is
opened or a session disconnected.

What it must never do: answer about an account it was not asked about, or let a slow
or dead process hold the page longer than `TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import msgspec

from posteingang.log import get_logger
from posteingang.net.limits import AccountLimits, LiveSession

__all__ = ["TIMEOUT", "MailSessions", "RegisterServer", "register_dir"]

log = get_logger(__name__)

#: Seconds the account page waits for another process's answer.
TIMEOUT = 1.0
_MAX_LINE = 1 << 20
ALL = "*"  # ``end``: every session of the account


class _Question(msgspec.Struct, frozen=True):
    account: int
    end: str | None = None


_encode = msgspec.json.Encoder().encode
_decode_question = msgspec.json.Decoder(_Question).decode
_decode_sessions = msgspec.json.Decoder(list[LiveSession]).decode
_decode_ended = msgspec.json.Decoder(bool).decode


def register_dir(data_dir: Path | str) -> Path:
    """Where the worker processes of the server with this data directory answer."""
    return Path(data_dir) / "sessions.d"


class RegisterServer:
    """A worker process's answers about its sessions (module docstring)."""

    def __init__(self, directory: Path, limits: AccountLimits) -> None:
        self.path = directory / str(os.getpid())
        self.limits = limits
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen; if that fails (a data directory whose path is too long for a UNIX
        socket, a read-only one), this process's sessions are only missing from the
        account page, so the process serves on and says why in the log."""
        try:
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._server = await asyncio.start_unix_server(
                self._answer, path=str(self.path), limit=_MAX_LINE
            )
        except OSError as e:
            log.warning("register_socket_failed", socket=str(self.path), error=str(e))

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                question = _decode_question(await reader.readline())
                if question.end == ALL:
                    ended = self.limits.end_sessions(question.account, "account")
                    answer = _encode(ended > 0)
                elif question.end is not None:
                    answer = _encode(self.limits.end_connection(question.account, question.end))
                else:
                    answer = _encode(self.limits.live_sessions(question.account))
                writer.write(answer + b"\n")
                await writer.drain()
        except (OSError, TimeoutError, ValueError, msgspec.DecodeError) as e:
            log.warning("register_question_failed", error=str(e))
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class MailSessions:
    """The account page's view of every process's sessions: this process's register
    (``local()``: the runtime's, None before a listener is bound) and, with a
    ``directory``, the other processes' (`RegisterServer`)."""

    def __init__(
        self, local: Callable[[], AccountLimits | None], directory: Path | None = None
    ) -> None:
        self.local = local
        self.directory = directory

    async def of_account(self, account_id: int) -> list[LiveSession]:
        """Every logged-in mail session of the account, oldest first."""
        limits = self.local()
        found = limits.live_sessions(account_id) if limits is not None else []
        for answer in await self._ask_others(_Question(account_id)):
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                found.extend(_decode_sessions(answer))
        return sorted(found, key=lambda s: (s.since, s.id))

    async def disconnect(self, account_id: int, session_id: str) -> bool:
        """End the account's session ``session_id`` wherever it is served; False if no
        process has it (gone already, or not this account's)."""
        limits = self.local()
        if limits is not None and limits.end_connection(account_id, session_id):
            return True
        answers = await self._ask_others(_Question(account_id, session_id))
        return any(answer.strip() == b"true" for answer in answers)

    async def disconnect_all(self, account_id: int) -> None:
        """End every mail session of the account, in every process."""
        limits = self.local()
        if limits is not None:
            limits.end_sessions(account_id, "account")
        await self._ask_others(_Question(account_id, ALL))

    async def _ask_others(self, question: _Question) -> list[bytes]:
        if self.directory is None:
            return []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        own = str(os.getpid())
        line = _encode(question) + b"\n"
        paths = [self.directory / name for name in names if name != own]
        answers = await asyncio.gather(*(_ask(path, line) for path in paths))
        return [a for a in answers if a is not None]


async def _ask(path: Path, line: bytes) -> bytes | None:
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=_MAX_LINE)
            try:
                writer.write(line)
                await writer.drain()
                return await reader.readline()
            finally:
                writer.close()
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(OSError):
            os.unlink(path)  # its process is gone
    except (OSError, TimeoutError, ValueError) as e:
        log.warning("register_question_unanswered", socket=str(path), error=str(e))
    return None
