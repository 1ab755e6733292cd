"""LL504, LL505, LL506 and LL512: a stream config against its source schema (what discovery says
the source offers): the selected fields, their types, and the sync modes."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from lotus_checks.checks.stream_config.modes import valid_modes
from lotus_checks.checks.stream_config.rules import LL504
from lotus_checks.checks.stream_config.rules import LL505
from lotus_checks.checks.stream_config.rules import LL506
from lotus_checks.checks.stream_config.rules import LL512
from lotus_checks.checks.stream_config.stream import DLT
from lotus_checks.checks.stream_config.stream import StreamFile
from lotus_checks.core.finding import Finding
from lotus_checks.core.loaders import JsonPath
from lotus_checks.lake.catalog_schema import JSON_TYPES
from lotus_checks.lake.catalog_schema import is_definition
from lotus_checks.lake.catalog_schema import is_field_map


def missing_source_schema(config: StreamFile, sources: str) -> Finding:
    """LL512, for an Airbyte stream with no source schema in the `sources` folder."""
    expected = f"{sources}/{config.stream.source}/{config.stream.name}.json"
    return LL512.finding(
        config.path,
        message=f"{config.label} has no source schema at {expected}; its fields cannot be "
        "checked against what the source offers",
        hint=f"commit the stream's discovered schema as {expected}",
    )


# ---- LL504 / LL505 / LL506: agreement with the source schema ------------------------------------


def _type_names(value: Any) -> frozenset[str] | None:
    """The non-null type names of a `type`, or None if it is missing or not all JSON types."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(n in JSON_TYPES for n in names):
        return None
    return frozenset(names) - {"null"}


def _show_type(names: frozenset[str]) -> str:
    return " | ".join(sorted(names)) if names else "null"


def against_source(config: StreamFile, source: dict[str, Any], schema_path: str) -> Iterator[Finding]:
    offered = source.get("fields")
    if isinstance(offered, dict) and "fields" in config.data:
        yield from _compare_fields(config, config.fields, offered, ("fields",), (), schema_path)
    yield from _modes_offered(config, source, schema_path)


def _compare_fields(
    config: StreamFile,
    selected: dict[str, Any],
    offered: dict[str, Any],
    json_path: JsonPath,
    dotted: tuple[str, ...],
    schema_path: str,
) -> Iterator[Finding]:
    for name, definition in selected.items():
        here = json_path + (name,)
        shown = ".".join(dotted + (name,))
        if name not in offered:
            close = difflib.get_close_matches(name, [str(k) for k in offered], n=1)
            fix = f"rename it to `{close[0]}` (the name the source offers)" if close \
                else "remove it, or fix its name"
            line, column = config.at(here)
            yield LL504.finding(
                config.path, line, column,
                f"{config.label}: field `{shown}` is not in the source schema {schema_path}",
                hint=f"{fix}{config.regenerate()}",
            )
            continue
        yield from _compare_definition(
            config, definition, offered[name], here, dotted + (name,), schema_path
        )


def _compare_definition(
    config: StreamFile,
    definition: Any,
    source_definition: Any,
    here: JsonPath,
    dotted: tuple[str, ...],
    schema_path: str,
) -> Iterator[Finding]:
    # A definition equal to the source's (how a stream config usually selects a field) agrees
    # with it all the way down: nothing below can differ.
    if not isinstance(definition, dict) or not isinstance(source_definition, dict) \
            or definition == source_definition:
        return
    mine = _type_names(definition.get("type"))
    theirs = _type_names(source_definition.get("type"))
    if mine is not None and theirs is not None and mine and theirs and mine != theirs:
        line, column = config.at(here + ("type",))
        yield LL505.finding(
            config.path, line, column,
            f"{config.label}: field `{'.'.join(dotted)}` is `{_show_type(mine)}` here but "
            f"`{_show_type(theirs)}` in the source schema {schema_path}",
            hint=f'use "type": "{_show_type(theirs)}" (the catalog takes the source\'s type)',
        )
    properties, source_properties = definition.get("properties"), source_definition.get("properties")
    if isinstance(properties, dict) and isinstance(source_properties, dict):
        yield from _compare_fields(
            config, properties, source_properties, here + ("properties",), dotted, schema_path
        )
    items, source_items = definition.get("items"), source_definition.get("items")
    last = dotted[-1] + "[]" if dotted else "[]"
    if is_definition(items) and is_definition(source_items):
        yield from _compare_definition(
            config, items, source_items, here + ("items",), dotted[:-1] + (last,), schema_path
        )
    elif is_field_map(items) and is_field_map(source_items):
        # `items` written as a map of field names (a discovery step's form): compare the fields
        yield from _compare_fields(
            config, items, source_items, here + ("items",), dotted[:-1] + (last,), schema_path
        )


def _modes_offered(config: StreamFile, source: dict[str, Any], schema_path: str) -> Iterator[Finding]:
    options = source.get("options")
    if not isinstance(options, dict) or config.connector == DLT:
        return  # the options are what Airbyte offers; a dlt pipeline sets its own modes
    sync_mode, destination = valid_modes(config)
    for key, value, option in (
        ("sync_mode", sync_mode, "sync_modes"),
        ("destination_sync_mode", destination, "destination_sync_modes"),
    ):
        offered = options.get(option)
        if value is None or not isinstance(offered, list) or value in offered:
            continue
        choices = [m for m in offered if isinstance(m, str)]
        line, column = config.at((key,))
        yield LL506.finding(
            config.path, line, column,
            f"{config.label}: `{key}` `{value}` is not offered by the source "
            f"(its {option}: {', '.join(choices) or 'none'})",
            hint=f"use one of {', '.join(choices)} (see `options` in {schema_path})"
            if choices else f"see `options` in {schema_path}",
            severity=config.severity,
        )

