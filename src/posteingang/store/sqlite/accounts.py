"""SQLite jobs for domains, accounts, aliases, devices and login records.

Write functions take the writer's connection and return `(result, changes)`;
read functions take a reader connection. Names are validated by the caller
(`SqliteStore`) through `store.names`, so these functions only speak SQL.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from posteingang.store import names
from posteingang.store.errors import AlreadyExists, Conflict, NotFound
from posteingang.store.hub import Change, credentials_change
from posteingang.store.model import (
    Account,
    AccountSettings,
    AccountUsage,
    Alias,
    Device,
    Domain,
    LoginRecord,
)
from posteingang.store.sqlite.rows import (
    ACCOUNT_COLUMNS,
    DEVICE_COLUMNS,
    account_row,
    device_row,
    from_ts,
)

NoChanges: list[Change] = []


def ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


# -- domains -------------------------------------------------------------------------
def get_domain(conn: sqlite3.Connection, name: str) -> Domain | None:
    row = conn.execute("SELECT name, catch_all FROM domains WHERE name = ?", (name,)).fetchone()
    return Domain(row[0], row[1]) if row else None


def list_domains(conn: sqlite3.Connection) -> list[Domain]:
    rows = conn.execute("SELECT name, catch_all FROM domains ORDER BY name").fetchall()
    return [Domain(r[0], r[1]) for r in rows]


def add_domain(conn: sqlite3.Connection, name: str) -> tuple[Domain, list[Change]]:
    try:
        conn.execute("INSERT INTO domains (name) VALUES (?)", (name,))
    except sqlite3.IntegrityError:
        raise AlreadyExists(f"domain {name} already exists") from None
    return Domain(name), NoChanges


def remove_domain(conn: sqlite3.Connection, name: str) -> tuple[None, list[Change]]:
    if get_domain(conn, name) is None:
        raise NotFound(f"no such domain: {name}")
    like = "%@" + name
    if conn.execute("SELECT 1 FROM accounts WHERE address LIKE ?", (like,)).fetchone():
        raise Conflict(f"domain {name} still has accounts")
    if conn.execute("SELECT 1 FROM aliases WHERE source LIKE ?", (like,)).fetchone():
        raise Conflict(f"domain {name} still has aliases")
    conn.execute("DELETE FROM domains WHERE name = ?", (name,))
    return None, NoChanges


def set_catch_all(
    conn: sqlite3.Connection, domain: str, target: str | None
) -> tuple[None, list[Change]]:
    if get_domain(conn, domain) is None:
        raise NotFound(f"no such domain: {domain}")
    if target is not None and get_account(conn, target) is None:
        raise NotFound(f"no such user: {target}")
    conn.execute("UPDATE domains SET catch_all = ? WHERE name = ?", (target, domain))
    return None, NoChanges


# -- accounts ------------------------------------------------------------------------
def get_account(conn: sqlite3.Connection, address: str) -> Account | None:
    row = conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE address = ?", (address,)
    ).fetchone()
    return account_row(row) if row else None


def get_account_by_id(conn: sqlite3.Connection, account_id: int) -> Account | None:
    row = conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    return account_row(row) if row else None


def require_account(conn: sqlite3.Connection, address: str) -> Account:
    account = get_account(conn, address)
    if account is None:
        raise NotFound(f"no such user: {address}")
    return account


def list_accounts(conn: sqlite3.Connection, domain: str | None) -> list[Account]:
    if domain is None:
        rows = conn.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY address")
    else:
        rows = conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE address LIKE ? ORDER BY address",
            ("%@" + domain,),
        )
    return [account_row(r) for r in rows.fetchall()]


def list_account_usage(conn: sqlite3.Connection, domain: str | None) -> list[AccountUsage]:
    """The accounts (of `domain`) with their usage and mailbox count, in one read."""
    result = []
    for account in list_accounts(conn, domain):
        mailboxes, used = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM((SELECT SUM(m.size) FROM messages m"
            " WHERE m.mailbox_id = b.id)), 0) FROM mailboxes b WHERE b.account_id = ?",
            (account.id,),
        ).fetchone()
        result.append(AccountUsage(account, int(used), int(mailboxes)))
    return result


def insert_account(
    conn: sqlite3.Connection,
    address: str,
    password_hash: str,
    scram_sha256: str | None,
    quota_bytes: int | None,
) -> Account:
    if get_domain(conn, names.domain_of(address)) is None:
        raise NotFound(f"domain {names.domain_of(address)} is not hosted here")
    if conn.execute("SELECT 1 FROM aliases WHERE source = ?", (address,)).fetchone():
        raise AlreadyExists(f"{address} is already an alias")
    try:
        cur = conn.execute(
            "INSERT INTO accounts (address, password_hash, scram_sha256, quota_bytes)"
            " VALUES (?, ?, ?, ?)",
            (address, password_hash, scram_sha256, quota_bytes),
        )
    except sqlite3.IntegrityError:
        raise AlreadyExists(f"user {address} already exists") from None
    assert cur.lastrowid is not None
    return Account(
        cur.lastrowid, address, password_hash, quota_bytes, AccountSettings(), scram_sha256
    )


def update_account(
    conn: sqlite3.Connection, account_id: int, **columns: object
) -> tuple[None, list[Change]]:
    sets = ", ".join(f"{k} = ?" for k in columns)
    cur = conn.execute(f"UPDATE accounts SET {sets} WHERE id = ?", (*columns.values(), account_id))
    if cur.rowcount == 0:
        raise NotFound(f"account {account_id} does not exist")
    return None, NoChanges


# -- aliases -------------------------------------------------------------------------
def add_alias(conn: sqlite3.Connection, source: str, target: str) -> tuple[Alias, list[Change]]:
    target_account = require_account(conn, target)
    if get_domain(conn, names.domain_of(source)) is None:
        raise NotFound(f"domain {names.domain_of(source)} is not hosted here")
    if get_account(conn, source) is not None:
        raise AlreadyExists(f"{source} is a user, not an alias")
    try:
        conn.execute(
            "INSERT INTO aliases (source, target) VALUES (?, ?)", (source, target_account.address)
        )
    except sqlite3.IntegrityError:
        raise AlreadyExists(f"alias {source} -> {target} already exists") from None
    return Alias(source, target_account.address), NoChanges


def remove_alias(
    conn: sqlite3.Connection, source: str, target: str | None
) -> tuple[None, list[Change]]:
    if target is None:
        cur = conn.execute("DELETE FROM aliases WHERE source = ?", (source,))
    else:
        cur = conn.execute("DELETE FROM aliases WHERE source = ? AND target = ?", (source, target))
    if cur.rowcount == 0:
        raise NotFound(f"no such alias: {source}")
    return None, NoChanges


def list_aliases(conn: sqlite3.Connection, domain: str | None) -> list[Alias]:
    if domain is None:
        rows = conn.execute("SELECT source, target FROM aliases ORDER BY source, target")
    else:
        rows = conn.execute(
            "SELECT source, target FROM aliases WHERE source LIKE ? ORDER BY source, target",
            ("%@" + domain,),
        )
    return [Alias(r[0], r[1]) for r in rows.fetchall()]


def resolve_address(
    conn: sqlite3.Connection, address: str, catch_all: bool = True
) -> list[Account]:
    account = get_account(conn, address)
    if account is not None:
        return [account]
    targets = conn.execute(
        "SELECT DISTINCT target FROM aliases WHERE source = ? ORDER BY target", (address,)
    ).fetchall()
    if targets:
        return [a for (t,) in targets if (a := get_account(conn, t)) is not None]
    domain = get_domain(conn, names.domain_of(address)) if catch_all else None
    if domain is not None and domain.catch_all:
        found = get_account(conn, domain.catch_all)
        return [found] if found else []
    return []


# -- devices and logins ------------------------------------------------------------
def add_device(
    conn: sqlite3.Connection,
    account_id: int,
    name: str,
    password_hash: str,
    selector: str | None = None,
) -> tuple[Device, list[Change]]:
    if get_account_by_id(conn, account_id) is None:
        raise NotFound(f"account {account_id} does not exist")
    if selector is not None and get_device_by_selector(conn, account_id, selector):
        raise AlreadyExists(f"device selector {selector!r} already in use")
    now = datetime.now(UTC)
    try:
        cur = conn.execute(
            "INSERT INTO devices (account_id, name, password_hash, created, selector)"
            " VALUES (?, ?, ?, ?, ?)",
            (account_id, name, password_hash, ts(now), selector),
        )
    except sqlite3.IntegrityError:
        raise AlreadyExists(f"device {name!r} already exists") from None
    assert cur.lastrowid is not None
    device = Device(cur.lastrowid, account_id, name, password_hash, now, selector=selector)
    return device, NoChanges


def get_device_by_selector(
    conn: sqlite3.Connection, account_id: int, selector: str
) -> Device | None:
    row = conn.execute(
        f"SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ? AND selector = ?",
        (account_id, selector),
    ).fetchone()
    return device_row(row) if row else None


def list_devices(conn: sqlite3.Connection, account_id: int) -> list[Device]:
    rows = conn.execute(
        f"SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ? ORDER BY name", (account_id,)
    ).fetchall()
    return [device_row(r) for r in rows]


def revoke_device(
    conn: sqlite3.Connection, account_id: int, name: str
) -> tuple[None, list[Change]]:
    row = conn.execute(
        "SELECT id FROM devices WHERE account_id = ? AND name = ?", (account_id, name)
    ).fetchone()
    if row is None:
        raise NotFound(f"no such device: {name}")
    conn.execute("DELETE FROM devices WHERE id = ?", (row[0],))
    return None, [credentials_change(account_id, "device", int(row[0]))]


def record_login(conn: sqlite3.Connection, r: LoginRecord) -> tuple[None, list[Change]]:
    conn.execute(
        "INSERT INTO logins (account_id, device_id, protocol, address, client_id, at, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            r.account_id,
            r.device_id,
            r.protocol,
            r.address,
            r.client_id,
            ts(r.at),
            r.source or r.address,
        ),
    )
    if r.device_id is not None:
        conn.execute(
            "UPDATE devices SET last_login = ?, last_protocol = ?, last_address = ?,"
            " last_client_id = ? WHERE id = ?",
            (ts(r.at), r.protocol, r.address, r.client_id, r.device_id),
        )
    return None, NoChanges


def list_logins(conn: sqlite3.Connection, account_id: int, limit: int) -> list[LoginRecord]:
    rows = conn.execute(
        "SELECT account_id, device_id, protocol, address, client_id, at, source FROM logins"
        " WHERE account_id = ? ORDER BY at DESC, id DESC LIMIT ?",
        (account_id, limit),
    ).fetchall()
    return [
        LoginRecord(r[0], r[1], r[2], r[3], r[4], from_ts(r[5]) or datetime.now(UTC), r[6])
        for r in rows
    ]


def logged_in_from(conn: sqlite3.Connection, account_id: int, source: str, since: datetime) -> bool:
    row = conn.execute(
        "SELECT 1 FROM logins WHERE account_id = ? AND source = ? AND at >= ? LIMIT 1",
        (account_id, source, ts(since)),
    ).fetchone()
    return row is not None
