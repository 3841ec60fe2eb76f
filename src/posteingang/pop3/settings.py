"""The `[pop3]` section: server-wide POP3 behaviour, the defaults every account can override.

The struct is both the config file's section and what the sessions read, so a
setting is described once: the loader validates the file into it, and the
runtime fills in the `derived` fields from the rest of the config (the greeting
name is `server.hostname`, cleartext passwords follow `auth.allow_plaintext`,
the timeouts are the listener's). `policy.account_policy` applies an account's
own overrides to the first four settings.

What it must never do: read files, open sockets or look at the environment.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from posteingang.section import Section, Setting
from posteingang.store.model import DeletionPolicy

__all__ = ["Pop3Settings"]


class Pop3Settings(Section, frozen=True, kw_only=True):
    """Server defaults for POP3; each account can override them."""

    derived: ClassVar[frozenset[str]] = frozenset(
        {
            "allow_plaintext_auth",
            "plaintext_from_loopback",
            "hostname",
            "implementation",
            "idle_timeout",
            "login_timeout",
        }
    )

    deletion_policy: Annotated[
        DeletionPolicy,
        Setting(
            'What a DELE does at QUIT: "expunge" removes the message, "trash" moves it '
            'to Trash, "hide" only hides it from POP3 (IMAP and webmail still see it).'
        ),
    ] = DeletionPolicy.EXPUNGE
    retention_days: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        Setting(
            "Leave-on-server limit announced as EXPIRE (RFC 2449): messages older "
            "than this may be removed.",
            default_text="not set (keep forever, EXPIRE NEVER)",
        ),
    ] = None
    uidl_format: Annotated[
        Literal["default", "dovecot", "cyrus"],
        Setting(
            'How UIDL unique-ids are spelt: "default" (uidvalidity and uid, hex), '
            '"dovecot" (%08Xu%08Xv, for accounts migrated from Dovecot) or "cyrus" '
            "(uidvalidity.uid). Mail programs re-download everything when it changes."
        ),
    ] = "default"
    login_delay: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        Setting(
            "Minimum seconds between two logins of one client, announced as LOGIN-DELAY "
            "(RFC 2449) and enforced with -ERR [LOGIN-DELAY].",
            default_text="not set (no limit)",
        ),
    ] = None
    apop: Annotated[
        bool,
        Setting(
            "Offer APOP (RFC 1939 §7). It needs the plaintext password on the server, so it "
            "only works for accounts whose stored password is {PLAIN}; off by default."
        ),
    ] = False
    seen_on_retr: Annotated[
        bool,
        Setting("RETR marks the message \\Seen, so IMAP and webmail show it as read."),
    ] = True
    processes: Annotated[
        int,
        msgspec.Meta(ge=0, le=64),
        Setting(
            "Processes that serve POP3 connections, the server's own included, each on "
            "its own CPU core (SQLite store only; listener connection limits then apply "
            "per process, login throttling and per-account limits and maildrop locks "
            "for all). 0 means one per CPU core, at most 4.",
        ),
    ] = 1

    def worker_processes(self, cpus: int | None) -> int:
        """How many processes to start besides the server's own."""
        return (self.processes or min(cpus or 1, 4)) - 1

    # Derived (not in the file). Password logins (USER/PASS, AUTH PLAIN/LOGIN) on a
    # connection without TLS: refused and not announced, except from a loopback address.
    allow_plaintext_auth: bool = False
    plaintext_from_loopback: bool = True
    hostname: str = "localhost"
    implementation: str | None = "posteingang"
    idle_timeout: float = 600.0  # RFC 1939 §3: the autologout timer is at least 10 minutes
    login_timeout: float = 60.0  # before login
