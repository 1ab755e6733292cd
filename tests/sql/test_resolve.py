"""Column resolution on plain SQL: every construct DuckDB models use, with exact positions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lotus_checks.core.loaders import LineIndex
from lotus_checks.sql.facts import PathStep
from lotus_checks.sql.facts import sql_facts
from lotus_checks.sql.resolve import resolve

PLACEHOLDERS = {"raw", "raw2", "this_model"}


def resolved(sql: str) -> Any:
    return resolve(sqlglot.parse_one(sql, read="duckdb"), lambda name: name in PLACEHOLDERS)


def reads(sql: str) -> list[tuple[str, str, list[str], list[str], bool]]:
    """(name, "line:col", candidate relations, path of the first candidate, derived) per read."""
    index = LineIndex(sql)
    out = []
    for read in resolved(sql).reads:
        line, col = index.position(read.offset)
        path = [s.name for s in read.candidates[0].path] if read.candidates else []
        out.append((read.name, f"{line}:{col}", [c.rel for c in read.candidates], path, read.derived))
    return out


def names(sql: str) -> list[str]:
    return [r[0] for r in reads(sql)]


def test_select_star_passes_columns_through_ctes() -> None:
    sql = "with a as (select * from raw), b as (select * from a)\nselect id, email from b"
    assert reads(sql) == [
        ("id", "2:8", ["raw"], [], False),
        ("email", "2:12", ["raw"], [], False),
    ]


def test_column_a_cte_does_not_define_has_no_candidates() -> None:
    sql = "with a as (select id from raw)\nselect a.email from a"
    (read,) = resolved(sql).reads[1:]
    assert (read.name, read.candidates, read.scope, read.known) == ("email", (), "a", ("id",))


def test_explicit_cte_columns_resolve_without_a_read() -> None:
    assert names("with a as (select id, lower(email) as email from raw) select email, id from a") == [
        "id",
        "email",
    ]


def test_subquery_in_from() -> None:
    assert reads("select x.id from (select * from raw) as x") == [("id", "1:10", ["raw"], [], False)]


def test_union_branches_are_read_and_output_comes_from_the_left() -> None:
    result = resolved("select id from raw union all select idd from raw2")
    assert [(r.name, r.candidates[0].rel) for r in result.reads] == [("id", "raw"), ("idd", "raw2")]
    assert result.output.display == ["id"]


def test_join_using_reads_both_sides() -> None:
    assert reads("select * from raw join raw2 using (id)") == [
        ("id", "1:36", ["raw"], [], False),
        ("id", "1:36", ["raw2"], [], False),
    ]


def test_join_condition_with_qualified_columns() -> None:
    sql = "select a.x from raw as a\njoin raw2 as b on b.order_id = a.id"
    assert reads(sql) == [
        ("order_id", "2:21", ["raw2"], [], False),
        ("id", "2:34", ["raw"], [], False),
        ("x", "1:10", ["raw"], [], False),
    ]


def test_unqualified_column_with_two_star_relations_has_both_candidates() -> None:
    assert reads("select email from raw, raw2") == [("email", "1:8", ["raw", "raw2"], [], False)]


def test_lateral_unnest_alias_is_a_column_with_struct_access() -> None:
    sql = "with deduped as (select * from raw)\nselect li.price from deduped, unnest(line_items) as u(li)"
    assert reads(sql) == [
        ("line_items", "2:38", ["raw"], [], False),
        ("line_items", "2:8", ["raw"], ["[]", "price"], True),
    ]


def test_unnest_without_column_alias_names_its_column_after_the_table_alias() -> None:
    # `u.id`: table `u` has no column `id`, so DuckDB reads field `id` of its column `u`.
    assert reads("select u.id, u from raw, unnest(items) as u") == [
        ("items", "1:33", ["raw"], [], False),
        ("items", "1:8", ["raw"], ["[]", "id"], True),
    ]


def test_window_clause_and_named_window_reference() -> None:
    sql = "select row_number() over w from raw\nwindow w as (partition by order_id order by processed_at)"
    assert names(sql) == ["order_id", "processed_at"]


def test_qualify_partition_by_is_read() -> None:
    sql = "select *\nfrom raw\nqualify row_number() over (partition by idd order by updated_at desc) = 1"
    assert reads(sql)[0] == ("idd", "3:41", ["raw"], [], False)


def test_having_reads_columns_and_may_use_aliases() -> None:
    sql = "select ticket_id, count(*) as n from raw group by ticket_id having n > 1 and max(score) > 2"
    assert names(sql) == ["ticket_id", "ticket_id", "score"]


def test_select_aliases_in_where_group_by_order_by() -> None:
    sql = "select lower(email) as e from raw where e is not null group by e order by e"
    assert names(sql) == ["email"]


def test_later_select_items_see_earlier_aliases() -> None:
    assert names("select amount / 100 as amt, amt * 2 as double_amt from raw") == ["amount"]


def test_an_alias_defined_later_is_not_visible() -> None:
    assert names("select amt * 2 as double_amt, amount as amt from raw") == ["amt", "amount"]


def test_struct_access_on_a_column_that_is_not_a_table_alias() -> None:
    assert reads("select customer.id from raw") == [("customer", "1:8", ["raw"], ["id"], False)]


def test_qualified_struct_access() -> None:
    assert reads("select r.customer.address.city from raw as r") == [
        ("customer", "1:10", ["raw"], ["address", "city"], False)
    ]


def test_deep_struct_access_beyond_four_parts() -> None:
    assert reads("select a.b.c.d.e from raw") == [("a", "1:8", ["raw"], ["b", "c", "d", "e"], False)]


def test_bracket_index_then_struct_field() -> None:
    assert reads("select tags[1].name from raw") == [("tags", "1:8", ["raw"], ["[]", "name"], False)]


def test_lambda_parameters_are_not_columns() -> None:
    assert names("select list_transform(items, x -> x.price * qty) from raw") == ["items", "qty"]
    assert names("select list_filter(items, lambda i: i.ok) from raw") == ["items"]


def test_correlated_subquery_reads_inner_then_outer_relations() -> None:
    sql = "select id from raw where updated > (select max(updated) from this_model where this_model.id = raw.id)"
    found = reads(sql)
    assert found[1] == ("updated", "1:26", ["raw"], [], False)
    assert found[2] == ("updated", "1:48", ["this_model", "raw"], [], False)
    assert found[3][:3] == ("id", "1:90", ["this_model"])
    assert found[4][:3] == ("id", "1:99", ["raw"])


def test_exists_and_in_subqueries() -> None:
    assert names("select id from raw where id in (select order_id from raw2) and exists (select 1 from raw2 where raw2.x = raw.y)") == [
        "id", "id", "order_id", "x", "y"
    ]


def test_json_path_is_a_path_into_the_column() -> None:
    sql = "select attributes::JSON->>'$.location.city' as city from raw"
    assert reads(sql) == [("attributes", "1:8", ["raw"], ["location", "city"], False)]


def test_json_path_positions_are_found_in_the_literal() -> None:
    sql = "select attributes::JSON->>'$.location.city' as city from raw"
    facts, problem = sql_facts(sql, _calls(), LineIndex(sql).position)
    assert problem is None
    assert facts is not None
    steps = facts.reads[0].candidates[0].steps
    assert steps == (PathStep("location", "json", 1, 30), PathStep("city", "json", 1, 39))


def test_table_function_named_arguments_are_not_columns() -> None:
    result = resolved("select filename, year from read_parquet('s3://x/raw/a/b/*', filename=true, hive_partitioning=true)")
    (rel,) = result.relations.values()
    assert (rel.kind, rel.paths, rel.hive, rel.filename) == ("file", ("s3://x/raw/a/b/*",), True, "filename")
    assert [(r.name, r.candidates[0].rel) for r in result.reads] == [("filename", rel.id), ("year", rel.id)]


def test_star_exclude_removes_the_column_and_is_itself_a_read() -> None:
    result = resolved("with a as (select * exclude (secret) from raw) select secret from a")
    excluded, secret = result.reads
    assert (excluded.name, [c.rel for c in excluded.candidates]) == ("secret", ["raw"])
    assert (secret.name, secret.candidates) == ("secret", ())


def test_outputs_expand_stars_and_explicit_names() -> None:
    output = resolved("select *, 1 as extra from raw").output
    assert (output.display, [s.rel for s in output.stars], output.opaque) == (["extra"], ["raw"], False)
    output = resolved("with a as (select id, name from raw) select a.*, 2 as two from a").output
    assert output.display == ["id", "name", "two"]


def test_unknown_tables_and_table_functions_are_opaque() -> None:
    assert names("select anything from analytics.some_table") == []
    assert names("select anything from range(10) as r") == []


def test_values_and_recursive_ctes() -> None:
    assert names("select x from (values (1, 2)) as v(x, y)") == []
    assert resolved("select zz from (values (1)) as v(x)").reads[0].candidates == ()
    sql = "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select n from r"
    assert names(sql) == []


def test_struct_literals_and_named_arguments_are_not_columns() -> None:
    assert names("select {'a': id} as s, struct_pack(k := email) from raw") == ["id", "email"]


def test_select_without_from_has_no_relation_for_a_column() -> None:
    (read,) = resolved("select foo").reads
    assert read.candidates == ()


def _calls() -> dict[str, Any]:
    class Call:
        kind = "source"
        args = ("s", "t")
        line = 1
        column = 1

    return {"raw": Call()}


SQL_WORDS = st.sampled_from(
    ["select", "from", "where", "with", "as", "(", ")", ",", "*", "raw", "a", "b.c", "'$.x'", "::JSON",
     "->>", "unnest", "join", "using", "on", "=", "qualify", "over", "partition by", "group by",
     "having", "union all", "lambda", "x:", "->", "[1]", "{", "}", ":", "1", "\n", "--", "'", '"',
     "exclude", "values", "lateral", "window", "read_parquet", "filename=true", ";", "order by"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SQL_WORDS, max_size=30).map(" ".join))
def test_facts_never_raise_on_sql_ish_text(text: str) -> None:
    facts, problem = sql_facts(text, _calls(), LineIndex(text).position)
    assert (facts is None) == (problem is not None)
    if problem is not None:
        assert problem.code == "LL003"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_facts_never_raise_on_arbitrary_text(text: str) -> None:
    facts, problem = sql_facts(text, _calls(), LineIndex(text).position)
    assert facts is not None or (problem is not None and problem.code == "LL003")


@settings(max_examples=200, deadline=None)
@given(st.lists(SQL_WORDS, min_size=1, max_size=25).map(" ".join))
def test_resolver_never_raises_on_anything_sqlglot_parses(text: str) -> None:
    try:
        statements = sqlglot.parse(text, read="duckdb")
    except Exception:  # noqa: BLE001 - only parsable input is interesting here
        return
    for statement in statements:
        if statement is not None:
            resolve(statement, lambda name: name == "raw")


@pytest.mark.parametrize(
    ("sql", "position"),
    [
        ("select id,\nfrom raw where", (2, 10)),
        ("select 'abc from raw", (1, 8)),
        ("select a from raw r1 r2 r3", (1, 22)),
    ],
)
def test_parse_errors_point_at_the_offending_token(sql: str, position: tuple[int, int]) -> None:
    facts, problem = sql_facts(sql, {}, LineIndex(sql).position)
    assert facts is None
    assert problem is not None
    assert (problem.code, problem.line, problem.column) == ("LL003", *position)


# ---- names a subquery may take from an outer query -----------------------------------------


def correlation(sql: str) -> list[tuple[str, tuple[int, ...], tuple[str, ...], Any, Any]]:
    """(name, candidate depths, candidate labels, outer, aggregate) of each read that may bind
    outside its own query."""
    return [(r.name, r.depths, r.labels, r.outer, r.aggregate)
            for r in resolved(sql).reads if r.depths or r.outer]


def test_unqualified_names_in_a_subquery_list_candidates_by_depth() -> None:
    sql = "select * from raw o where o.id > (select max(updated) from this_model)"
    [read] = correlation(sql)
    assert read[:3] == ("updated", (0, 1), ("this_model", "o"))
    [aggregate] = resolved(sql).aggregates
    assert read[4] == aggregate.id
    assert aggregate.function == "max" and aggregate.clauses == ("select", "where")


def test_aggregate_clauses_name_where_the_subquery_sits() -> None:
    join = "select * from raw o join raw2 p on p.id = (select max(x) from this_model)"
    group = "select count(*) from raw o group by (select max(x) from this_model)"
    having = "select o.id from raw o group by o.id having count(*) > (select max(x) from this_model)"
    assert [resolved(q).aggregates[0].clauses[1] for q in (join, group, having)] == [
        "join", "group", "having",
    ]


def test_aggregates_with_a_certain_own_column_are_not_recorded() -> None:
    for sql in (
        "select * from raw o where o.id > (select max(t.x) from this_model t)",
        "select * from raw o where o.id > (select count(*) from this_model)",
        "select * from raw o where o.id > (select max(x) over () from this_model limit 1)",
        "with c as (select id, x from raw2) select * from raw o where o.id > (select max(x) from c)",
    ):
        assert resolved(sql).aggregates == [], sql


def test_qualified_outer_columns_are_fixed_in_the_aggregate() -> None:
    sql = "select * from raw o where o.id > (select max(o.k) from this_model t)"
    [aggregate] = resolved(sql).aggregates
    # `this_model` may have a struct column `o`, which DuckDB would read instead: the shadow.
    assert [(depth, label, [(s.rel, s.column) for s in shadow])
            for depth, label, _, shadow in aggregate.fixed] == [(1, "o", [("this_model", "o")])]
    assert correlation(sql) == []  # qualified: never a correlation finding


def test_a_column_of_the_subquery_named_like_an_outer_alias_is_the_subquerys() -> None:
    """DuckDB tries table aliases, then columns, level by level outwards."""
    import duckdb

    con = duckdb.connect()
    con.execute("create table raw as select 1 as id")
    inner = "(select {'id': 1} as customer) as o2"
    sql = f"select * from raw as customer where id > (select max(customer.id) from {inner})"
    assert resolved(sql).aggregates == []  # `customer` is o2's column: its own aggregate
    con.execute(sql)
    # The neighbour: o2 has no column `customer`, so `max(customer.id)` aggregates the outer query.
    wrong = sql.replace("as customer) as o2", "as buyer) as o2")
    [aggregate] = resolved(wrong).aggregates
    assert aggregate.clauses[1] == "where"
    with pytest.raises(duckdb.BinderException, match="cannot contain aggregates"):
        con.execute(wrong)


def test_filter_columns_count_as_the_aggregates_columns() -> None:
    sql = "select * from raw o where o.id > (select sum(a) filter (where b > 0) from this_model)"
    [aggregate] = resolved(sql).aggregates
    assert [r[0] for r in correlation(sql) if r[4] == aggregate.id] == ["a", "b"]


def test_an_explicit_outer_column_after_inner_stars_is_the_fallback() -> None:
    sql = ("with c as (select id, flag from raw2)\n"
           "select * from c where c.id in (select id from this_model where flag)")
    reads = correlation(sql)
    assert ("flag", (0,), ("this_model",), (1, "c"), None) in reads


def test_a_name_only_an_outer_cte_has_is_recorded_as_certainly_outer() -> None:
    sql = ("with c as (select id, flag from raw2), d as (select id from raw2)\n"
           "select * from c where c.id in (select id from d where flag)")
    assert correlation(sql) == [("flag", (), (), (1, "c"), None)]
