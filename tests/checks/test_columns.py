"""LL4xx column checks: a mutation suite on the reference tree (each realistic mistake gives exactly
the expected finding at the exact line:col, the reference itself gives nothing), DuckDB as ground
truth for every model and mutation, caching, and scoping."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lotus_checks.checks import columns as columns_family
from lotus_checks.core.config import load_config
from lotus_checks.core.config import with_overrides
from lotus_checks.core.finding import Finding
from lotus_checks.core.loaders import LineIndex
from lotus_checks.engine import run
from tests.builders import CORE
from tests.builders import MARTS
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import copy_reference
from tests.dbt.fixtures import AIRBYTE_META_TYPE
from tests.dbt.fixtures import duckdb_type
from tests.dbt.fixtures import quote_ident
from tests.conftest import check_family
from tests.conftest import check_tree
from tests.conftest import codes
from tests.conftest import codes_of

COLUMN_CODES = ("LL4", "LL003", "LL004")
COLUMN_FAMILY_CODES = ("LL401", "LL402", "LL405")


@dataclass(frozen=True)
class Mutation:
    id: str
    path: str  # the file to edit
    old: str
    new: str
    code: str
    needles: tuple[str, ...]  # expected positions: first occurrence of each, inside `new` if there
    at: str | None = None  # the file the findings are in, when not `path`
    also: tuple[tuple[str, str], ...] = ()  # further (old, new) edits of the same file


MUTATIONS = [
    Mutation("misspelled-column-in-select", f"{CORE}/shopify/int_shopify__orders.sql",
             "lower(email) as email", "lower(emial) as email", "LL401", ("emial",)),
    Mutation("misspelled-column-in-qualify-partition-by", f"{CORE}/stripe/int_stripe__charges.sql",
             "partition by id order by updated desc", "partition by idd order by updated desc",
             "LL401", ("idd",)),
    Mutation("misspelled-column-in-cte", f"{CORE}/gorgias/int_gorgias__satisfaction_surveys.sql",
             "arg_max(body_text, scored_datetime)", "arg_max(body_txt, scored_datetime)",
             "LL401", ("body_txt",)),
    Mutation("misspelled-column-in-join-condition", f"{CORE}/shopify/int_shopify__products.sql",
             "on variant_stats.product_id = products.id", "on variant_stats.product_id = products.idd",
             "LL401", ("idd",)),
    Mutation("join-condition-column-the-cte-does-not-define", f"{CORE}/stripe/int_stripe__invoices.sql",
             "on line_totals.invoice_id = invoices.id", "on line_totals.invoices_id = invoices.id",
             "LL401", ("invoices_id",)),
    Mutation("misspelled-column-in-window-clause", f"{CORE}/shopify/int_shopify__transactions.sql",
             "window w as (partition by order_id", "window w as (partition by orderid", "LL401", ("orderid",)),
    Mutation("misspelled-column-in-having", f"{CORE}/gorgias/int_gorgias__satisfaction_surveys.sql",
             "having count(*) >= 1", "having max(scor) >= 1", "LL401", ("scor",)),
    Mutation("misspelled-column-in-correlated-subquery", f"{CORE}/shopify/int_shopify__orders.sql",
             "(select max(_airbyte_extracted_at) from {{ this }})",
             "(select max(_airbyte_extracted) from {{ this }})", "LL405", ("_airbyte_extracted)",)),
    Mutation("unselected-source-field", f"{CORE}/shopify/int_shopify__orders.sql",
             "    currency,\n", "    currency,\n    note,\n", "LL402", ("note",)),
    Mutation("dlt-model-reads-airbyte-metadata", f"{CORE}/gorgias/int_gorgias__customers.sql",
             "    _dlt_load_id,\n    filename", "    _airbyte_extracted_at,\n    filename",
             "LL401", ("_airbyte_extracted_at",)),
    Mutation("filename-without-filename-option", f"{CORE}/shopify/int_shopify__transactions.sql",
             "filename=true, hive_partitioning=true", "hive_partitioning=true", "LL401",
             ("filename as source_file",)),
    Mutation("hive-columns-without-hive-option", f"{CORE}/shopify/int_shopify__customers.sql",
             "filename=true, hive_partitioning=true", "filename=true", "LL401",
             ("year::int", "month::int", "day::int")),
    Mutation("mart-reads-column-its-upstream-does-not-output", f"{MARTS}/sales/fct_sales.sql",
             "orders.order_name,", "orders.customer_email,", "LL405", ("customer_email",)),
    Mutation("mart-reads-misspelled-column-through-select-star-cte", f"{MARTS}/marketing/dim_customers.sql",
             "klaviyo.predicted_clv,", "klaviyo.predicted_ltv,", "LL405", ("predicted_ltv",)),
    Mutation("upstream-model-drops-a-column-the-mart-reads", f"{CORE}/shopify/int_shopify__customers.sql",
             "    concat_ws(' ', first_name, last_name) as full_name,\n", "", "LL405",
             ("full_name",), at=f"{MARTS}/marketing/dim_customers.sql"),
    Mutation("ref-to-missing-model", f"{MARTS}/sales/fct_sales.sql",
             "ref('int_shopify__order_refunds')", "ref('int_shopify__order_refund')", "LL403", ("ref(",)),
    Mutation("source-to-undeclared-table", f"{CORE}/shopify/int_shopify__fulfillments.sql",
             "source('shopify', 'fulfillments')", "source('shopify', 'fulfilments')", "LL404", ("source(",)),
    Mutation("source-to-undeclared-source", f"{CORE}/stripe/int_stripe__charges.sql",
             "source('stripe', 'charges')", "source('strype', 'charges')", "LL404", ("source(",)),
    Mutation("raw-path-of-another-stream", f"{CORE}/klaviyo/int_klaviyo__lists.sql",
             "raw/klaviyo/lists/", "raw/klaviyo/flows/", "LL406", ("'s3://landing/raw/klaviyo/flows",)),
    Mutation("raw-path-naming-no-stream", f"{CORE}/stripe/int_stripe__invoices.sql",
             "s3://landing/raw/stripe/invoices/**/*", "s3://landing/stripe/**/*", "LL406",
             ("'s3://landing/stripe",)),
    Mutation("runtime-var-read-misspelled-column", f"{CORE}/stripe/int_stripe__customers.sql",
             "lower(email) as email", "lower(emial) as email", "LL401", ("emial",)),
    Mutation("glob-read-misspelled-column", f"{CORE}/klaviyo/int_klaviyo__flows.sql",
             "order by updated desc", "order by updatd desc", "LL401", ("updatd",)),
    Mutation("glob-of-another-stream", f"{CORE}/klaviyo/int_klaviyo__flows.sql",
             "raw/klaviyo/flows*.parquet", "raw/klaviyo/lists*.parquet", "LL406",
             ("'s3://landing/raw/klaviyo/lists*",)),
    Mutation("glob-matching-several-streams", f"{CORE}/klaviyo/int_klaviyo__flows.sql",
             "raw/klaviyo/flows*.parquet", "raw/klaviyo/*.parquet", "LL406",
             ("'s3://landing/raw/klaviyo/*",)),
    Mutation("json-path-into-undeclared-nested-property", f"{CORE}/klaviyo/int_klaviyo__profiles.sql",
             "'$.location.city'", "'$.location.cty'", "LL407", ("cty",)),
    Mutation("struct-path-into-undeclared-nested-property", f"{CORE}/gorgias/int_gorgias__tickets.sql",
             "lower(customer.email)", "lower(customer.mail)", "LL408", ("mail",)),
    Mutation("struct-field-of-unnested-array-element", f"{CORE}/shopify/int_shopify__order_lines.sql",
             "li.variant_title,", "li.variant_name,", "LL408", ("variant_name",)),
    Mutation("misspelled-struct-key", f"{CORE}/shopify/int_shopify__orders.sql",
             "shipping_address.city as", "shipping_address.cty as", "LL408", ("cty",)),
    Mutation("misspelled-struct-key-in-brackets", f"{CORE}/shopify/int_shopify__orders.sql",
             "discount_codes[1].code", "discount_codes[1]['cod']", "LL408", ("cod'",)),
    Mutation("misspelled-key-of-a-nested-struct", f"{CORE}/klaviyo/int_klaviyo__profiles.sql",
             "subscriptions.email.marketing.can_receive_email_marketing as",
             "subscriptions.email.marketing.can_receive_email_marketin as", "LL408",
             ("can_receive_email_marketin",)),
    Mutation("misspelled-key-of-airbyte-meta", f"{CORE}/shopify/int_shopify__orders.sql",
             "    _airbyte_raw_id,\n", "    _airbyte_meta.sync_d as sync_id,\n    _airbyte_raw_id,\n",
             "LL408", ("sync_d",)),
    Mutation("misspelled-struct-key-in-struct-extract", f"{CORE}/shopify/int_shopify__orders.sql",
             "customer.orders_count as", "struct_extract(customer, 'order_count') as", "LL408",
             ("order_count",)),
    # Compile-time SQL: the partition query an incremental model runs on `{{ this }}`.
    Mutation("misspelled-column-in-run-query-block", f"{CORE}/shopify/int_shopify__orders_daily.sql",
             "max(month) as max_month", "max(montth) as max_month", "LL405", ("montth",)),
    Mutation("syntax-error-in-run-query-block", f"{CORE}/shopify/int_shopify__orders_daily.sql",
             "max(month) as max_month", "max(month)) as max_month", "LL003", (") as max_month",)),
    Mutation("run-query-block-reads-a-column-this-does-not-output",
             f"{CORE}/shopify/int_shopify__orders_daily.sql",
             "max(month) as max_month", "max(created_at) as max_month", "LL405", ("created_at",)),
    # A name `{{ this }}` lacks falls through to the outer query: an aggregate in its WHERE.
    Mutation("subquery-aggregate-over-an-outer-column", f"{CORE}/klaviyo/int_klaviyo__profiles.sql",
             "where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})",
             "where updated > (select max(updated) from {{ this }})", "LL409", ("updated)",)),
    Mutation("subquery-reads-an-outer-cte-column", f"{CORE}/gorgias/int_gorgias__satisfaction_surveys.sql",
             "from per_ticket\n",
             "from per_ticket\nwhere exists (select 1 from (select 1 as one) as t where one = survey_count)\n",
             "LL410", ("survey_count)",)),
    Mutation("subquery-filter-on-an-outer-column", f"{CORE}/klaviyo/int_klaviyo__profiles.sql",
             "(select max(_airbyte_extracted_at) from {{ this }})",
             "(select max(_airbyte_extracted_at) from {{ this }} where updated is not null)",
             "LL410", ("updated is",)),
    # ... in the select list, ORDER BY or QUALIFY of a query that is not grouped, or in LATERAL.
    Mutation("outer-aggregate-in-the-select-list-of-an-ungrouped-query",
             f"{CORE}/stripe/int_stripe__subscriptions.sql", "    _airbyte_extracted_at\nfrom subscriptions",
             "    _airbyte_extracted_at,\n    {% if is_incremental() %}(select max(updated) from {{ this }})"
             "{% else %}null{% endif %} as watermark\nfrom subscriptions", "LL409", ("updated)",)),
    Mutation("outer-aggregate-in-order-by-of-an-ungrouped-query",
             f"{CORE}/stripe/int_stripe__subscriptions.sql", "from subscriptions\n",
             "from subscriptions\n{% if is_incremental() %}order by (select max(updated) from {{ this }}){% endif %}\n", "LL409",
             ("updated)",)),
    Mutation("outer-aggregate-in-qualify-of-an-ungrouped-query",
             f"{CORE}/stripe/int_stripe__subscriptions.sql", "from subscriptions\n",
             "from subscriptions\n{% if is_incremental() %}qualify (select max(updated) from {{ this }}) is not null{% endif %}\n", "LL409",
             ("updated)",)),
    Mutation("outer-aggregate-in-a-lateral-join", f"{CORE}/stripe/int_stripe__subscriptions.sql",
             "from subscriptions\n",
             "from subscriptions\njoin lateral (select max(quantity) as most) as l on true\n", "LL409",
             ("quantity) as most",)),
    Mutation("outer-aggregate-in-an-implicitly-lateral-subquery",
             f"{CORE}/stripe/int_stripe__subscriptions.sql", "from subscriptions\n",
             "from subscriptions, (select max(subscriptions.quantity) as most) as l\n", "LL409",
             ("subscriptions.quantity",)),
    # `* rename` passes the struct on under its new name; `customer`, an outer alias, is the
    # subquery's own struct column first.
    Mutation("misspelled-key-of-a-renamed-struct", f"{CORE}/shopify/int_shopify__orders.sql",
             "customer.id as customer_id,", "buyer.idd as customer_id,", "LL408", ("idd",),
             also=(("deduped as (\n    select *", "deduped as (\n    select * rename (customer as buyer)"),
                   ("customer.orders_count", "buyer.orders_count"))),
    Mutation("misspelled-key-of-a-struct-aliased-in-a-cte", f"{CORE}/shopify/int_shopify__orders.sql",
             "customer.id as customer_id,", "cust.idd as customer_id,", "LL408", ("idd",),
             also=(("deduped as (\n    select *", "deduped as (\n    select *, customer as cust"),)),
    Mutation("misspelled-key-of-an-inner-struct-named-like-an-outer-alias",
             f"{CORE}/shopify/int_shopify__orders.sql",
             "    {% if is_incremental() %}\n    where _airbyte_extracted_at > (select max(_airbyte_extracted_at) "
             "from {{ this }})\n    {% endif %}",
             "    where id >= (select min(customer.idd) from {{ source('shopify', 'orders') }} as o2)",
             "LL408", ("idd)",),
             also=(("from {{ source('shopify', 'orders') }}\n", "from {{ source('shopify', 'orders') }} as customer\n"),)),
    # `discount_codes.items` is a map of field names (as a discovery step writes it), which the
    # generator turns into an object schema: a STRUCT in Parquet.
    Mutation("struct-field-of-an-items-field-map", f"{CORE}/shopify/int_shopify__orders.sql",
             "discount_codes[1].code", "discount_codes[1].coupon", "LL408", ("coupon",)),
]


def _apply(root: Path, mutation: Mutation) -> str:
    path = root / mutation.path
    text = path.read_text(encoding="utf-8")
    assert text.count(mutation.old) >= 1, f"{mutation.id}: {mutation.old!r} not in {mutation.path}"
    mutated = text.replace(mutation.old, mutation.new, 1)
    for old, new in mutation.also:
        assert old in mutated, f"{mutation.id}: {old!r} not in {mutation.path}"
        mutated = mutated.replace(old, new, 1)
    path.write_text(mutated, encoding="utf-8")
    return text


def _expected(root: Path, mutation: Mutation) -> list[tuple[str, str, int, int]]:
    at = mutation.at or mutation.path
    text = (root / at).read_text(encoding="utf-8")
    start = text.find(mutation.new) if mutation.new and at == mutation.path else 0
    index = LineIndex(text)
    out = []
    for needle in mutation.needles:
        offset = text.find(needle, max(start, 0))
        offset = offset if offset >= 0 else text.find(needle)
        assert offset >= 0, f"{mutation.id}: {needle!r} not found"
        out.append((mutation.code, at, *index.position(offset)))
    return out


def test_correlated_names_that_mean_the_outer_row_are_clean(lake: Path) -> None:
    """Qualified outer columns, and aggregates of the subquery's own columns, are silent."""
    model = f"{CORE}/klaviyo/int_klaviyo__profiles.sql"
    source = "from {{ source('klaviyo', 'profiles') }}\n"
    old = "where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})"
    for new in (
        ("where p._airbyte_extracted_at > (select max(t._airbyte_extracted_at) from {{ this }} as t "
         "where t.profile_id = p.id)"),
        ("where p._airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }} "
         "where updated_at <= p.updated)"),
        ("where _airbyte_extracted_at > (select max(_airbyte_extracted_at) filter "
         "(where updated_at is not null) from {{ this }})"),
    ):
        path = lake / model
        original = path.read_text(encoding="utf-8")
        assert source in original and old in original
        path.write_text(original.replace(source, source.replace("\n", " as p\n")).replace(old, new),
                        encoding="utf-8")
        try:
            assert _column_findings(lake) == [], new
        finally:
            path.write_text(original, encoding="utf-8")


ORDERS = f"{CORE}/shopify/int_shopify__orders.sql"
SUBSCRIPTIONS = f"{CORE}/stripe/int_stripe__subscriptions.sql"
ORDERS_DEDUPED = ("deduped as (\n    select *", "deduped as (\n    select * {}")
ORDERS_INCREMENTAL = ("    {% if is_incremental() %}\n    where _airbyte_extracted_at > (select max("
                      "_airbyte_extracted_at) from {{ this }})\n    {% endif %}")
ORDERS_AS_CUSTOMER = ("from {{ source('shopify', 'orders') }}\n",
                      "from {{ source('shopify', 'orders') }} as customer\n")

# Correct code next to the mistakes above: silent, and DuckDB binds every model.
NEIGHBOURS = {
    "replaced-struct-gets-a-new-key": (ORDERS, (
        (ORDERS_DEDUPED[0], ORDERS_DEDUPED[1].format(
            "replace (struct_insert(customer, segment := 'vip') as customer)")),
        ("customer.id as customer_id,", "customer.segment as customer_segment,\n    customer.id as customer_id,"),
    )),
    "renamed-structs-keep-their-keys": (ORDERS, (
        (ORDERS_DEDUPED[0], ORDERS_DEDUPED[1].format("rename (customer as buyer, shipping_address as customer)")),
        ("customer.id as customer_id,", "buyer.id as customer_id,"),
        ("customer.orders_count", "buyer.orders_count"),
        ("shipping_address.country_code", "customer.country_code"),
        ("shipping_address.province_code", "customer.province_code"),
        ("shipping_address.city", "customer.city"),
    )),
    "struct-aliased-in-a-cte-keeps-its-keys": (ORDERS, (
        (ORDERS_DEDUPED[0], ORDERS_DEDUPED[1].format(", customer as cust")),
        ("customer.id as customer_id,", "cust.id as customer_id,"),
    )),
    "outer-select-alias-inside-a-where-subquery": (ORDERS, (
        ("where not test", ("where not test and exists (select 1 from {{ source('shopify', 'transactions') }}"
                            " as t where t.order_id = id and order_name is not null)")),
    )),
    "struct-spread-by-unnest-in-a-cte": (ORDERS, (
        ("deduped as (", ("buyers as (\n    select unnest(customer) from {{ source('shopify', 'orders') }}"
                          "\n),\n\ndeduped as (")),
        ("where not test", "where not test and exists (select 1 from buyers where first_name = 'x')"),
    )),
    "inner-struct-column-named-like-an-outer-alias": (ORDERS, (
        ORDERS_AS_CUSTOMER,
        (ORDERS_INCREMENTAL,
         "    where id >= (select min(customer.id) from {{ source('shopify', 'orders') }} as o2)"),
    )),
    "outer-alias-qualifier-when-the-inner-relation-has-no-such-column": (ORDERS, (
        ORDERS_AS_CUSTOMER,
        (ORDERS_INCREMENTAL, ("    where exists (select 1 from {{ source('shopify', 'transactions') }} as t "
                              "where t.order_id = customer.id)")),
    )),
    "own-column-aggregated-in-the-select-list": (SUBSCRIPTIONS, (
        ("    _airbyte_extracted_at\nfrom subscriptions",
         ("    _airbyte_extracted_at,\n    {% if is_incremental() %}(select max(updated_at) from {{ this }})"
          "{% else %}null{% endif %} as watermark\nfrom subscriptions")),
    )),
    "lateral-subquery-aggregating-its-own-relation": (SUBSCRIPTIONS, (
        ("from subscriptions\n", ("from subscriptions\njoin lateral (select max(s.quantity) as most from "
                                   "{{ source('stripe', 'subscriptions') }} as s) as l on true\n")),
    )),
    "lateral-subquery-without-from-reads-the-outer-row": (SUBSCRIPTIONS, (
        ("from subscriptions\n", "from subscriptions\njoin lateral (select quantity * 2 as twice) as l on true\n"),
    )),
}


@pytest.mark.parametrize("neighbour", list(NEIGHBOURS))
def test_correct_neighbours_are_clean_and_duckdb_binds_them(
    lake: Path, duckdb_truth: GroundTruth, neighbour: str
) -> None:
    path, edits = NEIGHBOURS[neighbour]
    file = lake / path
    original = file.read_text(encoding="utf-8")
    text = original
    for old, new in edits:
        assert old in text, (neighbour, old)
        text = text.replace(old, new, 1)
    file.write_text(text, encoding="utf-8")
    try:
        found = _column_findings(lake)
        verdicts = duckdb_truth.verdicts(lake)
    finally:
        file.write_text(original, encoding="utf-8")
    assert found == []
    assert all(v == "ok" for v in verdicts.values()), {k: v for k, v in verdicts.items() if v != "ok"}


def test_outer_aggregate_messages_name_what_the_model_wrote(lake: Path, duckdb_truth: GroundTruth) -> None:
    """The function as written (`list`, which sqlglot calls ARRAY_AGG), and no talk of a FROM
    clause a subquery does not have; DuckDB rejects both models."""
    model = f"{CORE}/klaviyo/int_klaviyo__profiles.sql"
    old = "where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})"
    cases = (
        ("where updated > (select list(updated)[1] from {{ this }})", "`list(...)` aggregates"),
        ("where updated > (select max(updated))", "(the subquery has no FROM clause)"),
    )
    path = lake / model
    original = path.read_text(encoding="utf-8")
    for new, phrase in cases:
        path.write_text(original.replace(old, new), encoding="utf-8")
        try:
            [finding] = check_family(columns_family, lake, select=["LL409"], use_cache=True)
            verdicts = duckdb_truth.verdicts(lake)
        finally:
            path.write_text(original, encoding="utf-8")
        assert phrase in finding.message, finding.message
        assert "FROM clause;" not in finding.message
        assert verdicts[(model, True)] == "aggregate"
    assert _column_findings(lake) == []


def test_rowid_of_this_is_a_column_of_the_table(lake: Path) -> None:
    """`{{ this }}` is a table, and DuckDB gives every table `rowid`; a misspelling is LL405."""
    import duckdb

    con = duckdb.connect()
    con.execute("create table this_model (x int)")
    con.execute("select max(rowid) from this_model")
    with pytest.raises(duckdb.BinderException):
        con.execute("select max(rowidd) from this_model")
    model = f"{CORE}/klaviyo/int_klaviyo__profiles.sql"
    old = "(select max(_airbyte_extracted_at) from {{ this }})"
    path = lake / model
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original.replace(old, "(select max(_airbyte_extracted_at) from {{ this }} "
                                              "where rowid >= 0)"), encoding="utf-8")
        assert _column_findings(lake) == []
        path.write_text(original.replace(old, "(select max(_airbyte_extracted_at) from {{ this }} "
                                              "where rowidd >= 0)"), encoding="utf-8")
        assert [f[0] for f in _column_findings(lake)] == ["LL405"]
    finally:
        path.write_text(original, encoding="utf-8")


def test_compile_time_statements_that_are_not_queries_are_left_alone(lake: Path) -> None:
    model = f"{CORE}/shopify/int_shopify__orders_daily.sql"
    original = _apply(lake, Mutation(
        "statements", model, "{% set results = run_query(partition_query) %}",
        "{% do run_query('load httpfs') %}{% do run_query('create or replace secret (type s3)') %}"
        "{% set results = run_query(partition_query) %}", "", ()))
    try:
        assert _column_findings(lake) == []
    finally:
        (lake / model).write_text(original, encoding="utf-8")


def test_struct_access_is_an_error_only_into_a_declared_struct(tmp_path: Path) -> None:
    """An object with declared properties lands as a STRUCT (LL408, an error); one without
    properties lands as JSON text (never reported); properties without `"type": "object"` are
    not certainly a STRUCT (LL407, a warning)."""
    root = copy_reference(tmp_path)
    model = f"{CORE}/klaviyo/int_klaviyo__events.sql"
    text = (root / model).read_text(encoding="utf-8")
    (root / model).write_text(text.replace(
        "    attributes.uuid as event_uuid,\n",
        "    attributes.uuid as event_uuid,\n    attributes.uuidd as event_uuid2,\n"
        "    attributes.event_properties.OrderId as order_id_struct,\n",
    ), encoding="utf-8")
    line = text[:text.index("attributes.uuid as")].count("\n") + 2
    assert _column_findings(root) == [("LL408", model, line, 16)]
    schema_path = root / SOURCES / "klaviyo" / "events.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    del schema["fields"]["attributes"]["type"]
    schema_path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    assert _column_findings(root) == [("LL407", model, line, 16)]


def _column_findings(root: Path) -> list[tuple[str, str, int | None, int | None]]:
    """What the columns family's check finds, in the engine's order. The tree's own cache stays
    on, so each check re-parses only the edited model."""
    found = check_family(columns_family, root, select=["LL4", "LL003", "LL004"], use_cache=True)
    return [c for c in codes_of(found) if c[0].startswith(COLUMN_CODES)]


def _column_findings_through_the_engine(root: Path) -> list[tuple[str, str, int | None, int | None]]:
    config = with_overrides(load_config(root), select=["LL4", "LL003", "LL004"])
    result = run(config, use_cache=True)
    return [c for c in codes(result) if c[0].startswith(COLUMN_CODES)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the reference tree for the whole suite; each test restores what it edits.
    The cache stays on, so each run re-parses only the mutated model."""
    return copy_reference(tmp_path_factory.mktemp("lake"))


def test_reference_tree_has_no_column_findings(lake: Path) -> None:
    assert _column_findings(lake) == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_mutation_gives_exactly_the_expected_finding(lake: Path, mutation: Mutation) -> None:
    original = _apply(lake, mutation)
    try:
        found = _column_findings(lake)
        assert found == _expected(lake, mutation)
    finally:
        (lake / mutation.path).write_text(original, encoding="utf-8")


def test_dlt_stream_config_change_is_seen_through_cached_facts(lake: Path) -> None:
    """Facts are cached per model text; a stream config edit still changes the verdict."""
    config = lake / STREAMS / "shopify" / "orders.json"
    original = config.read_text(encoding="utf-8")
    assert _column_findings(lake) == []  # warms the cache
    data = json.loads(original)
    del data["fields"]["financial_status"]
    config.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    try:
        found = _column_findings(lake)
    finally:
        config.write_text(original, encoding="utf-8")
    model = f"{CORE}/shopify/int_shopify__orders.sql"
    text = (lake / model).read_text(encoding="utf-8")
    line, col = LineIndex(text).position(text.find("financial_status"))
    assert ("LL402", model, line, col) in found
    # the mart reads orders.financial_status too, which int_shopify__orders still outputs
    assert all(f[1] == model for f in found)


def test_noqa_suppresses_a_column_finding(lake: Path) -> None:
    mutation = Mutation("noqa", f"{CORE}/shopify/int_shopify__orders.sql",
                        "lower(email) as email,", "lower(emial) as email,  -- noqa: LL401", "LL401", ())
    original = _apply(lake, mutation)
    try:
        assert _column_findings_through_the_engine(lake) == []
    finally:
        (lake / mutation.path).write_text(original, encoding="utf-8")


def test_targets_report_only_the_targeted_model_but_use_upstream_outputs(lake: Path) -> None:
    mutation = MUTATIONS[12]  # mart reads a column its upstream does not output
    original = _apply(lake, mutation)
    try:
        result = run(load_config(lake), frozenset({mutation.path}), use_cache=False)
        found = [c for c in codes(result) if c[0].startswith(COLUMN_CODES)]
        assert found == _expected(lake, mutation)
        other = f"{CORE}/shopify/int_shopify__orders.sql"
        assert [c for c in codes(run(load_config(lake), frozenset({other}), use_cache=False))
                if c[0].startswith(COLUMN_CODES)] == []
    finally:
        (lake / mutation.path).write_text(original, encoding="utf-8")


def test_cache_is_written_and_reused(tmp_path: Path) -> None:
    root = copy_reference(tmp_path)
    run(load_config(root), use_cache=True)
    entries = list((root / ".lotus_check_cache" / "sql-facts").rglob("*.json"))
    assert len(entries) == len(list((root / "orchestration/assets").rglob("*.sql")))
    # A corrupt entry is recomputed, not trusted.
    entries[0].write_text("{not json", encoding="utf-8")
    assert [c for c in codes(run(load_config(root), use_cache=True)) if c[0].startswith("LL4")] == []


def test_no_cache_writes_nothing(tmp_path: Path) -> None:
    root = copy_reference(tmp_path)
    check_tree(root)
    assert not (root / ".lotus_check_cache" / "sql-facts").exists()


def test_template_and_parse_errors_are_ll004_and_ll003(lake: Path) -> None:
    model = f"{CORE}/stripe/int_stripe__customers.sql"
    broken = Mutation("parse", model, "    lower(email) as email,", "    lower(email as email,", "LL003", ())
    original = _apply(lake, broken)
    try:
        found = _column_findings(lake)
        assert found == [("LL003", model, 17, 17)]  # at `as`, where `)` was expected
    finally:
        (lake / model).write_text(original, encoding="utf-8")
    bad_template = Mutation("template", model, "{{ config(tags=['core', 'stripe__customers'], materialized='table') }}",
                            "{{ config(tags=['core', 'stripe__customers'], materialized='table' }}", "LL004", ())
    original = _apply(lake, bad_template)
    try:
        found = _column_findings(lake)
        assert [f[:3] for f in found] == [("LL004", model, 1)]
    finally:
        (lake / model).write_text(original, encoding="utf-8")


def test_unknown_macro_in_a_raw_path_is_ll004_and_no_null_path(lake: Path) -> None:
    """A genuinely broken template is still LL004; what it rendered (NULL) is no path to judge."""
    model = f"{CORE}/stripe/int_stripe__customers.sql"
    mutation = Mutation("macro", model, """'{{ var("file") }}'""", "'{{ landing_path() }}'", "LL004", ())
    original = _apply(lake, mutation)
    try:
        result = check_family(columns_family, lake, select=["LL4", "LL004"])
        found = [c for c in codes_of(result) if c[0].startswith(COLUMN_CODES)]
        assert found == [("LL004", model, 6, 27)]  # at the macro's name
        assert not any("NULL" in f.message for f in result)
    finally:
        (lake / model).write_text(original, encoding="utf-8")


def test_runtime_var_read_in_a_model_whose_stream_cannot_be_told(lake: Path) -> None:
    """The path is passed per stream at run time: a model named and tagged for no stream cannot
    be given one (LL406); named for its stream, it is checked against that stream."""
    model = f"{CORE}/stripe/int_stripe__customers.sql"
    renamed = f"{CORE}/stripe/int_stripe__customer_rollup.sql"
    text = (lake / model).read_text(encoding="utf-8")
    (lake / renamed).write_text(text.replace("'stripe__customers'", "'stripe'"), encoding="utf-8")
    try:
        found = [c for c in codes(check_tree(lake, [renamed])) if c[0].startswith("LL4")]
        assert found == [("LL406", renamed, 6, 27)]  # at `var`
    finally:
        (lake / renamed).unlink()


def test_runtime_var_read_takes_its_stream_from_the_model_name(lake: Path) -> None:
    """Tagged only 'core', `int_stripe__customers` still reads stripe.customers: a misspelled
    column is LL401 against that stream; the correct column is silent."""
    model = f"{CORE}/stripe/int_stripe__customers.sql"
    original = (lake / model).read_text(encoding="utf-8")
    untagged = original.replace("tags=['core', 'stripe__customers']", "tags=['core']")
    try:
        (lake / model).write_text(untagged, encoding="utf-8")
        assert _column_findings(lake) == []
        (lake / model).write_text(untagged.replace("lower(email)", "lower(emial)"), encoding="utf-8")
        [finding] = _column_findings(lake)
        assert finding[:2] == ("LL401", model)
    finally:
        (lake / model).write_text(original, encoding="utf-8")


def test_custom_raw_path_pattern(make_repo: Any, tmp_path: Path) -> None:
    root = copy_reference(tmp_path)
    model = root / CORE / "klaviyo" / "int_klaviyo__lists.sql"
    model.write_text(model.read_text().replace("s3://landing/raw/klaviyo/lists/", "s3://lake/klaviyo-lists/"))
    (root / "lotus-check.toml").write_text('raw-path = "lake/{source}-{stream}/"\n')
    lists = f"{CORE}/klaviyo/int_klaviyo__lists.sql"
    assert [c for c in codes(check_tree(root, [lists])) if c[0].startswith("LL4")] == []
    # Paths of the other models no longer match the pattern: they name no stream.
    others = {c[1] for c in codes(check_tree(root)) if c[0] == "LL406"}
    assert lists not in others and f"{CORE}/klaviyo/int_klaviyo__flows.sql" in others
    model.write_text(model.read_text().replace("klaviyo-lists", "klaviyo-flows"))
    assert [c[0] for c in codes(check_tree(root, [lists])) if c[0].startswith("LL4")] == ["LL406"]


# ---- DuckDB as ground truth ------------------------------------------------------------------


def test_duckdb_agrees_on_every_reference_model(tmp_path: Path) -> None:
    root = copy_reference(tmp_path / "tree")
    verdicts = _duckdb_verdicts(root, tmp_path / "gt")
    assert verdicts and all(v == "ok" for v in verdicts.values()), verdicts
    assert len(verdicts) == 2 * len(list((root / "orchestration/assets").rglob("*.sql")))


@pytest.fixture(scope="module")
def duckdb_truth(tmp_path_factory: pytest.TempPathFactory) -> GroundTruth:
    """One DuckDB connection and one set of Parquet files for the module's mutations."""
    return GroundTruth(tmp_path_factory.mktemp("ground-truth"))


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_duckdb_agrees_with_ll401_ll402_ll405_on_each_mutation(
    lake: Path, duckdb_truth: GroundTruth, mutation: Mutation
) -> None:
    original = _apply(lake, mutation)
    try:
        found = _column_findings(lake)
        verdicts = duckdb_truth.verdicts(lake)
    finally:
        (lake / mutation.path).write_text(original, encoding="utf-8")
    flagged = {f[1] for f in found if f[0] in COLUMN_FAMILY_CODES}
    struct_flagged = {f[1] for f in found if f[0] == "LL408"}
    aggregate_flagged = {f[1] for f in found if f[0] == "LL409"}
    # A wrong ref/source/raw path is reported once, at its root; columns there are not judged.
    root_caused = {f[1] for f in found if f[0] in ("LL403", "LL404", "LL406")}
    by_path: dict[str, set[str]] = {}
    for (path, _incremental), verdict in verdicts.items():
        by_path.setdefault(path, set()).add(verdict)
    for path, seen in by_path.items():
        if path in root_caused or "other" in seen:
            continue
        assert ("column" in seen) == (path in flagged), (path, seen, found)
        # LL408 (an error) exactly where DuckDB fails on a struct key, LL409 on an outer aggregate.
        assert ("struct" in seen) == (path in struct_flagged), (path, seen, found)
        assert ("aggregate" in seen) == (path in aggregate_flagged), (path, seen, found)
    if mutation.code in COLUMN_FAMILY_CODES:
        assert any("column" in seen for seen in by_path.values())  # DuckDB confirms the mistake
    confirms = {"LL408": "struct", "LL409": "aggregate"}.get(mutation.code)
    if confirms is not None:
        assert any(confirms in seen for seen in by_path.values())
    if mutation.code == "LL410":  # a warning: DuckDB binds the outer column
        assert all(seen == {"ok"} for seen in by_path.values()), by_path


def test_remembered_verdicts_are_a_fresh_connections(lake: Path, duckdb_truth: GroundTruth) -> None:
    """The module's connection, after the clean tree, a mutation upstream of a mart and the
    clean tree again, gives what a fresh connection gives each time."""
    mutation = next(m for m in MUTATIONS if m.id == "upstream-model-drops-a-column-the-mart-reads")
    clean = duckdb_truth.verdicts(lake)
    assert clean == GroundTruth(duckdb_truth.work).verdicts(lake)
    original = _apply(lake, mutation)
    try:
        mutated = duckdb_truth.verdicts(lake)
        assert mutated == GroundTruth(duckdb_truth.work).verdicts(lake)
    finally:
        (lake / mutation.path).write_text(original, encoding="utf-8")
    assert mutated[(mutation.at, False)] == "column"
    assert duckdb_truth.verdicts(lake) == clean


def _duckdb_verdicts(root: Path, work: Path) -> dict[tuple[str, bool], str]:
    """DuckDB's verdicts on every model of `root`, from a fresh connection (GroundTruth)."""
    return GroundTruth(work).verdicts(root)


class GroundTruth:
    """Bind every model (both renderings, and the SQL each runs at compile time through
    run_query) in DuckDB against empty Parquet files that have exactly the allowed columns of each
    stream: "ok", "column" (column not found), "struct" (struct key not found), "aggregate" (an
    aggregate where the clause allows none) or "other".

    One connection serves every call: a model whose SQL (as bound, relations localised) and
    upstream models are the same as in an earlier call gets the verdicts DuckDB gave then, and
    its view is left as that call made it (the same SQL over the same views and files binds the
    same way); only the models a mutation changed, and those downstream of them, are bound
    again. Views are kept exactly as a fresh connection working through the models would have
    them: a model's view exists only if its plain rendering bound."""

    def __init__(self, work: Path) -> None:
        import duckdb

        self.work = work
        self.con = duckdb.connect()
        # model name -> key of the SQL its view holds (None: no view)
        self.installed: dict[str, str | None] = {}
        # key -> (verdict of the plain rendering, of the incremental one, whether the view exists)
        self.memo: dict[str, tuple[str, str, bool]] = {}

    def verdicts(self, root: Path) -> dict[tuple[str, bool], str]:
        import hashlib

        from lotus_checks.repo.model import Repo
        from lotus_checks.sql.render import render_model

        config = load_config(root)
        repo = Repo(config)
        raw = self.work / "raw"
        for stream in repo.streams:
            folder = raw / stream.source / stream.name
            if not folder.exists():  # stream configs are the same for every mutation
                _write_stream_parquet(repo, stream, folder)
        models = {m.name: m for m in repo.models}
        for name in [n for n in self.installed if n not in models]:
            self._set_view(name, None, "")
        tags = {}
        for stream in repo.streams:
            tags[f"{stream.source}__{stream.name}"] = stream
        sources = _external_locations(repo, raw)
        verdicts: dict[tuple[str, bool], str] = {}
        keys: dict[str, str] = {}
        pending = list(models.values())
        while pending:
            progress = []
            for model in pending:
                text = (root / model.path).read_text(encoding="utf-8")
                first = render_model(text, model_name=model.name, incremental=False)
                refs = {c.args[-1] for c in first.relations.values() if c.kind == "ref" and c.args}
                if any(r in models and r not in keys for r in refs):
                    continue
                progress.append(model)
                statements = []
                for incremental in (False, True):
                    rendered = first if not incremental else render_model(
                        text, model_name=model.name, incremental=True)
                    statements.append((
                        _localise(rendered, model, tags, repo, raw, sources),
                        [_localise(replace(rendered, sql=query.sql), model, tags, repo, raw, sources)
                         for query in rendered.queries],  # `{{ this }}`: the plain view
                    ))
                upstream = sorted((r, keys.get(r)) for r in refs)
                key = hashlib.sha256(repr((model.name, statements, upstream)).encode()).hexdigest()
                keys[model.name] = key
                if key not in self.memo:
                    self.memo[key] = self._bind(model.name, key, statements)
                plain, incremental_verdict, has_view = self.memo[key]
                self._set_view(model.name, key if has_view else None, statements[0][0])
                verdicts[(model.path, False)] = plain
                verdicts[(model.path, True)] = incremental_verdict
            if not progress:
                break  # a ref cycle: leave the rest unjudged
            pending = [m for m in pending if m not in progress]
        return verdicts

    def _bind(self, name: str, key: str, statements: list[tuple[str, list[str]]]
              ) -> tuple[str, str, bool]:
        import duckdb

        self._set_view(name, None, "")
        found = []
        for incremental, (sql, queries) in enumerate(statements):
            try:
                self.con.execute(f"describe {sql}")
                verdict = "ok"
                if not incremental:
                    self.con.execute(f'create or replace view "model__{name}" as {sql}')
                    self.installed[name] = key
                for query in queries:
                    self.con.execute(f"describe {query}")
            except duckdb.Error as exc:
                verdict = _classify(str(exc))
            found.append(verdict)
        return found[0], found[1], self.installed.get(name) == key

    def _set_view(self, name: str, key: str | None, sql: str) -> None:
        """Make the view of model `name` hold the SQL of `key` (None: no view)."""
        if self.installed.get(name) == key:
            return
        if key is None:
            self.con.execute(f'drop view if exists "model__{name}"')
        else:
            self.con.execute(f'create or replace view "model__{name}" as {sql}')
        self.installed[name] = key


def _classify(message: str) -> str:
    if "Could not find key" in message:
        return "struct"
    if "cannot contain aggregates" in message or "must appear in the GROUP BY clause" in message:
        return "aggregate"
    if re.search(r"Referenced column .* not found|does not have a column named|"
                 r"Referenced table .* not found|column .* not found", message, re.I):
        return "column"
    return "other"


def _localise(rendered: Any, model: Any, tags: dict, repo: Any, raw: Path, sources: dict) -> str:
    """The rendered SQL with relations pointing at the local empty Parquet files and views."""
    sql = rendered.sql.replace("s3://landing/raw/", f"{raw.as_posix()}/")
    sql = _explicit_hive(sql.replace("s3://", f"{raw.as_posix()}/not-raw/"))  # never the network
    own = next((tags[t] for t in rendered.config.get("tags", []) if t in tags), None)
    if own is None and "__" in model.name:
        source, name = model.name.split("_", 1)[1].split("__", 1)
        own = repo.stream(source, name)
    for placeholder, call in rendered.relations.items():
        if call.kind == "files" and own is not None:
            sql = sql.replace(placeholder, f"{raw.as_posix()}/{own.source}/{own.name}/**/*.parquet")
        elif call.kind == "source":
            location = sources.get(tuple(call.args[:2]), "undeclared_source_table")
            sql = re.sub(rf"\b{re.escape(placeholder)}\b", location, sql)
        elif call.kind == "ref":
            sql = re.sub(rf"\b{re.escape(placeholder)}\b", f'"model__{call.args[-1]}"', sql)
        elif call.kind == "this":
            sql = re.sub(rf"\b{re.escape(placeholder)}\b", f'"model__{model.name}"', sql)
    return sql


def _explicit_hive(sql: str) -> str:
    """DuckDB auto-detects `year=2024/` folders; the rule (and dbt-duckdb's contract in the
    reference tree) is that partition columns exist only with `hive_partitioning=true`, so reads
    without the option get `hive_partitioning=false` here, to test that contract."""
    out, cursor = [], 0
    for match in re.finditer(r"read_parquet\(", sql, re.I):
        depth, i = 1, match.end()
        while i < len(sql) and depth:
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        call = sql[match.start():i]
        if "hive_partitioning" not in call:
            out.append(sql[cursor:i - 1] + ", hive_partitioning=false)")
            cursor = i
    return "".join(out) + sql[cursor:]


def _external_locations(repo: Any, raw: Path) -> dict[tuple[str, str], str]:
    out = {}
    for path in repo.model_yaml_files:
        doc = repo.yaml(path)
        for source in (doc.data or {}).get("sources", []) if doc else []:
            location = source.get("config", {}).get("meta", {}).get("external_location", "")
            location = _explicit_hive(re.sub(r"\{\{.*?\}\}", raw.as_posix(), location))
            for table in source.get("tables", []):
                out[(source["name"], table["name"])] = location.replace("{name}", table["name"])
    return out


def _write_stream_parquet(repo: Any, stream: Any, folder: Path) -> None:
    """An empty Parquet file with exactly the columns the stream lands (hive-partitioned path),
    and one beside the stream's folder (`<stream>0.parquet`, the flat layout globs read)."""
    import duckdb

    config = repo.json(stream.config_path).data
    schema = repo.json(stream.schema_path).data["fields"] if stream.schema_path else {}
    columns = []
    for name, definition in config["fields"].items():
        columns.append((name, duckdb_type(schema.get(name, definition))))
    if config.get("connector") == "dlt":
        columns += [("_dlt_load_id", "VARCHAR"), ("_dlt_id", "VARCHAR")]
    else:
        columns += [("_airbyte_raw_id", "VARCHAR"), ("_airbyte_extracted_at", "TIMESTAMP"),
                    ("_airbyte_meta", AIRBYTE_META_TYPE), ("_airbyte_generation_id", "BIGINT")]
    target = folder / "year=2024" / "month=1" / "day=1"
    target.mkdir(parents=True, exist_ok=True)
    select = ", ".join(f"cast(null as {t}) as {quote_ident(n)}" for n, t in columns)
    flat = folder.parent / f"{stream.name}0.parquet"
    for path in (target / "data.parquet", flat):
        duckdb.connect().execute(
            f"copy (select {select} where false) to '{path.as_posix()}' (format parquet)"
        )


# ---- runtime vars in small trees: which vars the orchestrator passes, who runs the model -------

DAGSTER_PER_STREAM = """\
import json

from dagster_dbt import dbt_assets


def build_dbt_assets(source, stream):
    select = {selection}

    @dbt_assets(manifest=MANIFEST, select=select)
    def _assets(context, dbt):
        dbt_vars = {{'file': landed(context), 'files': [landed(context)]}}
        yield from dbt.cli(['build', '--select', select, '--vars', json.dumps(dbt_vars)],
                           context=context).stream()
    return _assets
"""
BY_STREAM_TAG = "f'tag:{source}__{stream}'"
BY_MODEL_NAME = "f'{source}_{stream}'"


def _runtime_tree(models: dict[str, str], selection: str | None = BY_STREAM_TAG,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """stripe.customers read at run time by `models` (core/stripe/<name>.sql -> SQL), with
    Dagster code selecting by `selection` (None: no Dagster code)."""
    from tests.builders import stream_config

    files: dict[str, Any] = {
        f"{STREAMS}/stripe/customers.json": stream_config("customers"),
        **{f"{CORE}/stripe/{name}.sql": sql for name, sql in models.items()},
        **(extra or {}),
    }
    if selection is not None:
        files["orchestration/assets/core/assets.py"] = DAGSTER_PER_STREAM.format(selection=selection)
    return files


RUNTIME_READ = "{{ config(tags=['core']) }}\nselect id, email from read_parquet('{{ var(\"file\") }}')\n"


def _lint(make_repo: Any, files: dict[str, Any]) -> list[tuple[str, str, int | None, int | None]]:
    return codes_of(_findings(make_repo, files))


def test_runtime_read_in_a_repo_running_models_by_name_is_silent(make_repo: Any) -> None:
    """Models named `<source>_<stream>`, tagged only 'core', selected by name by the Dagster
    code: Dagster passes each its files; no stream need be told from the model."""
    files = _runtime_tree({"stripe_customers": RUNTIME_READ}, BY_MODEL_NAME)
    assert _lint(make_repo, files) == []
    # The neighbour: the same model where Dagster runs models by stream tag gets no files.
    files = _runtime_tree({"stripe_customers": RUNTIME_READ}, BY_STREAM_TAG)
    assert _lint(make_repo, files) == [("LL406", f"{CORE}/stripe/stripe_customers.sql", 2, 40)]


def test_var_the_orchestrator_does_not_pass_is_ll004(make_repo: Any) -> None:
    """`var("fiel")` (a typo of the `file` Dagster passes): dbt build fails on the missing var."""
    model = f"{CORE}/stripe/int_stripe__customers.sql"
    typo = RUNTIME_READ.replace('var("file")', 'var("fiel")')
    [finding] = _findings(make_repo, _runtime_tree({"int_stripe__customers": typo}))
    assert (finding.code, finding.path, finding.line, finding.column) == ("LL004", model, 2, 40)
    assert "Required var 'fiel' not found" in finding.message
    assert finding.hint.startswith("did you mean `file`")
    # The neighbours: the var Dagster passes; the same typo declared in `runtime-vars`; no
    # Dagster code to tell what is passed.
    assert _lint(make_repo, _runtime_tree({"int_stripe__customers": RUNTIME_READ})) == []
    declared = {"lotus-check.toml": 'runtime-vars = ["fiel"]\n'}
    assert _lint(make_repo, _runtime_tree({"int_stripe__customers": typo}, extra=declared)) == []
    assert _lint(make_repo, _runtime_tree({"int_stripe__customers": typo}, selection=None)) == []


def test_var_in_dagster_code_passing_no_vars_is_ll004(make_repo: Any) -> None:
    files = _runtime_tree({"int_stripe__customers": RUNTIME_READ})
    code = files["orchestration/assets/core/assets.py"]
    files["orchestration/assets/core/assets.py"] = code.replace(", '--vars', json.dumps(dbt_vars)", "")
    assert [c[0] for c in _lint(make_repo, files)] == ["LL004"]


def test_select_ll004_reports_template_errors_in_models(make_repo: Any) -> None:
    """`--select LL004` runs the family that renders models (it finds their template errors)."""
    broken = RUNTIME_READ.replace('var("file")', "landing_path()")
    root = make_repo(_runtime_tree({"int_stripe__customers": broken}))
    found = codes(run(with_overrides(load_config(root), select=["LL004"]), use_cache=False))
    assert found == [("LL004", f"{CORE}/stripe/int_stripe__customers.sql", 2, 40)]
    root = make_repo(_runtime_tree({"int_stripe__customers": RUNTIME_READ}))
    assert codes(run(with_overrides(load_config(root), select=["LL004"]), use_cache=False)) == []


def _findings(make_repo: Any, files: dict[str, Any]) -> list[Finding]:
    """What the columns family's check finds on the tree `files` (its LL4xx, LL003, LL004)."""
    found = check_family(columns_family, make_repo(files))
    return sorted((f for f in found if f.code.startswith(COLUMN_CODES)), key=Finding.sort_key)


def test_runtime_value_as_ref_or_source_argument_is_one_ll004(make_repo: Any) -> None:
    """dbt resolves ref()/source() when it parses, without --vars: one LL004, no placeholder."""
    for call in ("ref(var('upstream'))", "source(var('src'), 'customers')"):
        sql = "{{ config(tags=['core']) }}\nselect id from {{ " + call + " }}\n"
        [finding] = _findings(make_repo, _runtime_tree({"int_stripe__customers": sql}))
        assert finding.code == "LL004" and finding.line == 2
        assert "__lotus" not in finding.message + finding.hint
    # The neighbour: a ref() of a model that exists.
    files = _runtime_tree({
        "int_stripe__customers": "{{ config(tags=['core']) }}\nselect id from {{ ref('int_stripe__base') }}\n",
        "int_stripe__base": "select 1 as id\n",
    })
    assert _findings(make_repo, files) == []


def test_messages_show_a_runtime_path_as_written(make_repo: Any) -> None:
    sql = ("{{ config(tags=['core']) }}\n"
           "select id from read_parquet('{{ var(\"file\") }}/raw/stripe/charges/*.parquet')\n")
    files = _runtime_tree({"int_stripe__customers": sql})
    [finding] = _findings(make_repo, files)
    assert finding.code == "LL406"
    assert """'{{ var("file") }}/raw/stripe/charges/*.parquet'""" in finding.message
    own = sql.replace("charges", "customers")
    assert _findings(make_repo, _runtime_tree({"int_stripe__customers": own})) == []


def test_brace_alternatives_are_not_duckdb_globs(make_repo: Any) -> None:
    sql = ("{{ config(tags=['core']) }}\n"
           "select id from read_parquet('s3://landing/raw/stripe/{customers,charges}/*.parquet')\n")
    [finding] = _findings(make_repo, _runtime_tree({"int_stripe__customers": sql}))
    assert finding.code == "LL406" and "do not expand" in finding.message
    assert ("['s3://landing/raw/stripe/customers/*.parquet', "
            "'s3://landing/raw/stripe/charges/*.parquet']") in finding.hint


def test_var_in_a_model_run_by_a_command_passing_no_vars_is_ll004(make_repo: Any) -> None:
    """The marts are built by `dbt build --select tag:marts` with no --vars: `var("file")`
    fails there, while the stream's model, built with --vars, gets it."""
    marts = ("\n\n@dbt_assets(manifest=MANIFEST, select='tag:marts')\ndef marts(context, dbt):\n"
             "    yield from dbt.cli(['build', '--select', 'tag:marts'], context=context).stream()\n")
    mart = RUNTIME_READ.replace("tags=['core']", "tags=['marts']")
    stream_model = RUNTIME_READ.replace("tags=['core']", "tags=['core', 'stripe__customers']")
    files = _runtime_tree({"int_stripe__customers": stream_model})
    files["orchestration/assets/core/assets.py"] += marts
    assert _lint(make_repo, files) == []
    files["orchestration/assets/marts/sales/fct_sales.sql"] = mart
    assert _lint(make_repo, files) == [("LL004", "orchestration/assets/marts/sales/fct_sales.sql", 2, 40)]


def test_dagster_code_that_runs_no_dbt_does_not_decide_the_vars(make_repo: Any) -> None:
    """A sensor file importing Dagster beside the models, dbt run elsewhere: vars are not judged."""
    typo = RUNTIME_READ.replace('var("file")', 'var("fiel")')
    sensor = "from dagster import sensor\n\n\n@sensor(job=JOB)\ndef landed(context):\n    return None\n"
    files = _runtime_tree({"int_stripe__customers": typo}, selection=None,
                          extra={"orchestration/assets/core/sensors.py": sensor})
    assert _lint(make_repo, files) == []


def test_runtime_var_through_set_printed_in_quotes_parses(make_repo: Any) -> None:
    """`{% set d = var('start_date') %} ... >= '{{ d }}'` is a string: no false LL003."""
    sql = ("{% set d = var('start_date') %}{{ config(tags=['core']) }}\n"
           "select id, email from read_parquet('{{ var(\"file\") }}') where updated_at >= '{{ d }}'\n")
    declared = {"lotus-check.toml": 'runtime-vars = ["file", "start_date"]\n'}
    assert _lint(make_repo, _runtime_tree({"int_stripe__customers": sql}, extra=declared)) == []
    # The neighbour: a real parse error next to it is still LL003.
    broken = sql.replace("where updated_at", "where where updated_at")
    found = _lint(make_repo, _runtime_tree({"int_stripe__customers": broken}, extra=declared))
    assert [c[0] for c in found] == ["LL003"]
