"""The text edits behind --fix: each inserts what a person would write and nothing else."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from lotus_checks.checks.coverage.edits import add_model_tag
from lotus_checks.checks.coverage.edits import append_to_yaml_list

SOURCES = """\
version: 2

sources:
  - name: shopify  # landed by Airbyte
    tables:
      - name: orders
        description: Orders.
      # refunds come later
      - name: customers
        description: Customers.

# trailing comment
"""


def test_block_list_item_goes_after_the_last_item_at_its_indentation() -> None:
    edited = append_to_yaml_list(SOURCES, ("sources", 0, "tables"), {"name": "products"})
    assert edited == SOURCES.replace(
        "        description: Customers.\n",
        "        description: Customers.\n      - name: products\n",
    )


def test_block_list_without_indentation_and_without_final_newline() -> None:
    assert append_to_yaml_list("a:\n- x\n- y", ("a",), "z") == "a:\n- x\n- y\n- z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model-paths: ['a', 'b']\nx: 1\n", "model-paths: ['a', 'b', 'c']\nx: 1\n"),
        ('model-paths: ["a"]\n', 'model-paths: ["a", "c"]\n'),
        ("model-paths: []\n", "model-paths: [c]\n"),
        ("model-paths:\n  - \"a\"  # one\n", "model-paths:\n  - \"a\"  # one\n  - \"c\"\n"),
    ],
)
def test_list_style_and_quoting_are_kept(text: str, expected: str) -> None:
    assert append_to_yaml_list(text, ("model-paths",), "c") == expected


def test_what_is_not_a_list_is_not_edited() -> None:
    assert append_to_yaml_list("model-paths: a\n", ("model-paths",), "c") is None
    assert append_to_yaml_list("x: 1\n", ("model-paths",), "c") is None
    assert append_to_yaml_list("x: [\n", ("x",), "c") is None


# Strings YAML reads back as themselves when written plain (not `false`, `null`, `1e3`...).
block_item = st.text(string.ascii_lowercase + "_/", min_size=1, max_size=12).filter(
    lambda s: yaml.safe_load(s) == s
)


@given(
    items=st.lists(block_item, min_size=1, max_size=5),
    new=block_item,
    indent=st.sampled_from([0, 2, 4]),
    flow=st.booleans(),
    quote=st.sampled_from(["", "'", '"']),
    comment=st.booleans(),
)
def test_appending_adds_exactly_one_item(
    items: list[str], new: str, indent: int, flow: bool, quote: str, comment: bool
) -> None:
    def q(value: str) -> str:
        return f"{quote}{value}{quote}"

    if flow:
        text = "key: [" + ", ".join(q(i) for i in items) + "]\n"
    else:
        text = "key:\n" + "".join(" " * indent + f"- {q(i)}\n" for i in items)
    if comment:
        text += "# after\nother: 1\n"
    edited = append_to_yaml_list(text, ("key",), new)
    assert edited is not None
    after = yaml.safe_load(edited)
    assert after["key"] == [*items, new]
    old_lines, new_lines = text.splitlines(), edited.splitlines()
    if flow:  # the one line of the list changes; every other line stays
        assert new_lines[1:] == old_lines[1:]
    else:  # one line is added after the items; every other line stays
        added = len(items) + 1
        assert new_lines[:added] + new_lines[added + 1:] == old_lines


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            "{{ config(tags=['core'], materialized='table') }}\nselect 1",
            "{{ config(tags=['core', 'shopify__orders'], materialized='table') }}\nselect 1",
        ),
        (
            "{{\n  config(\n    tags=['core'],\n    materialized='incremental'\n  )\n}}\n",
            "{{\n  config(\n    tags=['core', 'shopify__orders'],\n    materialized='incremental'\n  )\n}}\n",
        ),
        (
            "{{\n  config(\n    materialized='incremental'\n  )\n}}\n",
            "{{\n  config(\n    tags=['shopify__orders'],\n    materialized='incremental'\n  )\n}}\n",
        ),
        (
            "{{ config(materialized='table') }}\nselect 1",
            "{{ config(tags=['shopify__orders'], materialized='table') }}\nselect 1",
        ),
        ('{{ config(tags="core") }}\nselect 1', '{{ config(tags=["core", "shopify__orders"]) }}\nselect 1'),
        ("{{ config(tags=[]) }}", "{{ config(tags=['shopify__orders']) }}"),
        (
            "{{ config(tags=[\n    'a',\n    'b',\n]) }}",
            "{{ config(tags=[\n    'a',\n    'b',\n    'shopify__orders',\n]) }}",
        ),
        ("{{ config() }}", "{{ config(tags=['shopify__orders']) }}"),
        ("select 1\n", "{{ config(tags=['shopify__orders']) }}\n\nselect 1\n"),
    ],
)
def test_the_tag_is_added_where_a_person_would(model: str, expected: str) -> None:
    assert add_model_tag(model, "shopify__orders", "int_shopify__orders") == expected


def test_tags_that_are_not_a_literal_are_left_to_a_person() -> None:
    assert add_model_tag("{{ config(tags=var('tags')) }}", "shopify__orders", "m") is None
    assert add_model_tag("{{ config(tags=['a'] ", "shopify__orders", "m") is None


def test_yaml_edits_keep_crlf_line_endings() -> None:
    assert append_to_yaml_list("m:\r\n  - a\r\n  - b\r\n", ("m",), "c") == "m:\r\n  - a\r\n  - b\r\n  - c\r\n"


def test_a_flow_list_with_one_item_per_line_gets_a_line_of_its_own() -> None:
    text = 'm: [\n  "a",\n  "b",\n]\n'
    assert append_to_yaml_list(text, ("m",), "c") == 'm: [\n  "a",\n  "b",\n  "c",\n]\n'
    assert append_to_yaml_list("m: [\n  a,\n  b\n]\n", ("m",), "c") == "m: [\n  a,\n  b,\n  c\n]\n"


def test_block_items_written_as_flow_mappings_stay_flow_mappings() -> None:
    text = "t:\n  - {name: a}\n  - {name: b}\n"
    assert append_to_yaml_list(text, ("t",), {"name": "c"}) == text + "  - {name: c}\n"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (  # a config() in a Jinja comment is not the model's
            "{# was: {{ config(tags=['core']) }} #}\n{{ config(tags=['core'], materialized='table') }}\n",
            "{# was: {{ config(tags=['core']) }} #}\n"
            "{{ config(tags=['core', 's__x'], materialized='table') }}\n",
        ),
        (  # the call that sets tags, not the first one
            "{{ config(materialized='table') }}\n{{ config(tags=['core']) }}\n",
            "{{ config(materialized='table') }}\n{{ config(tags=['core', 's__x']) }}\n",
        ),
        (
            "{{\r\n  config(\r\n    materialized='table'\r\n  )\r\n}}\r\nselect 1",
            "{{\r\n  config(\r\n    tags=['s__x'],\r\n    materialized='table'\r\n  )\r\n}}\r\nselect 1",
        ),
    ],
)
def test_the_tag_goes_into_the_config_call_dbt_reads(model: str, expected: str) -> None:
    assert add_model_tag(model, "s__x", "int_s__x") == expected


@pytest.mark.parametrize(
    "model",
    [
        "{{ config({'materialized': 'table'}) }}\nselect 1",  # positional settings
        "{{ config(tags=['a', 's__x']) }}\nselect 1",  # already there
        "{{ config(tags=['a']) }}\n{% if %}",  # does not render
    ],
)
def test_edits_that_would_not_add_exactly_the_tag_are_refused(model: str) -> None:
    assert add_model_tag(model, "s__x", "int_s__x") is None
