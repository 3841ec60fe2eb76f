"""`python -m posteingang.config [PATH|-]`: write the configuration reference.

The default PATH is docs/configuration.md (relative to the working directory).
"""

import sys
from pathlib import Path

from posteingang.config.render import DOC_PATH, render_markdown


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else DOC_PATH
    if str(target) == "-":
        sys.stdout.write(render_markdown())
    else:
        target.write_text(render_markdown(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
