"""A private Dovecot IMAP server for differential tests (Dovecot as oracle).

Usage::

    from tests.dovecot_fixture import dovecot_available, running_dovecot

    if dovecot_available():
        with running_dovecot(tmp_path) as dc:
            imap = imaplib.IMAP4(dc.host, dc.port)
            imap.login(dc.user, dc.password)

The instance listens on 127.0.0.1 on a free port, keeps everything (config,
maildir, logs, runtime sockets) under the given directory, accepts
cleartext PLAIN login without TLS, and is stopped when the block exits.
It needs the Debian ``dovecot-imapd`` package; callers skip when
`dovecot_available()` is false.  Not a conftest: import it explicitly.
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


def dovecot_binary() -> str | None:
    for cand in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def dovecot_available() -> bool:
    return dovecot_binary() is not None


@dataclass(frozen=True)
class DovecotServer:
    host: str
    port: int
    user: str
    password: str
    root: Path
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{mail}/%u
mail_fsync = never
mailbox_list_index = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {mail}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
service submission-login {{
  chroot =
}}
"""


@contextlib.contextmanager
def running_dovecot(root: Path, *, timeout: float = 15.0) -> Iterator[DovecotServer]:
    """Start Dovecot under ``root``; yields a `DovecotServer`; stops it after."""
    binary = dovecot_binary()
    if binary is None:
        raise RuntimeError("dovecot is not installed")
    root = Path(root).resolve()
    for sub in ("run", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    # Dovecot refuses to access mail as root, and the directory given to us
    # (pytest's tmp_path) is private; keep the mail in a directory of its own
    # owned by an unprivileged user.
    uid, gid = os.getuid(), os.getgid()
    mail = Path(tempfile.mkdtemp(prefix="dovecot-mail-"))
    os.chmod(mail, 0o755)
    if uid == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        os.chown(mail, uid, gid)
    port = _free_port()
    user, password = "tester", "secret"
    (mail / "passwd").write_text(f"{user}:{{PLAIN}}{password}\n")
    os.chmod(mail / "passwd", 0o644)
    conf = root / "dovecot.conf"
    conf.write_text(_CONFIG.format(root=root, mail=mail, port=port, uid=uid, gid=gid))
    log_path = root / "dovecot.log"
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "stderr.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                err = (root / "stderr.log").read_text(errors="replace")
                raise RuntimeError(f"dovecot exited: {err}\n{_read(log_path)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not start: {_read(log_path)}")
            time.sleep(0.05)
        yield DovecotServer("127.0.0.1", port, user, password, root, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(mail, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
