"""IMAP server settings: limits, timeouts and the cleartext policy, with documented defaults.

What it is for: the config file's ``[imap]`` section (a `Section`, read by the
config loader). The session, the reader and the shell take their limits from
here, and CAPABILITY advertises ``APPENDLIMIT`` from ``max_message_size``. The
runtime applies ``server.hostname`` and ``auth.allow_plaintext`` on top, and
each listener's timeouts (`server.py`).

What it must never do: read files, open sockets or look at the environment.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from posteingang.section import MiB, Section, Setting

__all__ = ["ImapSettings"]


class ImapSettings(Section, frozen=True, kw_only=True):
    """The IMAP server: limits, timeouts and password policy."""

    max_line: Annotated[
        int,
        msgspec.Meta(ge=1024),
        Setting("Octets in one command line (literals not counted). RFC 9051 asks for >= 8192."),
    ] = 64 * 1024
    max_command: Annotated[
        int,
        msgspec.Meta(ge=8192),
        Setting("Octets of one command held in memory (lines plus small literals)."),
    ] = 2 * MiB
    max_message_size: Annotated[
        int,
        msgspec.Meta(ge=1024),
        Setting(
            "Largest message APPEND accepts, advertised as APPENDLIMIT (RFC 7889). "
            "A bigger literal is refused before its octets are read."
        ),
    ] = 64 * MiB
    max_depth: Annotated[
        int, msgspec.Meta(ge=4, le=256), Setting("Nesting of lists and SEARCH keys.")
    ] = 32
    max_search_keys: Annotated[
        int,
        msgspec.Meta(ge=16, le=100_000),
        Setting(
            "Keys in one SEARCH program (a SEARCH costs keys times messages); "
            'more get BAD "too many search keys".'
        ),
    ] = 1000
    spool_threshold: Annotated[
        int,
        msgspec.Meta(ge=4096),
        Setting("Literals at least this big are written to a temporary file, not memory."),
    ] = 1 * MiB
    max_preauth_literal: Annotated[
        int,
        msgspec.Meta(ge=256),
        Setting("Largest literal accepted before login (user names, passwords)."),
    ] = 8 * 1024
    login_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds a client may stay silent before it has logged in."),
    ] = 60.0
    idle_timeout: Annotated[
        float,
        msgspec.Meta(ge=1800),
        Setting(
            "Seconds a logged-in client may stay silent, IDLE included. RFC 9051 §5.4 "
            "requires at least 30 minutes."
        ),
    ] = 1800.0
    allow_plaintext_auth: Annotated[
        bool,
        Setting(
            "Accept LOGIN and AUTHENTICATE PLAIN on connections without TLS from any "
            "address (otherwise only from loopback; LOGINDISABLED is advertised)."
        ),
    ] = False
    plaintext_from_loopback: Annotated[
        bool, Setting("Accept passwords without TLS from loopback addresses.")
    ] = True
    hostname: Annotated[str, Setting("The name in the greeting.")] = "localhost"
    spool_dir: Annotated[
        str,
        Setting("Directory for spooled APPEND literals.", default_text="the system temp dir"),
    ] = ""
    processes: Annotated[
        int,
        msgspec.Meta(ge=0, le=64),
        Setting(
            "Processes that serve IMAP connections, the server's own included, each on "
            "its own CPU core (SQLite store only; listener connection limits then apply "
            "per process, login throttling and per-account limits "
            "for all). 0 (the default) means one per CPU core, at most 4.",
        ),
    ] = 0

    def worker_processes(self, cpus: int | None) -> int:
        """How many processes to start besides the server's own."""
        return (self.processes or min(cpus or 1, 4)) - 1
