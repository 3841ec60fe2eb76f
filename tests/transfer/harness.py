"""`python tests/transfer/harness.py ARGS...`: the real CLI with import/export registered.

Until the lead registers `import_cmd`/`export_cmd` in `posteingang.cli`, tests
(and the crash test's subprocess) run the root group with them added here.
"""

from __future__ import annotations

from posteingang.cli import cli, main
from posteingang.cli.transfer import export_cmd, import_cmd

for _command in (import_cmd, export_cmd):
    if _command.name not in cli.commands:
        cli.add_command(_command)

if __name__ == "__main__":
    main()
