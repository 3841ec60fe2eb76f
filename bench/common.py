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


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # fields[11:15] are utime, stime, cutime, cstime (proc(5), counting from state)
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of process `pid` and every live descendant (Dovecot's workers)."""
    total = 0.0
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += proc_cpu_seconds(p)
        except OSError:
            continue
        todo.extend(children.get(p, []))
    return total
