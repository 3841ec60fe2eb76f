"""Small helpers every benchmark uses: free ports, a process's memory, a private Dovecot."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class DovecotServer:
    """A running private Dovecot: its listener's port, master pid and directories."""

    port: int
    pid: int
    root: Path
    mail: Path


@contextmanager
def dovecot(
    protocols: str,
    config_body: str,
    greeting: bytes,
    populate: Callable[[Path], None] | None = None,
    timeout: float = 20,
) -> Iterator[DovecotServer]:
    """A private Dovecot serving `protocols` on a free loopback port, until the block ends.

    `config_body` is the benchmark's own part of dovecot.conf (passdb/userdb, listeners,
    mail_location, ...), a `str.format` template with `{mail}`, `{port}`, `{uid}` and
    `{gid}`; the base_dir/state_dir/log_path/protocols/listen lines come first.
    `populate(mail)` fills the mail directory before it is handed to the mail user
    (`nobody` when run as root).  Ready once a connection to the port greets with
    `greeting` (`b"* OK"`, `b"+OK"`, `b"220"`).
    """
    root = Path(tempfile.mkdtemp(prefix=f"dovecot-{protocols}-"))
    mail = Path(tempfile.mkdtemp(prefix=f"dovecot-{protocols}-mail-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for sub in ("run", "state"):
            (root / sub).mkdir()
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:  # Dovecot refuses to access mail as root
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
        if populate is not None:
            populate(mail)
        for path in [mail, *mail.rglob("*")]:
            os.chown(path, uid, gid)
        os.chmod(mail, 0o755)
        port = free_port()
        conf = root / "dovecot.conf"
        conf.write_text(
            f"base_dir = {root}/run\n"
            f"state_dir = {root}/state\n"
            f"log_path = {root}/dovecot.log\n"
            f"protocols = {protocols}\n"
            "listen = 127.0.0.1\n" + config_body.format(mail=mail, port=port, uid=uid, gid=gid)
        )
        proc = subprocess.Popen(
            [dovecot_binary(), "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(100).startswith(greeting):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log_file = root / "dovecot.log"
                log = log_file.read_text(errors="replace") if log_file.exists() else ""
                raise RuntimeError(f"dovecot did not start: {log[-2000:]}")
            time.sleep(0.05)
        yield DovecotServer(port=port, pid=proc.pid, root=root, mail=mail)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(mail, ignore_errors=True)


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
