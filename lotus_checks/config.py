"""Configuration: loaded and validated once into a frozen `Config`, then passed everywhere.

Sources, first found wins: `--config FILE`; `<root>/lotus-check.toml` (top-level keys);
`[tool.lotus-check]` in `<root>/pyproject.toml`; the defaults below (the Lotus Lake layout).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CODE_PREFIX_RE = re.compile(r"^(ALL|LL\d{0,3})$")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for stderr."""


@dataclass(frozen=True)
class Config:
    root: Path
    streams: str = "orchestration/assets/streams"
    sources: str = "orchestration/assets/sources"
    models: tuple[str, ...] = ("orchestration/assets/core", "orchestration/assets/marts")
    dbt_project: str = "orchestration/dbt_project.yml"
    generator: str = "orchestration/airbyte/generate-catalog.py"
    terraform: str = "orchestration/airbyte/terraform"
    layers: tuple[str, ...] = ("stg", "int", "fct", "dim")
    # Dagster selects each model by this tag.
    stream_tag: str = "{source}__{stream}"
    sources_file: str = "_{source}__sources.yml"
    # Where raw files of a stream live; `read_parquet('...')` paths are matched against it.
    raw_path: str = "raw/{source}/{stream}/"
    # The var() names the orchestrator passes at run time (`dbt build --vars`); None: read them
    # from the Dagster code.
    runtime_vars: tuple[str, ...] | None = None
    cache_dir: str = ".lotus_check_cache"
    generator_timeout: float = 60.0
    max_file_size: int = 5_000_000
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    severity: tuple[tuple[str, str], ...] = ()
    source: str = field(default="defaults", compare=False)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def rel(self, path: Path) -> str:
        """POSIX path relative to the root (the form every Finding carries)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()


# Config keys (kebab-case, as users write them) -> (dataclass field, kind).
_KEYS: dict[str, tuple[str, str]] = {
    "streams": ("streams", "path"),
    "sources": ("sources", "path"),
    "models": ("models", "paths"),
    "dbt-project": ("dbt_project", "path"),
    "generator": ("generator", "path"),
    "terraform": ("terraform", "path"),
    "layers": ("layers", "names"),
    "stream-tag": ("stream_tag", "str"),
    "sources-file": ("sources_file", "str"),
    "raw-path": ("raw_path", "str"),
    "runtime-vars": ("runtime_vars", "strings"),
    "cache-dir": ("cache_dir", "path"),
    "generator-timeout": ("generator_timeout", "seconds"),
    "max-file-size": ("max_file_size", "int"),
    "select": ("select", "codes"),
    "ignore": ("ignore", "codes"),
    "per-file-ignores": ("per_file_ignores", "per-file"),
    "severity": ("severity", "severity"),
}


def find_root(start: Path) -> Path:
    """The git top level above `start`, else `start` itself (no subprocess: start-up matters)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def load_config(root: Path, config_file: Path | None = None) -> Config:
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"root {root} is not a folder")
    table, origin = _read_table(root, config_file)
    config = _apply(Config(root=root, source=origin), table, origin)
    _defaults_inside_root(config, table)
    return config


def with_overrides(
    config: Config, *, select: list[str] | None = None, ignore: list[str] | None = None
) -> Config:
    """Command-line --select/--ignore replace/extend what the file says."""
    changes: dict[str, Any] = {}
    if select:
        changes["select"] = _codes("--select", select)
    if ignore:
        changes["ignore"] = config.ignore + _codes("--ignore", ignore)
    return replace(config, **changes) if changes else config


def split_codes(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _read_table(root: Path, config_file: Path | None) -> tuple[dict[str, Any], str]:
    if config_file is not None:
        path = config_file if config_file.is_absolute() else Path.cwd() / config_file
        data = _load_toml(path)
        if path.name == "pyproject.toml":
            return _tool_table(data, path), str(config_file)
        return data, str(config_file)
    own = root / "lotus-check.toml"
    if own.is_file():
        return _load_toml(own), "lotus-check.toml"
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data = _load_toml(pyproject)
        if "lotus-check" in data.get("tool", {}):
            return _tool_table(data, pyproject), "pyproject.toml [tool.lotus-check]"
    return {}, "defaults"


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None


def _tool_table(data: dict[str, Any], path: Path) -> dict[str, Any]:
    table = data.get("tool", {}).get("lotus-check", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.lotus-check] must be a table")
    return table


def _apply(config: Config, table: dict[str, Any], origin: str) -> Config:
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            maybe = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{origin}: unknown config key {key!r}{maybe}")
        attr, kind = _KEYS[key]
        changes[attr] = _convert(config.root, f"{origin}: {key}", kind, value)
    return replace(config, **changes)


def _convert(root: Path, where: str, kind: str, value: Any) -> Any:
    if kind == "path":
        return _inside_root(root, where, _string(where, value))
    if kind == "paths":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where} must be a folder or a non-empty list of folders")
        return tuple(_inside_root(root, where, _string(where, item)) for item in items)
    if kind == "names":
        if not isinstance(value, list) or not all(
            isinstance(v, str) and re.fullmatch(r"[a-z][a-z0-9]*", v) for v in value
        ):
            raise ConfigError(f"{where} must be a list of lowercase layer prefixes like 'int'")
        return tuple(value)
    if kind == "str":
        return _string(where, value)
    if kind == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of names")
        return tuple(value)
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where} must be a positive whole number")
        return value
    if kind == "seconds":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where} must be a positive number of seconds")
        return float(value)
    if kind == "codes":
        items = split_codes(value) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ConfigError(f"{where} must be a list of rule codes")
        return _codes(where, items)
    if kind == "per-file":
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table of glob = [codes]")
        return tuple(
            (_string(where, glob), _codes(f"{where}.{glob}", [codes] if isinstance(codes, str) else codes))
            for glob, codes in value.items()
        )
    if kind == "severity":
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table of CODE = \"error\" | \"warning\"")
        for code, level in value.items():
            _codes(where, [code])
            if level not in ("error", "warning"):
                raise ConfigError(f"{where}.{code} must be \"error\" or \"warning\", not {level!r}")
        return tuple(sorted(value.items()))
    raise AssertionError(kind)  # pragma: no cover


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _codes(where: str, items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{where} must be a list of rule codes")
    out = []
    for item in items:
        code = item.strip().upper() if isinstance(item, str) else item
        if not isinstance(code, str) or not CODE_PREFIX_RE.match(code):
            raise ConfigError(f"{where}: {item!r} is not a rule code or prefix (like LL401 or LL4)")
        out.append(code)
    return tuple(out)


def _inside_root(root: Path, where: str, relative: str) -> str:
    """Configured paths must stay inside the root: the checker never reads or runs outside it."""
    candidate = Path(relative)
    if candidate.is_absolute():
        raise ConfigError(f"{where} = {relative!r} must be relative to the root {root}")
    resolved = Path(os.path.realpath(root / candidate))
    if resolved != root and root not in resolved.parents:
        raise ConfigError(f"{where} = {relative!r} resolves outside the root {root}")
    return candidate.as_posix().rstrip("/") or "."


def _defaults_inside_root(config: Config, table: dict[str, Any]) -> None:
    """A default path is as much a path we read or run as a configured one: a folder in the
    repo that is a link out of it (`orchestration/airbyte -> /elsewhere`) is refused too."""
    for key, (attr, kind) in _KEYS.items():
        if key in table or kind not in ("path", "paths"):
            continue
        value = getattr(config, attr)
        for relative in (value,) if isinstance(value, str) else value:
            _inside_root(config.root, f"{key} (default)", relative)

