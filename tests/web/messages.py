"""Sample messages for the web tests: multipart with HTML, inline image and attachments."""

from __future__ import annotations

import base64

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n% not really a pdf, bytes to compare\n\x00\x01\x02\xff\n"


def multipart(to: str = "alice@example.test") -> bytes:
    """alternative(plain, related(html with cid: and remote image, png)) + two attachments
    whose names need RFC 2231 and RFC 2047 decoding."""
    png = base64.encodebytes(PNG).decode().replace("\n", "\r\n")
    pdf = base64.encodebytes(PDF).decode().replace("\n", "\r\n")
    return (
        "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>\r\n"
        f"To: Alice <{to}>\r\n"
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
        "Date: Mon, 07 Dec 2026 10:00:00 +0100\r\n"
        "Message-ID: <multi@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n'
        "\r\n"
        "--outer\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n'
        "\r\n"
        "--alt\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Hallo Alice, siehe https://example.org/info.\r\n"
        "--alt\r\n"
        'Content-Type: multipart/related; boundary="rel"\r\n'
        "\r\n"
        "--rel\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        '<html><body><p style="position:fixed;color:red">Hallo <b>Alice</b></p>'
        '<img src="cid:logo@example.org" alt="logo">'
        '<img src="https://tracker.example.net/pixel.gif" alt="remote">'
        "<script>window.parent.pwned=1</script>"
        '<a href="javascript:alert(1)">click</a></body></html>\r\n'
        "--rel\r\n"
        "Content-Type: image/png\r\n"
        "Content-ID: <logo@example.org>\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{png}"
        "--rel--\r\n"
        "--alt--\r\n"
        "--outer\r\n"
        "Content-Type: application/pdf\r\n"
        "Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{pdf}"
        "--outer\r\n"
        'Content-Type: text/html; name="=?utf-8?b?w6R0c2No?=.html"\r\n'
        'Content-Disposition: attachment; filename="=?utf-8?b?w6R0c2No?=.html"\r\n'
        "\r\n"
        "<script>alert(document.cookie)</script>\r\n"
        "--outer--\r\n"
    ).encode()


def plain(n: int, body: str, to: str = "alice@example.test", subject: str = "") -> bytes:
    return (
        f"From: sender{n}@example.org\r\nTo: {to}\r\nSubject: {subject or f'message {n}'}\r\n"
        f"Message-ID: <p{n}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()
