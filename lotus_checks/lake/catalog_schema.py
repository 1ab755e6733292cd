"""What a generated `_catalog.json` hands to Airbyte and the destination, judged as they judge it.

Stream configs and source schemas are the repo's own format: its generator decides what they
mean (an array's `items` written as a map of field names, fields named `type` or `properties`,
any JSON Schema keyword in a definition). So validity is judged on the generator's output:

- the Airbyte catalog's shape (`streams[].stream` / `.config` with the keys Airbyte reads);
- each stream's `json_schema`, decoded from the JSON-encoded strings Terraform passes on, against
  the Draft 7 metaschema (Airbyte rejects a catalog whose schema is not valid JSON Schema);
- the destination's type constraints: a type name that is not a JSON type (`unknown`) is one the
  S3 Parquet destination cannot write.

The functions here know nothing of files or rules: they return `Problem`s with the path in the
generated catalog; the catalog family maps them back to the stream config or source schema line
that produced them. Also here: how the generator's input shapes are told apart (`is_definition`),
shared with the stream config checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeGuard

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from lotus_checks.core.store import Store

JsonPath = tuple[Any, ...]
JSON_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")
_JSON_TYPE_SET = frozenset(JSON_TYPES)
COMBINATORS = ("anyOf", "oneOf", "allOf")
# Keys of a catalog entry's `config` and their expected JSON shape (what Airbyte reads).
SYNC_MODES = ("full_refresh", "incremental")
# json_schema values Terraform passes as JSON-encoded strings; annotations stay text.
_TEXT_KEYS = frozenset({"$schema", "$id", "$comment", "title", "description"})

SHAPE = "shape"  # the Airbyte catalog's structure
TYPE = "type"  # a type name the destination cannot write
SCHEMA = "schema"  # not valid JSON Schema (Draft 7)


@dataclass(frozen=True)
class Problem:
    """One thing Airbyte or the destination would reject in a generated catalog.

    `kind` is SHAPE, TYPE or SCHEMA; `stream` the entry's name (None for the catalog as a whole);
    `catalog_path` where it is in the generated catalog; `schema_path` where it is in the stream's
    decoded `json_schema` (None for shape problems); `config_key` the catalog `config` key it is
    about (shape problems); `detail` what is wrong, in words; `same_as` a short key under which
    repeats of the same mistake are counted together."""

    kind: str
    stream: str | None
    catalog_path: JsonPath
    detail: str
    schema_path: JsonPath | None = None
    config_key: str | None = None
    same_as: str = ""

    @property
    def field(self) -> str | None:
        """The top-level field (a `properties` key of the stream's schema) the problem is in."""
        path = self.schema_path
        if path and len(path) >= 2 and path[0] == "properties" and isinstance(path[1], str):
            return path[1]
        return None


# ---- the generator's input shapes ------------------------------------------------------------


def is_definition(node: Any) -> TypeGuard[dict[str, Any]]:
    """A field definition (it says what the field is), as opposed to a map of field names to
    definitions. A discovery step writes an array's `items` either way; a map may hold fields
    named `type` or `properties`, whose values are then definitions, never type names."""
    if not isinstance(node, dict):
        return False
    if isinstance(node.get("type"), (str, list)) or isinstance(node.get("$ref"), str):
        return True
    return any(isinstance(node.get(k), list) for k in COMBINATORS)


def is_field_map(node: Any) -> TypeGuard[dict[str, Any]]:
    """A non-empty map of field names to definitions (an `items` written the discovery way)."""
    return (isinstance(node, dict) and bool(node) and not is_definition(node)
            and all(isinstance(v, dict) for v in node.values()))


def nested_fields(definition: Any) -> tuple[JsonPath, dict[str, Any]] | None:
    """(json path below `definition`, field map) of the fields nested in a definition: its
    `properties`, an `items` field map, or the `properties` of an `items` definition."""
    if not isinstance(definition, dict):
        return None
    properties = definition.get("properties")
    if isinstance(properties, dict) and all(isinstance(v, dict) for v in properties.values()):
        return ("properties",), properties
    items = definition.get("items")
    if is_field_map(items):
        return ("items",), items
    if is_definition(items) and isinstance(items.get("properties"), dict):
        return ("items", "properties"), items["properties"]
    return None


# ---- the generated catalog -------------------------------------------------------------------


def decode_json_schema(json_schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a stream's `json_schema` encodes: values written as JSON strings decoded."""
    out: dict[str, Any] = {}
    for key, value in json_schema.items():
        if isinstance(value, str) and key not in _TEXT_KEYS:
            try:
                decoded = json.loads(value)
            except (ValueError, RecursionError):
                decoded = value
            if isinstance(decoded, (dict, list, bool)):
                value = decoded
        out[key] = value
    return out


def catalog_problems(catalog: Any) -> list[Problem]:
    """Everything Airbyte or the destination would reject in a generated catalog."""
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        return [Problem(SHAPE, None, (), "the catalog is not an object with a `streams` list",
                        same_as="catalog")]
    out: list[Problem] = []
    for index, entry in enumerate(catalog["streams"]):
        out.extend(_entry_problems(index, entry))
    return out


# ---- cache --------------------------------------------------------------------------------------

# The judgement is a pure function of the generated bytes (and of lotus-check's and jsonschema's
# versions, which word it), and a hook run after an edit that leaves the catalogs alone would
# otherwise judge every catalog again (bench/HISTORY.md). CACHE_FORMAT changes with what
# catalog_problems reports.
CACHE_NAMESPACE = "catalog-problems"
CACHE_FORMAT = "1"


def catalog_problems_cached(data: bytes, catalog: Any, cache: Store | None) -> list[Problem]:
    """`catalog_problems(catalog)`, where `catalog` is `data` parsed, cached by those bytes
    (when there is a cache)."""
    if cache is None:
        return catalog_problems(catalog)
    import hashlib

    from lotus_checks import __version__
    from lotus_checks.core.store import content_key

    key = content_key(CACHE_FORMAT, __version__, _jsonschema_version(),
                      hashlib.sha256(data).hexdigest())
    hit = cache.get(CACHE_NAMESPACE, key)
    if isinstance(hit, list):
        try:
            return [_problem_from_json(item) for item in hit]
        except (KeyError, TypeError, ValueError):
            pass  # an entry from a bad write: judge again
    problems = catalog_problems(catalog)
    cache.put(CACHE_NAMESPACE, key, [_problem_to_json(p) for p in problems])
    return problems


def _jsonschema_version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version("jsonschema")
    except PackageNotFoundError:  # pragma: no cover - jsonschema is a dependency
        return "?"


def _problem_to_json(problem: Problem) -> dict[str, Any]:
    return {"kind": problem.kind, "stream": problem.stream,
            "catalog_path": list(problem.catalog_path), "detail": problem.detail,
            "schema_path": None if problem.schema_path is None else list(problem.schema_path),
            "config_key": problem.config_key, "same_as": problem.same_as}


def _problem_from_json(item: dict[str, Any]) -> Problem:
    schema_path = item["schema_path"]
    fields = (item["kind"], item["stream"], item["detail"], item["config_key"], item["same_as"])
    steps = [*item["catalog_path"], *(schema_path or ())]
    if not all(isinstance(f, str) or f is None for f in fields) \
            or not all(type(s) in (str, int) for s in steps):
        raise ValueError("not a problem")
    return Problem(item["kind"], item["stream"], tuple(item["catalog_path"]), item["detail"],
                   None if schema_path is None else tuple(schema_path), item["config_key"],
                   item["same_as"])


def _entry_problems(index: int, entry: Any) -> list[Problem]:
    base: JsonPath = ("streams", index)
    if not isinstance(entry, dict) or not isinstance(entry.get("stream"), dict) \
            or not isinstance(entry.get("config"), dict):
        return [Problem(SHAPE, None, base, "a stream entry is not an object with `stream` and "
                        "`config` objects", same_as="entry")]
    stream, config = entry["stream"], entry["config"]
    name = stream.get("name") if isinstance(stream.get("name"), str) and stream["name"] else None
    out: list[Problem] = []
    if name is None:
        out.append(Problem(SHAPE, None, base + ("stream", "name"),
                           "a stream has no `name`", same_as="name"))
    supported = stream.get("supportedSyncModes")
    if not (isinstance(supported, list) and supported and all(m in SYNC_MODES for m in supported)):
        out.append(Problem(SHAPE, name, base + ("stream", "supportedSyncModes"),
                           f"`supportedSyncModes` is {_show(supported)}, not a non-empty list of "
                           f"{', '.join(SYNC_MODES)}", same_as="supportedSyncModes"))
    for key, ok, expected in _CONFIG_SHAPE:
        if key in config and not ok(config[key]) or key not in config and key in _REQUIRED:
            shown = "missing" if key not in config else _show(config[key])
            out.append(Problem(SHAPE, name, base + ("config", key),
                               f"`config.{key}` is {shown}, not {expected}",
                               config_key=key, same_as=f"config.{key}"))
    json_schema = stream.get("json_schema")
    if not isinstance(json_schema, dict):
        out.append(Problem(SHAPE, name, base + ("stream", "json_schema"),
                           "`json_schema` is not an object", same_as="json_schema"))
        return out
    schema = decode_json_schema(json_schema)
    types: list[tuple[JsonPath, list[str]]] = []
    certainly_valid = _scan(schema, None, types)
    for path, bad in types:
        out.append(Problem(TYPE, name, base + ("stream", "json_schema") + _encoded(path),
                           "type " + ", ".join(f"`{n}`" for n in bad), schema_path=path,
                           same_as="type:" + ",".join(bad)))
    if not certainly_valid:
        covered = [path[:-1] for path, _ in types]  # the node whose type is wrong, and below
        for path, detail, same_as in _metaschema_problems(schema, covered):
            out.append(Problem(SCHEMA, name, base + ("stream", "json_schema") + _encoded(path),
                               detail, schema_path=path, same_as=same_as))
    selected = config.get("selected_fields")
    properties = schema.get("properties")
    if isinstance(selected, list) and isinstance(properties, dict):
        for i, item in enumerate(selected):
            field_path = item.get("field_path") if isinstance(item, dict) else None
            if isinstance(field_path, list) and field_path and isinstance(field_path[0], str) \
                    and field_path[0] not in properties:
                out.append(Problem(SHAPE, name, base + ("config", "selected_fields", i),
                                   f"selected field `{field_path[0]}` is not in the stream's "
                                   "json_schema properties", config_key="selected_fields",
                                   same_as="selected_fields"))
    return out


def _is_path(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(p, str) and p for p in value)


_CONFIG_SHAPE = (
    ("sync_mode", lambda v: isinstance(v, str), "a sync mode name"),
    ("destination_sync_mode", lambda v: isinstance(v, str), "a destination sync mode name"),
    ("cursor_field", _is_path, "a list of names"),
    ("primary_key", lambda v: isinstance(v, list) and all(_is_path(p) and p for p in v),
     "a list of field paths"),
    ("selected", lambda v: isinstance(v, bool), "true or false"),
    ("selected_fields", lambda v: isinstance(v, list) and all(
        isinstance(i, dict) and _is_path(i.get("field_path")) and i["field_path"] for i in v),
     'a list of {"field_path": [name]}'),
)
_REQUIRED = frozenset({"sync_mode", "destination_sync_mode"})


def _encoded(path: JsonPath) -> JsonPath:
    """A decoded-schema path as far as it goes in the catalog (values below are inside a string)."""
    return path[:1]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


# ---- Draft 7 -----------------------------------------------------------------------------------


def _metaschema_problems(schema: dict[str, Any],
                         covered: list[JsonPath]) -> Iterator[tuple[JsonPath, str, str]]:
    """Draft 7 metaschema violations, the outermost one per branch, leaving out those below a
    node whose type is already reported (`covered`)."""
    errors = []
    for error in _draft7().iter_errors(schema):
        # anyOf/oneOf (`items` is a schema or a list of them; `type` a name or a list): the
        # deepest alternative's error is the one that says what is wrong, where.
        while error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        errors.append((tuple(error.absolute_path), error))
    errors.sort(key=lambda e: len(e[0]))
    reported: list[JsonPath] = list(covered)
    for path, error in errors:
        if any(path[:len(r)] == r for r in reported):
            continue
        reported.append(path)
        where = ".".join(str(p) for p in path) or "the schema"
        keyword = path[-1] if path else ""
        yield path, f"{where}: {error.message}", f"schema:{keyword}:{error.validator}"


@lru_cache(maxsize=1)
def _draft7() -> Validator:
    from jsonschema import Draft7Validator

    return Draft7Validator(Draft7Validator.META_SCHEMA)


# Draft 7 keywords with the shape their value must have; any other keyword is valid with any
# value (unknown keywords such as `airbyte_type` are allowed), except those in _UNJUDGED, which
# are left to jsonschema.
_SCHEMA_MAPS = frozenset({"properties", "definitions", "patternProperties"})
_SCHEMAS = frozenset({"additionalProperties", "additionalItems", "not", "contains",
                      "propertyNames", "if", "then", "else"})
_TEXTS = frozenset({"$schema", "$id", "$ref", "$comment", "title", "description", "format",
                    "pattern", "contentMediaType", "contentEncoding"})
_NUMBERS = frozenset({"maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"})
_COUNTS = frozenset({"maxLength", "minLength", "maxItems", "minItems", "maxProperties",
                     "minProperties"})
_FLAGS = frozenset({"uniqueItems", "readOnly"})
_UNJUDGED = frozenset({"dependencies"})


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _scan(node: Any, where: Any, types: list[tuple[JsonPath, list[str]]]) -> bool:
    """One walk of a schema: appends (path of the `type`, bad names) to `types` for each type
    name that is not a JSON type, and returns whether the schema is certainly valid Draft 7
    (False means: ask jsonschema). A node with a bad type is reported alone: what is nested in
    it does not reach the destination as described either, and its fix (the right type) decides
    what the nested fields mean. The plain cases are judged here because asking jsonschema costs
    more than every other catalog check together. `where` is the path as nested pairs
    (parent, step), flattened only for a problem."""
    if node is True or node is False:
        return True
    if not isinstance(node, dict):
        return False
    valid = True
    if "type" in node:
        value = node["type"]
        names = [value] if type(value) is str else value
        if type(names) is list and names:
            bad = []
            for n in names:  # a loop, not all(): this runs for every field of every stream
                if type(n) is not str:
                    valid = False
                    break
                if n not in _JSON_TYPE_SET:
                    bad.append(n)
            if valid and bad:
                types.append((_flat((where, "type")), bad))
                return False
            if valid and len(names) > 1 and len(set(names)) != len(names):
                valid = False
        else:
            valid = False
    for key, value in node.items():
        if key == "type":
            continue
        if key in _SCHEMA_MAPS:
            if not isinstance(value, dict):
                valid = False
                continue
            here = (where, key)
            for name, sub in value.items():
                if not _scan(sub, (here, name), types):
                    valid = False
        elif key in _SCHEMAS or key == "items" and not isinstance(value, list):
            if not _scan(value, (where, key), types):
                valid = False
        elif key in COMBINATORS or key == "items":
            if not isinstance(value, list) or not value:
                valid = False
                continue
            here = (where, key)
            for i, sub in enumerate(value):
                if not _scan(sub, (here, i), types):
                    valid = False
        elif key in _TEXTS:
            if not isinstance(value, str):
                valid = False
        elif key in _NUMBERS:
            if not _is_number(value):
                valid = False
        elif key in _COUNTS:
            if type(value) is not int or value < 0:
                valid = False
        elif key in _FLAGS:
            if type(value) is not bool:
                valid = False
        elif key == "multipleOf":
            if not _is_number(value) or value <= 0:
                valid = False
        elif key == "examples":
            if not isinstance(value, list):
                valid = False
        elif key == "required":
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)
                    and len(set(value)) == len(value)):
                valid = False
        elif key == "enum":
            if not isinstance(value, list):
                valid = False
        elif key in _UNJUDGED:
            valid = False
    return valid


def _flat(where: Any) -> JsonPath:
    """(((None, "properties"), "id"), "type") -> ("properties", "id", "type")."""
    out = []
    while where is not None:
        where, step = where
        out.append(step)
    return tuple(reversed(out))
