"""The `posteingang` command line: one click group, one module per command group.

`main` is the console-script entry point. The root group turns click's usage
errors into one line (plus a pointer to --help) with exit status 2, the same
shape as every other user error; see `common.py` for the error policy.
Modules: `setup` (init, check-config, config-doc), `accounts` (domain, user,
alias), `devices` (device), `server` (serve, check), `deliver` (deliver),
`transfer` (import, export), `blocks` (block), `dns` (dns-records). A command's
module is imported only when that command runs (`_COMMANDS`), so `--help` and
commands that need only the config or the store start without the servers.
Nothing here holds business logic beyond argument checking; the store and the
runtime do the work.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from posteingang import __version__
from posteingang.cli.common import EXIT_USAGE, State
from posteingang.cli.files import PRIVATE_UMASK

# name -> (module, attribute, the first paragraph of its help). Commands are
# imported only when invoked, so `posteingang --help` and a command that needs
# only the store do not import the protocol servers; the help text is here so
# the root `--help` lists every command without importing any of them
# (tests/cli/test_lazy_import.py checks it matches each command's own help).
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "alias": ("accounts", "alias_group", "Aliases: extra addresses whose mail goes to a user."),
    "block": (
        "blocks",
        "block_group",
        "Login blocks after repeated failures (addresses and accounts).",
    ),
    "check": (
        "server",
        "check",
        "Check the store's integrity: blobs, UIDs and MODSEQs, and file modes.",
    ),
    "check-config": ("setup", "check_config", "Validate the config file; list every problem."),
    "config-doc": ("setup", "config_doc", "Print the configuration reference as Markdown."),
    "deliver": (
        "deliver",
        "deliver_cmd",
        "Deliver one message from standard input to ADDRESS (for MTA pipes).",
    ),
    "device": ("devices", "device_group", "App passwords: one per device, each revocable."),
    "dns-records": (
        "dns",
        "dns_records_cmd",
        "Print the SRV and CNAME records mail programs use to find this server.",
    ),
    "domain": ("accounts", "domain_group", "Hosted domains: mail for them is delivered here."),
    "export": (
        "transfer",
        "export_cmd",
        "Export an account's mail as Maildir++ or mbox (all mailboxes by default).",
    ),
    "import": (
        "transfer",
        "import_cmd",
        "Import mail from mbox files or Maildir folders. Re-running resumes, never duplicates.",
    ),
    "init": ("setup", "init", "Create a data directory: config, certificate, first user."),
    "serve": ("server", "serve", "Run the server until SIGTERM or SIGINT."),
    "user": (
        "accounts",
        "user_group",
        "Accounts: a full address that logs in and owns mailboxes.",
    ),
}


def load_command(name: str) -> click.Command:
    """Import the command `name` (one of `_COMMANDS`) and return it."""
    module_name, attribute, _ = _COMMANDS[name]
    module = importlib.import_module(f"posteingang.cli.{module_name}")
    command: click.Command = getattr(module, attribute)
    if name == "user":
        from posteingang.cli.user_settings import user_set, user_show

        assert isinstance(command, click.Group)
        for sub in (user_set, user_show):
            if sub.name not in command.commands:
                command.add_command(sub)
    return command


class _Group(click.Group):
    """The root group: usage errors become one line, like every other user error.

    Its commands are loaded on first use (`_COMMANDS`); `commands` holds those
    loaded so far and any added with `add_command`.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from `_COMMANDS` for commands not loaded yet."""
        names = [
            name
            for name in self.list_commands(ctx)
            if name not in self.commands or not self.commands[name].hidden
        ]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # a stand-in with the same help shortens it exactly as the command would
            command = self.commands.get(name) or click.Command(name, help=_COMMANDS[name][2])
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as e:
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
            click.echo(f"Error: {e.format_message()}{hint}", err=True)
            # `deliver` speaks sysexits to its MTA: 64, not 2
            command = e.ctx.command if e.ctx is not None else None
            sys.exit(getattr(command, "usage_exit_code", EXIT_USAGE))
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="POSTEINGANG_CONFIG",
    help="Config file [env: POSTEINGANG_CONFIG; default: ./data/posteingang.toml if it exists].",
)
@click.version_option(__version__, prog_name="posteingang")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """posteingang: a self-hosted incoming mail server.

    Start with `posteingang init --data-dir ./data`, then
    `posteingang --config ./data/posteingang.toml serve`.
    """
    ctx.obj = State(config_path)
    # Mail and password hashes are for the server's user alone: whatever a command
    # creates (data dir, config, store and its -wal/-shm, blobs, exports, sockets)
    # is 0700/0600. Restored afterwards for callers that run the CLI in-process.
    previous = os.umask(PRIVATE_UMASK)
    ctx.call_on_close(lambda: os.umask(previous))


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="posteingang")
