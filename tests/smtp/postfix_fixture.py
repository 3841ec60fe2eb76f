"""A private Postfix instance on loopback that relays to our LMTP (for interop tests).

``running_postfix(lmtp_port=, domain=)`` writes ``main.cf`` and ``master.cf``
into ``ROOT/etc``, keeps its queue in ``ROOT/queue``, where ROOT is a fresh
directory that the ``postfix`` user can reach (pytest's tmp dirs are private
to root, so they cannot be used), removed afterwards; it listens with smtpd on a free
127.0.0.1 port and delivers every recipient of ``domain`` with
``virtual_transport = lmtp:inet:127.0.0.1:PORT``.  Started with
``postfix -c DIR start``, stopped with ``postfix -c DIR stop`` (and ``abort``
fallbacks).  Needs Debian's ``postfix`` and root (Postfix drops to its ``postfix``
user); callers skip when :func:`postfix_available` is false.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"


def postfix_available() -> bool:
    if not (os.access(POSTFIX, os.X_OK) and Path("/etc/postfix/master.cf").exists()):
        return False
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return False
    return os.getuid() == 0


@dataclass(frozen=True)
class PostfixInstance:
    config_dir: Path
    smtp_port: int
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def flush(self) -> None:
        subprocess.run([POSTFIX, "-c", str(self.config_dir), "flush"], check=False, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
lmtp_destination_concurrency_limit = 10
local_header_rewrite_clients =
smtputf8_enable = yes
biff = no
alias_maps =
alias_database =
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maillog_file_prefixes = {root}
maillog_file = {log}
smtpd_banner = $myhostname ESMTP
"""


def _master_cf(smtp_port: int) -> str:
    out = [f"127.0.0.1:{smtp_port} inet n - n - - smtpd"]
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        if not line or line.startswith("#") or line[0].isspace():
            continue
        fields = line.split()
        if len(fields) < 8 or fields[1] == "inet" or fields[7] == "pipe":
            continue  # no other listeners; no pipe transports (their users do not exist)
        fields[4] = "n"  # no chroot: our queue directory is not prepared for one
        out.append(" ".join(fields))
    return "\n".join(out) + "\n"


def _postfix(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [POSTFIX, "-c", str(config_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def running_postfix(*, lmtp_port: int, domain: str) -> Iterator[PostfixInstance]:
    root = Path(tempfile.mkdtemp(prefix="postfix-test-"))
    etc, queue, data = root / "etc", root / "queue", root / "data"
    for d in (etc, queue, data):
        d.mkdir(parents=True, exist_ok=True)
    postfix_user = pwd.getpwnam("postfix")
    os.chown(data, postfix_user.pw_uid, postfix_user.pw_gid)
    os.chmod(root, 0o755)
    log_path = root / "maillog"
    smtp_port = _free_port()
    (etc / "main.cf").write_text(
        _MAIN_CF.format(
            root=root, queue=queue, data=data, domain=domain, lmtp_port=lmtp_port, log=log_path
        )
    )
    (etc / "master.cf").write_text(_master_cf(smtp_port))
    for name in ("dynamicmaps.cf",):
        src = Path("/etc/postfix") / name
        if src.exists():
            shutil.copy(src, etc / name)
    # creates the queue's subdirectories with the right owners
    _postfix(etc, "set-permissions")
    started = _postfix(etc, "start")
    if started.returncode != 0:
        raise RuntimeError(f"postfix start failed: {started.stdout}{started.stderr}")
    instance = PostfixInstance(etc, smtp_port, log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", smtp_port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"postfix did not start listening:\n{instance.log()}")
            time.sleep(0.1)
        yield instance
    finally:
        if _postfix(etc, "stop").returncode != 0:
            _postfix(etc, "abort")
        pid_file = queue / "pid" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once the master has exited
                time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)
