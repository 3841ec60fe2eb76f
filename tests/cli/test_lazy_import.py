"""The command line imports what a command needs, so it starts fast.

Measured as behaviour, not time: a fresh interpreter runs the real CLI and
reports which of our modules it imported. `--help` must not load the protocol
servers, the runtime or the store; commands that only read the config or the
store must not load the protocol servers or the runtime.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from posteingang.cli import _COMMANDS, cli, load_command

# Prints the posteingang (and rich, structlog) modules loaded after running the CLI
# with argv[1:].
_PROBE = """
import json, sys
from posteingang.cli import main
sys.argv = ["posteingang", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    code = e.code
ours = ("posteingang", "rich", "structlog")
print(json.dumps([code, sorted(m for m in sys.modules if m.split(".")[0] in ours)]))
"""

SERVERS = ("posteingang.imap", "posteingang.pop3", "posteingang.smtp", "posteingang.web")
RUNTIME = ("posteingang.runtime", "posteingang.net.server")
# What the config schema needs of the protocol packages: their settings sections.
SETTINGS = {
    *(f"{package}.settings" for package in SERVERS),
    *SERVERS,
    "posteingang.smtp.proto",
    "posteingang.smtp.proto.limits",
}


def loaded(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120
    )
    code, modules = json.loads(done.stdout.splitlines()[-1])
    assert code in (0, None), done.stderr
    return list(modules)


def under(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if m in prefixes or m.startswith(tuple(p + "." for p in prefixes))]


def test_help_imports_no_server_runtime_config_or_store() -> None:
    modules = loaded("--help")
    heavy = (*SERVERS, *RUNTIME, "posteingang.store", "posteingang.config")
    assert under(modules, heavy) == []


def test_user_list_and_check_config_import_no_protocol_server(data_dir: Path) -> None:
    config = str(data_dir / "posteingang.toml")
    for args in (["user", "list"], ["check-config"]):
        modules = [m for m in loaded("--config", config, *args) if m not in SETTINGS]
        assert under(modules, (*SERVERS, *RUNTIME)) == [], args


@pytest.mark.parametrize(
    "args",
    [
        ["user", "list"],
        ["domain", "list"],
        ["alias", "list"],
        ["device", "list", "demo@example.test"],
    ],
)
def test_account_commands_open_the_directory_alone(data_dir: Path, args: list[str]) -> None:
    """No mailstore (MIME parsing, the full-text index), no logging, no rich: the
    account commands read the directory and print a table."""
    modules = loaded("--config", str(data_dir / "posteingang.toml"), *args)
    assert "posteingang.store.sqlite.directory" in modules
    mailstore = (
        "posteingang.mime",
        "posteingang.store.interface",
        "posteingang.store.mailstore",
        "posteingang.store.sqlite.store",
        "posteingang.store.sqlite.mailstore",
        "posteingang.store.fulltext",
    )
    assert under(modules, (*mailstore, "rich", "structlog")) == [], args


def test_help_lists_every_command_with_its_own_short_help() -> None:
    """The table `--help` reads must say what each command's docstring says."""
    for name in sorted(_COMMANDS):
        real = load_command(name)
        assert real.name == name
        stand_in = click.Command(name, help=_COMMANDS[name][2])
        for limit in (20, 45, 80, 200):
            assert stand_in.get_short_help_str(limit) == real.get_short_help_str(limit), name


@pytest.mark.parametrize("name", ["user", "domain"])
def test_lazily_loaded_groups_keep_their_subcommands(name: str) -> None:
    group = cli.get_command(click.Context(cli), name)
    assert isinstance(group, click.Group)
    assert "list" in group.commands
    if name == "user":
        assert {"set", "show"} <= set(group.commands)


def test_check_config_knows_the_protocols_serve_serves() -> None:
    """`check-config` checks listeners against a list of names, `serve` against the
    services: the two must agree, or one would accept what the other refuses."""
    from posteingang import runtime
    from posteingang.protocols import BUILTIN_PROTOCOLS

    served = [name for service in runtime.SERVICES for name in service.protocols]
    assert sorted(served) == sorted(BUILTIN_PROTOCOLS)
