"""Which streams a raw read's path reads: a plain path, a glob, or a path known only at run time.

The `raw-path` pattern (default `raw/{source}/{stream}/`) says where a stream's files land. A
plain path names its stream by that pattern. A glob (`*`, `**`, `?`, `[...]`, as DuckDB expands
them) names every stream whose files it can match: the files of stream `s` are written below
`raw/<source>/<s>/` (any layout, hive partitions included) or, when the Airbyte S3
destination's path format ends in the stream name, beside it as `raw/<source>/<s>0.parquet`
(`<s>_0.parquet` with a trailing `_`). So `orders*.parquet` reads `orders` and would also read a
stream `orders_refunds`, but never `order_refunds`. A path holding a runtime placeholder (a
`var()` or `env_var()` without default, filled in by `dbt run --vars`) reads what the run
passes: the model's own stream, unless the fixed part of the path names one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

RUNTIME_MARK = "__lotus_files_"  # placeholders of runtime values (sql/_dbt.py)
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class PathRead:
    """What a path reads.

    `kind`: "stream" (names one stream, in `named`; it may have no stream config), "glob" (the
    streams in `streams` can match: none, one or several), "runtime" (decided at run time), or
    "none" (no `raw-path` shape at all)."""

    kind: str
    named: tuple[str, str] | None = None
    streams: tuple[tuple[str, str], ...] = ()


def has_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def path_read(path: str, raw_path: str, streams: Iterable[tuple[str, str]]) -> PathRead:
    """What `path` reads, given the `raw-path` pattern and the repo's (source, stream) pairs."""
    named = named_stream(path, raw_path)
    if named is not None and not any(has_glob(p) or RUNTIME_MARK in p for p in named):
        return PathRead("stream", named=named)
    if RUNTIME_MARK in path:
        return PathRead("runtime")
    if has_glob(path):
        matched = glob_streams(path, raw_path, streams)
        if matched is not None:
            return PathRead("glob", streams=tuple(matched))
    return PathRead("none")


def named_stream(path: str, raw_path: str) -> tuple[str, str] | None:
    match = _raw_path_regex(raw_path).search(path)
    if match is None:
        return None
    return match.group("source"), match.group("stream")


def glob_streams(
    path: str, raw_path: str, streams: Iterable[tuple[str, str]]
) -> list[tuple[str, str]] | None:
    """The streams whose files the glob `path` can match; None when the path has no
    `raw-path` prefix before its first wildcard (it names no stream at all)."""
    head = raw_path.split("{", 1)[0]
    first_wild = min(i for i, c in enumerate(path) if c in GLOB_CHARS)
    start = path.rfind(head, 0, first_wild) if head else -1
    if start < 0:
        return None
    regex = glob_regex(path[start:])
    extension = _extension(path)
    return [
        (source, stream)
        for source, stream in streams
        if any(regex.fullmatch(sample) for sample in _samples(raw_path, source, stream, extension))
    ]


def narrowed_glob(path: str, raw_path: str, source: str, stream: str) -> str:
    """A glob like `path` that matches only `stream`'s files: `<stream>[0-9]*.parquet` beside
    its folder when the wildcard is in the file name (Airbyte appends a part number to the
    stream name), else everything below the stream's folder."""
    head = raw_path.split("{", 1)[0]
    first_wild = min((i for i, c in enumerate(path) if c in GLOB_CHARS), default=len(path))
    start = path.rfind(head, 0, first_wild) if head else -1
    prefix = path[:start] if start >= 0 else ""
    extension = _extension(path)
    if "/" not in path[first_wild:]:
        beside = raw_path.split("{stream}", 1)[0].replace("{source}", source)
        return f"{prefix}{beside}{stream}[0-9]*{extension}"
    folder = raw_path.replace("{source}", source).replace("{stream}", stream)
    folder = folder if folder.endswith("/") else folder + "/"
    return f"{prefix}{folder}**/*{extension}"


@functools.lru_cache(maxsize=256)
def glob_regex(glob: str) -> re.Pattern[str]:
    """DuckDB's glob as a regex: `*` and `?` stay within a folder, `**` crosses folders,
    `[...]` is a character class (`[!...]` negated)."""
    out = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and glob.find("]", i + 2) > 0:
            end = glob.find("]", i + 2)
            body = glob[i + 1:end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def _extension(path: str) -> str:
    """The file extension the glob asks for (`.parquet` when it does not say)."""
    match = re.search(r"\.[A-Za-z0-9]+$", path)
    if match is None or has_glob(match.group()):
        return ".parquet"
    return match.group()


def _samples(raw_path: str, source: str, stream: str, extension: str) -> list[str]:
    """File paths a stream's data can have: in its folder (flat or hive-partitioned) and beside
    it, named after the stream (`<stream>0.parquet`, `<stream>_0.parquet`)."""
    folder = raw_path.replace("{source}", source).replace("{stream}", stream)
    folder = folder if folder.endswith("/") else folder + "/"
    stem = folder[:-1]
    return [
        f"{folder}0{extension}",
        f"{folder}year=2024/month=01/day=01/0{extension}",
        f"{stem}0{extension}",
        f"{stem}_0{extension}",
    ]


@functools.lru_cache(maxsize=16)
def _raw_path_regex(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern)
    regex = regex.replace(re.escape("{source}"), r"(?P<source>[^/]+)", 1)
    regex = regex.replace(re.escape("{stream}"), r"(?P<stream>[^/]+)", 1)
    if "(?P<source>" not in regex or "(?P<stream>" not in regex:
        return re.compile(r"(?!)")  # a pattern without both parts cannot name a stream
    return re.compile(regex)
