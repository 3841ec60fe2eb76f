"""`serve` and `check`: running the server, and checking the store's integrity.

`serve` is a thin wrapper around `runtime.run`: it configures logging from the
config, prints the table of what listens where once everything is bound, and
turns a failure to bind or open the store into one line. It must never contain
start-up or shutdown logic of its own; that lives in `runtime.py`.
"""

from __future__ import annotations

import sys

import click
from rich.table import Table

from posteingang.cli.common import (
    EXIT_OPERATION,
    EXIT_USAGE,
    STORE_OPEN_ERRORS,
    CliError,
    State,
    console,
    pass_state,
    run_async,
    unwritable_store,
    with_store,
)
from posteingang.cli.files import mode_problems, repair_modes
from posteingang.config import Config
from posteingang.log import configure_logging
from posteingang.net.eventloop import EventLoopUnavailable
from posteingang.runtime import Runtime, StartupError, run
from posteingang.store.interface import IntegrityReport, Store


@click.command()
@pass_state
def serve(state: State) -> None:
    """Run the server until SIGTERM or SIGINT.

    Shutdown is graceful: in-flight work finishes (within server.shutdown_timeout).

    Prints a table of every listener (protocol, address, port, TLS) once the
    server is ready. Logs go to standard error, formatted by the [log] section.
    Runs on the event loop of server.event_loop (uvloop when installed).
    """
    config = state.config()
    problem = unwritable_store(config)
    if problem is not None:  # it would say `ready` and then fail every delivery
        raise CliError(f"cannot start: {problem}", EXIT_OPERATION)
    configure_logging(config.log.level, config.log.format)

    async def ready(runtime: Runtime) -> None:
        accounts = [a.address for a in await runtime.store.list_accounts()]
        print_listeners(runtime, config, accounts)

    try:
        run_async(run(config, on_ready=ready), config.server.event_loop)
    except StartupError as e:
        raise CliError(f"bad config: {e}", EXIT_USAGE) from None
    except EventLoopUnavailable as e:
        raise CliError(f"bad config: {e}", EXIT_USAGE) from None
    except STORE_OPEN_ERRORS as e:  # includes ssl.SSLError and "address in use"
        raise CliError(f"cannot start: {e}", EXIT_OPERATION) from None


def print_listeners(runtime: Runtime, config: Config, accounts: list[str]) -> None:
    out = console()
    store = config.store
    where = store.sqlite_path if store.backend == "sqlite" else store.backend
    if runtime.listeners:
        table = Table(
            "protocol", "address", "port", "TLS", "PROXY header", "log in with", title="posteingang"
        )
        for listener in runtime.listeners:
            table.add_row(
                listener.protocol,
                listener.address,
                str(listener.port),
                str(listener.tls),
                # a connection without the header is refused here: say so, and from whom
                f"required, from {', '.join(listener.proxy_from)}" if listener.proxy_from else "-",
                listener.login or "-",
            )
        out.print(table)
    else:
        out.print("No protocol listeners are configured yet.")
    out.print(f"Store open ({store.backend}): {where}")
    for note in runtime.notes:
        out.print(note)
    if accounts:
        more = f" and {len(accounts) - 1} more" if len(accounts) > 1 else ""
        out.print(
            f"Log in as {accounts[0]}{more} with the full address and its password "
            "(`posteingang user list`, `posteingang user passwd`)."
        )
    else:
        out.print("No users yet: `posteingang user add ADDRESS`.")
    out.print("Stop with Ctrl-C or SIGTERM.")
    out.print("ready")
    sys.stdout.flush()


@click.command()
@click.option("--repair", is_flag=True, help="Repair what can be repaired safely.")
@pass_state
def check(state: State, repair: bool) -> None:
    """Check the store's integrity: blobs, UIDs and MODSEQs, and file modes.

    Finds orphaned and missing blobs, UID/MODSEQ invariant violations, and files
    of the data directory that other local users can read (--repair fixes modes).

    Exit status 1 if a problem is (still) present.
    """

    config = state.config()
    modes = mode_problems(config)

    async def go(store: Store) -> tuple[IntegrityReport, IntegrityReport]:
        first = await store.check(repair=repair)
        after = await store.check(repair=False) if repair else first
        return first, after

    report, after = with_store(state, go)
    for problem in modes:
        click.echo(f"file mode: {problem}")
    if repair and modes:
        for line in repair_modes(modes):
            click.echo(f"repaired: {line}")
        modes = mode_problems(config)
    _print_report(report, len(modes))
    if repair and (after is not report or modes):
        click.echo("after repair: " + ("clean" if after.clean and not modes else "problems remain"))
    if not after.clean or modes:
        sys.exit(EXIT_OPERATION)


def _print_report(report: IntegrityReport, bad_modes: int = 0) -> None:
    sections = (
        ("orphaned blob", report.orphaned_blobs),
        ("missing blob", report.missing_blobs),
        ("violation", report.violations),
        ("repaired", report.repaired),
    )
    for label, items in sections:
        for item in items:
            click.echo(f"{label}: {item}")
    if report.clean and not bad_modes:
        # Orphaned blobs are left by a crash before commit (never acknowledged mail);
        # they only cost space.
        orphans = len(report.orphaned_blobs)
        note = f" ({orphans} orphaned blob(s); `check --repair` removes them)" if orphans else ""
        click.echo("clean" + note)
    else:
        counts = [f"{len(items)} {label}(s)" for label, items in sections[1:3] if items]
        if bad_modes:
            counts.append(f"{bad_modes} file mode(s)")
        click.echo(f"not clean: {', '.join(counts)}")
