"""Configuration: loaded and validated once into a frozen `Config`, then passed everywhere.

Sources, first found wins: `--config FILE`; `<root>/lotus-check.toml` (top-level keys);
`[tool.lotus-check]` in `<root>/pyproject.toml`; the defaults below (the Lotus Lake layout).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

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
    # Environment variables the generator gets besides the minimal set (lake/generator.py).
    generator_env: tuple[str, ...] = ()
    max_file_size: int = 5_000_000
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    severity: tuple[tuple[str, str], ...] = ()
    source: str = field(default="defaults", compare=False)
    # Config key -> where its value came from: "lotus-check.toml:3", "detected: ...", "default".
    origins: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

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
    "generator-env": ("generator_env", "env-names"),
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
    config = _complete_layout(config, table, _origin_file(root, config_file, origin))
    _defaults_inside_root(config, table)
    _check_values(config, table, origin)
    return config


LAYOUT_KEYS = ("streams", "sources", "models", "dbt-project", "generator", "terraform")
# What each layout path must be, and what it holds (for the message when it is missing).
_LAYOUT_KINDS = {
    "streams": ("folder", "the folder holding <source>/<stream>.json stream configs"),
    "sources": ("folder", "the folder holding <source>/<stream>.json source schemas"),
    "models": ("folder", "the folders holding the dbt models"),
    "dbt-project": ("file", "the path of dbt_project.yml"),
    "generator": ("file", "the path of the script that writes _catalog.json"),
    "terraform": ("folder", "the folder of the .tf files"),
}


def resolved_settings(config: Config) -> list[tuple[str, Any, str]]:
    """(config key, value, where it came from) for every key, in the order of the docs."""
    origins = dict(config.origins)
    return [(key, getattr(config, attr), origins.get(key, "default"))
            for key, (attr, _kind) in _KEYS.items()]


def require_configured_paths(config: Config) -> None:
    """A layout path the config sets must exist: a `dbt-project` pointing nowhere would quietly
    turn off every check that reads it."""
    origins = dict(config.origins)
    for key in LAYOUT_KEYS:
        where = origins.get(key, "default")
        if where == "default" or where.startswith("detected"):
            continue
        kind, what = _LAYOUT_KINDS[key]
        value = getattr(config, _KEYS[key][0])
        for relative in (value,) if isinstance(value, str) else value:
            path = config.root / relative
            if not (path.is_dir() if kind == "folder" else path.is_file()):
                problem = "does not exist" if not path.exists() else f"is not a {kind}"
                raise ConfigError(
                    f"{where}: {key} = {relative!r} {problem} under {config.root}; set it to "
                    f"{what}, or remove the key to detect it"
                )


def _exists(root: Path, value: Any) -> bool:
    """Whether a layout value (a path, or a list of them) names what is there."""
    paths = list(value) if isinstance(value, (list, tuple)) else [value]
    # os.path: pathlib's exists() raises below a folder that cannot be searched
    return bool(paths) and all(isinstance(p, str) and os.path.exists(root / p) for p in paths)


def _complete_layout(config: Config, table: dict[str, Any], file: Path | None) -> Config:
    """Detect the layout keys the table leaves out (see layout.py), and note every key's
    origin."""
    from lotus_checks.core.layout import AmbiguousLayout
    from lotus_checks.core.layout import Detected
    from lotus_checks.core.layout import detect

    # A key is detected only when the config leaves it out and its default is not there: the
    # default layout stays what the docs say it is, whatever else the tree holds. The model
    # folders are always worked out from dbt_project.yml: the folders beside the listed ones
    # that hold models are how LL304 finds a source folder missing from model-paths.
    missing = {key for key in LAYOUT_KEYS
               if key not in table
               and (key == "models" or not _exists(config.root, getattr(config, _KEYS[key][0])))}
    fixed = {key: getattr(config, _KEYS[key][0]) for key in LAYOUT_KEYS if key not in missing}
    try:
        defaults = {key: getattr(config, _KEYS[key][0]) for key in missing}
        found = detect(config.root, missing, fixed, config.layers, defaults) if missing \
            else Detected()
    except AmbiguousLayout as exc:
        raise ConfigError(str(exc)) from None
    lines = _key_lines(file, table) if file is not None else {}
    shown = config.source.removesuffix(" [tool.lotus-check]")
    origins = []
    for key in _KEYS:
        if key in table:
            line = lines.get(key)
            origins.append((key, f"{shown}:{line}" if line else shown))
        else:
            origins.append((key, found.how.get(key, "default")))
    changes = {_KEYS[key][0]: value for key, value in found.values.items()}
    return replace(config, **changes, origins=tuple(origins))


def _origin_file(root: Path, config_file: Path | None, origin: str) -> Path | None:
    """The file `_read_table` took the table from (None: the defaults)."""
    if config_file is not None:
        return config_file if config_file.is_absolute() else Path.cwd() / config_file
    if origin == "lotus-check.toml":
        return root / "lotus-check.toml"
    if origin.startswith("pyproject.toml"):
        return root / "pyproject.toml"
    return None


_HEADER_RE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")
_KEY_RE = re.compile(r"^\s*[\"']?([A-Za-z0-9_-]+)[\"']?\s*=")


def _key_lines(file: Path, table: dict[str, Any]) -> dict[str, int]:
    """Line of each key of our table in `file` (top-level keys, or [tool.lotus-check] in a
    pyproject.toml), for messages and --show-settings; best effort, as TOML has many forms."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    prefix = "tool.lotus-check" if file.name == "pyproject.toml" else ""
    lines: dict[str, int] = {}
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            current = header.group(1).replace('"', "").replace("'", "").replace(" ", "")
            below = current[len(prefix) + 1:] if prefix else current
            if (not prefix or current.startswith(prefix + ".")) and below in table:
                lines.setdefault(below, number)  # a sub-table such as [per-file-ignores]
            continue
        key = _KEY_RE.match(line)
        if key and current == prefix and key.group(1) in table:
            lines.setdefault(key.group(1), number)
    return lines


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


# A config file is a few hundred bytes; `--config /dev/zero` must not read forever.
MAX_CONFIG_BYTES = 1_000_000


def _load_toml(path: Path) -> dict[str, Any]:
    # Imported here: a repo without a config file (the usual case) never needs a TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    from lotus_checks.core.loaders import LoadError
    from lotus_checks.core.loaders import read_bytes

    if not os.path.exists(path):
        raise ConfigError(f"config file {path} does not exist")
    try:
        # The loaders' reader: a FIFO or a device in its place neither blocks nor reads forever.
        return tomllib.loads(read_bytes(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except LoadError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.message}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    except ValueError:  # an integer of over 4,300 digits: Python refuses to convert it
        raise ConfigError(f"invalid TOML in {path}: an integer with over 4,300 digits") from None


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
    if kind == "env-names":
        if not isinstance(value, list) or not all(
            isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) for v in value
        ):
            raise ConfigError(f"{where} must be a list of environment variable names like "
                              "'AIRBYTE_WORKSPACE'")
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
        # TOML has inf and nan: neither is a time limit.
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value \
                or not math.isfinite(value):
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


# Name patterns: the placeholders each may hold. They are filled in with both str.replace and
# str.format, so any other brace (`{0}`, `{source:>999999999}`, `{{`) would mean different
# things in different checks, fail, or take minutes.
_PATTERN_FIELDS = {
    "stream-tag": ("source", "stream"),
    "sources-file": ("source",),
    "raw-path": ("source", "stream"),
}
# Folders every subfolder of which is read as a source: a cache folder there would be one.
_SCANNED_LAYOUT_KEYS = ("streams", "sources", "models", "terraform")


def _check_values(config: Config, table: dict[str, Any], origin: str) -> None:
    """Values that have the right type but cannot work: name patterns with other braces, and a
    cache folder that is not a folder of its own (it gets a `.gitignore` of `*`)."""
    import string

    for key, fields in _PATTERN_FIELDS.items():
        if key not in table:
            continue
        value = getattr(config, _KEYS[key][0])
        allowed = " and ".join("{" + f + "}" for f in fields)
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError:
            parts = [("{", None, None, None)]
        for literal, name, spec, conversion in parts:
            if "{" in literal or "}" in literal or (
                name is not None and (name not in fields or spec or conversion)
            ):
                raise ConfigError(
                    f"{origin}: {key} = {value!r}: only {allowed} may stand in braces"
                )
    if "cache-dir" in table:
        _check_cache_dir(config, origin)


def _check_cache_dir(config: Config, origin: str) -> None:
    cache = os.path.realpath(config.root / config.cache_dir)
    where = f"{origin}: cache-dir = {config.cache_dir!r}"
    if cache == os.path.realpath(config.root):
        raise ConfigError(f"{where} is the root; the cache needs a folder of its own "
                          "(lotus-check puts a .gitignore of `*` in it)")
    layout = [
        (key, value)
        for key, (attr, kind) in _KEYS.items()
        if kind in ("path", "paths") and key != "cache-dir"
        for value in ((getattr(config, attr),) if kind == "path" else getattr(config, attr))
    ]
    for key, value in layout:
        path = os.path.realpath(config.root / value)
        if path == cache or path.startswith(cache + os.sep):
            raise ConfigError(f"{where} holds the {key} path {value!r}; the cache needs a "
                              "folder of its own (lotus-check puts a .gitignore of `*` in it)")
        if key in _SCANNED_LAYOUT_KEYS and cache.startswith(path + os.sep):
            raise ConfigError(f"{where} lies inside the {key} folder {value!r}, where every "
                              "folder is read as part of the layout; put it elsewhere")
