"""A small IMAP transcript runner: client lines out, expected server responses in.

The compliance tests in this package describe conversations as text, run them
over real sockets against posteingang and (where it is installed) Dovecot, and
check each command's responses against patterns.  The format is our own
(imaptest's scripts were only read to learn which behaviours to check)::

    # a comment; blank lines are ignored; a line ending in " \\" goes on on the next
    C: a1 SELECT ${box}            connection 1 sends a command (the tag is its first word)
    S: * ${n} EXISTS               an untagged response the command must produce
    S: a1 OK ...                   the tagged response (compared after all untagged ones)
    !S: * ... EXPUNGE              a response the command must NOT produce
    2 C: b1 NOOP                   the same on connection 2 (connections 1..9, opened lazily)
    C&: a2 NOOP                    pipelined: sent together with the following commands up to
                                   the next plain ``C:`` (no literals), whose responses are
                                   read together; each pattern of the group may match any
                                   untagged response of it, each tagged one its own tag, and
                                   the tagged responses must come in the order sent

Patterns:

* ``...`` matches any text (also none);
* ``${name}`` matches one token (no space, parenthesis or bracket) and binds it
  the first time; a later ``${name}`` must be the same text.  ``${box}`` is
  bound before the run to the test's own mailbox name, ``${sep}`` to the
  server's hierarchy delimiter (posteingang "/", Dovecot's maildir ".");
* ``\\r\\n`` stands for CRLF (inside literals);
* everything else is compared case-insensitively (IMAP atoms are), after both
  sides are normalised: the flags of ``FLAGS (...)``, ``PERMANENTFLAGS (...)``
  and the attributes of ``* LIST (...)`` are sorted (their order carries no
  meaning), ``\\Recent`` is dropped from flag lists unless the test asks for it
  (IMAP4rev2 has no ``\\Recent``), and runs of spaces count as one.

Untagged patterns may match responses in any order, each a different one;
responses the patterns do not mention are allowed (servers may send updates at
any time).  A literal in a response is shown as ``{n}`` followed by its octets.

In client lines ``${msg:NAME}`` becomes a synchronizing literal holding the
message NAME from the messages passed to `run` (the runner waits for the ``+``
continuation), ``${bin:NAME}`` the same as a ``~{n}`` literal8 (RFC 3516),
``${lit:TEXT}`` a literal holding TEXT (Python escapes allowed), and ``${name}``
the text a pattern bound.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Target", "TranscriptError", "run"]

_VAR = re.compile(r"\$\{([A-Za-z0-9_:.-]+)\}")
_CLIENT_VAR = re.compile(r"\$\{(msg|bin|lit):([^}]*)\}|\$\{([A-Za-z0-9_]+)\}")
_SORTED_LIST = re.compile(r"((?:PERMANENT)?FLAGS \(|^\* LIST \(|^\* LSUB \()([^()]*)\)", re.I)
_LITERAL_END = re.compile(rb"\{(\d+)\}\r\n$")


@dataclass(frozen=True)
class Target:
    """A server to talk to, and how to log in."""

    name: str  # "posteingang" or "dovecot"
    host: str
    port: int
    user: str
    password: str


class TranscriptError(AssertionError):
    pass


@dataclass
class _Step:
    conn: int
    command: str
    expect: list[str] = field(default_factory=list)
    forbid: list[str] = field(default_factory=list)
    lineno: int = 0
    pipelined: list[_Step] = field(default_factory=list)  # sent before this one, at once
    held: bool = False  # C&: waits to be sent with the next command


def parse(text: str) -> list[_Step]:
    steps: list[_Step] = []
    joined: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if joined and joined[-1][1].endswith(" \\"):
            joined[-1] = (joined[-1][0], joined[-1][1][:-1] + raw.strip())
        else:
            joined.append((lineno, raw))
    for lineno, raw in joined:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        conn = 1
        if line[0].isdigit() and line[1:2] == " ":
            conn, line = int(line[0]), line[2:].lstrip()
        kind, sep, rest = line.partition(": ")
        if not sep:
            raise ValueError(f"line {lineno}: expected 'C: ', 'S: ' or '!S: ': {raw!r}")
        if kind in ("C", "C&"):
            step = _Step(conn, rest, lineno=lineno, held=kind == "C&")
            if steps and steps[-1].held and steps[-1].conn == conn:
                prev = steps.pop()
                step.pipelined = [*prev.pipelined, prev]
                prev.pipelined = []
            steps.append(step)
            continue
        if not steps or steps[-1].conn != conn:
            raise ValueError(f"line {lineno}: a response pattern must follow its command")
        if kind == "S":
            steps[-1].expect.append(rest)
        elif kind == "!S":
            steps[-1].forbid.append(rest)
        else:
            raise ValueError(f"line {lineno}: unknown kind {kind!r}")
    return steps


def normalise(line: str, *, keep_recent: bool = False) -> str:
    def sort_list(m: re.Match[str]) -> str:
        if "..." in m[2]:
            return m[0]  # a pattern that leaves the list open: matched as written
        items = m[2].split()
        if not keep_recent:
            items = [i for i in items if i.lower() != "\\recent"]
        return m[1] + " ".join(sorted(items, key=str.lower)) + ")"

    line = " ".join(line.split(" "))
    line = re.sub(r" {2,}", " ", line)
    return _SORTED_LIST.sub(sort_list, line)


class _Connection:
    def __init__(self, target: Target, timeout: float) -> None:
        self.sock = socket.create_connection((target.host, target.port), timeout=timeout)
        self.buf = b""
        greeting = self.response()
        if not greeting.startswith("* OK"):
            raise TranscriptError(f"{target.name}: bad greeting {greeting!r}")

    def response(self) -> str:
        """One response; a literal is included with the line that announces it."""
        out = b""
        while True:
            nl = self.buf.find(b"\r\n")
            while nl < 0:
                self._fill()
                nl = self.buf.find(b"\r\n")
            line, self.buf = self.buf[: nl + 2], self.buf[nl + 2 :]
            out += line
            m = _LITERAL_END.search(line)
            if m is None:
                return out[:-2].decode("utf-8", "replace")
            size = int(m[1])
            while len(self.buf) < size:
                self._fill()
            out = out[:-2] + self.buf[:size]
            self.buf = self.buf[size:]

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise TranscriptError("connection closed by the server")
        self.buf += data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


@dataclass
class _Run:
    target: Target
    messages: Mapping[str, bytes]
    keep_recent: bool
    timeout: float
    bound: dict[str, str] = field(default_factory=dict)
    conns: dict[int, _Connection] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def conn(self, n: int) -> _Connection:
        c = self.conns.get(n)
        if c is None:
            c = self.conns[n] = _Connection(self.target, self.timeout)
        return c

    def expand(self, command: str) -> list[bytes]:
        """The command as pieces: between two pieces the server's ``+`` is awaited."""
        pieces: list[bytes] = []
        cur = b""
        pos = 0
        for m in _CLIENT_VAR.finditer(command):
            cur += command[pos : m.start()].encode()
            pos = m.end()
            if m[1] in ("msg", "bin"):
                data = self.messages[m[2]]
            elif m[1] == "lit":
                data = m[2].encode().decode("unicode_escape").encode("latin-1")
            else:
                cur += self.bound[m[3]].encode()
                continue
            prefix = b"~" if m[1] == "bin" else b""
            pieces.append(cur + prefix + b"{%d}\r\n" % len(data))
            cur = data
        pieces.append(cur + command[pos:].encode() + b"\r\n")
        return pieces

    def step(self, step: _Step) -> None:
        if step.pipelined:
            self.pipelined(step)
            return
        c = self.conn(step.conn)
        tag = step.command.split(" ", 1)[0]
        got: list[str] = []
        pieces = self.expand(step.command)
        self.log.append(f"{step.conn} C: {step.command}")
        for piece in pieces[:-1]:
            c.send(piece)
            while True:
                r = c.response()
                self.log.append(f"{step.conn} S: {r}")
                if r.startswith("+"):
                    break
                got.append(r)
                if r.startswith(tag + " "):
                    self.check(step, got)
                    return
        c.send(pieces[-1])
        while True:
            r = c.response()
            self.log.append(f"{step.conn} S: {r}")
            got.append(r)
            if r.startswith(tag + " "):
                break
        self.check(step, got)

    def pipelined(self, last: _Step) -> None:
        group = [*last.pipelined, last]
        c = self.conn(last.conn)
        for s in group:
            self.log.append(f"{s.conn} C: {s.command}")
        c.send(b"".join(b"".join(self.expand(s.command)) for s in group))
        tags = [s.command.split(" ", 1)[0] for s in group]
        got: list[str] = []
        tagged: list[str] = []
        while len(tagged) < len(tags):
            r = c.response()
            self.log.append(f"{last.conn} S: {r}")
            got.append(r)
            if r.split(" ", 1)[0] in tags and not r.startswith("*"):
                tagged.append(r)
        if [r.split(" ", 1)[0] for r in tagged] != tags:
            self.fail(last, f"tagged responses out of order: {tagged}", got)
        untagged = [r for r in got if r not in tagged]
        by_tag = dict(zip(tags, tagged, strict=True))
        patterns = [p for s in group for p in s.expect]
        merged = _Step(last.conn, last.command, [], [f for s in group for f in s.forbid])
        merged.lineno = last.lineno
        for pattern in patterns:
            tag = pattern.split(" ", 1)[0]
            if tag in by_tag:
                self.check(
                    _Step(last.conn, last.command, [pattern], lineno=last.lineno), [by_tag[tag]]
                )
            else:
                merged.expect.append(pattern)
        self.check(merged, [*untagged, tagged[-1]])

    def check(self, step: _Step, got: list[str]) -> None:
        norm = [normalise(g, keep_recent=self.keep_recent) for g in got]
        tagged, untagged = norm[-1], list(enumerate(norm[:-1]))
        used: set[int] = set()
        for pattern in step.expect:
            pat = normalise(pattern, keep_recent=self.keep_recent)
            if pat.startswith("* ") or pat.startswith("+"):
                for i, line in untagged:
                    if i not in used and self.match(pat, line):
                        used.add(i)
                        break
                else:
                    self.fail(step, f"no response matches {pattern!r}", got)
            elif not self.match(pat, tagged):
                self.fail(step, f"tagged response does not match {pattern!r}", got)
        for pattern in step.forbid:
            pat = normalise(pattern, keep_recent=self.keep_recent)
            for line in norm:
                if self.match(pat, line, bind=False):
                    self.fail(step, f"forbidden response {line!r} ({pattern!r})", got)

    def match(self, pattern: str, line: str, *, bind: bool = True) -> bool:
        pattern = pattern.replace("\\r\\n", "\r\n")
        names: list[str] = []
        regex = ""
        pos = 0
        for m in re.finditer(r"\.\.\.|\$\{([A-Za-z0-9_]+)\}", pattern):
            regex += re.escape(pattern[pos : m.start()])
            pos = m.end()
            if m[0] == "...":
                regex += ".*?"
            elif m[1] in self.bound:
                regex += re.escape(self.bound[m[1]])
            else:
                # A repeated new name within one pattern must match the same text.
                if m[1] in names:
                    regex += f"(?P={m[1]})"
                else:
                    names.append(m[1])
                    regex += f"(?P<{m[1]}>[^ ()\\[\\]]+)"
        regex += re.escape(pattern[pos:])
        found = re.fullmatch(regex, line, re.I | re.S)
        if found is None:
            return False
        if bind:
            for name in names:
                self.bound[name] = found[name]
        return True

    def fail(self, step: _Step, why: str, got: list[str]) -> None:
        shown = "\n".join(self.log[-40:])
        raise TranscriptError(
            f"{self.target.name}, transcript line {step.lineno} "
            f"({step.conn} C: {step.command}): {why}\nresponses: {got}\n--- last lines:\n{shown}"
        )


def run(
    target: Target,
    text: str,
    *,
    box: str,
    messages: Mapping[str, bytes] | None = None,
    keep_recent: bool = False,
    timeout: float = 30.0,
) -> dict[str, str]:
    """Run the transcript `text` against `target`; returns what the patterns bound.

    Every connection logs in first (not part of the transcript); ``${box}`` is
    `box`, which the run deletes before it starts and after it ends.
    """
    r = _Run(target, messages or {}, keep_recent, timeout, bound={"box": box})
    login = f'L LOGIN "{target.user}" "{target.password}"'
    steps = parse(text)
    wanted = sorted({s.conn for s in steps} | {1})
    try:
        for n in wanted:
            r.step(_Step(n, login, expect=["L OK ..."]))
        r.step(_Step(1, 'L2 LIST "" ""', expect=['* LIST (...) "${sep}" ""', "L2 OK ..."]))
        _cleanup(r, box)
        for step in steps:
            r.step(step)
    finally:
        try:
            if r.conns:
                _cleanup(r, box)
        except (OSError, TranscriptError):
            pass
        for c in r.conns.values():
            c.close()
    return r.bound


def _cleanup(r: _Run, box: str) -> None:
    """Delete the test's mailboxes (``box`` and its children) on a fresh connection."""
    c = _Connection(r.target, r.timeout)
    try:
        login = f'L LOGIN "{r.target.user}" "{r.target.password}"\r\n'
        c.send(f'{login}X LIST "" "{box}*"\r\nY LSUB "" "{box}*"\r\n'.encode())
        names: set[str] = set()
        while True:
            line = c.response()
            if line.startswith("Y "):
                break
            if line.startswith(("* LIST ", "* LSUB ")):
                names.add(line.rsplit(" ", 1)[1].strip('"'))
        for i, name in enumerate(sorted(names, key=len, reverse=True)):
            c.send(f'D{i} DELETE "{name}"\r\nU{i} UNSUBSCRIBE "{name}"\r\n'.encode())
            while not c.response().startswith(f"U{i} "):
                pass
        c.send(b"Z LOGOUT\r\n")
    finally:
        c.close()
