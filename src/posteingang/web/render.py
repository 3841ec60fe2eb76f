"""A stored message as the webmail shows it: headers, which part is the body, and that
body made safe (plain text escaped and linkified, HTML sanitised for the body frame).

The sanitiser (nh3, i.e. Ammonia) is the first of two layers: its output is
served as its own document under the sandbox policy of `security.body_frame_csp`,
so a bypass of the sanitiser still runs no script and reaches nothing of the
app's origin. Remote images (``<img src=http...>``) are dropped here unless the
user allowed them, and the CSP blocks what the sanitiser might miss (CSS
``url()``); ``cid:`` images become ``data:`` URIs of the message's own parts.

Pure: no store, no I/O. It must never emit markup that did not pass the
sanitiser or the escaper, and never raise on message content.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nh3
from markupsafe import Markup, escape

from posteingang.mime import Address, ParsedMessage, Part, decode_part_body
from posteingang.mime.charsets import decode_bytes
from posteingang.mime.headers import decode_words
from posteingang.mime.text import decode_transfer

__all__ = [
    "BodyChoice",
    "HeaderView",
    "SanitisedHtml",
    "choose_body",
    "header_view",
    "html_document",
    "inline_images",
    "linkify",
    "part_path",
    "part_text",
    "sanitise_html",
    "walk_parts",
]


# --- headers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderView:
    subject: str
    from_: list[str]
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    date: datetime | None


def _addresses(addrs: tuple[Address, ...] | None) -> list[str]:
    """``Name <box@host>`` (names decoded), or the bare address; group markers dropped."""
    out: list[str] = []
    for a in addrs or ():
        if a.host is None or a.mailbox is None:
            continue
        address = decode_words(a.mailbox + b"@" + a.host)
        name = " ".join(decode_words(a.name).split()) if a.name else ""
        out.append(f"{name} <{address}>" if name else address)
    return out


def header_view(parsed: ParsedMessage) -> HeaderView:
    env = parsed.envelope
    date = datetime.fromtimestamp(parsed.date, UTC) if parsed.date is not None else None
    return HeaderView(
        subject=parsed.subject,
        from_=_addresses(env.from_),
        to=_addresses(env.to),
        cc=_addresses(env.cc),
        reply_to=_addresses(env.reply_to) if env.reply_to != env.from_ else [],
        date=date,
    )


# --- choosing the body -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BodyChoice:
    """The part shown as the message's body, and its path ("1.2"; "" for a single part)."""

    part: Part | None
    path: tuple[int, ...] = ()

    @property
    def is_html(self) -> bool:
        return self.part is not None and self.part.subtype == "html"


def _is_attachment(part: Part) -> bool:
    return (part.disposition or b"").lower() == b"attachment"


def choose_body(parsed: ParsedMessage, *, prefer_html: bool = True) -> BodyChoice:
    """The text/plain or text/html part to show (RFC 2046 §5.1.4: of an alternative,
    the last part we can show is the richest; of a related, the root; of a mixed,
    the first part that is not an attachment)."""
    root = parsed.root
    if not root.is_multipart:
        if root.type == "text" and root.subtype in ("plain", "html"):
            return BodyChoice(root, ())
        return BodyChoice(None)
    found = _choose(root, (), prefer_html, depth=0)
    return found or BodyChoice(None)


def _choose(part: Part, path: tuple[int, ...], prefer_html: bool, depth: int) -> BodyChoice | None:
    if depth > 20:
        return None
    if not part.is_multipart:
        if part.type == "text" and part.subtype in ("plain", "html") and not _is_attachment(part):
            return BodyChoice(part, path)
        return None
    children = [(c, (*path, i)) for i, c in enumerate(part.children, 1)]
    if part.subtype == "alternative":
        options = [
            found
            for child, p in children
            if (found := _choose(child, p, prefer_html, depth + 1)) is not None
        ]
        if not options:
            return None
        if prefer_html:
            return options[-1]
        plain = [o for o in options if not o.is_html]
        return plain[-1] if plain else options[-1]
    if part.subtype == "related" and children:
        return _choose(children[0][0], children[0][1], prefer_html, depth + 1)
    for child, p in children:
        found = _choose(child, p, prefer_html, depth + 1)
        if found is not None:
            return found
    return None


def part_path(text: str) -> tuple[int, ...] | None:
    """ "1.2" -> (1, 2); "" -> (); None for anything else (ids come from URLs)."""
    if text == "":
        return ()
    if not re.fullmatch(r"[1-9][0-9]{0,3}(?:\.[1-9][0-9]{0,3}){0,20}", text):
        return None
    return tuple(int(n) for n in text.split("."))


def part_text(raw: bytes, part: Part) -> str:
    """A text part's content as text: transfer encoding removed, charset decoded."""
    body = raw[part.body_start : part.body_end]
    data = decode_transfer(body, part.encoding)
    return decode_bytes(body if data is None else data, part.charset)


# --- plain text ----------------------------------------------------------------------

# http(s) URLs and www. hosts; the trailing punctuation of a sentence is not part of it.
_URL = re.compile(
    r"""\b(?:https?://|www\.)[^\s<>"'\x00-\x1f\x7f]+""",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""


def linkify(text: str) -> Markup:
    """Plain text as HTML: everything escaped, http(s) URLs made links (and nothing
    else: no javascript:, data: or other scheme can become a link, because only
    text matching ``https?://`` or ``www.`` is ever put into an href)."""
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0)
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if not url:
            continue
        start, end = m.start(), m.start() + len(url)
        out.append(str(escape(text[pos:start])))
        href = url if url.lower().startswith("http") else "https://" + url
        out.append(
            f'<a href="{escape(href)}" target="_blank" rel="noopener noreferrer">{escape(url)}</a>'
        )
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


# --- HTML ------------------------------------------------------------------------------

_TAGS = (nh3.ALLOWED_TAGS - {"area", "map"}) | {"font", "tfoot"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "align", "valign", "width", "height", "dir", "lang", "title", "bgcolor"},
    "font": {"color", "face", "size"},
    "table": {"align", "border", "cellpadding", "cellspacing", "summary", "width"},
    "td": {"align", "colspan", "rowspan", "valign", "width", "nowrap"},
    "th": {"align", "colspan", "rowspan", "valign", "width", "scope"},
}
# CSS properties kept in style attributes. No `position`, `z-index`, `behavior`,
# `-moz-binding` or anything else that lays content over the page or runs code;
# `url()` in the kept ones loads nothing the frame's CSP does not allow.
_STYLE_PROPERTIES = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color",
    "border-left", "border-radius", "border-right", "border-spacing", "border-style",
    "border-top", "border-width", "color", "direction", "display", "float", "font",
    "font-family", "font-size", "font-style", "font-variant", "font-weight", "height",
    "letter-spacing", "line-height", "list-style", "list-style-type", "margin",
    "margin-bottom", "margin-left", "margin-right", "margin-top", "max-height", "max-width",
    "min-height", "min-width", "padding", "padding-bottom", "padding-left", "padding-right",
    "padding-top", "text-align", "text-decoration", "text-indent", "text-transform",
    "vertical-align", "white-space", "width", "word-break", "word-spacing", "overflow-wrap",
}  # fmt: skip


@dataclass
class SanitisedHtml:
    html: str
    blocked_images: int = 0  # remote images left out because they were not allowed
    missing_inline: list[str] = field(default_factory=list)


def sanitise_html(
    markup: str, *, inline: dict[str, str] | None = None, remote_images: bool = False
) -> SanitisedHtml:
    """Ammonia-clean `markup`; ``cid:`` image sources become `inline` data URIs,
    remote ones are dropped unless `remote_images`."""
    inline = inline or {}
    result = SanitisedHtml("")

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            lowered = value.strip().lower()
            if lowered.startswith("cid:"):
                found = inline.get(_cid_key(value.strip()[4:]))
                if found is None:
                    result.missing_inline.append(value)
                return found
            if lowered.startswith(("http:", "https:", "//")):
                if remote_images:
                    return value
                result.blocked_images += 1
                return None
            if lowered.startswith("data:image/") and not lowered.startswith("data:image/svg"):
                return value
            return None
        return value

    result.html = nh3.clean(
        markup,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "head", "noscript", "template", "svg"},
        attributes=_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=_STYLE_PROPERTIES,
        url_relative="deny",
        strip_comments=True,
    )
    return result


def _cid_key(cid: str) -> str:
    return cid.strip().strip("<>").lower()


def inline_images(
    raw: bytes, parts: Iterable[tuple[tuple[int, ...], Part]], budget: int
) -> dict[str, str]:
    """Content-ID -> data: URI for the image parts of a message, at most `budget` octets."""
    out: dict[str, str] = {}
    for _, part in parts:
        if part.type != "image" or not part.content_id or part.subtype == "svg+xml":
            continue
        data = decode_part_body(raw, part)
        if data is None or len(data) > budget:
            continue
        budget -= len(data)
        subtype = re.sub(r"[^a-z0-9.+-]", "", part.subtype) or "png"
        key = _cid_key(decode_words(part.content_id))
        out[key] = f"data:image/{subtype};base64,{base64.b64encode(data).decode()}"
    return out


def walk_parts(
    part: Part, path: tuple[int, ...] = (), depth: int = 0
) -> Iterable[tuple[tuple[int, ...], Part]]:
    """Every leaf part with its section path."""
    if depth > 20:
        return
    if part.is_multipart:
        for i, child in enumerate(part.children, 1):
            yield from walk_parts(child, (*path, i), depth + 1)
    else:
        yield (path or (1,), part)


_FRAME_STYLE = (
    "html{color-scheme:light}body{margin:0;padding:12px;font:15px/1.45 system-ui,sans-serif;"
    "color:#1d1d1f;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}"
    "blockquote{margin:0 0 0 .5em;padding-left:.8em;border-left:3px solid #ccc}"
    # Dark mode: the whole body inverted with hues kept (a white mail becomes dark
    # grey on black, red stays red-ish), pictures inverted back so they look right.
    "@media (prefers-color-scheme:dark){html{filter:invert(.9) hue-rotate(180deg)}"
    "img,video,picture,[style*=background-image]{filter:invert(1) hue-rotate(180deg)}}"
)


def html_document(body: str) -> str:
    """The sanitised body as the complete document the frame loads."""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        '<meta name="referrer" content="no-referrer">'
        f"<style>{_FRAME_STYLE}</style></head><body>{body}</body></html>"
    )
