"""PROXY protocol v1 and v2 header parser (HAProxy's proxy-protocol.txt), sans-I/O.

What it is for: behind a TCP load balancer every connection comes from the balancer;
the header it sends first says who the real client is.  ``parse_proxy_header(data)``
looks at the bytes received so far and returns a ``ProxyHeader`` (with the number of
octets it used), ``NeedMore`` or a ``ProxyError``.  The server consumes exactly
``ProxyHeader.length`` octets and hands the rest to TLS or the protocol.

What it must never do: raise on any input, read past the header (the client's first
TLS or protocol bytes follow it), or be applied to a connection that does not come
from a trusted proxy (the server checks that before calling us: a header is a claim
anyone can make).

Formats (spec section numbers are those of proxy-protocol.txt):

* v1 (§2.1): one US-ASCII line, at most 107 octets with CRLF:
  ``PROXY TCP4 <src> <dst> <sport> <dport>\\r\\n``, ``TCP6`` likewise, or
  ``PROXY UNKNOWN[ anything]\\r\\n``.
* v2 (§2.2): a 12-octet signature, version/command, family/transport, a 16-bit
  length, addresses, then TLVs (which we skip).  LOCAL (health checks) and the UNSPEC
  and UNIX families carry no client address we can use: the result has
  ``source=None`` and the caller keeps the socket's own peer address.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "V1_MAX_LENGTH",
    "V2_SIGNATURE",
    "NeedMore",
    "ProxyError",
    "ProxyHeader",
    "encode_v1",
    "encode_v2",
    "parse_proxy_header",
]

V1_PREFIX: Final = b"PROXY "
V1_MAX_LENGTH: Final = 107  # §2.1: worst case "PROXY TCP6 <39> <39> 65535 65535\r\n"
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_HEADER: Final = 16
_INET_LENGTH: Final = 12  # 4 + 4 + 2 + 2
_INET6_LENGTH: Final = 36  # 16 + 16 + 2 + 2

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A complete header.  ``source``/``destination`` are None when the proxy gave none
    we can use (v1 UNKNOWN, v2 LOCAL, UNSPEC or UNIX): keep the socket's addresses."""

    version: Literal[1, 2]
    command: Literal["proxy", "local"]
    source: Address | None
    destination: Address | None
    length: int  # octets of the header, to consume before anything else


@dataclass(frozen=True, slots=True)
class NeedMore:
    """The bytes so far are a valid beginning; at least ``total`` octets are needed."""

    total: int


@dataclass(frozen=True, slots=True)
class ProxyError:
    """Not a valid header: refuse the connection.  ``reason`` is for the log."""

    reason: str


Result = ProxyHeader | NeedMore | ProxyError


def parse_proxy_header(data: bytes) -> Result:
    """Parse the header at the start of ``data``; never raises."""
    if data[:1] == V1_PREFIX[:1]:
        if not data.startswith(V1_PREFIX[: len(data)]):
            return ProxyError("not a PROXY header")
        if len(data) < len(V1_PREFIX):
            return NeedMore(len(V1_PREFIX))
        return _parse_v1(data)
    if data[:1] == V2_SIGNATURE[:1]:
        if not data.startswith(V2_SIGNATURE[: min(len(data), len(V2_SIGNATURE))]):
            return ProxyError("not a PROXY header")
        if len(data) < _V2_HEADER:
            return NeedMore(_V2_HEADER)
        return _parse_v2(data)
    if not data:
        return NeedMore(len(V1_PREFIX))
    return ProxyError("not a PROXY header")


# --- v1 -----------------------------------------------------------------------------------


def _parse_v1(data: bytes) -> Result:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        # §2.1: a receiver must not wait for more than 107 octets.
        if len(data) >= V1_MAX_LENGTH or b"\n" in data[:V1_MAX_LENGTH]:
            return ProxyError("v1 header without CRLF within 107 octets")
        return NeedMore(len(data) + 1)
    length = end + 2
    try:
        line = data[len(V1_PREFIX) : end].decode("ascii")
    except UnicodeDecodeError:
        return ProxyError("v1 header is not ASCII")
    fields = line.split(" ")
    if fields[0] == "UNKNOWN":
        # §2.1: with UNKNOWN the rest of the line is to be ignored.
        return ProxyHeader(1, "proxy", None, None, length)
    if fields[0] not in ("TCP4", "TCP6"):
        return ProxyError("v1 protocol is not TCP4, TCP6 or UNKNOWN")
    if len(fields) != 5:
        return ProxyError("v1 header needs exactly 4 fields after the protocol")
    version = 4 if fields[0] == "TCP4" else 6
    src, dst = _v1_ip(fields[1], version), _v1_ip(fields[2], version)
    sport, dport = _v1_port(fields[3]), _v1_port(fields[4])
    if src is None or dst is None:
        return ProxyError("v1 address does not match the protocol")
    if sport is None or dport is None:
        return ProxyError("v1 port is not a number in 0..65535")
    return ProxyHeader(1, "proxy", (src, sport), (dst, dport), length)


def _v1_ip(text: str, version: int) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(ip) if ip.version == version else None


def _v1_port(text: str) -> int | None:
    # §2.1: a decimal integer 0..65535; no sign, no spaces (int() would allow both).
    if not (1 <= len(text) <= 5 and text.isascii() and text.isdigit()):
        return None
    port = int(text)
    return port if port <= 65535 else None


# --- v2 -----------------------------------------------------------------------------------


def _parse_v2(data: bytes) -> Result:
    ver_cmd, fam, length = data[12], data[13], struct.unpack_from("!H", data, 14)[0]
    if ver_cmd >> 4 != 2:
        return ProxyError("v2 header with a version other than 2")
    command = ver_cmd & 0x0F
    if command not in (0, 1):
        return ProxyError("v2 command is neither LOCAL nor PROXY")
    total = _V2_HEADER + length
    if len(data) < total:
        return NeedMore(total)
    family, transport = fam >> 4, fam & 0x0F
    if family > 3 or transport > 2:
        return ProxyError("v2 unknown address family or transport")
    if command == 0:
        # §2.2: LOCAL: the proxy speaks for itself (health check); ignore any address.
        return ProxyHeader(2, "local", None, None, total)
    body = data[_V2_HEADER:total]
    if family == 1:  # AF_INET
        if length < _INET_LENGTH:
            return ProxyError("v2 IPv4 block too short")
        if transport != 1:
            return ProxyError("v2 transport is not STREAM")
        src = str(ipaddress.IPv4Address(body[0:4]))
        dst = str(ipaddress.IPv4Address(body[4:8]))
        sport, dport = struct.unpack_from("!HH", body, 8)
        return ProxyHeader(2, "proxy", (src, sport), (dst, dport), total)
    if family == 2:  # AF_INET6
        if length < _INET6_LENGTH:
            return ProxyError("v2 IPv6 block too short")
        if transport != 1:
            return ProxyError("v2 transport is not STREAM")
        src = str(ipaddress.IPv6Address(body[0:16]))
        dst = str(ipaddress.IPv6Address(body[16:32]))
        sport, dport = struct.unpack_from("!HH", body, 32)
        return ProxyHeader(2, "proxy", (src, sport), (dst, dport), total)
    # AF_UNSPEC, AF_UNIX: no usable address; §2.2 says to accept and use the real one.
    # TLVs (after the address block) are skipped with the rest of `length`.
    return ProxyHeader(2, "proxy", None, None, total)


# --- encoders (tests, benchmarks, and a future outgoing proxy) ---------------------------


def encode_v1(source: Address | None, destination: Address | None = None) -> bytes:
    """A v1 line; ``source=None`` gives ``PROXY UNKNOWN``."""
    if source is None:
        return b"PROXY UNKNOWN\r\n"
    destination = destination or (
        ("0.0.0.0", 0) if ipaddress.ip_address(source[0]).version == 4 else ("::", 0)
    )
    proto = "TCP4" if ipaddress.ip_address(source[0]).version == 4 else "TCP6"
    return (f"PROXY {proto} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n").encode(
        "ascii"
    )


def encode_v2(
    source: Address | None,
    destination: Address | None = None,
    *,
    local: bool = False,
    tlvs: bytes = b"",
) -> bytes:
    """A v2 header (PROXY, or LOCAL with ``local=True``); ``source=None``: AF_UNSPEC."""
    ver_cmd = 0x20 if local else 0x21
    if source is None:
        return V2_SIGNATURE + struct.pack("!BBH", ver_cmd, 0x00, len(tlvs)) + tlvs
    src = ipaddress.ip_address(source[0])
    dst = ipaddress.ip_address(destination[0]) if destination else type(src)(0)
    fam = 0x11 if src.version == 4 else 0x21
    block = (
        src.packed
        + dst.packed
        + struct.pack("!HH", source[1], destination[1] if destination else 0)
    )
    body = block + tlvs
    return V2_SIGNATURE + struct.pack("!BBH", ver_cmd, fam, len(body)) + body
