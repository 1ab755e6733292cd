"""Reading input files into documents that remember where each key stands.

Every loader returns a document or raises `LoadError`, which carries the code and position the
repo model turns into an LL0xx finding. Nothing here raises anything else for bad input.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import stat
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import yaml

JsonPath = tuple[Any, ...]


class LoadError(Exception):
    def __init__(self, code: str, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column


class LineIndex:
    """Offset -> 1-based (line, column)."""

    def __init__(self, text: str):
        self._starts = [0]
        start = text.find("\n")
        while start != -1:
            self._starts.append(start + 1)
            start = text.find("\n", start + 1)

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        return self._starts[line - 1] + column - 1

    @property
    def line_count(self) -> int:
        return len(self._starts)


def read_text(path: Path | str, max_size: int) -> str:
    """The file as UTF-8 text (a BOM is dropped), or LoadError LL001/LL006/LL008."""
    return decode_text(read_bytes(path, max_size))


def read_bytes(path: Path | str, max_size: int) -> bytes:
    """The bytes of a regular file of at most `max_size` bytes, or LoadError LL001/LL008."""
    return read_bytes_and_stat(path, max_size)[0]


def read_bytes_and_stat(path: Path | str, max_size: int) -> tuple[bytes, os.stat_result]:
    """`read_bytes`, and the status of what was opened, taken before reading it."""
    try:
        return _read_regular_file(path, max_size)
    except LoadError:
        raise
    except OSError as exc:
        raise LoadError("LL001", f"cannot read file: {exc.strerror or exc}") from None


# The UTF-8 byte-order mark: decode_text drops it; --fix keeps it on a file that had one.
UTF8_BOM = b"\xef\xbb\xbf"


def decode_text(data: bytes) -> str:
    """`data` as UTF-8 text (a BOM is dropped), or LoadError LL006."""
    if b"\0" in data[:8192]:
        raise LoadError("LL006", "binary file (contains NUL bytes), expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LoadError(
            "LL006", f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded", line, column
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _read_regular_file(path: Path | str, max_size: int) -> tuple[bytes, os.stat_result]:
    """At most `max_size` bytes of a regular file.

    Opened non-blocking and checked with fstat on the open descriptor: opening a FIFO normally
    waits for a writer (a hung commit), and a device such as /dev/zero never ends. The type is
    judged on what was opened, so a swap between a check and the open cannot get past it."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise LoadError("LL001", "is a folder where a file was expected")
        if not stat.S_ISREG(info.st_mode):
            raise LoadError("LL001", f"is not a regular file ({file_kind(info.st_mode)})")
        if info.st_size > max_size:
            raise LoadError("LL008", _too_large(info.st_size, max_size))
        # os.read on the descriptor: a file object around it costs more than the read itself
        # (a warm run reads every input file). Bounded: a file growing meanwhile stops at max+1.
        chunks = []
        remaining = max_size + 1
        while remaining > 0:
            want = min(remaining, max(info.st_size + 1, 65536))
            chunk = os.read(fd, want)
            chunks.append(chunk)
            remaining -= len(chunk)
            if len(chunk) < want:  # a regular file reads short only at its end
                break
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > max_size:
        raise LoadError("LL008", _too_large(len(data), max_size))
    return data, info


def _too_large(size: int, max_size: int) -> str:
    return f"file is {size:,} bytes, over the {max_size:,}-byte limit (max-file-size)"


def file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


@dataclass
class JsonDoc:
    text: str
    data: Any
    _positions: dict[JsonPath, tuple[int, int]] | None = field(default=None, repr=False)
    # Whether an object in the text gives a key twice (parse_json notes it while parsing, so
    # LL511 looks for where only in the rare document that has one); None: not known.
    repeats_keys: bool | None = None

    def position(self, path: JsonPath) -> tuple[int | None, int | None]:
        """Where the key (or array item) at `path` stands; the nearest existing parent otherwise."""
        if self._positions is None:
            self._positions = _json_positions(self.text)
        path = tuple(path)
        while path:
            if path in self._positions:
                return self._positions[path]
            path = path[:-1]
        return (1, 1) if self.text else (None, None)


def parse_json(text: str, *, note_repeated_keys: bool = True) -> JsonDoc:
    """`text` as JSON; with `note_repeated_keys`, whether an object gives a key twice is noted
    on the way (`JsonDoc.repeats_keys`), at some cost per object, for the documents LL511 checks."""
    repeats: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        # The very dict json.loads makes (the last value of a repeated key wins, at the place
        # of its first), and a note when a key was repeated.
        obj = dict(items)
        if len(obj) != len(items):
            repeats.append(True)
        return obj

    try:
        data = json.loads(text, object_pairs_hook=pairs) if note_repeated_keys else json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError("LL002", f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        raise LoadError("LL002", "invalid JSON: nested too deeply to read") from None
    except ValueError:  # Python refuses to convert integers of over 4,300 digits
        line, column = _long_integer_position(text)
        raise LoadError("LL002", _LONG_INTEGER, line, column) from None
    return JsonDoc(text, data, repeats_keys=bool(repeats) if note_repeated_keys else None)


_LONG_INTEGER = "invalid JSON: an integer with over 4,300 digits (too long to read)"


def _long_integer_position(text: str) -> tuple[int | None, int | None]:
    """Where the first run of digits too long for Python's int() starts, if there is one."""
    import re
    import sys

    limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300
    match = re.search(f"[0-9]{{{limit + 1},}}", text)
    if match is None:
        return None, None
    return LineIndex(text).position(match.start())


def _json_positions(text: str) -> dict[JsonPath, tuple[int, int]]:
    """Positions of every object key and array item, for text json.loads already accepted."""
    index = LineIndex(text)
    positions: dict[JsonPath, tuple[int, int]] = {}
    decoder = json.JSONDecoder()
    ws = " \t\r\n"

    def skip(i: int) -> int:
        while i < len(text) and text[i] in ws:
            i += 1
        return i

    def value(i: int, path: JsonPath) -> int:
        i = skip(i)
        char = text[i]
        if char == "{":
            i = skip(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                key_start = i
                key, i = decoder.raw_decode(text, i)  # a key is a JSON string
                positions[path + (key,)] = index.position(key_start)
                i = skip(i)  # at ':'
                i = value(i + 1, path + (key,))
                i = skip(i)
                if text[i] == "}":
                    return i + 1
                i = skip(i + 1)  # past ','
        if char == "[":
            i = skip(i + 1)
            if text[i] == "]":
                return i + 1
            n = 0
            while True:
                positions[path + (n,)] = index.position(skip(i))
                i = skip(value(i, path + (n,)))
                n += 1
                if text[i] == "]":
                    return i + 1
                i += 1  # past ','
        _, end = decoder.raw_decode(text, i)
        return end

    try:
        value(0, ())
    except (RecursionError, ValueError, IndexError):
        pass  # positions are a nicety; findings fall back to the nearest known key
    return positions


@dataclass
class YamlDoc:
    text: str
    data: Any
    node: yaml.Node | None

    def position(self, path: JsonPath) -> tuple[int | None, int | None]:
        """Where the key (or sequence item) at `path` stands; nearest existing parent otherwise."""
        import yaml

        node = self.node
        best: tuple[int | None, int | None] = (1, 1) if node is not None else (None, None)
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                        best = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                        node = value_node
                        break
                else:
                    return best
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return best
                node = node.value[part]
                best = (node.start_mark.line + 1, node.start_mark.column + 1)
            else:
                return best
        return best


# Aliases multiply what a document expands to ("billion laughs"); anything that walks the data
# would pay for the expansion, so such documents are refused before construction.
MAX_YAML_NODES = 200_000


# libyaml before 0.2.6 composes in C recursively: a few tens of thousands of nested `[` overflow
# the C stack and kill the process (a segfault, no finding, no exit code). Later versions refuse
# to nest over 1,000 levels, a scanner error with a position like any other. With an earlier one,
# a text that may nest deeper than this goes to the pure-Python loader, whose recursion ends in a
# RecursionError instead.
C_LOADER_MAX_DEPTH = 2_000


def parse_yaml(text: str) -> YamlDoc:
    import yaml  # here, not at the top: a run replayed from the cache never parses YAML

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if (loader_class is not yaml.SafeLoader and _nesting_bound(text) > C_LOADER_MAX_DEPTH
            and not _c_loader_limits_nesting()):
        loader_class = yaml.SafeLoader
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        # Only aliases (`*name`, of an anchor `&name`) make a document much bigger than its
        # text: without both characters it has at most a few nodes per character (`?` alone is
        # a mapping, a key and a value). Globs (`**/*.parquet`) alone do not count.
        may_expand = ("*" in text and "&" in text) or 3 * len(text) > MAX_YAML_NODES
        if node is not None and may_expand and _expanded_size(node) > MAX_YAML_NODES:
            raise LoadError(
                "LL005", f"invalid YAML: aliases expand it to over {MAX_YAML_NODES:,} nodes"
            )
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "cannot parse"
        raise LoadError("LL005", f"invalid YAML: {problem}", line, column) from None
    except yaml.YAMLError as exc:
        raise LoadError("LL005", f"invalid YAML: {exc}") from None
    except RecursionError:
        raise LoadError("LL005", "invalid YAML: nested too deeply to read") from None
    except ValueError:  # an integer of over 4,300 digits (Python refuses to convert it)
        line, column = _long_integer_position(text)
        raise LoadError("LL005", _LONG_INTEGER.replace("JSON", "YAML"), line, column) from None
    finally:
        loader.dispose()
    return YamlDoc(text, data, node)


def _nesting_bound(text: str) -> int:
    """An upper bound of how deeply `text` nests. A flow collection opens at `[` or `{`; a block
    one needs a deeper indentation, or a compact `- ` or `? ` further right on its line, at least
    every second level, so its depth is bounded by the longest line (split at `\\n` only: YAML
    breaks lines at more characters, which only makes its lines shorter)."""
    longest = max(map(len, text.split("\n")))
    return text.count("[") + text.count("{") + 2 * (longest + 1)


@functools.cache
def _c_loader_limits_nesting() -> bool:
    """Whether the installed libyaml refuses deep nesting itself (0.2.6 and later): asked of the
    library rather than of its version, at a depth any version composes safely."""
    import yaml

    try:
        yaml.load("[" * 1_100 + "]" * 1_100, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return True
    return False


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded, computed without expanding."""
    import yaml

    sizes: dict[int, int] = {}
    started: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes.get(id(c), 1) for c in children), MAX_YAML_NODES + 1)
            continue
        # Reached again from one of its own descendants: `a: &a [*a]` never ends when expanded.
        if id(node) in started:
            raise LoadError("LL005", "invalid YAML: an alias refers to a node that contains it",
                            node.start_mark.line + 1, node.start_mark.column + 1)
        started.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]
