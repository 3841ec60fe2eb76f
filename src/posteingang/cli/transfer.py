"""`import` and `export`: moving mail in from mbox/Maildir and out again.

`import_cmd` ("import") and `export_cmd` ("export") are click groups with an
``mbox`` and a ``maildir`` command each. Every check that can fail on the
input (path readable, a Maildir has cur/, an mbox starts with a From_ line and
ends with a line ending, sidecar readable, names valid, user known) runs
before the first message is written, so a mistake changes nothing. Progress
goes to standard error (a rich bar on a terminal, log lines otherwise); the
summary goes to standard output. This module holds no import logic of its
own; `posteingang.transfer` does the work.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from posteingang.cli.common import (
    EXIT_OPERATION,
    EXIT_USAGE,
    CliError,
    State,
    account_of,
    address,
    open_configured_store,
    pass_state,
    run_async,
)
from posteingang.log import configure_logging, get_logger
from posteingang.store import names
from posteingang.store.interface import InvalidName, Store
from posteingang.transfer import (
    ImportStats,
    MboxFormat,
    Source,
    TransferError,
    export_maildir,
    export_mbox,
    import_sources,
    maildir_sources,
    mbox_sources,
    printable,
)
from posteingang.transfer.importer import BATCH_MESSAGES

T = TypeVar("T")
log = get_logger(__name__)

# Blob writes fsync twice each; this many in flight share the disk's flushes.
IO_THREADS = 16
LOG_EVERY = 1000  # messages between progress log lines when stderr is not a terminal


def _mailbox_name(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return names.normalize_mailbox_name(value)
    except InvalidName as e:
        raise CliError(f"bad --mailbox: {e}", EXIT_USAGE) from None


def _run(state: State, action: Callable[[Store], Awaitable[T]]) -> T:
    config = state.config()
    configure_logging(config.log.level, config.log.format)

    async def go() -> T:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="transfer")
        )
        store = await open_configured_store(config)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return run_async(go())
    except KeyboardInterrupt:
        # Committed batches stay; the same command resumes without duplicates.
        raise CliError("interrupted; run the same command again to resume", 130) from None
    except TransferError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        where = f" {printable(e.filename)}" if e.filename else ""
        raise CliError(f"{e.strerror or e}{where}") from None


class _Reporter:
    """Progress and warnings on standard error: a bar on a terminal, log lines otherwise."""

    def __init__(self, total_octets: int) -> None:
        self.tty = sys.stderr.isatty()
        self._next_log = LOG_EVERY
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if self.tty:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[messages]} msgs"),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("import", total=total_octets or None, messages=0)

    def progress(self, stats: ImportStats, folder: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, completed=stats.octets, description=folder, messages=stats.messages
            )
        elif stats.messages >= self._next_log:
            self._next_log = stats.messages + LOG_EVERY
            log.info(
                "import_progress",
                folder=folder,
                messages=stats.messages,
                imported=stats.imported,
                present=stats.present,
                rate=round(stats.rate),
            )

    def warning(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(f"Warning: {text}", markup=False, highlight=False)
        else:
            log.warning("import_skipped", detail=text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _import(
    state: State,
    user: str,
    build: Callable[[Callable[[str], None]], list[Source]],
    batch_size: int = BATCH_MESSAGES,
) -> None:
    addr = address(user)
    pending: list[str] = []
    sink: list[Callable[[str], None]] = [pending.append]

    def warn(text: str) -> None:
        sink[0](text)

    try:
        sources = build(warn)  # every input check happens here, before the store opens
    except TransferError as e:
        raise CliError(str(e)) from None

    async def go(store: Store) -> ImportStats:
        account = await account_of(store, addr)
        reporter = _Reporter(sum(s.total_octets for s in sources))
        for text in pending:
            reporter.warning(text)
        sink[0] = reporter.warning
        try:
            return await import_sources(
                store, account.id, sources, reporter, batch_messages=batch_size
            )
        finally:
            reporter.close()

    stats = _run(state, go)
    if not sys.stderr.isatty():
        log.info(
            "import_done",
            messages=stats.messages,
            imported=stats.imported,
            present=stats.present,
            empty=stats.empty,
            unreadable=stats.unreadable,
            seconds=round(stats.elapsed, 2),
        )
    mb = stats.imported_octets / 1e6
    click.echo(
        f"imported {stats.imported} of {stats.messages} messages into {stats.folders}"
        f" mailbox(es): {stats.present} already present, {stats.empty} empty skipped;"
        f" {stats.elapsed:.1f} s, {stats.messages / stats.elapsed:.0f} msg/s,"
        f" {mb / stats.elapsed:.1f} MB/s"
    )
    if stats.unreadable:
        raise CliError(
            f"{stats.unreadable} message file(s) could not be read or were not regular"
            " files (see the warnings); fix them and run the same import again",
            EXIT_OPERATION,
        )


# -- import -----------------------------------------------------------------------------


# The options both import commands take.
_batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=BATCH_MESSAGES,
    show_default=True,
    help="Messages per atomic commit.",
)
_crlf_option = click.option(
    "--crlf/--keep-line-endings",
    default=True,
    show_default=True,
    help="Store LF-only messages with CRLF line endings, the Internet form (as `deliver`"
    " does); --keep-line-endings stores the bytes exactly as in the files.",
)


@click.group("import")
def import_cmd() -> None:
    """Import mail from mbox files or Maildir folders. Re-running resumes, never duplicates."""


@import_cmd.command("mbox")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--user", required=True, help="The account to import into.")
@click.option("--mailbox", help="Target mailbox [default: INBOX; for a directory: a prefix].")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "mboxo", "mboxrd"]),
    default="auto",
    show_default=True,
    help="How '>From ' lines are escaped; auto: mboxrd for posteingang exports, else mboxo.",
)
@_batch_size_option
@_crlf_option
@pass_state
def import_mbox(
    state: State,
    path: Path,
    user: str,
    mailbox: str | None,
    fmt: str,
    batch_size: int,
    crlf: bool,
) -> None:
    """Import the mbox file PATH (or every *.mbox file below the directory PATH)."""
    target = _mailbox_name(mailbox)
    forced = None if fmt == "auto" else MboxFormat(fmt)
    _import(
        state, user, lambda warn: mbox_sources(path, target, forced, warn, crlf=crlf), batch_size
    )


@import_cmd.command("maildir")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--user", required=True, help="The account to import into.")
@click.option("--mailbox", help="Target for the root folder; subfolders go below it.")
@click.option(
    "--recursive/--no-recursive",
    default=True,
    show_default=True,
    help="Also import the Maildir++ subfolders (.Sub.Folder -> Sub/Folder).",
)
@_batch_size_option
@_crlf_option
@pass_state
def import_maildir(
    state: State,
    path: Path,
    user: str,
    mailbox: str | None,
    recursive: bool,
    batch_size: int,
    crlf: bool,
) -> None:
    """Import the Maildir (Maildir++, Dovecot) at PATH, keeping Dovecot's UIDs."""
    target = _mailbox_name(mailbox)
    _import(
        state,
        user,
        lambda warn: maildir_sources(path, target, recursive, warn, crlf=crlf),
        batch_size,
    )


# -- export -----------------------------------------------------------------------------


def _export(
    state: State, user: str, run: Callable[[Store, int, Callable[[str], None]], Awaitable[int]]
) -> None:
    addr = address(user)
    started = time.monotonic()

    def warn(text: str) -> None:
        click.echo(f"Warning: {text}", err=True)

    async def go(store: Store) -> int:
        account = await account_of(store, addr)
        return await run(store, account.id, warn)

    count = _run(state, go)
    click.echo(f"exported {count} messages in {time.monotonic() - started:.1f} s")


def _tick(count: int) -> None:
    if count % (LOG_EVERY * 10) == 0 and not sys.stderr.isatty():
        log.info("export_progress", messages=count)


@click.group("export")
def export_cmd() -> None:
    """Export an account's mail as Maildir++ or mbox (all mailboxes by default)."""


@export_cmd.command("maildir")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--user", required=True, help="The account to export.")
@click.option("--mailbox", help="Export only this mailbox (as the root) and those below it.")
@pass_state
def export_maildir_cmd(state: State, path: Path, user: str, mailbox: str | None) -> None:
    """Write a new Maildir++ tree at PATH, with dovecot-uidlist and dovecot-keywords."""
    name = _mailbox_name(mailbox)
    target = path.absolute()

    async def run(store: Store, account_id: int, warn: Callable[[str], None]) -> int:
        stats = await export_maildir(store, account_id, target, mailbox=name, warn=warn, tick=_tick)
        return stats.messages

    _export(state, user, run)


@export_cmd.command("mbox")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--user", required=True, help="The account to export.")
@click.option("--mailbox", help="Export only this mailbox, to the file PATH.")
@pass_state
def export_mbox_cmd(state: State, path: Path, user: str, mailbox: str | None) -> None:
    """Write mboxrd: the file PATH for --mailbox, else a directory of NAME.mbox files.

    Flags, keywords, UIDs and exact internal dates go to PATH.meta.json beside
    each mbox file; the message bytes are not changed.
    """
    name = _mailbox_name(mailbox)
    target = path.absolute()

    async def run(store: Store, account_id: int, _warn: Callable[[str], None]) -> int:
        stats = await export_mbox(store, account_id, target, mailbox=name, tick=_tick)
        return stats.messages

    _export(state, user, run)
