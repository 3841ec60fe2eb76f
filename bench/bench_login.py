"""Logins per second over TLS (PLAIN and SCRAM-SHA-256), and memory per idle TLS connection.

Targets (issue 3): recorded, no fixed number; the argon2id parameters (auth.passwords)
bound PLAIN to about (CPU count / verification time) logins per second.

Setup: one implicit-TLS `ListenerServer` on loopback speaking a one-line protocol
(`PLAIN <base64>` / `SCRAM <base64>` ... answered `OK`/`NO`/`+ <base64>`), each login
going through `auth.login.authenticate_sasl` with a real `Throttle` and the memory
store.  Clients run in the same event loop for the login rates (a SCRAM client caches
its ClientKey, as real clients do, so the rate measures the server).  Memory: a child
process opens 1,000 TLS connections and holds them idle; the server's RSS growth is
divided by 1,000.

Run: `python -m bench.bench_login` (or `python -m bench login` once registered).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import os
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trustme

from posteingang.auth.login import authenticate_sasl
from posteingang.auth.passwords import hash_password
from posteingang.auth.sasl import create_mechanism
from posteingang.auth.scram import derive_scram_sha256, salted_password
from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.log import configure_logging
from posteingang.net.connection import Connection
from posteingang.net.server import ListenerServer
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import CertPair, TlsContexts, tune_asyncio_tls_buffers
from posteingang.store.memory import MemoryStore

PASSWORD = "bench-password-123"
USERS = 8
CLIENTS = 8
SECONDS = 5.0
IDLE_CONNECTIONS = 1000


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _certs(directory: Path) -> tuple[trustme.CA, CertPair, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    pair = CertPair(directory / "cert.pem", directory / "key.pem")
    cert.private_key_and_cert_chain_pem.write_to_path(str(pair.cert))
    cert.private_key_pem.write_to_path(str(pair.key))
    ca_path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return ca, pair, ca_path


async def _server(pair: CertPair) -> tuple[ListenerServer, MemoryStore]:
    store = MemoryStore()
    await store.add_domain("example.test")
    for i in range(USERS):
        await store.create_account(
            f"user{i}@example.test",
            hash_password(PASSWORD),
            scram_sha256=derive_scram_sha256(PASSWORD),
        )
    # Nobody fails here: the throttle is on the path but never delays.
    throttle = Throttle(ThrottlePolicy(max_parallel_per_address=CLIENTS))

    async def handler(conn: Connection) -> None:
        conn.timeout = 600
        while True:
            line = (await conn.read_line(4096)).split()
            if not line:
                continue
            name = "SCRAM-SHA-256" if line[0] == b"SCRAM" else line[0].decode()
            mech = create_mechanism(name, tls=conn.is_tls, allow_plaintext=False)
            if mech is None:
                await conn.write(b"NO\r\n")
                continue

            async def challenge(data: bytes) -> bytes | None:
                await conn.write(b"+ " + base64.b64encode(data) + b"\r\n")
                return base64.b64decode((await conn.read_line(4096)).strip())

            initial = base64.b64decode(line[1]) if len(line) > 1 else None
            result = await authenticate_sasl(
                store,
                throttle,
                mech,
                initial,
                challenge,
                protocol="bench",
                address=conn.peer.host,
            )
            reply = b"OK"
            if result.final_data is not None:
                reply += b" " + base64.b64encode(result.final_data)
            await conn.write((reply if result.login.ok else b"NO") + b"\r\n")

    settings = ListenerSettings(
        protocol="BENCH",
        host="127.0.0.1",
        port=0,
        tls=TlsMode.IMPLICIT,
        max_connections=10_000,
        max_connections_per_ip=10_000,
    )
    server = ListenerServer(settings, handler, tls=TlsContexts(pair))
    await server.start()
    return server, store


async def _plain_client(port: int, ctx: ssl.SSLContext, user: str, stop: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    message = base64.b64encode(f"\0{user}\0{PASSWORD}".encode())
    count = 0
    while time.monotonic() < stop:
        writer.write(b"PLAIN " + message + b"\r\n")
        assert (await reader.readline()).startswith(b"OK")
        count += 1
    writer.close()
    return count


async def _scram_client(port: int, ctx: ssl.SSLContext, user: str, stop: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    keys: dict[bytes, bytes] = {}  # salt -> ClientKey, cached like a real client
    count = 0
    while time.monotonic() < stop:
        nonce = base64.b64encode(os.urandom(18)).decode()
        bare = f"n={user},r={nonce}"
        writer.write(b"SCRAM " + base64.b64encode(f"n,,{bare}".encode()) + b"\r\n")
        server_first = base64.b64decode((await reader.readline())[2:].strip())
        fields = dict(f.split("=", 1) for f in server_first.decode().split(","))
        salt = base64.b64decode(fields["s"])
        if salt not in keys:
            salted = salted_password(PASSWORD, salt, int(fields["i"]))
            keys[salt] = hmac.digest(salted, b"Client Key", "sha256")
        client_key = keys[salt]
        without_proof = f"c=biws,r={fields['r']}"
        auth = f"{bare},{server_first.decode()},{without_proof}".encode()
        sig = hmac.digest(hashlib.sha256(client_key).digest(), auth, "sha256")
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig, strict=True)))
        writer.write(base64.b64encode(f"{without_proof},p={proof.decode()}".encode()) + b"\r\n")
        assert (await reader.readline()).startswith(b"OK ")
        count += 1
    writer.close()
    return count


Client = Callable[[int, ssl.SSLContext, str, float], Awaitable[int]]


async def _rate(port: int, ctx: ssl.SSLContext, client: Client) -> float:
    stop = time.monotonic() + SECONDS
    start = time.monotonic()
    counts = await asyncio.gather(
        *(client(port, ctx, f"user{i % USERS}@example.test", stop) for i in range(CLIENTS))
    )
    return sum(counts) / (time.monotonic() - start)


_HOLDER = textwrap.dedent(
    """
    import asyncio, ssl, sys
    port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    async def main():
        ctx = ssl.create_default_context(cafile=ca)
        conns = []
        for i in range(n):
            conns.append(await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                       server_hostname="localhost"))
        print("open", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    asyncio.run(main())
    """
)


async def _memory_per_connection(server: ListenerServer, ca_path: Path) -> float:
    gc.collect()
    before = _rss_kib()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLDER,
        str(server.port),
        str(ca_path),
        str(IDLE_CONNECTIONS),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"open"
    for _ in range(200):
        if len(server.connections) >= IDLE_CONNECTIONS:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    gc.collect()
    after = _rss_kib()
    open_conns = len(server.connections)
    child.stdin.write(b"\n")
    await child.stdin.drain()
    await child.wait()
    return (after - before) / max(open_conns, 1)


async def _rates() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ca, pair, _ = _certs(Path(tmp))
        server, _ = await _server(pair)
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        try:
            return (
                await _rate(server.port, ctx, _plain_client),
                await _rate(server.port, ctx, _scram_client),
            )
        finally:
            await server.stop(1)


async def _memory(tuned: bool) -> float:
    if tuned:
        tune_asyncio_tls_buffers()
    with tempfile.TemporaryDirectory() as tmp:
        _, pair, ca_path = _certs(Path(tmp))
        server, _ = await _server(pair)
        try:
            return await _memory_per_connection(server, ca_path)
        finally:
            await server.stop(1)


def _memory_in_fresh_process(tuned: bool) -> float:
    """Each measurement in its own interpreter: freed memory of an earlier run would
    otherwise be reused and hide the growth."""
    args = [sys.executable, "-m", "bench.bench_login", "--memory"] + (["--tuned"] if tuned else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> list[tuple[str, str, str]]:
    from posteingang.auth.cache import LOGIN_CACHE

    configure_logging("warning")
    ttl = LOGIN_CACHE.ttl
    LOGIN_CACHE.ttl = 0  # measure the argon2id verification itself, not remembered logins
    try:
        plain, scram = asyncio.run(_rates())
    finally:
        LOGIN_CACHE.ttl = ttl
    LOGIN_CACHE.clear()
    cached, _ = asyncio.run(_rates())  # the default: auth.login_cache_ttl = 3600
    per_conn = _memory_in_fresh_process(tuned=False)
    per_conn_tuned = _memory_in_fresh_process(tuned=True)
    return [
        (
            f"PLAIN logins/s over TLS ({CLIENTS} clients, argon2id t=2 m=19 MiB)",
            f"{plain:.0f}",
            "recorded",
        ),
        (f"SCRAM-SHA-256 logins/s over TLS ({CLIENTS} clients)", f"{scram:.0f}", "recorded"),
        (
            f"PLAIN logins/s over TLS, same password again ({CLIENTS} clients, login cache)",
            f"{cached:.0f}",
            "recorded",
        ),
        (
            f"server memory per idle TLS connection ({IDLE_CONNECTIONS} open)",
            f"{per_conn:.1f} KiB",
            "recorded",
        ),
        (
            "the same with `tune_asyncio_tls_buffers()` (32 KiB TLS read buffer)",
            f"{per_conn_tuned:.1f} KiB",
            "recorded",
        ),
    ]


if __name__ == "__main__":
    if "--memory" in sys.argv:
        configure_logging("warning")
        print(asyncio.run(_memory("--tuned" in sys.argv)))
    else:
        for row in main():
            print(" | ".join(row))
