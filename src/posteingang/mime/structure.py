"""The splitter: one pass over a raw message into the parse-once record.

Theory of operation
-------------------
An entity (the message, a multipart child, an encapsulated message/rfc822)
starts at a line; its header ends at the first empty line and its body runs
until the next boundary delimiter line of *any* enclosing multipart, or the
end of the blob.  Enclosing boundaries form a stack; a delimiter line
(``--`` + boundary at the start of a line, anything may follow) is matched
against the innermost boundary first.  This is how Dovecot reads broken
mail too: an inner multipart that never closes is ended by its parent's
boundary, and a child that reuses its parent's boundary owns the delimiters
until it closes.  RFC 2046 §5.1.1: the line break *before* a delimiter
belongs to the delimiter, so a body ends before it.  Delimiter candidates
are found by `scan.Scanner`, never by a Python loop over lines.

Only offsets and small header values are kept; bodies are touched again only
to decode text for search and the preview.  The splitter reads the message
through `ByteSource`: ``bytes`` for `parse_message`, a window over a file for
`parse_file`, which therefore holds a header block, the search text and one
read window, never the message (a spooled 50 MB DATA parses in a few MB).
Both run the same code, so they give the same record for the same octets.

Limits (a hostile message must not cost more than a fair one):
nesting deeper than `MAX_DEPTH` and parts beyond `MAX_PARTS` become opaque
leaves of type application/octet-stream (as Dovecot describes a part past
its nesting limit); decoded search text stops at ``text_limit`` characters.  A header
block is split into fields only up to `MAX_HEADER_OCTETS` (cut at the last
field that starts before the cap) and `MAX_HEADER_FIELDS` fields; later
fields are ignored (ENVELOPE, Content-*, the header index) though the octets
stay in the header (offsets are unaffected).  A text part is decoded for
search and preview from at most twice the remaining text budget in octets
(at least `MIN_TEXT_OCTETS`), cut at a line end.

Must never raise: `parse_message` returns a record for every byte string.
Only `parse_file` does I/O, and only through the file it is given (read
errors propagate); nothing here imports the store.
"""

from __future__ import annotations

from typing import BinaryIO

from .address import parse_address_list
from .headers import (
    Field,
    decode_words,
    field_value,
    header_end,
    message_ids,
    param_value,
    parse_content_type,
    parse_date,
    parse_disposition,
    parse_language,
    parse_transfer_encoding,
    split_fields,
    unfold,
)
from .model import Address, Attachment, Envelope, HeaderField, ParsedMessage, Part
from .scan import Delimiter, Scanner
from .source import DEFAULT_WINDOW, ByteSource, FileSource
from .text import make_preview, part_text

MAX_DEPTH = 64
MAX_PARTS = 5000
DEFAULT_TEXT_LIMIT = 1 << 20
MAX_HEADER_OCTETS = 1 << 20
MAX_HEADER_FIELDS = 10_000
MIN_TEXT_OCTETS = 64 * 1024

_ENVELOPE_FIELDS = frozenset(
    (
        "date",
        "subject",
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "in-reply-to",
        "message-id",
    )
)
_ADDRESS_FIELDS = frozenset(("from", "sender", "reply-to", "to", "cc", "bcc"))
_NUL_REPLACEMENT = "\ufffd".encode()

# Entity contexts: how the parent determines defaults and MIME-ness.
_TOP, _CHILD, _DIGEST_CHILD = 0, 1, 2


class _State:
    """Per-message scratch state of one parse."""

    __slots__ = (
        "attachments",
        "fields",
        "parts_left",
        "preview",
        "raw",
        "scan",
        "text_left",
        "texts",
    )

    def __init__(self, raw: ByteSource, text_limit: int) -> None:
        self.raw = raw
        self.parts_left = MAX_PARTS
        self.text_left = text_limit
        self.texts: list[str] = []
        self.preview: str | None = None
        self.attachments: list[Attachment] = []
        self.fields: dict[int, list[Field]] = {}
        self.scan = Scanner(raw)


def _envelope(
    raw: ByteSource, fields: list[Field], first: dict[str, bytes] | None = None
) -> Envelope:
    """ENVELOPE values (RFC 9051 §7.5.2).

    As in Dovecot, repeated address fields (two To: lines) are concatenated
    and for the other fields the last instance wins.  ``first``, when given,
    receives the first value of each envelope field and of References (the
    display fields of the record), so the header is read once.
    """
    vals: dict[str, bytes] = {}
    addr: dict[str, list[Address]] = {}
    for name, _start, vstart, end in fields:
        if name == "references" and first is not None:
            first.setdefault(name, field_value(raw, vstart, end))
        elif name in _ENVELOPE_FIELDS:
            v = field_value(raw, vstart, end)
            if first is not None:
                first.setdefault(name, v)
            if name in _ADDRESS_FIELDS:
                addr.setdefault(name, []).extend(parse_address_list(v) or ())
            else:
                vals[name] = v

    def text(name: str) -> bytes | None:
        v = vals.get(name)
        if v is not None and b"\x00" in v:
            v = v.replace(b"\x00", _NUL_REPLACEMENT)
        return v

    def addrs(name: str) -> tuple[Address, ...] | None:
        v = addr.get(name)
        return tuple(v) if v else None

    return Envelope(
        date=text("date"),
        subject=text("subject"),
        from_=addrs("from"),
        sender=addrs("sender"),
        reply_to=addrs("reply-to"),
        to=addrs("to"),
        cc=addrs("cc"),
        bcc=addrs("bcc"),
        in_reply_to=text("in-reply-to"),
        message_id=text("message-id"),
    )


def _language(value: bytes) -> tuple[bytes, ...] | None:
    """Content-Language (RFC 3282): a list of atoms, comments ignored."""
    langs = parse_language(value)
    return tuple(langs) if langs else None


def _owns_line(raw: ByteSource, d: Delimiter, own: bytes, stack: tuple[bytes, ...]) -> bool:
    """Whether a part's own boundary claims the delimiter line ``d`` found
    for the enclosing ``stack`` (it is at least as long a match)."""
    return raw.startswith(own, d[0] + 2) and len(own) >= len(stack[d[1]])


def _header_cut(raw: ByteSource, part: Part) -> bool:
    """Whether a delimiter cut the part's header short (no empty line, so its
    last line break went to the delimiter and the body is empty)."""
    b = part.body_start
    return b == part.body_end and b > part.header_start and raw[b - 1] != 0x0A


def _end_before(raw: ByteSource, d: Delimiter | None, floor: int) -> int:
    """Where a body ends that the delimiter ``d`` terminates (or the blob's
    end): before the line break that precedes the delimiter line."""
    if d is None:
        return max(len(raw), floor)
    e = d[0]
    if e > floor and raw[e - 1] == 0x0A:
        e -= 1
        if e > floor and raw[e - 1] == 0x0D:
            e -= 1
    return max(e, floor)


def _header_fields(raw: ByteSource, start: int, end: int) -> list[Field]:
    """The fields of the header block ``raw[start:end]``, within the caps
    (`MAX_HEADER_OCTETS`, `MAX_HEADER_FIELDS`)."""
    if end - start > MAX_HEADER_OCTETS:
        end = _field_cut(raw[start : start + MAX_HEADER_OCTETS + 1], start)
    if isinstance(raw, bytes):
        return split_fields(raw, start, end, MAX_HEADER_FIELDS)
    # A file: split a copy of the block.  One octet before it keeps the
    # regex's start-of-line anchor meaning what it means in the whole message.
    lead = 1 if start > 0 else 0
    block = raw[start - lead : end]
    shift = start - lead
    return [
        (name, s + shift, v + shift, e + shift)
        for name, s, v, e in split_fields(block, lead, len(block), MAX_HEADER_FIELDS)
    ]


def _field_cut(block: bytes, start: int) -> int:
    """Where a header longer than the cap is cut: after the last line break
    in ``block[:-1]`` that starts a new field (not a continuation line);
    ``block`` is the header's first `MAX_HEADER_OCTETS` + 1 octets."""
    j = block.rfind(b"\n", 0, len(block) - 1)
    while j >= 0 and block[j + 1] in (0x20, 0x09):  # RFC 5322 §2.2.3 folding
        j = block.rfind(b"\n", 0, j)
    return start + j + 1 if j >= 0 else start


# Complex on purpose: the MIME entity walk (RFC 2045/2046) in one pass: headers, boundaries, nesting
# cap.
def _parse_entity(  # noqa: C901 (see above)
    st: _State,
    start: int,
    depth: int,
    context: int,
    path: tuple[int, ...],
    stack: tuple[bytes, ...],
) -> tuple[Part, Delimiter | None]:
    """Parse the entity at ``start``; returns it and the delimiter that ended
    it (None at the end of the blob)."""
    raw = st.raw
    st.parts_left -= 1
    first = st.scan.find_delimiter(start, stack)
    header_limit = len(raw) if first is None else first[0]
    found = header_end(raw, start, header_limit)
    if found is not None:
        body_start = found
    elif first is not None:
        # Header cut short by a delimiter: its last line break is the
        # delimiter's, and the body is empty.
        body_start = _end_before(raw, first, start)
    else:
        body_start = header_limit  # all header, no body
    fields = _header_fields(raw, start, body_start)
    if context == _TOP:
        st.fields[start] = fields  # reused for the envelope and header index

    content: dict[str, tuple[int, int]] = {}
    is_mime = context != _TOP
    for name, _s, vstart, fend in fields:
        if name.startswith("content-"):
            content.setdefault(name, (vstart, fend))
        elif name == "mime-version":
            is_mime = True
    if "content-type" in content:
        is_mime = True  # as Dovecot: Content-Type alone makes an entity MIME
    # Only the Content-* fields present are read (most parts have one or two).
    values: dict[str, bytes] = (
        {name: field_value(raw, vs, fe) for name, (vs, fe) in content.items()} if is_mime else {}
    )
    value = values.get

    type_raw: bytes | None = None
    subtype_raw: bytes | None = None
    params: tuple[tuple[bytes, bytes], ...] = ()
    ct = value("content-type")
    if ct is not None:
        type_raw, subtype_raw, plist = parse_content_type(ct)
        params = tuple(plist)
        if not (type_raw and subtype_raw):
            # Broken type/subtype: shown as ("" "") like Dovecot, read as text/plain.
            type_raw, subtype_raw, params = b"", b"", ()
    if type_raw and subtype_raw:
        mtype = type_raw.decode("latin-1").lower()
        subtype = subtype_raw.decode("latin-1").lower()
    elif context == _DIGEST_CHILD and ct is None:
        mtype, subtype = "message", "rfc822"  # RFC 2046 §5.1.5
    else:
        mtype, subtype = "text", "plain"  # RFC 2045 §5.2

    encoding: bytes | None = None
    cte = value("content-transfer-encoding")
    if cte is not None:
        encoding = parse_transfer_encoding(cte)

    disposition: bytes | None = None
    disp_params: tuple[tuple[bytes, bytes], ...] = ()
    cd = value("content-disposition")
    if cd is not None:
        disposition, dlist = parse_disposition(cd)
        disp_params = tuple(dlist)

    lang = value("content-language")
    charset = param_value(params, b"charset") or "us-ascii"
    filename = param_value(disp_params, b"filename") or param_value(params, b"name")

    children: list[Part] = []
    envelope: Envelope | None = None
    message: Part | None = None
    truncated = False
    lines = 0
    boundary = None
    if mtype == "multipart":
        for pname, pval in params:
            if pname.lower() == b"boundary":
                boundary = pval or None
                break

    if (
        found is not None
        and first is not None
        and found == first[0]
        and not (boundary is not None and _owns_line(raw, first, boundary, stack))
    ):
        # The empty line ending the header is directly followed by an
        # enclosing delimiter: its line break is the delimiter's (RFC 2046
        # §5.1.1), so the header ends before it and the body is empty.
        body_start = _end_before(raw, first, start)

    nested_ok = depth < MAX_DEPTH and st.parts_left > 0
    if boundary is not None and nested_ok:
        inner = (*stack, boundary)
        mine = len(stack)
        child_ctx = _DIGEST_CHILD if subtype == "digest" else _CHILD
        d = st.scan.find_delimiter(body_start, inner)
        closed_at = body_start
        while d is not None and d[1] == mine:
            line_end = raw.find(b"\n", d[0])
            if raw.startswith(b"--", d[0] + 2 + len(boundary)) or line_end < 0:
                # Close delimiter (or a delimiter on the last line, which
                # starts nothing): the epilogue runs to an outer delimiter.
                # As in Dovecot, the close line keeps its own line break even
                # when an outer delimiter follows at once.
                closed_at = len(raw) if line_end < 0 else line_end + 1
                d = st.scan.find_delimiter(d[0] + 1, stack) if line_end >= 0 else None
                break
            if st.parts_left <= 0:
                d = st.scan.find_delimiter(line_end + 1, stack)
                break
            child, d = _parse_entity(
                st, line_end + 1, depth + 1, child_ctx, (*path, len(children) + 1), inner
            )
            children.append(child)
        end = max(_end_before(raw, d, body_start), closed_at)
        if children:
            last = children[-1]
            end = max(end, last.body_end)
            if d is not None and _header_cut(raw, last):
                # The last child's header was cut short by an enclosing
                # delimiter: like Dovecot, the line break it lost is ours.
                end = max(end, d[0])
        stop = d
    elif mtype == "message" and subtype == "rfc822" and nested_ok:
        first_attachment = len(st.attachments)
        message, stop = _parse_entity(st, body_start, depth + 1, _TOP, path, stack)
        end = message.body_end
        if stop is not None and _header_cut(raw, message):
            # The encapsulated header was cut short by a delimiter: Dovecot
            # counts the line break it lost as part of this part's body.
            end = stop[0]
        lines = st.scan.count_lines(body_start, end)
        envelope = _envelope(raw, st.fields.pop(message.header_start))
        # Listed before the attachments inside it.
        disp = disposition.decode("latin-1").lower() if disposition else None
        attachment = Attachment(path or (1,), filename, "message/rfc822", end - body_start, disp)
        st.attachments.insert(first_attachment, attachment)
    else:
        stop = first  # the header never extends past it, see above
        end = _end_before(raw, stop, body_start)
        truncated = not nested_ok and (
            boundary is not None or (mtype == "message" and subtype == "rfc822")
        )
        if truncated:
            # Past the nesting or part cap: an opaque leaf whose type says so.
            # A leaf typed multipart or message/rfc822 would contradict its
            # BODYSTRUCTURE form (RFC 9051 §7.5.2 body-type-mpart/-msg); like
            # Dovecot at its limit, call it application/octet-stream and keep
            # the parameters.
            mtype, subtype = "application", "octet-stream"
            type_raw, subtype_raw = b"application", b"octet-stream"
        elif mtype == "text" or mtype == "message":
            lines = st.scan.count_lines(body_start, end)

    part = Part(
        header_start=start,
        body_start=body_start,
        body_end=end,
        type=mtype,
        subtype=subtype,
        type_raw=type_raw,
        subtype_raw=subtype_raw,
        params=params,
        content_id=value("content-id"),
        description=value("content-description"),
        encoding=encoding,
        md5=value("content-md5"),
        disposition=disposition,
        disposition_params=disp_params,
        language=_language(lang) if lang is not None else None,
        location=value("content-location"),
        lines=lines,
        charset=charset,
        filename=filename,
        children=tuple(children),
        envelope=envelope,
        message=message,
        truncated=truncated,
    )
    if not children and message is None and not part.is_multipart:
        # The body of a non-multipart message is its part 1 (RFC 9051 §6.4.5).
        _collect_leaf(st, raw, part, (*path, 1) if context == _TOP else path)
    return part, stop


def _collect_leaf(st: _State, raw: ByteSource, part: Part, path: tuple[int, ...]) -> None:
    """Search text, preview and attachment list entries for one leaf."""
    disp = part.disposition.decode("latin-1").lower() if part.disposition else None
    mtype, subtype = part.type, part.subtype
    is_body_text = mtype == "text" and subtype in ("plain", "html")
    if is_body_text and disp != "attachment" and part.filename is None:
        if st.text_left > 0:
            start, end = part.body_start, part.body_end
            cap = max(2 * st.text_left, MIN_TEXT_OCTETS)
            whole = end - start <= cap
            if whole:
                body = raw[start:end]
            else:
                # Decode only what the text budget can use, cut at a line
                # end so no base64 group or QP escape is split.
                body = raw[start : start + cap]
                cut = body.rfind(b"\n")
                if cut >= 0:
                    body = body[: cut + 1]
            text = part_text(body, part.encoding, part.charset, subtype, final=whole)
            if st.preview is None:
                st.preview = make_preview(text)
            text = text[: st.text_left]
            st.texts.append(text)
            st.text_left -= len(text)
        return
    if mtype == "text" and disp is None and part.filename is None:
        return  # other inline text (calendar, csv without name): not an attachment
    st.attachments.append(Attachment(path, part.filename, f"{mtype}/{subtype}", part.size, disp))


def parse_message(raw: bytes, *, text_limit: int = DEFAULT_TEXT_LIMIT) -> ParsedMessage:
    """Parse a raw message once; never raises (see module docstring)."""
    try:
        return parse_message_strict(raw, text_limit=text_limit)
    except Exception:  # last line of defence; the fuzz tests call the strict variant
        return _opaque(len(raw))


def parse_file(
    f: BinaryIO, size: int, *, text_limit: int = DEFAULT_TEXT_LIMIT, window: int = DEFAULT_WINDOW
) -> ParsedMessage:
    """`parse_message` of the ``size`` octets of ``f`` from its current
    position, without holding them: the same record as
    ``parse_message(f.read(size))`` in bounded memory (see module docstring).

    ``f`` must be seekable; it is read through a ``window``-octet window
    (a message that fits in one window is simply read).  Never raises on
    message content; read errors (OSError) propagate.
    """
    try:
        return parse_file_strict(f, size, text_limit=text_limit, window=window)
    except OSError:
        raise
    except Exception:  # as parse_message
        return _opaque(size)


def parse_file_strict(
    f: BinaryIO, size: int, *, text_limit: int = DEFAULT_TEXT_LIMIT, window: int = DEFAULT_WINDOW
) -> ParsedMessage:
    """`parse_file` without the last-resort guard (for tests and fuzzing)."""
    source = FileSource(f, size, window=window)
    if size <= window:
        return _parse(source[0:size], text_limit)
    return _parse(source, text_limit)


def _opaque(n: int) -> ParsedMessage:
    root = Part(0, n, n, "text", "plain")
    return ParsedMessage(
        size=n, root=root, envelope=Envelope(), headers=(), subject="", from_display="",
        date=None, message_id=None, in_reply_to=(), references=(), search_text="",
        preview="", attachments=(),
    )  # fmt: skip


def parse_message_strict(raw: bytes, *, text_limit: int = DEFAULT_TEXT_LIMIT) -> ParsedMessage:
    """`parse_message` without the last-resort guard (for tests and fuzzing)."""
    return _parse(bytes(raw), text_limit)


def _parse(raw: ByteSource, text_limit: int) -> ParsedMessage:
    st = _State(raw, text_limit)
    root, _ = _parse_entity(st, 0, 0, _TOP, (), ())
    fields = st.fields.pop(0)
    first: dict[str, bytes] = {}
    envelope = _envelope(raw, fields, first)
    subject = decode_words(first.get("subject", b""))
    msgid = message_ids(first.get("message-id", b""))
    date_value = first.get("date")
    return ParsedMessage(
        size=len(raw),
        root=root,
        envelope=envelope,
        headers=tuple([HeaderField(name, s, e) for name, s, _v, e in fields]),
        subject=" ".join(subject.split()),
        from_display=_display_addresses(envelope.from_),
        date=parse_date(unfold(date_value)) if date_value is not None else None,
        message_id=msgid[0] if msgid else None,
        in_reply_to=message_ids(first.get("in-reply-to", b"")),
        references=message_ids(first.get("references", b"")),
        search_text="\n".join(st.texts),
        preview=st.preview or "",
        attachments=tuple(st.attachments),
    )


def _display_addresses(addrs: tuple[Address, ...] | None) -> str:
    """Human form of an address list: decoded names, else the address."""
    if not addrs:
        return ""
    out: list[str] = []
    for a in addrs:
        if a.host is None:
            continue  # group markers
        if a.name:
            out.append(" ".join(decode_words(a.name).split()))
        else:
            out.append(decode_words((a.mailbox or b"") + b"@" + a.host))
    return ", ".join(out)
