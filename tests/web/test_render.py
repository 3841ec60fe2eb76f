"""The pure rendering pieces (web/render.py): body choice, links, sanitiser, part paths."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from posteingang.mime import parse_message
from posteingang.web import render
from tests.web.messages import multipart, plain
from tests.web.xss_corpus import HTML_PAYLOADS, TEXT_PAYLOADS

HARNESS = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_web_render.py"


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("see https://a.example/x.", "https://a.example/x"),
        ("(https://a.example/wiki/A_(b))", "https://a.example/wiki/A_(b)"),
        ("www.example.org/path?a=1&b=2,", "https://www.example.org/path?a=1&amp;b=2"),
    ],
)
def test_linkify_makes_http_links_only(text: str, href: str) -> None:
    assert f'<a href="{href}"' in str(render.linkify(text))


def test_linkify_escapes_everything_else() -> None:
    out = str(render.linkify('javascript:alert(1) <b>&amp; "x"'))
    assert "<a" not in out and "&lt;b&gt;&amp;amp; &#34;x&#34;" in out


def test_the_richest_part_is_the_body() -> None:
    parsed = parse_message(multipart())
    html = render.choose_body(parsed)
    assert html.is_html and html.path == (1, 2, 1)
    text = render.choose_body(parsed, prefer_html=False)
    assert not text.is_html and text.path == (1, 1)
    single = render.choose_body(parse_message(plain(1, "x")))
    assert single.part is not None and single.path == ()


def test_part_paths_from_urls() -> None:
    assert render.part_path("1.2.10") == (1, 2, 10)
    for bad in ("0", "1..2", "../1", "1.a", "1." + "1." * 30 + "1", "-1"):
        assert render.part_path(bad) is None


def test_fuzz_driver_holds_on_the_corpus_and_random_markup() -> None:
    """The atheris harness runs without atheris, so its checks stay honest between runs."""
    spec = importlib.util.spec_from_file_location("fuzz_web_render", HARNESS)
    assert spec is not None and spec.loader is not None
    fuzz_web_render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz_web_render)
    for payload in [*HTML_PAYLOADS.values(), *TEXT_PAYLOADS.values()]:
        fuzz_web_render._drive(payload.encode())
    rng = random.Random(14)
    alphabet = b"<>\"'=/ :ajvscriptonerrorhttpsrcimgsvgstyle&#;x\x00"
    for _ in range(2000):
        fuzz_web_render._drive(bytes(rng.choice(alphabet) for _ in range(rng.randrange(150))))
