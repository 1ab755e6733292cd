"""Typed model facts: what the cache stores is exactly what the checks read back."""

from __future__ import annotations

import json

import pytest

from lotus_checks.sql import _budget
from lotus_checks.sql import facts
from lotus_checks.sql.facts import CoverageView
from lotus_checks.sql.facts import ModelFacts

# Between them, every optional part of the facts: both renderings differing, a query run at
# compile time, struct and JSON paths, a raw read with options, names an outer query binds, an
# aggregate over outer columns (through an alias, and by name), an outer alias an inner
# column may hide, a runtime path, template and SQL problems.
MODELS = {
    "int_shop__orders": """{{ config(tags=['core', 'shop__orders']) }}
{% set seen = run_query("select max(updated_at) as m from " ~ this) %}
select o.id, o.customer.email, o.attributes::JSON->>'$.a.b' as ab, r.* exclude (secret)
from {{ source('shop', 'orders') }} as o
join read_parquet('s3://landing/raw/shop/orders/*', hive_partitioning=true, filename=true) as r
  on r.id = o.id
{% if is_incremental() %}
where o.updated > (select max(updated) from {{ this }})
  and o.id > (select max(o.id) from {{ ref('int_shop__refunds') }})
  and exists (select 1 from {{ ref('int_shop__refunds') }} as f where f.customer.id = o.id)
{% endif %}
""",
    "int_shop__refunds": "select * from read_parquet({{ var('files') }})\n",
    "int_shop__broken": "select id, from {{ source('shop', 'refunds') }} {{ oops(\n",
}


def model_facts(name: str) -> dict:
    return facts.model_facts(MODELS[name], name, {})


@pytest.mark.parametrize("name", sorted(MODELS))
def test_facts_survive_the_cache_unchanged(name: str) -> None:
    data = model_facts(name)
    stored = json.loads(json.dumps(data))  # what a warm run reads back
    typed = ModelFacts.from_json(stored)
    assert typed.to_json() == stored
    assert ModelFacts.from_json(typed.to_json()) == typed


def test_the_round_trip_covers_every_optional_part() -> None:
    """Guards the test above: a part of the facts none of the models has is never checked."""
    orders = ModelFacts.from_json(model_facts("int_shop__orders"))
    plain, incremental = orders.renderings
    assert plain is not None and incremental is not None and plain != incremental
    assert plain.queries and plain.queries[0] is not None
    reads = incremental.reads
    steps = [s for r in reads for c in r.candidates for s in c.steps]
    assert {s.kind for s in steps} >= {"name", "json"} and all(s.line == 3 for s in steps[:3])
    assert any(r.correlated and r.aggregate is not None and len(r.depths) == len(r.labels) > 1
               for r in reads)
    assert any(r.shadow for r in reads)
    assert any(a.fixed for a in incremental.aggregates)
    (raw,) = [r for r in plain.relations.values() if r.kind == "file"]
    assert (raw.hive, raw.filename, raw.paths) == (True, "filename", ("s3://landing/raw/shop/orders/*",))
    assert plain.outputs is not None and plain.outputs.stars[0].exclude == ("secret",)
    assert orders.coverage == CoverageView(("core", "shop__orders"), frozenset({("shop", "orders")}))

    refunds = ModelFacts.from_json(model_facts("int_shop__refunds"))
    assert [c.kind for c in refunds.calls] == ["files"]
    assert refunds.renderings[0] is not None
    (runtime,) = refunds.renderings[0].relations.values()
    assert runtime.files and list(runtime.runtime.values()) == ["files"]  # the var() it stands for

    broken = ModelFacts.from_json(model_facts("int_shop__broken"))
    assert [p.code for p in broken.problems] == ["LL004"]
    assert broken.coverage.tags is None  # the template broke: tags unknown


def test_facts_of_a_model_over_its_budget_are_marked_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def over_budget(*args: object) -> ModelFacts:
        raise _budget.TimeLimitExceeded

    monkeypatch.setattr(facts, "_model_facts", over_budget)
    data = facts.model_facts("select 1", "int_shop__slow")
    assert data["skipped"] is True  # what the repo model keeps out of the store
    typed = ModelFacts.from_json(json.loads(json.dumps(data)))
    assert typed.skipped and [p.code for p in typed.problems] == ["LL008"]
    assert typed.coverage == CoverageView(None, frozenset())
