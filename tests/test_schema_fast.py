"""The quick validity test (lotus_checks/schema_fast.py) against jsonschema, the ground truth.

Its one promise: "certainly valid" only for documents jsonschema finds valid. Documents are the
reference tree's stream configs and source schemas, mutated at random places.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lotus_checks.checks.stream_config import _schema_text
from lotus_checks.schema_fast import Unsupported
from lotus_checks.schema_fast import compile_schema
from tests.builders import REFERENCE_TREE

SCHEMAS = ("stream_config", "source_schema")
FOLDERS = {"stream_config": "assets/streams", "source_schema": "assets/sources"}


def documents(name: str) -> list[Any]:
    folder = REFERENCE_TREE / FOLDERS[name]
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("*/*.json")) if not p.name.startswith("_")]


def schema(name: str) -> Any:
    return json.loads(_schema_text(name))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "string", "integer", "array", "incremental", "append", "id"]),
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
    doc = copy.deepcopy(draw(st.sampled_from(documents(name))))
    for _ in range(draw(st.integers(0, 3))):
        paths = paths_of(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "delete", "add"]))
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
            parent[draw(st.sampled_from(["typ", "type", "extra", "format", "stream"]))] = \
                draw(json_values)
        else:
            parent.append(draw(json_values))
    return doc


@pytest.mark.parametrize("name", SCHEMAS)
def test_both_shipped_schemas_compile(name: str) -> None:
    compile_schema(schema(name))  # an Unsupported here would switch the quick test off silently


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_reference_document_is_certainly_valid(name: str) -> None:
    check = compile_schema(schema(name))
    docs = documents(name)
    assert docs and all(check(doc) for doc in docs)


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=400, deadline=None, derandomize=True)
@given(data=st.data())
def test_certainly_valid_only_when_jsonschema_agrees(name: str, data: st.DataObject) -> None:
    doc = data.draw(mutated(name))
    verdict = compile_schema(schema(name))(doc)
    truth = Draft202012Validator(schema(name)).is_valid(doc)
    # Never valid when jsonschema says invalid; and no needless "not certain" for plain cases.
    assert verdict == truth


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"type": "integer"}, None),
        ({"enum": [1, True]}, Unsupported),
        ({"patternProperties": {}}, Unsupported),
        ({"oneOf": []}, Unsupported),
    ],
)
def test_unknown_keywords_refuse_to_compile(value: dict[str, Any], expected: type | None) -> None:
    if expected is None:
        check = compile_schema(value)
        assert check(1) and check(1.0) and not check(True) and not check(1.5)
    else:
        with pytest.raises(expected):
            compile_schema(value)


def test_unique_items_of_non_strings_are_left_to_jsonschema() -> None:
    check = compile_schema({"type": "array", "uniqueItems": True})
    assert check(["a", "b"]) and not check(["a", "a"])
    assert not check([1, 2])  # valid, but JSON equality of numbers is jsonschema's call
