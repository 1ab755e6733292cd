"""LL1xx: naming. Dagster, dbt tags, the catalog generator and every cross-file check find things
by name, so a misnamed file is not cosmetic: it is a model nobody selects, a stream nobody syncs.

Model names are `<layer>_<source>__<entity>` in a source's folder (`int_shopify__orders` in
`core/shopify/`), and `<layer>_<entity>` for marts in subject-area folders (`marts/sales/
fct_sales.sql`). `fct` and `dim` are mart layers; every other configured layer (default `stg`,
`int`) is a per-source layer.

These are conventions: a name that departs from them breaks nothing by itself (dbt builds the
model, Dagster selects it by tag), so the rules are warnings, and each applies only once the repo
has adopted its convention (some file already follows it). What does break when a name is
wrong is reported where it breaks: a stream with no model (LL302), a missing tag (LL303), a
`source()` or `ref()` that does not resolve (LL403, LL404).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.loaders import JsonDoc
from lotus_checks.core.rules import Rule
from lotus_checks.repo.model import Model

MART_LAYERS = frozenset({"fct", "dim"})
SNAKE_CASE_RE = re.compile(r"[a-z0-9]+(?:_+[a-z0-9]+)*")

LL101 = Rule(
    "LL101",
    "model-name-source",
    "Model in a source folder is not named `<layer>_<source>__<entity>`",
    severity=Severity.WARNING,
    explanation="""A per-source model (`stg_`, `int_`) in a source's folder is named
`<layer>_<source>__<entity>`, with `<source>` equal to the folder: the double underscore
separates the source from the entity, and the stream tag, the sources file and the coverage
checks all rely on it. A model named otherwise still builds; the coverage checks then cannot
tell which stream it is for (a stream left without a model is LL302's error).

Applies once the repo uses the convention: some model in a source folder is named
`<layer>_<folder>__<entity>`. A repo whose models are all named otherwise gets nothing.

Fires on `core/shopify/int_shopify_orders.sql` (single underscore) and on
`core/shopify/int_klaviyo__orders.sql` (another source's name).

Fix: `core/shopify/int_shopify__orders.sql` (or move the klaviyo model to `core/klaviyo/`).""",
)
LL102 = Rule(
    "LL102",
    "unknown-layer",
    "Model name does not start with a known layer prefix",
    severity=Severity.WARNING,
    explanation="""Every model name starts with its layer: `stg_`, `int_`, `fct_` or `dim_` by
default (config key `layers`). A model without one is invisible to layer-based selection and
breaks the naming the other checks rely on; dbt still builds it.

Applies once the repo uses layer prefixes for that kind of folder: some model in a source
folder starts with a configured layer (for the models in source folders), or some model in
another folder does (for marts and the rest). A repo whose marts are `fct_`/`dim_` while its
per-source models are named `shopify_orders` gets nothing on the latter.

Fires on `core/shopify/intx_shopify__orders.sql` and `core/shopify/orders.sql`.

Fix: `core/shopify/int_shopify__orders.sql`.""",
)
LL103 = Rule(
    "LL103",
    "model-layer-folder",
    "Model layer does not belong in this folder",
    severity=Severity.WARNING,
    explanation="""Marts (`fct_`, `dim_`) combine sources and live in subject-area folders
(`marts/sales/fct_sales.sql`); per-source models (`stg_`, `int_`) live in their source's folder
(`core/shopify/int_shopify__orders.sql`). A mart in a source folder, or a per-source model in a
subject-area folder, is in the wrong place: it gets the wrong tags, the wrong schema and the
wrong owners. dbt still builds it: a warning.

Fires on `core/shopify/fct_orders.sql` and on `marts/sales/int_shopify__orders.sql`.

Fix: `marts/sales/fct_orders.sql` and `core/shopify/int_shopify__orders.sql`.""",
)
LL104 = Rule(
    "LL104",
    "stream-name-mismatch",
    "Stream config file name differs from its `stream` key",
    explanation="""The file stem of a stream config is the stream's name everywhere else (source
schema, model name, tag); the `stream` key is what Airbyte syncs. They must be equal.

Fires on `streams/shopify/orders.json` containing `{"stream": "order", ...}`.

Fix: `{"stream": "orders", ...}` (or rename the file to `order.json` if that is the stream).""",
)
LL105 = Rule(
    "LL105",
    "source-schema-name-mismatch",
    "Source schema file name differs from its `stream` key",
    explanation="""A source schema is found by its file name (`sources/<source>/<stream>.json`),
so its stem must equal the `stream` it describes.

Fires on `sources/shopify/orders.json` containing `{"stream": "customers", ...}`.

Fix: the right file for the right stream: `{"stream": "orders", ...}`.""",
)
LL106 = Rule(
    "LL106",
    "sources-file-name",
    "dbt sources file misnamed or declaring another source",
    severity=Severity.WARNING,
    explanation="""A source's dbt sources file is named `_<source>__sources.yml` (config key
`sources-file`) and declares the source named like its folder; `source('shopify', ...)` is
resolved through it. A YAML file with a top-level `sources:` key counts as a sources file.
dbt reads sources from any YAML file under `model-paths`, so a departure is a warning; a
`source()` that no file declares is LL404's error.

Each part applies once the repo uses it: the file name once some source folder's sources file
is named by the pattern, the source name once some sources file declares its folder's source.

Fires on `core/shopify/sources.yml`, and on `core/shopify/_shopify__sources.yml` with
`sources: [{name: shopify_raw, ...}]`.

Fix: `core/shopify/_shopify__sources.yml` with `sources: [{name: shopify, ...}]`.""",
)
LL107 = Rule(
    "LL107",
    "not-snake-case",
    "Name is not snake_case",
    severity=Severity.WARNING,
    explanation="""Source folders and model names are snake_case (lowercase letters, digits,
underscores): they become SQL identifiers, dbt tags, S3 prefixes and Dagster asset keys, where
case and hyphens need quoting or silently differ. dbt and Dagster accept them quoted: a warning.

Model names are checked once the repo names models in that kind of folder (source folders,
other folders) in snake_case: a repo whose models are all `CamelCase` gets nothing.

Stream names and field names are not checked: they are whatever the source calls them (Airbyte
syncs a stream by the name the source gives it, so renaming `Account.json` would break the
sync).

Fires on `streams/Klaviyo/` (a source folder) and `core/shopify/int_shopify__order-lines.sql`.

Fix: `streams/klaviyo/`, `core/shopify/int_shopify__order_lines.sql`.""",
)

RULES = (LL101, LL102, LL103, LL104, LL105, LL106, LL107)


# ---- the model name tokeniser -------------------------------------------------------------------


@dataclass(frozen=True)
class ModelName:
    """`int_shopify__orders` -> layer `int`, source `shopify`, entity `orders`.

    `source` is None when the name has no `__` (marts: `fct_sales`). `str()` gives the name back.
    """

    layer: str
    source: str | None
    entity: str

    def __str__(self) -> str:
        if self.source is None:
            return f"{self.layer}_{self.entity}"
        return f"{self.layer}_{self.source}__{self.entity}"


def split_model_name(name: str) -> ModelName | None:
    """Split at the first `_` (layer) and the first `__` after it (source); None without a `_`."""
    layer, sep, rest = name.partition("_")
    if not sep or not layer:
        return None
    source, sep, entity = rest.partition("__")
    if not sep:
        return ModelName(layer, None, rest)
    return ModelName(layer, source, entity)


def is_snake_case(name: str) -> bool:
    return SNAKE_CASE_RE.fullmatch(name) is not None


def to_snake_case(name: str) -> str:
    """`OrderRefunds` -> `order_refunds`, `order-lines` -> `order_lines` (a suggestion only)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()
    return text or name.lower()


# ---- entry point ----------------------------------------------------------------------------------


def check(ctx: CheckContext) -> Iterator[Finding]:
    yield from _source_folders(ctx)
    yield from _stream_files(ctx)
    yield from _source_schema_files(ctx)
    yield from _models(ctx)
    yield from _sources_files(ctx)


def _source_folders(ctx: CheckContext) -> Iterator[Finding]:
    for base, names in ((ctx.config.streams, ctx.repo.stream_sources),
                        (ctx.config.sources, ctx.repo.schema_sources)):
        for name in names:
            if not is_snake_case(name):
                yield LL107.finding(
                    f"{base}/{name}",
                    message=f"source folder `{name}` is not snake_case",
                    hint=f"rename it to `{to_snake_case(name)}` (in every folder of this source)",
                )


def _stream_key(ctx: CheckContext, path: str) -> tuple[str, JsonDoc] | None:
    """The `stream` value of a JSON file and the file; None if unreadable or not a string.

    The position is looked up only for a finding: it indexes the whole document."""
    doc = ctx.repo.json(path)
    if doc is None or not isinstance(doc.data, dict) or not isinstance(doc.data.get("stream"), str):
        return None  # LL0xx or LL501 report it
    return doc.data["stream"], doc


def _stream_files(ctx: CheckContext) -> Iterator[Finding]:
    for stream in ctx.repo.streams:
        yield from _stream_file(
            ctx, LL104, stream.config_path, stream.name, "stream config",
            lambda name, key: f'set "stream": "{name}", or rename the file to `{key}.json` '
            "(with its source schema and model)",
        )


def _source_schema_files(ctx: CheckContext) -> Iterator[Finding]:
    for schema in ctx.repo.source_schemas:
        yield from _stream_file(
            ctx, LL105, schema.path, schema.name, "source schema",
            lambda name, key: f'set "stream": "{name}" if the file describes that stream, '
            f"else rename the file to `{key}.json`",
        )


def _stream_file(
    ctx: CheckContext, rule: Rule, path: str, name: str, kind: str,
    hint: Callable[[str, str], str],
) -> Iterator[Finding]:
    """A stream config or source schema: a `stream` key equal to its file name. (Its case is the
    source's: not checked.)"""
    if not ctx.in_scope(path):
        return
    key = _stream_key(ctx, path)
    if key is not None and key[0] != name:
        line, column = key[1].position(("stream",))
        yield rule.finding(
            path, line, column, f"{kind} `{name}.json` says \"stream\": \"{key[0]}\"",
            hint=hint(name, key[0]),
        )


# ---- models -------------------------------------------------------------------------------------


def _models(ctx: CheckContext) -> Iterator[Finding]:
    layers = ctx.config.layers
    adopted = _model_conventions(ctx.repo.models, layers)
    for model in ctx.repo.models:
        if not ctx.in_scope(model.path):
            continue
        kind = _folder_kind(model)
        if not is_snake_case(model.name):
            if (kind, "snake_case") in adopted:
                yield LL107.finding(
                    model.path,
                    message=f"model name `{model.name}` is not snake_case",
                    hint=f"rename it to `{to_snake_case(model.name)}.sql`",
                )
            continue  # the other rules would only repeat this in other words
        parts = split_model_name(model.name)
        if parts is None or parts.layer not in layers:
            if (kind, "layers") in adopted:
                yield _unknown_layer(model, parts, layers)
            continue
        for finding in _model_in_folder(model, parts, layers):
            if finding.code != "LL101" or ("source", "source-part") in adopted:
                yield finding


def _folder_kind(model: Model) -> str:
    """"source" for a model in a source's folder, "area" for the others (marts' subject areas):
    a repo may name marts by layer (`fct_sales`) and its per-source models its own way."""
    return "source" if model.source is not None else "area"


def _model_conventions(models: list[Model], layers: tuple[str, ...]) -> set[tuple[str, str]]:
    """The model-name conventions some model of a kind of folder (`_folder_kind`) already
    follows there: "snake_case", "layers" (a known layer prefix), "source-part"
    (`<layer>_<folder>__<entity>` in a source folder)."""
    adopted = set()
    for model in models:
        kind = _folder_kind(model)
        if not is_snake_case(model.name):
            continue
        adopted.add((kind, "snake_case"))
        parts = split_model_name(model.name)
        if parts is None or parts.layer not in layers:
            continue
        adopted.add((kind, "layers"))
        if model.source is not None and parts.source == model.source and parts.entity:
            adopted.add(("source", "source-part"))
    return adopted


def _unknown_layer(model: Model, parts: ModelName | None, layers: tuple[str, ...]) -> Finding:
    prefix = parts.layer if parts is not None else ""
    close = difflib.get_close_matches(prefix, layers, n=1) if prefix else []
    if close and parts is not None:
        suggestion = str(ModelName(close[0], parts.source, parts.entity))
    else:
        per_source = [layer for layer in layers if layer not in MART_LAYERS]
        default = "int" if "int" in per_source else next(iter(per_source), None)
        entity = model.name
        if model.source and entity.startswith(model.source + "_"):
            entity = entity[len(model.source):].lstrip("_") or entity  # `shopify_orders`
        suggestion = f"{default}_{model.source}__{entity}" if model.source and default else ""
    hint = f"rename it to `{suggestion}.sql`; " if suggestion else ""
    hint += "layers: " + ", ".join(f"{layer}_" for layer in layers) + " (config key `layers`)"
    what = f"prefix `{prefix}_`" if prefix else "no layer prefix"
    return LL102.finding(
        model.path, message=f"model `{model.name}` has {what}, not a known layer", hint=hint
    )


def _model_in_folder(model: Model, parts: ModelName, layers: tuple[str, ...]) -> Iterator[Finding]:
    is_mart = parts.layer in MART_LAYERS
    # An area folder named like the model's source is a source folder without stream configs
    # (a source loaded some other way): treat it as the source folder it is.
    folder_source = model.source or (model.area if model.area and model.area == parts.source else None)
    if folder_source is not None:
        if is_mart:
            yield LL103.finding(
                model.path,
                message=f"mart `{model.name}` is in the source folder `{folder_source}`",
                hint="marts combine sources and live in a subject-area folder, e.g. "
                f"`marts/<area>/{model.name}.sql`",
            )
        else:
            yield from _source_part(model, parts, folder_source)
    elif model.area and not is_mart:
        where = f"the `{parts.source}` source folder" if parts.source else "its source's folder"
        marts = ", ".join(f"{layer}_" for layer in layers if layer in MART_LAYERS)
        yield LL103.finding(
            model.path,
            message=f"per-source model `{model.name}` is in the subject-area folder `{model.area}`",
            hint=f"move it to {where}" + (f", or name it as a mart ({marts})" if marts else ""),
        )


def _source_part(model: Model, parts: ModelName, folder: str) -> Iterator[Finding]:
    if parts.source == folder and parts.entity:
        return
    if parts.source is None:
        rest = parts.entity
        entity = rest[len(folder) + 1:] if rest.startswith(f"{folder}_") else rest
        problem = "has no `__` between source and entity"
    elif parts.source != folder:
        entity = parts.entity
        problem = f"names the source `{parts.source}`, but it is in the `{folder}` folder"
    else:
        entity = ""
        problem = "has no entity after `__`"
    expected = f"{parts.layer}_{folder}__{entity or '<entity>'}"
    hint = f"rename it to `{expected}.sql`"
    if parts.source is not None and parts.source != folder and parts.source:
        hint += f", or move it to the `{parts.source}` folder if it belongs to that source"
    yield LL101.finding(
        model.path,
        message=f"model `{model.name}` {problem} (expected `{parts.layer}_{folder}__<entity>`)",
        hint=hint,
    )


# ---- dbt sources files --------------------------------------------------------------------------


def _sources_files(ctx: CheckContext) -> Iterator[Finding]:
    known = set(ctx.repo.sources)
    files = []
    for path in ctx.repo.model_yaml_files:
        folder = _source_folder(ctx, path, known)
        if folder is None:
            continue
        doc = ctx.repo.yaml(path)
        if doc is None or not isinstance(doc.data, dict) or "sources" not in doc.data:
            continue  # not a sources file (a schema file, or broken: LL005)
        files.append((path, folder, doc))
    # The conventions some sources file already follows (LL106 applies only to those).
    named = any(p.rsplit("/", 1)[-1] == ctx.config.sources_file.replace("{source}", f)
                for p, f, _ in files)
    declares_folder = any(folder in _source_names(doc) for _, folder, doc in files)
    for path, folder, doc in files:
        if not ctx.in_scope(path):
            continue
        expected = ctx.config.sources_file.replace("{source}", folder)
        name = path.rsplit("/", 1)[-1]
        if name != expected and named:
            yield LL106.finding(
                path,
                message=f"sources file of `{folder}` is named `{name}`, expected `{expected}`",
                hint=f"rename it to `{expected}` (config key `sources-file`)",
            )
        if declares_folder:
            yield from _declared_sources(path, doc, folder)


def _source_names(doc: Any) -> list[Any]:
    entries = doc.data["sources"]
    return [e.get("name") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _source_folder(ctx: CheckContext, path: str, known: set[str]) -> str | None:
    """The source whose model folder holds `path` (`core/shopify/x.yml` -> shopify), else None."""
    for base in ctx.config.models:
        if path.startswith(base + "/"):
            rest = path[len(base) + 1:].split("/")
            if len(rest) > 1 and rest[0] in known:
                return rest[0]
    return None


def _declared_sources(path: str, doc: Any, folder: str) -> Iterator[Finding]:
    entries = doc.data["sources"]
    if not isinstance(entries, list):
        return  # dbt reports a malformed file itself; nothing about names to say
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    for i, name in enumerate(names):
        if isinstance(name, str) and name != folder:
            line, column = doc.position(("sources", i, "name"))
            yield LL106.finding(
                path, line, column,
                f"sources file in the `{folder}` folder declares the source `{name}`",
                hint=f"name it `{folder}` (models call source('{folder}', ...)), or move it to "
                f"the `{name}` folder",
            )
    if folder not in names and not any(isinstance(n, str) for n in names):
        line, column = doc.position(("sources",))
        yield LL106.finding(
            path, line, column,
            f"sources file in the `{folder}` folder declares no source named `{folder}`",
            hint=f"add `- name: {folder}` under `sources:`",
        )
