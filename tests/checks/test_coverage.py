"""LL3xx coverage: stream -> dbt source table, model, tag, model-paths, Terraform connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lotus_checks.checks import coverage as coverage_family
from lotus_checks.core.dbt_project import model_paths
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import RunResult
from lotus_checks.core.finding import Severity
from lotus_checks.lake.terraform import HclError
from lotus_checks.lake.terraform import parse_hcl
from tests.builders import CORE
from tests.builders import MARTS
from tests.builders import REFERENCE_TREE
from tests.builders import STREAMS
from tests.builders import stream_config
from tests.conftest import check_family
from tests.conftest import check_tree
from tests.conftest import codes

TF = "orchestration/airbyte/terraform"
PROJECT = "orchestration/dbt_project.yml"
SHOPIFY_SOURCES = f"{CORE}/shopify/_shopify__sources.yml"

SOURCES_YML = """\
version: 2

sources:
  - name: shopify
    schema: raw_shopify
    tables:
      - name: orders
      - name: customers
"""

DBT_PROJECT = """\
name: lake
config-version: 2
profile: lake

model-paths:
  - assets/core/shopify
  - assets/core/gorgias
  - assets/marts
"""

CONNECTIONS_TF = """\
resource "airbyte_connection" "shopify" {
  name         = "shopify -> landing"
  source_id    = airbyte_source_shopify.shopify.source_id
  sync_catalog = jsondecode(file("${path.module}/../../assets/streams/shopify/_catalog.json"))
}
"""

SOURCES_TF = """\
resource "airbyte_source_shopify" "shopify" {
  name = "shopify"
}
"""


def model(tags: list[str], body: str = "select 1 as id") -> str:
    listed = ", ".join(f"'{t}'" for t in tags)
    return f"{{{{ config(tags=[{listed}], materialized='table') }}}}\n\n{body}\n"


def lake_files() -> dict[str, Any]:
    """A small correct lake: shopify (Airbyte, read through source()) and gorgias (dlt)."""
    return {
        f"{STREAMS}/shopify/orders.json": stream_config("orders"),
        f"{STREAMS}/shopify/customers.json": stream_config("customers"),
        f"{STREAMS}/shopify/_catalog.json": {"streams": []},
        f"{STREAMS}/gorgias/tickets.json": stream_config(
            "tickets", connector="dlt", destination_sync_mode="merge"
        ),
        SHOPIFY_SOURCES: SOURCES_YML,
        f"{CORE}/shopify/int_shopify__orders.sql": model(
            ["core", "shopify__orders"], "select id from {{ source('shopify', 'orders') }}"
        ),
        # Fan-out: its entity is not a stream, its tag names one.
        f"{CORE}/shopify/int_shopify__order_lines.sql": model(
            ["core", "shopify__orders"], "select id from {{ source('shopify', 'orders') }}"
        ),
        f"{CORE}/shopify/int_shopify__customers.sql": model(
            ["core", "shopify__customers"],
            "select id from read_parquet({{ var('files') }}, hive_partitioning=true)",
        ),
        f"{CORE}/gorgias/int_gorgias__tickets.sql": model(
            ["core", "gorgias__tickets"],
            "select id from read_parquet({{ var('files') }}, hive_partitioning=true)",
        ),
        f"{MARTS}/sales/fct_sales.sql": model(
            ["marts"], "select id from {{ ref('int_shopify__orders') }}"
        ),
        f"{MARTS}/marketing/dim_customers.sql": model(
            ["marts"], "select id from {{ ref('int_shopify__customers') }}"
        ),
        PROJECT: DBT_PROJECT,
        f"{TF}/connections.tf": CONNECTIONS_TF,
        f"{TF}/sources.tf": SOURCES_TF,
    }


def check_coverage(root: Path) -> list[Finding]:
    """What the coverage family's check (LL3xx, and LL007 it reports for Terraform) finds on
    `root`, in the engine's order."""
    return sorted(check_family(coverage_family, root), key=Finding.sort_key)


def engine_coverage(root: Path, targets: list[str] | None = None) -> RunResult:
    """The coverage family through the engine, with the session's fact cache: for what the
    engine adds (scoping to targets, noqa, ignore)."""
    return check_tree(root, targets, select=["LL3", "LL007"], shared_cache=True)


def check_all(root: Path, targets: list[str] | None = None) -> RunResult:
    """Every family, with the session's fact cache: for a mistake no other family may report."""
    return check_tree(root, targets, shared_cache=True)


def _findings(result: RunResult | list[Finding]) -> list[Finding]:
    return result.findings if isinstance(result, RunResult) else result


def coverage(result: RunResult | list[Finding]) -> list[tuple[str, str, int | None, int | None]]:
    """Findings of this family (and LL007, which it reports for Terraform)."""
    return [(f.code, f.path, f.line, f.column) for f in _findings(result)
            if f.code.startswith("LL3") or f.code == "LL007"]


def only(result: RunResult | list[Finding], code: str) -> list[Finding]:
    return [f for f in _findings(result) if f.code == code]


def first(result: RunResult | list[Finding]) -> Finding:
    """The first finding of this family."""
    return next(f for f in _findings(result) if f.code.startswith("LL3") or f.code == "LL007")


@pytest.fixture
def lake(make_repo: Callable[..., Path]) -> Callable[..., Path]:
    """lake({path: content-or-None}) -> a correct lake with those changes applied."""

    def _make(changes: dict[str, Any] | None = None) -> Path:
        files = lake_files()
        files.update(changes or {})
        return make_repo({k: v for k, v in files.items() if v is not None})

    return _make


def test_correct_lake_is_clean(lake: Callable[..., Path]) -> None:
    assert coverage(check_coverage(lake())) == []


def test_reference_tree_is_clean(reference_repo: Path) -> None:
    assert coverage(check_coverage(reference_repo)) == []


# ---- LL301 ----------------------------------------------------------------------------------


def _raw_named(files: dict[str, Any]) -> dict[str, Any]:
    """The lake whose dbt source for shopify is named `shopify_raw` (models read it so)."""
    out = dict(files)
    out[SHOPIFY_SOURCES] = SOURCES_YML.replace("name: shopify", "name: shopify_raw")
    for path, text in files.items():
        if path.endswith(".sql") and isinstance(text, str):
            out[path] = text.replace("source('shopify',", "source('shopify_raw',")
    return out


def test_ll301_judges_the_dbt_source_the_models_read(lake: Callable[..., Path]) -> None:
    """Every model reads `source('shopify_raw', ...)`: that is where shopify's streams are
    declared, and they all are (LL106 leaves the name to the repo)."""
    files = _raw_named(lake_files())
    assert coverage(check_coverage(lake(files))) == []
    files[SHOPIFY_SOURCES] = files[SHOPIFY_SOURCES].replace("      - name: orders\n", "")
    result = check_coverage(lake(files))
    assert coverage(result) == [("LL301", SHOPIFY_SOURCES, 6, 5)]
    assert "tables:` of source `shopify_raw`" in first(result).hint


def test_ll301_stream_without_table_fires_on_the_tables_key(lake: Callable[..., Path]) -> None:
    """`orders` is read through source(); `customers` by the paths Dagster passes (it needs no
    table: nothing calls source() on it)."""
    root = lake({SHOPIFY_SOURCES: SOURCES_YML.replace("      - name: orders\n", "")})
    result = check_coverage(root)
    assert coverage(result) == [("LL301", SHOPIFY_SOURCES, 6, 5)]
    assert "shopify.orders" in first(result).message
    assert "- name: orders" in only(result, "LL301")[0].hint
    root = lake({SHOPIFY_SOURCES: SOURCES_YML.replace("      - name: customers\n", "")})
    assert coverage(check_coverage(root)) == []


def test_ll301_in_a_commit_of_only_the_new_stream_points_at_its_config(
    lake: Callable[..., Path],
) -> None:
    root = lake({f"{STREAMS}/shopify/refunds.json": stream_config("refunds")})
    target = f"{STREAMS}/shopify/refunds.json"
    result = engine_coverage(root, [target])
    assert ("LL301", target, 2, 3) in coverage(result)


def test_ll301_silent_for_sources_not_read_through_source(lake: Callable[..., Path]) -> None:
    # gorgias has no sources file and its models use read_parquet only.
    root = lake({f"{STREAMS}/gorgias/users.json": stream_config("users", connector="dlt"),
                 f"{CORE}/gorgias/int_gorgias__users.sql": model(["gorgias__users"])})
    assert [c for c in coverage(check_coverage(root)) if c[0] == "LL301"] == []


def test_ll301_fires_when_models_use_source_but_no_sources_file(
    lake: Callable[..., Path],
) -> None:
    root = lake({SHOPIFY_SOURCES: None})
    found = [c for c in coverage(check_coverage(root)) if c[0] == "LL301"]
    # customers is read by path, not through source(): it needs no table
    assert found == [("LL301", f"{STREAMS}/shopify/orders.json", 2, 3)]


def test_ll301_skips_streams_that_are_not_synced(lake: Callable[..., Path]) -> None:
    root = lake(
        {
            f"{STREAMS}/shopify/customers.json": stream_config("customers", selected=False),
            SHOPIFY_SOURCES: SOURCES_YML.replace("      - name: customers\n", ""),
        }
    )
    assert coverage(check_coverage(root)) == []


# ---- LL302 ----------------------------------------------------------------------------------


def test_ll302_stream_without_model_names_the_file_to_create(lake: Callable[..., Path]) -> None:
    root = lake({f"{CORE}/shopify/int_shopify__customers.sql": None})
    result = check_coverage(root)
    assert coverage(result) == [("LL302", f"{STREAMS}/shopify/customers.json", 2, 3)]
    assert f"create {CORE}/shopify/int_shopify__customers.sql" in first(result).hint
    assert first(result).severity is Severity.ERROR  # nothing is built from the stream


def test_ll302_silent_where_no_stream_model_is_named_by_the_convention(
    lake: Callable[..., Path],
) -> None:
    files = lake_files()
    renamed: dict[str, Any] = {}
    for path, text in files.items():
        if path.startswith(f"{CORE}/") and path.endswith(".sql"):
            renamed[path] = None
            renamed[path.replace("/int_", "/")] = text  # shopify__orders.sql, ...
    assert [c for c, *_ in coverage(check_coverage(lake(renamed))) if c == "LL302"] == []


def test_ll302_stream_models_in_another_per_source_layer(lake: Callable[..., Path]) -> None:
    """A repo whose stream models are `stg_<source>__<stream>` has them all."""
    files = lake_files()
    renamed = {}
    for path, text in files.items():
        if path.startswith(f"{CORE}/") and path.endswith(".sql"):
            renamed[path] = None
            renamed[path.replace("/int_", "/stg_")] = text
    assert coverage(check_coverage(lake(renamed))) == []
    renamed[f"{CORE}/shopify/stg_shopify__customers.sql"] = None
    assert coverage(check_coverage(lake(renamed))) == [("LL302", f"{STREAMS}/shopify/customers.json", 2, 3)]


def test_ll302_dlt_streams_need_models_too(lake: Callable[..., Path]) -> None:
    root = lake({f"{CORE}/gorgias/int_gorgias__tickets.sql": None})
    assert coverage(check_coverage(root)) == [("LL302", f"{STREAMS}/gorgias/tickets.json", 2, 3)]


def test_ll302_fan_out_alone_does_not_cover_the_stream(lake: Callable[..., Path]) -> None:
    root = lake({f"{CORE}/shopify/int_shopify__orders.sql": None})
    assert coverage(check_coverage(root)) == [("LL302", f"{STREAMS}/shopify/orders.json", 2, 3)]


def test_ll302_renamed_model_in_reference_tree(reference_repo: Path) -> None:
    """The issue's example: the model renamed away from its stream, tag kept."""
    core = reference_repo / "orchestration/assets/core/shopify"
    (core / "int_shopify__order_refunds.sql").rename(core / "int_shopify__refunds.sql")
    result = check_all(reference_repo)
    # fct_sales refs the old name, so the reference rules (LL4xx) rightly report it too.
    assert [c for c in codes(result) if not c[0].startswith("LL4")] == [
        ("LL302", "orchestration/assets/streams/shopify/order_refunds.json", 2, 3)
    ]
    # Dagster still runs the renamed model by its tag: the name is off, no data is lost.
    assert only(result, "LL302")[0].severity is Severity.WARNING


def test_ll302_renamed_unreferenced_model_gives_exactly_one_finding(
    reference_repo: Path,
) -> None:
    # No mart refs int_shopify__fulfillments, so nothing else may break.
    core = reference_repo / "orchestration/assets/core/shopify"
    (core / "int_shopify__fulfillments.sql").rename(core / "int_shopify__shipments.sql")
    result = check_all(reference_repo)
    assert codes(result) == [
        ("LL302", "orchestration/assets/streams/shopify/fulfillments.json", 2, 3)
    ]


def test_ll302_in_a_commit_of_only_the_renamed_model_points_at_it(
    lake: Callable[..., Path],
) -> None:
    renamed = f"{CORE}/shopify/int_shopify__clients.sql"
    root = lake(
        {
            f"{CORE}/shopify/int_shopify__customers.sql": None,
            renamed: model(["core", "shopify__customers"]),
        }
    )
    result = engine_coverage(root, [renamed])
    assert coverage(result) == [("LL302", renamed, 1, 25)]
    assert first(result).hint.startswith(f"rename {renamed} to int_shopify__customers.sql")


# ---- LL303 ----------------------------------------------------------------------------------


def test_ll303_model_without_stream_tag_fires_at_tags(lake: Callable[..., Path]) -> None:
    path = f"{CORE}/shopify/int_shopify__customers.sql"
    root = lake({path: model(["core"])})
    result = check_coverage(root)
    assert coverage(result) == [("LL303", path, 1, 11)]
    assert "'core', 'shopify__customers'" in first(result).hint


def test_ll303_multiline_config(lake: Callable[..., Path]) -> None:
    path = f"{CORE}/shopify/int_shopify__orders.sql"
    text = "{{\n  config(\n    materialized='table',\n    tags=['core']\n  )\n}}\nselect 1 as id\n"
    root = lake({path: text})
    assert coverage(check_coverage(root)) == [("LL303", path, 4, 5)]


def test_ll303_no_config_at_all(lake: Callable[..., Path]) -> None:
    path = f"{CORE}/shopify/int_shopify__orders.sql"
    root = lake({path: "select 1 as id\n"})
    assert coverage(check_coverage(root)) == [("LL303", path, 1, 1)]


def test_ll303_custom_stream_tag_pattern(lake: Callable[..., Path]) -> None:
    files = {
        "lotus-check.toml": 'stream-tag = "stream:{source}.{stream}"\n',
        f"{CORE}/shopify/int_shopify__orders.sql": model(["stream:shopify.orders"]),
        f"{CORE}/shopify/int_shopify__order_lines.sql": model(["stream:shopify.orders"]),
        f"{CORE}/shopify/int_shopify__customers.sql": model(["shopify__customers"]),
        f"{CORE}/gorgias/int_gorgias__tickets.sql": model(["stream:gorgias.tickets"]),
    }
    result = check_coverage(lake(files))
    assert coverage(result) == [("LL303", f"{CORE}/shopify/int_shopify__customers.sql", 1, 11)]


def _core_only(files: dict[str, Any]) -> dict[str, Any]:
    """The lake before it adopted per-stream tags: every core model tagged only 'core'."""
    out = {}
    for path, text in files.items():
        if path.startswith(CORE) and path.endswith(".sql"):
            body = text.split("\n\n", 1)[1]
            out[path] = model(["core"], body.strip())
    return out


DAGSTER_BY_STREAM_TAG = """\
from dagster_dbt import dbt_assets


def build_dbt_assets(source: str, stream: str):
    @dbt_assets(manifest=MANIFEST, select=f"tag:{source}__{stream}")
    def _assets(context, dbt):
        yield from dbt.cli(["build"], context=context).stream()
    return _assets
"""

DAGSTER_BY_CORE_TAG = """\
from dagster_dbt import dbt_assets


def build_dbt_assets(source: str, stream: str):
    # One asset per stream, named after it, still running every core model.
    @dbt_assets(manifest=MANIFEST, select="tag:core", name=f"dbt_{source}__{stream}")
    def _assets(context, dbt):
        yield from dbt.cli(["build", "--select", "tag:core"], context=context).stream()
    return _assets
"""


def test_ll303_and_ll306_silent_before_the_repo_uses_stream_tags(lake: Callable[..., Path]) -> None:
    files = _core_only(lake_files())
    files["orchestration/assets/core/assets.py"] = DAGSTER_BY_CORE_TAG
    assert coverage(check_coverage(lake(files))) == []


def test_ll303_fires_once_dagster_selects_by_stream_tag(lake: Callable[..., Path]) -> None:
    files = _core_only(lake_files())
    files["orchestration/assets/core/assets.py"] = DAGSTER_BY_STREAM_TAG
    found = coverage(check_coverage(lake(files)))
    assert [(c, p) for c, p, *_ in found if c == "LL303"] == [
        ("LL303", f"{CORE}/gorgias/int_gorgias__tickets.sql"),
        ("LL303", f"{CORE}/shopify/int_shopify__customers.sql"),
        ("LL303", f"{CORE}/shopify/int_shopify__orders.sql"),
    ]
    # The fan-out tagged only 'core' now names no stream Dagster could select it by.
    assert ("LL306", f"{CORE}/shopify/int_shopify__order_lines.sql", 1, 1) in found


@pytest.mark.parametrize(
    "selection",
    [
        '"tag:{}__{}".format(source, stream)',
        '"tag:%s__%s" % (source, stream)',
        'f"tag:{tag}"',
        '"tag:" + tag',
    ],
)
def test_ll303_dagster_selection_built_by_format_percent_or_variable(
    lake: Callable[..., Path], selection: str
) -> None:
    files = _core_only(lake_files())
    code = DAGSTER_BY_STREAM_TAG.replace('f"tag:{source}__{stream}"', selection)
    code = code.replace("    @dbt_assets", '    tag = f"{source}__{stream}"\n    @dbt_assets')
    files["orchestration/assets/core/assets.py"] = code
    assert [c for c, *_ in coverage(check_coverage(lake(files)))].count("LL303") == 3


def test_ll303_without_dagster_code_some_stream_tag_decides_per_source(
    lake: Callable[..., Path],
) -> None:
    """No Dagster code to read: a model carrying a stream tag of its source shows the source's
    models are run by stream tag; the other source's untagged models are left alone."""
    files = _core_only(lake_files())
    tagged = f"{CORE}/shopify/int_shopify__orders.sql"
    files[tagged] = model(["core", "shopify__orders"], "select id from {{ source('shopify', 'orders') }}")
    found = [(c, p) for c, p, *_ in coverage(check_coverage(lake(files))) if c == "LL303"]
    assert found == [("LL303", f"{CORE}/shopify/int_shopify__customers.sql")]


def test_ll303_silent_when_dagster_selects_a_fixed_tag_whatever_the_models_carry(
    lake: Callable[..., Path],
) -> None:
    """The Dagster code runs every stream's asset on `tag:core`: a model that already carries
    its stream tag does not make the others unrun."""
    files = _core_only(lake_files())
    files["orchestration/assets/core/assets.py"] = DAGSTER_BY_CORE_TAG
    tagged = f"{CORE}/shopify/int_shopify__orders.sql"
    files[tagged] = model(["core", "shopify__orders"], "select id from {{ source('shopify', 'orders') }}")
    assert coverage(check_coverage(lake(files))) == []
    # The neighbour: the same repo once its Dagster code selects by stream tag.
    files["orchestration/assets/core/assets.py"] = DAGSTER_BY_STREAM_TAG
    found = [(c, p) for c, p, *_ in coverage(check_coverage(lake(files))) if c == "LL303"]
    assert found == [
        ("LL303", f"{CORE}/gorgias/int_gorgias__tickets.sql"),
        ("LL303", f"{CORE}/shopify/int_shopify__customers.sql"),
    ]


@pytest.mark.parametrize(
    "code",
    [
        # A comment or a docstring naming the stream-tag selection is no selection.
        DAGSTER_BY_CORE_TAG.replace('select="tag:core",', 'select="tag:core",  # TODO: f"tag:{source}__{stream}"'),
        DAGSTER_BY_CORE_TAG.replace("def build_dbt_assets(source: str, stream: str):\n",
                                    'def build_dbt_assets(source: str, stream: str):\n'
                                    '    """Later: select f"tag:{source}__{stream}"."""\n'),
    ],
    ids=["comment", "docstring"],
)
def test_ll303_comment_or_docstring_in_dagster_code_does_not_count(
    lake: Callable[..., Path], code: str
) -> None:
    files = _core_only(lake_files())
    files["orchestration/assets/core/assets.py"] = code
    assert "tag:{source}__{stream}" in code
    assert coverage(check_coverage(lake(files))) == []


def test_ll303_selection_passed_from_elsewhere_leaves_it_to_the_models(
    lake: Callable[..., Path],
) -> None:
    """`select=selection` handed in by a caller the checker cannot follow: the models decide."""
    files = _core_only(lake_files())
    files["orchestration/assets/core/assets.py"] = DAGSTER_BY_CORE_TAG.replace(
        'select="tag:core"', "select=selection").replace("stream: str)", "stream: str, selection)")
    assert coverage(check_coverage(lake(files))) == []
    files[f"{CORE}/shopify/int_shopify__orders.sql"] = model(
        ["core", "shopify__orders"], "select id from {{ source('shopify', 'orders') }}")
    found = [(c, p) for c, p, *_ in coverage(check_coverage(lake(files))) if c == "LL303"]
    assert found == [("LL303", f"{CORE}/shopify/int_shopify__customers.sql")]


def test_ll303_can_be_ignored_for_repos_that_tag_only_core(lake: Callable[..., Path]) -> None:
    path = f"{CORE}/shopify/int_shopify__customers.sql"
    root = lake({path: model(["core"]), "lotus-check.toml": 'ignore = ["LL303"]\n'})
    assert coverage(engine_coverage(root)) == []


# ---- LL304 ----------------------------------------------------------------------------------


def test_ll304_folder_missing_from_model_paths(lake: Callable[..., Path]) -> None:
    root = lake({PROJECT: DBT_PROJECT.replace("  - assets/core/gorgias\n", "")})
    result = check_coverage(root)
    assert coverage(result) == [("LL304", PROJECT, 5, 1)]
    assert f"`{CORE}/gorgias`" in first(result).message
    assert "- assets/core/gorgias" in first(result).hint


def test_ll304_one_finding_for_a_folder_of_subfolders(lake: Callable[..., Path]) -> None:
    root = lake({PROJECT: DBT_PROJECT.replace("  - assets/marts\n", "")})
    result = check_coverage(root)
    assert coverage(result) == [("LL304", PROJECT, 5, 1)]
    assert f"`{MARTS}`" in first(result).message
    assert "2 models" in first(result).message


def test_ll304_parent_folder_covers_recursively(lake: Callable[..., Path]) -> None:
    root = lake({PROJECT: "name: lake\nmodel-paths: [assets]\n"})
    assert coverage(check_coverage(root)) == []


def test_ll304_default_model_paths_is_models(lake: Callable[..., Path]) -> None:
    root = lake({PROJECT: "name: lake\n"})
    found = coverage(check_coverage(root))
    assert [c[0] for c in found] == ["LL304", "LL304"]  # core and marts, at the top of the file
    assert {c[2] for c in found} == {1}


def test_ll304_pre_dbt_1_source_paths(lake: Callable[..., Path]) -> None:
    root = lake({PROJECT: "name: lake\nsource-paths:\n  - assets\n"})
    assert coverage(check_coverage(root)) == []


def test_ll304_in_a_commit_of_only_the_new_model_points_at_it(
    lake: Callable[..., Path],
) -> None:
    new = f"{CORE}/stripe/int_stripe__charges.sql"
    root = lake({new: model(["core"])})
    assert ("LL304", new, 1, 1) in coverage(engine_coverage(root, [new]))


def test_ll304_reference_tree_folder_removed(reference_repo: Path) -> None:
    project = reference_repo / PROJECT
    text = project.read_text()
    project.write_text(text.replace("  - assets/core/stripe\n", ""))
    result = check_coverage(reference_repo)
    assert coverage(result) == [("LL304", PROJECT, 8, 1)]
    assert "`orchestration/assets/core/stripe`" in first(result).message


# ---- LL305 ----------------------------------------------------------------------------------


def test_ll305_table_without_stream_is_a_warning_with_did_you_mean(
    lake: Callable[..., Path],
) -> None:
    root = lake({SHOPIFY_SOURCES: SOURCES_YML + "      - name: customer\n"})
    result = check_all(root)
    assert coverage(result) == [("LL305", SHOPIFY_SOURCES, 9, 9)]
    finding = first(result)
    assert finding.severity is Severity.WARNING
    assert "did you mean `customers`?" in finding.message
    assert result.errors == [] or all(f.code != "LL305" for f in result.errors)


def test_ll305_silent_for_dbt_sources_that_are_not_lotus_sources(
    lake: Callable[..., Path],
) -> None:
    extra = "  - name: legacy_erp\n    tables:\n      - name: invoices\n"
    root = lake({SHOPIFY_SOURCES: SOURCES_YML + extra})
    assert coverage(check_coverage(root)) == []


def test_ll305_identifier_may_name_the_stream(lake: Callable[..., Path]) -> None:
    yml = SOURCES_YML.replace("      - name: customers\n",
                              "      - name: shopify_customers\n        identifier: customers\n")
    assert coverage(check_coverage(lake({SHOPIFY_SOURCES: yml}))) == []


# ---- LL306 ----------------------------------------------------------------------------------


def test_ll306_model_naming_no_stream_without_stream_tag(lake: Callable[..., Path]) -> None:
    path = f"{CORE}/shopify/int_shopify__order_lines.sql"
    root = lake({path: model(["core"])})
    result = check_coverage(root)
    assert coverage(result) == [("LL306", path, 1, 1)]
    assert first(result).severity is Severity.WARNING
    assert "did you mean `orders`?" in first(result).message


def test_ll306_stream_tag_naming_no_stream(lake: Callable[..., Path]) -> None:
    path = f"{CORE}/shopify/int_shopify__order_lines.sql"
    root = lake({path: model(["core", "shopify__orders", "shopify__order"])})
    result = check_coverage(root)
    assert coverage(result) == [("LL306", path, 1, 44)]
    assert "did you mean `shopify__orders`?" in first(result).message


def test_ll306_a_model_with_a_stale_own_tag_is_one_finding(lake: Callable[..., Path]) -> None:
    path = f"{CORE}/shopify/int_shopify__refunds.sql"
    root = lake({path: model(["core", "shopify__refunds"])})
    assert coverage(check_coverage(root)) == [("LL306", path, 1, 1)]


def test_ll306_silent_for_fan_outs_marts_and_plain_tags(lake: Callable[..., Path]) -> None:
    root = lake(
        {
            f"{MARTS}/sales/fct_refunds.sql": model(["marts", "finance"]),
            f"{CORE}/shopify/int_shopify__order_lines.sql": model(["core", "shopify__orders"]),
        }
    )
    assert coverage(check_coverage(root)) == []


# ---- LL307 ----------------------------------------------------------------------------------


def test_ll307_airbyte_source_without_connection(lake: Callable[..., Path]) -> None:
    root = lake({f"{TF}/connections.tf": "# none yet\n"})
    result = check_coverage(root)
    assert coverage(result) == [("LL307", f"{TF}/sources.tf", 1, 1)]
    assert "airbyte_connection" in first(result).hint


def test_ll307_without_a_source_block_points_at_the_catalog(lake: Callable[..., Path]) -> None:
    root = lake({f"{TF}/connections.tf": "# none yet\n", f"{TF}/sources.tf": None})
    assert coverage(check_coverage(root)) == [
        ("LL307", f"{STREAMS}/shopify/_catalog.json", None, None)
    ]


def test_ll307_moved_catalog_is_one_finding_at_the_file_call(lake: Callable[..., Path]) -> None:
    moved = CONNECTIONS_TF.replace("assets/streams", "dag/streams")
    root = lake({f"{TF}/connections.tf": moved})
    result = check_coverage(root)
    assert coverage(result) == [("LL307", f"{TF}/connections.tf", 4, 34)]
    assert "../../assets/streams/shopify/_catalog.json" in first(result).hint


def test_ll307_skips_dlt_sources(lake: Callable[..., Path]) -> None:
    # gorgias (all streams dlt) has no connection in lake_files(): still clean.
    root = lake()
    assert not (root / f"{TF}/gorgias.tf").exists()
    assert coverage(check_coverage(root)) == []


def test_ll307_fileset_folder_must_exist(lake: Callable[..., Path]) -> None:
    tf = 'locals {\n  good = fileset("${path.module}/../../assets/streams", "*/*.json")\n' \
         '  bad  = fileset("${path.module}/../../assets/flows", "*.json")\n}\n'
    root = lake({f"{TF}/locals.tf": tf})
    assert coverage(check_coverage(root)) == [("LL307", f"{TF}/locals.tf", 3, 18)]


def test_ll307_for_each_connection_covers_by_pattern(lake: Callable[..., Path]) -> None:
    tf = """\
resource "airbyte_connection" "all" {
  for_each     = toset(["shopify"])
  sync_catalog = jsondecode(file("${path.module}/../../assets/streams/${each.key}/_catalog.json"))
}
"""
    assert coverage(check_coverage(lake({f"{TF}/connections.tf": tf}))) == []


def test_ll307_unknown_catalog_expression_is_not_guessed(lake: Callable[..., Path]) -> None:
    tf = 'resource "airbyte_connection" "x" {\n  sync_catalog = local.catalogs["x"]\n}\n'
    assert coverage(check_coverage(lake({f"{TF}/connections.tf": tf}))) == []


def test_ll307_reference_tree_folder_move_breaks_every_connection(reference_repo: Path) -> None:
    tf = reference_repo / TF / "connections.tf"
    tf.write_text(tf.read_text().replace("/../../assets/", "/../assets/"))
    found = coverage(check_coverage(reference_repo))
    assert found == [
        ("LL307", f"{TF}/connections.tf", 13, 34),
        ("LL307", f"{TF}/connections.tf", 25, 34),
        ("LL307", f"{TF}/connections.tf", 41, 34),
    ]


def test_ll007_invalid_hcl_has_a_position(lake: Callable[..., Path]) -> None:
    root = lake({f"{TF}/broken.tf": 'resource "a" "b" {\n  x = \n}\n'})
    assert coverage(check_coverage(root)) == [("LL007", f"{TF}/broken.tf", 2, 7)]


# ---- parsers --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('resource"{}=()$[]#\n ab.,/*-<EOT'))))
def test_parse_hcl_raises_only_hcl_error(text: str) -> None:
    try:
        parse_hcl(text)
    except HclError as exc:
        assert exc.message.startswith("invalid HCL")
        assert exc.line is None or exc.line >= 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "x"}, ("orchestration/models",)),
        ({"model-paths": ["a", "./b/", "../c"]}, ("orchestration/a", "orchestration/b", "c")),
        ({"model-paths": "a"}, None),
        ({"model-paths": [1]}, None),
        ([], None),
    ],
)
def test_model_paths(data: Any, expected: tuple[str, ...] | None) -> None:
    found = model_paths(PROJECT, data)
    assert (found.folders if found else None) == expected



def test_project_and_property_tags_count_like_config_tags(lake: Callable[..., Path]) -> None:
    """dbt merges tags from dbt_project.yml and YAML properties; Dagster selects on the merge."""
    project = DBT_PROJECT + "models:\n  lake:\n    +tags: [core]\n    int_shopify__customers:\n" \
        "      +tags: [shopify__customers]\n"
    root = lake(
        {
            PROJECT: project,
            f"{CORE}/shopify/int_shopify__customers.sql": "select 1 as id\n",
            f"{CORE}/gorgias/int_gorgias__tickets.sql": "select 1 as id\n",
            f"{CORE}/gorgias/_gorgias__models.yml": "version: 2\nmodels:\n"
            "  - name: int_gorgias__tickets\n    config:\n      tags: ['gorgias__tickets']\n",
        }
    )
    assert coverage(check_coverage(root)) == []


@pytest.mark.parametrize(
    ("model_path", "expected"),
    [
        ("orchestration/assets/core/shopify/int_shopify__orders.sql", ("core", "shop", "one")),
        ("orchestration/assets/core/shopify/sub/x.sql", ("core", "shop", "deep")),
        ("orchestration/assets/marts/sales/fct_sales.sql", ("core",)),
        ("orchestration/elsewhere/x.sql", ()),
    ],
)
def test_project_tags_follow_the_fqn(model_path: str, expected: tuple[str, ...]) -> None:
    from lotus_checks.core.dbt_project import project_tags

    data = {
        "name": "lake",
        "models": {
            "lake": {
                "+tags": "core",
                "shopify": {
                    "+tags": ["shop"],
                    "int_shopify__orders": {"+tags": ["one"]},
                    "sub": {"tags": ["deep"]},
                },
            }
        },
    }
    folders = ("orchestration/assets/core", "orchestration/assets/marts")
    assert project_tags(data, model_path, folders) == expected


def test_ll301_sources_file_declaring_another_source(lake: Callable[..., Path]) -> None:
    root = lake({SHOPIFY_SOURCES: SOURCES_YML.replace("name: shopify", "name: shopify_raw")})
    result = check_coverage(root)
    found = [c for c in coverage(result) if c[0] == "LL301"]
    assert found == [("LL301", f"{STREAMS}/shopify/orders.json", 2, 3)]
    assert "declares no source `shopify`" in only(result, "LL301")[0].message


def test_ll307_module_paths_resolve_from_their_own_folder(lake: Callable[..., Path]) -> None:
    module = f"{TF}/modules/conn/main.tf"
    tf = 'locals {\n  ok  = file("${path.module}/../../main.tf")\n' \
         '  bad = templatefile("${path.module}/conn.tftpl", {})\n}\n'
    root = lake({module: tf, f"{TF}/main.tf": "# root\n"})
    assert coverage(check_coverage(root)) == [("LL307", module, 3, 22)]


def test_ll307_noqa_on_the_line(lake: Callable[..., Path]) -> None:
    tf = 'locals {\n  x = file("${path.module}/gone.json") # noqa: LL307\n}\n'
    assert coverage(engine_coverage(lake({f"{TF}/locals.tf": tf}))) == []


def test_broken_inputs_give_no_coverage_false_positives(lake: Callable[..., Path]) -> None:
    root = lake(
        {
            SHOPIFY_SOURCES: "sources: [\n",  # invalid YAML: LL005, not a missing table
            PROJECT: "model-paths: 3\n",  # unusable: dbt itself reports it
            f"{STREAMS}/shopify/orders.json": "{not json",
            f"{CORE}/gorgias/_gorgias__sources.yml": "sources:\n  - 1\n  - name: gorgias\n"
            "    tables: {}\n",
        }
    )
    result = check_all(root)
    # shopify's file is unreadable; gorgias's `tables` is not a list, but its one stream is read
    # by path (no source() call needs the table).
    assert coverage(result) == []
    assert ("LL005", SHOPIFY_SOURCES, 2, 1) in codes(result)


def test_terraform_parse_is_cached_by_content(tmp_path: Path) -> None:
    """A warm run reads parsed Terraform (and syntax errors) back instead of parsing again."""
    from lotus_checks.incremental.cache import Cache
    from lotus_checks.lake.terraform import parse_hcl_cached

    cache = Cache(tmp_path / "cache")
    files = sorted((REFERENCE_TREE / "airbyte" / "terraform").glob("*.tf"))
    for tf in files:
        text = tf.read_text()
        assert parse_hcl_cached(text, cache) == parse_hcl(text)
        assert parse_hcl_cached(text, cache) == parse_hcl(text)  # from the cache
    broken = 'resource "airbyte_connection" "x" {\n  name = [\n'
    for _ in range(2):
        with pytest.raises(HclError) as info:
            parse_hcl_cached(broken, cache)
        assert info.value.message.startswith("invalid HCL")
    assert len(list((tmp_path / "cache" / "hcl").rglob("*.json"))) == len(files) + 1


def test_ll301_silent_for_a_stream_its_model_reads_by_path(reference_repo: Path) -> None:
    """stripe's models mostly read through source(); `int_stripe__customers` reads the file
    Dagster passes. Its stream needs no table in the sources file: nothing calls source() on it.
    The neighbour: the same stream read through source() needs its table."""
    sources = reference_repo / CORE / "stripe" / "_stripe__sources.yml"
    text = sources.read_text(encoding="utf-8")
    assert "      - name: customers\n" in text
    sources.write_text(text.replace("      - name: customers\n", ""), encoding="utf-8")
    assert [c for c in coverage(check_coverage(reference_repo)) if c[0] == "LL301"] == []

    model = reference_repo / CORE / "stripe" / "int_stripe__customers.sql"
    original = model.read_text(encoding="utf-8")
    start = original.index("read_parquet(")
    end = original.index(")", original.index("'", original.index("'", start) + 1)) + 1
    model.write_text(original[:start] + "{{ source('stripe', 'customers') }}" + original[end:],
                     encoding="utf-8")
    assert "LL301" in {c[0] for c in coverage(check_coverage(reference_repo))}
