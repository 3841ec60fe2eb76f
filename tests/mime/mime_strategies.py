"""Hypothesis strategies for well-formed and almost-well-formed MIME messages.

The generated messages nest multiparts (mixed, alternative, digest) and
message/rfc822 parts, reuse or prefix their parents' boundaries, drop close
delimiters, carry preambles, epilogues and body lines that start with
``--``, and use base64, quoted-printable and 8-bit text in several
charsets, with CRLF or bare LF line ends.
"""

from __future__ import annotations

import base64
import quopri

from hypothesis import strategies as st

BOUNDARIES = [b"b", b"b1", b"bb", b"=_part", b"----=_NextPart_000", b"x" * 70]
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "shift_jis", "x-unknown", "utf-16"]
TEXTS = ["hello", "Grüße aus Köln", "日本語のテキスト", "-- \nsig", "> quoted", "a--b", "€uro"]
BODY_LINES = [b"--", b"--b", b"--b1--", b"--=_part", b"", b" ", b"\t", b"x: y", b"<p>hi</p>"]


@st.composite
def text_body(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    """Header lines and body of a text/* leaf."""
    subtype = draw(st.sampled_from(["plain", "html", "calendar"]))
    charset = draw(st.sampled_from(CHARSETS))
    words = draw(st.lists(st.sampled_from(TEXTS), max_size=8))
    text = "\n".join(words)
    if subtype == "html":
        text = f"<html><body><p>{text}</p><script>x</script></body></html>"
    try:
        data = text.encode(charset)
    except (LookupError, UnicodeEncodeError):
        data = text.encode("utf-8", "replace")
    encoding = draw(st.sampled_from([None, "7bit", "8bit", "base64", "quoted-printable", "x-y"]))
    if encoding == "base64":
        body = base64.encodebytes(data)
    elif encoding == "quoted-printable":
        body = quopri.encodestring(data)
    else:
        body = data
    if draw(st.booleans()):
        body += b"\n".join(draw(st.lists(st.sampled_from(BODY_LINES), max_size=3)))
    headers = [f"Content-Type: text/{subtype}; charset={charset}".encode()]
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}".encode())
    disposition = draw(st.sampled_from([None, b"inline", b'attachment; filename="a.txt"']))
    if disposition:
        headers.append(b"Content-Disposition: " + disposition)
    return headers, body


@st.composite
def binary_body(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    data = draw(st.binary(max_size=300))
    headers = [
        b'Content-Type: application/octet-stream; name="f.bin"',
        b"Content-Transfer-Encoding: base64",
    ]
    if draw(st.booleans()):
        headers.append(b'Content-Disposition: attachment; filename="f.bin"')
    return headers, base64.encodebytes(data)


@st.composite
def entity(draw: st.DrawFn, depth: int = 0, parents: tuple[bytes, ...] = ()) -> bytes:
    """One entity (header + body) with LF line ends."""
    kinds = ["text", "binary"] + (["multipart", "message"] if depth < 4 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "text":
        headers, body = draw(text_body())
    elif kind == "binary":
        headers, body = draw(binary_body())
    elif kind == "message":
        headers = [b"Content-Type: message/rfc822"]
        inner = draw(entity(depth + 1, parents))
        body = b"Subject: inner\nFrom: a@b.example\nMIME-Version: 1.0\n" + inner
    else:
        subtype = draw(st.sampled_from(["mixed", "alternative", "digest", "related"]))
        boundary = draw(st.sampled_from([*BOUNDARIES, *parents[-1:]]))
        quote = draw(st.booleans())
        b = b'"' + boundary + b'"' if quote else boundary
        headers = [b"Content-Type: multipart/" + subtype.encode() + b"; boundary=" + b]
        children = draw(st.lists(entity(depth + 1, (*parents, boundary)), max_size=4))
        out = [draw(st.sampled_from([b"", b"preamble\n", b"--\n"]))]
        for child in children:
            out.append(b"--" + boundary + draw(st.sampled_from([b"\n", b"  \n", b"junk\n"])))
            out.append(child if child.endswith(b"\n") else child + b"\n")
        close = draw(st.sampled_from([b"--" + boundary + b"--\n", b"", b"--" + boundary + b"\n"]))
        out.append(close)
        out.append(draw(st.sampled_from([b"", b"epilogue\n", b"--" + boundary + b"--"])))
        body = b"".join(out)
    if draw(st.booleans()):
        headers.insert(0, b"Content-ID: <c@example>")
    blank = draw(st.sampled_from([b"\n", b"\n", b""]))  # sometimes no empty line
    return b"\n".join(headers) + b"\n" + blank + body


@st.composite
def mime_message(draw: st.DrawFn) -> bytes:
    """A whole message, CRLF or LF, sometimes with a folded or 8-bit header."""
    top = [
        b"From: =?utf-8?q?J=C3=B6rg?= <j@example.de>, bob@example.com",
        b"To: group: a@b.example, c@d.example;",
        b"Subject: " + draw(st.sampled_from([b"hi", b"folded\n  subject", b"\xc3\xa4\xc3\xb6"])),
        b"Date: Thu, 26 Nov 2026 10:00:00 +0100",
        b"Message-ID: <m@example.com>",
        b"MIME-Version: 1.0",
    ]
    raw = b"\n".join(draw(st.permutations(top))) + b"\n" + draw(entity())
    if draw(st.booleans()):
        raw = raw.replace(b"\n", b"\r\n")
    return raw
