"""`posteingang block list|lift`: see and lift the running server's login blocks.

Blocks live in the serving process's memory (auth/throttle.py), so these
commands talk to it over the control socket (control.py) instead of the store.
"""

from __future__ import annotations

import asyncio

import click

from posteingang.cli.common import CliError, State, pass_state
from posteingang.cli.tables import Table
from posteingang.control import ControlError, request


def _ask(state: State, payload: dict[str, str]) -> dict[str, object]:
    config = state.config()
    try:
        return asyncio.run(request(config.server.data_dir, payload))
    except ControlError as e:
        raise CliError(str(e)) from None


@click.group("block")
def block_group() -> None:
    """Login blocks after repeated failures (addresses and accounts)."""


@block_group.command("list")
@pass_state
def block_list(state: State) -> None:
    """List the blocks in force in the running server."""
    reply = _ask(state, {"cmd": "blocks"})
    blocks = reply.get("blocks")
    assert isinstance(blocks, list)
    if not blocks:
        click.echo("No blocks in force.")
        return
    table = Table("Kind", "Blocked", "Failures", "Until (UTC)")
    for b in blocks:
        table.add_row(b["kind"], b["key"], str(b["failures"]), b["until"])
    table.print()


@block_group.command("lift")
@click.argument("target")
@pass_state
def block_lift(state: State, target: str) -> None:
    """Lift the block of TARGET (a client address, an IPv6 /64 or an account)."""
    reply = _ask(state, {"cmd": "lift", "target": target})
    cleared = reply.get("cleared", 0)
    if cleared:
        click.echo(f"Lifted: {target}")
    else:
        raise CliError(f"no block or failures known for {target}")
