"""How any package describes its part of the config file: `Section` and `Setting`.

A section is a frozen msgspec struct whose every field carries an
`Annotated[type, Setting("what it does")]` and a default; `config` validates the
TOML file against these structs and generates `docs/configuration.md` and the
commented file `init` writes from them. Sections live beside the code they
configure (`net/settings.py`, `imap/settings.py`, ...) and import only this
module, so describing a setting never pulls in the config loader, and the
loader never has to import a protocol to know what a section looks like.

What it must never do: import anything of ours, read files or look at the
environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import msgspec

__all__ = ["KiB", "MiB", "Section", "Setting"]

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True, slots=True)
class Setting:
    """Documentation and behaviour of one setting, attached with `Annotated`.

    `default_text` replaces the shown default when it is computed at load time.
    `env` lets `POSTEINGANG_<SECTION>_<KEY>` override the file (for secrets and
    DSNs, which should not sit in a file that is checked into configuration
    management); `secret` keeps the value out of logs and `check-config` output.
    """

    doc: str
    default_text: str | None = None
    env: bool = False
    secret: bool = False


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config section.

    `derived` names fields that are not written in the file: the runtime fills
    them from other sections (a protocol's greeting name is `server.hostname`),
    so the loader refuses them as keys and the reference does not list them.
    """

    derived: ClassVar[frozenset[str]] = frozenset()

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field checks: (key, message) pairs. Types are already checked."""
        return []
