from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lotus_checks.sql.render import RenderedModel
from lotus_checks.sql.render import render_model
from tests.builders import REFERENCE_TREE

REFERENCE_MODELS = sorted(
    [*REFERENCE_TREE.glob("assets/core/*/*.sql"), *REFERENCE_TREE.glob("assets/marts/*/*.sql")]
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def render(template: str, **kwargs: object) -> RenderedModel:
    kwargs.setdefault("model_name", "int_shopify__orders")
    return render_model(template, **kwargs)  # type: ignore[arg-type]


def text_at(template: str, line: int, column: int, length: int) -> str:
    return template.split("\n")[line - 1][column - 1 : column - 1 + length]


def position_of(result: RenderedModel, needle: str, occurrence: int = 0) -> tuple[int, int]:
    assert result.sql is not None
    offsets = [m.start() for m in re.finditer(rf"\b{re.escape(needle)}\b", result.sql)]
    return result.original_position(offsets[occurrence])


def problem_messages(result: RenderedModel) -> list[str]:
    return [problem.message for problem in result.problems]


# --- the reference models ---------------------------------------------------------------------


def test_reference_models_exist() -> None:
    assert len(REFERENCE_MODELS) >= 15


@pytest.mark.parametrize("incremental", [False, True])
@pytest.mark.parametrize("path", REFERENCE_MODELS, ids=lambda p: p.stem)
def test_reference_model_renders_and_every_identifier_maps_back(
    path: Path, incremental: bool
) -> None:
    template = path.read_text()
    result = render_model(template, model_name=path.stem, incremental=incremental)

    assert result.problems == ()
    assert result.sql is not None
    assert "{{" not in result.sql and "{%" not in result.sql
    assert "tags" in result.config
    checked = 0
    # The model's SQL, then the SQL it runs at compile time (run_query on `{{ this }}`).
    texts = [(result.sql, result.original_position)]
    texts += [(query.sql, query.original_position) for query in result.queries]
    for sql, original_position in texts:
        for match in IDENTIFIER.finditer(sql):
            word = match.group()
            line, column = original_position(match.start())
            if word.startswith("__lotus_"):
                call = result.relations[word]
                assert (line, column) == (call.line, call.column)
                continue
            if word == "NULL" and text_at(template, line, column, 8) == "max_year":
                continue  # `{{ max_year }}`: a value from run_query's result (neutral here)
            if word == "NULL" and text_at(template, line, column, 9) == "max_month":
                continue
            assert text_at(template, line, column, len(word)) == word, (word, line, column)
            checked += 1
    assert checked > 20


def test_reference_relations_point_at_their_calls() -> None:
    path = REFERENCE_TREE / "assets/core/shopify/int_shopify__orders.sql"
    template = path.read_text()
    result = render_model(template, model_name=path.stem, incremental=True)

    calls = sorted(result.relations.values(), key=lambda call: call.line)
    assert [(call.kind, call.args) for call in calls] == [
        ("source", ("shopify", "orders")),
        ("this", ()),
    ]
    for call in calls:
        expected = "source" if call.kind == "source" else "this"
        assert text_at(template, call.line, call.column, len(expected)) == expected


def test_rendering_all_reference_models_is_fast() -> None:
    templates = [(p.stem, p.read_text()) for p in REFERENCE_MODELS]
    start = time.perf_counter()
    for name, template in templates:
        for incremental in (False, True):
            render_model(template, model_name=name, incremental=incremental)
    # ~2.5 ms per model (both renderings) on a laptop; the bound only catches gross regressions.
    assert time.perf_counter() - start < 5.0


# --- config, relations and the dbt stand-ins --------------------------------------------------

MULTILINE = """\
{{
  config(
    tags=['core', 'shopify__orders'],
    materialized='incremental',
    unique_key='id',
  )
}}

select
    id,
    order_number
from {{ source('shopify', 'orders') }}
{% if is_incremental() %}
where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})
{% endif %}
  and total_pryce > 0
"""


def test_config_kwargs_are_recorded_and_rendered_away() -> None:
    result = render(MULTILINE)

    assert result.config == {
        "tags": ["core", "shopify__orders"],
        "materialized": "incremental",
        "unique_key": "id",
    }
    assert result.sql is not None and "config" not in result.sql


def test_several_config_calls_merge() -> None:
    result = render("{{ config(tags=['a']) }}{{ config(materialized='table') }}select 1")

    assert result.config == {"tags": ["a"], "materialized": "table"}
    assert result.sql == "select 1"


def test_column_after_multiline_config_maps_to_exact_line_and_column() -> None:
    result = render(MULTILINE)

    assert position_of(result, "order_number") == (11, 5)
    assert position_of(result, "id") == (10, 5)


@pytest.mark.parametrize("incremental", [False, True])
def test_column_after_an_if_block_maps_exactly_in_both_renderings(incremental: bool) -> None:
    result = render(MULTILINE, incremental=incremental)

    assert result.sql is not None
    assert ("_airbyte_extracted_at" in result.sql) is incremental
    assert position_of(result, "total_pryce") == (16, 7)


def test_columns_inside_the_incremental_branch_map_exactly() -> None:
    result = render(MULTILINE, incremental=True)

    assert position_of(result, "_airbyte_extracted_at", 0) == (14, 7)
    assert position_of(result, "_airbyte_extracted_at", 1) == (14, 43)


def test_source_is_a_placeholder_with_the_calls_position() -> None:
    template = "select a\nfrom   {{ source('shopify', 'orders') }} as o where o.total_pryce > 0"
    result = render(template)

    [(placeholder, call)] = result.relations.items()
    assert call.kind == "source"
    assert call.args == ("shopify", "orders")
    assert (call.line, call.column) == (2, 11)
    assert result.sql == f"select a\nfrom   {placeholder} as o where o.total_pryce > 0"
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", placeholder)
    # Text inside the placeholder maps to the call, text after it to its own column.
    start = result.sql.index(placeholder)
    assert result.original_position(start + 3) == (2, 11)
    assert position_of(result, "total_pryce") == (2, 55)


def test_ref_with_and_without_package() -> None:
    result = render("select * from {{ ref('int_a') }} join {{ ref('pkg', 'int_b') }} using (id)")

    assert [(c.kind, c.args) for c in result.relations.values()] == [
        ("ref", ("int_a",)),
        ("ref", ("pkg", "int_b")),
    ]
    assert len(set(result.relations)) == 2


def test_each_call_gets_its_own_placeholder() -> None:
    result = render("{{ source('s', 't') }} {{ source('s', 't') }} {{ this }} {{ this }}")

    assert len(result.relations) == 4
    assert result.sql == " ".join(result.relations)


def test_var_files_is_a_list_of_one_placeholder_path() -> None:
    template = 'select *\nfrom read_parquet({{ var("files") }}, filename=true)'
    result = render(template)

    [(placeholder, call)] = result.relations.items()
    assert call.kind == "files" and call.args == ("files",)
    assert (call.line, call.column) == (2, 22)
    assert result.sql == f"select *\nfrom read_parquet(['{placeholder}'], filename=true)"
    assert position_of(result, "filename") == (2, 39)


def test_var_with_default_and_project_vars() -> None:
    template = "select {{ var('a', 1) }}, {{ var('b', 2) }}, '{{ var('c', 'x') }}'"
    result = render(template, project_vars={"b": 20})

    assert result.sql == "select 1, 20, 'x'"
    assert result.problems == ()


def test_var_without_default_is_a_runtime_value_not_a_problem() -> None:
    # dbt-core's parser renders a missing var() as None and passes; the value comes with --vars.
    result = render("select\n  {{ var('start_date') }} as d")

    assert result.problems == ()
    [(placeholder, call)] = result.relations.items()
    assert call.kind == "files" and (call.line, call.column) == (2, 6)
    assert result.sql == f"select\n  ['{placeholder}'] as d"


def test_runtime_var_inside_quotes_renders_a_placeholder_path() -> None:
    template = """select *\nfrom read_parquet('{{ var("file") }}', hive_partitioning=true)"""
    result = render(template)

    assert result.problems == ()
    [(placeholder, call)] = result.relations.items()
    assert (call.kind, call.line, call.column) == ("files", 2, 23)
    assert result.sql == f"select *\nfrom read_parquet('{placeholder}', hive_partitioning=true)"


def test_runtime_var_is_false_in_a_test_as_dbt_parse_renders_none() -> None:
    result = render("select {% if var('full') %}a{% else %}b{% endif %} as x")

    assert result.sql == "select b as x"
    assert result.problems == ()


def test_env_var_without_default_inside_a_path_is_a_runtime_value() -> None:
    template = "select * from read_parquet('{{ env_var('RAW') }}/x/*.parquet'), {{ env_var('N') }}"
    result = render(template)

    [(placeholder, call)] = result.relations.items()
    assert call.kind == "files"
    assert result.sql == f"select * from read_parquet('{placeholder}/x/*.parquet'), NULL"


def test_var_with_a_non_string_name_is_one_problem_with_position() -> None:
    result = render("select\n  {{ var(none) }} as d")

    assert result.sql == "select\n  NULL as d"
    [problem] = result.problems
    assert "var() expects a variable name" in problem.message
    assert (problem.line, problem.column) == (2, 6)


def test_dbt_helpers_render_without_problems() -> None:
    template = """\
{% set cols %}id, name{% endset %}
{% set results = run_query('select 1') %}
{% set methods = [] %}
{% do methods.append('card') %}
{% for m in methods %}{{ log('x') }}{% endfor %}
{% macro cents(col) %}({{ col }} / 100.0){% endmacro %}
{% macro pick() %}{{ return('amount') }}{% endmacro %}
select {{ cols }}, {{ cents('total') }}, {{ pick() }}, '{{ target.name }}' as t,
  '{{ env_var('DBT_X', 'dflt') }}' as e, {{ results.columns | length }} as n
{% if execute and target.type == 'duckdb' %}from {{ ref('int_a') }}{% endif %}
"""
    result = render(template)

    assert result.problems == ()
    assert result.sql is not None
    assert "select id, name, (total / 100.0), amount, 'dev' as t," in result.sql
    assert "'dflt' as e, 0 as n" in result.sql
    assert "from __lotus_rel_0" in result.sql


def test_text_from_a_set_block_maps_into_the_block() -> None:
    template = "{% set cols %}id, name{% endset %}\nselect {{ cols }} from t"
    result = render(template)

    assert result.sql == "\nselect id, name from t"
    assert position_of(result, "name") == (1, 19)
    assert position_of(result, "t") == (2, 24)


def test_a_set_block_with_a_filter_maps_to_the_expression_that_outputs_it() -> None:
    template = "{% set cols | trim %} id, name {% endset %}\nselect {{ cols }} from t"
    result = render(template)

    assert result.sql == "\nselect id, name from t"
    assert position_of(result, "name") == (2, 11)


def test_a_set_block_compares_and_filters_as_its_clean_text() -> None:
    template = (
        "{% set mode %}full{% endset %}"
        "{% if mode == 'full' and mode | length == 4 and mode ~ '!' == 'full!' %}select 1"
        "{% else %}select 2{% endif %}"
    )
    assert render(template).sql == "select 1"


def query_positions(template: str, incremental: bool = True) -> list[list[tuple[str, int, int]]]:
    """Each compile-time query of the rendering: (identifier, line, column) of each word."""
    result = render_model(template, model_name="m", incremental=incremental)
    assert result.problems == ()
    return [
        [(m.group(), *query.original_position(m.start())) for m in IDENTIFIER.finditer(query.sql)]
        for query in result.queries
    ]


def test_run_query_on_a_set_block_is_recorded_with_positions_in_the_block() -> None:
    template = (
        "{% if is_incremental() %}\n"
        "  {% set partition_query %}\n"
        "    select max(year) as max_year from {{ this }}\n"
        "  {% endset %}\n"
        "  {% set results = run_query(partition_query) %}\n"
        "{% endif %}\n"
        "select * from t"
    )
    [query] = query_positions(template)
    assert query[:4] == [("select", 3, 5), ("max", 3, 12), ("year", 3, 16), ("as", 3, 22)]
    assert query[-1] == ("__lotus_rel_0", 3, 42)  # where `this` is
    assert query_positions(template, incremental=False) == []  # the block is not run then


def test_run_query_on_a_literal_maps_its_pieces_and_statement_bodies_are_recorded() -> None:
    template = (
        "{% set r = run_query('select max(a) from ' ~ this ~ ' where b > 0') %}\n"
        "{% call statement('last', fetch_result=True) %}\n"
        "  select max(c) from {{ ref('x') }}\n"
        "{% endcall %}\n"
        "{{ run_query('show tables') }}"
        "select 1"
    )
    literal, statement, show = query_positions(template)
    assert literal[:3] == [("select", 1, 23), ("max", 1, 30), ("a", 1, 34)]
    assert literal[-2:] == [("where", 1, 55), ("b", 1, 61)]
    assert statement[:3] == [("select", 3, 3), ("max", 3, 10), ("c", 3, 14)]
    assert show == [("show", 5, 15), ("tables", 5, 20)]


def test_sql_built_before_run_query_maps_to_its_string_or_block_not_to_text_after() -> None:
    """The pieces map into Jinja string constants and set-block bodies only: a comment or SQL
    after the call that repeats them is never the place."""
    import duckdb

    built = (
        "select 1\n"
        "-- header\n"
        "{% set q = 'select max(updatd) as m from ' ~ this %}\n"
        "{% set r = run_query(q) %}\n"
        "select 2\n"
        "-- the last select max(updatd) as m from the table\n"
    )
    filtered = (
        "select 1\n"
        "{% set q | trim %}\n"
        "  select max(updatd) as m from {{ this }}\n"
        "{% endset %}\n"
        "{% set r = run_query(q) %}\n"
        "select max(updatd) as m from t\n"
    )
    con = duckdb.connect()
    con.execute("create table model (updated int)")
    for template, where in ((built, [("select", 3, 13), ("max", 3, 20), ("updatd", 3, 24)]),
                            (filtered, [("select", 3, 3), ("max", 3, 10), ("updatd", 3, 14)])):
        [query] = query_positions(template)
        assert query[:3] == where
        [rendered] = render(template, model_name="model").queries
        with pytest.raises(duckdb.BinderException, match="updatd"):
            con.execute(re.sub(r"__lotus_rel_\d+", "model", rendered.sql))
        con.execute(re.sub(r"__lotus_rel_\d+", "model", rendered.sql).replace("updatd", "updated"))


def test_loop_bodies_map_back_to_the_loop_text() -> None:
    template = "select\n{% for c in ['a', 'b'] %}  x_{{ c }},\n{% endfor %}  last_col\nfrom t"
    result = render(template)

    assert result.sql == "select\n  x_a,\n  x_b,\n  last_col\nfrom t"
    assert position_of(result, "last_col") == (3, 15)


def test_crlf_templates_map_to_the_same_lines_and_columns() -> None:
    template = "{{ config(tags=['x']) }}\r\nselect\r\n    amount\r\nfrom t\r\n"
    result = render(template)

    assert position_of(result, "amount") == (3, 5)


def test_raise_compiler_error_is_a_problem() -> None:
    result = render("{{ exceptions.raise_compiler_error('need a key') }}select 1")

    assert problem_messages(result) == ["raise_compiler_error: need a key"]


# --- unknown names and syntax errors ----------------------------------------------------------


def test_unknown_macro_is_exactly_one_problem_naming_it() -> None:
    template = "select\n  {{ dbt_utils.star(ref('a')) }},\n  {{ dbt_utils.star(ref('a')) }}\nfrom t"
    result = render(template)

    [problem] = result.problems
    assert problem.message == "unknown macro `dbt_utils.star`"
    assert (problem.line, problem.column) == (2, 6)
    assert result.sql == "select\n  NULL,\n  NULL\nfrom t"
    assert [c.kind for c in result.relations.values()] == ["ref", "ref"]


def test_undefined_name_is_one_problem_and_renders_neutral() -> None:
    result = render("select {{ foo }}, {{ foo }} from t where {{ foo.bar }} > 0")

    assert problem_messages(result) == ["undefined name `foo`"]
    assert result.sql == "select NULL, NULL from t where NULL > 0"


def test_undefined_in_a_condition_is_a_problem() -> None:
    result = render("select 1 {% if use_filter %}where x{% endif %}")

    assert problem_messages(result) == ["undefined name `use_filter`"]
    assert result.sql == "select 1 "


def test_defined_test_on_unknown_name_is_no_problem() -> None:
    result = render("select 1{% if foo is defined %}, foo{% endif %}")

    assert result.problems == ()


def test_unknown_attribute_of_a_known_object() -> None:
    result = render("select '{{ target.warehouse }}'")

    assert problem_messages(result) == ["unknown attribute `target.warehouse`"]


@pytest.mark.parametrize(
    ("template", "line"),
    [
        ("select 1\n\n{% if x %}\nselect", 3),  # the block that is never closed
        ("{% for c in cols %}\n{% if c %}\n{{ c }}\n{% endfor %}", 2),
        ("select\n  {{ 1 + }}\nfrom t", 2),
        ("select\n\n{% endif %}", 3),
        ("select {{ a\nfrom t", 2),
    ],
)
def test_syntax_error_has_no_sql_and_the_original_line(template: str, line: int) -> None:
    result = render(template)

    assert result.sql is None
    [problem] = result.problems
    assert problem.message.startswith("template syntax error:")
    assert problem.line == line


def test_syntax_error_line_is_right_after_a_multiline_config() -> None:
    result = render(MULTILINE.replace("{% endif %}", ""))

    assert result.sql is None
    assert result.problems[0].line == 13  # the `{% if is_incremental() %}` never closed


# --- sandbox and budgets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "select {{ ''.__class__.__mro__ }}",
        "select {{ ''.__class__.__mro__[1].__subclasses__() }}",
        "select {{ cycler.__init__.__globals__ }}",
        "select {{ cycler.__init__.__globals__.os.system('touch {marker}') }}",
        "select {{ self.__init__.__globals__.__builtins__.open('{marker}', 'w') }}",
        "select {{ config.__init__.__globals__ }}",
        "select {{ ref.__self__ }}",
        "{{ ''.format.__globals__ }}",
        "{% include '{marker}' %}",
    ],
)
def test_malicious_template_is_a_problem_not_code_execution(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    result = render(template.replace("{marker}", str(marker)))

    assert result.problems, result
    assert result.sql is None or "class" not in result.sql
    assert not marker.exists()


def test_unsafe_attribute_problem_says_why() -> None:
    result = render("select {{ ''.__class__.__mro__ }}")

    assert result.sql is None
    [problem] = result.problems
    assert "unsafe" in problem.message and "__class__" in problem.message
    assert problem.line == 1


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{% macro f() %}{{ f() }}{% endmacro %}select {{ f() }}", "recursion"),
        ("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
        (
            "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            "too much work",
        ),
        ("{% block a %}{{ self.a() }}{% endblock %}", "recursion"),
        ("{% for i in range(10**9) %}x{% endfor %}", "range"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "loop"),
        ("{{ 'x' * 10**10 }}", "too large"),
        ("{{ 7 ** 100000000 }}", "too large"),
        (
            "{% set ns = namespace(x='ab') %}{% for i in range(64) %}"
            "{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
            "larger than",
        ),
        ("{% set l = [1] %}{% for i in range(64) %}{% do l.extend(l) %}{% endfor %}", "list"),
        ("{{ 'x'.ljust(10**9) }}", "width"),
        ("{{ 'x' | center(10**9) }}", "width"),
        ("{{ '%0999999999d' % 1 }}", "format"),
        ("{{ '{:>999999999}'.format(1) }}", "format"),
        ("{{ (['x' * 1000000] * 100000) | join }}", "larger than"),
        ("{{ ('<a>' * 600000) | striptags }}", "filter input"),
        ("{% set a = ['x' * 10] * 1000 %}{% set b = [a] * 1000 %}{{ [b] * 1000 }}", "larger"),
    ],
)
def test_runaway_templates_end_quickly_with_a_problem(template: str, words: str) -> None:
    start = time.perf_counter()
    result = render(template)

    assert time.perf_counter() - start < 5.0
    assert result.sql is None
    [problem] = result.problems
    assert words in problem.message


def test_rendering_is_deterministic() -> None:
    first = render(MULTILINE, incremental=True)
    second = render(MULTILINE, incremental=True)

    assert first == second
    assert first.sql == second.sql and first.relations == second.relations


def test_template_containing_marker_characters_still_renders() -> None:
    result = render("select \ue000 1, {{ ref('a') }}")

    assert result.problems == ()
    assert result.sql is not None and result.sql.startswith("select")
    assert result.original_position(0) == (1, 1)


# --- properties -------------------------------------------------------------------------------

JINJA_ALPHABET = st.sampled_from(
    list("{}%#-+()[]'\".,:=~|*_ \n\r\tabcxyz019")
    + ["{{", "}}", "{%", "%}", "{#", "#}", "if ", "endif", "for ", "in ", "endfor", "macro ",
       "endmacro", "set ", "endset", "ref(", "source(", "this", "var(", "config(", "\ue000"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JINJA_ALPHABET, max_size=60).map("".join), st.booleans())
def test_random_templates_never_raise_and_positions_stay_in_the_template(
    template: str, incremental: bool
) -> None:
    result = render(template, incremental=incremental)

    if result.sql is None:
        assert result.problems
        return
    lines = template.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for offset in range(0, len(result.sql) + 2, 3):
        line, column = result.original_position(offset)
        assert 1 <= line <= len(lines)
        assert 1 <= column <= len(lines[line - 1]) + 1  # +1: the newline itself
    for call in result.relations.values():
        assert 1 <= call.line <= len(lines)
    assert render(template, incremental=incremental) == result


SQL_WORDS = st.sampled_from(
    ["select", "amount", "customer_id", "from", "where", "and", "x1", "_airbyte_raw_id"]
)
SEPARATORS = st.sampled_from([" ", "\n", ",\n    ", " = ", "\n\n", "  "])
JINJA_PIECES = st.sampled_from(
    [
        "{{ config(tags=['core', 's__t'],\n  materialized='table') }}",
        "{{ source('shopify', 'orders') }}",
        "{{ ref('int_a') }}",
        "{{ this }}",
        "{{ var('files') }}",
        "{{ var('n', 3) }}",
        "{% if is_incremental() %} inc_only_col {% endif %}",
        "{% if not is_incremental() %}\n full_only_col\n{% endif %}",
        "{#- a comment\n spanning lines -#}",
        "{%- set x = 1 -%}",
        "{% for c in ['p', 'q'] %} loop_{{ c }} {% endfor %}",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.one_of(SQL_WORDS, JINJA_PIECES), SEPARATORS), max_size=25),
    st.booleans(),
)
def test_every_literal_identifier_maps_back_exactly(
    parts: list[tuple[str, str]], incremental: bool
) -> None:
    template = "".join(piece + separator for piece, separator in parts)
    result = render(template, incremental=incremental)

    assert result.problems == ()
    assert result.sql is not None
    in_placeholder: set[int] = set()
    # Longest first: `__lotus_rel_1` is a prefix of `__lotus_rel_10`.
    for placeholder, call in sorted(result.relations.items(), key=lambda kv: -len(kv[0])):
        for match in re.finditer(re.escape(placeholder), result.sql):
            if match.start() in in_placeholder:
                continue
            for offset in range(match.start(), match.end()):
                assert result.original_position(offset) == (call.line, call.column)
                in_placeholder.add(offset)
    for offset, char in enumerate(result.sql):
        if offset in in_placeholder or not (char.isalnum() or char == "_"):
            continue
        line, column = result.original_position(offset)
        original = text_at(template, line, column, 1)
        # Loop values and var defaults come from `{{ c }}` / `{{ var(...) }}`: their start.
        assert original == char or (char in "pq3" and original in "cv"), (offset, char)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="{}#%"), max_size=200))
def test_plain_sql_renders_to_itself_with_identity_positions(text: str) -> None:
    result = render(text)

    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if any(ch in normalized for ch in "\ue000\ue001\ue002\ue003"):
        return
    assert result.sql == normalized
    for offset in range(len(normalized)):
        line, column = result.original_position(offset)
        before = normalized[:offset]
        assert (line, column) == (before.count("\n") + 1, offset - before.rfind("\n"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=120), st.booleans())
def test_arbitrary_text_never_raises(text: str, incremental: bool) -> None:
    result = render(text, incremental=incremental)

    assert result.sql is not None or result.problems
    if result.sql is not None and result.sql:
        line, column = result.original_position(len(result.sql) - 1)
        assert line >= 1 and column >= 1


def test_a_set_block_concatenated_before_run_query_keeps_its_positions() -> None:
    template = "{% set q %}select max(a){% endset %}\n{% do run_query(q ~ ' from ' ~ this) %}select 1"
    [query] = query_positions(template)
    assert query[:3] == [("select", 1, 12), ("max", 1, 19), ("a", 1, 23)]


def test_runtime_var_through_set_is_quoted_where_it_is_printed() -> None:
    """`{% set d = var('start_date') %}` then `'{{ d }}'`: a string, not a list in quotes."""
    template = "{% set d = var('start_date') %}\nselect * from t where order_date >= '{{ d }}'"
    result = render(template)

    [(placeholder, _call)] = result.relations.items()
    assert result.sql == f"\nselect * from t where order_date >= '{placeholder}'"
    # The neighbour: printed outside quotes it is the list `read_parquet({{ f }})` takes.
    result = render("{% set f = var('files') %}\nselect * from read_parquet({{ f }})")
    [(placeholder, _call)] = result.relations.items()
    assert result.sql == f"\nselect * from read_parquet(['{placeholder}'])"
