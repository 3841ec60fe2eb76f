"""``python -m posteingang``: the same as the ``posteingang`` command."""

from posteingang.cli import main

main()
