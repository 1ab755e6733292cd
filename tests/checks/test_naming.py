"""LL1xx naming: each rule fires on the mistake (code, path, line, column) and stays silent on
the correct neighbour."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lotus_checks.checks import naming as naming_family
from lotus_checks.checks.naming import ModelName
from lotus_checks.checks.naming import is_snake_case
from lotus_checks.checks.naming import split_model_name
from lotus_checks.checks.naming import to_snake_case
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from tests.builders import CORE
from tests.builders import MARTS
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import source_schema
from tests.builders import stream_config
from tests.conftest import check_family
from tests.conftest import check_tree
from tests.conftest import codes
from tests.conftest import codes_of


def check_naming(root: Path) -> list[Finding]:
    """What the naming family's check (LL1xx) finds on `root`."""
    return check_family(naming_family, root)


MakeRepo = Callable[..., Path]

SOURCES_YML = """version: 2
sources:
  - name: shopify
    tables:
      - name: orders
"""


def lake(**files: object) -> dict:
    """A small correct tree (one shopify stream, its model and sources file, one mart)."""
    tree: dict = {
        f"{STREAMS}/shopify/orders.json": stream_config("orders"),
        f"{SOURCES}/shopify/orders.json": source_schema("orders"),
        f"{CORE}/shopify/int_shopify__orders.sql": "select 1 as id\n",
        f"{CORE}/shopify/_shopify__sources.yml": SOURCES_YML,
        f"{MARTS}/sales/fct_sales.sql": "select 1 as id\n",
    }
    tree.update(files)
    return tree


def naming(root: Path) -> list[tuple[str, str, int | None, int | None]]:
    return codes_of(check_naming(root))


def test_correct_tree_is_silent(make_repo: MakeRepo) -> None:
    assert naming(make_repo(lake())) == []


def test_reference_tree_is_silent(reference_repo: Path) -> None:
    assert naming(reference_repo) == []


def test_engine_reports_the_naming_findings(make_repo: MakeRepo) -> None:
    """End to end: the engine runs the family and reports what its check finds, in order."""
    tree = lake(**{
        f"{STREAMS}/shopify/orders.json": stream_config("order"),
        f"{CORE}/shopify/fct_orders.sql": "select 1\n",
    })
    result = check_tree(make_repo(tree), select=["LL1"], shared_cache=True)
    assert codes(result) == [
        ("LL103", f"{CORE}/shopify/fct_orders.sql", None, None),
        ("LL104", f"{STREAMS}/shopify/orders.json", 2, 3),
    ]


# ---- LL101 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected_in_hint",
    [
        ("int_shopify_orders", "int_shopify__orders"),
        ("int_klaviyo__orders", "int_shopify__orders"),
        ("stg_orders", "stg_shopify__orders"),
    ],
)
def test_ll101_source_part(make_repo: MakeRepo, name: str, expected_in_hint: str) -> None:
    path = f"{CORE}/shopify/{name}.sql"
    found = check_naming(make_repo(lake(**{path: "select 1\n"})))
    assert [(f.code, f.path, f.line, f.column) for f in found] == [("LL101", path, None, None)]
    assert expected_in_hint in found[0].hint


def test_ll101_silent_on_fan_out_and_staging(make_repo: MakeRepo) -> None:
    tree = lake(**{
        f"{CORE}/shopify/int_shopify__order_lines.sql": "select 1\n",
        f"{CORE}/shopify/stg_shopify__orders.sql": "select 1\n",
        f"{CORE}/shopify/staging/stg_shopify__customers.sql": "select 1\n",
    })
    assert naming(make_repo(tree)) == []


def test_ll101_and_ll102_silent_where_the_repo_names_models_its_own_way(
    make_repo: MakeRepo,
) -> None:
    """No model follows `<layer>_<source>__<entity>` (nor uses a layer prefix): the repo's own
    naming, reported by none of the naming rules."""
    tree = lake(**{
        f"{CORE}/shopify/int_shopify__orders.sql": None,
        f"{CORE}/shopify/shopify_orders.sql": "select 1\n",
        f"{MARTS}/sales/fct_sales.sql": None,
        f"{MARTS}/sales/sales.sql": "select 1\n",
    })
    assert naming(make_repo(tree)) == []
    # One model in a layer but none with the source part: LL102 applies, LL101 does not.
    tree[f"{MARTS}/sales/fct_sales.sql"] = "select 1\n"
    tree[f"{CORE}/shopify/int_shopify_customers.sql"] = "select 1\n"
    assert naming(make_repo(tree)) == [
        ("LL102", f"{CORE}/shopify/shopify_orders.sql", None, None),
        ("LL102", f"{MARTS}/sales/sales.sql", None, None),
    ]


def test_ll102_adoption_is_per_kind_of_folder(make_repo: MakeRepo) -> None:
    """Marts named `fct_`/`dim_`, per-source models named `<source>_<entity>`: the per-source
    models follow the repo's own naming (nothing to report); a mart without a layer does not."""
    tree = lake(**{
        f"{CORE}/shopify/int_shopify__orders.sql": None,
        f"{CORE}/shopify/shopify_orders.sql": "select 1\n",
        f"{CORE}/shopify/shopify_customers.sql": "select 1\n",
    })
    assert naming(make_repo(tree)) == []
    tree[f"{MARTS}/sales/sales_summary.sql"] = "select 1\n"
    assert naming(make_repo(tree)) == [("LL102", f"{MARTS}/sales/sales_summary.sql", None, None)]


def test_ll102_hint_does_not_repeat_the_source(make_repo: MakeRepo) -> None:
    result = check_naming(make_repo(lake(**{f"{CORE}/shopify/shopify_orders.sql": "select 1\n"})))
    [finding] = [f for f in result if f.code == "LL102"]
    assert finding.hint.startswith("rename it to `int_shopify__orders.sql`")


def test_ll107_model_names_only_where_the_repo_uses_snake_case(make_repo: MakeRepo) -> None:
    """Every model named in CamelCase: the repo's own convention, nothing to report."""
    tree = lake(**{
        f"{CORE}/shopify/int_shopify__orders.sql": None,
        f"{CORE}/shopify/ShopifyOrders.sql": "select 1\n",
        f"{MARTS}/sales/fct_sales.sql": None,
        f"{MARTS}/sales/SalesSummary.sql": "select 1\n",
    })
    assert naming(make_repo(tree)) == []
    tree[f"{MARTS}/sales/fct_sales.sql"] = "select 1\n"
    assert naming(make_repo(tree)) == [("LL107", f"{MARTS}/sales/SalesSummary.sql", None, None)]


def test_ll101_source_with_two_words(make_repo: MakeRepo) -> None:
    tree = lake(**{
        f"{STREAMS}/google_ads/campaigns.json": stream_config("campaigns"),
        f"{CORE}/google_ads/int_google_ads__campaigns.sql": "select 1\n",
        f"{CORE}/google_ads/int_google_ads_campaigns.sql": "select 1\n",
    })
    assert naming(make_repo(tree)) == [
        ("LL101", f"{CORE}/google_ads/int_google_ads_campaigns.sql", None, None)
    ]


# ---- LL102 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, suggestion",
    [
        (f"{CORE}/shopify/intx_shopify__orders.sql", "int_shopify__orders.sql"),
        (f"{CORE}/shopify/orders.sql", "int_shopify__orders.sql"),
        (f"{MARTS}/sales/sales_summary.sql", "layers: stg_, int_, fct_, dim_"),
    ],
)
def test_ll102_unknown_layer(make_repo: MakeRepo, path: str, suggestion: str) -> None:
    found = check_naming(make_repo(lake(**{path: "select 1\n"})))
    assert [(f.code, f.path, f.line, f.column) for f in found] == [("LL102", path, None, None)]
    assert suggestion in found[0].hint


def test_ll102_layers_come_from_config(make_repo: MakeRepo) -> None:
    tree = lake(**{
        "lotus-check.toml": 'layers = ["base", "int", "fct", "dim"]\n',
        f"{CORE}/shopify/base_shopify__orders.sql": "select 1\n",
        f"{CORE}/shopify/stg_shopify__customers.sql": "select 1\n",
    })
    assert naming(make_repo(tree)) == [
        ("LL102", f"{CORE}/shopify/stg_shopify__customers.sql", None, None)
    ]


# ---- LL103 --------------------------------------------------------------------------------------


def test_ll103_mart_in_source_folder(make_repo: MakeRepo) -> None:
    path = f"{CORE}/shopify/fct_orders.sql"
    assert naming(make_repo(lake(**{path: "select 1\n"}))) == [("LL103", path, None, None)]


def test_ll103_source_model_in_area_folder(make_repo: MakeRepo) -> None:
    path = f"{MARTS}/sales/int_shopify__orders.sql"
    assert naming(make_repo(lake(**{path: "select 1\n"}))) == [("LL103", path, None, None)]


def test_ll103_silent_on_marts_and_unknown_source_folders(make_repo: MakeRepo) -> None:
    tree = lake(**{
        f"{MARTS}/marketing/dim_customers.sql": "select 1\n",
        f"{MARTS}/sales/fct_shopify__orders.sql": "select 1\n",
        # a source loaded without stream configs: its folder is still a source folder
        f"{CORE}/legacy_erp/int_legacy_erp__invoices.sql": "select 1\n",
        # models at the top of a model folder make no claim about a folder
        f"{MARTS}/int_helpers__dates.sql": "select 1\n",
    })
    assert naming(make_repo(tree)) == []


# ---- LL104 / LL105 ------------------------------------------------------------------------------


def test_ll104_stream_key_differs(make_repo: MakeRepo) -> None:
    path = f"{STREAMS}/shopify/orders.json"
    root = make_repo(lake(**{path: stream_config("order")}))
    # "stream" is the first key: line 2, column 3 in indent=2 JSON
    assert naming(root) == [("LL104", path, 2, 3)]


def test_ll105_source_schema_key_differs(make_repo: MakeRepo) -> None:
    path = f"{SOURCES}/shopify/orders.json"
    root = make_repo(lake(**{path: source_schema("customers")}))
    assert naming(root) == [("LL105", path, 2, 3)]


def test_ll104_silent_when_stream_key_missing(make_repo: MakeRepo) -> None:
    config = stream_config("orders")
    del config["stream"]
    root = make_repo(lake(**{f"{STREAMS}/shopify/orders.json": config}))
    assert naming(root) == []  # LL501 reports the missing key


# ---- LL106 --------------------------------------------------------------------------------------


def with_klaviyo(**files: object) -> dict:
    """The lake with a second source whose sources file follows the conventions (adopted)."""
    return lake(**{
        f"{STREAMS}/klaviyo/lists.json": stream_config("lists"),
        f"{CORE}/klaviyo/int_klaviyo__lists.sql": "select 1 as id\n",
        f"{CORE}/klaviyo/_klaviyo__sources.yml": SOURCES_YML.replace("shopify", "klaviyo"),
        **files,
    })


def test_ll106_misnamed_sources_file(make_repo: MakeRepo) -> None:
    tree = with_klaviyo(**{
        f"{CORE}/shopify/_shopify__sources.yml": None,
        f"{CORE}/shopify/sources.yml": SOURCES_YML,
    })
    result = check_naming(make_repo(tree))
    assert codes_of(result) == [("LL106", f"{CORE}/shopify/sources.yml", None, None)]
    [finding] = [f for f in result if f.code == "LL106"]
    assert finding.severity is Severity.WARNING  # dbt reads any YAML file


def test_ll106_declares_other_source(make_repo: MakeRepo) -> None:
    path = f"{CORE}/shopify/_shopify__sources.yml"
    text = "version: 2\nsources:\n  - name: shopify_raw\n    tables: []\n"
    assert naming(make_repo(with_klaviyo(**{path: text}))) == [("LL106", path, 3, 5)]


def test_ll106_declares_no_source(make_repo: MakeRepo) -> None:
    path = f"{CORE}/shopify/_shopify__sources.yml"
    assert naming(make_repo(with_klaviyo(**{path: "version: 2\nsources: []\n"}))) == [
        ("LL106", path, 2, 1)
    ]


def test_ll106_silent_before_the_repo_uses_its_conventions(make_repo: MakeRepo) -> None:
    """Every sources file named `sources.yml` and declaring `raw_<source>`: the repo's own
    convention; dbt reads them all, nothing to report."""
    renamed = SOURCES_YML.replace("name: shopify", "name: raw_shopify")
    tree = with_klaviyo(**{
        f"{CORE}/shopify/_shopify__sources.yml": None,
        f"{CORE}/shopify/sources.yml": renamed,
        f"{CORE}/klaviyo/_klaviyo__sources.yml": None,
        f"{CORE}/klaviyo/sources.yml": renamed.replace("shopify", "klaviyo"),
    })
    assert naming(make_repo(tree)) == []


def test_ll106_config_sets_the_file_name(make_repo: MakeRepo) -> None:
    tree = lake(**{
        "lotus-check.toml": 'sources-file = "{source}_sources.yml"\n',
        f"{CORE}/shopify/_shopify__sources.yml": None,
        f"{CORE}/shopify/shopify_sources.yml": SOURCES_YML,
    })
    assert naming(make_repo(tree)) == []


def test_ll106_silent_on_schema_files_and_area_folders(make_repo: MakeRepo) -> None:
    tree = lake(**{
        f"{CORE}/shopify/_shopify__models.yml": "version: 2\nmodels:\n  - name: x\n",
        f"{MARTS}/sales/_sales__sources.yml": "version: 2\nsources:\n  - name: finance\n",
    })
    assert naming(make_repo(tree)) == []


# ---- LL107 --------------------------------------------------------------------------------------


def test_ll107_model_but_not_the_stream_name_the_source_gives(make_repo: MakeRepo) -> None:
    # Airbyte syncs `OrderRefunds` by the name the source gives it: renaming would break it.
    tree = lake(**{
        f"{STREAMS}/shopify/OrderRefunds.json": stream_config("OrderRefunds"),
        f"{SOURCES}/shopify/OrderRefunds.json": source_schema("OrderRefunds"),
        f"{CORE}/shopify/int_shopify__order-lines.sql": "select 1\n",
    })
    found = check_naming(make_repo(tree))
    assert [(f.code, f.path, f.line, f.column) for f in found] == [
        ("LL107", f"{CORE}/shopify/int_shopify__order-lines.sql", None, None),
    ]
    assert "int_shopify__order_lines.sql" in found[0].hint
    assert found[0].severity is Severity.WARNING


def test_ll107_source_folder(make_repo: MakeRepo) -> None:
    tree = lake(**{f"{STREAMS}/Klaviyo/lists.json": stream_config("lists")})
    assert ("LL107", f"{STREAMS}/Klaviyo", None, None) in naming(make_repo(tree))


def test_ll107_does_not_flag_field_names(make_repo: MakeRepo) -> None:
    fields = {"id": {"type": "integer"}, "updatedAt": {"type": "string"},
              "email": {"type": "string"}, "updated_at": {"type": "string"}}
    tree = lake(**{
        f"{STREAMS}/shopify/orders.json": stream_config("orders", fields),
        f"{SOURCES}/shopify/orders.json": source_schema("orders", fields),
    })
    assert naming(make_repo(tree)) == []


# ---- the tokeniser ------------------------------------------------------------------------------

WORD = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
SNAKE = st.lists(WORD, min_size=1, max_size=3).map("_".join)


@given(st.text())
def test_split_never_raises_and_round_trips(name: str) -> None:
    parts = split_model_name(name)
    if parts is not None:
        assert str(parts) == name


@given(WORD, SNAKE, SNAKE)
def test_split_valid_names(layer: str, source: str, entity: str) -> None:
    assert split_model_name(f"{layer}_{source}__{entity}") == ModelName(layer, source, entity)
    assert split_model_name(f"{layer}_{entity}") == ModelName(layer, None, entity)


@given(st.text())
def test_snake_case_suggestion_never_raises(name: str) -> None:
    suggestion = to_snake_case(name)
    if is_snake_case(name):
        assert suggestion == name


@pytest.mark.parametrize(
    "name, snake",
    [("OrderRefunds", "order_refunds"), ("order-lines", "order_lines"),
     ("HTTPRequests", "http_requests"), ("orders", "orders")],
)
def test_to_snake_case(name: str, snake: str) -> None:
    assert to_snake_case(name) == snake
