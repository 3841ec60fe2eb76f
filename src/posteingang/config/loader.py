"""Reading a TOML config file into a validated, frozen `Config`.

Every problem is collected, not just the first, each with its key path
(`limits.max_message_size: expected int, got str`), so `check-config` can show
them all at once. Unknown keys are errors: a misspelt setting that silently
keeps its default is worse than a refusal to start. This module must never
print, exit or log; the CLI decides how errors are shown.
"""

from __future__ import annotations

import difflib
import enum
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec

from posteingang.config.schema import (
    Config,
    FieldSpec,
    Section,
    arrays,
    fields_of,
    protocol_sections,
    sections,
)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    key: str  # "limits.max_message_size", or the file name for whole-file problems
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """The configuration is unusable; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))

    def summary(self) -> str:
        """One line for commands other than check-config."""
        first = str(self.issues[0])
        more = len(self.issues) - 1
        if more:
            first += f" (and {more} more; run `posteingang check-config`)"
        return first


def load_config(path: Path | str, *, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve the config file at `path`.

    Raises `ConfigError` listing every problem. `env` defaults to `os.environ`
    (overrides `POSTEINGANG_<SECTION>_<KEY>` for the settings that allow them).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), "config file not found")]) from None
    except OSError as e:
        raise ConfigError([ConfigIssue(str(path), f"cannot read: {e.strerror}")]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(path), "not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([ConfigIssue(str(path), f"invalid TOML: {e}")]) from None
    base = path.resolve().parent
    return config_from_mapping(data, base_dir=base, env=env, path=path.resolve())


def default_config(data_dir: Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Built-in defaults for a data directory (no config file)."""
    return config_from_mapping(
        {"server": {"data_dir": str(data_dir)}}, base_dir=Path.cwd(), env=env
    )


# Complex on purpose: one validation step per top-level table, each reporting its own key path.
def config_from_mapping(  # noqa: C901 (see above)
    data: Mapping[str, Any],
    *,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Config:
    """Validate already-parsed TOML data; relative paths given resolve against `base_dir`."""
    if env is None:
        env = os.environ
    issues: list[ConfigIssue] = []
    tables, many = sections(), arrays()
    for name in data:
        if name not in tables and name not in many:
            issues.append(ConfigIssue(name, "unknown section" + _hint(name, {**tables, **many})))

    built: dict[str, Section] = {}
    given: dict[str, set[str]] = {}
    for section, cls in tables.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            issues.append(ConfigIssue(section, f"expected a table, got {_tname(table)}"))
            table = {}
        value, given[section] = _build(section, cls, table, env, issues)
        if value is not None:
            built[section] = value
    lists: dict[str, list[Section]] = {}
    for name, cls in many.items():
        items = data.get(name, [])
        if not isinstance(items, list):
            issues.append(
                ConfigIssue(name, f"expected an array of tables ([[{name}]]), got {_tname(items)}")
            )
            items = []
        lists[name] = []
        for i, item in enumerate(items):
            where = f"{name}[{i}]"
            if not isinstance(item, dict):
                issues.append(ConfigIssue(where, f"expected a table, got {_tname(item)}"))
                continue
            value, _ = _build(where, cls, item, {}, issues)
            if value is not None:
                lists[name].append(value)
    if issues:
        raise ConfigError(issues)

    # Paths: given relative paths are relative to the config file; defaults to data_dir.
    server = built["server"]
    data_dir = (base_dir / server.data_dir).resolve()  # type: ignore[attr-defined]
    resolved: dict[str, Any] = {}
    for section, value in built.items():
        changes: dict[str, Any] = {}
        for spec in fields_of(section, type(value)):
            current = getattr(value, spec.name)
            if section == "server" and spec.name == "data_dir":
                changes[spec.name] = data_dir
            elif spec.name in given[section]:
                changes[spec.name] = _resolve_paths(current, base_dir)
            elif isinstance(current, Path):
                changes[spec.name] = data_dir / current
        resolved[section] = msgspec.structs.replace(value, **changes)
    for name, items in lists.items():
        resolved[name] = [_resolve_paths(item, base_dir) for item in items]
    protocols = {name: resolved.pop(name) for name in protocol_sections()}
    return Config(**resolved, protocols=protocols, path=path)


def _build(
    section: str,
    cls: type[Section],
    table: Mapping[str, Any],
    env: Mapping[str, str],
    issues: list[ConfigIssue],
) -> tuple[Section | None, set[str]]:
    """One section from its table: (the struct or None if unusable, the keys given)."""
    specs = {s.name: s for s in fields_of(section, cls)}
    for key in table:
        if key not in specs:
            issues.append(ConfigIssue(f"{section}.{key}", "unknown setting" + _hint(key, specs)))
    values: dict[str, Any] = {}
    complete = True
    for name, spec in specs.items():
        if spec.env_var and spec.env_var in env:
            value = _convert(spec, env[spec.env_var], issues, f"{spec.env_var} ({spec.key})")
        elif name in table:
            value = _convert(spec, table[name], issues, spec.key)
        elif spec.required:
            issues.append(ConfigIssue(spec.key, "required setting missing"))
            complete = False
            continue
        else:
            continue
        if value is _INVALID:
            complete = complete and not spec.required
        else:
            values[name] = value
    if not complete:
        return None, set(values)
    built = cls(**values)
    for key, message in built.problems():
        issues.append(ConfigIssue(f"{section}.{key}", message))
    return built, set(values)


def _resolve_paths(value: Any, base_dir: Path) -> Any:
    """`value` with every relative Path in it (at any depth) made absolute under base_dir."""
    if isinstance(value, Path):
        return (base_dir / value.expanduser()).resolve()
    if isinstance(value, msgspec.Struct):
        changes = {}
        for f in msgspec.structs.fields(value):
            old = getattr(value, f.name)
            new = _resolve_paths(old, base_dir)
            if new is not old:
                changes[f.name] = new
        return msgspec.structs.replace(value, **changes) if changes else value
    if isinstance(value, dict):
        return {k: _resolve_paths(v, base_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_paths(v, base_dir) for v in value]
    return value


_INVALID = object()
_OBJECT_FIELD = re.compile(r"^Object (contains unknown|missing required) field `(.+)`$")


def _convert(spec: FieldSpec, value: Any, issues: list[ConfigIssue], where: str) -> Any:
    from_env = where != spec.key
    try:
        return msgspec.convert(value, spec.type, strict=not from_env, dec_hook=_dec_hook)
    except msgspec.ValidationError as e:
        text, _, at = str(e).partition(" - at `$")
        inner = at.rstrip("`")  # "[0].port", ".sni[...]": where inside the value
        m = _OBJECT_FIELD.match(text)
        if m:
            what = "unknown setting" if m.group(1) == "contains unknown" else "required setting"
            message = what + (" missing" if what == "required setting" else "")
            issues.append(ConfigIssue(f"{where}{inner}.{m.group(2)}", message))
        else:
            issues.append(
                ConfigIssue(where + inner, _explain(spec, value, text, nested=bool(inner)))
            )
        return _INVALID


def _dec_hook(tp: type, obj: Any) -> Any:
    if tp is Path:
        if not isinstance(obj, str):
            raise ValueError(f"expected a path (str), got {_tname(obj)}")
        if not obj:
            raise ValueError("empty path")
        if "\0" in obj:
            raise ValueError("path contains a NUL character")
        return Path(obj)
    raise NotImplementedError(tp)


def _explain(spec: FieldSpec, value: Any, message: str, *, nested: bool = False) -> str:
    """msgspec's message in our words: lower case, no backticks, choices spelled out."""
    choices = [] if nested else _choices(spec.type)
    if choices:
        listed = ", ".join(f'"{c}"' for c in choices)
        return f"expected one of {listed}, got {value!r}"
    message = message.replace("`", "")
    message = message[:1].lower() + message[1:]
    if message.startswith("expected") and ", got" not in message and not nested:
        message += f", got {value!r}"
    return message.replace("pathlib.Path", "path").replace("PosixPath", "path")


def _choices(tp: Any) -> list[str]:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) is Literal:
        return [str(a) for a in get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [str(m.value) for m in tp]
    return []


def _tname(value: Any) -> str:
    return {str: "str", int: "int", float: "float", bool: "bool", list: "array"}.get(
        type(value), type(value).__name__
    )


def _hint(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
