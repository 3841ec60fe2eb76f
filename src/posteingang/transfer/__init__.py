"""Import and export: mbox files and Maildir++ trees in, Maildir++ and mbox out.

Import goes through the one delivery path (`delivery.ingest.prepare_message`,
then `Store.append_many` in atomic batches) and is resumable: re-running an
interrupted import neither duplicates nor skips (see `importer`). Export keeps
everything an import reads back: bytes, flags, keywords, internal dates, UIDs
(see `exporter`). Modules: `mbox` and `maildir` (the formats), `flags` (flags
and dates as those formats keep them), `sidecar` (mbox metadata file),
`sources` and `plan` (input side), `importer`, `exporter`.

This package must never change message bytes beyond two documented steps
(mboxrd un-escaping; LF-only messages to CRLF via `delivery.ingest.unix_to_crlf`,
unless --keep-line-endings), and never parse messages beyond the few header
fields that carry mbox flags and dates.
"""

from __future__ import annotations

from posteingang.transfer.errors import TransferError, printable
from posteingang.transfer.exporter import ExportStats, export_maildir, export_mbox
from posteingang.transfer.importer import ImportStats, Reporter, Source, import_sources
from posteingang.transfer.mbox import MboxFormat
from posteingang.transfer.plan import maildir_sources, mbox_sources

__all__ = [
    "ExportStats",
    "ImportStats",
    "MboxFormat",
    "Reporter",
    "Source",
    "TransferError",
    "export_maildir",
    "export_mbox",
    "import_sources",
    "maildir_sources",
    "mbox_sources",
    "printable",
]
