"""LL502, LL503 and LL507: the sync modes, and the keys among the selected fields that the modes
need (a primary key to deduplicate on, a cursor for incremental reads)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from lotus_checks.checks.stream_config.rules import LL501
from lotus_checks.checks.stream_config.rules import LL502
from lotus_checks.checks.stream_config.rules import LL503
from lotus_checks.checks.stream_config.rules import LL507
from lotus_checks.checks.stream_config.stream import AIRBYTE
from lotus_checks.checks.stream_config.stream import DEDUP_MODES
from lotus_checks.checks.stream_config.stream import DESTINATION_MODES
from lotus_checks.checks.stream_config.stream import DLT
from lotus_checks.checks.stream_config.stream import EQUIVALENT_MODE
from lotus_checks.checks.stream_config.stream import SYNC_MODES
from lotus_checks.checks.stream_config.stream import StreamFile
from lotus_checks.core.finding import Finding
from lotus_checks.core.loaders import JsonPath
from lotus_checks.lake.catalog_schema import nested_fields

# Keys an Airbyte stream config must have: the generator writes them into the catalog entry.
AIRBYTE_KEYS = ("sync_mode", "destination_sync_mode")
# What every source supports, suggested for a missing mode.
_PLAIN_MODES = {"sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}



# ---- LL502: mode values ---------------------------------------------------------------------------


def modes(config: StreamFile) -> Iterator[Finding]:
    if config.connector == AIRBYTE:
        yield from _missing_airbyte_keys(config)
    sync_mode = config.data.get("sync_mode")
    if isinstance(sync_mode, str) and sync_mode not in SYNC_MODES:
        yield _bad_mode(config, "sync_mode", sync_mode, SYNC_MODES, "")
    destination = config.data.get("destination_sync_mode")
    if config.connector is None or not isinstance(destination, str):
        return
    allowed = DESTINATION_MODES[config.connector]
    if destination in allowed:
        return
    other = DLT if config.connector == AIRBYTE else AIRBYTE
    note = ""
    if destination in DESTINATION_MODES[other]:
        name = "dlt" if other == DLT else "Airbyte"
        note = f" (`{destination}` is {name}'s mode"
        note += '; if a dlt pipeline loads this stream, add "connector": "dlt")' if other == DLT \
            else ")"
    yield _bad_mode(config, "destination_sync_mode", destination, allowed, note)


def _missing_airbyte_keys(config: StreamFile) -> Iterator[Finding]:
    missing = [key for key in AIRBYTE_KEYS if key not in config.data]
    if not missing:
        return
    shown = " and ".join(f"`{key}`" for key in missing)
    line, column = config.at(())
    yield LL501.finding(
        config.path, line, column,
        f"{config.label} has no {shown}: the generator writes them into the stream's catalog "
        "entry, and Airbyte needs them",
        hint="add " + " and ".join(f'"{key}": "{_PLAIN_MODES[key]}"' for key in missing)
        + ' (or the modes the source offers); if a dlt pipeline loads this stream, add '
        '"connector": "dlt" instead',
    )


def _bad_mode(
    config: StreamFile, key: str, value: str, allowed: tuple[str, ...], note: str
) -> Finding:
    kind = "" if key == "sync_mode" else f" for {'a dlt' if config.connector == DLT else 'an Airbyte'} stream"
    suggestion = EQUIVALENT_MODE.get(value) if EQUIVALENT_MODE.get(value) in allowed else None
    suggestion = suggestion or next(iter(difflib.get_close_matches(value, allowed, n=1)), None)
    hint = f"use `{suggestion}`{note}" if suggestion else f"use one of: {', '.join(allowed)}{note}"
    line, column = config.at((key,))
    return LL502.finding(
        config.path, line, column,
        f"{config.label}: `{key}` is `{value}`, not one of {', '.join(allowed)}{kind}",
        hint=hint,
        severity=config.severity,
    )


def valid_modes(config: StreamFile) -> tuple[str | None, str | None]:
    """(sync_mode, destination_sync_mode), each None unless it is valid (LL502 covers the rest)."""
    sync_mode = config.data.get("sync_mode")
    destination = config.data.get("destination_sync_mode")
    allowed = DESTINATION_MODES.get(config.connector or "", ())
    return (
        sync_mode if sync_mode in SYNC_MODES else None,
        destination if isinstance(destination, str) and destination in allowed else None,
    )


# ---- LL503: keys among the selected fields ------------------------------------------------------


def _field_path(value: Any) -> list[str] | None:
    """A non-empty list of names, else None (malformed ones are LL501's)."""
    if isinstance(value, list) and value and all(isinstance(p, str) and p for p in value):
        return value
    return None


def _key_paths(data: dict[str, Any]) -> Iterator[tuple[JsonPath, list[str], str]]:
    cursor = _field_path(data.get("cursor_field"))
    if cursor:
        yield ("cursor_field",), cursor, "cursor field"
    keys = data.get("primary_key")
    if isinstance(keys, list):
        for i, key in enumerate(keys):
            path = _field_path(key)
            if path:
                yield ("primary_key", i), path, "primary key"


def _first_missing(fields: dict[str, Any], path: list[str]) -> int | None:
    """Index of the first part of `path` not found; nested parts only where nested fields are
    listed (`properties`, or an `items` field map)."""
    level: Any = fields
    for i, part in enumerate(path):
        if not isinstance(level, dict):
            return None
        if part not in level:
            return i
        nested = nested_fields(level[part])
        level = nested[1] if nested is not None else None
    return None


def keys_selected(config: StreamFile) -> Iterator[Finding]:
    if "fields" not in config.data or not isinstance(config.data["fields"], dict):
        return
    for key_path, path, what in _key_paths(config.data):
        missing = _first_missing(config.fields, path)
        if missing is None:
            continue
        dotted = ".".join(path)
        detail = "" if missing == 0 else f" (`{'.'.join(path[:missing])}` has no property `{path[missing]}`)"
        line, column = config.at(key_path + (missing,))
        yield LL503.finding(
            config.path, line, column,
            f"{config.label}: {what} `{dotted}` is not among the selected fields{detail}",
            hint=f"add `{dotted}` to `fields` in {config.path}{config.regenerate()}",
            severity=config.severity,
        )



# ---- LL507: keys the modes need -----------------------------------------------------------------


def _has_paths(value: Any) -> bool:
    return isinstance(value, list) and any(_field_path(p) for p in value)


def keys_for_modes(config: StreamFile, source: dict[str, Any] | None) -> Iterator[Finding]:
    defaults = source.get("defaults") if source is not None else None
    defaults = defaults if isinstance(defaults, dict) else {}
    sync_mode, destination = valid_modes(config)
    if destination in DEDUP_MODES and not _has_paths(config.data.get("primary_key")) \
            and not _has_paths(defaults.get("primary_key")):
        line, column = config.at(("destination_sync_mode",))
        yield LL507.finding(
            config.path, line, column,
            f"{config.label}: `{destination}` deduplicates on the primary key, but there is none",
            hint='set "primary_key" (e.g. [["id"]]) or use "append"',
            severity=config.severity,
        )
    if sync_mode == "incremental" and not _field_path(config.data.get("cursor_field")) \
            and not _field_path(defaults.get("cursor_field")):
        line, column = config.at(("sync_mode",))
        yield LL507.finding(
            config.path, line, column,
            f"{config.label}: `incremental` needs a cursor, but `cursor_field` is empty and the "
            "source defines none",
            hint='set "cursor_field" (e.g. ["updated_at"]) or use "full_refresh"',
            severity=config.severity,
        )

