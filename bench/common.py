"""Small helpers every benchmark uses: free ports, a process's memory, finding Dovecot."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of process `pid` from /proc (VmRSS, VmHWM, ...), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def dovecot_binary() -> str:
    return shutil.which("dovecot") or "/usr/sbin/dovecot"


def dovecot_available(service: str) -> bool:
    """Debian's Dovecot with the given service (`imap`, `pop3`, `lmtp`) installed."""
    return os.access(dovecot_binary(), os.X_OK) and Path(f"/usr/lib/dovecot/{service}").exists()
