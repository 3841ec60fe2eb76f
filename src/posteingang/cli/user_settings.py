"""`user set` and `user show`: an account's own POP3 settings, over the server defaults.

Each setting of `AccountSettings` overrides one `[pop3]` default for one
account; `default` removes the override. Values are validated here with the
same ranges as the config file, so the store never holds what a login could
not use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from posteingang.cli.common import (
    EXIT_USAGE,
    CliError,
    State,
    account_of,
    address,
    format_size,
    pass_state,
    with_directory,
    with_store,
)
from posteingang.cli.tables import Table
from posteingang.store.model import AccountSettings, DeletionPolicy

if TYPE_CHECKING:
    from posteingang.store.directory import OpenDirectory
    from posteingang.store.interface import Store

_CLEAR = ("default", "none", "-")
_UIDL_FORMATS = ("default", "dovecot", "cyrus")


def _policy(text: str) -> DeletionPolicy:
    try:
        return DeletionPolicy(text.lower())
    except ValueError:
        choices = ", ".join(p.value for p in DeletionPolicy)
        raise CliError(f"pop3_deletion_policy: expected one of {choices}", EXIT_USAGE) from None


def _whole(key: str, minimum: int, unit: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise CliError(f"{key}: expected a whole number of {unit} >= {minimum}", EXIT_USAGE)
        return value

    return parse


def _uidl_format(text: str) -> str:
    if text.lower() not in _UIDL_FORMATS:
        raise CliError(f"pop3_uidl_format: expected one of {', '.join(_UIDL_FORMATS)}", EXIT_USAGE)
    return text.lower()


# key -> (parser, meaning); the key is the AccountSettings field.
SETTINGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "pop3_deletion_policy": (_policy, "expunge, trash or hide: what DELE does at QUIT"),
    "pop3_retention_days": (
        _whole("pop3_retention_days", 1, "days"),
        "days after a POP3 client first retrieved a message until it is removed",
    ),
    "pop3_login_delay": (
        _whole("pop3_login_delay", 0, "seconds"),
        "seconds between two logins of one POP3 client (0: no limit)",
    ),
    "pop3_uidl_format": (_uidl_format, "default, dovecot or cyrus: how UIDLs are spelt"),
}
# Short spellings: `retention`, `deletion_policy`, `login_delay`, `uidl_format`.
_ALIASES = {"retention": "pop3_retention_days"} | {k.removeprefix("pop3_"): k for k in SETTINGS}


def setting_key(text: str) -> str:
    key = text.lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in SETTINGS:
        raise CliError(f"unknown setting: {text} (known: {', '.join(SETTINGS)})", EXIT_USAGE)
    return key


@click.command("set")
@click.argument("address_", metavar="ADDRESS")
@click.argument("key", metavar="KEY")
@click.argument("value", metavar="VALUE")
@pass_state
def user_set(state: State, address_: str, key: str, value: str) -> None:
    """Override a POP3 setting for ADDRESS; VALUE "default" removes the override.

    \b
    KEY is one of:
      pop3_deletion_policy  expunge | trash | hide
      pop3_retention_days   days (also: retention)
      pop3_login_delay      seconds, 0 for none
      pop3_uidl_format      default | dovecot | cyrus
    """
    addr = address(address_)
    field = setting_key(key)
    parse, _ = SETTINGS[field]
    parsed = None if value.lower() in _CLEAR else parse(value)

    async def go(store: OpenDirectory) -> None:
        account = await account_of(store, addr)
        settings = dataclasses.replace(account.settings, **{field: parsed})
        await store.set_settings(account.id, settings)

    with_directory(state, go)
    shown = "default" if parsed is None else str(getattr(parsed, "value", parsed))
    click.echo(f"{field} for {addr}: {shown}")


def _server_default(state: State, field: str) -> str:
    from posteingang.pop3.settings import Pop3Settings

    pop3 = state.config().section(Pop3Settings)
    value = getattr(pop3, field.removeprefix("pop3_"), None)
    if value is None:
        return "not set"
    return str(getattr(value, "value", value))


@click.command("show")
@click.argument("address_", metavar="ADDRESS")
@pass_state
def user_show(state: State, address_: str) -> None:
    """Show ADDRESS: quota, usage, and each setting with the server default it overrides."""
    addr = address(address_)

    async def go(store: Store) -> tuple[AccountSettings, int | None, int, int]:
        account = await account_of(store, addr)
        boxes = await store.list_mailboxes(account.id)
        return account.settings, account.quota_bytes, await store.usage(account.id), len(boxes)

    settings, quota, used, boxes = with_store(state, go)

    table = Table("setting", "value", title=addr)
    table.add_row("quota", format_size(quota) if quota else "none")
    table.add_row("usage", format_size(used))
    table.add_row("mailboxes", str(boxes))
    for field in SETTINGS:
        own = getattr(settings, field)
        server = _server_default(state, field)
        if own is None:
            table.add_row(field, f"default ({server})")
        else:
            table.add_row(field, str(getattr(own, "value", own)))
    table.print()
