"""--fix for the add-a-stream checklist: LL301, LL303, LL304 (safe) and LL302 (--unsafe-fixes).

Each test breaks a copy of the reference tree the way a person does, fixes it, and checks that
the re-check is clean, the diff touches only the expected lines, comments survive, and a second
--fix changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lotus_checks.core.finding import RunResult
from tests.builders import CORE
from tests.builders import STREAMS
from tests.builders import git
from tests.conftest import check_tree as _check_tree

PROJECT = "orchestration/dbt_project.yml"
SHOPIFY_SOURCES = f"{CORE}/shopify/_shopify__sources.yml"
CHARGES_MODEL = f"{CORE}/stripe/int_stripe__charges.sql"
SOURCES = "orchestration/assets/sources"


def _edit(root: Path, path: str, old: str, new: str) -> None:
    target = root / path
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")


def _diff(root: Path) -> str:
    git(root, "add", "-A", "--intent-to-add")
    return git(root, "diff", "--unified=0")


def _changed_lines(diff: str) -> list[str]:
    return [
        line for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def check_tree(root: Path, targets: list[str] | None = None, **kwargs: Any) -> RunResult:
    """Every family through the engine, with the session's fact cache: a fix and its re-check
    recompute only the facts of the files the fix wrote."""
    return _check_tree(root, targets, shared_cache=True, **kwargs)


def codes(result: object) -> set[str]:
    return {f.code for f in result.findings}  # type: ignore[attr-defined]


def _fix_until_clean(root: Path, **kwargs: Any) -> list[str]:
    result = check_tree(root, fix=True, **kwargs)
    assert check_tree(root).findings == []
    again = check_tree(root, fix=True, **kwargs)
    assert again.fixed == [], "a second --fix must change nothing"
    return result.fixed


def test_ll301_fix_adds_the_table_and_keeps_the_rest(reference_repo: Path) -> None:
    _edit(reference_repo, SHOPIFY_SOURCES,
          "      - name: fulfillments\n        description: Fulfillments and their tracking information.\n",
          "")
    git(reference_repo, "commit", "-qam", "drop a table")
    assert "LL301" in codes(check_tree(reference_repo))

    assert _fix_until_clean(reference_repo) == [SHOPIFY_SOURCES]
    assert _changed_lines(_diff(reference_repo)) == ["+      - name: fulfillments"]


def test_ll301_fix_adds_the_table_to_the_dbt_source_the_models_read(reference_repo: Path) -> None:
    """shopify's dbt source is named `shopify_raw` and its models read it so: the table goes
    there."""
    sources = reference_repo / SHOPIFY_SOURCES
    sources.write_text(sources.read_text(encoding="utf-8").replace("- name: shopify\n", "- name: shopify_raw\n", 1),
                       encoding="utf-8")
    for model in (reference_repo / CORE / "shopify").glob("*.sql"):
        text = model.read_text(encoding="utf-8")
        model.write_text(text.replace("source('shopify',", "source('shopify_raw',"), encoding="utf-8")
    # The other sources keep their folder's name: LL106 warns about this one; not the point.
    (reference_repo / "lotus-check.toml").write_text('ignore = ["LL106"]\n', encoding="utf-8")
    assert check_tree(reference_repo).findings == []
    _edit(reference_repo, SHOPIFY_SOURCES,
          "      - name: fulfillments\n        description: Fulfillments and their tracking information.\n",
          "")
    git(reference_repo, "add", "-A")
    git(reference_repo, "commit", "-qm", "shopify_raw, a table dropped")
    assert "LL301" in codes(check_tree(reference_repo))

    assert _fix_until_clean(reference_repo) == [SHOPIFY_SOURCES]
    assert _changed_lines(_diff(reference_repo)) == ["+      - name: fulfillments"]


def test_ll301_fix_creates_the_sources_file_of_a_source_without_one(reference_repo: Path) -> None:
    stripe = reference_repo / CORE / "stripe" / "_stripe__sources.yml"
    stripe.unlink()
    git(reference_repo, "commit", "-qam", "no sources file")
    assert "LL301" in codes(check_tree(reference_repo))

    _fix_until_clean(reference_repo)
    import yaml

    data = yaml.safe_load(stripe.read_text(encoding="utf-8"))
    (declared,) = data["sources"]
    assert declared["name"] == "stripe"
    # the streams read through source(); customers and invoices are read by path
    assert sorted(t["name"] for t in declared["tables"]) == ["charges", "subscriptions"]


def test_ll303_fix_adds_the_tag_byte_for_byte(reference_repo: Path) -> None:
    _edit(reference_repo, CHARGES_MODEL, "tags=['core', 'stripe__charges']", "tags=['core']")
    git(reference_repo, "commit", "-qam", "drop a tag")
    assert "LL303" in codes(check_tree(reference_repo))

    assert _fix_until_clean(reference_repo) == [CHARGES_MODEL]
    assert _changed_lines(_diff(reference_repo)) == [
        "-{{ config(tags=['core'], materialized='table') }}",
        "+{{ config(tags=['core', 'stripe__charges'], materialized='table') }}",
    ]


def test_ll304_fix_adds_the_folder_in_the_files_style(reference_repo: Path) -> None:
    _edit(reference_repo, PROJECT, "  - assets/core/gorgias\n", "")
    git(reference_repo, "commit", "-qam", "drop a model path")
    assert "LL304" in codes(check_tree(reference_repo))

    assert _fix_until_clean(reference_repo) == [PROJECT]
    assert _changed_lines(_diff(reference_repo)) == ["+  - assets/core/gorgias"]
    text = (reference_repo / PROJECT).read_text(encoding="utf-8")
    assert "# One folder per source, listed one by one" in text


def test_ll304_fix_in_a_flow_list(reference_repo: Path) -> None:
    _edit(reference_repo, PROJECT,
          "model-paths:\n  - assets/core/shopify\n  - assets/core/klaviyo\n  - assets/core/stripe\n"
          "  - assets/core/gorgias\n  - assets/marts\n",
          'model-paths: ["assets/core/shopify", "assets/core/klaviyo", "assets/core/stripe", '
          '"assets/marts"]  # flow\n')
    git(reference_repo, "commit", "-qam", "flow list without gorgias")

    _fix_until_clean(reference_repo)
    assert _changed_lines(_diff(reference_repo)) == [
        ('-model-paths: ["assets/core/shopify", "assets/core/klaviyo", "assets/core/stripe", '
         '"assets/marts"]  # flow'),
        ('+model-paths: ["assets/core/shopify", "assets/core/klaviyo", "assets/core/stripe", '
         '"assets/marts", "assets/core/gorgias"]  # flow'),
    ]


def _add_stream(root: Path, source: str, stream: str, fields: dict[str, dict[str, str]]) -> None:
    schema = {
        "stream": stream,
        "options": {"sync_modes": ["full_refresh", "incremental"],
                    "destination_sync_modes": ["overwrite", "append", "append_dedup"]},
        "defaults": {"primary_key": [["id"]], "cursor_field": ["created"]},
        "fields": {**fields, "metadata": {"type": "object"}},
    }
    config = {
        "stream": stream, "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
        "backfill": False, "primary_key": [["id"]], "cursor_field": ["created"],
        "selected": True, "fields": fields,
    }
    (root / SOURCES / source / f"{stream}.json").write_text(json.dumps(schema, indent=2) + "\n")
    (root / STREAMS / source / f"{stream}.json").write_text(json.dumps(config, indent=2) + "\n")


REFUND_FIELDS = {
    "id": {"type": "string"}, "amount": {"type": "integer"}, "charge": {"type": "string"},
    "created": {"type": "integer"}, "status": {"type": "string"},
}


def test_ll302_is_fixed_only_with_unsafe_fixes(reference_repo: Path) -> None:
    _add_stream(reference_repo, "stripe", "refunds", REFUND_FIELDS)
    model = reference_repo / CORE / "stripe" / "int_stripe__refunds.sql"

    safe = check_tree(reference_repo, fix=True)
    assert not model.exists()
    assert "LL302" in codes(check_tree(reference_repo))
    assert f"{CORE}/stripe/_stripe__sources.yml" in safe.fixed

    _fix_until_clean(reference_repo, unsafe_fixes=True)
    text = model.read_text(encoding="utf-8")
    assert "tags=['core', 'stripe__refunds']" in text
    assert "{{ source('stripe', 'refunds') }}" in text
    for column in [*REFUND_FIELDS, "_airbyte_extracted_at"]:
        assert f"    {column}" in text


def test_ll302_model_of_a_dlt_stream_reads_like_its_siblings(reference_repo: Path) -> None:
    """gorgias is loaded by dlt; its first stream model reads the files the orchestrator passes."""
    config = {
        "stream": "tags", "connector": "dlt", "sync_mode": "incremental",
        "destination_sync_mode": "merge",
        "primary_key": [["id"]], "cursor_field": ["updated_datetime"], "selected": True,
        "fields": {"id": {"type": "integer"}, "name": {"type": "string"},
                   "updated_datetime": {"type": "string", "format": "date-time"}},
    }
    (reference_repo / STREAMS / "gorgias" / "tags.json").write_text(json.dumps(config, indent=2))

    _fix_until_clean(reference_repo, unsafe_fixes=True)
    text = (reference_repo / CORE / "gorgias" / "int_gorgias__tags.sql").read_text()
    assert 'read_parquet({{ var("files") }}' in text
    assert "'gorgias__tags'" in text
    assert "_dlt_load_id" in text and "_airbyte" not in text


def _strings(*names: str) -> dict[str, dict[str, str]]:
    return {name: {"type": "string"} for name in names}


def test_new_model_keeps_an_incremental_siblings_config() -> None:
    from lotus_checks.checks.coverage.new_model import Sibling
    from lotus_checks.checks.coverage.new_model import stream_model

    sibling = Sibling(
        text="{{\n  config(\n    tags=['core', 'shop__orders'],\n    materialized='incremental',\n"
        "    unique_key='order_id'\n  )\n}}\nselect * from read_parquet('s3://x/shop/orders/**/*')",
        stream="orders",
        tag="shop__orders",
        config={"tags": ["core", "shop__orders"], "materialized": "incremental",
                "unique_key": "order_id", "incremental_strategy": "delete+insert"},
    )
    text = stream_model("shop", "refunds", "shop__refunds", _strings("id", "select"), "airbyte", ["id"],
                        sibling)
    assert text.startswith("{{\n  config(\n    tags=['core', 'shop__refunds'],\n"
                           "    materialized='incremental',\n    unique_key='id',\n"
                           "    incremental_strategy='delete+insert'\n  )\n}}\n")
    assert "from read_parquet('s3://x/shop/refunds/**/*')" in text
    assert "{% if is_incremental() %}" in text
    assert '    "select",' in text  # a keyword is quoted
    # without a primary key there is nothing to merge on: a table
    keyless = stream_model("shop", "refunds", "shop__refunds", _strings("id"), "airbyte", [],
                           sibling)
    assert "materialized='table'" in keyless and "unique_key" not in keyless
    assert "is_incremental" not in keyless


def test_fix_never_writes_through_a_link(reference_repo: Path) -> None:
    """A linked file is reported, never replaced: the link and what it points to stay."""
    real = reference_repo / "orchestration" / "shared_project.yml"
    project = reference_repo / PROJECT
    real.write_text(project.read_text().replace("  - assets/core/gorgias\n", ""))
    project.unlink()
    project.symlink_to("shared_project.yml")
    before = real.read_text()

    result = check_tree(reference_repo, fix=True)
    assert PROJECT not in result.fixed
    assert project.is_symlink() and real.read_text() == before
    assert "LL304" in codes(check_tree(reference_repo))


def test_new_model_quotes_every_keyword_duckdb_does_not_take_bare() -> None:
    import duckdb

    from lotus_checks.checks.coverage.new_model import NOT_BARE

    keywords = duckdb.sql(
        "select keyword_name from duckdb_keywords() where keyword_category != 'unreserved'"
    ).fetchall()
    assert {k for (k,) in keywords} <= NOT_BARE
    connection = duckdb.connect()
    connection.execute('create table t as select 1 as "order", 2 as "left", 3 as "year"')
    from lotus_checks.checks.coverage.new_model import stream_model

    sql = stream_model("s", "t", "s__t", _strings("order", "left", "year"), "dlt", [], None)
    select = sql[sql.index("select\n"):].replace("from landed", "from t")
    select = select.replace("    _dlt_load_id,\n", "").replace(",\n    _dlt_id", "")
    assert connection.execute(select).fetchall() == [(1, 2, 3)]


def _sibling(text: str, stream: str, tag: str, **config: object) -> object:
    from lotus_checks.checks.coverage.new_model import Sibling

    return Sibling(text=text, stream=stream, tag=tag, config={"tags": ["core", tag], **config})


def test_new_model_renames_only_the_landing_paths_stream_segment() -> None:
    from lotus_checks.checks.coverage.new_model import stream_model

    sibling = _sibling(
        "select * from read_parquet('{{ var(\"raw_root\", \"s3://raw\") }}/acme/acme/**/*.parquet')",
        "acme", "acme__acme")
    text = stream_model("acme", "gamma", "acme__gamma", _strings("id"), "airbyte", [], sibling)  # type: ignore[arg-type]
    assert "/acme/gamma/**/*.parquet')" in text


def test_new_model_takes_the_siblings_tag_off_under_a_custom_stream_tag() -> None:
    from lotus_checks.checks.coverage.new_model import stream_model

    sibling = _sibling("select * from {{ source('shop', 'orders') }}", "orders", "shop-orders",
                       alias="orders_v2", materialized="table")
    text = stream_model("shop", "refunds", "shop-refunds", _strings("id"), "airbyte", [], sibling)  # type: ignore[arg-type]
    assert "tags=['core', 'shop-refunds']" in text
    assert "alias" not in text  # names the sibling's relation: never copied


def test_fix_leaves_suppressed_ignored_and_unasked_findings_alone(reference_repo: Path) -> None:
    _edit(reference_repo, CHARGES_MODEL, "tags=['core', 'stripe__charges'], materialized='table') }}",
          "tags=['core'], materialized='table') }}  -- noqa: LL303")
    products = f"{CORE}/shopify/int_shopify__products.sql"
    _edit(reference_repo, products, "'shopify__products'", "'shopify__products_old'")
    git(reference_repo, "commit", "-qam", "a suppressed and an unasked-for finding")

    # Only the file asked about is fixed (as pre-commit passes files), and nothing suppressed.
    customers = f"{CORE}/shopify/int_shopify__customers.sql"
    _edit(reference_repo, customers, "'shopify__customers'", "'shopify__customer'")
    result = check_tree(reference_repo, [customers, CHARGES_MODEL], fix=True)
    assert result.fixed == [customers]
    assert "'shopify__products_old'" in (reference_repo / products).read_text()
    assert "noqa: LL303" in (reference_repo / CHARGES_MODEL).read_text()
    assert "'stripe__charges'" not in (reference_repo / CHARGES_MODEL).read_text()


def test_fix_keeps_a_byte_order_mark(reference_repo: Path) -> None:
    project = reference_repo / PROJECT
    project.write_bytes(b"\xef\xbb\xbf" + project.read_bytes().replace(b"  - assets/core/gorgias\n", b""))
    check_tree(reference_repo, fix=True)
    data = project.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"  - assets/core/gorgias\n" in data


def test_new_model_reads_struct_keys_as_its_siblings_do() -> None:
    """A sibling reading `customer.id as customer_id`: an object field with declared properties
    becomes a column per key; an object without properties (JSON) stays one column. DuckDB
    runs the result on a table of that shape."""
    import duckdb

    from lotus_checks.checks.coverage.new_model import stream_model

    sibling = _sibling("select customer.id as customer_id from {{ source('shop', 'orders') }}",
                       "orders", "shop__orders")
    fields = {
        "id": {"type": "integer"},
        "customer": {"type": ["null", "object"], "properties": {"id": {"type": "integer"},
                                                               "email": {"type": "string"}}},
        "note_attributes": {"type": "object"},
    }
    text = stream_model("shop", "refunds", "shop__refunds", fields, "dlt", [], sibling)  # type: ignore[arg-type]
    assert "    customer.id as customer_id,\n    customer.email as customer_email,\n" in text
    assert "    note_attributes,\n" in text
    connection = duckdb.connect()
    connection.execute("create table landed as select 1 as id, {'id': 7, 'email': 'a@b'} as "
                       "customer, '{}'::json as note_attributes, 'l' as _dlt_load_id, 'i' as _dlt_id")
    select = text[text.index("select\n"):]
    assert connection.execute(select).fetchall() == [(1, 7, "a@b", "{}", "l", "i")]
    # A sibling that reads whole objects: the new model does too.
    plain = _sibling("select customer from {{ source('shop', 'orders') }}", "orders", "shop__orders")
    text = stream_model("shop", "refunds", "shop__refunds", fields, "dlt", [], plain)  # type: ignore[arg-type]
    assert "    customer,\n" in text
