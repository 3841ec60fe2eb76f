"""The `posteingang` command line: one click group, one module per command group.

`main` is the console-script entry point. The root group turns click's usage
errors into one line (plus a pointer to --help) with exit status 2, the same
shape as every other user error; see `common.py` for the error policy.
Modules: `setup` (init, check-config, config-doc), `accounts` (domain, user,
alias), `devices` (device), `server` (serve, check), `deliver` (deliver),
`transfer` (import, export). Nothing here holds
business logic beyond argument checking; the store and the runtime do the work.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from posteingang import __version__
from posteingang.cli.accounts import alias_group, domain_group, user_group
from posteingang.cli.blocks import block_group
from posteingang.cli.common import EXIT_USAGE, State
from posteingang.cli.deliver import deliver_cmd
from posteingang.cli.devices import device_group
from posteingang.cli.dns import dns_records_cmd
from posteingang.cli.files import PRIVATE_UMASK
from posteingang.cli.server import check, serve
from posteingang.cli.setup import check_config, config_doc, init
from posteingang.cli.transfer import export_cmd, import_cmd
from posteingang.cli.user_settings import user_set, user_show


class _Group(click.Group):
    """The root group: usage errors become one line, like every other user error."""

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


for command in (
    init,
    check_config,
    config_doc,
    serve,
    check,
    domain_group,
    user_group,
    alias_group,
    device_group,
    deliver_cmd,
    import_cmd,
    export_cmd,
    block_group,
    dns_records_cmd,
):
    cli.add_command(command)
user_group.add_command(user_set)
user_group.add_command(user_show)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="posteingang")
