"""The admin control socket: CLI commands that act on the running server's memory.

Some state lives only in the serving process (login throttling and blocks), so
the admin CLI cannot read it from the store. `serve` listens on a UNIX stream
socket in the data directory (`control.sock`, mode 0600: only the server's own
user may talk to it); `posteingang block list|lift` connect to it.

Protocol: one JSON object per line each way. Requests: `{"cmd": "blocks"}`,
`{"cmd": "lift", "target": "192.0.2.1"}`. Replies: `{"ok": true, ...}` or
`{"ok": false, "error": "..."}`. Nothing here can read or change mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from posteingang.service import Background, Context

SOCKET_NAME = "control.sock"
MAX_REQUEST = 4096


class ControlError(Exception):
    """The server is not running, or refused the request."""


def socket_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SOCKET_NAME


def handle_request(runtime: Context, request: dict[str, Any]) -> dict[str, Any]:
    cmd = request.get("cmd")
    throttle = runtime.throttle
    if cmd == "blocks":
        return {
            "ok": True,
            "blocks": [
                {
                    "kind": b.kind,
                    "key": b.key,
                    "until": b.until.isoformat(timespec="seconds"),
                    "failures": b.failures,
                }
                for b in throttle.list_blocks()
            ],
        }
    if cmd == "lift":
        target = request.get("target")
        if not isinstance(target, str) or not target.strip():
            return {"ok": False, "error": "lift needs a target: an address or an account"}
        return {"ok": True, "cleared": throttle.lift(target)}
    return {"ok": False, "error": f"unknown command: {cmd!r}"}


async def start_control(runtime: Context) -> None:
    """Serve the control socket until shutdown (the `CONTROL` service)."""
    path = socket_path(runtime.config.server.data_dir)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            try:
                request = json.loads(line[:MAX_REQUEST])
                reply = (
                    handle_request(runtime, request)
                    if isinstance(request, dict)
                    else {"ok": False, "error": "expected a JSON object"}
                )
            except ValueError:
                reply = {"ok": False, "error": "expected one JSON object per line"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    # Created under a restrictive umask, so the socket is 0600 from its first moment:
    # a chmod after bind would leave a window in which any local user could connect.
    previous = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(serve, path=str(path))
    except OSError:
        return  # e.g. a path over 108 bytes: the block commands then say the server is down
    finally:
        os.umask(previous)

    async def close() -> None:
        server.close()
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    runtime.on_shutdown(close)


CONTROL = Background("control", start_control)


async def request(data_dir: str | Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one request to the running server (CLI side)."""
    path = socket_path(data_dir)
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError as exc:
        raise ControlError(f"cannot reach the running server at {path}: {exc.strerror}") from None
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    reply: dict[str, Any] = json.loads(line)
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "request refused")))
    return reply
