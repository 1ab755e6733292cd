"""LL5xx stream configs and source schemas: each rule fires at the offending key and stays silent
on the correct neighbour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from typing import Callable

import pytest

from lotus_checks.checks.stream_config import schema_errors
from lotus_checks.finding import Severity
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import field
from tests.builders import source_schema
from tests.builders import stream_config
from tests.conftest import check_tree

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
    result = check_tree(make_repo(tree))
    return [
        (f.code, f.path, f.line, f.column, f.severity)
        for f in result.findings
        if f.code.startswith("LL5")
    ]


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


def test_correct_airbyte_and_dlt_streams_are_silent(make_repo: MakeRepo) -> None:
    assert findings(make_repo) == []
    assert findings(make_repo, dlt_config(), dlt_schema()) == []


def test_dlt_stream_without_source_schema_is_silent(make_repo: MakeRepo) -> None:
    assert findings(make_repo, dlt_config(), None, **{SCHEMA: None}) == []


def test_reference_tree_is_silent(reference_repo: Path) -> None:
    result = check_tree(reference_repo)
    assert [f for f in result.findings if f.code.startswith("LL5")] == []


# ---- LL501 --------------------------------------------------------------------------------------


def test_ll501_reports_every_error_at_its_key(make_repo: MakeRepo) -> None:
    config = stream_config("orders", backfill="no", selcted=True)
    config["fields"]["email"] = {"typ": "string"}
    got = findings(make_repo, config)
    assert sorted(got) == sorted([
        ("LL501", CONFIG, *line_of(config, '"backfill"'), E),
        ("LL501", CONFIG, *line_of(config, '"selcted"'), E),
        # the field lacks `type` (reported at the field) and has an unknown key `typ`
        ("LL501", CONFIG, *line_of(config, '"email": {'), E),
        ("LL501", CONFIG, *line_of(config, '"typ"'), E),
    ])


def test_ll501_messages_carry_json_paths_and_hints(make_repo: MakeRepo) -> None:
    config = stream_config("orders", selcted=True)
    config["fields"]["email"] = {"type": "string", "propertes": {}}
    errors = {message: hint for _, message, hint in schema_errors(config, "stream_config")}
    assert errors == {
        "$.selcted: unexpected key `selcted`": "did you mean `selected`?",
        "$.fields.email.propertes: unexpected key `propertes`": "did you mean `properties`?",
    }


def test_ll501_any_of_uses_best_match() -> None:
    config = stream_config("orders")
    config["fields"]["id"]["type"] = 5
    [(path, message, _)] = schema_errors(config, "stream_config")
    assert path == ("fields", "id", "type")
    assert message.startswith("$.fields.id.type: 5 is not of type")


def test_ll501_missing_required_key_at_root(make_repo: MakeRepo) -> None:
    config = stream_config("orders")
    del config["sync_mode"]
    assert findings(make_repo, config) == [("LL501", CONFIG, 1, 1, E)]


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
    result = check_tree(make_repo({CONFIG: config, SCHEMA: source_schema("orders")}))
    [finding] = [f for f in result.findings if f.code == "LL502"]
    assert "use `append_dedup`" in finding.hint and '"connector": "dlt"' in finding.hint


def test_ll502_dlt_modes(make_repo: MakeRepo) -> None:
    config = dlt_config(destination_sync_mode="append_dedup")
    assert findings(make_repo, config, dlt_schema()) == [
        ("LL502", CONFIG, *line_of(config, '"destination_sync_mode"'), E)
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
    result = check_tree(make_repo({
        CONFIG: config, SCHEMA: source_schema("orders"),
        "lotus-check.toml": 'generator = "tools/gen.py"\n',
        "tools/gen.py": "",  # a configured generator must exist
    }))
    [finding] = [f for f in result.findings if f.code == "LL503"]
    assert "python tools/gen.py" in finding.hint


# ---- LL504 / LL505 ------------------------------------------------------------------------------


def test_ll504_field_not_in_source(make_repo: MakeRepo) -> None:
    fields = {"id": field("integer"), "emial": field("string"), "updated_at": field("string")}
    config = stream_config("orders", fields)
    result = check_tree(make_repo({CONFIG: config, SCHEMA: source_schema("orders")}))
    got = [f for f in result.findings if f.code.startswith("LL5")]
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
        ("LL505", CONFIG, *line_of(config, '"type": "string"'), E)
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
        ("LL505", CONFIG, *line_of(config, '"type": "string"', nth=2), E)
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
        ("LL507", CONFIG, *line_of(config, '"destination_sync_mode"'), E)
    ]


def test_ll507_source_defaults_count(make_repo: MakeRepo) -> None:
    config = stream_config("orders", primary_key=[], cursor_field=[])
    assert findings(make_repo, config) == []  # the source defines both


def test_ll507_silent_for_append_and_full_refresh(make_repo: MakeRepo) -> None:
    config = stream_config("orders", sync_mode="full_refresh", destination_sync_mode="append",
                           primary_key=[], cursor_field=[])
    assert findings(make_repo, config, source_schema("orders", defaults={})) == []


# ---- LL508 --------------------------------------------------------------------------------------


def test_ll508_selected_field_type(make_repo: MakeRepo) -> None:
    fields = {"id": field("integer"), "email": field("unknown"), "updated_at": field("string")}
    config = stream_config("orders", fields)
    schema = source_schema("orders", {**fields, "name": field("string")})
    assert sorted(findings(make_repo, config, schema)) == sorted([
        ("LL508", CONFIG, *line_of(config, '"type": "unknown"'), E),
        ("LL508", SCHEMA, *line_of(schema, '"type": "unknown"'), E),
    ])


def test_ll508_unselected_source_field_is_a_warning(make_repo: MakeRepo) -> None:
    schema = source_schema("orders")
    schema["fields"]["metadata"] = field("unknown")
    schema["fields"]["extra"] = {"description": "no type"}
    assert sorted(findings(make_repo, None, schema)) == sorted([
        ("LL508", SCHEMA, *line_of(schema, '"type": "unknown"'), W),
        ("LL508", SCHEMA, *line_of(schema, '"extra"'), W),
    ])


def test_ll508_nested_type(make_repo: MakeRepo) -> None:
    fields = {"id": field("integer"), "updated_at": field("string"),
              "tags": field("array", items=field("strng"))}
    config = stream_config("orders", fields)
    result = check_tree(make_repo({CONFIG: config, SCHEMA: None}))
    [finding] = [f for f in result.findings if f.code.startswith("LL5") and f.code != "LL512"]
    assert (finding.code, finding.line, finding.column) == ("LL508", *line_of(config, '"type": "strng"'))
    assert "`string`" in finding.hint


# ---- LL509 / LL510 ------------------------------------------------------------------------------


def test_ll509_selected_missing(make_repo: MakeRepo) -> None:
    config = stream_config("orders")
    del config["selected"]
    assert findings(make_repo, config) == [("LL509", CONFIG, 1, 1, W)]


def test_ll510_backfill_true(make_repo: MakeRepo) -> None:
    config = stream_config("orders", backfill=True)
    assert findings(make_repo, config) == [("LL510", CONFIG, *line_of(config, '"backfill"'), W)]


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
    assert findings(make_repo, text) == [("LL511", CONFIG, 11, 5, E)]


@pytest.mark.parametrize("broken", ['{"stream": "orders",}', b"\xff\xfe{}"])
def test_broken_files_give_no_ll5_findings(make_repo: MakeRepo, broken: str | bytes) -> None:
    assert findings(make_repo, broken) == []


def test_each_document_gets_the_quick_schema_test_once(
    make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With workers (the default on a multi-core machine) the pool's triage runs the quick test;
    # the check itself must not run it again on the documents it already passed.
    from lotus_checks.checks import stream_config as module

    files = {f"{STREAMS}/shop/customers.json": stream_config("customers"),
             f"{SOURCES}/shop/customers.json": source_schema("customers")}
    root = make_repo(files)
    tested: list[int] = []
    real = module._certainly_valid

    def counting(name: str) -> Callable[[Any], bool]:
        quick = real(name)

        def test(data: Any) -> bool:
            tested.append(id(data))
            return quick(data)
        return test

    monkeypatch.setattr(module, "_certainly_valid", counting)
    result = check_tree(root, jobs=2)
    assert [f.code for f in result.findings if f.code.startswith("LL5")] == []
    assert len(tested) == 2 and len(set(tested)) == 2
