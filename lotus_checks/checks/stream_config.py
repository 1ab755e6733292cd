"""LL5xx: stream configs and source schemas, for what the generator and the platform read.

A stream config (`<streams>/<source>/<stream>.json`) says what is synced; the source schema
(`<sources>/<source>/<stream>.json`) says what the source offers. Both are the repo's own format:
its catalog generator decides what a field definition means, so field definitions are not judged
here (the catalog family judges what the generator makes of them, LL206/LL207). Here: the keys
the generator, Terraform and the dlt pipeline read (LL501), mode values per connector, keys among
the selected fields, agreement with the source schema, and what the repo's Terraform does with
`backfill`. Streams with `"connector": "dlt"` are loaded by a dlt pipeline: no catalog, no
Airbyte keys needed, and what only the pipeline's code can decide is a warning.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from typing import Any
from typing import Callable
from typing import Iterator

from lotus_checks.catalog_schema import JSON_TYPES
from lotus_checks.catalog_schema import is_definition
from lotus_checks.catalog_schema import is_field_map
from lotus_checks.catalog_schema import nested_fields
from lotus_checks.context import CheckContext
from lotus_checks.finding import Finding
from lotus_checks.finding import Severity
from lotus_checks.loaders import JsonDoc
from lotus_checks.loaders import JsonPath
from lotus_checks.repo import Stream
from lotus_checks.rules import Rule

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

AIRBYTE = "airbyte"
DLT = "dlt"
SYNC_MODES = ("full_refresh", "incremental")
DESTINATION_MODES = {
    AIRBYTE: ("overwrite", "append", "append_dedup"),
    DLT: ("append", "merge", "replace"),
}
# The same intent under each connector's name: used to suggest the right spelling.
EQUIVALENT_MODE = {"merge": "append_dedup", "append_dedup": "merge", "replace": "overwrite",
                   "overwrite": "replace"}
DEDUP_MODES = frozenset({"append_dedup", "merge"})
# How many places a finding for a repeated mistake lists.
SHOWN_REPEATS = 3
# Keys an Airbyte stream config must have: the generator writes them into the catalog entry.
AIRBYTE_KEYS = ("sync_mode", "destination_sync_mode")
# What every source supports, suggested for a missing mode.
_PLAIN_MODES = {"sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}

STREAM_CONFIG_SCHEMA = "stream_config"
SOURCE_SCHEMA_SCHEMA = "source_schema"

LL501 = Rule(
    "LL501",
    "schema-violation",
    "Stream config or source schema key missing, of the wrong type, or unknown",
    explanation="""Checks the keys the catalog generator, Terraform and the dlt pipeline read,
against the JSON Schemas that ship with lotus-checks
(`lotus_checks/schemas/stream_config.schema.json` and `source_schema.schema.json`), at the line
of the offending key.

An **error** when the platform breaks: a missing `stream` or `fields`, or, for an Airbyte stream,
a missing `sync_mode` or `destination_sync_mode` (the generator cannot write the stream's catalog
entry, or Airbyte rejects the catalog); a value of the wrong type (`"backfill": "no"` fails the
Terraform apply that reads it, `"selected": "yes"` is rejected by Airbyte); a field definition
that is not an object. A **warning** for a key nothing reads that looks like a typo of one that is
read (the generator and Terraform ignore it, so the key it was meant to be keeps its default).
Other keys are the repo's own additions (`owner`, `description`) and are not reported.

Field definitions are the repo's own format, which the generator decides the meaning of: any
JSON Schema keyword, an `items` written as a map of field names, fields named `type` or
`properties` are all accepted here; what reaches the platform is judged on the generated catalog
(LL206, LL207). dlt streams (`"connector": "dlt"`) need no sync modes.

Fires on (`backfill` must be a boolean; `selcted` is a typo, a warning):
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "backfill": "no", "selcted": true, "fields": {"id": {"type": "integer"}}}
```
Fix:
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "backfill": false, "selected": true, "fields": {"id": {"type": "integer"}}}
```
Mode values have their own rule (LL502), so they are not reported twice.""",
)
LL502 = Rule(
    "LL502",
    "invalid-sync-mode",
    "Invalid `sync_mode` or `destination_sync_mode`",
    explanation="""`sync_mode` must be `full_refresh` or `incremental`. `destination_sync_mode`
must be `overwrite`, `append` or `append_dedup` for Airbyte streams: anything else is copied into
the catalog and Airbyte rejects it, so the Terraform apply after the push fails.

dlt streams (`"connector": "dlt"`) set their write disposition in the pipeline's code; their
stream config may omit both keys. When it carries them, `append`, `merge` or `replace` are dlt's
names; another value is a **warning** there (only the repo's dlt pipeline could read it).

Fires on (an Airbyte stream using dlt's name for deduplication):
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "merge", ...}
```
Fix: `"destination_sync_mode": "append_dedup"` (or add `"connector": "dlt"` if a dlt pipeline
loads this stream).""",
)
LL503 = Rule(
    "LL503",
    "key-not-selected",
    "`cursor_field` or `primary_key` is not among the selected fields",
    explanation="""Only the fields listed in `fields` are synced. A cursor or primary key that is
not among them is not in the catalog's selected fields: Airbyte rejects the connection (the
apply fails), or deduplication and incremental loads break. Nested paths (`[["customer", "id"]]`)
are checked against the nested fields when the stream config lists them (in `properties`, or in
an `items` field map). For dlt streams this is a warning (the pipeline's code decides).

Fires on:
```json
{"stream": "orders", "cursor_field": ["updated_at"], "primary_key": [["id"]],
 "fields": {"id": {"type": "integer"}}, ...}
```
Fix: select the cursor as well:
```json
{"stream": "orders", "cursor_field": ["updated_at"], "primary_key": [["id"]],
 "fields": {"id": {"type": "integer"}, "updated_at": {"type": "string", "format": "date-time"}}, ...}
```
then regenerate the catalog.""",
)
LL504 = Rule(
    "LL504",
    "field-not-in-source",
    "Selected field does not exist in the source schema",
    explanation="""Every field a stream config selects must be offered by the source (its source
schema, from discovery). A field the source does not have never lands: its column is missing or
always NULL, and every model reading it fails or reads nothing. Nested fields are compared too
(in `properties`, or in an `items` field map).

Fires on (source schema offers `email`):
```json
{"stream": "customers", "fields": {"id": {"type": "integer"}, "emial": {"type": "string"}}, ...}
```
Fix: `"email": {"type": "string"}`, then regenerate the catalog.""",
)
LL505 = Rule(
    "LL505",
    "field-type-mismatch",
    "Selected field has a different type than in the source schema",
    severity=Severity.WARNING,
    explanation="""The catalog takes each selected field's definition from the source schema, so
the type written in the stream config never reaches Airbyte or the destination: nothing breaks,
but a reader of the stream config (or a model written from it) expects the wrong type. A
warning. `"null"` in a type list is ignored (`["null", "string"]` equals `"string"`).

Fires on (the source schema says `"type": "number"`):
```json
"total_price": {"type": "string"}
```
Fix: `"total_price": {"type": "number"}`.""",
)
LL506 = Rule(
    "LL506",
    "sync-mode-not-offered",
    "Sync mode not offered by the source",
    explanation="""The source schema's `options` list the `sync_modes` and
`destination_sync_modes` the source supports; the generator writes them into the catalog as
`supportedSyncModes`. Asking for another one makes Airbyte reject the connection, so the apply
fails (for example `incremental` on a source without a cursor). dlt streams are not judged
against these options: Airbyte's discovery lists them, and a dlt pipeline sets its own write
disposition (`merge`, `replace`, `append`).

Fires on (source options: `"sync_modes": ["full_refresh"]`):
```json
{"stream": "lists", "sync_mode": "incremental", ...}
```
Fix: `"sync_mode": "full_refresh"` (with `"destination_sync_mode": "overwrite"`).""",
)
LL507 = Rule(
    "LL507",
    "missing-key-for-mode",
    "Deduplication needs a primary key; incremental needs a cursor",
    explanation="""`append_dedup` deduplicates on the primary key, and `incremental` reads only
records past the cursor. Without them Airbyte rejects the connection and the apply fails. A key
defined by the source (`defaults` in the source schema) counts. For dlt streams (`merge`) a
warning: the pipeline's code may set the key.

Fires on:
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "primary_key": [], "cursor_field": [], ...}
```
Fix:
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "primary_key": [["id"]], "cursor_field": ["updated_at"], ...}
```""",
)
LL509 = Rule(
    "LL509",
    "selected-missing",
    "Stream config has no `selected` key",
    severity=Severity.WARNING,
    explanation="""Without `selected` the generator treats the stream as selected, which hides
the intent. Nothing breaks (a warning); say it explicitly: `true` to sync the stream, `false` to
pause it.

Fires on:
```json
{"stream": "orders", "sync_mode": "incremental", ...}
```
Fix: `{"stream": "orders", "selected": true, "sync_mode": "incremental", ...}`.""",
)
LL510 = Rule(
    "LL510",
    "backfill-enabled",
    "`backfill` is true, and the repo's Terraform resets a connection on it",
    severity=Severity.WARNING,
    explanation="""`backfill` means what the repo's own Terraform makes of it, so lotus-check
reads the Terraform files that consume it and says what happens there. In a typical Lotus Lake
repo a `null_resource` (or `terraform_data`) exists while any stream of a source has
`"backfill": true`; creating it resets the whole Airbyte connection once (every stream of the
source re-syncs its history, not only this one). Its trigger is stable, so later applies do
nothing more; the reset runs again only after every stream is set back to `false` (the resource
is destroyed) and one is set to `true` again. A trigger such as `timestamp()` resets on every
apply instead, and the message says so. A warning: the reset is what was asked for, but it costs
a full re-sync of the connection. Nothing is reported when no Terraform reads `backfill`.

Fires on: `"backfill": true` in `streams/shopify/orders.json`, with Terraform such as
```hcl
resource "null_resource" "shopify_backfill" {
  count    = local.shopify_backfill ? 1 : 0
  triggers = { connection_id = airbyte_connection.shopify.connection_id }
  ...
}
```

Fix: once the re-sync has completed, `"backfill": false` and push again, so that the next
backfill triggers a reset.""",
)
LL511 = Rule(
    "LL511",
    "duplicate-key",
    "Duplicate key in a stream config or source schema",
    severity=Severity.WARNING,
    explanation="""JSON parsers (the generator's, Terraform's) keep only the last of two equal
keys, so the first is silently ignored. A top-level key given twice (two `destination_sync_mode`s
after a merge) is an **error**: the platform runs with whichever came last, and
`"overwrite"` winning over the `"append"` that was meant drops the stream's history. A key
repeated deeper (a field listed twice in `fields`) is a **warning**: the field still lands, with
its last definition, but the file no longer says one thing.

Fires on:
```json
"fields": {"email": {"type": "string"}, "id": {"type": "integer"}, "email": {"type": "object"}}
```
Fix: keep one `email`.""",
)

LL512 = Rule(
    "LL512",
    "missing-source-schema",
    "Airbyte stream has no source schema",
    severity=Severity.WARNING,
    explanation="""An Airbyte stream config without its source schema
(`<sources>/<source>/<stream>.json`, the discovery output) cannot be checked against what the
source offers (LL504-LL506), and the generator then writes the catalog's field definitions from
the hand-written stream config. Nothing breaks by itself (a warning). Usually the discovery
output was not committed. dlt streams (`"connector": "dlt"`) need no source schema and are not
reported.

Fires on: `streams/shopify/orders.json` with no `sources/shopify/orders.json`.

Fix: commit the source schema of the stream (from Airbyte discovery) at
`sources/shopify/orders.json`.""",
)

RULES = (LL501, LL502, LL503, LL504, LL505, LL506, LL507, LL509, LL510, LL511, LL512)


# ---- entry point -------------------------------------------------------------------------------


def check(ctx: CheckContext) -> Iterator[Finding]:
    _validate_in_pool(ctx, list(_documents(ctx)))
    for stream in ctx.repo.streams:
        if ctx.in_scope(stream.config_path):
            yield from _check_stream(ctx, stream)
    for schema in ctx.repo.source_schemas:
        if ctx.in_scope(schema.path):
            yield from _check_source_schema(ctx, schema.source, schema.name, schema.path)


def _documents(ctx: CheckContext) -> Iterator[tuple[JsonDoc, str]]:
    """The loaded documents the run validates, with the name of their schema."""
    for stream in ctx.repo.streams:
        doc = ctx.repo.json(stream.config_path) if ctx.in_scope(stream.config_path) else None
        if doc is not None:
            yield doc, STREAM_CONFIG_SCHEMA
    for schema in ctx.repo.source_schemas:
        doc = ctx.repo.json(schema.path) if ctx.in_scope(schema.path) else None
        if doc is not None:
            yield doc, SOURCE_SCHEMA_SCHEMA


def _check_stream(ctx: CheckContext, stream: Stream) -> Iterator[Finding]:
    doc = ctx.repo.json(stream.config_path)
    if doc is None:
        return  # LL0xx already reported
    yield from _document_findings(ctx, stream.config_path, doc, STREAM_CONFIG_SCHEMA)
    if not isinstance(doc.data, dict):
        return
    config = StreamFile(stream, doc, ctx.config.generator)
    source = _source_doc(ctx, stream)
    yield from _modes(config)
    yield from _keys_selected(config)
    if source is not None:
        yield from _against_source(config, source, stream.schema_path or "")
    elif stream.schema_path is None and config.connector == AIRBYTE:
        yield _missing_source_schema(ctx, config)
    yield from _keys_for_modes(config, source)
    yield from _flags(config)
    if config.data.get("backfill") is True:
        yield from _backfill(ctx, config)


def _missing_source_schema(ctx: CheckContext, config: StreamFile) -> Finding:
    expected = f"{ctx.config.sources}/{config.stream.source}/{config.stream.name}.json"
    return LL512.finding(
        config.path,
        message=f"{config.label} has no source schema at {expected}; its fields cannot be "
        "checked against what the source offers",
        hint=f"commit the stream's discovered schema as {expected}",
    )


def _source_doc(ctx: CheckContext, stream: Stream) -> dict[str, Any] | None:
    if stream.schema_path is None:
        return None
    doc = ctx.repo.json(stream.schema_path)
    return doc.data if doc is not None and isinstance(doc.data, dict) else None


@dataclass(frozen=True)
class StreamFile:
    """A loaded stream config: its data (a dict, maybe malformed inside) and where it is."""

    stream: Stream
    doc: JsonDoc
    generator: str

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data  # type: ignore[no-any-return]

    @property
    def path(self) -> str:
        return self.stream.config_path

    @property
    def label(self) -> str:
        return f"stream `{self.stream.source}/{self.stream.name}`"

    @property
    def connector(self) -> str | None:
        """`airbyte` or `dlt`; None for an unknown connector (LL501 reports it)."""
        value = self.data.get("connector", AIRBYTE)
        return value if value in (AIRBYTE, DLT) else None

    @property
    def severity(self) -> Severity:
        """Of the rules about Airbyte's modes and keys: for a dlt stream only the pipeline's code
        could read them, so a problem there is a warning."""
        return Severity.WARNING if self.connector == DLT else Severity.ERROR

    @property
    def fields(self) -> dict[str, Any]:
        fields = self.data.get("fields")
        return fields if isinstance(fields, dict) else {}

    def at(self, path: JsonPath) -> tuple[int | None, int | None]:
        return self.doc.position(path)

    def regenerate(self) -> str:
        """What to run after editing: dlt streams have no catalog."""
        if self.connector == DLT:
            return ""
        return f", then regenerate the catalog: python {self.generator}"


# ---- LL501 / LL511: the JSON Schema and duplicate keys -------------------------------------------


CACHE_NAMESPACE = "json-schema"


def _document_findings(ctx: CheckContext, path: str, doc: JsonDoc, name: str) -> Iterator[Finding]:
    """LL511 and LL501 for one document. Both depend only on its text and the shipped schema, so
    the problems (not the findings: positions are looked up only when there are some) are cached
    by content; a warm run with nothing wrong neither validates nor imports jsonschema."""
    problems = _document_problems(ctx, doc, name)
    for key_path, key in problems["duplicates"]:
        line, column = doc.position(key_path)
        top = len(key_path) == 1
        yield LL511.finding(
            path, line, column,
            f"{_json_path(key_path)}: key `{key}` appears more than once; only the last counts"
            + (" (the generator and Terraform use it)" if top else ""),
            hint=f"keep one `{key}`, the one meant",
            severity=Severity.ERROR if top else Severity.WARNING,
        )
    # The same mistake repeated in one map of field names (`"fields": {"id": "integer", ...}`)
    # is one finding that gives the count and the first places.
    groups: dict[tuple[Any, ...], list[tuple[JsonPath, str]]] = {}
    for key_path, message, hint, severity in problems["schema"]:
        parent = tuple(key_path[:-1]) if severity == Severity.ERROR.value and key_path else None
        group = (parent, hint, severity) if parent else (tuple(key_path), message, hint, severity)
        groups.setdefault(group, []).append((tuple(key_path), message))
    for group, found in groups.items():
        placed = sorted(((doc.position(p), p, m) for p, m in found),
                        key=lambda f: (f[0][0] or 0, f[0][1] or 0))
        ((line, column), key_path, message), rest = placed[0], placed[1:]
        if rest:
            shown = ", ".join(f"{_json_path(p)} (line {at[0]})" for at, p, _ in rest[:SHOWN_REPEATS])
            more = f" and {len(rest) - SHOWN_REPEATS} more" if len(rest) > SHOWN_REPEATS else ""
            message += f"; the same in {len(rest)} more place(s): {shown}{more}"
        yield LL501.finding(path, line, column, message, hint=group[-2],
                            severity=Severity(group[-1]))


def _document_problems(ctx: CheckContext, doc: JsonDoc, name: str) -> dict[str, list[Any]]:
    key = _problems_key(doc, name)
    memo: dict[str, dict[str, list[Any]]] = ctx.memo.setdefault(_MEMO, {})
    if key in memo:
        return memo[key]
    cached = ctx.cache.get(CACHE_NAMESPACE, key)
    if _well_formed(cached):
        return {
            "duplicates": [(tuple(p), k) for p, k in cached["duplicates"]],
            "schema": [(tuple(p), m, h, s) for p, m, h, s in cached["schema"]],
        }
    valid = id(doc) in ctx.memo.get(_CERTAINLY_VALID, ())
    problems = problems_of(doc.text, doc.data, name, certainly_valid=valid)
    ctx.cache.put(CACHE_NAMESPACE, key, problems)
    return problems


_MEMO = "stream_config.problems"
# id() of the run's documents the pool's triage already found certainly valid (the repo model
# holds each loaded document for the whole run, so an id is not reused while this set lives).
_CERTAINLY_VALID = "stream_config.certainly_valid"
# Below this many documents to validate, a process pool's start-up costs more than it saves.
POOL_THRESHOLD = 50


def _problems_key(doc: JsonDoc, name: str) -> str:
    from lotus_checks import __version__
    from lotus_checks.cache import content_key

    return content_key(CACHE_NAMESPACE, __version__, name, _schema_text(name), doc.text)


def problems_of(text: str, data: Any, name: str,
                certainly_valid: bool = False) -> dict[str, list[Any]]:
    """LL511 and LL501 problems of one document (a top-level function: runs in pool workers).
    `certainly_valid`: the quick test already passed it, so it is not run twice."""
    doc = JsonDoc(text, data)
    schema = [] if certainly_valid else schema_errors(data, name)
    return {"duplicates": duplicate_keys(doc), "schema": schema + typo_keys(data, name)}


def _validate_in_pool(ctx: CheckContext, documents: list[tuple[JsonDoc, str]]) -> None:
    """Validate the documents not in the cache in a process pool when many of them need
    jsonschema (CPU-bound per document). A document the quick test finds certainly valid costs
    less than sending it to a worker, so only the others count. Results go to the run's memo and
    the cache; a pool that cannot start leaves the work to `_document_problems`."""
    workers = ctx.jobs
    if workers < 2:
        return
    todo = []
    valid: set[int] = ctx.memo.setdefault(_CERTAINLY_VALID, set())
    for doc, name in documents:
        if _certainly_valid(name)(doc.data):
            valid.add(id(doc))
            continue
        key = _problems_key(doc, name)
        if not _well_formed(ctx.cache.get(CACHE_NAMESPACE, key)):
            todo.append((doc, name, key))
    if len(todo) <= POOL_THRESHOLD:
        return
    from concurrent.futures import ProcessPoolExecutor

    memo: dict[str, dict[str, list[Any]]] = ctx.memo.setdefault(_MEMO, {})
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(
                problems_of, [d.text for d, _, _ in todo], [d.data for d, _, _ in todo],
                [n for _, n, _ in todo], chunksize=max(1, len(todo) // (workers * 8)),
            )
            for (_, _, key), problems in zip(todo, results):
                memo[key] = problems
                ctx.cache.put(CACHE_NAMESPACE, key, problems)
    except Exception:  # noqa: BLE001 - no pool here: the documents are validated in-process
        return


def _well_formed(cached: Any) -> bool:
    """A cache entry as written by `_document_problems` (anything else is a miss)."""
    if not isinstance(cached, dict):
        return False
    duplicates, schema = cached.get("duplicates"), cached.get("schema")
    return (
        isinstance(duplicates, list) and isinstance(schema, list)
        and all(isinstance(d, list) and len(d) == 2 and isinstance(d[0], list) for d in duplicates)
        and all(isinstance(e, list) and len(e) == 4 and isinstance(e[0], list)
                and e[3] in (Severity.ERROR.value, Severity.WARNING.value) for e in schema)
    )


@lru_cache(maxsize=None)
def _schema_text(name: str) -> str:
    """The text of a shipped schema (part of the cache key: a new schema invalidates entries)."""
    from importlib.resources import files

    resource = files("lotus_checks") / "schemas" / f"{name}.schema.json"
    return resource.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _validator(name: str) -> Validator:
    """The compiled validator of a shipped schema, built once per process."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(_schema_text(name)))


@lru_cache(maxsize=None)
def _certainly_valid(name: str) -> Callable[[Any], bool]:
    """The shipped schema compiled for the quick test (schema_fast.py); never true wrongly."""
    from lotus_checks.schema_fast import Unsupported
    from lotus_checks.schema_fast import compile_schema

    try:
        return compile_schema(json.loads(_schema_text(name)))
    except Unsupported:
        return lambda _data: False


SchemaError = tuple[JsonPath, str, str, str]


def schema_errors(data: Any, name: str) -> list[SchemaError]:
    """(path of the offending key, `$.json.path: message`, hint, severity) for every violation
    of the shipped schema: what the generator or Terraform reads is missing or malformed (an
    error)."""
    if _certainly_valid(name)(data):
        return []  # jsonschema would find nothing; asking it costs milliseconds per document
    out: list[SchemaError] = []
    for error in _validator(name).iter_errors(data):
        out.append(_described(error) + (Severity.ERROR.value,))
    return out


def typo_keys(data: Any, name: str) -> list[SchemaError]:
    """A warning for each key that nothing reads but looks like a typo of a key that is read
    (`selcted`), at that key, with the did-you-mean: the platform runs as if the meant key were
    absent. Other keys are the repo's own additions (an `owner`, a `description`): nothing reads
    them, and nothing is reported. (In code, not in the shipped schema: extra keys keep a
    document "certainly valid" for the quick test.)"""
    out: list[SchemaError] = []
    stack: list[tuple[Any, Any, JsonPath]] = [(_schema(name), data, ())]
    while stack:
        schema, value, path = stack.pop()
        known = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(known, dict) or not isinstance(value, dict):
            continue
        for key, item in value.items():
            if key in known:
                stack.append((known[key], item, path + (key,)))
                continue
            close = difflib.get_close_matches(str(key), list(known), n=1)
            if close:
                message = (f"{_json_path(path + (key,))}: unexpected key `{key}`, which nothing "
                           f"reads (`{close[0]}` keeps its default)")
                out.append((path + (key,), message, f"did you mean `{close[0]}`?",
                            Severity.WARNING.value))
    return sorted(out)


@lru_cache(maxsize=None)
def _schema(name: str) -> Any:
    return json.loads(_schema_text(name))


def _described(error: ValidationError) -> tuple[JsonPath, str, str]:
    from jsonschema.exceptions import best_match

    # anyOf/oneOf: the sub-error closest to what was meant says more than "not valid under any".
    shown = best_match(error.context) if error.context else error
    path = tuple(shown.absolute_path)
    hint = ""
    if shown.validator == "required":
        hint = "add the missing key"
    elif shown.validator == "type":
        hint = f"use a value of type {shown.validator_value}"
    elif shown.validator == "enum":
        hint = "use one of: " + ", ".join(map(str, shown.validator_value))
    return path, f"{_json_path(path)}: {shown.message}", hint


def _json_path(path: JsonPath) -> str:
    """`$.fields.email.type`, `$.primary_key[0]` (check-jsonschema style)."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def duplicate_keys(doc: JsonDoc) -> list[tuple[JsonPath, str]]:
    """(path of the repeated key, the key) for every key that appears twice in one object."""
    duplicates: list[tuple[str, dict[str, Any]]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    duplicates.append((key, obj))
                seen.add(key)
        return obj

    try:
        data = json.loads(doc.text, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return []
    if not duplicates:
        return []
    where = _object_paths(data)
    return [(where.get(id(obj), ()) + (key,), key) for key, obj in duplicates]


def _object_paths(data: Any) -> dict[int, JsonPath]:
    out: dict[int, JsonPath] = {}
    stack: list[tuple[Any, JsonPath]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            out[id(value)] = path
            stack.extend((v, path + (k,)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, path + (i,)) for i, v in enumerate(value))
    return out


# ---- LL502: mode values ---------------------------------------------------------------------------


def _modes(config: StreamFile) -> Iterator[Finding]:
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


def _valid_modes(config: StreamFile) -> tuple[str | None, str | None]:
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


def _keys_selected(config: StreamFile) -> Iterator[Finding]:
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


# ---- LL504 / LL505 / LL506: agreement with the source schema ------------------------------------


def _type_names(value: Any) -> frozenset[str] | None:
    """The non-null type names of a `type`, or None if it is missing or not all JSON types."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(n in JSON_TYPES for n in names):
        return None
    return frozenset(names) - {"null"}


def _show_type(names: frozenset[str]) -> str:
    return " | ".join(sorted(names)) if names else "null"


def _against_source(config: StreamFile, source: dict[str, Any], schema_path: str) -> Iterator[Finding]:
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
    if not isinstance(definition, dict) or not isinstance(source_definition, dict):
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
    sync_mode, destination = _valid_modes(config)
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


# ---- LL507: keys the modes need -----------------------------------------------------------------


def _has_paths(value: Any) -> bool:
    return isinstance(value, list) and any(_field_path(p) for p in value)


def _keys_for_modes(config: StreamFile, source: dict[str, Any] | None) -> Iterator[Finding]:
    defaults = source.get("defaults") if source is not None else None
    defaults = defaults if isinstance(defaults, dict) else {}
    sync_mode, destination = _valid_modes(config)
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


def _check_source_schema(ctx: CheckContext, source: str, name: str, path: str) -> Iterator[Finding]:
    doc = ctx.repo.json(path)
    if doc is None:
        return
    yield from _document_findings(ctx, path, doc, SOURCE_SCHEMA_SCHEMA)


# ---- LL509 / LL510: flags -----------------------------------------------------------------------


def _flags(config: StreamFile) -> Iterator[Finding]:
    if "selected" not in config.data:
        line, column = config.at(())
        yield LL509.finding(
            config.path, line, column,
            f"{config.label} has no `selected` key (the generator treats it as selected)",
            hint='add "selected": true (or false to pause the stream)',
        )


_BACKFILL_READERS = "stream_config.backfill_readers"


def _backfill(ctx: CheckContext, config: StreamFile) -> Iterator[Finding]:
    """LL510: what the repo's Terraform does with `backfill: true`; nothing when no Terraform
    reads it for this stream's source."""
    from lotus_checks.terraform import KeyReader
    from lotus_checks.terraform import key_readers

    def readers() -> list[KeyReader]:
        files = {path: ctx.repo.text(path) for path in ctx.repo.terraform_files}
        texts = {path: text for path, text in files.items() if text is not None}
        if not any("backfill" in text for text in texts.values()):
            return []  # no Terraform mentions it: no need to parse any
        return key_readers(texts, "backfill")

    source = config.stream.source
    found = ctx.repo.shared(ctx.memo, _BACKFILL_READERS, readers)
    mine = [r for r in found if source in r.sources] or [r for r in found if not r.sources]
    if not mine:
        return
    reader = mine[0]
    where = f"`{reader.resource}` ({reader.path}:{reader.line})"
    connection = dict(reader.connections).get(source)
    if connection is not None:
        target = (f"the whole `{connection}` connection (every stream of it re-syncs its history, "
                  "not only this one)")
    else:
        target = "what it runs"
    line, column = config.at(("backfill",))
    if reader.every_apply:
        message = (f"{config.label} has `backfill: true`: Terraform's {where} resets {target} on "
                   "every apply while it stays true (its trigger changes each time)")
        hint = 'set "backfill": false as soon as the re-sync has started, and push again'
    else:
        message = (f"{config.label} has `backfill: true`: Terraform's {where} exists while a "
                   f"stream of {source} has it, and resets {target} once, on the apply that "
                   "creates it")
        hint = ('once the re-sync has completed, set "backfill": false and push, so that a later '
                "backfill resets again")
    yield LL510.finding(config.path, line, column, message, hint=hint)
