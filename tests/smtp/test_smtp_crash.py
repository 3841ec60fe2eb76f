"""SIGKILL during 1,000 concurrent LMTP deliveries: nothing acknowledged is lost, nothing
is stored twice after the sender retries what got no 250, and the store checks clean."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving import serve_process
from tests.smtp.harness import DOMAIN, open_store

MESSAGES = 1000
CONCURRENCY = 50
WHO = ("bob", "carol", "postmaster")


def message(i: int) -> bytes:
    return (
        f"From: crash@example.org\r\nSubject: crash test {i}\r\n"
        f"Message-ID: <crash-{i}@example.org>\r\n\r\n".encode()
        + b"body line\r\n" * (1 + i % 50)
    )


async def lmtp_deliver(port: int, i: int) -> bool:
    """One LMTP transaction; True only if the final reply was 250."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        rcpt = f"{WHO[i % len(WHO)]}@{DOMAIN}"
        writer.write(
            b"LHLO crash.test\r\nMAIL FROM:<crash@example.org>\r\n"
            + f"RCPT TO:<{rcpt}>\r\nDATA\r\n".encode()
        )
        replies: list[bytes] = []
        while len([r for r in replies if r[3:4] == b" "]) < 5:
            line = await reader.readline()
            if not line:
                return False
            replies.append(line)
        if not replies[-1].startswith(b"354"):
            return False
        writer.write(message(i) + b".\r\nQUIT\r\n")
        final = await reader.readline()
        return final.startswith(b"250")
    except (OSError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()


def start_runner(data_dir: Path, processes: int = 1) -> tuple[subprocess.Popen[str], int]:
    """The LMTP server: a single process (``processes=1``), or `posteingang serve` with
    delivery workers, started in its own process group so SIGKILL takes every process."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'src'}"}
    if processes > 1:
        runner = str(Path(__file__).with_name("lmtp_runner.py"))
        subprocess.run([sys.executable, runner, str(data_dir), "--populate"], env=env, check=True)
        port = free_port()
        config = data_dir / "posteingang.toml"
        config.write_text(
            f'[server]\nhostname = "mx.example.test"\ndata_dir = "{data_dir}"\n'
            f'[log]\nlevel = "warning"\n[smtp]\nprocesses = {processes}\n'
            f'[[listener]]\nprotocol = "LMTP"\nhost = "127.0.0.1"\nport = {port}\n'
            "max_connections = 2000\nmax_connections_per_ip = 2000\n"
        )
        return serve_process(config, env=env, cwd=root, start_new_session=True), port
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("lmtp_runner.py")), str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, int(line.split()[1])


async def deliver_all(
    port: int, numbers: list[int], kill_after: int | None, proc: object
) -> set[int]:
    acknowledged: set[int] = set()
    semaphore = asyncio.Semaphore(CONCURRENCY)
    killed = asyncio.Event()

    async def one(i: int) -> None:
        async with semaphore:
            if killed.is_set():
                return
            if await lmtp_deliver(port, i):
                acknowledged.add(i)
                if (
                    kill_after is not None
                    and len(acknowledged) >= kill_after
                    and not killed.is_set()
                ):
                    killed.set()
                    assert isinstance(proc, subprocess.Popen)
                    kill_all(proc)

    await asyncio.gather(*(one(i) for i in numbers))
    return acknowledged


def kill_all(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the server and, if it has its own process group, its workers too."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("processes", [1, 2], ids=["one process", "with a delivery worker"])
async def test_sigkill_during_1000_lmtp_deliveries(tmp_path: Path, processes: int) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    proc, port = start_runner(data_dir, processes)
    try:
        first = await deliver_all(port, list(range(MESSAGES)), MESSAGES // 3, proc)
    finally:
        kill_all(proc)
        proc.wait(10)
    assert MESSAGES // 3 <= len(first) < MESSAGES  # the kill interrupted deliveries
    proc, port = start_runner(data_dir, processes)
    try:
        # every message without its 250, plus some that had it (a sender whose
        # connection broke just after the reply also resends)
        retry = [i for i in range(MESSAGES) if i not in first] + sorted(first)[:50]
        second = await deliver_all(port, retry, None, proc)
        assert second == set(retry)
    finally:
        kill_all(proc)
        proc.wait(10)
    store = await open_store(data_dir)
    try:
        seen: dict[int, int] = {}
        for who in WHO:
            account = await store.get_account(f"{who}@{DOMAIN}")
            assert account is not None
            inbox = await store.get_mailbox(account.id, "INBOX")
            assert inbox is not None
            index = await store.get_index(inbox.id)
            for m in await store.get_messages(inbox.id, index.uids):
                raw = await store.blobs.get(m.blob_id)
                number = int(raw.split(b"Message-ID: <crash-", 1)[1].split(b"@", 1)[0])
                seen[number] = seen.get(number, 0) + 1
        assert sorted(seen) == list(range(MESSAGES))  # nothing lost
        assert max(seen.values()) == 1  # nothing twice
        report = await store.check()
        assert report.clean, report
    finally:
        await store.close()
