"""The quick pass of LL501 (fastjsonschema) against jsonschema, the ground truth.

Its one promise: a document it accepts is one jsonschema finds valid (else a mistake would go
unreported). Documents are the reference tree's stream configs and source schemas, mutated at
random places.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lotus_checks.checks.stream_config.schema import quick_pass
from lotus_checks.checks.stream_config.schema import schema_errors
from lotus_checks.checks.stream_config.schema import schema_text
from tests.builders import REFERENCE_TREE

SCHEMAS = ("stream_config", "source_schema")
FOLDERS = {"stream_config": "assets/streams", "source_schema": "assets/sources"}


@functools.cache
def _documents(name: str) -> tuple[str, ...]:
    folder = REFERENCE_TREE / FOLDERS[name]
    return tuple(p.read_text(encoding="utf-8")
                 for p in sorted(folder.glob("*/*.json")) if not p.name.startswith("_"))


def documents(name: str) -> list[Any]:
    """The reference tree's documents of kind `name`, parsed afresh (callers may change them;
    the files are read once)."""
    return [json.loads(text) for text in _documents(name)]


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text(name)))


def jsonschema_valid(name: str, doc: Any) -> bool:
    return _validator(name).is_valid(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
    | st.sampled_from([0.0, 1.0, "", "x", "string", "integer", "array", "incremental",
                       "full_refresh", "append", "overwrite", "merge", "airbyte", "dlt", "id"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["type", "items", "properties", "x", "stream", "fields",
                                       "description", "sync_modes", "id"]), children, max_size=3),
    max_leaves=8,
)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths_of(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths_of(item, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn, name: str) -> Any:
    doc = json.loads(draw(st.sampled_from(_documents(name))))  # a fresh copy to change
    for _ in range(draw(st.integers(0, 3))):
        paths = paths_of(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "delete", "add", "repeat"]))
        if not path:
            if action == "set":
                doc = draw(json_values)
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if action == "set":
            parent[last] = draw(json_values)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["typ", "type", "extra", "format", "stream",
                                         "connector", "backfill", "selected"]))] = \
                draw(json_values)
        elif action == "repeat":
            parent.append(copy.deepcopy(parent[last]))  # for uniqueItems
        else:
            parent.append(draw(json_values))
    return doc


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_reference_document_passes_quickly(name: str) -> None:
    # Guards against the quick pass silently never applying (the test below would still pass).
    docs = documents(name)
    assert docs and all(quick_pass(name)(doc) for doc in docs)


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=400, deadline=None, derandomize=True)
@given(data=st.data())
def test_quick_pass_accepts_only_what_jsonschema_accepts(name: str, data: st.DataObject) -> None:
    doc = data.draw(mutated(name))
    if quick_pass(name)(doc):
        assert jsonschema_valid(name, doc)
        assert schema_errors(doc, name) == []


def test_a_rejected_document_is_worded_by_jsonschema() -> None:
    [config] = documents("stream_config")[:1]
    config = {**config, "backfill": "no", "primary_key": [["id"], ["id", 1.0]]}
    assert not quick_pass("stream_config")(config)
    errors = schema_errors(config, "stream_config")
    assert [(e.path, e.hint) for e in errors] == [
        (("backfill",), "use a value of type boolean"),
        (("primary_key", 1, 1), "use a value of type string"),
    ]
    assert errors[0].message == "$.backfill: 'no' is not of type 'boolean'"
