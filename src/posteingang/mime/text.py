"""Body decoding for humans and for search: transfer encodings, charsets,
HTML reduced to text, and the RFC 8970 preview.

Everything here is best effort and never raises: broken base64 yields what
could be decoded, unknown charsets fall back (see `charsets`), and HTML is
reduced with regular expressions, not rendered.  The output is for search
and previews only; it is never shown as HTML and never sent as a message.
"""

from __future__ import annotations

import binascii
import html
import re

from .charsets import decode_bytes

# Content-Transfer-Encodings whose bodies are already the content (RFC 2045 §6).
IDENTITY_ENCODINGS = frozenset((b"7bit", b"8bit", b"binary"))

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def decode_transfer(data: bytes, encoding: bytes | None) -> bytes | None:
    """Undo a Content-Transfer-Encoding; None when the encoding is unknown.

    ``None`` as the encoding means the RFC 2045 §6.1 default, 7bit.  Decoding
    is lenient: characters outside the base64 alphabet are ignored (RFC 2045
    §6.8) and a truncated final group is dropped.
    """
    if encoding is None:
        return data
    enc = encoding.lower()
    if enc in IDENTITY_ENCODINGS:
        return data
    if enc == b"base64":
        return decode_base64(data)
    if enc == b"quoted-printable":
        return decode_qp(data)
    return None


def decode_base64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        pass
    clean = _B64_JUNK.sub(b"", data.split(b"=", 1)[0])
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except (binascii.Error, ValueError):
        return b""


def decode_qp(data: bytes) -> bytes:
    # binascii handles "=\n" soft breaks; make "=\r\n" look the same.
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    try:
        return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        return data


# ---------------------------------------------------------------------------
# HTML to text

_HTML_DROP = re.compile(
    r"<(script|style|head|title|template|noscript)\b[^>]*>.*?</\1\s*>|<!--.*?-->",
    re.IGNORECASE | re.DOTALL,
)
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/tr|/li|/h[1-6]|p|div|li|tr|hr)\b[^>]*>", re.I)
_HTML_BLOCKQUOTE = re.compile(r"<blockquote\b.*?</blockquote\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
# Horizontal whitespace (one space per run of it): each other character first
# becomes a space, then runs of spaces shrink.  A character class would make
# the regex engine try every position and build a match per word.
_HSPACE = "\t\r\f\v\u00a0"
_SPACE_RUN = re.compile("  +")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(markup: str, *, drop_quotes: bool = False) -> str:
    """Reduce HTML to plain text (tags removed, entities resolved)."""
    markup = _HTML_DROP.sub(" ", markup)
    if drop_quotes:
        markup = _HTML_BLOCKQUOTE.sub(" ", markup)
    markup = _HTML_BREAK.sub("\n", markup)
    markup = _HTML_TAG.sub(" ", markup)
    text = html.unescape(markup)
    for c in _HSPACE:
        if c in text:
            text = text.replace(c, " ")
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


def part_text(
    body: bytes, encoding: bytes | None, charset: str, subtype: str, *, final: bool = True
) -> str:
    """The text of a text/* part body, decoded; HTML reduced to text.

    ``final=False`` says ``body`` is only the beginning of the part: a
    character cut short at its end is dropped instead of failing the charset.
    """
    data = decode_transfer(body, encoding)
    if data is None:
        data = body
    text = decode_bytes(data, charset, final=final)
    if subtype == "html":
        return html_to_text(text)
    return text


# ---------------------------------------------------------------------------
# Preview (RFC 8970 §2: at most 200 characters, no quoted text or markup)

PREVIEW_LENGTH = 200


def make_preview(text: str, *, is_html: bool = False) -> str:
    """A preview of the first text part: quotes and signature removed,
    whitespace collapsed, cut at 200 characters (RFC 8970 §2)."""
    if is_html:
        text = html_to_text(text, drop_quotes=True)
    # Only the beginning matters; never split a whole large body into lines.
    text = text[: PREVIEW_LENGTH * 20]
    kept: list[str] = []
    size = 0
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped:
            continue  # adds only whitespace, which collapses below
        first = stripped[0]
        if first == ">":
            continue
        if first == "-" and line.rstrip() == "--":  # RFC 3676 §4.3 signature separator
            break
        kept.append(stripped)
        size += len(stripped)
        if size > PREVIEW_LENGTH * 2:
            break
    # Whitespace runs to one space: str.split() and re's \s share one notion
    # of whitespace, and splitting does not build a match per word.
    preview = " ".join(" ".join(kept).split())
    if len(preview) > PREVIEW_LENGTH:
        preview = preview[:PREVIEW_LENGTH]
    return preview
