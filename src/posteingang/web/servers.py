"""The IMAP and POP3 servers a mail program should be told about (setup.py)."""

from __future__ import annotations

from dataclasses import dataclass

from posteingang.net.settings import ListenerSettings, TlsMode

__all__ = ["ServerEntry", "entries_from"]


@dataclass(frozen=True, slots=True)
class ServerEntry:
    protocol: str  # "IMAP" or "POP3"
    host: str
    port: int
    tls: TlsMode

    @property
    def mozilla_socket(self) -> str:
        return {TlsMode.IMPLICIT: "SSL", TlsMode.STARTTLS: "STARTTLS"}.get(self.tls, "plain")

    @property
    def srv(self) -> str:
        """The SRV record for it (RFC 6186 §3; priority 0 for implicit TLS, RFC 8314 §5.1)."""
        service = {
            ("IMAP", TlsMode.IMPLICIT): "_imaps",
            ("IMAP", TlsMode.STARTTLS): "_imap",
            ("POP3", TlsMode.IMPLICIT): "_pop3s",
            ("POP3", TlsMode.STARTTLS): "_pop3",
        }[(self.protocol, self.tls)]
        priority = 0 if self.tls is TlsMode.IMPLICIT else 10
        return f"{service}._tcp  SRV  {priority} 1 {self.port} {self.host}."


def entries_from(listeners: list[ListenerSettings], hostname: str) -> list[ServerEntry]:
    """The configured IMAP/POP3 listeners a mail program can use (with TLS), best first."""
    found = [
        ServerEntry(s.protocol.upper(), hostname, s.port, s.tls)
        for s in listeners
        if s.protocol.upper() in ("IMAP", "POP3") and s.tls is not TlsMode.NONE and s.port
    ]
    found.sort(key=lambda e: (e.protocol != "IMAP", e.tls is not TlsMode.IMPLICIT))
    return found
