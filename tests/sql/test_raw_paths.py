"""Which streams a raw path reads: plain paths, globs (DuckDB's expansion), runtime paths."""

from __future__ import annotations

import re

import pytest

from lotus_checks.sql.raw_paths import glob_regex
from lotus_checks.sql.raw_paths import narrowed_glob
from lotus_checks.sql.raw_paths import path_read

RAW = "raw/{source}/{stream}/"
SHOPIFY = [("shopify", s) for s in ("orders", "order_refunds", "customers")]
LANDING = "s3://landing/raw/shopify/"


def streams(path: str, known: list[tuple[str, str]] = SHOPIFY) -> list[str]:
    read = path_read(path, RAW, known)
    assert read.kind == "glob", read
    return [s for _, s in read.streams]


def test_prefix_glob_names_the_stream_whose_part_files_it_matches() -> None:
    # Airbyte writes `orders0.parquet`; `order_refunds0.parquet` does not start with `orders`.
    assert streams(LANDING + "orders*.parquet") == ["orders"]


def test_prefix_glob_shared_by_two_streams_matches_both() -> None:
    assert streams(LANDING + "order*.parquet") == ["orders", "order_refunds"]
    with_orders_refunds = [*SHOPIFY, ("shopify", "orders_refunds")]
    assert streams(LANDING + "orders*.parquet", with_orders_refunds) == ["orders", "orders_refunds"]
    # Narrowed to the part counter Airbyte appends, it is one stream again.
    assert streams(LANDING + "orders[0-9]*.parquet", with_orders_refunds) == ["orders"]


def test_glob_inside_a_stream_folder_and_across_folders() -> None:
    # A wildcard below the stream's folder: the path names its stream like a plain path.
    assert path_read(LANDING + "orders/*.parquet", RAW, SHOPIFY).named == ("shopify", "orders")
    assert streams(LANDING + "*/**/*.parquet") == ["orders", "order_refunds", "customers"]
    assert streams("s3://landing/raw/*/customers/**/*", [*SHOPIFY, ("stripe", "charges")]) == ["customers"]


def test_glob_matching_no_stream() -> None:
    assert streams(LANDING + "refunds*.parquet") == []


def test_plain_paths_name_their_stream_and_paths_outside_raw_name_none() -> None:
    assert path_read(LANDING + "orders/**/*", RAW, SHOPIFY).named == ("shopify", "orders")
    assert path_read("s3://exports/*.parquet", RAW, SHOPIFY).kind == "none"


def test_runtime_placeholder_paths_are_decided_at_run_time() -> None:
    assert path_read("__lotus_files_0__", RAW, SHOPIFY).kind == "runtime"
    assert path_read("__lotus_files_0__/shopify/*.parquet", RAW, SHOPIFY).kind == "runtime"
    # The fixed part names the stream: that is what it reads.
    read = path_read(LANDING + "orders/__lotus_files_0__/*.parquet", RAW, SHOPIFY)
    assert read.named == ("shopify", "orders")


@pytest.mark.parametrize(
    ("glob", "name", "matches"),
    [
        ("a/*.parquet", "a/x.parquet", True),
        ("a/*.parquet", "a/b/x.parquet", False),  # `*` stays within a folder
        ("a/**/*.parquet", "a/x.parquet", True),
        ("a/**/*.parquet", "a/b/c/x.parquet", True),
        ("a/?.parquet", "a/x.parquet", True),
        ("a/[!x].parquet", "a/x.parquet", False),
        ("a/[a-c]1", "a/b1", True),
        ("a+b/x", "a+b/x", True),  # regex characters are literal
    ],
)
def test_glob_regex_follows_duckdb(glob: str, name: str, matches: bool) -> None:
    assert bool(glob_regex(glob).fullmatch(name)) is matches


def test_narrowed_glob_matches_only_the_stream() -> None:
    known = [*SHOPIFY, ("shopify", "orders_refunds")]
    narrowed = narrowed_glob(LANDING + "orders*.parquet", RAW, "shopify", "orders")
    assert narrowed == LANDING + "orders[0-9]*.parquet"
    assert streams(narrowed, known) == ["orders"]
    folder = narrowed_glob(LANDING + "*/**/*.parquet", RAW, "shopify", "orders")
    assert folder == LANDING + "orders/**/*.parquet"
    assert path_read(folder, RAW, known).named == ("shopify", "orders")


KLAVIYO = [("klaviyo", s) for s in ("flows", "lists", "campaigns")]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # What follows the stream's folder is left open: part files, hive partitions.
        ("raw/klaviyo/flows*/part-*.parquet", ["flows"]),
        ("raw/klaviyo/flows*/dt=*/*.parquet", ["flows"]),
        ("raw/klaviyo/flows*/2024/*/*.parquet", ["flows"]),
        ("raw/klaviyo/flows*/data/*.parquet", ["flows"]),
        # A `**` can stand for the raw tree's root and folders.
        ("s3://landing/**/flows/*.parquet", ["flows"]),
        ("s3://landing/raw/**/lists/**/*.parquet", ["lists"]),
        ("raw/klaviyo/**/*.parquet", ["flows", "lists", "campaigns"]),
        # DuckDB: `[^x]` is a class of `^` and `x`, `[!x]` its negation; `flows**` is `flows*`.
        ("raw/klaviyo/[^f]*/*.parquet", ["flows"]),
        ("raw/klaviyo/[!f]*/*.parquet", ["lists", "campaigns"]),
        ("raw/klaviyo/flows**/*.parquet", ["flows"]),
        ("raw/klaviyo/l*", ["lists"]),
    ],
)
def test_glob_names_the_streams_whose_files_it_can_match(path: str, expected: list[str]) -> None:
    assert streams(path, KLAVIYO) == expected


def test_exact_flat_file_beside_the_folders_names_its_stream() -> None:
    # Airbyte's `<stream><part>.parquet`; `lists` is not a file of stream `l`.
    assert path_read("s3://landing/raw/klaviyo/flows0.parquet", RAW, KLAVIYO).named == ("klaviyo", "flows")
    assert path_read("s3://landing/raw/klaviyo/flows_0.parquet", RAW, KLAVIYO).named == ("klaviyo", "flows")
    assert path_read("raw/klaviyo/lists0.parquet", RAW, [("klaviyo", "l")]).kind == "none"


# Files of a small lake (stream folders, hive partitions, flat part files) and globs over them:
# which files DuckDB reads is the ground truth for glob_regex and for which streams a glob reads.
LAKE_FILES = [
    "raw/klaviyo/flows/a.parquet", "raw/klaviyo/flows/dt=1/b.parquet",
    "raw/klaviyo/lists/c.parquet", "raw/klaviyo/flows0.parquet",
    "raw/klaviyo/campaigns/year=2024/month=1/d.parquet", "raw/klaviyo/lists_1.parquet",
]
DUCKDB_GLOBS = [
    "raw/klaviyo/[^x]*/*.parquet", "raw/klaviyo/[!l]*/*.parquet", "raw/klaviyo/flows**",
    "raw/klaviyo/flows**/*.parquet", "raw/klaviyo/{flows,lists}/*.parquet", "**/flows/*.parquet",
    "raw/**/lists/*.parquet", "raw/klaviyo/flows*/*.parquet", "raw/klaviyo/flows*/**/*.parquet",
    "raw/klaviyo/flows/**", "raw/klaviyo/*", "raw/klaviyo/l*", "raw/**",
    "raw/klaviyo/*/year=*/*/*.parquet", "raw/klaviyo/?lows/*.parquet", "raw/klaviyo/[fl]*/*",
]


@pytest.fixture(scope="module")
def duckdb_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str]:
    import duckdb

    root = tmp_path_factory.mktemp("globs")
    connection = duckdb.connect()
    for rel in LAKE_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        connection.execute(f"copy (select 1 as id) to '{(root / rel).as_posix()}' (format parquet)")
    return connection, root.as_posix()


@pytest.mark.parametrize("glob", DUCKDB_GLOBS)
def test_glob_matching_agrees_with_duckdb(duckdb_lake: tuple[object, str], glob: str) -> None:
    connection, root = duckdb_lake
    rows = connection.execute(f"select file from glob('{root}/{glob}')").fetchall()  # type: ignore[attr-defined]
    read = sorted(r[0][len(root) + 1:] for r in rows)
    assert sorted(f for f in LAKE_FILES if glob_regex(glob).fullmatch(f)) == read
    # Every stream DuckDB reads a file of (in its folder or beside it) is one the glob can match.
    read_streams = {s for _, s in KLAVIYO for f in read
                    if f.startswith(f"raw/klaviyo/{s}/") or re.match(rf"raw/klaviyo/{s}[^a-z/]", f)}
    found = path_read(glob, RAW, KLAVIYO)
    assert read_streams <= {s for _, s in found.streams} | {found.named[1] if found.named else ""}


@pytest.mark.parametrize("path", ["raw/klaviyo/[z-a]*/x.parquet", "raw/klaviyo/[\\w-]/*", "raw/[/*", "**", "[]]"])
def test_odd_globs_never_raise(path: str) -> None:
    read = path_read(path, RAW, KLAVIYO)
    assert read.kind in ("glob", "none", "stream")
    glob_regex(path)
