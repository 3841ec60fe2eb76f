"""The messages the compliance transcripts append (our own, written for these tests).

Each is CRLF-terminated bytes; `prepare` writes the transcript lines that create
the test's mailbox, append messages with a fixed internal date and select it.
"""

from __future__ import annotations

INTERNALDATE = "22-Feb-2008 17:06:23 +0000"


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


PLAIN = _crlf(
    """From: Alice Example <alice@example.org>
To: Bob <bob@example.net>, carol@example.net
Cc: dave@example.com
Subject: plain one
Date: Sat, 24 Mar 2007 23:00:00 +0200
Message-ID: <plain1@example.org>

Hello plain body
second line
"""
)

SECOND = _crlf(
    """From: bob@example.net
To: alice@example.org
Subject: second message
Date: Mon, 2 Apr 2007 10:00:00 +0000
Message-ID: <second@example.net>

the second body, a little longer than the first one
"""
)

THIRD = _crlf(
    """From: "Carol, C." <carol@example.net>
To: undisclosed-recipients:;
Reply-To: replies@example.net
Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=
Date: Tue, 3 Apr 2007 12:30:00 -0500
Message-ID: <third@example.net>
In-Reply-To: <second@example.net>

third
"""
)

MIXED = _crlf(
    """From: Dave <dave@example.com>
To: alice@example.org
Subject: mixed parts
Date: Wed, 4 Apr 2007 08:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble text
--outer
Content-Type: text/plain; charset=us-ascii

first part text
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9 au lait
--inner
Content-Type: text/html; charset=utf-8

<p>cafe</p>
--inner--
--outer
Content-Type: application/octet-stream; name="data.bin"
Content-Disposition: attachment; filename="data.bin"
Content-Transfer-Encoding: base64

AAECAwQFBgc=
--outer--
epilogue
"""
)

RFC822 = _crlf(
    """From: eve@example.com
To: alice@example.org
Subject: forwarded
Date: Thu, 5 Apr 2007 09:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fw"

--fw
Content-Type: text/plain

see attached
--fw
Content-Type: message/rfc822

From: frank@example.com
To: eve@example.com
Subject: the original
Date: Fri, 30 Mar 2007 07:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="orig"

--orig
Content-Type: text/plain

original text
--orig
Content-Type: text/html

<b>original</b>
--orig--
--fw--
"""
)

QP_BASE64 = _crlf(
    """From: gina@example.com
To: alice@example.org
Subject: encodings
Date: Fri, 6 Apr 2007 09:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="enc"

--enc
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

soft=
 break and =3D sign
--enc
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

aGVsbG8gYmFzZTY0Cg==
--enc--
"""
)

NO_HEADERS = _crlf(
    """X-Only: this message has no From, To, Subject or Date

body without the usual headers
"""
)

MESSAGES: dict[str, bytes] = {
    "plain": PLAIN,
    "second": SECOND,
    "third": THIRD,
    "mixed": MIXED,
    "rfc822": RFC822,
    "encodings": QP_BASE64,
    "noheaders": NO_HEADERS,
}


def prepare(*names: str, select: bool = True, dates: tuple[str, ...] = ()) -> str:
    """Transcript lines: CREATE ${box}, APPEND each message, SELECT ${box}.

    ``dates`` are the internal dates of the first messages (the rest get `INTERNALDATE`).
    """
    lines = ["C: p0 CREATE ${box}", "S: p0 OK ..."]
    for i, name in enumerate(names, 1):
        date = dates[i - 1] if i <= len(dates) else INTERNALDATE
        lines.append(f'C: p{i} APPEND ${{box}} () "{date}" ${{msg:{name}}}')
        lines.append(f"S: p{i} OK ...")
    if select:
        lines += [
            "C: ps SELECT ${box}",
            f"S: * {len(names)} EXISTS",
            "S: * OK [UIDVALIDITY ${uidvalidity}] ...",
            "S: * OK [UIDNEXT ${uidnext}] ...",
            "S: ps OK [READ-WRITE] ...",
        ]
    return "\n".join(lines) + "\n"


def literal(data: bytes) -> str:
    """A literal as a pattern shows it: ``{n}`` and the octets, CRLF written as ``\\r\\n``."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\\r\\n")
    return "{" + str(len(data)) + "}" + text


def header_of(data: bytes) -> bytes:
    """The header block with the empty line that ends it."""
    return data[: data.index(b"\r\n\r\n") + 4]


def text_of(data: bytes) -> bytes:
    return data[data.index(b"\r\n\r\n") + 4 :]
