#!/usr/bin/env python3
"""Generate the Airbyte sync catalogs from the stream configs.

For every source folder in assets/streams/, read the stream configs (files not starting with
"_"), look up each stream's source schema in assets/sources/<source>/<stream>.json and write
assets/streams/<source>/_catalog.json. Terraform reads that file with
jsondecode(file(...)) and hands it to the Airbyte provider, which is why json_schema holds
JSON-encoded strings.

Streams loaded by dlt ("connector": "dlt") are skipped; a source whose streams are all dlt
gets no catalog.

Usage:
    python orchestration/airbyte/generate-catalog.py             # regenerate every catalog
    python orchestration/airbyte/generate-catalog.py shopify     # only these sources
    python orchestration/airbyte/generate-catalog.py --check     # exit 1 if any is out of date
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ORCHESTRATION = Path(__file__).resolve().parent.parent
STREAMS_DIR = ORCHESTRATION / 'assets' / 'streams'
SOURCES_DIR = ORCHESTRATION / 'assets' / 'sources'
CATALOG_NAME = '_catalog.json'


def load_json(path: Path) -> Any:
    with open(path, encoding='utf-8') as f:
        return json.load(f)


COMBINATORS = ('anyOf', 'oneOf', 'allOf')
# JSON-schema keywords the discovery output carries, copied as they are.
COPIED = ('description', 'format', 'title', 'enum', 'pattern', 'multipleOf', 'minimum',
          'maximum', 'required', 'airbyte_type')


def is_definition(node: Any) -> bool:
    """A field definition, as opposed to a map of field name -> definition (the form the
    discovery step writes an array's `items` in; its fields may be named `type` or `items`)."""
    if not isinstance(node, dict):
        return False
    if isinstance(node.get('type'), (str, list)) or isinstance(node.get('$ref'), str):
        return True
    return any(isinstance(node.get(key), list) for key in COMBINATORS)


def convert_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: convert_field(sub) for name, sub in fields.items() if isinstance(sub, dict)}


def convert_field(field: dict[str, Any]) -> dict[str, Any]:
    """One field definition in Airbyte's JSON-schema form: nullable type, nested recursively."""
    out: dict[str, Any] = {}
    if 'type' in field or not any(key in field for key in COMBINATORS):
        type_ = field.get('type', 'string')
        types = list(type_) if isinstance(type_, list) else [type_]
        out['type'] = ['null'] + [t for t in types if t != 'null']
    for key in COPIED:
        if key in field:
            out[key] = field[key]
    for key in COMBINATORS:  # the alternatives carry the types
        if isinstance(field.get(key), list):
            out[key] = [convert_field(option) for option in field[key] if isinstance(option, dict)]
    if isinstance(field.get('properties'), dict):
        out['properties'] = convert_fields(field['properties'])
    extra = field.get('additionalProperties')
    if isinstance(extra, bool):
        out['additionalProperties'] = extra
    elif isinstance(extra, dict):
        out['additionalProperties'] = convert_field(extra)
    items = field.get('items')
    if isinstance(items, list):  # tuple form: one schema per position
        out['items'] = [convert_field(item) for item in items if isinstance(item, dict)]
    elif is_definition(items):
        out['items'] = convert_field(items)
    elif isinstance(items, dict):  # a map of field name -> definition: an array of objects
        out['items'] = {'type': ['null', 'object'], 'properties': convert_fields(items)}
    return out


def build_entry(config: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """The catalog entry of one stream: what Airbyte offers plus what we selected."""
    name = config['stream']
    schema = schema or {}
    source_fields = schema.get('fields', {})
    options = schema.get('options', {})
    defaults = schema.get('defaults', {})

    properties = {}
    for field_name, field in config.get('fields', {}).items():
        definition = source_fields.get(field_name, field)
        properties[field_name] = convert_field(definition)

    default_cursor = defaults.get('cursor_field') or []
    return {
        'stream': {
            'name': name,
            'json_schema': {
                '$schema': 'http://json-schema.org/draft-07/schema#',
                'type': json.dumps(['null', 'object']),
                'properties': json.dumps(properties),
                'additionalProperties': 'true',
            },
            'supportedSyncModes': options.get('sync_modes') or [config['sync_mode']],
            'default_cursor_field': default_cursor,
            'source_defined_cursor': bool(default_cursor),
            'source_defined_primary_key': defaults.get('primary_key') or [],
        },
        'config': {
            'sync_mode': config['sync_mode'],
            'cursor_field': config.get('cursor_field', []),
            'destination_sync_mode': config['destination_sync_mode'],
            'primary_key': config.get('primary_key', []),
            'alias_name': name,
            'selected': config.get('selected', True),
            'suggested': True,
            'field_selection_enabled': True,
            'selected_fields': [{'field_path': [f]} for f in config.get('fields', {})],
        },
    }


def build_catalog(source_dir: Path) -> dict[str, Any] | None:
    """The catalog of one source, or None when it has no Airbyte streams."""
    entries = []
    for path in sorted(source_dir.glob('*.json')):
        if path.name.startswith('_'):
            continue
        config = load_json(path)
        if config.get('connector') == 'dlt':
            continue
        schema_path = SOURCES_DIR / source_dir.name / path.name
        schema = load_json(schema_path) if schema_path.is_file() else None
        entries.append(build_entry(config, schema))
    return {'streams': entries} if entries else None


def render(catalog: dict[str, Any]) -> str:
    return json.dumps(catalog, indent=2) + '\n'


def _strict(value: Any) -> Any:
    """JSON data in a form where booleans never equal numbers (Python's `True == 1`)."""
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    if isinstance(value, bool):
        return ('bool', value)
    return value


def staleness(path: Path, catalog: dict[str, Any]) -> str | None:
    """Why the committed catalog is not what this script writes: parsed JSON first (content),
    then the exact bytes (formatting); None when it is current. lotus-check compares the same
    way (LL201 content, LL205 formatting only)."""
    if not path.is_file():
        return 'missing'
    data = path.read_bytes()
    try:
        committed = json.loads(data)
    except ValueError:
        return 'not valid JSON'
    if _strict(committed) != _strict(catalog):
        return 'content differs'
    if data != render(catalog).encode('utf-8'):
        return 'formatting only, same JSON'
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='Generate Airbyte _catalog.json files.')
    parser.add_argument('sources', nargs='*', help='only these sources (default: all)')
    parser.add_argument(
        '--check', action='store_true',
        help='write nothing; exit 1 if a catalog is missing or out of date',
    )
    args = parser.parse_args(argv)

    source_dirs = sorted(p for p in STREAMS_DIR.glob('*') if p.is_dir()) if STREAMS_DIR.is_dir() else []
    if args.sources:
        unknown = sorted(set(args.sources) - {p.name for p in source_dirs})
        if unknown:
            print(f"Unknown source(s): {', '.join(unknown)}", file=sys.stderr)
            return 1
        source_dirs = [p for p in source_dirs if p.name in args.sources]

    has_streams = any(
        not p.name.startswith('_') for d in source_dirs for p in d.glob('*.json')
    )
    if not has_streams:
        print('No stream definitions found', file=sys.stderr)
        return 1

    stale = []
    for source_dir in source_dirs:
        catalog = build_catalog(source_dir)
        if catalog is None:
            continue
        path = source_dir / CATALOG_NAME
        rel = path.relative_to(ORCHESTRATION)
        if args.check:
            reason = staleness(path, catalog)
            if reason:
                stale.append(f'{rel} is out of date ({reason})')
            continue
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(catalog, f, indent=2)
            f.write('\n')
        print(f"Wrote {rel} ({len(catalog['streams'])} streams)")

    if stale:
        for line in stale:
            print(f'{line}; run: python orchestration/airbyte/generate-catalog.py')
        return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
