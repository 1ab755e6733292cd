"""Loaders and the whole pipeline against arbitrary input (Hypothesis).

Random bytes, random JSON and random YAML in stream configs, source schemas, sources files and
dbt_project.yml never produce a traceback through `lotus_checks.cli.main`: the run exits 0 or 1,
with an LL0xx finding on the file whenever it cannot be loaded. Positions reported by
`JsonDoc.position` / `YamlDoc.position` point at the key they name.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any
from typing import Iterator

import pytest
import yaml
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lotus_checks.cli import main
from lotus_checks.core.loaders import LineIndex
from lotus_checks.core.loaders import LoadError
from lotus_checks.core.loaders import parse_json
from lotus_checks.core.loaders import parse_yaml
from lotus_checks.core.loaders import read_text
from tests.builders import CORE
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import source_schema
from tests.builders import stream_config
from tests.builders import write_tree

CONFIG = f"{STREAMS}/shopify/orders.json"
SCHEMA = f"{SOURCES}/shopify/orders.json"
SOURCES_YML = f"{CORE}/shopify/_shopify__sources.yml"
PROJECT = "orchestration/dbt_project.yml"
TARGETS = (CONFIG, SCHEMA, SOURCES_YML, PROJECT)

BASE_TREE: dict[str, Any] = {
    CONFIG: stream_config("orders"),
    SCHEMA: source_schema("orders"),
    SOURCES_YML: "version: 2\nsources:\n  - name: shopify\n    tables:\n      - name: orders\n",
    PROJECT: "name: lotus_lake\nprofile: lotus_lake\nmodel-paths:\n  - assets/core/shopify\n",
    f"{CORE}/shopify/int_shopify__orders.sql": (
        "{{ config(tags=['core', 'shopify__orders']) }}\n"
        "select id, email from {{ source('shopify', 'orders') }}\n"
    ),
}

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ---- strategies ---------------------------------------------------------------------------------

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KNOWN_KEYS = (
    "stream", "connector", "sync_mode", "destination_sync_mode", "backfill", "primary_key",
    "cursor_field", "selected", "fields", "options", "defaults", "sources", "name", "tables",
    "model-paths", "type", "properties", "items", "sync_modes", "destination_sync_modes",
)
PLAUSIBLE = (
    SCALARS
    | st.sampled_from(["orders", "incremental", "full_refresh", "append_dedup", "merge", "dlt",
                       "string", "unknown", "object", "array", "id", "updated_at"])
)
# Documents shaped like ours, with wrong pieces: they reach the checks instead of failing early.
SHAPED = st.recursive(
    PLAUSIBLE,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=25,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some keys replaced by arbitrary or plausible values, or removed."""
    return st.dictionaries(st.sampled_from(sorted(base)), st.none() | SHAPED, max_size=4).map(
        lambda changes: {
            **{k: v for k, v in base.items() if k not in changes or changes[k] is not None},
            **{k: v for k, v in changes.items() if v is not None},
        }
    )


JSON_TEXT = (
    ANY_JSON.map(json.dumps)
    | SHAPED.map(lambda d: json.dumps(d, indent=2))
    | mutated(stream_config("orders")).map(lambda d: json.dumps(d, indent=2))
    | mutated(source_schema("orders")).map(lambda d: json.dumps(d, indent=2))
    | st.text(max_size=60)
)
YAML_TEXT = (
    SHAPED.map(lambda d: yaml.safe_dump(d, sort_keys=False))
    | ANY_JSON.map(lambda d: yaml.safe_dump(d))
    | st.text(max_size=60)
    | st.sampled_from(["a: &a [*a]", "- !!python/object:os.system {}", "{", "a: b: c", "\t- x"])
)

# ---- the pipeline never crashes -----------------------------------------------------------------


def check_run(target: str, content: str | bytes, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_tree(root, {**BASE_TREE, target: content})
        code = main(["--root", str(root), "--no-cache", "--output-format", "json"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert "Traceback" not in err
    findings = json.loads(out)["findings"]
    if not loads(target, content):
        assert any(f["path"] == target and f["code"].startswith("LL0") for f in findings), findings


def loads(target: str, content: str | bytes) -> bool:
    """Whether our own loader accepts `content` as the file at `target`."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file"
        path.write_bytes(data)
        try:
            text = read_text(path, 5_000_000)
            (parse_json if target.endswith(".json") else parse_yaml)(text)
        except LoadError:
            return False
    return True


@pytest.mark.parametrize("target", TARGETS)
@FUZZ
@given(content=st.binary(max_size=200))
def test_random_bytes_never_crash(target: str, content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    check_run(target, content, capsys)


@pytest.mark.parametrize("target", (CONFIG, SCHEMA))
@FUZZ
@given(content=JSON_TEXT)
def test_random_json_never_crashes(target: str, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    check_run(target, content, capsys)


@pytest.mark.parametrize("target", (SOURCES_YML, PROJECT))
@FUZZ
@given(content=YAML_TEXT)
def test_random_yaml_never_crashes(target: str, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    check_run(target, content, capsys)


# ---- JSON positions -----------------------------------------------------------------------------


def json_paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every key and array item, in document order."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield path + (key,), value
            yield from json_paths(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield path + (i,), value
            yield from json_paths(value, path + (i,))


JSON_STYLES = st.sampled_from([
    {"indent": None}, {"indent": 2}, {"indent": 4}, {"indent": "\t"},
    {"indent": None, "separators": (",", ":")}, {"indent": 2, "ensure_ascii": False},
])


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=5), style=JSON_STYLES,
       crlf=st.booleans())
def test_json_positions_point_at_the_key(data: dict[str, Any], style: dict, crlf: bool) -> None:
    text = json.dumps(data, **style)
    if crlf:
        text = text.replace("\n", "\r\n")  # only layout newlines: strings escape theirs
    doc = parse_json(text)
    index = LineIndex(text)
    decoder = json.JSONDecoder()
    previous = -1
    for path, value in json_paths(data):
        line, column = doc.position(path)
        assert line is not None and column is not None
        offset = index.offset(line, column)
        assert offset > previous, (path, "positions follow document order")
        previous = offset
        if isinstance(path[-1], str):
            key, _ = decoder.raw_decode(text, offset)
            assert key == path[-1]
        else:
            item, _ = decoder.raw_decode(text, offset)
            assert item == value


def test_json_position_of_missing_key_falls_back_to_parent() -> None:
    doc = parse_json('{\n  "fields": {\n    "id": {"type": "integer"}\n  }\n}\n')
    assert doc.position(("fields", "id", "format")) == (3, 5)
    assert doc.position(("nothing",)) == (1, 1)


# ---- YAML positions -----------------------------------------------------------------------------


@st.composite
def yaml_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Nested mappings/lists whose keys `k<n>` are unique, so each occurs once in the text."""
    counter = iter(range(10_000))
    values = st.none() | st.booleans() | st.integers() | st.text(alphabet="ABCXYZ ", max_size=6)

    def build(depth: int) -> Any:
        kind = draw(st.sampled_from(["scalar", "map", "list"] if depth < 3 else ["scalar"]))
        if kind == "scalar":
            return draw(values)
        if kind == "list":
            return [build(depth + 1) for _ in range(draw(st.integers(0, 3)))]
        return {f"k{next(counter)}": build(depth + 1) for _ in range(draw(st.integers(1, 3)))}

    return {f"k{next(counter)}": build(1) for _ in range(draw(st.integers(1, 4)))}


def yaml_key_paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield path + (key,)
            yield from yaml_key_paths(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from yaml_key_paths(value, path + (i,))


@settings(max_examples=200, deadline=None)
@given(data=yaml_documents(), flow=st.sampled_from([False, True, None]),
       indent=st.sampled_from([2, 4]))
def test_yaml_positions_point_at_the_key(data: dict[str, Any], flow: bool | None, indent: int) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, indent=indent, sort_keys=False, width=60)
    doc = parse_yaml(text)
    assert doc.data == data
    index = LineIndex(text)
    for path in yaml_key_paths(data):
        key = path[-1]
        [match] = list(re.finditer(rf"(?<![A-Za-z0-9]){key}:", text))
        assert doc.position(path) == index.position(match.start()), (path, text)


def test_yaml_position_of_missing_key_falls_back_to_parent() -> None:
    doc = parse_yaml("version: 2\nsources:\n  - name: shopify\n    tables: []\n")
    assert doc.position(("sources", 0, "name")) == (3, 5)
    assert doc.position(("sources", 0, "loader")) == (3, 5)
    assert doc.position(("sources", 3, "name")) == (2, 1)


def test_alias_expansion_is_counted_only_where_an_alias_can_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lotus_checks.core import loaders

    counted: list[int] = []
    real = loaders._expanded_size

    def counting(node: object) -> int:
        counted.append(1)
        return real(node)  # type: ignore[arg-type]

    monkeypatch.setattr(loaders, "_expanded_size", counting)
    globs = "location: \"s3://raw/**/*.parquet\"\nnote: a * b\n"
    assert loaders.parse_yaml(globs).data["note"] == "a * b"
    assert counted == []
    aliased = "base: &b {x: 1}\nother: *b\n"
    assert loaders.parse_yaml(aliased).data["other"] == {"x": 1}
    assert counted == [1]
    # Each level lists the one before it ten times: 10^7 nodes once expanded.
    levels = [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
              for i in range(6)]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(levels)
    with pytest.raises(loaders.LoadError, match="aliases expand"):
        loaders.parse_yaml(bomb)
