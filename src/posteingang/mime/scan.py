"""Delimiter lines and line counts: the two whole-body scans of a parse.

Everything else the splitter reads is a header block or a short look at
one offset; these two questions may cross a 50 MB body, so they carry the
rules that keep a hostile message from costing more than a fair one:

* Delimiter candidates are found with ``find(b"\\n--" + boundary)``, never a
  Python loop over lines, and each boundary's next occurrence is
  remembered, so a body full of ``--`` lines (of other boundaries, or
  signatures) is scanned once per boundary, not once per line.
* Line counts (IMAP body-fld-lines of text/* and message/rfc822 parts) of
  nested message/rfc822 parts cover the same octets again and again; whole
  `LINE_BLOCK` blocks are counted once and remembered.

Pure: works on any `ByteSource` (``bytes`` or a window over a file) and
never reads more than it is asked about.
"""

from __future__ import annotations

from .source import ByteSource

#: Octets per remembered line-count block.
LINE_BLOCK = 64 * 1024

# A delimiter found while scanning: (offset of its line, index in the stack).
Delimiter = tuple[int, int]


class Scanner:
    """Whole-body scans of one message, with their memory (one per parse)."""

    __slots__ = ("_block_lines", "_next_line", "raw")

    def __init__(self, raw: ByteSource) -> None:
        self.raw = raw
        # boundary -> (searched from, next delimiter line or -1)
        self._next_line: dict[bytes, tuple[int, int]] = {}
        # block index -> LF count of raw[k * LINE_BLOCK : (k + 1) * LINE_BLOCK]
        self._block_lines: dict[int, int] = {}

    def find_delimiter(self, pos: int, stack: tuple[bytes, ...]) -> Delimiter | None:
        """The first delimiter line of any boundary in ``stack`` at or after
        the line starting at ``pos``.

        A line may start with several boundaries when one is a prefix of
        another: the longest wins, and among equals the innermost (last in
        ``stack``), so a child reusing its parent's boundary owns the line.
        """
        if not stack:
            return None
        p = -1
        memo = self._next_line
        for b in stack:
            hit = memo.get(b)
            if hit is not None and hit[0] <= pos and (hit[1] < 0 or pos <= hit[1]):
                at = hit[1]  # see _next_delimiter_line
            else:
                at = self._next_delimiter_line(b, pos)
            if at >= 0 and (p < 0 or at < p):
                p = at
        if p < 0:
            return None
        raw = self.raw
        best = -1
        for i in range(len(stack) - 1, -1, -1):
            b = stack[i]
            if raw.startswith(b, p + 2) and (best < 0 or len(b) > len(stack[best])):
                best = i
        return p, best

    def _next_delimiter_line(self, boundary: bytes, pos: int) -> int:
        """Offset of the first line at or after the line starting at ``pos``
        that starts with ``--boundary``, or -1.

        DoS rule: the answer is remembered as (searched from, found at); a
        later question from inside that span is answered without searching,
        so a scan costs O(octets x stack depth) however many ``--`` lines the
        body holds (the splitter's positions only move forwards).
        """
        hit = self._next_line.get(boundary)
        if hit is not None and hit[0] <= pos and (hit[1] < 0 or pos <= hit[1]):
            return hit[1]  # no such line in [hit[0], hit[1]), and pos is in there
        raw = self.raw
        pattern = b"\n--" + boundary
        at_line_start = pos == 0 or (pos < len(raw) and raw[pos - 1] == 0x0A)
        if at_line_start and raw.startswith(pattern[1:], pos):
            at = pos
        else:
            i = raw.find(pattern, pos)
            at = -1 if i < 0 else i + 1
        self._next_line[boundary] = (pos, at)
        return at

    def count_lines(self, start: int, end: int) -> int:
        """LF octets in ``raw[start:end]`` (IMAP body-fld-lines)."""
        raw = self.raw
        if end - start < 2 * LINE_BLOCK:
            return raw.count(b"\n", start, end)
        first = -(-start // LINE_BLOCK)
        last = end // LINE_BLOCK
        n = raw.count(b"\n", start, first * LINE_BLOCK) + raw.count(b"\n", last * LINE_BLOCK, end)
        known = self._block_lines
        for k in range(first, last):
            c = known.get(k)
            if c is None:
                c = known[k] = raw.count(b"\n", k * LINE_BLOCK, (k + 1) * LINE_BLOCK)
            n += c
        return n
