"""The connection layer's settings: listeners, TLS, timeouts and limits.

What it is for: one `Section` per concern, each field with a default and a
`Setting` doc: the config file's `[tls]` and `[[listener]]`. The runtime turns
them into `TlsContexts` and `ListenerServer`s.

What it must never do: read files, open sockets or look at the environment; it only
describes and validates (cross-field checks in `problems()`).
"""

from __future__ import annotations

import enum
import ipaddress
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from posteingang.section import Section, Setting

__all__ = [
    "INTERMEDIATE_CIPHERS",
    "ListenerSettings",
    "SniCertificate",
    "TlsMode",
    "TlsSettings",
]

# Mozilla's "intermediate" server configuration (ssl-config.mozilla.org, guideline 5.7),
# TLS 1.2 part: forward secrecy and AEAD only.  TLS 1.3 suites are not set by this
# string (OpenSSL keeps its own, all of them fine).  The DHE suites are unusable
# without DH parameters, which we do not load: in practice ECDHE is negotiated.
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)


class TlsMode(enum.StrEnum):
    """How a listener speaks TLS."""

    NONE = "none"  # plaintext only (LMTP on a local socket, a port behind a TLS proxy)
    STARTTLS = "starttls"  # plaintext, upgraded by STARTTLS/STLS (143, 110, 25, 587)
    IMPLICIT = "implicit"  # TLS from the first byte (993, 995, 465, 443)


class SniCertificate(Section, frozen=True, kw_only=True):
    """One more certificate, presented to clients that ask for its server name (SNI)."""

    cert: Annotated[Path, Setting("PEM file with the certificate chain, leaf first.")]
    key: Annotated[Path, Setting("PEM file with the certificate's private key.")]


class TlsSettings(Section, frozen=True, kw_only=True):
    """The certificates TLS listeners present, and the protocol versions they accept."""

    cert: Annotated[
        Path,
        Setting(
            "PEM file with the default certificate chain, leaf first (used when the "
            "client sends no server name or one without its own certificate)."
        ),
    ] = Path("tls/cert.pem")
    key: Annotated[Path, Setting("PEM file with the default certificate's private key.")] = Path(
        "tls/key.pem"
    )
    min_version: Annotated[
        Literal["TLSv1.2", "TLSv1.3"],
        Setting("The oldest TLS version a client may negotiate. Older ones are never offered."),
    ] = "TLSv1.2"
    ciphers: Annotated[
        str,
        Setting(
            "OpenSSL cipher string for TLS 1.2 (TLS 1.3 suites are always OpenSSL's own). "
            "The default is Mozilla's intermediate list.",
            default_text="Mozilla intermediate (ECDHE with AES-GCM or ChaCha20-Poly1305)",
        ),
    ] = INTERMEDIATE_CIPHERS
    sni: Annotated[
        dict[str, SniCertificate],
        Setting(
            'Certificates by server name: `[tls.sni."mail.example.org"]` with `cert` and '
            '`key`. A name "*.example.org" matches one label. All are reloaded on SIGHUP.',
            default_text="none (every client gets the default certificate)",
        ),
    ] = msgspec.field(default_factory=dict)

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for name in self.sni:
            bare = name.removeprefix("*.")
            if not bare or "*" in bare or any(c.isspace() for c in name):
                out.append(("sni", f"not a server name: {name!r}"))
        return out


class ListenerSettings(Section, frozen=True, kw_only=True):
    """One listening socket: what it speaks, where, with which TLS, limits and timeouts."""

    protocol: Annotated[
        str, Setting('The protocol served: "IMAP", "POP3", "SMTP", "LMTP" or "HTTP".')
    ]
    port: Annotated[int, msgspec.Meta(ge=0, le=65535), Setting("TCP port (0: any free port).")]
    host: Annotated[
        str,
        Setting(
            'Address to bind: "::" (all), "0.0.0.0", "127.0.0.1", ..., or an absolute path '
            'for a Unix socket (e.g. LMTP from a local MTA: "/run/posteingang/lmtp.sock").'
        ),
    ] = "::"
    socket_mode: Annotated[
        int,
        msgspec.Meta(ge=0, le=0o777),
        Setting("File mode of a Unix socket (host is a path), e.g. 0o660 in TOML."),
    ] = 0o660
    tls: Annotated[
        TlsMode,
        Setting('"none", "starttls" (upgrade by command) or "implicit" (TLS from the start).'),
    ] = TlsMode.NONE
    proxy_protocol: Annotated[
        bool,
        Setting(
            "Expect a PROXY protocol v1 or v2 header (HAProxy, cloud load balancers) "
            "before anything else, and take the client address from it."
        ),
    ] = False
    trusted_proxies: Annotated[
        list[str],
        Setting(
            "With proxy_protocol: the load balancers' addresses or CIDR networks. "
            "Connections from anywhere else are refused.",
            default_text="none (every connection refused while proxy_protocol is on)",
        ),
    ] = msgspec.field(default_factory=list)
    max_connections: Annotated[
        int, msgspec.Meta(ge=1), Setting("Open connections on this listener.")
    ] = 1000
    max_connections_per_ip: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Open connections from one client address (IPv6: one /64) on this listener: a "
            "guard against floods, sized for offices and carrier-grade NAT, where hundreds "
            "of customers share one IPv4 address (each customer is limited by "
            "`limits.max_connections_per_user_ip`)."
        ),
    ] = 300
    login_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds a client may stay silent before it has logged in."),
    ] = 60.0
    idle_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting(
            "Seconds a logged-in client may stay silent. Protocols raise it where their "
            "RFC says so (IMAP: at least 30 minutes, RFC 9051 §5.4)."
        ),
    ] = 1800.0
    write_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting(
            "Seconds a client may leave our output unread (buffer full) before it is disconnected."
        ),
    ] = 60.0
    handshake_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds for the TLS handshake and for the PROXY protocol header."),
    ] = 15.0
    write_buffer: Annotated[
        int,
        msgspec.Meta(ge=4096),
        Setting("Octets of unsent output buffered per connection before writers wait."),
    ] = 256 * 1024

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for net in self.trusted_proxies:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                out.append(("trusted_proxies", f"not an address or CIDR network: {net!r}"))
        if self.proxy_protocol and not self.trusted_proxies:
            out.append(("trusted_proxies", "proxy_protocol is on but no proxy is trusted"))
        if self.is_unix and self.proxy_protocol:
            out.append(("proxy_protocol", "not available on a Unix socket"))
        return out

    @property
    def is_unix(self) -> bool:
        """True if ``host`` is a filesystem path: the listener is a Unix socket."""
        return self.host.startswith("/")
