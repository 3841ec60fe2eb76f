"""Only the bulk ``FETCH 1:* BODY.PEEK[]`` of bench_imap, for both servers, with CPU time.

``BENCH_IMAP_ONLY=fetch python -m bench imap`` gives the table row; this runs
the same measurement as `bench_imap.bulk_fetch` (same data, servers and client)
`ROUNDS` times on each server and adds what wall-clock MB/s on a shared
machine cannot show:

* server CPU µs per message (ours: the server process; Dovecot: every process
  of its tree, i.e. the imap process and the login/auth helpers);
* client CPU µs per message (the benchmark's own `bench_imap.Client`), to see
  that the client is not what limits the rate;
* a raw-socket ceiling: the same FETCH read with ``recv_into`` and no parsing,
  i.e. how fast the server can send when the reader costs next to nothing.

Run: ``python -m bench.bench_imap_fetch``; BENCH_IMAP_FETCH_ROUNDS (3),
BENCH_IMAP_COUNT as in bench_imap.  BENCH_IMAP_PROFILE=path profiles our
server process as in bench_imap.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

# Seed only INBOX (bench_imap reads this at import, in the server's child process too).
os.environ.setdefault("BENCH_IMAP_ONLY", "fetch")

try:
    from bench import bench_imap
except ImportError:  # run as a script: python bench/bench_imap_fetch.py
    import bench_imap  # type: ignore[no-redef]

ROUNDS = int(os.environ.get("BENCH_IMAP_FETCH_ROUNDS", "3"))
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(root: int | None) -> float:
    """User + system CPU seconds of process `root` and its live descendants
    (Dovecot's imap process of the connection being measured among them)."""
    if root is None:
        return 0.0
    total = 0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def _tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def _raw_fetch(port: int) -> tuple[float, int]:
    """Best of three MB/s reading the FETCH with a bare socket (no IMAP parsing)."""
    tag = b"zq9"
    with socket.create_connection(("127.0.0.1", port)) as s:

        def command(line: bytes) -> int:
            s.sendall(line)
            buf = bytearray(4 << 20)
            view = memoryview(buf)
            total = 0
            tail = b"\r\n"  # the tagged line may be the first line of the answer
            while True:
                n = s.recv_into(view)
                if not n:
                    raise EOFError
                total += n
                tail = (tail + bytes(view[max(0, n - 4096) : n]))[-4096:]
                if tail.endswith(b"\r\n") and b"\r\n" + tag + b" " in tail:
                    return total

        s.recv(1000)
        command(
            b'%s LOGIN %s "%s"\r\n' % (tag, bench_imap.USER.encode(), bench_imap.PASSWORD.encode())
        )
        command(tag + b" EXAMINE INBOX\r\n")
        best, octets = 0.0, 0
        for _ in range(3):
            start = time.perf_counter()
            octets = command(tag + b" FETCH 1:* BODY.PEEK[]\r\n")
            best = max(best, octets / 1e6 / (time.perf_counter() - start))
        return best, octets


async def _warm(port: int) -> None:
    c = await bench_imap.Client.connect(port)
    await c.login()
    await c.cmd("EXAMINE INBOX")
    await c.cmd("FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)")
    await c.close()


async def _bulk_fetch(port: int, pid: int) -> tuple[float, int, float, float]:
    """`bench_imap.bulk_fetch` with CPU time taken around the three FETCHes only
    (not LOGIN's password hash): (MB/s, octets, server µs/msg, client µs/msg)."""
    c = await bench_imap.Client.connect(port)
    await c.login()
    await c.cmd("EXAMINE INBOX")
    server0, client0 = _cpu_seconds(pid), time.process_time()
    best, octets = await bench_imap.best_of_three_fetches(c)
    server1, client1 = _cpu_seconds(pid), time.process_time()
    await c.close()
    fetched = 3 * bench_imap.COUNT
    return best, octets, (server1 - server0) / fetched * 1e6, (client1 - client0) / fetched * 1e6


def _measure(port: int, pid: int, label: str) -> list[str]:
    asyncio.run(_warm(port))
    lines = []
    for r in range(ROUNDS):
        mb_s, octets, server_us, client_us = asyncio.run(_bulk_fetch(port, pid))
        raw_mb_s, _ = _raw_fetch(port)
        lines.append(
            f"{label} round {r + 1}: {mb_s:.0f} MB/s ({octets / 1e6:.1f} MB), "
            f"server CPU {server_us:.1f} µs/msg, client CPU {client_us:.1f} µs/msg, "
            f"raw-socket reader {raw_mb_s:.0f} MB/s"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> list[str]:
    bench_imap._raise_fd_limit()
    out = []
    with bench_imap.posteingang_server() as (port, pid, _lmtp):
        out += _measure(port, pid, "posteingang")
    if bench_imap.dovecot_available() and not os.environ.get("BENCH_IMAP_FETCH_NO_DOVECOT"):
        from posteingang.auth.passwords import hash_password

        dovecot_hash = "{ARGON2ID}" + hash_password(bench_imap.PASSWORD).split("}", 1)[1]
        with bench_imap.dovecot_server(dovecot_hash) as (dport, dpid):
            out += _measure(dport, dpid, "dovecot")
    return out


if __name__ == "__main__":
    main()
