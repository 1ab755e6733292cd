"""`lotus-check --show-settings` (every resolved setting and where it came from) and
`lotus-check init` (the detected layout written to a config file, for repos that want it pinned).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from typing import TextIO

from lotus_checks.core.config import Config
from lotus_checks.core.config import ConfigError
from lotus_checks.core.config import LAYOUT_KEYS
from lotus_checks.core.config import find_root
from lotus_checks.core.config import load_config
from lotus_checks.core.config import resolved_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OWN_FILE = "lotus-check.toml"
TABLE = "[tool.lotus-check]"


def show_settings(config: Config, out: TextIO, from_command_line: frozenset[str] = frozenset()
                  ) -> None:
    """Every setting as a TOML line (copyable into a config file), its origin as a comment."""
    print(f"# root: {config.root}", file=out)
    print(f"# config: {config.source}", file=out)
    for key, value, origin in resolved_settings(config):
        if key in from_command_line:
            origin = "command line"
        if value is None:  # unset on purpose (runtime-vars: read from the Dagster code)
            print(f"# {key} is not set  # {origin}", file=out)
            continue
        note = _missing(config, key, value) if key in LAYOUT_KEYS else ""
        shown = toml_value(value, table=key in ("per-file-ignores", "severity"))
        print(f"{key} = {shown}  # {origin}{note}", file=out)


def toml_value(value: Any, table: bool = False) -> str:
    """A setting as TOML (strings as JSON strings, which TOML reads the same); `table`: pairs
    as an inline table."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if not table and isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    # per-file-ignores and severity: ((glob, codes), ...) and ((code, level), ...)
    items = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value)
    return "{" + items + "}"


def _missing(config: Config, key: str, value: Any) -> str:
    paths = (value,) if isinstance(value, str) else value
    gone = [p for p in paths if not (config.root / p).exists()]
    if not gone:
        return ""
    return " (does not exist)" if len(gone) == len(paths) else \
        f" ({', '.join(gone)} does not exist)"


def init_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lotus-check init",
        description=f"Write the detected layout to {TABLE} in pyproject.toml (when the root has "
        f"one) or to a new {OWN_FILE}, so that it no longer depends on detection. Never "
        "overwrites an existing configuration.",
    )
    parser.add_argument("--root", type=Path, help="repo root (default: the git top level, else .)")
    args = parser.parse_args(argv)
    root = args.root.resolve() if args.root else find_root(Path.cwd())
    try:
        target, body = init(root)
    except (ConfigError, OSError) as exc:
        print(f"lotus-check: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"lotus-check: wrote the detected layout to {target}:")
    print(body, end="")
    return 0


def init(root: Path) -> tuple[Path, str]:
    """Write the layout settings of `root` (detected or default, those that exist) to its config
    file; returns (file written, the settings written)."""
    own = root / OWN_FILE
    pyproject = root / "pyproject.toml"
    if own.exists():
        raise ConfigError(f"{own} already exists; edit it instead (lotus-check --show-settings "
                          "prints what detection finds)")
    data = _toml(pyproject) if pyproject.is_file() else None
    if data is not None and "lotus-check" in data.get("tool", {}):
        raise ConfigError(f"{pyproject} already has {TABLE}; edit it instead (lotus-check "
                          "--show-settings prints what detection finds)")
    config = load_config(root)
    lines = []
    for key, value, _origin in resolved_settings(config):
        paths = (value,) if isinstance(value, str) else value
        if key in LAYOUT_KEYS and all((root / p).exists() for p in paths):
            lines.append(f"{key} = {toml_value(value)}\n")
    if not any(line.startswith("streams =") for line in lines):
        raise ConfigError(f"no Lotus Lake layout in {root}: no folder of <source>/<stream>.json "
                          "stream configs found; nothing to write")
    body = "".join(lines)
    if data is None:
        _create(own, body.encode())
        return own, body
    old = pyproject.read_bytes()
    new = old + (b"" if old.endswith(b"\n") or not old else b"\n") + f"\n{TABLE}\n{body}".encode()
    try:
        tomllib.loads(new.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot add {TABLE} to {pyproject} ({exc}); put the settings in "
                          f"{OWN_FILE} instead") from None
    from lotus_checks.core.fsutil import atomic_write

    atomic_write(pyproject, new)
    return pyproject, body


def _toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _create(path: Path, data: bytes) -> None:
    """Write a new file whole, or not at all, and never over one that appeared meanwhile: the
    bytes go to a temporary file that is then linked under the final name (which fails if the
    name exists)."""
    from lotus_checks.core.fsutil import atomic_write

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    atomic_write(tmp, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; edit it instead") from None
    except OSError:  # a file system without hard links: create it exclusively instead
        from lotus_checks.core.fsutil import write_all

        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise ConfigError(f"{path} already exists; edit it instead") from None
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
    finally:
        os.unlink(tmp)
