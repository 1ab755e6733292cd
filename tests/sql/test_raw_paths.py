"""Which streams a raw path reads: plain paths, globs (DuckDB's expansion), runtime paths."""

from __future__ import annotations

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
