"""The text of a PDF that Chromium printed, for tests that check what a print view put
on paper (no PDF library in the dependencies: Chromium's PDFs are simple enough).

Chromium (Skia) writes text as glyph ids in hex strings (`<0012> Tj`, `[<..>] TJ`)
with a ToUnicode CMap per font (PDF 1.7 §9.10.3); the maps are merged, which is
enough for the fonts of one printed page. Spacing is not kept: compare with
`squeeze()`.
"""

from __future__ import annotations

import re
import zlib

__all__ = ["pdf_text", "squeeze"]


def _streams(pdf: bytes) -> list[bytes]:
    out = []
    for m in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", m.end())
        data = pdf[m.end() : end]
        head = pdf[max(0, m.start() - 300) : m.start()].rsplit(b"obj", 1)[-1]
        if b"FlateDecode" in head:
            try:
                data = zlib.decompressobj().decompress(data)
            except zlib.error:
                continue
        out.append(data)
    return out


def _cmap(streams: list[bytes]) -> dict[int, str]:
    cmap: dict[int, str] = {}
    for s in streams:
        if b"begincmap" not in s:
            continue
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", s, re.S):
            pattern = rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>"
            for first, last, dst in re.findall(pattern, block):
                start = int.from_bytes(bytes.fromhex(dst.decode()), "big")
                for i, gid in enumerate(range(int(first, 16), int(last, 16) + 1)):
                    cmap[gid] = chr(start + i)
    return cmap


def pdf_text(pdf: bytes) -> str:
    streams = _streams(pdf)
    cmap = _cmap(streams)
    out = []
    for s in streams:
        if b"BT" not in s or b"begincmap" in s:
            continue
        for glyphs, op in re.findall(rb"<([0-9A-Fa-f]*)>|(ET|Td|TD|T\*|Tm)\b", s):
            if glyphs:
                out += [cmap.get(int(glyphs[i : i + 4], 16), "?") for i in range(0, len(glyphs), 4)]
            elif op:
                out.append(" ")
    return "".join(out)


def squeeze(text: str) -> str:
    """`text` without any white space."""
    return "".join(text.split())
