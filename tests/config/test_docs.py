"""docs/configuration.md is generated from the code and must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from posteingang.config import render_markdown
from posteingang.config.schema import all_fields

from ..cli.conftest import invoke

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_committed_reference_matches_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/configuration.md is stale: run `python -m posteingang.config` and commit it"
    )


def test_every_setting_is_documented_with_its_default() -> None:
    text = render_markdown()
    for spec in all_fields():
        assert f"### `{spec.key}`" in text
        assert spec.setting.doc.strip(), spec.key
    assert "POSTEINGANG_STORE_DSN" in text


def test_config_doc_command_and_module_write_the_same_text(tmp_path: Path) -> None:
    result = invoke("config-doc")
    assert result.exit_code == 0
    assert result.stdout == render_markdown()
    out = tmp_path / "c.md"
    assert invoke("config-doc", "-o", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8") == render_markdown()
    module = subprocess.run(
        [sys.executable, "-m", "posteingang.config", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert module.stdout == render_markdown()


def test_every_posteingang_command_the_reference_names_exists() -> None:
    """Issue 11 item 15: the reference said `posteingang auth unblock`, which never existed."""
    import re

    import click

    from posteingang.cli import cli

    text = render_markdown()
    assert "`posteingang block lift`" in text
    ctx = click.Context(cli)
    for command in re.findall(r"`posteingang ([a-z-]+(?: [a-z-]+)?)", text):
        words = command.split()
        found = cli.get_command(ctx, words[0])
        assert found is not None, command
        if isinstance(found, click.Group) and len(words) > 1:
            assert words[1] in found.commands, command
