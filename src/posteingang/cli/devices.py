"""`device` commands: app passwords, one per phone or laptop, each revocable on its own.

A device password is generated here, printed exactly once and stored only as
an argon2id hash; it cannot be shown again, only revoked and replaced. This
module must never accept a device password chosen by the user (a generated
one cannot be reused from another site).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from posteingang.cli.common import (
    State,
    account_of,
    address,
    pass_state,
    with_directory,
)
from posteingang.cli.tables import Table
from posteingang.store.model import Device

if TYPE_CHECKING:
    from posteingang.store.directory import OpenDirectory


@click.group("device")
def device_group() -> None:
    """App passwords: one per device, each revocable."""


@device_group.command("add")
@click.argument("address_", metavar="ADDRESS")
@click.argument("name")
@pass_state
def device_add(state: State, address_: str, name: str) -> None:
    """Create a password for the device NAME of ADDRESS and print it once.

    The password looks like sel4-abcd-efgh-ijkl-mnop (the first group finds the
    device at login); the device logs in with the account's address and this password.
    """
    from posteingang.auth.devices import new_device_password
    from posteingang.auth.passwords import hash_password

    addr = address(address_)

    async def go(store: OpenDirectory) -> tuple[Device, str]:
        account = await account_of(store, addr)
        while True:  # a selector is unique within the account: draw again on a clash
            password, selector = new_device_password()
            if await store.get_device_by_selector(account.id, selector) is None:
                break
        device = await store.add_device(account.id, name, hash_password(password), selector)
        return device, password

    device, password = with_directory(state, go)
    click.echo(f"added device {device.name!r} for {addr}")
    click.echo(f"password: {password}")
    click.echo("(shown once; revoke it with `posteingang device revoke`)")


@device_group.command("list")
@click.argument("address_", metavar="ADDRESS")
@pass_state
def device_list(state: State, address_: str) -> None:
    """List the devices of ADDRESS: created, last login time, protocol and client address.

    A device whose password was made before selectors existed is marked "old": it
    still works, but costs a verification per such device; revoke and re-add it."""
    addr = address(address_)

    async def go(store: OpenDirectory) -> list[Device]:
        account = await account_of(store, addr)
        return await store.list_devices(account.id)

    table = Table("device", "created", "last login", "protocol", "from", "password")
    for d in with_directory(state, go):
        table.add_row(
            d.name,
            _when(d.created),
            _when(d.last_login) if d.last_login else "never",
            d.last_protocol or "-",
            d.last_address or "-",
            "current" if d.selector is not None else "old: re-add",
        )
    table.print()


@device_group.command("revoke")
@click.argument("address_", metavar="ADDRESS")
@click.argument("name")
@pass_state
def device_revoke(state: State, address_: str, name: str) -> None:
    """Delete the device NAME of ADDRESS: its password stops working at once, and its
    open sessions (IMAP, POP3, in every process of the running server) end."""
    addr = address(address_)

    async def go(store: OpenDirectory) -> None:
        account = await account_of(store, addr)
        await store.revoke_device(account.id, name)

    with_directory(state, go)
    click.echo(f"revoked device {name!r} of {addr}")


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
