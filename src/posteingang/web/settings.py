"""The ``[web]`` section: the webmail's sessions, list size and live-update timing.

The listeners themselves are ``[[listener]] protocol = "HTTP"`` tables like every
other protocol's; this section only holds what the web app itself needs.
What it must never do: read files, open sockets or look at the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from posteingang.section import Section, Setting

__all__ = ["WebSettings"]


class WebSettings(Section, frozen=True, kw_only=True):
    """The webmail: sessions, the message list and live updates."""

    session_idle_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds a browser session may stay unused before it must log in again."),
    ] = 8 * 3600.0
    session_lifetime: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds after login when a browser session ends however active it was."),
    ] = 7 * 24 * 3600.0
    page_size: Annotated[
        int,
        msgspec.Meta(ge=10, le=500),
        Setting("Messages on one page of the message list."),
    ] = 50
    heartbeat: Annotated[
        float,
        msgspec.Meta(gt=0, le=300),
        Setting(
            "Seconds between heartbeats on an open page's live-update stream, so proxies "
            "and browsers keep it open and a dead connection is noticed."
        ),
    ] = 15.0
    max_inline_images: Annotated[
        int,
        msgspec.Meta(ge=0),
        Setting(
            "Octets of inline (cid:) images embedded into one message's HTML view; "
            "images beyond it are left out."
        ),
    ] = 10 * 1024 * 1024
    undo_send_seconds: Annotated[
        float,
        msgspec.Meta(ge=10, le=20),
        Setting(
            "Seconds a sent message is held on the server before it leaves, so the "
            "Undo button can still stop it (10 to 20)."
        ),
    ] = 10.0
    max_upload: Annotated[
        int,
        msgspec.Meta(ge=1024),
        Setting("Octets one compose form may upload, attachments included (413 beyond it)."),
    ] = 25 * 1024 * 1024
    max_recipients: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Recipients (To, Cc and Bcc together) of one message sent from the webmail: "
            "a stolen password then sends no mass mailing in one go."
        ),
    ] = 100
    outbound_host: Annotated[
        str,
        Setting(
            "The outbound relay (SMTP submission) the webmail sends through; empty: "
            "sending is not configured, except to this server's own users."
        ),
    ] = ""
    outbound_port: Annotated[
        int,
        msgspec.Meta(ge=1, le=65535),
        Setting("The relay's port: 587 for submission with STARTTLS, 465 for implicit TLS."),
    ] = 587
    outbound_tls: Annotated[
        Literal["none", "starttls", "implicit"],
        Setting(
            "TLS to the relay: `starttls` (RFC 3207), `implicit` (RFC 8314) or `none` "
            "(only for a relay on this host)."
        ),
    ] = "starttls"
    outbound_ca_file: Annotated[
        Path | None,
        Setting(
            "PEM file of the CA certificates to trust for the relay's certificate instead "
            "of the system's (for a relay with a private CA); the name is always checked."
        ),
    ] = None
    outbound_username: Annotated[
        str,
        Setting("User name for SMTP AUTH at the relay; empty: no authentication."),
    ] = ""
    outbound_password: Annotated[
        str,
        Setting("Password for SMTP AUTH at the relay.", env=True, secret=True),
    ] = ""

    @property
    def can_relay(self) -> bool:
        return bool(self.outbound_host)
