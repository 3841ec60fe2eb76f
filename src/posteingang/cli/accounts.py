"""`domain`, `user` and `alias` commands: who the server receives mail for.

Each command validates its arguments before it opens the store and changes
nothing if a check fails. Names are normalised the way the store does it
(lower case, IDNA domains), so what is printed is what is stored. This module
must never print a password it did not generate itself.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from posteingang.cli.common import (
    EXIT_USAGE,
    CliError,
    State,
    account_of,
    address,
    domain,
    format_size,
    generate_password,
    hash_credentials,
    parse_size,
    pass_state,
    read_password_stdin,
    with_directory,
)
from posteingang.cli.tables import Table

if TYPE_CHECKING:
    from posteingang.store.directory import OpenDirectory

# -- domain -------------------------------------------------------------------------


@click.group("domain")
def domain_group() -> None:
    """Hosted domains: mail for them is delivered here."""


@domain_group.command("add")
@click.argument("name")
@pass_state
def domain_add(state: State, name: str) -> None:
    """Host the domain NAME."""
    dom = domain(name)

    async def go(store: OpenDirectory) -> None:
        await store.add_domain(dom)

    with_directory(state, go)
    click.echo(f"added domain {dom}")


@domain_group.command("list")
@pass_state
def domain_list(state: State) -> None:
    """List hosted domains with their catch-all target."""

    async def go(store: OpenDirectory) -> list[tuple[str, str, int]]:
        rows = []
        for d in await store.list_domains():
            accounts = await store.list_accounts(d.name)
            rows.append((d.name, d.catch_all or "-", len(accounts)))
        return rows

    table = Table("domain", "catch-all", "users")
    for name, catch_all, users in with_directory(state, go):
        table.add_row(name, catch_all, str(users))
    table.print()


@domain_group.command("remove")
@click.argument("name")
@pass_state
def domain_remove(state: State, name: str) -> None:
    """Stop hosting NAME (refused while it still has users or aliases)."""
    dom = domain(name)

    async def go(store: OpenDirectory) -> None:
        await store.remove_domain(dom)

    with_directory(state, go)
    click.echo(f"removed domain {dom}")


@domain_group.command("catch-all")
@click.argument("name")
@click.argument("target", required=False)
@click.option("--off", is_flag=True, help="Turn the catch-all off.")
@pass_state
def domain_catch_all(state: State, name: str, target: str | None, off: bool) -> None:
    """Show or set the catch-all user of NAME.

    Mail for unknown addresses in NAME goes to the user TARGET.

    Without TARGET and --off, shows the current setting. Catch-all is off by default.
    """
    dom = domain(name)
    if off and target:
        raise CliError("give either TARGET or --off, not both", EXIT_USAGE)
    tgt = address(target) if target else None

    async def go(store: OpenDirectory) -> str | None:
        found = await store.get_domain(dom)
        if found is None:
            raise CliError(f"unknown domain: {dom}")
        if off:
            await store.set_catch_all(dom, None)
            return None
        if tgt is None:
            return found.catch_all
        await account_of(store, tgt)
        await store.set_catch_all(dom, tgt)
        return tgt

    result = with_directory(state, go)
    if off:
        click.echo(f"catch-all for {dom}: off")
    else:
        click.echo(f"catch-all for {dom}: {result or 'off'}")


# -- user ---------------------------------------------------------------------------


@click.group("user")
def user_group() -> None:
    """Accounts: a full address that logs in and owns mailboxes."""


_password_stdin = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line) instead of generating one.",
)


@user_group.command("add")
@click.argument("address_", metavar="ADDRESS")
@_password_stdin
@click.option("--quota", help="Storage limit, e.g. 500M or 2G [default: none].")
@pass_state
def user_add(state: State, address_: str, password_stdin: bool, quota: str | None) -> None:
    """Create the account ADDRESS with the default mailboxes.

    Prints a generated password once unless --password-stdin is given.
    """
    addr = address(address_)
    quota_bytes = parse_size(quota) if quota is not None else None
    password = read_password_stdin() if password_stdin else generate_password()
    credentials = hash_credentials(password)

    async def go(store: OpenDirectory) -> None:
        dom = addr.rpartition("@")[2]
        if await store.get_domain(dom) is None:
            raise CliError(f"unknown domain: {dom} (add it with `posteingang domain add {dom}`)")
        await store.create_account(
            addr,
            credentials.password_hash,
            scram_sha256=credentials.scram_sha256,
            quota_bytes=quota_bytes,
        )

    with_directory(state, go)
    click.echo(f"added user {addr}")
    if not password_stdin:
        click.echo(f"password: {password}")


@user_group.command("passwd")
@click.argument("address_", metavar="ADDRESS")
@_password_stdin
@pass_state
def user_passwd(state: State, address_: str, password_stdin: bool) -> None:
    """Set a new password for ADDRESS.

    The password is generated and printed unless --password-stdin is given.
    """
    addr = address(address_)
    password = read_password_stdin() if password_stdin else generate_password()
    credentials = hash_credentials(password)

    async def go(store: OpenDirectory) -> None:
        account = await account_of(store, addr)
        await store.set_password(account.id, credentials.password_hash, credentials.scram_sha256)

    with_directory(state, go)
    click.echo(f"password changed for {addr}")
    if not password_stdin:
        click.echo(f"password: {password}")


@user_group.command("quota")
@click.argument("address_", metavar="ADDRESS")
@click.argument("size")
@pass_state
def user_quota(state: State, address_: str, size: str) -> None:
    """Set or remove the storage limit of ADDRESS.

    SIZE is like 500M or 2G; "none" removes the limit.
    """
    addr = address(address_)
    quota_bytes = None if size.lower() in ("none", "off", "-") else parse_size(size)

    async def go(store: OpenDirectory) -> None:
        account = await account_of(store, addr)
        await store.set_quota(account.id, quota_bytes)

    with_directory(state, go)
    click.echo(f"quota for {addr}: {format_size(quota_bytes) if quota_bytes else 'none'}")


@user_group.command("remove")
@click.argument("address_", metavar="ADDRESS")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def user_remove(state: State, address_: str, yes: bool) -> None:
    """Delete ADDRESS and all its mail.

    Removes its mailboxes, messages, devices and the aliases that point to it.
    """
    addr = address(address_)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete {addr} and all its mail?", abort=True)

    async def go(store: OpenDirectory) -> None:
        await account_of(store, addr)
        await store.delete_account(addr)

    with_directory(state, go)
    click.echo(f"removed user {addr}")


@user_group.command("list")
@click.option("--domain", "domain_name", help="Only users of this domain.")
@pass_state
def user_list(state: State, domain_name: str | None) -> None:
    """List accounts with quota, usage and number of mailboxes."""
    dom = domain(domain_name) if domain_name else None

    async def go(store: OpenDirectory) -> list[tuple[str, str, str, str]]:
        return [
            (
                row.account.address,
                format_size(row.account.quota_bytes) if row.account.quota_bytes else "none",
                format_size(row.used_bytes),
                str(row.mailboxes),
            )
            for row in await store.list_account_usage(dom)
        ]

    table = Table("address", "quota", "usage", "mailboxes")
    for row in with_directory(state, go):
        table.add_row(*row)
    table.print()


# -- alias --------------------------------------------------------------------------


@click.group("alias")
def alias_group() -> None:
    """Aliases: extra addresses whose mail goes to a user."""


@alias_group.command("add")
@click.argument("source")
@click.argument("target")
@pass_state
def alias_add(state: State, source: str, target: str) -> None:
    """Deliver mail for SOURCE to the user TARGET.

    For several targets, add the alias once per target.
    """
    src, tgt = address(source), address(target)

    async def go(store: OpenDirectory) -> None:
        await account_of(store, tgt)
        dom = src.rpartition("@")[2]
        if await store.get_domain(dom) is None:
            raise CliError(f"unknown domain: {dom} (add it with `posteingang domain add {dom}`)")
        await store.add_alias(src, tgt)

    with_directory(state, go)
    click.echo(f"added alias {src} -> {tgt}")


@alias_group.command("remove")
@click.argument("source")
@click.argument("target", required=False)
@pass_state
def alias_remove(state: State, source: str, target: str | None) -> None:
    """Remove the alias SOURCE (only its TARGET, if given)."""
    src = address(source)
    tgt = address(target) if target else None

    async def go(store: OpenDirectory) -> None:
        await store.remove_alias(src, tgt)

    with_directory(state, go)
    click.echo(f"removed alias {src}" + (f" -> {tgt}" if tgt else ""))


@alias_group.command("list")
@click.option("--domain", "domain_name", help="Only aliases in this domain.")
@pass_state
def alias_list(state: State, domain_name: str | None) -> None:
    """List aliases and the users they deliver to."""
    dom = domain(domain_name) if domain_name else None

    async def go(store: OpenDirectory) -> list[tuple[str, str]]:
        return [(a.source, a.target) for a in await store.list_aliases(dom)]

    table = Table("alias", "delivers to")
    for row in with_directory(state, go):
        table.add_row(*row)
    table.print()
