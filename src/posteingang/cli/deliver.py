"""`posteingang deliver`: the local delivery agent for MTA pipes (Postfix, Exim).

Exit statuses follow sysexits(3), which MTAs map to bounce or retry (table in
docs/delivery.md): 0 delivered; 64 usage; 65 data error (empty or oversized
message); 66 standard input unreadable; 67 unknown user (bounce); 75 temporary
failure (the MTA retries: store missing, busy, read-only or full, quota
exceeded, and any error of ours); 78 the config file is unreadable or invalid.
A 0 exit is only returned after the message is durably stored. What this
command must never do is exit 1 or print a traceback: an MTA bounces an exit
status it does not know, and the mail would be lost over a failure that a
retry would have overcome.
"""

from __future__ import annotations

import asyncio
import sys

import click

from posteingang.cli.common import MissingStore, State, open_configured_store, pass_state
from posteingang.config import Config
from posteingang.delivery.deliver import deliver
from posteingang.delivery.ingest import unix_to_crlf
from posteingang.delivery.recipients import UnknownRecipient
from posteingang.store.interface import InvalidName, QuotaExceeded

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
EX_TEMPFAIL = 75
EX_CONFIG = 78

MAX_STDIN = 256 * 1024 * 1024  # hard stop for a runaway pipe; the configured limit is lower


class Refused(Exception):
    """The outcome of a delivery that did not happen: a sysexits status and one line."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SysexitsCommand(click.Command):
    """A command whose usage errors exit 64 (EX_USAGE), not click's 2 (see cli/__init__.py)."""

    usage_exit_code = EX_USAGE


@click.command("deliver", cls=SysexitsCommand)
@click.option("--to", "to", required=True, help="Envelope recipient address.")
@click.option(
    "--mailbox",
    default=None,
    help="Deliver into this mailbox if it exists (else INBOX), e.g. from a Sieve-less filter.",
)
@pass_state
def deliver_cmd(state: State, to: str, mailbox: str | None) -> None:
    """Deliver one message from standard input to ADDRESS (for MTA pipes).

    Exit codes follow sysexits: 65 empty or oversized message, 67 unknown user,
    75 temporary failure (the MTA retries), 78 bad config; see docs/delivery.md.
    """
    try:
        _deliver(state, to, mailbox)
    except Refused as e:
        _fail(e.code, e.message)
    except Exception as e:  # anything else is ours or the system's: the MTA retries
        _fail(EX_TEMPFAIL, f"temporary failure: {type(e).__name__}: {e}")


def _fail(code: int, message: str) -> None:
    click.echo(f"posteingang deliver: {message}", err=True)
    sys.exit(code)


def _config(state: State) -> Config:
    try:
        return state.config()
    except MissingStore as e:  # perhaps not mounted yet: retry rather than bounce
        raise Refused(EX_TEMPFAIL, e.message) from None
    except click.ClickException as e:
        raise Refused(EX_CONFIG, e.message) from None


def _read_message(limit: int) -> bytes:
    try:
        raw = sys.stdin.buffer.read(limit + 1)
    except OSError as e:
        raise Refused(EX_NOINPUT, f"cannot read the message from standard input: {e}") from None
    if len(raw) > limit:
        raise Refused(EX_DATAERR, f"message exceeds the size limit of {limit} octets")
    if not raw.strip(b"\r\n"):
        raise Refused(EX_DATAERR, "empty message on standard input")
    return unix_to_crlf(raw)  # an MTA pipe hands over LF line ends


def _deliver(state: State, to: str, mailbox: str | None) -> None:
    config = _config(state)
    raw = _read_message(min(config.limits.max_message_size, MAX_STDIN))
    delimiter = config.delivery.recipient_delimiter

    async def run() -> None:
        store = await open_configured_store(config)
        try:
            await deliver(store, to, raw, mailbox=mailbox, delimiter=delimiter)
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except (UnknownRecipient, InvalidName) as e:
        raise Refused(EX_NOUSER, str(e)) from None
    except QuotaExceeded as e:
        raise Refused(EX_TEMPFAIL, f"{e} for {to}") from None
    except click.ClickException as e:  # the store could not be opened
        raise Refused(EX_TEMPFAIL, e.message) from None
