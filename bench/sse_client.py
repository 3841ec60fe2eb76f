"""Many open event streams from one process, for `bench_sse`: plain sockets and one
`selectors` loop, stamping each ``change`` event with the wall clock as its bytes
arrive (a `recv` and a clock read per stream; an asyncio client adds a task
step per stream before the stamp, which the last streams wait for).

``python -m bench.sse_client PORT COOKIE COUNT`` opens COUNT streams to
``GET /events``, prints ``ready`` once every one has had its ``hello``, then
answers each ``report N`` line on stdin with a JSON list of the arrival times of
the N-th change on every stream (waiting at most 10 s), and ends on ``quit``.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time


class _Stream:
    def __init__(self, port: int, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(
            f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Cookie: pi_session={cookie}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.sock.setblocking(False)
        self.buffer = b""
        self.hello = False
        self.changes: list[float] = []

    def receive(self, now: float) -> bool:
        """Read what arrived; False when the server closed the stream."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:  # readiness from an earlier poll, read since
            return True
        if not data:
            return False
        lines = (self.buffer + data).split(b"\n")
        self.buffer = lines.pop()
        for line in lines:
            if line.startswith(b"event: change"):
                self.changes.append(now)
            elif line.startswith(b"event: hello"):
                self.hello = True
        return True


def _pump(sel: selectors.BaseSelector, timeout: float) -> None:
    for key, _ in sel.select(timeout):
        stream: _Stream | None = key.data
        if stream is None:
            continue  # stdin: read once the report is out
        if not stream.receive(time.time()):
            sel.unregister(stream.sock)
            raise SystemExit("a stream was closed by the server")


def main() -> None:
    port, cookie, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    sel = selectors.DefaultSelector()
    streams = []
    for _ in range(count):
        stream = _Stream(port, cookie)
        sel.register(stream.sock, selectors.EVENT_READ, stream)
        streams.append(stream)
    deadline = time.monotonic() + 120
    while not all(s.hello for s in streams):
        if time.monotonic() > deadline:
            raise SystemExit("not every stream said hello")
        _pump(sel, 0.1)
    print("ready", flush=True)
    # stdin is read between polls: the bench writes a line after each commit.
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select(1.0):
            if key.data is not None:
                if not key.data.receive(time.time()):
                    raise SystemExit("a stream was closed by the server")
                continue
            line = sys.stdin.readline().split()
            if not line or line[0] == "quit":
                return
            n = int(line[1])
            until = time.monotonic() + 10
            while any(len(s.changes) < n for s in streams) and time.monotonic() < until:
                _pump(sel, 0.1)
            got = [s.changes[n - 1] for s in streams if len(s.changes) >= n]
            print(json.dumps(got), flush=True)


if __name__ == "__main__":
    main()
