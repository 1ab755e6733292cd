"""The shortcuts a cold run takes per model give exactly what the long way gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lotus_checks.sql import facts

KEY = st.text(alphabet="abcxyz_019ABZ", min_size=1, max_size=8)
KEYWORDS = st.sampled_from(["select", "true", "null", "from", "json", "a1", "_x", "1a", "a-b"])


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.one_of(KEY, KEYWORDS), min_size=0, max_size=4),
       tail=st.sampled_from(["", "[0]", "[*]", " ", ".", "..a", "['k']", '."q"']))
def test_plain_json_paths_are_built_as_sqlglot_builds_them(keys: list[str], tail: str) -> None:
    from sqlglot import exp
    from sqlglot.dialects.duckdb import DuckDB

    text = "$" + "".join(f".{key}" for key in keys) + tail
    literal = exp.Literal.string(text)
    ours = facts._duckdb().to_json_path(literal.copy())
    theirs = DuckDB().to_json_path(literal.copy())
    assert ours == theirs, text
    if facts._PLAIN_JSON_PATH.fullmatch(text):
        assert ours.sql("duckdb") == theirs.sql("duckdb") == f"'{text}'"


def test_the_shortcut_is_taken_for_plain_paths() -> None:
    from sqlglot import exp

    # Guard against the shortcut silently never applying (the test above would still pass).
    assert facts._PLAIN_JSON_PATH.fullmatch("$.stats.period.starts_on")
    parsed = facts._duckdb().parse("select a::JSON->>'$.b.c' from t")[0]
    path = parsed.find(exp.JSONPath)
    assert [type(p).__name__ for p in path.expressions] == ["JSONPathRoot", "JSONPathKey",
                                                           "JSONPathKey"]


MODELS = [
    # No is_incremental(): rendered once, the facts of both renderings the same.
    ("{{ config(materialized='table') }}\nselect id, {{ var('x', 'a') }} as x\n"
     "from {{ source('shop', 'orders') }}\n"),
    # is_incremental() changes the SQL: rendered twice, parsed twice.
    ("{{ config(materialized='incremental') }}\nselect id from {{ source('shop', 'orders') }}\n"
     "{% if is_incremental() %}where updated_at > (select max(updated_at) from {{ this }})"
     "{% endif %}\n"),
    # Named only in a comment: still rendered twice (the name is all the shortcut looks at).
    "{# is_incremental #}select id from {{ source('shop', 'orders') }}\n",
    # Through a variable: the name is there, so both renderings happen.
    ("{% set inc = is_incremental %}select id from {{ source('shop', 'orders') }}"
     "{% if inc() %} where id > 0{% endif %}\n"),
    # A template error: the problem is reported once either way.
    "select id from {{ source('shop', 'orders') }} {{ missing_macro() }}\n",
    "select {% if %} from x\n",
]


@pytest.mark.parametrize("text", MODELS)
def test_rendering_once_gives_the_facts_of_rendering_twice(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shortcut = facts.model_facts(text, "int_shop__orders", {"x": "b"})
    monkeypatch.setattr(facts, "calls_is_incremental", lambda _text: True)
    long_way = facts.model_facts(text, "int_shop__orders", {"x": "b"})
    assert shortcut == long_way


def test_a_model_without_is_incremental_is_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from lotus_checks.sql import render

    calls: list[bool] = []
    real = render.render_model

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["incremental"])
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "render_model", counting)
    facts.model_facts(MODELS[0], "int_shop__orders")
    assert calls == [False]
    facts.model_facts(MODELS[1], "int_shop__orders")
    assert calls == [False, False, True]
