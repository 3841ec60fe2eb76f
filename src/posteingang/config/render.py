"""Text generated from the schema: `docs/configuration.md` and the commented config file.

Both come from `schema.py`, so the reference and the file `init` writes always
list exactly the settings the loader accepts, with the defaults it applies.
This module must never read or write files; callers do that.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec

from posteingang.config.schema import FieldSpec, arrays, fields_of, sections

DOC_PATH = Path("docs/configuration.md")

_INTRO = """\
posteingang reads one TOML file, given with `--config FILE` or the environment
variable `POSTEINGANG_CONFIG` (default: `./data/posteingang.toml` if it exists).
`posteingang init` writes one with every setting below shown as a comment.
Every setting is optional; a missing setting takes the default listed here.

- Unknown sections and keys are errors, so a misspelling cannot go unnoticed.
  `posteingang check-config` lists every problem with its key path.
- A relative path written in the file is relative to the config file's
  directory; a default path is relative to `server.data_dir`.
- Settings marked *environment* can be overridden by the named variable, which
  wins over the file. Use this for secrets and connection strings.
"""


def render_markdown() -> str:
    """The whole configuration reference (docs/configuration.md)."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from src/posteingang/config/schema.py by "
        "`posteingang config-doc`. Do not edit by hand. -->",
        "",
        _INTRO,
    ]
    env_specs: list[FieldSpec] = []
    for section, cls in sections().items():
        out += [f"## `[{section}]`", "", (cls.__doc__ or "").strip(), ""]
        for spec in fields_of(section, cls):
            out += [f"### `{spec.key}`", ""]
            out.append(f"- type: {_type_text(spec.type)}")
            out.append(f"- default: {_default_text(spec)}")
            if spec.env_var:
                out.append(f"- environment: `{spec.env_var}`")
                env_specs.append(spec)
            out += ["", spec.setting.doc, ""]
    for name, cls in arrays().items():
        out += [
            f"## `[[{name}]]`",
            "",
            (cls.__doc__ or "").strip(),
            "",
            f"An array of tables: repeat `[[{name}]]` once per item. Default: none.",
            "",
        ]
        for spec in fields_of(name, cls):
            out += [f"### `{spec.key}`", ""]
            out.append(f"- type: {_type_text(spec.type)}")
            out.append(f"- default: {_default_text(spec)}")
            out += ["", spec.setting.doc, ""]
    out += ["## Environment variables", ""]
    out.append("| variable | setting |")
    out.append("| --- | --- |")
    out.append("| `POSTEINGANG_CONFIG` | the config file to read |")
    for spec in env_specs:
        out.append(f"| `{spec.env_var}` | `{spec.key}` |")
    return "\n".join(out).rstrip() + "\n"


def render_toml(values: Mapping[str, Any] | None = None, *, header: str = "") -> str:
    """A config file with every setting documented; `values` are set, the rest commented out.

    `values` maps a section to its {key: value}, and an array name to a list of them.
    """
    values = values or {}
    lines = [
        *(f"# {h}" if h else "#" for h in header.splitlines()),
        "# Every setting is listed with its default, commented out. Remove the '#' to",
        "# change one. Reference: docs/configuration.md (`posteingang config-doc`).",
    ]
    for section, cls in sections().items():
        lines += ["", f"[{section}]"]
        given = values.get(section, {})
        for spec in fields_of(section, cls):
            lines += [f"# {line}" for line in _wrap(spec.setting.doc, 78)]
            if spec.env_var:
                lines.append(f"# (environment variable {spec.env_var} overrides this)")
            if spec.name in given:
                lines.append(f"{spec.name} = {_toml_value(given[spec.name])}")
            else:
                lines.append(_commented(spec))
    for name, cls in arrays().items():
        about = f"[[{name}]]: {(cls.__doc__ or '').strip()} Repeat for each; none by default."
        lines += ["", *(f"# {line}" for line in _wrap(about, 78))]
        items = values.get(name, [])
        for item in items if isinstance(items, list) else []:
            lines += ["", f"[[{name}]]"]
            for key, value in item.items():
                lines.append(f"{key} = {_toml_value(value)}")
        lines += ["#", f"# [[{name}]]"]
        for spec in fields_of(name, cls):
            lines += [f"# {line}" for line in _wrap(spec.setting.doc, 78)]
            lines.append(_commented(spec))
    return "\n".join(lines) + "\n"


def _commented(spec: FieldSpec) -> str:
    if spec.required or spec.default is msgspec.NODEFAULT or spec.default is None:
        return f"# {spec.name} =   # default: {_default_text(spec, markdown=False)}"
    return f"# {spec.name} = {_toml_value(spec.default)}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes).
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {value!r} as TOML")


def _default_text(spec: FieldSpec, *, markdown: bool = True) -> str:
    if spec.setting.default_text is not None:
        return spec.setting.default_text
    value = spec.default
    if spec.required:
        return "required"
    if value is msgspec.NODEFAULT:
        return "computed"
    if value is None:
        return "not set"
    text = _toml_value(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1024:
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value % size == 0:
                text += f" ({value // size} {unit})"
                break
    if not markdown:
        return text
    if isinstance(value, Path) and not (spec.section == "server" and spec.name == "data_dir"):
        return f"`{text}` in `server.data_dir`"
    return f"`{text}`"


def _type_text(tp: Any) -> str:
    constraints: list[str] = []
    if get_origin(tp) is Annotated:
        args = get_args(tp)
        tp = args[0]
        for meta in args[1:]:
            if isinstance(meta, msgspec.Meta):
                if meta.ge is not None:
                    constraints.append(f"≥ {meta.ge}")
                if meta.gt is not None:
                    constraints.append(f"> {meta.gt}")
                if meta.le is not None:
                    constraints.append(f"≤ {meta.le}")
                if meta.max_length is not None:
                    constraints.append(f"at most {meta.max_length} character(s)")
    if get_origin(tp) is Literal:
        text = " or ".join(f'`"{a}"`' for a in get_args(tp))
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        text = " or ".join(f'`"{m.value}"`' for m in tp)
    elif isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        keys = ", ".join(f"`{f.name}`" for f in msgspec.structs.fields(tp))
        text = f"table with {keys}"
    elif get_origin(tp) is list:
        text = "array of " + _type_text(get_args(tp)[0])
    elif get_origin(tp) is dict:
        text = "table of name → " + _type_text(get_args(tp)[1])
    elif type(None) in get_args(tp):
        rest = [a for a in get_args(tp) if a is not type(None)]
        text = _type_text(rest[0]) + ", optional"
    else:
        names = {int: "integer", float: "number", str: "string", bool: "boolean", Path: "path"}
        text = names.get(tp, str(tp))
    return text + (f" ({', '.join(constraints)})" if constraints else "")


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines
