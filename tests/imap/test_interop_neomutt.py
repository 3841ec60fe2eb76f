"""neomutt reading a mailbox over IMAPS, driven through tmux.

Opens the INBOX, shows the index, opens a message (which marks it \\Seen on the
server), and quits. Skips cleanly without ``neomutt`` or ``tmux`` (Debian packages).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from tests.imap.harness import ALICE, PASSWORD, message
from tests.imap.server_fixture import RunningServer, running_server

pytestmark = pytest.mark.skipif(
    shutil.which("neomutt") is None or shutil.which("tmux") is None,
    reason="neomutt or tmux is not installed",
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    async def setup(store: object) -> None:
        for n in range(1, 4):
            await deliver(store, ALICE, message(n))  # type: ignore[arg-type]

    with running_server(tmp_path / "server", setup=setup) as running:
        yield running


class Tmux:
    def __init__(self, name: str, command: str, env: dict[str, str]) -> None:
        self.name = name
        exports = " ".join(f"{k}='{v}'" for k, v in env.items())
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "40",
             f"env {exports} {command}"],
            check=True,
        )  # fmt: skip

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, check: Callable[[str], bool], within: float = 20) -> str:
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if "(r)eject" in screen:  # the certificate prompt: accept once
                self.keys("o")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; screen:\n{screen}")
            time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_neomutt_reads_inbox_over_imaps(server: RunningServer, tmp_path: Path) -> None:
    certs = tmp_path / "certs.pem"
    certs.write_bytes(server.ca_file.read_bytes())
    rc = tmp_path / "muttrc"
    user = ALICE.replace("@", "%40")
    rc.write_text(
        f"""set folder="imaps://{user}@127.0.0.1:{server.imaps_port}/"
set spoolfile="+INBOX"
set imap_pass="{PASSWORD}"
set ssl_force_tls=yes
set certificate_file="{certs}"
set ssl_verify_host=no
set header_cache=""
set message_cachedir=""
set sort=date
set mark_old=no
set confirmappend=no
set quit=yes
set wait_key=no
"""
    )
    tmux = Tmux(f"neomutt-{time.monotonic_ns()}", f"neomutt -n -F {rc}", {"HOME": str(tmp_path)})
    try:
        index = tmux.wait_for(lambda s: "message 3" in s)
        assert "message 1" in index and "message 2" in index
        tmux.keys("1", "Enter")  # jump to message 1
        tmux.keys("Enter")  # open it
        tmux.wait_for(lambda s: "body of message 1" in s)
        tmux.keys("q")
        tmux.keys("$")  # sync the mailbox (writes \Seen)
        time.sleep(0.5)
        tmux.keys("q")
        time.sleep(1.0)
    finally:
        tmux.kill()

    async def flags() -> list[frozenset[str]]:
        account = await server.store.get_account(ALICE)
        assert account is not None
        box = await server.store.get_mailbox(account.id, "INBOX")
        assert box is not None
        return (await server.store.get_index(box.id)).flags

    seen = [("\\Seen" in f) for f in server.call(flags)]
    assert seen.count(True) == 1, seen
