"""What every CLI command shares: config lookup, the store session, errors, passwords.

Error policy: a mistake by the user (bad config, unknown user, duplicate name,
invalid address) is one line on standard error and a non-zero exit status,
2 for usage and configuration errors and 1 for an operation that failed;
only `init` creates a store: every other command refuses a missing data
directory or store file (exit 2), so a mistyped `data_dir` is noticed at once;
our own bugs still raise with a traceback. Standard output carries only
results (tables, generated passwords), so scripts can capture it. This module
must never print a password except where a command generates one on purpose.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # imported where used: `posteingang --help` loads neither
    from rich.console import Console

    from posteingang.config import Config
    from posteingang.store.directory import Directory, OpenDirectory
    from posteingang.store.interface import Store
    from posteingang.store.model import Account

T = TypeVar("T")

DEFAULT_CONFIG = Path("data/posteingang.toml")
CONFIG_FILE_NAME = "posteingang.toml"

# What opening a store raises when its files are unusable (not our bug): one line, exit 1.
STORE_OPEN_ERRORS: tuple[type[Exception], ...] = (OSError, sqlite3.Error)

EXIT_OPERATION = 1
EXIT_USAGE = 2


class CliError(click.ClickException):
    """A user's mistake: shown as one `Error: ...` line, with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_OPERATION) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # a ClassVar in click's stubs


class MissingStore(CliError):
    """The configured data directory or store file does not exist (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


def missing_store(config: Config) -> str | None:
    """Why `config` points at no store (a message), or None if its files are there.

    Only `init` creates a store; anything else that opened a missing path would
    silently create an empty one (no users, `ready`), hiding a mistyped data_dir.
    """
    data_dir = Path(config.server.data_dir)
    hint = "create one with `posteingang init --data-dir DIR`, or correct server.data_dir"
    try:
        if not data_dir.is_dir():
            return f"data directory not found: {data_dir} ({hint})"
        if config.store.backend == "sqlite" and not Path(config.store.sqlite_path).is_file():
            return f"no store at {config.store.sqlite_path} ({hint})"
    except PermissionError as e:  # the data directory is 0700: another user's
        return (
            f"cannot access {e.filename or data_dir}: {e.strerror}"
            " (run as the user that owns the data directory)"
        )
    return None


def unwritable_store(config: Config) -> str | None:
    """Why the store cannot be written (a message), or None if a write would succeed.

    Probes what a delivery does: an SQLite write transaction (rolled back) and a
    file in the blob directory. A read-only store opens and answers reads, so
    without this `serve` would say `ready` and then fail every delivery.
    """
    if config.store.backend != "sqlite":
        return None
    import secrets

    db = Path(config.store.sqlite_path)
    try:
        conn = sqlite3.connect(db, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        blobs = Path(config.store.blob_dir)
        if blobs.exists():
            probe = blobs / f".write-probe-{secrets.token_hex(4)}"
            probe.touch()
            probe.unlink()
    except (OSError, sqlite3.Error) as e:
        return f"cannot write to the store {db}: {e}"
    return None


@dataclass
class State:
    """Per-invocation state on the click context (`ctx.obj`)."""

    config_path: Path | None
    _config: Config | None = None

    def config(self) -> Config:
        from posteingang.config import ConfigError, load_config

        if self._config is None:
            path = self.config_path
            if path is None:
                if not DEFAULT_CONFIG.exists():
                    raise CliError(
                        "no config file: pass --config FILE, set POSTEINGANG_CONFIG, "
                        "or run `posteingang init --data-dir ./data`",
                        EXIT_USAGE,
                    )
                path = DEFAULT_CONFIG
            try:
                config = load_config(path)
            except ConfigError as e:
                raise CliError(f"bad config: {e.summary()}", EXIT_USAGE) from None
            problem = missing_store(config)
            if problem is not None:
                raise MissingStore(problem)
            self._config = config
        return self._config


pass_state = click.make_pass_decorator(State)


def run_async(coro: Coroutine[Any, Any, T], event_loop: str = "asyncio") -> T:
    """Run one command's coroutine, turning store errors into one-line CLI errors.

    One-shot commands run on asyncio; `serve` passes ``server.event_loop``
    (`net.eventloop`: uvloop by default)."""
    from posteingang.net.eventloop import run
    from posteingang.store.errors import InvalidName, StoreError

    try:
        return run(coro, event_loop)
    except InvalidName as e:
        raise CliError(str(e), EXIT_USAGE) from None
    except StoreError as e:
        raise CliError(str(e), EXIT_OPERATION) from None


async def open_configured_store(config: Config) -> Store:
    from posteingang.store import open_store

    try:
        return await open_store(config.store, data_dir=config.server.data_dir)
    except STORE_OPEN_ERRORS as e:
        raise CliError(f"cannot open the store: {e}", EXIT_OPERATION) from None


def with_directory(state: State, action: Callable[[OpenDirectory], Awaitable[T]]) -> T:
    """Open the configured store's directory alone, run `action`, close it.

    For commands that touch only domains, accounts, aliases and devices: they
    start without the mailstore's code (`store.open_directory`).
    """
    from posteingang.store import open_directory

    config = state.config()

    async def go() -> T:
        try:
            directory = await open_directory(config.store, data_dir=config.server.data_dir)
        except STORE_OPEN_ERRORS as e:
            raise CliError(f"cannot open the store: {e}", EXIT_OPERATION) from None
        try:
            return await action(directory)
        finally:
            await directory.close()

    return run_async(go())


def with_store(state: State, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store, run `action`, close the store."""
    config = state.config()

    async def go() -> T:
        store = await open_configured_store(config)
        try:
            return await action(store)
        finally:
            await store.close()

    return run_async(go())


# -- names ---------------------------------------------------------------------------


def address(value: str) -> str:
    """A hosted address, lower-cased and IDNA-encoded; CliError (exit 2) if invalid."""
    from posteingang.store import names
    from posteingang.store.errors import InvalidName

    try:
        return names.normalize_address(value)
    except InvalidName as e:
        raise CliError(str(e), EXIT_USAGE) from None


def domain(value: str) -> str:
    from posteingang.store import names
    from posteingang.store.errors import InvalidName

    try:
        return names.normalize_domain(value)
    except InvalidName as e:
        raise CliError(str(e), EXIT_USAGE) from None


async def account_of(store: Directory, addr: str) -> Account:
    """The account of `addr`, or a one-line "unknown user" error (exit 1)."""
    account = await store.get_account(addr)
    if account is None:
        raise CliError(f"unknown user: {addr}")
    return account


# -- passwords -----------------------------------------------------------------------

_PASSWORD_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def generate_password(groups: int = 4) -> str:
    """`abcd-efgh-ijkl-mnop`: 4 groups of 4 from 36 symbols (about 82 bits).

    Lower case letters and digits only, so it is easy to type on a phone.
    """
    import secrets  # here: it loads OpenSSL, which `--help` does not need

    return "-".join(
        "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(groups)
    )


def read_password_stdin() -> str:
    """One line from standard input without its line ending (scripts: `echo pw | ...`)."""
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise CliError("no password on standard input", EXIT_USAGE)
    if len(password) > 1024:
        raise CliError("password longer than 1024 characters", EXIT_USAGE)
    return password


@dataclass(frozen=True, slots=True)
class Credentials:
    password_hash: str
    scram_sha256: str


def hash_credentials(password: str) -> Credentials:
    """The argon2id hash and the SCRAM-SHA-256 keys the store keeps for a password."""
    from posteingang.auth.passwords import hash_password
    from posteingang.auth.scram import derive_scram_sha256

    return Credentials(hash_password(password), derive_scram_sha256(password))


# -- sizes ---------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """`500M`, `2G`, `1.5GiB`, `1048576` -> octets (binary units)."""
    m = _SIZE.match(text)
    if not m:
        raise CliError(f"not a size: {text!r} (examples: 500M, 2G, 1048576)", EXIT_USAGE)
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(octets: int | None) -> str:
    if octets is None:
        return "-"
    value = float(octets)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # pragma: no cover


def console() -> Console:
    """A rich console on standard output; not a terminal: wide enough that nothing wraps."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)
