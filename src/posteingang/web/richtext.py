"""The compose form's rich-text mode: its HTML cleaned, and the text part made from it.

The editor (static/compose.js, a contenteditable) produces whatever markup the
browser makes — and a forged form anything at all — so `clean` keeps only what
the toolbar can make (bold, italic, underline, links, lists, paragraphs, line
breaks, quotes) with nh3 (Ammonia) before the HTML is sent, stored in Drafts
or put back into the editor: no script, no handler, no style, links only
http/https/mailto. `to_text` turns that HTML into the text/plain alternative
(RFC 2046 §5.1.4: the plain part first, the richer one last).
"""

from __future__ import annotations

from html.parser import HTMLParser

import nh3

__all__ = ["clean", "document", "to_text"]

_TAGS = {"b", "strong", "i", "em", "u", "a", "ul", "ol", "li", "p", "br", "div", "blockquote"}
_BLOCKS = {"p", "div", "ul", "ol", "blockquote"}


def clean(markup: str) -> str:
    """Only the toolbar's markup; "" when nothing readable is left."""
    html = nh3.clean(
        markup,
        tags=_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()
    return html if to_text(html).strip() else ""


def document(html: str) -> str:
    """The text/html part: a whole document around the cleaned body."""
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"></head>\n<body>{html}</body></html>\n'
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.href: list[str | None] = []
        self.quote = 0

    def _newline(self) -> None:
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")
        if self.quote:
            self.out.append("> " * self.quote)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n" + "> " * self.quote)
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag in _BLOCKS:
            if tag in ("ul", "ol"):
                self.lists.append([1] if tag == "ol" else [])
            self._newline()
        elif tag == "li":
            self._newline()
            counter = self.lists[-1] if self.lists else []
            indent = "  " * max(0, len(self.lists) - 1)
            if counter:
                self.out.append(f"{indent}{counter[0]}. ")
                counter[0] += 1
            else:
                self.out.append(f"{indent}- ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag == "blockquote" and self.quote:
            self.quote -= 1
        if tag in _BLOCKS:
            self._newline()
        elif tag == "a" and self.href:
            href = self.href.pop()
            text = "".join(self.out[-1:])
            if href and href.removeprefix("mailto:") not in text:
                self.out.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.rstrip() for line in "".join(parser.out).split("\n")]
    return "\n".join(lines).strip("\n") + "\n"
