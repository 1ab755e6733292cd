"""Map offsets in rendered SQL back to (line, column) in the original Jinja template.

The renderer wraps every piece of top-level output in private-use marker characters that say
where the piece came from: a literal text chunk of the template (mapped character by character)
or the value of a `{{ ... }}` expression (every character maps to the start of the expression).
`decode()` strips the markers and keeps a short list of segments; looking an offset up is a
binary search, far cheaper than aligning the two texts with difflib.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# Private-use code points; the renderer refuses to instrument a template that contains them.
DATA_START = "\ue000"
EXPR_START = "\ue001"
NUMBER_END = "\ue002"
PIECE_END = "\ue003"
MARKER_CHARS = DATA_START + EXPR_START + NUMBER_END + PIECE_END

_MARKER = re.compile("([\ue000\ue001])([0-9]+)\ue002|[\ue000-\ue003]")


def data_marker(index: int, text: str) -> str:
    return f"{DATA_START}{index}{NUMBER_END}{text}{PIECE_END}"


def expr_marker(index: int, text: str) -> str:
    return f"{EXPR_START}{index}{NUMBER_END}{text}{PIECE_END}"


def has_markers(text: str) -> bool:
    return any(char in text for char in MARKER_CHARS)


def strip(marked: str) -> str:
    """The text without its markers."""
    return _MARKER.sub("", marked)


def line_starts(text: str) -> list[int]:
    starts = [0]
    position = text.find("\n")
    while position != -1:
        starts.append(position + 1)
        position = text.find("\n", position + 1)
    return starts


@dataclass(frozen=True)
class SourceMap:
    """Segments of rendered text: (rendered start, template offset, advances with the text)."""

    rendered_starts: tuple[int, ...]
    template_offsets: tuple[int, ...]
    linear: tuple[bool, ...]
    template_line_starts: tuple[int, ...]
    template_length: int

    @classmethod
    def identity(cls, template: str) -> SourceMap:
        """Fallback for a template that could not be instrumented: offset n -> offset n."""
        return cls((0,), (0,), (True,), tuple(line_starts(template)), len(template))

    def template_offset(self, offset: int) -> int:
        index = bisect.bisect_right(self.rendered_starts, max(offset, 0)) - 1
        if index < 0:
            return 0
        start = self.template_offsets[index]
        if self.linear[index]:
            start += max(offset, 0) - self.rendered_starts[index]
        return min(start, max(self.template_length - 1, 0))

    def line_col(self, template_offset: int) -> tuple[int, int]:
        line_index = bisect.bisect_right(self.template_line_starts, template_offset) - 1
        return line_index + 1, template_offset - self.template_line_starts[line_index] + 1

    def original_position(self, offset: int) -> tuple[int, int]:
        return self.line_col(self.template_offset(offset))


def decode(
    marked: str,
    data_offsets: list[int],
    expr_offsets: list[int],
    template: str,
) -> tuple[str, SourceMap]:
    """Strip the markers from rendered output; return the clean text and its source map.

    Unbalanced or foreign markers (text sliced inside the template, say) never raise: they are
    dropped, and the text they surround keeps the mapping of the enclosing piece.
    """
    pieces: list[str] = []
    starts: list[int] = []
    offsets: list[int] = []
    linear: list[bool] = []
    # Each frame: [template offset of the next character, advances?]
    stack: list[list[int]] = []
    clean_length = 0
    cursor = 0

    def emit(text: str) -> None:
        nonlocal clean_length
        if not text:
            return
        if stack:
            frame = stack[-1]
            position, advances = frame[0], bool(frame[1])
        else:
            position, advances = (offsets[-1] if offsets else 0), False
        starts.append(clean_length)
        offsets.append(position)
        linear.append(advances)
        if advances and stack:
            stack[-1][0] += len(text)
        pieces.append(text)
        clean_length += len(text)

    for match in _MARKER.finditer(marked):
        emit(marked[cursor : match.start()])
        cursor = match.end()
        kind, number = match.group(1), match.group(2)
        if kind == DATA_START:
            index = int(number)
            offset = data_offsets[index] if index < len(data_offsets) else 0
            stack.append([offset, 1])
        elif kind == EXPR_START:
            index = int(number)
            offset = expr_offsets[index] if index < len(expr_offsets) else 0
            stack.append([offset, 0])
        elif match.group(0) == PIECE_END and stack:
            stack.pop()
    emit(marked[cursor:])
    if not starts:
        starts, offsets, linear = [0], [0], [True]
    source_map = SourceMap(
        tuple(starts),
        tuple(offsets),
        tuple(linear),
        tuple(line_starts(template)),
        len(template),
    )
    return "".join(pieces), source_map


_PLACEHOLDER = re.compile(r"__lotus_\w+")


# Where SQL handed to run_query() without markers can come from: the string constants inside
# Jinja tags, and the bodies of `{% set %}` / `{% call %}` blocks (a filter such as `| trim` on
# the block drops the markers).
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)
_BLOCK = re.compile(r"\{%-?\s*(?:set|call)\b[^%]*?%\}(.*?)\{%-?\s*end(?:set|call)\s*-?%\}", re.DOTALL)


def _sql_spans(template: str) -> list[tuple[int, int]]:
    spans = [m.span(1) for m in _BLOCK.finditer(template)]
    for tag in _TAG.finditer(template):
        for string in _STRING.finditer(tag.group()):
            group = 1 if string.group(1) is not None else 2
            spans.append((tag.start() + string.start(group), tag.start() + string.end(group)))
    return sorted(spans)


def _find(piece: str, template: str, spans: list[tuple[int, int]], after: int) -> int:
    """The first occurrence of `piece` inside one span, at or after `after`; -1 if none."""
    for begin, end in spans:
        if end < after:
            continue
        found = template.find(piece, max(begin, after), end)
        if found >= 0:
            return found
    return -1


def _first(piece: str, template: str, spans: list[tuple[int, int]], start: int) -> int:
    """Where the SQL's first piece is: in the call's own tag (`run_query("select ..." ~ this)`),
    else in the closest constant or block before the call, else after it."""
    tag = next((m for m in _TAG.finditer(template) if m.start() <= start < m.end()), None)
    if tag is not None:
        found = _find(piece, template, [(b, e) for b, e in spans if tag.start() <= b < tag.end()], start)
        if found >= 0:
            return found
    before = [template.rfind(piece, b, min(e, start)) for b, e in spans if b < start]
    found = max(before, default=-1)
    return found if found >= 0 else _find(piece, template, spans, start)


def locate(text: str, template: str, start: int) -> SourceMap:
    """A map for text that carries no markers (a string constant handed to `run_query()`, maybe
    concatenated with `this`, or a filtered `{% set %}` block): its pieces between placeholders
    map, in order, to where they occur inside string constants or set/call block bodies of the
    template, the first one as close before the call at `start` as possible (the SQL is usually
    built just before the call), else after it; everything else maps to `start`. Comments and
    SQL elsewhere in the template are never matched."""
    spans = _sql_spans(template)
    starts: list[int] = []
    offsets: list[int] = []
    linear: list[bool] = []
    cursor: int | None = None
    position = 0
    for piece in _PLACEHOLDER.split(text):
        if piece:
            if cursor is None:
                found = _first(piece, template, spans, start)
            else:
                found = _find(piece, template, spans, cursor)
            starts.append(position)
            offsets.append(found if found >= 0 else start)
            linear.append(found >= 0)
            if found >= 0:
                cursor = found + len(piece)
        position += len(piece)
        match = _PLACEHOLDER.match(text, position)
        if match is not None:
            starts.append(position)
            offsets.append(start)
            linear.append(False)
            position = match.end()
    if not starts:
        starts, offsets, linear = [0], [start], [False]
    return SourceMap(tuple(starts), tuple(offsets), tuple(linear), tuple(line_starts(template)),
                     len(template))
