"""LL5xx stream configs and source schemas: each rule fires at the offending key and stays silent
on the correct neighbour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from typing import Callable

import pytest

from lotus_checks.checks import stream_config as stream_config_family
from lotus_checks.checks.stream_config.schema import schema_errors
from lotus_checks.checks.stream_config.schema import typo_keys
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import field
from tests.builders import source_schema
from tests.builders import stream_config
from tests.conftest import check_family
from tests.conftest import check_tree
from tests.conftest import codes


def check_streams(root: Path) -> list[Finding]:
    """What the stream config family's check (LL5xx) finds on `root`, in the engine's order."""
    return sorted(check_family(stream_config_family, root), key=Finding.sort_key)


MakeRepo = Callable[..., Path]
CONFIG = f"{STREAMS}/shopify/orders.json"
SCHEMA = f"{SOURCES}/shopify/orders.json"


def dlt_config(**overrides: Any) -> dict:
    config = stream_config(
        "orders", connector="dlt", schedule="0 * * * *", initial_value="2024-01-01",
        destination_sync_mode="merge",
    )
    config.update(overrides)
    return config


def dlt_schema(**overrides: Any) -> dict:
    schema = source_schema("orders")
    schema["options"]["destination_sync_modes"] = ["append", "merge", "replace"]
    schema.update(overrides)
    return schema


def findings(make_repo: MakeRepo, config: Any = None, schema: Any = None, **files: Any) -> list:
    """LL5xx findings of a one-stream tree: (code, path, line, column, severity)."""
    tree = {
        CONFIG: stream_config("orders") if config is None else config,
        SCHEMA: source_schema("orders") if schema is None else schema,
        **files,
    }
    return [(f.code, f.path, f.line, f.column, f.severity) for f in check_streams(make_repo(tree))]


def line_of(data: Any, needle: str, nth: int = 1) -> tuple[int, int]:
    """(line, column) of the nth occurrence of `needle` in `data` dumped with indent=2."""
    text = json.dumps(data, indent=2) + "\n"
    offset = -1
    for _ in range(nth):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


E = Severity.ERROR
W = Severity.WARNING

TERRAFORM = "orchestration/airbyte/terraform/main.tf"
CONNECTION = """resource "airbyte_connection" "shopify" {
  name         = "shopify"
  sync_catalog = jsondecode(file("${path.module}/../../assets/streams/shopify/_catalog.json"))
}

locals {
  shopify_backfill = anytrue([
    for f in fileset("${path.module}/../../assets/streams/shopify", "*.json") :
    try(jsondecode(file("${path.module}/../../assets/streams/shopify/${f}")).backfill, false)
  ])
}
"""
RESET = """resource "null_resource" "shopify_backfill" {
  count = local.shopify_backfill ? 1 : 0
  triggers = {
    connection_id = airbyte_connection.shopify.connection_id
  }
}
"""


def test_correct_airbyte_and_dlt_streams_are_silent(make_repo: MakeRepo) -> None:
    assert findings(make_repo) == []
    assert findings(make_repo, dlt_config(), dlt_schema()) == []


def test_dlt_stream_without_source_schema_is_silent(make_repo: MakeRepo) -> None:
    assert findings(make_repo, dlt_config(), None, **{SCHEMA: None}) == []


def test_reference_tree_is_silent(reference_repo: Path) -> None:
    assert check_streams(reference_repo) == []


def test_engine_reports_the_stream_findings_and_the_broken_file(make_repo: MakeRepo) -> None:
    """End to end: the engine runs the family, and a config that does not parse is its load
    finding (LL002) while the family checks the others."""
    other = f"{STREAMS}/shopify/customers.json"
    tree = {CONFIG: stream_config("orders", sync_mode="incremantal"),
            SCHEMA: source_schema("orders"), other: '{"stream": "customers",'}
    result = check_tree(make_repo(tree), select=["LL0", "LL5"], shared_cache=True)
    assert [c for c, *_ in codes(result)] == ["LL002", "LL502"]
    assert [p for _, p, *_ in codes(result)] == [other, CONFIG]


# ---- the repo's own formats: field definitions are the generator's to read ---------------------

# Shapes seen in a real platform's stream configs and source schemas that ran fine in production.
DISCOVERY_FIELDS: dict[str, Any] = {
    "id": field("integer"),
    "updated_at": field(["null", "string"], format="date-time", airbyte_type="timestamp_with_timezone"),
    # an array's items written as a map of field name -> definition, with keyword-named fields
    "line_items": {"type": "array", "items": {
        "type": {"type": "string"}, "properties": {"type": "object"},
        "items": {"type": "array", "items": {"sku": {"type": "string"}}},
        "format": {"type": "string"}, "price": {"type": ["null", "number"], "multipleOf": 0.01},
    }},
    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "status": {"type": "string", "enum": ["open", "closed"], "pattern": "^[a-z]+$"},
    "attributes": {"type": "object", "additionalProperties": True, "required": ["name"],
                   "properties": {"name": {"type": "string"}, "type": {"type": "string"}}},
    "point": {"type": "array", "items": [{"type": "number"}, {"type": "number"}]},
    "choice": {"oneOf": [{"type": "integer"}, {"type": "string"}], "allOf": [{}]},
    "typeless": {"description": "whatever the generator makes of it"},
}


def test_discovery_shapes_are_silent(make_repo: MakeRepo) -> None:
    config = stream_config("orders", DISCOVERY_FIELDS)
    schema = source_schema("orders", DISCOVERY_FIELDS)
    assert findings(make_repo, config, schema) == []
    assert findings(make_repo, config, None, **{SCHEMA: None}) == [("LL512", CONFIG, None, None, W)]
    assert schema_errors(config, "stream_config") == []
    assert schema_errors(schema, "source_schema") == []


def test_fields_inside_an_items_map_are_compared_by_name(make_repo: MakeRepo) -> None:
    def fields(name: str, sku_type: str) -> dict[str, Any]:
        return {"id": field("integer"), "updated_at": field("string"), "line_items": {
            "type": "array", "items": {name: field(sku_type), "type": field("string")}}}

    schema = source_schema("orders", fields("sku", "string"))
    assert findings(make_repo, stream_config("orders", fields("sku", "string")), schema) == []
    typo = stream_config("orders", fields("skus", "string"))
    assert findings(make_repo, typo, schema) == [("LL504", CONFIG, *line_of(typo, '"skus"'), E)]
    mismatch = stream_config("orders", fields("sku", "integer"))
    assert findings(make_repo, mismatch, schema) == [
        ("LL505", CONFIG, *line_of(mismatch, '"type": "integer"', nth=2), W)
    ]


def test_key_paths_through_an_items_map(make_repo: MakeRepo) -> None:
    fields = {"updated_at": field("string"),
              "refund": {"type": "object", "properties": {"id": field("integer")}},
              "lines": {"type": "array", "items": {"id": field("integer")}}}
    schema = source_schema("orders", fields)
    ok = stream_config("orders", fields, primary_key=[["refund", "id"], ["lines", "id"]])
    assert findings(make_repo, ok, schema) == []
    bad = stream_config("orders", fields, primary_key=[["lines", "key"]])
    assert findings(make_repo, bad, schema) == [("LL503", CONFIG, *line_of(bad, '"key"'), E)]


# ---- LL501 --------------------------------------------------------------------------------------


def test_ll501_reports_every_error_at_its_key(make_repo: MakeRepo) -> None:
    config = stream_config("orders", backfill="no", selcted=True)
    config["fields"]["email"] = "string"
    got = findings(make_repo, config)
    assert sorted(got) == sorted([
        ("LL501", CONFIG, *line_of(config, '"backfill"'), E),  # Terraform reads it
        ("LL501", CONFIG, *line_of(config, '"selcted"'), W),  # nothing reads it
        ("LL501", CONFIG, *line_of(config, '"email"'), E),  # a definition is an object
    ])


def test_ll501_messages_carry_json_paths_and_hints(make_repo: MakeRepo) -> None:
    config = stream_config("orders", selcted=True, connectr="dlt")
    errors = {message: (hint, severity)
              for _, message, hint, severity in typo_keys(config, "stream_config")}
    assert errors == {
        "$.selcted: unexpected key `selcted`, which nothing reads (`selected` keeps its default)":
            ("did you mean `selected`?", "warning"),
        "$.connectr: unexpected key `connectr`, which nothing reads (`connector` keeps its "
        "default)": ("did you mean `connector`?", "warning"),
    }


def test_ll501_the_repos_own_keys_are_not_reported(make_repo: MakeRepo) -> None:
    config = stream_config("orders", owner="data-team", notes="synced for finance")
    schema = source_schema("orders", discovered_at="2024-05-01")
    assert findings(make_repo, config, schema) == []
    assert typo_keys(config, "stream_config") == [] == typo_keys(schema, "source_schema")
    # a typo inside `options` is found as well
    schema["options"]["sync_mode"] = ["incremental"]
    assert [p for p, *_ in typo_keys(schema, "source_schema")] == [("options", "sync_mode")]


def test_ll501_any_of_uses_best_match() -> None:
    config = stream_config("orders", initial_value=[1])
    [(path, message, _, severity)] = schema_errors(config, "stream_config")
    assert (path, severity) == (("initial_value",), "error")
    assert message.startswith("$.initial_value: [1] is not of type")


def test_ll501_missing_required_key_at_root(make_repo: MakeRepo) -> None:
    config = stream_config("orders")
    del config["sync_mode"]
    assert findings(make_repo, config) == [("LL501", CONFIG, 1, 1, E)]
    del config["fields"]
    assert findings(make_repo, config) == [("LL501", CONFIG, 1, 1, E)] * 2


def test_ll501_dlt_streams_need_no_sync_modes(make_repo: MakeRepo) -> None:
    config = dlt_config()
    del config["sync_mode"], config["destination_sync_mode"]
    assert findings(make_repo, config, None, **{SCHEMA: None}) == []
    # the Airbyte neighbour needs them: one finding naming both keys
    airbyte = stream_config("orders")
    del airbyte["sync_mode"], airbyte["destination_sync_mode"]
    result = check_streams(make_repo({CONFIG: airbyte, SCHEMA: source_schema("orders")}))
    [finding] = [f for f in result if f.code.startswith("LL5")]
    assert (finding.code, finding.severity) == ("LL501", E)
    assert "`sync_mode` and `destination_sync_mode`" in finding.message
    assert finding.hint.startswith(
        'add "sync_mode": "full_refresh" and "destination_sync_mode": "overwrite"')


def test_ll501_source_schema(make_repo: MakeRepo) -> None:
    schema = source_schema("orders")
    schema["options"]["sync_modes"] = ["full_refresh", "incremental", "sometimes"]
    assert findings(make_repo, None, schema) == [
        ("LL501", SCHEMA, *line_of(schema, '"sometimes"'), E)
    ]


def test_ll501_source_schema_allows_discovery_keywords(make_repo: MakeRepo) -> None:
    schema = source_schema("orders")
    schema["fields"]["email"]["airbyte_type"] = "string"
    schema["fields"]["email"]["pattern"] = ".+@.+"
    assert findings(make_repo, None, schema) == []


def test_ll501_not_an_object(make_repo: MakeRepo) -> None:
    assert findings(make_repo, ["orders"]) == [("LL501", CONFIG, 1, 1, E)]


# ---- LL502 --------------------------------------------------------------------------------------


def test_ll502_one_finding_per_key(make_repo: MakeRepo) -> None:
    config = stream_config("orders", sync_mode="incremantal", destination_sync_mode="merge")
    got = findings(make_repo, config)
    assert got == [
        ("LL502", CONFIG, *line_of(config, '"sync_mode"'), E),
        ("LL502", CONFIG, *line_of(config, '"destination_sync_mode"'), E),
    ]


def test_ll502_hints(make_repo: MakeRepo) -> None:
    config = stream_config("orders", destination_sync_mode="merge")
    result = check_streams(make_repo({CONFIG: config, SCHEMA: source_schema("orders")}))
    [finding] = [f for f in result if f.code == "LL502"]
    assert "use `append_dedup`" in finding.hint and '"connector": "dlt"' in finding.hint


def test_ll502_dlt_modes(make_repo: MakeRepo) -> None:
    # only the dlt pipeline's code could read it: a warning
    config = dlt_config(destination_sync_mode="append_dedup")
    assert findings(make_repo, config, dlt_schema()) == [
        ("LL502", CONFIG, *line_of(config, '"destination_sync_mode"'), W)
    ]
    for mode in ("append", "merge", "replace"):
        assert findings(make_repo, dlt_config(destination_sync_mode=mode), dlt_schema()) == []


def test_ll502_not_a_string_is_only_ll501(make_repo: MakeRepo) -> None:
    config = stream_config("orders", sync_mode=1)
    assert [c for c, *_ in findings(make_repo, config)] == ["LL501"]


# ---- LL503 --------------------------------------------------------------------------------------


def test_ll503_cursor_not_selected(make_repo: MakeRepo) -> None:
    config = stream_config("orders", cursor_field=["created_at"])
    schema = source_schema("orders")
    schema["fields"]["created_at"] = field("string")
    assert findings(make_repo, config, schema) == [
        ("LL503", CONFIG, *line_of(config, '"created_at"'), E)
    ]


def test_ll503_every_primary_key_path(make_repo: MakeRepo) -> None:
    config = stream_config("orders", primary_key=[["id"], ["shop_id"]])
    assert findings(make_repo, config) == [("LL503", CONFIG, *line_of(config, '"shop_id"'), E)]


def test_ll503_nested_paths(make_repo: MakeRepo) -> None:
    customer = field("object", properties={"id": field("integer")})
    fields = {"customer": customer, "updated_at": field("string")}
    schema = source_schema("orders", fields)
    ok = stream_config("orders", fields, primary_key=[["customer", "id"]])
    assert findings(make_repo, ok, schema) == []
    bad = stream_config("orders", fields, primary_key=[["customer", "key"]])
    assert findings(make_repo, bad, schema) == [("LL503", CONFIG, *line_of(bad, '"key"'), E)]


def test_ll503_hint_names_generator(make_repo: MakeRepo) -> None:
    config = stream_config("orders", cursor_field=["created_at"])
    result = check_streams(make_repo({
        CONFIG: config, SCHEMA: source_schema("orders"),
        "lotus-check.toml": 'generator = "tools/gen.py"\n',
        "tools/gen.py": "",  # a configured generator must exist
    }))
    [finding] = [f for f in result if f.code == "LL503"]
    assert "python tools/gen.py" in finding.hint


# ---- LL504 / LL505 ------------------------------------------------------------------------------


def test_ll504_field_not_in_source(make_repo: MakeRepo) -> None:
    fields = {"id": field("integer"), "emial": field("string"), "updated_at": field("string")}
    config = stream_config("orders", fields)
    result = check_streams(make_repo({CONFIG: config, SCHEMA: source_schema("orders")}))
    got = [f for f in result if f.code.startswith("LL5")]
    assert [(f.code, f.line, f.column) for f in got] == [("LL504", *line_of(config, '"emial"'))]
    assert "`email`" in got[0].hint


def test_ll504_nested_field(make_repo: MakeRepo) -> None:
    source_fields = {"id": field("integer"), "updated_at": field("string"),
                     "customer": field("object", properties={"email": field("string")})}
    fields = {"id": field("integer"), "updated_at": field("string"),
              "customer": field("object", properties={"emial": field("string")})}
    config = stream_config("orders", fields)
    assert findings(make_repo, config, source_schema("orders", source_fields)) == [
        ("LL504", CONFIG, *line_of(config, '"emial"'), E)
    ]


def test_ll504_not_checked_without_source_schema(make_repo: MakeRepo) -> None:
    fields = {"id": field("integer"), "anything": field("string"), "updated_at": field("string")}
    got = findings(make_repo, stream_config("orders", fields), None, **{SCHEMA: None})
    assert got == [("LL512", CONFIG, None, None, W)]


def test_ll512_only_for_airbyte_streams(make_repo: MakeRepo) -> None:
    assert findings(make_repo, dlt_config(), None, **{SCHEMA: None}) == []
    # a source schema that fails to load is LL0xx, not a missing one
    assert findings(make_repo, None, "{", ) == []


def test_ll505_type_mismatch(make_repo: MakeRepo) -> None:
    fields = {"id": field("string"), "email": field("string"), "updated_at": field("string")}
    config = stream_config("orders", fields)
    assert findings(make_repo, config) == [
        ("LL505", CONFIG, *line_of(config, '"type": "string"'), W)
    ]


def test_ll505_null_in_type_list_is_the_same_type(make_repo: MakeRepo) -> None:
    fields = {"id": field(["null", "integer"]), "email": field("string"),
              "updated_at": field(["string", "null"])}
    assert findings(make_repo, stream_config("orders", fields)) == []


def test_ll505_nested_array_items(make_repo: MakeRepo) -> None:
    def lines(price_type: str) -> dict:
        item = field("object", properties={"price": field(price_type)})
        return {"id": field("integer"), "updated_at": field("string"),
                "line_items": field("array", items=item)}

    config = stream_config("orders", lines("string"))
    schema = source_schema("orders", lines("number"))
    assert findings(make_repo, config, schema) == [
        ("LL505", CONFIG, *line_of(config, '"type": "string"', nth=2), W)
    ]


# ---- LL506 --------------------------------------------------------------------------------------


def test_ll506_mode_not_offered(make_repo: MakeRepo) -> None:
    schema = source_schema("orders")
    schema["options"] = {"sync_modes": ["full_refresh"], "destination_sync_modes": ["overwrite"]}
    config = stream_config("orders")
    assert findings(make_repo, config, schema) == [
        ("LL506", CONFIG, *line_of(config, '"sync_mode"'), E),
        ("LL506", CONFIG, *line_of(config, '"destination_sync_mode"'), E),
    ]
    ok = stream_config("orders", sync_mode="full_refresh", destination_sync_mode="overwrite")
    assert findings(make_repo, ok, schema) == []


def test_ll506_leaves_dlt_streams_alone(make_repo: MakeRepo) -> None:
    """The options are what Airbyte's discovery offers; a dlt pipeline merges on its own."""
    schema = source_schema("orders")
    schema["options"] = {"sync_modes": ["full_refresh", "incremental"],
                         "destination_sync_modes": ["overwrite", "append", "append_dedup"]}
    config = stream_config("orders", connector="dlt", destination_sync_mode="merge")
    assert [c for c, *_ in findings(make_repo, config, schema)] == []


def test_ll506_not_repeated_for_invalid_mode(make_repo: MakeRepo) -> None:
    schema = source_schema("orders")
    config = stream_config("orders", destination_sync_mode="dedup")
    assert [c for c, *_ in findings(make_repo, config, schema)] == ["LL502"]


# ---- LL507 --------------------------------------------------------------------------------------


def test_ll507_dedup_without_primary_key(make_repo: MakeRepo) -> None:
    schema = source_schema("orders", defaults={})
    config = stream_config("orders", primary_key=[])
    assert findings(make_repo, config, schema) == [
        ("LL507", CONFIG, *line_of(config, '"destination_sync_mode"'), E)
    ]


def test_ll507_incremental_without_cursor(make_repo: MakeRepo) -> None:
    schema = source_schema("orders", defaults={})
    config = stream_config("orders", cursor_field=[])
    assert findings(make_repo, config, schema) == [
        ("LL507", CONFIG, *line_of(config, '"sync_mode"'), E)
    ]


def test_ll507_dlt_merge_without_primary_key(make_repo: MakeRepo) -> None:
    config = dlt_config(primary_key=[])
    assert findings(make_repo, config, None, **{SCHEMA: None}) == [
        ("LL507", CONFIG, *line_of(config, '"destination_sync_mode"'), W)
    ]


def test_ll507_source_defaults_count(make_repo: MakeRepo) -> None:
    config = stream_config("orders", primary_key=[], cursor_field=[])
    assert findings(make_repo, config) == []  # the source defines both


def test_ll507_silent_for_append_and_full_refresh(make_repo: MakeRepo) -> None:
    config = stream_config("orders", sync_mode="full_refresh", destination_sync_mode="append",
                           primary_key=[], cursor_field=[])
    assert findings(make_repo, config, source_schema("orders", defaults={})) == []


# ---- LL509 / LL510 ------------------------------------------------------------------------------


def test_ll509_selected_missing(make_repo: MakeRepo) -> None:
    config = stream_config("orders")
    del config["selected"]
    assert findings(make_repo, config) == [("LL509", CONFIG, 1, 1, W)]


def test_ll510_silent_when_no_terraform_reads_backfill(make_repo: MakeRepo) -> None:
    config = stream_config("orders", backfill=True)
    assert findings(make_repo, config) == []
    assert findings(make_repo, config, **{TERRAFORM: CONNECTION}) == []


def test_ll510_says_what_the_terraform_does(make_repo: MakeRepo) -> None:
    config = stream_config("orders", backfill=True)
    tree = {CONFIG: config, SCHEMA: source_schema("orders"), TERRAFORM: CONNECTION + RESET}
    result = check_streams(make_repo(tree))
    [finding] = [f for f in result if f.code == "LL510"]
    assert (finding.line, finding.column, finding.severity) == (*line_of(config, '"backfill"'), W)
    assert "`null_resource.shopify_backfill` (orchestration/airbyte/terraform/main.tf:12)" \
        in finding.message
    assert "whole `shopify` connection" in finding.message and "once" in finding.message
    assert "backfill\": false" in finding.hint
    # a stream of a source whose backfill nobody reads: nothing happens, nothing said
    other = f"{STREAMS}/klaviyo/lists.json"
    tree[other] = stream_config("lists", backfill=True)
    result = check_streams(make_repo(tree))
    assert [f.path for f in result if f.code == "LL510"] == [CONFIG]


def test_ll510_trigger_that_changes_every_apply(make_repo: MakeRepo) -> None:
    config = stream_config("orders", backfill=True)
    reset = RESET.replace("connection_id = airbyte_connection.shopify.connection_id",
                          "always = timestamp()")
    result = check_streams(make_repo({CONFIG: config, SCHEMA: source_schema("orders"),
                                   TERRAFORM: CONNECTION + reset}))
    [finding] = [f for f in result if f.code == "LL510"]
    assert "on every apply" in finding.message


# ---- LL511 --------------------------------------------------------------------------------------


def test_ll511_duplicate_key(make_repo: MakeRepo) -> None:
    text = """{
  "stream": "orders",
  "sync_mode": "incremental",
  "destination_sync_mode": "append_dedup",
  "primary_key": [["id"]],
  "cursor_field": ["updated_at"],
  "selected": true,
  "fields": {
    "id": {"type": "integer"},
    "updated_at": {"type": "string"},
    "id": {"type": "integer"}
  }
}
"""
    assert findings(make_repo, text) == [("LL511", CONFIG, 11, 5, W)]
    # a top-level key twice: the platform runs with the last one, which may not be the one meant
    twice = text.replace('"sync_mode": "incremental",',
                         '"sync_mode": "incremental",\n  "sync_mode": "full_refresh",')
    assert ("LL511", CONFIG, 4, 3, E) in findings(make_repo, twice)


@pytest.mark.parametrize("broken", ['{"stream": "orders",}', b"\xff\xfe{}"])
def test_broken_files_give_no_ll5_findings(make_repo: MakeRepo, broken: str | bytes) -> None:
    assert findings(make_repo, broken) == []


def test_ll510_on_the_reference_trees_reset_resource(reference_repo: Path) -> None:
    """The reference Terraform resets each Airbyte connection through one `for_each` resource;
    a dlt stream's backfill reaches no Terraform, so nothing is said about it."""
    streams = reference_repo / STREAMS
    for rel in ("shopify/orders.json", "gorgias/tickets.json"):
        path = streams / rel
        path.write_text(path.read_text().replace('"backfill": false', '"backfill": true'))
    result = check_streams(reference_repo)
    [finding] = [f for f in result if f.code == "LL510"]
    assert finding.path == f"{STREAMS}/shopify/orders.json"
    assert "`null_resource.backfill_reset` (orchestration/airbyte/terraform/backfill.tf:" \
        in finding.message
    assert "whole `shopify` connection" in finding.message


def test_ll501_the_same_mistake_in_one_map_is_one_finding(make_repo: MakeRepo) -> None:
    fields = {"id": "integer", "email": "string", "name": "string", "note": "string",
              "updated_at": "string"}
    config = stream_config("orders", fields)
    schema = source_schema("orders")
    schema["fields"]["note"] = field("string")
    result = check_streams(make_repo({CONFIG: config, SCHEMA: schema}))
    [finding] = [f for f in result if f.code.startswith("LL5")]
    assert (finding.code, finding.line, finding.severity) == ("LL501", line_of(config, '"id": "integer"')[0], E)
    email, name, note = (line_of(config, f'"{n}": "string"')[0] for n in ("email", "name", "note"))
    assert finding.message.endswith(
        f"the same in 4 more place(s): $.fields.email (line {email}), $.fields.name (line {name}), "
        f"$.fields.note (line {note}) and 1 more")
    assert finding.hint == "use a value of type object"


from hypothesis import given  # noqa: E402
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

HCL_PIECES = st.sampled_from([
    CONNECTION, RESET, "locals {\n", "}\n", 'resource "null_resource" "x" {\n',
    "count = local.shopify_backfill ? 1 : 0\n", "backfill", "triggers = { a = timestamp() }\n",
    '"${', "#", "\n", "= [", "jsondecode(file(\"x\")).backfill",
])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(pieces=st.lists(HCL_PIECES, max_size=6))
def test_key_readers_take_any_text(pieces: list[str]) -> None:
    """Any Terraform text, valid or not: readers or nothing, never an exception; a resource is
    a reader only if the key reaches it."""
    from lotus_checks.lake.terraform import key_readers

    text = "".join(pieces)
    for reader in key_readers({"main.tf": text}, "backfill"):
        assert reader.path == "main.tf" and reader.line >= 1
        assert "backfill" in text
