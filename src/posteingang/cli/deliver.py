"""`posteingang deliver`: the local delivery agent for MTA pipes (Postfix, Exim).

Exit statuses follow sysexits(3), which MTAs map to bounce or retry:
0 delivered; 64 usage; 65 data error (message unreadable); 67 unknown user
(bounce); 73 cannot create output; 75 temporary failure (the MTA retries:
store busy, quota exceeded, disk full). A 0 exit is only returned after the
message is durably stored.
"""

from __future__ import annotations

import asyncio
import sys

import click

from posteingang.cli.common import State, open_configured_store, pass_state
from posteingang.config import ConfigError
from posteingang.delivery.deliver import UnknownRecipient, deliver
from posteingang.delivery.ingest import unix_to_crlf
from posteingang.store.interface import InvalidName, QuotaExceeded, StoreError

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75

MAX_STDIN = 256 * 1024 * 1024  # hard stop for a runaway pipe; the configured limit is lower


def _fail(code: int, message: str) -> None:
    click.echo(f"posteingang deliver: {message}", err=True)
    sys.exit(code)


@click.command("deliver")
@click.option("--to", "to", required=True, help="Envelope recipient address.")
@click.option(
    "--mailbox",
    default=None,
    help="Deliver into this mailbox if it exists (else INBOX), e.g. from a Sieve-less filter.",
)
@pass_state
def deliver_cmd(state: State, to: str, mailbox: str | None) -> None:
    """Deliver one message from standard input to ADDRESS (for MTA pipes).

    Exit codes follow sysexits: 67 unknown user, 75 temporary failure (retry).
    """
    try:
        config = state.config()
    except click.ClickException as e:
        _fail(EX_TEMPFAIL, e.message)
        return
    except ConfigError as e:  # pragma: no cover - State converts it already
        _fail(EX_TEMPFAIL, str(e))
        return
    limit = min(config.limits.max_message_size, MAX_STDIN)
    raw = sys.stdin.buffer.read(limit + 1)
    if len(raw) > limit:
        _fail(EX_DATAERR, f"message exceeds the size limit of {limit} octets")
    delimiter = config.delivery.recipient_delimiter
    raw = unix_to_crlf(raw)  # an MTA pipe hands over LF line ends

    async def run() -> int:
        store = await open_configured_store(config)
        try:
            results = await deliver(store, to, raw, mailbox=mailbox, delimiter=delimiter)
        finally:
            await store.close()
        return len(results)

    try:
        asyncio.run(run())
    except UnknownRecipient as e:
        _fail(EX_NOUSER, str(e))
    except InvalidName as e:
        _fail(EX_NOUSER, str(e))
    except QuotaExceeded as e:
        _fail(EX_TEMPFAIL, f"{e} for {to}")
    except (StoreError, OSError) as e:
        _fail(EX_TEMPFAIL, f"temporary failure: {e}")
    except click.ClickException as e:
        _fail(EX_TEMPFAIL, e.message)
