#!/usr/bin/env python3
"""Precision corpus: run lotus-check on Lotus Lake trees built from public Airbyte connectors.

    python bench/precision.py                                   # the four default connectors
    python bench/precision.py --connectors klaviyo --limit-streams 5
    python bench/precision.py --offline                         # cached packages only

For each connector, the connector's package (`airbyte-source-<name>`) is downloaded from the
package index with `pip download --no-deps` (cached under `bench/out/precision/wheels/`, never
committed) and read without installing it: its streams, their record schemas (JSON files under
`schemas/` and the inline schemas of a declarative `manifest.yaml`, `$ref`s resolved), primary
keys and cursors (from the manifest, or from the Python stream classes). From them two Lotus Lake
trees are built in the default layout, one per form of field definitions real repos hold:

- `raw`: the connector's JSON Schema property definitions as they are (type lists, `anyOf`,
  `additionalProperties`, `enum`, `airbyte_type`, ...);
- `items-map`: what a discovery script writes: one type per field, `description`/`format`,
  objects with `properties`, and an array of objects with its `items` written as a map of field
  name -> field definition (no `type`, no `properties`).

Each tree has stream configs selecting fields, source schemas offering all of them, one model per
stream, a dbt sources file, `dbt_project.yml`, Terraform reading the catalog, and the reference
generator (`orchestration/airbyte/generate-catalog.py`, copied from this checkout) run to write
the catalog. Then `lotus-check --output-format json --no-cache` runs on the tree, and
`docs/precision.md` is written: findings by rule and severity per connector and form, and every
error with the reason it is a true platform failure (from `JUSTIFICATIONS`), or "unjustified".
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import generate_tree  # noqa: E402

DEFAULT_CONNECTORS = ("shopify", "stripe", "hubspot", "klaviyo")
FORMS = ("raw", "items-map")
OUT = BENCH / "out" / "precision"
DOC = REPO_ROOT / "docs" / "precision.md"
PACKAGE_PREFIX = "airbyte-source-"
# pip's own words when it cannot reach an index (as opposed to an index that has no such package).
UNREACHABLE = re.compile(
    r"NewConnectionError|Temporary failure in name resolution|Name or service not known|"
    r"Network is unreachable|Max retries exceeded|Connection refused|ConnectTimeout|"
    r"ReadTimeoutError|Failed to establish a new connection|No route to host"
)
# How many errors per tree the doc lists one by one (the rest are counted by rule above).
MAX_LISTED_ERRORS = 40

# Errors on a corpus tree that are true platform failures: (rule code, message regex, why).
# An error matching none of these is listed as "unjustified": a false error to fix.
JUSTIFICATIONS: tuple[tuple[str, str, str], ...] = (
    ("LL204", r"generator failed",
     ("the tree's generator (this checkout's reference generator) crashes, so no catalog can "
      "be written and Terraform cannot apply the change; on a connector's own schema that "
      "crash is also a bug of the reference generator")),
    ("LL202", r"no _catalog\.json",
     "Terraform's `file()` of the missing catalog fails: `terraform apply` breaks"),
    ("LL307", r"reads file .*which does not exist",
     "Terraform's `file()` of a missing path fails: `terraform apply` breaks"),
)


class FetchError(Exception):
    """The package could not be had (no such package, no cached copy offline, pip failed)."""


class IndexUnreachable(FetchError):
    """pip could not reach the package index (no network, index down)."""


# ---- fetching ------------------------------------------------------------------------------


def fetch(connector: str, cache: Path, offline: bool) -> Path:
    """The connector's wheel: downloaded into `cache/<package>/`, or the cached one offline."""
    package = PACKAGE_PREFIX + connector
    folder = cache / package
    if not offline:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "--no-input", "--timeout", "60", "--retries", "2",
             "-q", "-d", str(folder), package],
            check=False, capture_output=True, text=True, timeout=600,
        )
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
            if UNREACHABLE.search(output):
                raise IndexUnreachable(f"pip download {package}: {last.strip()}")
            raise FetchError(f"pip download {package} failed: {last.strip()}")
    wheels = sorted(folder.glob("*.whl"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not wheels:
        raise FetchError(f"no cached wheel of {package} in {folder} (run once without --offline)")
    return wheels[-1]


def wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


# ---- reading a connector package -----------------------------------------------------------


@dataclass
class Stream:
    name: str
    schema: dict[str, Any]
    primary_key: list[list[str]]
    cursor_field: list[str]
    origin: str


@dataclass
class Connector:
    name: str
    version: str
    streams: list[Stream]
    skipped: dict[str, str] = field(default_factory=dict)  # stream -> why it was left out


class Package:
    """The files of one wheel, read in place."""

    def __init__(self, wheel: Path) -> None:
        self.zip = zipfile.ZipFile(wheel)
        names = [n for n in self.zip.namelist() if ".dist-info/" not in n]
        self.names = set(names)
        self.module = min(n.split("/")[0] for n in names if "/" in n)

    def read(self, rel: str) -> bytes | None:
        return self.zip.read(rel) if rel in self.names else None

    def json(self, rel: str) -> Any:
        data = self.read(rel)
        return None if data is None else json.loads(data)


def _pointer(doc: Any, fragment: str) -> Any:
    node = doc
    for part in fragment.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def resolve_schema(pkg: Package, node: Any, doc: Any, base: str, depth: int = 0) -> Any:
    """`node` with its JSON Schema `$ref`s replaced by what they point to (siblings win), the
    way the CDK's schema loader resolves `shared/` files; a ref cycle stops at an object."""
    if depth > 40:
        return {"type": ["null", "object"]}
    if isinstance(node, list):
        return [resolve_schema(pkg, item, doc, base, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    rest = {k: resolve_schema(pkg, v, doc, base, depth + 1) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return rest
    target_file, _, fragment = ref.partition("#")
    if target_file:
        module_schemas = f"{pkg.module}/schemas"
        # The CDK resolves a file `$ref` against `schemas/shared/` first.
        candidates = [f"{module_schemas}/shared/{target_file}", f"{base}/{target_file}",
                      f"{module_schemas}/{target_file}"]
        rel = next((c for c in candidates if c in pkg.names), None)
        if rel is None:
            return rest
        target_doc = pkg.json(rel)
        target_base = rel.rpartition("/")[0]
    else:
        target_doc, target_base = doc, base
    try:
        target = _pointer(target_doc, fragment)
    except (KeyError, IndexError, ValueError, TypeError):
        return rest
    resolved = resolve_schema(pkg, target, target_doc, target_base, depth + 1)
    return {**resolved, **rest} if isinstance(resolved, dict) else rest


def resolve_manifest(node: Any, root: Any, depth: int = 0) -> Any:
    """A declarative manifest with its references (`$ref: "#/..."` and `"#/..."` strings)
    replaced, the keys beside a `$ref` overriding the referenced ones (as the CDK does)."""
    if depth > 60:
        return node
    if isinstance(node, str) and node.startswith("#/"):
        try:
            return resolve_manifest(_pointer(root, node), root, depth + 1)
        except (KeyError, IndexError, ValueError, TypeError):
            return node
    if isinstance(node, list):
        return [resolve_manifest(item, root, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    rest = {k: resolve_manifest(v, root, depth + 1) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        try:
            base = resolve_manifest(_pointer(root, ref), root, depth + 1)
        except (KeyError, IndexError, ValueError, TypeError):
            return rest
        if isinstance(base, dict):
            return {**base, **rest}
    return rest


_PARAM = re.compile(r"^\{\{\s*parameters(?:\.(\w+)|\[['\"](\w+)['\"]\])\s*\}\}$")


def _param(value: Any, params: dict[str, Any]) -> Any:
    """A `{{ parameters.x }}` value replaced by the parameter; None if other Jinja remains."""
    if not isinstance(value, str):
        return value
    match = _PARAM.match(value.strip())
    if match:
        return params.get(match.group(1) or match.group(2))
    return None if "{{" in value else value


def normalize_pk(value: Any) -> list[list[str]]:
    if isinstance(value, str) and value:
        return [[value]]
    if isinstance(value, list):
        return [[k] if isinstance(k, str) else [str(p) for p in k] for k in value if k]
    return []


def _manifest_stream(pkg: Package, node: dict[str, Any], params: dict[str, Any]) -> Stream | str:
    """One declarative stream, or why it cannot be used."""
    params = {**params, **(node.get("$parameters") or {})}
    name = node.get("name") or params.get("name")
    if node.get("type") == "StateDelegatingStream":
        incremental = node.get("incremental_stream") or {}
        full = node.get("full_refresh_stream") or {}
        inner = _manifest_stream(pkg, {**full, **incremental, "name": name}, params)
        if isinstance(inner, str) and full:
            inner = _manifest_stream(pkg, {**full, "name": name}, params)
        return inner
    if not isinstance(name, str):
        return "no stream name"
    cursor = _param((node.get("incremental_sync") or {}).get("cursor_field"), params)
    loaders = node.get("schema_loader")
    loaders = loaders if isinstance(loaders, list) else [loaders or {"type": "JsonFileSchemaLoader"}]
    schema = None
    for loader in loaders:
        kind = loader.get("type") if isinstance(loader, dict) else None
        if kind == "InlineSchemaLoader" and isinstance(loader.get("schema"), dict):
            schema = resolve_schema(pkg, loader["schema"], loader["schema"], f"{pkg.module}/schemas")
            break
        if kind == "JsonFileSchemaLoader":
            path = loader.get("file_path") or f"./{pkg.module}/schemas/{name}.json"
            path = re.sub(r"\{\{\s*parameters(?:\.name|\[['\"]name['\"]\])\s*\}\}", name, path)
            rel = path.removeprefix("./")
            data = pkg.json(rel)
            if data is not None:
                schema = resolve_schema(pkg, data, data, rel.rpartition("/")[0])
                break
    if schema is None:
        return "its schema is built at run time (dynamic schema loader)"
    return Stream(name, schema, normalize_pk(node.get("primary_key")),
                  [cursor] if isinstance(cursor, str) and cursor else [], "manifest")


def _camel_to_snake(name: str) -> str:
    s1 = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", s1).lower()


def python_stream_defaults(pkg: Package) -> dict[str, tuple[list[list[str]], list[str]]]:
    """stream name -> (primary key, cursor) from the package's Python stream classes: class
    attributes or constant-returning properties `name`, `primary_key`, `cursor_field`, looked up
    through the base classes (the CDK names a class's stream after it in snake_case)."""
    classes: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for rel in sorted(n for n in pkg.names if n.endswith(".py")):
        try:
            tree = ast.parse(pkg.read(rel) or b"")
        except SyntaxError:
            continue
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute)
                     else "" for b in node.bases]
            attrs: dict[str, Any] = {}
            for item in node.body:
                targets: list[ast.expr] = []
                value: ast.expr | None = None
                if isinstance(item, ast.Assign):
                    targets, value = item.targets, item.value
                elif isinstance(item, ast.AnnAssign) and item.value is not None:
                    targets, value = [item.target], item.value
                elif isinstance(item, ast.FunctionDef) and len(item.body) >= 1:
                    ret = item.body[-1]
                    if isinstance(ret, ast.Return) and ret.value is not None:
                        targets, value = [ast.Name(id=item.name)], ret.value
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in (
                        "name", "primary_key", "cursor_field"
                    ):
                        try:
                            attrs[target.id] = ast.literal_eval(value) if value else None
                        except ValueError:
                            pass
            classes[node.name] = (bases, attrs)

    def lookup(cls: str, attr: str, seen: frozenset[str] = frozenset()) -> Any:
        if cls not in classes or cls in seen:
            return None
        bases, attrs = classes[cls]
        if attr in attrs:
            return attrs[attr]
        for base in bases:
            found = lookup(base, attr, seen | {cls})
            if found is not None:
                return found
        return None

    out: dict[str, tuple[list[list[str]], list[str]]] = {}
    for cls in classes:
        name = classes[cls][1].get("name")
        name = name if isinstance(name, str) and name else _camel_to_snake(cls)
        cursor = lookup(cls, "cursor_field")
        cursor_path = [cursor] if isinstance(cursor, str) and cursor else (
            cursor if isinstance(cursor, list) and cursor else [])
        out.setdefault(name, (normalize_pk(lookup(cls, "primary_key")), cursor_path))
    return out


def read_connector(connector: str, wheel: Path) -> Connector:
    """The streams of a connector package that have a static record schema."""
    pkg = Package(wheel)
    result = Connector(connector, wheel_version(wheel), [])
    found: dict[str, Stream] = {}
    manifest_bytes = pkg.read(f"{pkg.module}/manifest.yaml")
    if manifest_bytes is not None:
        manifest = yaml.safe_load(manifest_bytes)
        for raw in manifest.get("streams") or []:
            node = resolve_manifest(raw, manifest)
            if not isinstance(node, dict):
                continue
            got = _manifest_stream(pkg, node, {})
            if isinstance(got, Stream):
                found.setdefault(got.name, got)
            else:
                name = node.get("name") or (node.get("$parameters") or {}).get("name") or "?"
                result.skipped[str(name)] = got
        if manifest.get("dynamic_streams"):
            result.skipped["(dynamic streams)"] = "declared at run time from the account's objects"
    defaults = python_stream_defaults(pkg)
    prefix = f"{pkg.module}/schemas/"
    for rel in sorted(pkg.names):
        if not rel.startswith(prefix) or not rel.endswith(".json") or "/" in rel[len(prefix):]:
            continue
        name = rel[len(prefix):-len(".json")]
        if name in found or name in result.skipped:
            continue
        if name not in defaults:
            result.skipped[name] = "a schema file that no stream of the connector uses"
            continue
        data = pkg.json(rel)
        primary_key, cursor = defaults[name]
        found[name] = Stream(name, resolve_schema(pkg, data, data, prefix.rstrip("/")),
                             primary_key, cursor, "schema file + Python stream class")
    for name in sorted(found):
        stream = found[name]
        if not isinstance(stream.schema.get("properties"), dict) or not stream.schema["properties"]:
            result.skipped[name] = "its schema has no properties"
            continue
        result.streams.append(stream)
    return result


# ---- the two forms of field definitions ----------------------------------------------------


def _types(defn: dict[str, Any]) -> list[str]:
    type_ = defn.get("type")
    if isinstance(type_, str):
        return [type_]
    if isinstance(type_, list):
        return [t for t in type_ if isinstance(t, str)]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = defn.get(key)
        if isinstance(branches, list):
            for branch in branches:
                if isinstance(branch, dict):
                    found = [t for t in _types(branch) if t != "null"]
                    if found:
                        return found
    return []


def _object_properties(defn: dict[str, Any]) -> dict[str, Any] | None:
    props = defn.get("properties")
    if isinstance(props, dict) and props:
        return props
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in defn.get(key) or []:
            if isinstance(branch, dict) and _object_properties(branch):
                return _object_properties(branch)
    return None


def discovery_field(defn: Any) -> dict[str, Any]:
    """A field definition as a discovery script writes it (the `items-map` form)."""
    if not isinstance(defn, dict):
        return {}
    out: dict[str, Any] = {}
    non_null = [t for t in _types(defn) if t != "null"]
    if non_null:
        out["type"] = non_null[0]
    for key in ("description", "format"):
        if isinstance(defn.get(key), str):
            out[key] = defn[key]
    props = _object_properties(defn)
    if out.get("type") == "object" and props:
        out["properties"] = {name: discovery_field(sub) for name, sub in props.items()}
    if out.get("type") == "array":
        items = defn.get("items")
        if isinstance(items, list):
            items = items[0] if items else None
        if isinstance(items, dict):
            item_props = _object_properties(items)
            out["items"] = (
                {name: discovery_field(sub) for name, sub in item_props.items()}
                if item_props else discovery_field(items)
            )
    return out


def field_defs(stream: Stream, form: str) -> dict[str, Any]:
    props = stream.schema["properties"]
    if form == "raw":
        return copy.deepcopy(props)
    return {name: discovery_field(defn) for name, defn in props.items()}


# ---- the tree ------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names a plain (unquoted) column reference cannot use in DuckDB.
_RESERVED = frozenset(
    "all analyse analyze and any array as asc asymmetric both case cast check collate column "
    "constraint create default deferrable desc describe distinct do else end except false fetch "
    "for foreign from grant group having in initially intersect into lateral leading limit "
    "offset on only or order placing primary references returning select show some summarize "
    "symmetric table then to trailing true union unique using variadic when where window with "
    "pivot unpivot qualify".split()
)


def plain_column(name: str) -> bool:
    return bool(_IDENTIFIER.match(name)) and name.lower() not in _RESERVED


@dataclass
class StreamPlan:
    stream: Stream
    selected: list[str]
    primary_key: list[list[str]]
    cursor_field: list[str]
    columns: list[str]  # the model's select list, without the metadata column

    @property
    def incremental(self) -> bool:
        return bool(self.cursor_field)


def plan_stream(stream: Stream, index: int) -> StreamPlan:
    """What the stream config selects: every field for even-numbered streams, for odd-numbered
    ones every other field plus the key and cursor; key and cursor only where the schema has
    them (a connector may add its cursor in a transformation)."""
    names = list(stream.schema["properties"])
    primary_key = [p for p in stream.primary_key if p and p[0] in names]
    if len(primary_key) != len(stream.primary_key):
        primary_key = []
    cursor = stream.cursor_field if stream.cursor_field and stream.cursor_field[0] in names else []
    key_fields = [p[0] for p in primary_key] + cursor[:1]
    if index % 2 == 0:
        selected = names
    else:
        selected = [n for i, n in enumerate(names) if i % 2 == 0 or n in key_fields]
    columns = [n for n in dict.fromkeys(key_fields) if plain_column(n)]
    columns += [n for n in selected if n not in columns and plain_column(n)][: max(0, 5 - len(columns))]
    # One nested read as real models write it (`customer.id as customer_id`): the first
    # selected object field with a plainly named property.
    for name in selected:
        defn = stream.schema["properties"][name]
        props = _object_properties(defn) if isinstance(defn, dict) else None
        if plain_column(name) and "object" in _types(defn) and props:
            sub = next((p for p in props if plain_column(p)), None)
            if sub is not None:
                columns.append(f"{name}.{sub} as {name}_{sub}")
                break
    return StreamPlan(stream, selected, primary_key, cursor, columns)


def stream_config(plan: StreamPlan, defs: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "stream": plan.stream.name,
        "sync_mode": "incremental" if plan.incremental else "full_refresh",
        "destination_sync_mode": (
            ("append_dedup" if plan.primary_key else "append") if plan.incremental else "overwrite"
        ),
        "backfill": False,
    }
    if plan.primary_key:
        config["primary_key"] = plan.primary_key
    if plan.cursor_field:
        config["cursor_field"] = plan.cursor_field
    config["selected"] = True
    config["fields"] = {name: defs[name] for name in plan.selected}
    return config


def source_schema(plan: StreamPlan, defs: dict[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if plan.primary_key:
        defaults["primary_key"] = plan.primary_key
    if plan.cursor_field:
        defaults["cursor_field"] = plan.cursor_field
    return {
        "stream": plan.stream.name,
        "options": {
            "sync_modes": ["full_refresh", "incremental"] if plan.incremental else ["full_refresh"],
            "destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
        "defaults": defaults,
        "fields": defs,
    }


def model_sql(source: str, plan: StreamPlan) -> str:
    name = plan.stream.name
    columns = [*plan.columns, "_airbyte_extracted_at"]
    select = ",\n".join(f"    {c}" for c in columns)
    return (
        f"{{{{ config(tags=['core', '{source}__{name}'], materialized='table') }}}}\n\n"
        f"select\n{select}\nfrom {{{{ source('{source}', '{name}') }}}}\n"
    )


def build_tree(out: Path, connector: Connector, form: str, limit: int | None) -> list[StreamPlan]:
    """A Lotus Lake tree at `out/orchestration` with one Airbyte source; returns its streams."""
    source = connector.name.replace("-", "_")
    if out.exists():
        shutil.rmtree(out)
    orch = out / "orchestration"
    streams = connector.streams[:limit] if limit else connector.streams
    plans = [plan_stream(stream, i) for i, stream in enumerate(streams)]
    for plan in plans:
        defs = field_defs(plan.stream, form)
        name = plan.stream.name
        generate_tree.write_json(orch / f"assets/streams/{source}/{name}.json",
                                 stream_config(plan, defs))
        generate_tree.write_json(orch / f"assets/sources/{source}/{name}.json",
                                 source_schema(plan, defs))
        generate_tree.write(orch / f"assets/core/{source}/int_{source}__{name}.sql",
                            model_sql(source, plan))
    specs = [_TableSpec(plan.stream.name) for plan in plans]
    generate_tree.write(orch / f"assets/core/{source}/_{source}__sources.yml",
                        generate_tree.sources_yml(source, specs, False))  # type: ignore[arg-type]
    generate_tree.write(orch / "dbt_project.yml", generate_tree.dbt_project([source]).replace(
        "  - assets/marts\n", ""))
    generate_tree.write(orch / "profiles.yml", generate_tree.PROFILES)
    generate_tree.write(orch / ".gitignore", "target/\ndbt_packages/\nlogs/\n*.duckdb\n")
    for name, text in generate_tree.terraform_files([source]).items():
        generate_tree.write(orch / f"airbyte/terraform/{name}", text)
    shutil.copyfile(generate_tree.REFERENCE_GENERATOR, orch / "airbyte" / "generate-catalog.py")
    generate_tree.write(out / ".gitignore", ".lotus_check_cache/\n")
    return plans


@dataclass
class _TableSpec:
    """What generate_tree.sources_yml reads of a stream: its name."""

    name: str


def generate_catalogs(out: Path) -> str | None:
    """Run the tree's own generator; the last line of its output if it failed."""
    proc = subprocess.run(
        [sys.executable, str(out / "orchestration" / "airbyte" / "generate-catalog.py")],
        check=False, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode == 0:
        return None
    lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit {proc.returncode}"


# ---- running lotus-check -------------------------------------------------------------------


@dataclass
class TreeResult:
    connector: str
    version: str
    form: str
    streams: int
    skipped: dict[str, str]
    generator_error: str | None
    exit_code: int
    findings: list[dict[str, Any]]
    files_checked: int
    stderr: str
    seconds: float


def run_lotus_check(out: Path) -> tuple[int, dict[str, Any] | None, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "lotus_checks", "--root", str(out),
         "--output-format", "json", "--no-cache"],
        check=False, capture_output=True, text=True, timeout=900, cwd=out,
    )
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        data = None
    return proc.returncode, data, proc.stderr.strip()


def measure(connector: Connector, form: str, work: Path, limit: int | None) -> TreeResult:
    out = work / f"{connector.name}-{form}"
    plans = build_tree(out, connector, form, limit)
    generator_error = generate_catalogs(out)
    generate_tree.git_commit(out)
    start = time.perf_counter()
    exit_code, data, stderr = run_lotus_check(out)
    seconds = time.perf_counter() - start
    return TreeResult(
        connector.name, connector.version, form, len(plans), dict(connector.skipped),
        generator_error, exit_code, (data or {}).get("findings", []),
        (data or {}).get("files_checked", 0),
        stderr if data is None or exit_code == 2 else "",
        seconds,
    )


# ---- the doc -------------------------------------------------------------------------------


def justify(finding: dict[str, Any]) -> str | None:
    for code, pattern, reason in JUSTIFICATIONS:
        if finding["code"] == code and re.search(pattern, finding["message"]):
            return reason
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _location(f: dict[str, Any]) -> str:
    parts = [f["path"] or "(repo)"]
    if f.get("line"):
        parts.append(str(f["line"]))
    return ":".join(parts)


def message_shape(finding: dict[str, Any]) -> str:
    """A finding's message with its names, paths and values blanked: one line per shape."""
    message = re.sub(r"^\$[^:]*: ", "$…: ", finding["message"])
    message = re.sub(r"`[^`]*`", "`…`", message)
    message = re.sub(r"\{.*\}|\[.*\]", "…", message)
    message = re.sub(r"'[^']*'", "'…'", message)
    return re.sub(r"\d+", "N", message)


def classes_section(results: list[TreeResult], severity: str) -> list[str]:
    """Every finding of `severity` in every tree, grouped by rule and message shape."""
    counts: Counter[tuple[str, str]] = Counter()
    trees: dict[tuple[str, str], set[str]] = {}
    files: dict[tuple[str, str], Counter[str]] = {}
    example: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        for f in r.findings:
            if (f["severity"] == "error") != (severity == "error"):
                continue
            key = (f["code"], message_shape(f))
            counts[key] += 1
            trees.setdefault(key, set()).add(f"{r.connector}/{r.form}")
            files.setdefault(key, Counter())[f"{r.connector}/{r.form}/{f['path']}"] += 1
            example.setdefault(key, f)
    if not counts:
        return []
    title = "Errors" if severity == "error" else "Warnings"
    lines = [f"## {title} by class", "",
             (f"Every {severity} of every tree, its message with names and values blanked; "
              "\"most in a file\" is the largest number of them in one file."), "",
             "| rule | message shape | findings | trees | most in a file | first example |"
             + (" true platform failure? |" if severity == "error" else ""),
             "|---|---|---|---|---|---|" + ("---|" if severity == "error" else "")]
    for key, count in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1])):
        f = example[key]
        row = (f"| {key[0]} | {_cell(key[1])} | {count} | {len(trees[key])} | "
               f"{max(files[key].values())} | `{_cell(_location(f))}`: {_cell(f['message'])} |")
        if severity == "error":
            reason = justify(f)
            row += f" {_cell(reason) if reason else '**unjustified**'} |"
        lines.append(row)
    return [*lines, ""]


def tree_section(result: TreeResult, max_listed: int | None = MAX_LISTED_ERRORS) -> str:
    errors = [f for f in result.findings if f["severity"] == "error"]
    warnings = [f for f in result.findings if f["severity"] != "error"]
    lines = [
        f"### {result.connector} {result.version}, `{result.form}` form",
        "",
        (f"{result.streams} streams, {result.files_checked} files checked; lotus-check exit "
         f"{result.exit_code}: **{len(errors)} errors**, {len(warnings)} warnings."),
        "",
    ]
    if result.generator_error:
        lines += [f"The reference generator failed on this tree: `{_cell(result.generator_error)}`", ""]
    if result.stderr:
        lines += [f"lotus-check said on stderr: `{_cell(result.stderr.splitlines()[-1])}`", ""]
    if result.findings:
        by_rule = Counter((f["code"], f["severity"]) for f in result.findings)
        files = {key: len({f["path"] for f in result.findings
                           if (f["code"], f["severity"]) == key}) for key in by_rule}
        lines += ["| rule | severity | findings | files |", "|---|---|---|---|"]
        for (code, severity), count in sorted(by_rule.items()):
            lines.append(f"| {code} | {severity} | {count} | {files[(code, severity)]} |")
        lines.append("")
    if errors:
        listed = errors if max_listed is None else errors[:max_listed]
        lines += ["| where | rule | message | true platform failure? |", "|---|---|---|---|"]
        for f in listed:
            reason = justify(f)
            lines.append(
                f"| `{_cell(_location(f))}` | {f['code']} | {_cell(f['message'])} | "
                f"{_cell(reason) if reason else '**unjustified**'} |"
            )
        if len(errors) > len(listed):
            unjustified = sum(1 for f in errors[len(listed):] if justify(f) is None)
            lines.append(f"| ... | | {len(errors) - len(listed)} more errors "
                         f"({unjustified} unjustified): `python bench/precision.py --all-errors` "
                         "lists them | |")
        lines.append("")
    return "\n".join(lines)


def render_doc(results: list[TreeResult], revision: str,
               max_listed: int | None = MAX_LISTED_ERRORS) -> str:
    head = [
        "<!-- Generated by bench/precision.py; do not edit. Regenerate: python bench/precision.py -->",
        "# Precision on public Airbyte connectors",
        "",
        ("Regenerate with `python bench/precision.py` (see `bench/README.md`). Each public "
        "connector package is turned into two Lotus Lake trees, one per form of field "
        "definitions (`raw`: the connector's JSON Schema as it is; `items-map`: what a discovery "
        "script writes, an array of objects with its `items` as a map of field name to field "
        "definition), its catalog regenerated by the reference generator, and every check run. "
        "Every tree is a correct platform: the schemas are the connector's own, the configs "
        "select fields the source offers, every model reads selected columns of its stream. "
        "So an error is false unless the table below it gives the reason it is a true platform "
        "failure; an unexplained one is marked **unjustified**."),
        "",
        f"Measured at {revision}.",
        "",
        "## Summary",
        "",
        ("| connector | version | form | streams | generator | errors | unjustified errors | "
         "warnings | rules with errors |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        errors = [f for f in r.findings if f["severity"] == "error"]
        unjustified = sum(1 for f in errors if justify(f) is None)
        warnings = len(r.findings) - len(errors)
        codes = ", ".join(sorted({f["code"] for f in errors})) or "-"
        generator = "failed" if r.generator_error else "ran"
        head.append(f"| {r.connector} | {r.version} | {r.form} | {r.streams} | {generator} | "
                    f"{len(errors)} | {unjustified} | {warnings} | {codes} |")
    head.append("")
    skipped_lines = []
    seen = set()
    for r in results:
        if r.connector in seen or not r.skipped:
            continue
        seen.add(r.connector)
        items = "; ".join(f"`{name}` ({why})" for name, why in sorted(r.skipped.items()))
        skipped_lines.append(f"- {r.connector}: {items}")
    if skipped_lines:
        head += ["Streams left out (no static schema to build from):", "", *skipped_lines, ""]
    if JUSTIFICATIONS:
        head += ["## Why an error is a true platform failure", "",
                 "| rule | message matches | reason |", "|---|---|---|"]
        head += [f"| {c} | `{_cell(p)}` | {_cell(r)} |" for c, p, r in JUSTIFICATIONS]
        head.append("")
    head += classes_section(results, "error")
    head += classes_section(results, "warning")
    head += ["## Per connector and form", ""]
    sections = [tree_section(r, max_listed) for r in results]
    return "\n".join(head + sections).rstrip() + "\n"


def revision() -> str:
    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", *args], check=False, cwd=REPO_ROOT, capture_output=True, text=True
        )
        return proc.stdout.strip()

    rev = git("rev-parse", "--short", "HEAD") or "an unknown revision"
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "lotus_checks",
                                                 "orchestration/airbyte") else ""
    return f"`{rev}`{dirty}, {dt.date.today().isoformat()}"


# ---- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connectors", default=",".join(DEFAULT_CONNECTORS),
                        help="comma-separated connector names (airbyte-source-<name>)")
    parser.add_argument("--limit-streams", type=int, default=None, metavar="N",
                        help="only the first N streams (by name) of each connector")
    parser.add_argument("--offline", action="store_true", help="use cached packages only")
    parser.add_argument("--work", type=Path, default=OUT, help="cache and trees (default: %(default)s)")
    parser.add_argument("--doc", type=Path, default=DOC, help="output (default: %(default)s)")
    parser.add_argument("--no-doc", action="store_true", help="write only the results JSON")
    parser.add_argument("--all-errors", action="store_true",
                        help=f"list every error of a tree (default: the first {MAX_LISTED_ERRORS})")
    args = parser.parse_args(argv)

    connectors = [c.strip() for c in args.connectors.split(",") if c.strip()]
    results: list[TreeResult] = []
    for name in connectors:
        try:
            wheel = fetch(name, args.work / "wheels", args.offline)
        except FetchError as exc:
            print(f"precision: {exc}", file=sys.stderr)
            return 2
        connector = read_connector(name, wheel)
        for form in FORMS:
            result = measure(connector, form, args.work / "trees", args.limit_streams)
            errors = sum(1 for f in result.findings if f["severity"] == "error")
            print(f"{name} {connector.version} {form}: {result.streams} streams, {errors} errors, "
                  f"{len(result.findings) - errors} warnings ({result.seconds:.1f}s)")
            results.append(result)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "latest.json").write_text(
        json.dumps([r.__dict__ for r in results], indent=1) + "\n", encoding="utf-8")
    # A run whose JSON could not be read measured nothing: never written up as "0 errors".
    broken = [r for r in results if r.exit_code == 2 or (r.exit_code == 1 and not r.findings)]
    for r in broken:
        print(f"precision: lotus-check failed on {r.connector} {r.form} (exit {r.exit_code}): "
              f"{r.stderr or 'no JSON on stdout'}", file=sys.stderr)
    if broken:
        return 1
    if not args.no_doc:
        max_listed = None if args.all_errors else MAX_LISTED_ERRORS
        args.doc.write_text(render_doc(results, revision(), max_listed), encoding="utf-8")
        print(f"Wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
