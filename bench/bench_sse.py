"""Live updates with 500 open pages: from a commit to the event on every page
(p50/p99), the server's CPU per change sent to all of them, and its memory per
open page.

The server is the real runtime with an HTTP listener in this process, on the
100,000-message INBOX of `bench_web` (one account; every page is that account's,
so every change goes to every page, the worst case). The pages are:

* ``BENCH_SSE_PAGES - BENCH_SSE_BROWSER`` event streams opened by one child
  process with plain sockets (`bench.sse_client`), each ``change`` stamped with
  the wall clock as its bytes arrive;
* ``BENCH_SSE_BROWSER`` real mail pages in headless Chromium (Debian's
  /usr/bin/chromium through Playwright, as the browser tests use it), each
  opening its stream with the page's own script; an init script stamps each
  ``change`` as the page's EventSource dispatches it, just before the page's
  handler runs. Skipped when Chromium is not installed.

Each of ``BENCH_SSE_CHANGES`` changes flags message 1 (\\Flagged on, off, ...)
with `Store.store_flags`; the latency runs from just before that call to the
stamp, on every page. Memory per page is the server's RSS after the plain
streams opened minus before, divided by their number. CPU per change is this
process's CPU time (server, its writer thread, and the little the bench does
itself) from the commit until every plain stream had the event.

Environment: ``BENCH_WEB_COUNT`` (default 100000), ``BENCH_SSE_PAGES`` (500),
``BENCH_SSE_BROWSER`` (10; 0 leaves Chromium out), ``BENCH_SSE_CHANGES`` (20).

Target (issue 14): commit -> event p99 ≤ 200 ms with 500 open pages.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.bench_web import _fill, _login, _p, _web_config
from bench.common import proc_status_kib
from posteingang.store.model import FLAGGED, FlagOp

PAGES = int(os.environ.get("BENCH_SSE_PAGES", "500"))
BROWSER = int(os.environ.get("BENCH_SSE_BROWSER", "10"))
CHANGES = int(os.environ.get("BENCH_SSE_CHANGES", "20"))
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("POSTEINGANG_CHROMIUM", "/usr/bin/chromium")

# Before the page's script: every EventSource it makes stamps its change events.
_STAMP = """
window.__changes = [];
const Original = window.EventSource;
window.EventSource = function (url, options) {
  const source = new Original(url, options);
  source.addEventListener("change", () => window.__changes.push(Date.now()));
  return source;
};
"""


class _Browser:
    """`count` mail pages in headless Chromium, logged in with `cookie`."""

    def __init__(self, count: int) -> None:
        self.count = count if count and os.access(CHROMIUM, os.X_OK) else 0
        self.pages: list[Any] = []

    async def open(self, base: str, cookie: str, inbox: int) -> None:
        if not self.count:
            return
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self._browser = await self._pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        for _ in range(self.count):
            # A context each: Chromium keeps at most 6 connections per host in one,
            # and every open page holds one for its stream.
            context = await self._browser.new_context()
            await context.add_cookies([{"name": "pi_session", "value": cookie, "url": base}])
            await context.add_init_script(_STAMP)
            page = await context.new_page()
            await page.goto(f"{base}/mail/{inbox}")
            await page.wait_for_function("document.documentElement.dataset.live === '1'")
            self.pages.append(page)

    async def stamps(self, n: int) -> list[float]:
        """The n-th change's stamp on every page that has it (s since the epoch)."""
        got = []
        for page in self.pages:
            for _ in range(100):
                stamps = await page.evaluate("window.__changes")
                if len(stamps) >= n:
                    got.append(stamps[n - 1] / 1000)
                    break
                await asyncio.sleep(0.1)
        return got

    async def close(self) -> None:
        if self.count:
            await self._browser.close()
            await self._pw.stop()


async def _run() -> list[tuple[str, str, str]]:
    from tests.serving import running

    from posteingang.web.server import WEB

    plain = PAGES - BROWSER
    browser = _Browser(BROWSER)
    with tempfile.TemporaryDirectory() as tmp:
        async with running(_web_config(Path(tmp), "HTTP", PAGES + 100), [WEB]) as rt:
            inbox = await _fill(rt)
            base = f"http://127.0.0.1:{rt.listeners[0].port}"
            async with httpx.AsyncClient(base_url=base, headers={"origin": base}) as client:
                cookie = await _login(client)
            await browser.open(base, cookie, inbox)
            before = proc_status_kib(os.getpid())
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.sse_client",
                str(rt.listeners[0].port),
                cookie,
                str(plain),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
                limit=2**24,
            )
            assert proc.stdin is not None and proc.stdout is not None
            line = await proc.stdout.readline()
            assert line.strip() == b"ready", line
            await asyncio.sleep(1)  # let the last streams' work settle before the RSS
            per_page = (proc_status_kib(os.getpid()) - before) / plain
            latencies: list[float] = []
            in_browser: list[float] = []
            cpu = 0.0
            try:
                for n in range(1, CHANGES + 1):
                    await asyncio.sleep(0.2)  # apart, as people make them
                    cpu_before = time.process_time()
                    committed = time.time()
                    op = FlagOp.ADD if n % 2 else FlagOp.REMOVE  # a change every time
                    await rt.store.store_flags(inbox, [1], op, frozenset({FLAGGED}))
                    proc.stdin.write(b"report %d\n" % n)
                    await proc.stdin.drain()
                    got = json.loads(await proc.stdout.readline())
                    cpu += time.process_time() - cpu_before
                    assert len(got) == plain, (len(got), plain)
                    latencies.extend((t - committed) * 1000 for t in got)
                    stamps = await browser.stamps(n)
                    assert len(stamps) == browser.count, (len(stamps), browser.count)
                    in_browser.extend((t - committed) * 1000 for t in stamps)
            finally:
                proc.stdin.write(b"quit\n")
                await proc.stdin.drain()
                await asyncio.wait_for(proc.wait(), 30)
                await browser.close()
    load = os.getloadavg()[0]
    rows = [
        (
            f"commit -> event on {PAGES} open pages, {plain} plain streams "
            f"(p50 / p99 / max of {len(latencies):,}; load average {load:.1f})",
            f"{statistics.median(latencies):.0f} / {_p(latencies, 0.99):.0f} / "
            f"{max(latencies):.0f} ms",
            "p99 ≤ 200 ms",
        ),
    ]
    if in_browser:
        rows.append(
            (
                f"the same in {browser.count} Chromium pages among them "
                f"(p50 / p99 / max of {len(in_browser)})",
                f"{statistics.median(in_browser):.0f} / {_p(in_browser, 0.99):.0f} / "
                f"{max(in_browser):.0f} ms",
                "p99 ≤ 200 ms",
            )
        )
    rows += [
        (
            f"server CPU per change sent to {PAGES} open pages",
            f"{cpu / CHANGES * 1000:.1f} ms ({cpu / CHANGES / PAGES * 1e6:.0f} µs per page)",
            "-",
        ),
        (f"server memory per open page ({plain} plain streams)", f"{per_page:.0f} KiB", "-"),
    ]
    return rows


def main() -> list[tuple[str, str, str]]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
