#!/usr/bin/env python3
"""Generate a synthetic Lotus Lake tree for benchmarks.

    python bench/generate_tree.py --sources 20 --streams 25 --seed 1 --out /tmp/lake-m

writes `<out>/orchestration/...` in the default Lotus Lake layout (the same conventions as the
bundled reference tree in `orchestration/`): per source, stream configs selecting a subset of the
source schema's fields (nested objects, arrays of objects), one dbt model per stream written in
one of the patterns real models use (`source()`, `read_parquet` on the raw S3 path or on
`var("files")`, CTEs with `select *`, `qualify`, `unnest`, JSON operators, an `is_incremental()`
block), a dbt sources file, catalogs made by the reference catalog generator (copied into the
tree and run), `dbt_project.yml` listing each source's model folder, a DuckDB `profiles.yml`,
Terraform with one connection per Airbyte source, and two marts that `ref()` core models.

The output depends only on the arguments: the same seed gives the same bytes. Every column a
model reads exists in its stream config (or is a metadata/partition column its read provides),
so the tree is meant to be clean under `lotus-check` and to pass `dbt parse`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_GENERATOR = REPO_ROOT / "orchestration" / "airbyte" / "generate-catalog.py"

# Vendor-like source names; past the end of the list they repeat with a numeric suffix.
SOURCE_NAMES = (
    "shopify", "klaviyo", "stripe", "gorgias", "hubspot", "zendesk", "salesforce", "intercom",
    "mailchimp", "recharge", "netsuite", "quickbooks", "xero", "jira", "github", "asana",
    "notion", "airtable", "braze", "mixpanel", "amplitude", "pipedrive", "freshdesk", "chargebee",
    "typeform",
)
STREAM_NAMES = (
    "orders", "customers", "products", "invoices", "charges", "subscriptions", "refunds",
    "transactions", "fulfillments", "tickets", "events", "campaigns", "flows", "lists",
    "profiles", "contacts", "companies", "deals", "accounts", "users", "messages",
    "conversations", "payments", "payouts", "disputes", "coupons", "discounts", "carts",
    "checkouts", "collections", "inventory_items", "locations", "shipments", "returns",
    "reviews", "segments", "metrics", "forms", "emails", "calls", "tasks", "notes", "projects",
    "issues", "comments",
)
# Every 4th source (the 3rd, 7th, ...) is loaded by dlt: no catalog, no Terraform connection.
DLT_EVERY = 4

# (name, JSON type, format)
SCALARS = (
    ("status", "string", None), ("name", "string", None), ("email", "string", None),
    ("amount", "integer", None), ("currency", "string", None), ("quantity", "integer", None),
    ("title", "string", None), ("note", "string", None), ("priority", "string", None),
    ("channel", "string", None), ("source_name", "string", None), ("phone", "string", None),
    ("country_code", "string", None), ("locale", "string", None), ("score", "number", None),
    ("total_price", "number", None), ("subtotal_price", "number", None),
    ("total_tax", "number", None), ("total_discounts", "number", None),
    ("is_archived", "boolean", None), ("test", "boolean", None), ("url", "string", None),
    ("handle", "string", None), ("vendor", "string", None), ("kind", "string", None),
    ("external_id", "string", None), ("reference", "string", None), ("balance", "integer", None),
    ("processed_at", "string", "date-time"), ("closed_at", "string", "date-time"),
    ("cancelled_at", "string", "date-time"), ("published_at", "string", "date-time"),
    ("due_date", "string", "date"), ("weight", "number", None), ("rating", "integer", None),
    ("language", "string", None), ("timezone", "string", None), ("subject", "string", None),
    ("body", "string", None), ("owner_id", "integer", None), ("parent_id", "integer", None),
    ("position_index", "integer", None), ("verified", "boolean", None),
)
# (name, {property: type}, nested object (name, {property: type}) or None)
OBJECTS = (
    ("customer", {"id": "integer", "email": "string", "first_name": "string",
                  "last_name": "string", "orders_count": "integer"}, None),
    ("billing_address", {"city": "string", "country_code": "string", "zip": "string",
                         "province_code": "string", "address1": "string"}, None),
    ("shipping_address", {"city": "string", "country_code": "string", "zip": "string",
                          "province_code": "string"}, None),
    ("metadata", {"origin": "string", "shopify_customer_id": "string", "campaign": "string"},
     None),
    ("attributes", {"name": "string", "status": "string", "archived": "boolean",
                    "created": "string"}, ("location", {"city": "string", "region": "string",
                                                        "country": "string"})),
    ("outcome", {"risk_level": "string", "network_status": "string", "reason": "string"},
     ("rule", {"id": "string", "action": "string"})),
    ("payment_details", {"credit_card_company": "string", "credit_card_bin": "string",
                         "gateway": "string"}, None),
    ("stats", {"views": "integer", "clicks": "integer", "conversion_rate": "number"},
     ("period", {"starts_on": "string", "ends_on": "string"})),
)
# (name, item properties)
ARRAYS = (
    ("line_items", {"id": "integer", "sku": "string", "quantity": "integer", "price": "number",
                    "product_id": "integer"}),
    ("tags", {"id": "integer", "name": "string"}),
    ("discount_codes", {"code": "string", "amount": "number", "type": "string"}),
    ("notes_list", {"author": "string", "body": "string", "created_at": "string"}),
    ("channels", {"type": "string", "address": "string", "preferred": "boolean"}),
)

AIRBYTE_META = ("_airbyte_extracted_at", "_airbyte_raw_id")
DLT_META = ("_dlt_load_id", "_dlt_id")
PATTERNS = ("source_incremental", "files_ctes", "s3_unnest", "source_json", "s3_direct",
            "files_incremental")


@dataclass
class StreamSpec:
    source: str
    name: str
    dlt: bool
    schema_fields: dict[str, Any]
    selected: list[str]
    sync_mode: str
    destination_sync_mode: str
    cursor: str | None
    pattern: str
    # Output columns of its model, filled when the model is written (marts read them).
    outputs: list[str] = field(default_factory=list)

    @property
    def singular(self) -> str:
        base = self.name.removesuffix("s")
        return base[:-2] + "y" if base.endswith("ie") else base

    @property
    def model(self) -> str:
        return f"int_{self.source}__{self.name}"

    @property
    def meta(self) -> tuple[str, str]:
        return DLT_META if self.dlt else AIRBYTE_META


def source_names(count: int) -> list[str]:
    out = []
    for i in range(count):
        base = SOURCE_NAMES[i % len(SOURCE_NAMES)]
        out.append(base if i < len(SOURCE_NAMES) else f"{base}_{i // len(SOURCE_NAMES) + 1}")
    return out


def base_source(name: str) -> str:
    head, _, tail = name.rpartition("_")
    return head if tail.isdigit() else name


# ---- schemas -------------------------------------------------------------------------------


def scalar_def(kind: str, fmt: str | None, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind}
    if description:
        out["description"] = description
    if fmt:
        out["format"] = fmt
    return out


def object_def(props: dict[str, str], nested: tuple[str, dict[str, str]] | None,
               description: str) -> dict[str, Any]:
    properties: dict[str, Any] = {p: {"type": t} for p, t in props.items()}
    if nested is not None:
        nested_name, nested_props = nested
        properties[nested_name] = {
            "type": "object",
            "properties": {p: {"type": t} for p, t in nested_props.items()},
        }
    return {"type": "object", "description": description, "properties": properties}


def array_def(props: dict[str, str], description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": {"type": "object", "properties": {p: {"type": t} for p, t in props.items()}},
    }


def schema_fields(rng: random.Random, stream: str) -> dict[str, Any]:
    """Every field the source offers for one stream (what discovery returns)."""
    fields: dict[str, Any] = {
        "id": scalar_def("integer", None, f"The ID of the {stream} record."),
        "created_at": scalar_def("string", "date-time", "When the record was created."),
        "updated_at": scalar_def("string", "date-time", "When the record was last modified."),
    }
    for name, kind, fmt in rng.sample(SCALARS, rng.randint(14, 30)):
        fields[name] = scalar_def(kind, fmt, f"The {name.replace('_', ' ')} of the record.")
    for name, props, nested in rng.sample(OBJECTS, rng.randint(2, 4)):
        fields[name] = object_def(props, nested, f"The {name.replace('_', ' ')} object.")
    for name, props in rng.sample(ARRAYS, rng.randint(1, 2)):
        fields[name] = array_def(props, f"A list of {name.replace('_', ' ')}.")
    return fields


def make_stream(rng: random.Random, source: str, name: str, dlt: bool, index: int) -> StreamSpec:
    offered = schema_fields(rng, name)
    optional = [f for f in offered if f not in ("id", "created_at", "updated_at")]
    # Keep every object and array (the model patterns use them) and about 60% of the scalars.
    kept = {f for f in optional if offered[f]["type"] in ("object", "array") or rng.random() < 0.6}
    selected = [f for f in offered if f in ("id", "created_at", "updated_at") or f in kept]
    mode = index % 5
    if dlt:
        sync, dest, cursor = [("incremental", "merge", "updated_at"),
                              ("incremental", "append", "created_at"),
                              ("full_refresh", "replace", None)][mode % 3]
    elif mode == 3:
        sync, dest, cursor = "incremental", "append", "created_at"
    elif mode == 4:
        sync, dest, cursor = "full_refresh", "overwrite", None
    else:
        sync, dest, cursor = "incremental", "append_dedup", "updated_at"
    return StreamSpec(source, name, dlt, offered, selected, sync, dest, cursor,
                      PATTERNS[index % len(PATTERNS)])


def stream_config(spec: StreamSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"stream": spec.name}
    if spec.dlt:
        out["connector"] = "dlt"
        out["schedule"] = "0 */2 * * *"
        out["initial_value"] = "2024-01-01T00:00:00Z"
    out.update({
        "sync_mode": spec.sync_mode,
        "destination_sync_mode": spec.destination_sync_mode,
        "backfill": False,
        "primary_key": [["id"]],
        "cursor_field": [spec.cursor] if spec.cursor else [],
        "selected": True,
        "fields": {f: spec.schema_fields[f] for f in spec.selected},
    })
    return out


def source_schema(spec: StreamSpec) -> dict[str, Any]:
    destinations = ["append", "merge", "replace"] if spec.dlt else [
        "overwrite", "append", "append_dedup"]
    return {
        "stream": spec.name,
        "options": {"sync_modes": ["full_refresh", "incremental"],
                    "destination_sync_modes": destinations},
        "defaults": {"primary_key": [["id"]], "cursor_field": ["updated_at"]},
        "fields": spec.schema_fields,
    }


# ---- models --------------------------------------------------------------------------------


def _kind(spec: StreamSpec, name: str) -> str:
    return spec.schema_fields[name]["type"]


def column_lines(rng: random.Random, spec: StreamSpec, prefix: str) -> list[tuple[str, str]]:
    """(expression, output name) pairs reading the selected fields; `prefix` qualifies them."""
    p = f"{prefix}." if prefix else ""
    out = [(f"{p}id", f"{spec.singular}_id")]
    for name in spec.selected:
        if name == "id":
            continue
        definition = spec.schema_fields[name]
        kind = definition["type"]
        if kind == "string" and name == "email":
            out.append((f"lower({p}email)", "email"))
        elif kind == "integer" and name in ("amount", "balance"):
            out.append((f"{p}{name} / 100.0", name))
        elif kind == "object":
            props = definition["properties"]
            plain = [k for k, v in props.items() if v["type"] != "object"]
            for prop in rng.sample(plain, min(2, len(plain))):
                out.append((f"{p}{name}.{prop}", f"{name}_{prop}"))
            json_prop = plain[-1]
            out.append((f"{p}{name}::JSON->>'$.{json_prop}'", f"{name}_{json_prop}_text"))
            nested = [k for k, v in props.items() if v["type"] == "object"]
            if nested:
                leaf = next(iter(props[nested[0]]["properties"]))
                out.append((f"{p}{name}.{nested[0]}.{leaf}", f"{name}_{nested[0]}_{leaf}"))
                out.append((f"{p}{name}::JSON->>'$.{nested[0]}.{leaf}'",
                            f"{name}_{nested[0]}_{leaf}_text"))
        elif kind == "array":
            first = next(iter(definition["items"]["properties"]))
            out.append((f"len({p}{name})", f"{name}_count"))
            out.append((f"{p}{name}[1].{first}", f"first_{name}_{first}"))
        else:
            out.append((f"{p}{name}", name))
    seen: set[str] = set()
    unique = []
    for expr, alias in out:
        if alias not in seen:
            seen.add(alias)
            unique.append((expr, alias))
    return unique


def render_select(columns: list[tuple[str, str]], indent: str = "    ") -> str:
    lines = []
    for expr, alias in columns:
        same_name = expr == alias or expr.endswith(f".{alias}") and expr.count(".") == 1
        lines.append(indent + (expr if same_name else f"{expr} as {alias}"))
    return ",\n".join(lines)


def config_block(spec: StreamSpec, tag: str, incremental: bool) -> str:
    if not incremental:
        return f"{{{{ config(tags=['core', '{tag}'], materialized='table') }}}}\n"
    return (
        "{{\n  config(\n"
        f"    tags=['core', '{tag}'],\n"
        "    materialized='incremental',\n"
        f"    unique_key='{spec.singular}_id',\n"
        "    incremental_strategy='delete+insert'\n  )\n}}\n"
    )


def dedup_order(spec: StreamSpec) -> str:
    loaded = spec.meta[0]
    return f"{spec.cursor} desc, {loaded} desc" if spec.cursor else f"{loaded} desc"


def model_sql(rng: random.Random, spec: StreamSpec) -> str:
    tag = f"{spec.source}__{spec.name}"
    source_ref = f"{{{{ source('{spec.source}', '{spec.name}') }}}}"
    s3 = (f"read_parquet('s3://landing/raw/{spec.source}/{spec.name}/**/*', "
          "hive_partitioning=true)")
    files = 'read_parquet({{ var("files") }}, filename=true, hive_partitioning=true)'
    loaded, row_id = spec.meta
    qualify = f"qualify row_number() over (partition by id order by {dedup_order(spec)}) = 1"
    incremental_where = (
        "    {% if is_incremental() %}\n"
        f"    where {loaded} > (select max({loaded}) from {{{{ this }}}})\n"
        "    {% endif %}\n"
    )
    arrays = [f for f in spec.selected if _kind(spec, f) == "array"]
    pattern = spec.pattern
    if pattern == "s3_unnest" and not arrays:
        pattern = "s3_direct"

    if pattern == "source_incremental":
        cols = column_lines(rng, spec, "") + [(loaded, loaded), (row_id, row_id)]
        body = (
            f"with raw_{spec.name} as (\n    select *\n    from {source_ref}\n{incremental_where}),\n\n"
            f"deduped as (\n    select *\n    from raw_{spec.name}\n    {qualify}\n)\n\n"
            f"select\n{render_select(cols)}\nfrom deduped\n"
        )
        head = config_block(spec, tag, incremental=True)
        comment = f"-- One row per {spec.singular}, latest version wins.\n"
    elif pattern == "files_ctes":
        cols = column_lines(rng, spec, "") + [("filename", "source_file"),
                                              ("make_date(year::int, month::int, day::int)",
                                               "landed_on")]
        body = (
            f"with landed as (\n    select *\n    from {files}\n),\n\n"
            f"latest as (\n    select *\n    from landed\n    {qualify}\n)\n\n"
            f"select\n{render_select(cols)}\nfrom latest\n"
        )
        head = config_block(spec, tag, incremental=False)
        comment = f"-- Dagster passes the newly landed files of the {spec.name} stream as `files`.\n"
    elif pattern == "s3_unnest":
        array = arrays[0]
        props = list(spec.schema_fields[array]["items"]["properties"])
        cols = [("deduped.id", f"{spec.singular}_id")]
        cols += [(f"item.{prop}", f"item_{prop}") for prop in props]
        cols += [("deduped.created_at", "created_at"), ("year", "partition_year"),
                 ("month", "partition_month")]
        body = (
            f"with deduped as (\n    select *\n    from {s3}\n    {qualify}\n)\n\n"
            f"select\n{render_select(cols)}\nfrom deduped, unnest({array}) as u(item)\n"
        )
        head = config_block(spec, tag, incremental=False)
        comment = f"-- Fan-out of the {spec.name} stream: one row per element of {array}.\n"
    elif pattern == "source_json":
        cols = column_lines(rng, spec, f"latest_{spec.name}") + [
            (f"latest_{spec.name}.{loaded}", loaded)]
        body = (
            f"with latest_{spec.name} as (\n    select *\n    from {source_ref}\n    {qualify}\n)\n\n"
            f"select\n{render_select(cols)}\nfrom latest_{spec.name}\n"
        )
        head = config_block(spec, tag, incremental=False)
        comment = ""
    elif pattern == "s3_direct":
        cols = column_lines(rng, spec, "") + [(loaded, loaded), ("year", "partition_year")]
        body = f"select\n{render_select(cols)}\nfrom {s3}\n{qualify}\n"
        head = config_block(spec, tag, incremental=False)
        comment = ""
    else:  # files_incremental
        cols = column_lines(rng, spec, "") + [(loaded, loaded), ("filename", "source_file")]
        body = (
            f"with landed_{spec.name} as (\n    select *\n    from {files}\n{incremental_where}"
            f"    {qualify}\n)\n\n"
            f"select\n{render_select(cols)}\nfrom landed_{spec.name}\n"
        )
        head = config_block(spec, tag, incremental=True)
        comment = ""
    spec.outputs = [alias for _expr, alias in cols]
    return head + "\n" + comment + body


def marts(specs: list[StreamSpec]) -> dict[str, str]:
    """Two marts reading core models through ref(), as in `marts/sales` and `marts/marketing`."""
    with_email = [s for s in specs if "email" in s.outputs and f"{s.singular}_id" in s.outputs]
    base = specs[0]
    other = next((s for s in specs[1:] if s.source == base.source), specs[-1])
    key_a, key_b = f"{base.singular}_id", f"{other.singular}_id"
    fct = (
        "{{ config(tags=['marts'], materialized='table') }}\n\n"
        f"-- {base.name} of {base.source} with the number of {other.name} records per id.\n"
        f"with {base.name} as (\n    select * from {{{{ ref('{base.model}') }}}}\n),\n\n"
        f"{other.name} as (\n    select\n        {key_b},\n        count(*) as record_count\n"
        f"    from {{{{ ref('{other.model}') }}}}\n    group by {key_b}\n)\n\n"
        "select\n"
        f"    {base.name}.{key_a},\n"
        f"    coalesce({other.name}.record_count, 0) as {other.name}_count\n"
        f"from {base.name}\n"
        f"left join {other.name} on {other.name}.{key_b} = {base.name}.{key_a}\n"
    )
    people = with_email[:3] or [base]
    ctes = []
    selects = []
    for spec in people:
        ctes.append(f"{spec.source}_{spec.name} as (\n    select * from "
                    f"{{{{ ref('{spec.model}') }}}}\n)")
        email = "email" if "email" in spec.outputs else "null as email"
        selects.append(
            f"select\n    '{spec.source}' as origin,\n    {spec.singular}_id as record_id,\n"
            f"    {email}\nfrom {spec.source}_{spec.name}"
        )
    dim = (
        "{{ config(tags=['marts'], materialized='table') }}\n\n"
        "-- People known to several sources, keyed by email.\n"
        "with " + ",\n\n".join(ctes) + "\n\n" + "\n\nunion all\n\n".join(selects) + "\n"
    )
    return {"sales/fct_sales.sql": fct, "marketing/dim_customers.sql": dim}


# ---- dbt, Terraform ------------------------------------------------------------------------


def sources_yml(source: str, specs: list[StreamSpec], dlt: bool) -> str:
    loader = "the dlt pipeline" if dlt else "Airbyte"
    tables = "".join(f"      - name: {s.name}\n        description: The {s.name} stream.\n"
                     for s in specs)
    return (
        "version: 2\n\nsources:\n"
        f"  - name: {source}\n"
        f"    description: {source} streams landed by {loader} as Parquet (hive-partitioned).\n"
        f"    schema: raw_{source}\n"
        "    config:\n      meta:\n"
        "        external_location: \"read_parquet('{{ var(\\\"raw_root\\\", \\\"s3://landing/raw\\\") }}"
        f"/{source}/{{name}}/**/*.parquet', hive_partitioning=true)\"\n"
        f"    tables:\n{tables}"
    )


def dbt_project(sources: list[str]) -> str:
    paths = "".join(f"  - assets/core/{s}\n" for s in sources)
    return (
        'name: lotus_lake\nversion: "1.0.0"\nconfig-version: 2\n\nprofile: lotus_lake\n\n'
        "# One folder per source, listed one by one: a source folder missing here is never built.\n"
        f"model-paths:\n{paths}  - assets/marts\n\n"
        "target-path: target\nclean-targets:\n  - target\n  - dbt_packages\n\n"
        "vars:\n  raw_root: s3://landing/raw\n\n"
        "models:\n  lotus_lake:\n    +materialized: table\n"
    )


PROFILES = """lotus_lake:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('LOTUS_DUCKDB_PATH', 'lotus_lake.duckdb') }}"
      threads: 1
"""

# The destination and provider blocks are the reference tree's own: the generated tree follows
# whatever conventions the bundled Lotus Lake has.
REFERENCE_TERRAFORM = REPO_ROOT / "orchestration" / "airbyte" / "terraform"


def terraform_files(airbyte_sources: list[str]) -> dict[str, str]:
    variables = [
        'variable "airbyte_server_url" {\n  type    = string\n'
        '  default = "http://airbyte-airbyte-server-svc.airbyte:8001/api/public/v1"\n}\n',
        'variable "airbyte_username" {\n  type      = string\n  default   = "airbyte"\n'
        '  sensitive = true\n}\n',
        'variable "airbyte_password" {\n  type      = string\n  sensitive = true\n}\n',
        'variable "workspace_id" {\n  type = string\n}\n',
        'variable "landing_bucket" {\n  type    = string\n  default = "landing"\n}\n',
        'variable "start_date" {\n  type    = string\n  default = "2023-01-01T00:00:00Z"\n}\n',
        # used by the reference main.tf's S3 destination
        'variable "s3_endpoint" {\n  type    = string\n  default = ""\n}\n',
        'variable "s3_access_key_id" {\n  type      = string\n  sensitive = true\n}\n',
        'variable "s3_secret_access_key" {\n  type      = string\n  sensitive = true\n}\n',
    ]
    sources, connections = [], [
        "# One connection per Airbyte source. The sync catalog is generated from the stream "
        "configs:\n#   python orchestration/airbyte/generate-catalog.py\n"
    ]
    for name in airbyte_sources:
        variables.append(f'variable "{name}_api_key" {{\n  type      = string\n'
                         "  sensitive = true\n}\n")
        sources.append(
            f'resource "airbyte_source_{base_source(name)}" "{name}" {{\n'
            f'  name         = "{name}"\n  workspace_id = var.workspace_id\n\n'
            f"  configuration = {{\n    api_key    = var.{name}_api_key\n"
            "    start_date = var.start_date\n  }\n}\n"
        )
        connections.append(
            f'resource "airbyte_connection" "{name}" {{\n'
            f'  name                 = "{name} -> landing"\n'
            f"  source_id            = airbyte_source_{base_source(name)}.{name}.source_id\n"
            "  destination_id       = airbyte_destination_s3.landing.destination_id\n"
            '  namespace_definition = "custom_format"\n'
            f'  namespace_format     = "{name}"\n'
            "  schedule             = local.default_schedule\n"
            '  status               = "active"\n\n'
            '  sync_catalog = jsondecode(file("${path.module}/../../assets/streams/'
            f'{name}/_catalog.json"))\n}}\n'
        )
    return {
        "main.tf": (REFERENCE_TERRAFORM / "main.tf").read_text(encoding="utf-8"),
        "providers.tf": (REFERENCE_TERRAFORM / "providers.tf").read_text(encoding="utf-8"),
        "variables.tf": "\n".join(variables),
        "sources.tf": "\n".join(sources),
        "connections.tf": "\n".join(connections),
    }


# ---- the tree ------------------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    write(path, json.dumps(data, indent=2) + "\n")


def generate(out: Path, n_sources: int, n_streams: int, seed: int) -> dict[str, int]:
    """Write the tree below `out`; returns counts (sources, streams, models)."""
    if n_streams > len(STREAM_NAMES):
        raise ValueError(f"at most {len(STREAM_NAMES)} streams per source")
    rng = random.Random(seed)
    orch = out / "orchestration"
    if orch.exists():
        shutil.rmtree(orch)
    sources = source_names(n_sources)
    all_specs: list[StreamSpec] = []
    airbyte_sources = []
    for s_index, source in enumerate(sources):
        dlt = s_index % DLT_EVERY == 2
        if not dlt:
            airbyte_sources.append(source)
        names = rng.sample(STREAM_NAMES, n_streams)
        specs = [make_stream(rng, source, name, dlt, s_index + i) for i, name in enumerate(names)]
        for spec in specs:
            write_json(orch / f"assets/streams/{source}/{spec.name}.json", stream_config(spec))
            write_json(orch / f"assets/sources/{source}/{spec.name}.json", source_schema(spec))
            write(orch / f"assets/core/{source}/{spec.model}.sql", model_sql(rng, spec))
        write(orch / f"assets/core/{source}/_{source}__sources.yml", sources_yml(source, specs, dlt))
        all_specs.extend(specs)
    mart_files = marts(all_specs)
    for rel, text in mart_files.items():
        write(orch / f"assets/marts/{rel}", text)
    write(orch / "dbt_project.yml", dbt_project(sources))
    write(orch / "profiles.yml", PROFILES)
    write(orch / ".gitignore", "target/\ndbt_packages/\nlogs/\n*.duckdb\n*.duckdb.wal\n.user.yml\n")
    for name, text in terraform_files(airbyte_sources).items():
        write(orch / f"airbyte/terraform/{name}", text)
    generator = orch / "airbyte" / "generate-catalog.py"
    shutil.copyfile(REFERENCE_GENERATOR, generator)
    subprocess.run([sys.executable, str(generator)], check=True, stdout=subprocess.DEVNULL)
    write(out / ".gitignore", ".lotus_check_cache/\n")
    return {
        "sources": n_sources,
        "streams": len(all_specs),
        "models": len(all_specs) + len(mart_files),
    }


def git_commit(out: Path) -> None:
    """Make the tree a git repo with one commit (pre-commit runs inside one)."""
    env = {
        "GIT_AUTHOR_NAME": "Lotus Bench", "GIT_AUTHOR_EMAIL": "bench@lotus.invalid",
        "GIT_COMMITTER_NAME": "Lotus Bench", "GIT_COMMITTER_EMAIL": "bench@lotus.invalid",
        "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["commit", "-q", "-m", "synthetic Lotus Lake tree"]):
        subprocess.run(["git", *args], cwd=out, check=True, env=env, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, required=True, help="number of sources")
    parser.add_argument("--streams", type=int, required=True,
                        help=f"streams per source (at most {len(STREAM_NAMES)})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the tree into")
    parser.add_argument("--git", action="store_true", help="git init and commit the tree")
    args = parser.parse_args(argv)
    if args.sources < 1 or not 1 <= args.streams <= len(STREAM_NAMES):
        parser.error(f"--sources must be >= 1 and --streams between 1 and {len(STREAM_NAMES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    counts = generate(args.out, args.sources, args.streams, args.seed)
    if args.git:
        git_commit(args.out)
    print(f"wrote {args.out}: {counts['sources']} sources, {counts['streams']} streams, "
          f"{counts['models']} models")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
