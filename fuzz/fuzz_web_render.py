"""Fuzz the webmail's pure rendering: the HTML sanitiser policy, plain-text links, part paths.

Run (atheris is not a project dependency; install it in a scratch venv)::

    python fuzz/fuzz_web_render.py -max_total_time=300

Any exception is a bug, and so is any of:

* sanitised HTML that still holds ``<script``, an ``on...=`` handler attribute,
  a ``javascript:`` URL in a tag or a remote ``src`` while remote images are blocked;
* linkified text whose only markup is not our own ``<a href="http...">``: every
  other ``<`` and ``&`` must come out escaped;
* a part path that parses to something that does not print back the same.
"""

from __future__ import annotations

import re
import sys

try:
    import atheris
except ImportError:  # pragma: no cover - atheris is optional
    atheris = None

if atheris is not None:
    with atheris.instrument_imports():
        from posteingang.web import render
else:
    from posteingang.web import render

_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
_OUR_LINK = re.compile(
    r'<a href="https?://[^"<>]*" target="_blank" rel="noopener noreferrer">|</a>'
)
_SCRIPT_URL = re.compile(r"<[^>]*(?:java|vb)script:", re.IGNORECASE)


def _drive(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    clean = render.sanitise_html(text).html
    lowered = clean.lower()
    assert "<script" not in lowered and not _SCRIPT_URL.search(clean)
    assert not _HANDLER.search(clean)
    assert not re.search(r"""src\\s*=\\s*["']?(https?:)?//""", lowered)
    linked = str(render.linkify(text))
    assert "<" not in _OUR_LINK.sub("", linked)
    path = render.part_path(text[:40])
    if path:
        assert ".".join(map(str, path)) == text[:40]


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed; see the module docstring")
    atheris.Setup(sys.argv, _drive)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
