"""PROXY protocol v1/v2: spec vectors, fuzzing, and listeners behind a (trusted) proxy."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.net.connection import Connection
from posteingang.net.proxy import (
    V2_SIGNATURE,
    NeedMore,
    ProxyError,
    ProxyHeader,
    encode_v1,
    encode_v2,
    parse_proxy_header,
)
from posteingang.net.tls import TlsContexts
from tests.net.conftest import Certs, ServeFactory, read_until

# --- vectors (proxy-protocol.txt §2.1, §2.2) ----------------------------------------------

V1_VALID = [
    (
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
        ("192.0.2.1", 56324),
        ("198.51.100.2", 443),
    ),
    (
        b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 993\r\n",
        ("2001:db8::1", 65535),
        ("2001:db8::2", 993),
    ),
    (  # the longest line the spec allows: 107 octets
        b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
    ),
    (b"PROXY UNKNOWN\r\n", None, None),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", None, None),  # rest ignored
    (b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", ("0.0.0.0", 0), ("255.255.255.255", 65535)),
]


@pytest.mark.parametrize(("line", "source", "destination"), V1_VALID)
def test_v1_vectors(line: bytes, source: object, destination: object) -> None:
    result = parse_proxy_header(line + b"\x16\x03\x01rest of the stream")
    assert result == ProxyHeader(1, "proxy", source, destination, len(line))  # type: ignore[arg-type]
    assert len(line) <= 107


V1_INVALID = [
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",  # missing a port
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 extra\r\n",
    b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",  # IPv6 in TCP4
    b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",  # IPv4 in TCP6
    b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",  # port out of range
    b"PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 +1 443\r\n",
    b"PROXY TCP4 192.0.2.001 198.51.100.2 1 443\r\n",  # leading zero in an octet
    b"PROXY TCP4  192.0.2.1 198.51.100.2 1 443\r\n",  # two spaces
    b"PROXY UDP4 192.0.2.1 198.51.100.2 1 443\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 1 443\n",  # bare LF
    b"PROXY " + b"A" * 110 + b"\r\n",  # longer than 107 octets
    b"PROXY TCP4 192.0.2.1 198.51.100.2 1 44\xc3\xa9\r\n",
    b"proxy TCP4 192.0.2.1 198.51.100.2 1 443\r\n",
    b"GET / HTTP/1.1\r\n",
    b"a001 LOGIN user pass\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc",  # a TLS ClientHello: no header at all
]


@pytest.mark.parametrize("data", V1_INVALID)
def test_v1_invalid(data: bytes) -> None:
    assert isinstance(parse_proxy_header(data), ProxyError)


@pytest.mark.parametrize(
    "prefix", [b"", b"P", b"PROXY", b"PROXY ", b"PROXY TCP4 192.0.2.1 198.51.100.2 1 44", b"\r\n\r"]
)
def test_incomplete_headers_need_more(prefix: bytes) -> None:
    assert isinstance(parse_proxy_header(prefix), NeedMore)


def v2(ver_cmd: int, fam: int, body: bytes) -> bytes:
    return V2_SIGNATURE + struct.pack("!BBH", ver_cmd, fam, len(body)) + body


IPV4_BLOCK = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack("!HH", 56324, 993)
IPV6_BLOCK = (
    bytes.fromhex("20010db8000000000000000000000001")
    + bytes.fromhex("20010db8000000000000000000000002")
    + struct.pack("!HH", 40000, 995)
)
# A TLV (§2.2.1): PP2_TYPE_AUTHORITY "mail.example.org", and a NOOP.
TLVS = b"\x02" + struct.pack("!H", 16) + b"mail.example.org" + b"\x04\x00\x00"

V2_VALID = [
    (v2(0x21, 0x11, IPV4_BLOCK), "proxy", ("192.0.2.1", 56324), ("198.51.100.2", 993)),
    (v2(0x21, 0x11, IPV4_BLOCK + TLVS), "proxy", ("192.0.2.1", 56324), ("198.51.100.2", 993)),
    (v2(0x21, 0x21, IPV6_BLOCK), "proxy", ("2001:db8::1", 40000), ("2001:db8::2", 995)),
    (v2(0x20, 0x00, b""), "local", None, None),  # LOCAL: a health check
    (v2(0x20, 0x11, IPV4_BLOCK), "local", None, None),  # LOCAL ignores addresses
    (v2(0x21, 0x00, b""), "proxy", None, None),  # UNSPEC
    (
        v2(0x21, 0x31, b"/run/a".ljust(108, b"\0") + b"/run/b".ljust(108, b"\0")),
        "proxy",
        None,
        None,
    ),
]


@pytest.mark.parametrize(("data", "command", "source", "destination"), V2_VALID)
def test_v2_vectors(data: bytes, command: str, source: object, destination: object) -> None:
    result = parse_proxy_header(data + b"\x16\x03\x01 next bytes")
    assert result == ProxyHeader(2, command, source, destination, len(data))  # type: ignore[arg-type]
    for cut in range(len(data)):
        assert isinstance(parse_proxy_header(data[:cut]), NeedMore)


V2_INVALID = [
    v2(0x11, 0x11, IPV4_BLOCK),  # version 1 in a v2 header
    v2(0x31, 0x11, IPV4_BLOCK),  # version 3
    v2(0x22, 0x11, IPV4_BLOCK),  # command 2
    v2(0x21, 0x11, IPV4_BLOCK[:11]),  # IPv4 block too short
    v2(0x21, 0x21, IPV4_BLOCK),  # IPv6 block too short
    v2(0x21, 0x12, IPV4_BLOCK),  # DGRAM
    v2(0x21, 0x41, IPV4_BLOCK),  # family 4
    b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x0c" + IPV4_BLOCK,  # bad signature
]


@pytest.mark.parametrize("data", V2_INVALID)
def test_v2_invalid(data: bytes) -> None:
    assert isinstance(parse_proxy_header(data), ProxyError)


def test_encoders_round_trip() -> None:
    for header in (
        encode_v1(("192.0.2.7", 1234), ("192.0.2.8", 143)),
        encode_v1(("2001:db8::7", 1234)),
        encode_v2(("192.0.2.7", 1234), ("192.0.2.8", 143)),
        encode_v2(("2001:db8::7", 1234), ("2001:db8::8", 143), tlvs=TLVS),
    ):
        result = parse_proxy_header(header)
        assert isinstance(result, ProxyHeader) and result.length == len(header)
        assert result.source is not None and result.source[1] == 1234


# --- fuzzing ------------------------------------------------------------------------------

headers = st.one_of(
    st.sampled_from([v[0] for v in V1_VALID] + [v[0] for v in V2_VALID]),
    st.builds(
        lambda a, b, p, q: encode_v2((a, p), (b, q)),
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=4).map(str),
        st.integers(0, 65535),
        st.integers(0, 65535),
    ),
    st.builds(
        lambda a, b, p, q: encode_v1((a, p), (b, q)),
        st.ip_addresses(v=6).map(str),
        st.ip_addresses(v=6).map(str),
        st.integers(0, 65535),
        st.integers(0, 65535),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_result_never_an_exception(data: bytes) -> None:
    result = parse_proxy_header(data)
    assert isinstance(result, ProxyHeader | NeedMore | ProxyError)
    if isinstance(result, ProxyHeader):
        assert 0 < result.length <= len(data)
    if isinstance(result, NeedMore):
        assert result.total > len(data)


@settings(max_examples=200, deadline=None)
@given(headers, st.binary(max_size=40), st.data())
def test_valid_headers_parse_whole_and_need_more_when_cut(
    header: bytes, rest: bytes, data: st.DataObject
) -> None:
    result = parse_proxy_header(header + rest)
    assert isinstance(result, ProxyHeader) and result.length == len(header)
    cut = data.draw(st.integers(0, len(header) - 1))
    assert isinstance(parse_proxy_header(header[:cut]), NeedMore)


@settings(max_examples=300, deadline=None)
@given(headers, st.data())
def test_mutated_headers_never_raise(header: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(header) - 1))
    byte = data.draw(st.integers(0, 255))
    mutated = header[:position] + bytes([byte]) + header[position + 1 :]
    assert isinstance(parse_proxy_header(mutated), ProxyHeader | NeedMore | ProxyError)


# --- listeners behind a proxy ---------------------------------------------------------------


async def peer_reporter(conn: Connection) -> None:
    await conn.write(f"{conn.peer.host} {conn.peer.port} {conn.socket_peer.host}\r\n".encode())
    line = await conn.read_line(100)
    await conn.write(b"echo " + line)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closed without sending anything (FIN, or RST since it left
    our bytes unread)."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


async def raw(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    return reader, writer


@pytest.mark.parametrize("encode", [encode_v1, encode_v2])
async def test_trusted_proxy_sets_the_client_address(serve: ServeFactory, encode: object) -> None:
    server = await serve(peer_reporter, proxy_protocol=True, trusted_proxies=["127.0.0.0/8"])
    header = encode(("203.0.113.9", 61000), ("198.51.100.1", 143))  # type: ignore[operator]
    # The header and the first command in one packet: the command must survive.
    reader, writer = await raw(server.port, header + b"NOOP\r\n")
    assert await read_until(reader, b"\n") == b"203.0.113.9 61000 127.0.0.1\r\n"
    assert await read_until(reader, b"\n") == b"echo NOOP\r\n"
    writer.close()


async def test_header_split_across_packets(serve: ServeFactory) -> None:
    server = await serve(peer_reporter, proxy_protocol=True, trusted_proxies=["127.0.0.1/32"])
    header = encode_v2(("2001:db8::5", 5555), ("2001:db8::1", 110), tlvs=TLVS)
    reader, writer = await raw(server.port, header[:5])
    for i in range(5, len(header), 7):
        await asyncio.sleep(0.01)
        writer.write(header[i : i + 7])
    writer.write(b"X\r\n")
    assert await read_until(reader, b"\n") == b"2001:db8::5 5555 127.0.0.1\r\n"
    assert await read_until(reader, b"\n") == b"echo X\r\n"
    writer.close()


async def test_local_command_keeps_the_socket_address(serve: ServeFactory) -> None:
    server = await serve(peer_reporter, proxy_protocol=True, trusted_proxies=["127.0.0.1"])
    reader, writer = await raw(server.port, encode_v2(None, local=True))
    assert (await read_until(reader, b"\n")).startswith(b"127.0.0.1 ")
    writer.close()


async def test_untrusted_peer_is_refused_even_with_a_valid_header(serve: ServeFactory) -> None:
    server = await serve(peer_reporter, proxy_protocol=True, trusted_proxies=["192.0.2.0/24"])
    reader, writer = await raw(server.port, encode_v1(("203.0.113.9", 1), ("192.0.2.1", 2)))
    assert await closed_by_server(reader)
    writer.close()


@pytest.mark.parametrize("data", [b"a001 LOGIN x y\r\n", b"PROXY TCP4 1.2.3.4\r\n"])
async def test_missing_or_bad_header_is_refused(serve: ServeFactory, data: bytes) -> None:
    server = await serve(peer_reporter, proxy_protocol=True, trusted_proxies=["127.0.0.1"])
    reader, writer = await raw(server.port, data)
    assert await closed_by_server(reader)
    writer.close()


async def test_silent_proxy_times_out(serve: ServeFactory) -> None:
    server = await serve(
        peer_reporter, proxy_protocol=True, trusted_proxies=["127.0.0.1"], handshake_timeout=0.3
    )
    reader, writer = await raw(server.port, b"PROXY TCP4")
    assert await closed_by_server(reader)
    writer.close()


async def test_proxy_header_then_implicit_tls_in_the_same_packet(
    certs: Certs, serve: ServeFactory
) -> None:
    """HAProxy sends the header and the client's ClientHello back to back: exactly the
    header must be consumed so the TLS handshake sees every byte of its own."""
    server = await serve(
        peer_reporter,
        tls=TlsContexts(certs.default),
        proxy_protocol=True,
        trusted_proxies=["127.0.0.1"],
    )
    header = encode_v2(("198.51.100.77", 4242), ("192.0.2.1", 993))
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setblocking(False)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, header + outgoing.read())  # one packet

    async def pump() -> None:
        data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        assert data
        incoming.write(data)
        if out := outgoing.read():
            await loop.sock_sendall(sock, out)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if out := outgoing.read():
                await loop.sock_sendall(sock, out)
            await pump()
    if out := outgoing.read():  # the client's Finished
        await loop.sock_sendall(sock, out)
    text = b""
    while not text.endswith(b"\n"):
        try:
            text += tls.read(1000)
        except ssl.SSLWantReadError:
            await pump()
    assert text == b"198.51.100.77 4242 127.0.0.1\r\n"
    sock.close()


async def test_limits_count_the_client_behind_the_proxy(serve: ServeFactory) -> None:
    server = await serve(
        peer_reporter,
        proxy_protocol=True,
        trusted_proxies=["127.0.0.1"],
        max_connections_per_ip=1,
        refusal=b"-ERR [SYS/TEMP] Too many connections\r\n",
    )
    a = await raw(server.port, encode_v1(("203.0.113.1", 1000), ("192.0.2.1", 110)))
    b = await raw(server.port, encode_v1(("203.0.113.2", 1000), ("192.0.2.1", 110)))
    for reader, _ in (a, b):  # two clients through one proxy: both served
        assert (await read_until(reader, b"\n")).startswith(b"203.0.113.")
    reader, writer = await raw(server.port, encode_v1(("203.0.113.1", 1001), ("192.0.2.1", 110)))
    assert await asyncio.wait_for(reader.read(), 5) == b"-ERR [SYS/TEMP] Too many connections\r\n"
    for w in (a[1], b[1], writer):
        w.close()
