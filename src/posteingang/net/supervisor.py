"""Worker processes, the parent's side: start, dispatch to, watch, restart, stop.

A protocol that wants every core (today SMTP and LMTP, `[smtp] processes`)
gives `start_workers` the listeners it serves, a count and a `WorkerSetup`
(how a worker builds its handlers, `worker.py`); nothing here knows a
protocol, so serving IMAP or POP3 from worker processes is a matter of
configuration.  It runs after every listener is bound.

* Start: one ``python -m posteingang.net.worker`` per extra process, with a
  socket pair as its channel and its `WorkerSpec` pickled to its standard
  input; startup waits until each says ``ready`` on its channel, so the
  ``serve`` table is printed only when every process can take connections.
* Dispatch: the server process accepts every connection of those listeners
  itself and gives it to the least busy process, counting its own
  connections and, per worker, connections sent minus ``-`` replies (done).
  Ties go to a worker, so the server process stays free for the protocols
  it serves alone.  Letting every process accept from one shared socket
  instead leaves the balance to whichever process wakes first: measured,
  one worker took all 10 of a benchmark's connections.
* Watch: a worker that exits while the server runs is logged and started
  again after a second; one that keeps dying within `_STEADY` seconds of its
  start, or fails to start, waits twice as long each time, up to a minute
  (its connections go to the other processes meanwhile).  Connections it had
  open are lost, as with any crashed server; nothing it acknowledged is, as
  long as its protocol acknowledges only what it committed.
* Stop: at shutdown every worker gets SIGTERM and the grace period (plus
  five seconds) to finish what is in transit, then SIGKILL.
* SIGHUP is passed on (certificates are re-read everywhere).
* Every worker runs the event loop this process runs (uvloop or asyncio,
  `eventloop.py`), so ``server.event_loop`` decides for all of them.
* Shared state: with `Exports` (the throttle, the account limits, POP3's
  maildrop locks...) each worker gets a second socket pair on which it asks
  this process for them (`shared.py`); what a worker acquired there is
  released when it exits.
* ``pin`` (tests, benchmarks): send every connection to one process (0: this
  one, k: worker k) instead of the least busy.

What this module must never do: serve a connection itself (the listeners
do) or import a protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from posteingang.log import get_logger
from posteingang.net.eventloop import running_loop_name
from posteingang.net.server import ListenerServer
from posteingang.net.shared import Exports, Holdings
from posteingang.net.worker import READY, WorkerSpec

__all__ = ["Host", "Supervisor", "start_workers"]

log = get_logger(__name__)

_READY_TIMEOUT = 60.0
_MAX_BACKOFF = 60.0
_STEADY = 30.0  # seconds a worker must have run for its next restart to come at once


@dataclass(eq=False)
class _Worker:
    index: int
    proc: asyncio.subprocess.Process
    channel: socket.socket  # our end
    shared: socket.socket | None = None  # our end of the shared-state calls
    holdings: Holdings = field(default_factory=Holdings)
    load: int = 0  # connections sent and not yet reported done


class Supervisor:
    """The running worker processes for some listeners, and the dispatch to them.

    ``spec`` is the template of every worker's `WorkerSpec`; its ``listeners``,
    ``channel`` and ``index`` are filled in per worker.
    """

    def __init__(
        self,
        spec: WorkerSpec,
        servers: list[ListenerServer],
        count: int,
        exports: Exports | None = None,
    ) -> None:
        self.spec = spec
        self.count = count
        self.servers = servers
        self.exports = exports
        #: Tests and benchmarks: every connection goes to this process (0: the server's
        #: own, k: worker k, if running) instead of the least busy one.
        self.pin: int | None = None
        self.workers: dict[int, _Worker] = {}
        self._stopping = False
        self._event = f"{spec.name}_worker"  # log events: delivery_worker_started, ...

    async def start(self) -> None:
        """Start every worker and wait until each is ready. One that does not start is
        logged and tried again by `supervise`; meanwhile the server serves alone."""
        started = await asyncio.gather(
            *(self._spawn(i) for i in range(1, self.count + 1)), return_exceptions=True
        )
        for index, result in enumerate(started, start=1):
            if isinstance(result, _Worker):
                self.workers[result.index] = result
            else:
                log.error(f"{self._event}_start_failed", worker=index, error=str(result))
        for i, server in enumerate(self.servers):
            server.dispatch = self._dispatcher(i, server)

    async def _spawn(self, index: int) -> _Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        shared: tuple[socket.socket, socket.socket] | None = None
        if self.exports:
            shared = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        spec = replace(
            self.spec,
            listeners=tuple(s.settings for s in self.servers),
            channel=theirs.fileno(),
            shared=shared[1].fileno() if shared else -1,
            index=index,
            event_loop=running_loop_name(),  # the same loop as this process
        )
        ours.setblocking(False)
        passed = [theirs] + ([shared[1]] if shared else [])
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "posteingang.net.worker",
                stdin=asyncio.subprocess.PIPE,
                pass_fds=[s.fileno() for s in passed],
            )
        except BaseException:
            if shared:
                shared[0].close()
            raise
        finally:
            for s in passed:
                s.close()
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(spec))
        proc.stdin.close()
        loop = asyncio.get_running_loop()
        try:
            line = await asyncio.wait_for(loop.sock_recv(ours, 64), _READY_TIMEOUT)
        except (TimeoutError, OSError):
            line = b""
        if line != READY:
            ours.close()
            if shared:
                shared[0].close()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise RuntimeError(
                f"{self.spec.name} worker {index} did not start (exit {proc.returncode})"
            )
        worker = _Worker(index, proc, ours, shared[0] if shared else None)
        loop.add_reader(ours.fileno(), self._on_done, worker)
        if worker.shared is not None:
            worker.shared.setblocking(False)
            loop.add_reader(worker.shared.fileno(), self._on_call, worker)
        log.info(f"{self._event}_started", worker=index, pid=proc.pid)
        return worker

    def _on_done(self, worker: _Worker) -> None:
        while True:
            try:
                data = worker.channel.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:  # the worker is gone; `_watch` restarts it
                self._retire(worker)
                return
            worker.load = max(0, worker.load - len(data))

    def _on_call(self, worker: _Worker) -> None:
        """Answer the worker's calls for shared state (`shared.py`)."""
        assert worker.shared is not None and self.exports is not None
        while True:
            try:
                request = worker.shared.recv(65_536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                request = b""
            if not request:  # the worker is gone; `_retire` releases what it held
                with contextlib.suppress(ValueError, OSError):
                    asyncio.get_running_loop().remove_reader(worker.shared.fileno())
                return
            answer = self.exports.answer(request, worker.holdings)
            if answer is not None:  # None: told one way, nobody waits
                with contextlib.suppress(OSError):  # it waits with a timeout: best effort
                    worker.shared.send(answer)

    def _retire(self, worker: _Worker) -> None:
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(worker.channel.fileno())
        worker.channel.close()
        if worker.shared is not None:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(worker.shared.fileno())
            worker.shared.close()
            worker.shared = None
        if self.exports is not None:
            self.exports.release_all(worker.holdings)

    def _dispatcher(self, index: int, server: ListenerServer) -> Callable[[socket.socket], bool]:
        message = str(index).encode()

        def dispatch(sock: socket.socket) -> bool:
            """Send ``sock`` to the least busy worker unless this process is less busy."""
            if self._stopping or not self.workers:
                return False
            if self.pin is not None:
                pinned = self.workers.get(self.pin)
                if pinned is None:
                    return False
                worker = pinned
            else:
                worker = min(self.workers.values(), key=lambda w: w.load)
                own = sum(s.load for s in self.servers)
                if own < worker.load:
                    return False
            try:
                socket.send_fds(worker.channel, [message], [sock.fileno()])
            except OSError:  # its queue is full, or it just died: serve it here
                return False
            worker.load += 1
            return True

        return dispatch

    async def supervise(self) -> None:
        """Keep every worker running (start again what exits or failed to start), until `stop`."""
        watchers = [asyncio.create_task(self._watch(i)) for i in range(1, self.count + 1)]
        try:
            await asyncio.gather(*watchers)
        finally:
            for w in watchers:
                w.cancel()

    async def _watch(self, index: int) -> None:
        backoff = 1.0
        while not self._stopping:
            worker = self.workers.get(index)
            if worker is not None:
                since = time.monotonic()
                code = await worker.proc.wait()
                self._retire(worker)
                if self._stopping:
                    return
                log.error(f"{self._event}_exited", worker=index, pid=worker.proc.pid, code=code)
                # One that keeps dying soon after its start waits longer each time.
                lived = time.monotonic() - since
                backoff = 1.0 if lived > _STEADY else min(backoff * 2, _MAX_BACKOFF)
            await asyncio.sleep(backoff)
            if self._stopping:
                return
            try:
                worker = await self._spawn(index)
            except Exception as e:
                log.error(f"{self._event}_restart_failed", worker=index, error=str(e))
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            if self._stopping:
                worker.proc.terminate()
                self._retire(worker)
                return
            self.workers[index] = worker

    def reload(self) -> None:
        """Pass SIGHUP on (re-read the TLS certificates)."""
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGHUP)

    def terminate(self) -> None:
        """SIGTERM every worker: they finish what is in transit. New connections stay here."""
        self._stopping = True
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)

    async def stop(self, grace: float) -> None:
        """`terminate`, then SIGKILL what is still running after ``grace`` + 5 s."""
        self.terminate()
        running = list(self.workers.values())
        waits = [asyncio.create_task(w.proc.wait()) for w in running]
        if waits:
            _, late = await asyncio.wait(waits, timeout=grace + 5)
            for worker in running:
                if worker.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        worker.proc.kill()
            if late:
                await asyncio.wait(late, timeout=5)
        for worker in running:
            self._retire(worker)


class Host(Protocol):
    """What `start_workers` needs of the server that runs it (the runtime's `Context`)."""

    @property
    def stopping(self) -> asyncio.Event: ...

    @property
    def servers(self) -> Sequence[ListenerServer]: ...

    def on_reload(self, callback: Callable[[], None], /) -> None: ...
    def on_shutdown(self, cleanup: Callable[[], Awaitable[None]], /) -> None: ...
    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]: ...


async def start_workers(
    host: Host,
    spec: WorkerSpec,
    *,
    protocols: Collection[str],
    count: int,
    grace: float,
    exports: Exports | None = None,
) -> Supervisor | None:
    """Serve ``host``'s listeners of ``protocols`` from ``count`` more processes too.

    Returns None when there is nothing to do (no worker wanted, no such
    listener). The workers are stopped with the host: SIGTERM when it starts
    stopping (they drain their connections while it drains its own), SIGKILL
    ``grace`` + 5 s later.  ``exports``: the state workers share through this
    process (`shared.py`).
    """
    wanted = {p.upper() for p in protocols}
    servers = [s for s in host.servers if s.settings.protocol.upper() in wanted]
    if count <= 0 or not servers:
        return None
    supervisor = Supervisor(spec, servers, count, exports)
    await supervisor.start()
    host.on_reload(supervisor.reload)
    watching = asyncio.create_task(supervisor.supervise(), name=f"{spec.name}-workers")

    async def terminate_when_stopping() -> None:
        await host.stopping.wait()
        supervisor.terminate()

    host.spawn(terminate_when_stopping(), name=f"{spec.name}-workers-stop")

    async def stop() -> None:
        await supervisor.stop(grace)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching

    host.on_shutdown(stop)
    return supervisor
