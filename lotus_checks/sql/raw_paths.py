"""Which streams a raw read's path reads: a plain path, a glob, or a path known only at run time.

The `raw-path` pattern (default `raw/{source}/{stream}/`) says where a stream's files land: in
the stream's folder (flat, hive-partitioned `year=2024/...`, in date or other folders), or,
when the Airbyte S3 destination's path format ends in the stream name, beside it as
`raw/<source>/<stream>0.parquet` (the stream name, then a part number or other suffix that does
not start with a letter). A path names the streams whose files it can match under that layout,
wherever the raw tree sits (`s3://landing/raw/...`, or under a `**`).

Globs follow DuckDB: `*` and `?` stay within a folder, `**` as a whole path segment crosses
folders (`orders**` is `orders*`), `[...]` is a character class and `[!...]` its negation (`^`
is a plain character there), and there are no `{a,b}` alternatives. A path holding a runtime
placeholder (a `var()` or `env_var()` without default, filled in by `dbt run --vars`) reads what
the run passes: the model's own stream, unless the fixed part of the path names one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

RUNTIME_MARK = "__lotus_files_"  # placeholders of runtime values (sql/_dbt.py)
_RUNTIME_PLACEHOLDER = re.compile(re.escape(RUNTIME_MARK) + r"\d+__")
GLOB_CHARS = frozenset("*?[")
GLOBSTAR = "**"

ReadKind = Literal["stream", "glob", "runtime", "none"]


@dataclass(frozen=True)
class PathRead:
    """What a path reads.

    `kind`: "stream" (names one stream, in `named`; it may have no stream config), "glob" (the
    streams in `streams` can match: none, one or several), "runtime" (decided at run time), or
    "none" (no `raw-path` shape at all)."""

    kind: ReadKind
    named: tuple[str, str] | None = None
    streams: tuple[tuple[str, str], ...] = ()


def has_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def has_runtime_value(text: str) -> bool:
    """Whether `text` holds a runtime value's placeholder."""
    return RUNTIME_MARK in text


def is_runtime_value(text: str) -> bool:
    """Whether `text` is nothing but a runtime value's placeholder (`var("file")` as the path)."""
    return _RUNTIME_PLACEHOLDER.fullmatch(text) is not None


def runtime_placeholders(text: str) -> list[str]:
    return _RUNTIME_PLACEHOLDER.findall(text)


def brace_alternatives(path: str) -> str | None:
    """A `{a,b}` in the path (DuckDB globs have none: it matches a folder named so literally)."""
    match = re.search(r"\{[^{}/]*,[^{}/]*\}", path)
    return match.group() if match else None


def path_read(path: str, raw_path: str, streams: Iterable[tuple[str, str]]) -> PathRead:
    """What `path` reads, given the `raw-path` pattern and the repo's (source, stream) pairs."""
    named = named_stream(path, raw_path)
    if named is not None and not any(has_glob(p) or has_runtime_value(p) for p in named):
        return PathRead("stream", named=named)
    if has_runtime_value(path):
        return PathRead("runtime")
    matched = glob_streams(path, raw_path, streams)
    if has_glob(path):
        return PathRead("none") if matched is None else PathRead("glob", streams=tuple(matched))
    if matched is not None and len(matched) == 1:
        return PathRead("stream", named=matched[0])  # a file beside: `raw/<source>/<stream>0.parquet`
    return PathRead("none")


def named_stream(path: str, raw_path: str) -> tuple[str, str] | None:
    match = _raw_path_regex(raw_path).search(path)
    if match is None:
        return None
    return match.group("source"), match.group("stream")


def glob_streams(
    path: str, raw_path: str, streams: Iterable[tuple[str, str]]
) -> list[tuple[str, str]] | None:
    """The streams whose files the glob `path` can match; None when the path has no `raw-path`
    prefix (nor a `**` that can stand for it): it names no stream at all."""
    start = _raw_start(path, raw_path)
    if start is None:
        return None
    glob = path[start:].split("/")
    streams = list(streams)
    names = frozenset(stream for _, stream in streams)
    return [(source, stream) for source, stream in streams
            if _reads_stream(glob, raw_path, source, stream, names)]


def narrowed_glob(path: str, raw_path: str, source: str, stream: str) -> str:
    """A glob like `path` that matches only `stream`'s files: `<stream>[0-9]*.parquet` beside
    its folder when the wildcard is in the file name (Airbyte appends a part number to the
    stream name), else everything below the stream's folder."""
    start = _raw_start(path, raw_path)
    prefix = path[:start] if start is not None else ""
    rest = path[start:] if start is not None else path
    extension = _extension(path)
    first_wild = min((i for i, c in enumerate(rest) if c in GLOB_CHARS), default=len(rest))
    if "/" not in rest[first_wild:]:
        beside = raw_path.split("{stream}", 1)[0].replace("{source}", source)
        return f"{prefix}{beside}{stream}[0-9]*{extension}"
    folder = raw_path.replace("{source}", source).replace("{stream}", stream)
    folder = folder if folder.endswith("/") else folder + "/"
    return f"{prefix}{folder}**/*{extension}"


@functools.lru_cache(maxsize=256)
def glob_regex(glob: str) -> re.Pattern[str]:
    """DuckDB's glob as a regex over whole paths (see the module docstring)."""
    segments = glob.split("/")
    out = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == GLOBSTAR:
            out.append("(?:[^/]+/)*[^/]+" if last else "(?:[^/]+/)*")
            continue
        out.append("".join(_token_regex(t) for t in _tokens(segment)) + ("" if last else "/"))
    return re.compile("".join(out))


# ---- matching a glob against a stream's files --------------------------------------------------
# A glob is matched segment by segment (a `**` segment takes any number of them), and within a
# segment token by token, so "can some file of this stream match" is decided exactly, without
# listing files: the stream's folder must match, and what follows it (left open) must be able to
# be a file, through folders of its own (`year=2024`, `data`; not another stream's `flows`).

_Token = tuple[str, str]  # ("lit", char) | ("any", "") | ("star", "") | ("class" | "nclass", body)


@functools.lru_cache(maxsize=1024)
def _tokens(segment: str) -> tuple[_Token, ...]:
    out: list[_Token] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            if not out or out[-1][0] != "star":
                out.append(("star", ""))
        elif char == "?":
            out.append(("any", ""))
        elif char == "[" and segment.find("]", i + 2) > 0:
            end = segment.find("]", i + 2)
            body = segment[i + 1:end]
            negate = body.startswith("!")
            out.append(("nclass" if negate else "class", body[1:] if negate else body))
            i = end + 1
            continue
        else:
            out.append(("lit", char))
        i += 1
    return tuple(out)


def _token_regex(token: _Token) -> str:
    kind, value = token
    if kind == "star":
        return "[^/]*"
    if kind == "any":
        return "[^/]"
    if kind in ("class", "nclass"):
        body = "".join("\\" + c if c in "\\^[]" else c for c in value)
        regex = "[" + ("^/" if kind == "nclass" else "") + body + "]"
        try:
            re.compile(regex)
        except re.error:
            return "(?!)"  # a class no character matches (`[z-a]`)
        return regex
    return re.escape(value)


def _token_matches(token: _Token, char: str) -> bool:
    kind = token[0]
    if kind in ("star", "any"):
        return True
    if kind == "lit":
        return token[1] == char
    return re.fullmatch(_token_regex(token), char) is not None


def _closure(tokens: tuple[_Token, ...], states: set[int]) -> set[int]:
    out = set(states)
    for i in sorted(states):
        while i < len(tokens) and tokens[i][0] == "star":
            i += 1
            out.add(i)
    return out


def _consume(tokens: tuple[_Token, ...], text: str) -> set[int]:
    """The token positions reachable after matching `text` from the start of the segment."""
    states = _closure(tokens, {0})
    for char in text:
        following = set()
        for i in states:
            if i < len(tokens) and _token_matches(tokens[i], char):
                following.add(i if tokens[i][0] == "star" else i + 1)
        states = _closure(tokens, following)
        if not states:
            break
    return states


def _segment_matches(segment: str, name: str) -> bool:
    tokens = _tokens(segment)
    return len(tokens) in _consume(tokens, name)


# Characters a file name can go on with after the stream's name (a part number, `_`, `.`).
_NOT_A_LETTER = "0_-.="


def _segment_extends(segment: str, stem: str) -> bool:
    """Whether `segment` matches some name `stem` + X, X empty or not starting with a letter
    (`orders0.parquet` is a file of `orders`, `orders_v2` is not one of `order`)."""
    tokens = _tokens(segment)
    states = _consume(tokens, stem)
    if len(tokens) in states:
        return True
    return any(i < len(tokens) and any(_token_matches(tokens[i], c) for c in _NOT_A_LETTER)
               for i in states)


def _inner_folder(segment: str, stream_names: frozenset[str]) -> bool:
    """Whether a glob segment can name a folder inside a stream's folder (`year=*`, `2024`,
    `data`, `*`) rather than another stream's folder (`flows`, read through a `**`)."""
    return has_glob(segment) or segment not in stream_names


def _segment_closure(glob: list[str], states: set[int]) -> set[int]:
    out = set(states)
    for i in sorted(states):
        while i < len(glob) and glob[i] == GLOBSTAR:
            i += 1
            out.add(i)
    return out


def _walk(glob: list[str], names: list[str]) -> set[int]:
    """The glob segments reachable after matching the folders `names`."""
    states = _segment_closure(glob, {0})
    for name in names:
        following = set()
        for i in states:
            if i < len(glob) and glob[i] == GLOBSTAR:
                following.add(i)
            elif i < len(glob) and _segment_matches(glob[i], name):
                following.add(i + 1)
        states = _segment_closure(glob, following)
    return states


def _reads_stream(
    glob: list[str], raw_path: str, source: str, stream: str, stream_names: frozenset[str]
) -> bool:
    folder = [s for s in raw_path.replace("{source}", source).replace("{stream}", stream).split("/") if s]
    # In the stream's folder: what follows the folder is folders of its own, then a file.
    for i in _walk(glob, folder):
        rest = glob[i:]
        if rest and all(s == GLOBSTAR or _inner_folder(s, stream_names) for s in rest[:-1]):
            return True
    # Beside it: `raw/<source>/<stream><suffix>`, when the stream is the pattern's last part.
    before, _, after = raw_path.partition("{stream}")
    if after.strip("/"):
        return False
    *parents, stem_prefix = before.replace("{source}", source).split("/")
    stem = stem_prefix + stream
    for i in _walk(glob, [p for p in parents if p]):
        if i == len(glob) - 1 and (glob[i] == GLOBSTAR or _segment_extends(glob[i], stem)):
            return True
    return False


def _raw_start(path: str, raw_path: str) -> int | None:
    """Where the raw tree starts in `path`: at the `raw-path` pattern's fixed head (`raw/`) at a
    folder boundary (the last one before the first wildcard, else the first one), else at a
    `**` segment, which can stand for it; None when neither is there."""
    head = raw_path.split("{", 1)[0]
    if not head:
        return None
    starts = [m.start() for m in re.finditer(re.escape(head), path)
              if m.start() == 0 or path[m.start() - 1] == "/"]
    first_wild = min((i for i, c in enumerate(path) if c in GLOB_CHARS), default=len(path))
    before = [s for s in starts if s < first_wild]
    if before:
        return before[-1]
    if starts:
        return starts[0]
    match = re.search(r"(?:^|/)\*\*(?:/|$)", path)
    if match is None:
        return None
    return match.start() + (1 if match.group().startswith("/") else 0)


def _extension(path: str) -> str:
    """The file extension the glob asks for (`.parquet` when it does not say)."""
    match = re.search(r"\.[A-Za-z0-9]+$", path)
    if match is None or has_glob(match.group()):
        return ".parquet"
    return match.group()


@functools.lru_cache(maxsize=16)
def _raw_path_regex(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern)
    regex = regex.replace(re.escape("{source}"), r"(?P<source>[^/]+)", 1)
    regex = regex.replace(re.escape("{stream}"), r"(?P<stream>[^/]+)", 1)
    if "(?P<source>" not in regex or "(?P<stream>" not in regex:
        return re.compile(r"(?!)")  # a pattern without both parts cannot name a stream
    return re.compile(regex)
