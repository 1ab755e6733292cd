"""Text edits that `--fix` makes to files people write by hand: YAML lists and dbt `config()`.

Each edit inserts text where a person would and leaves every other byte alone (comments, key
order, quoting, flow or block style), then proves itself: the edited text is parsed again and
must hold exactly the old data plus the one new item. An edit that cannot be made that way
returns None, and the finding stays for a person to fix.
"""

from __future__ import annotations

import re
from typing import Any
from typing import Sequence

import yaml

# A YAML key path: mapping keys and sequence indexes, as in `loaders.JsonPath`.
KeyPath = Sequence["str | int"]


# ---- YAML -----------------------------------------------------------------------------------


def append_to_yaml_list(text: str, path: KeyPath, item: Any) -> str | None:
    """`text` with `item` (a string, or a mapping of strings) appended to the sequence at `path`,
    in the style the sequence is written in; None when that cannot be done faithfully."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        before = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    node = _node_at(root, path)
    if not isinstance(node, yaml.SequenceNode):
        return None
    edited = _append_flow(text, node, item) if node.flow_style else _append_block(text, node, item)
    if edited is None or not _appended(before, edited, path, item):
        return None
    return edited


def _node_at(node: yaml.Node | None, path: KeyPath) -> yaml.Node | None:
    for step in path:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            node = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step] if 0 <= step < len(node.value) else None
        else:
            return None
    return node


def _appended(before: Any, edited: str, path: KeyPath, item: Any) -> bool:
    """The edit's proof: the new document is the old one with `item` at the end of the list."""
    try:
        after = yaml.safe_load(edited)
    except yaml.YAMLError:
        return False
    target = after
    for step in path:
        target = target[step]
    if not isinstance(target, list) or not target or target[-1] != item:
        return False
    target.pop()
    return bool(after == before)


def _scalar_style(node: yaml.SequenceNode) -> str:
    """The quote character the list's strings use ('' for plain)."""
    for child in node.value:
        scalar = child
        if isinstance(child, yaml.MappingNode) and child.value:
            scalar = child.value[0][1]
        if isinstance(scalar, yaml.ScalarNode) and scalar.style in ("'", '"'):
            return scalar.style
    return ""


def _quoted(value: str, quote: str) -> str:
    if quote == "'":
        return "'" + value.replace("'", "''") + "'"
    if quote == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    plain = yaml.safe_dump(value, default_style=None, width=10_000).strip()
    return plain.removesuffix("\n...").strip()


def _item_text(item: Any, quote: str, flow: bool) -> str | None:
    if isinstance(item, str):
        return _quoted(item, quote)
    if isinstance(item, dict) and all(isinstance(v, str) for v in item.values()):
        pairs = [f"{key}: {_quoted(value, quote)}" for key, value in item.items()]
        return "{" + ", ".join(pairs) + "}" if flow else None
    return None


def _append_flow(text: str, node: yaml.SequenceNode, item: Any) -> str | None:
    rendered = _item_text(item, _scalar_style(node), flow=True)
    if rendered is None:
        return None
    if node.value:
        at = node.value[-1].end_mark.index
        return text[:at] + ", " + rendered + text[at:]
    at = node.start_mark.index + 1  # just inside `[`
    return text[:at] + rendered + text[at:]


def _append_block(text: str, node: yaml.SequenceNode, item: Any) -> str | None:
    """A new `- item` line after the last item, at the column of the other dashes."""
    last = node.value[-1]
    dash_column = node.start_mark.column
    content_column = last.start_mark.column
    quote = _scalar_style(node)
    pad = " " * dash_column + "-" + " " * max(content_column - dash_column - 1, 1)
    if isinstance(item, dict):
        if not item or not all(isinstance(v, str) for v in item.values()):
            return None
        keys = list(item.items())
        lines = [pad + f"{keys[0][0]}: {_quoted(keys[0][1], quote)}"]
        inner = " " * len(pad)
        lines += [inner + f"{key}: {_quoted(value, quote)}" for key, value in keys[1:]]
    else:
        rendered = _item_text(item, quote, flow=False)
        if rendered is None:
            return None
        lines = [pad + rendered]
    at = _line_after(text, _last_leaf(last).end_mark)
    if at == len(text) and not text.endswith("\n"):
        block = "\n" + "\n".join(lines)
    else:
        block = "\n".join(lines) + "\n"
    return text[:at] + block + text[at:]


def _last_leaf(node: yaml.Node) -> yaml.Node:
    """The last scalar inside `node`: collections end where the next token starts, which may be
    past blank lines and comments that belong to what follows."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node


def _line_after(text: str, mark: yaml.Mark) -> int:
    """The offset of the line after the one `mark` ends on (a block scalar ends at a line start)."""
    if mark.column == 0:
        return mark.index
    newline = text.find("\n", mark.index)
    return len(text) if newline < 0 else newline + 1


# ---- dbt config(tags=[...]) -----------------------------------------------------------------

_CONFIG_CALL = re.compile(r"\{\{-?\s*config\s*\(")


def add_model_tag(text: str, tag: str) -> str | None:
    """`text` (a dbt model) with `tag` added to the tags of its first `config()` call: appended
    to a `tags=[...]` list, a `tags='x'` string turned into a list, `tags=` added to a config()
    without it, or a config() call added at the top when the model has none. None when the tags
    are not a literal this can extend (a variable, an expression)."""
    match = _CONFIG_CALL.search(text)
    if match is None:
        return f"{{{{ config(tags=[{_sql_str(tag, chr(39))}]) }}}}\n\n" + text
    args = _call_arguments(text, match.end())
    if args is None:
        return None
    close, keywords, commas = args
    quote = _quote_in(text[match.end():close])
    if "tags" not in keywords:
        return _insert_keyword(text, match.end(), close, keywords, f"tags=[{_sql_str(tag, quote)}]")
    start = keywords["tags"]
    value_end = next((c for c in commas if c > start), close)
    value = text[start:value_end].strip()
    if value.startswith("["):
        return _extend_list(text, start + text[start:value_end].index("["), tag, quote)
    if re.fullmatch(r"'[^'\\]*'|\"[^\"\\]*\"", value):
        at = start + text[start:value_end].index(value)
        return text[:at] + f"[{value}, {_sql_str(tag, value[0])}]" + text[at + len(value):]
    return None


def _sql_str(value: str, quote: str) -> str:
    return quote + value + quote


def _quote_in(args: str) -> str:
    """The quote character the call's string arguments use (single by default)."""
    for char in args:
        if char in "'\"":
            return char
    return "'"


def _scan_brackets(text: str, open_index: int) -> tuple[int, list[int]] | None:
    """(the offset of the bracket closing the one at `open_index`, the offsets of the commas
    directly inside it), skipping quoted strings; None when it never closes."""
    depth = 0
    commas: list[int] = []
    i = open_index
    while i < len(text):
        char = text[i]
        if char in "'\"":
            end = text.find(char, i + 1)
            if end < 0:
                return None
            i = end + 1
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i, commas
        elif char == "," and depth == 1:
            commas.append(i)
        i += 1
    return None


def matching_close(text: str, open_index: int) -> int | None:
    """The offset of the bracket that closes the one at `open_index` (quoted strings skipped)."""
    scanned = _scan_brackets(text, open_index)
    return scanned[0] if scanned is not None else None


def _call_arguments(text: str, start: int) -> tuple[int, dict[str, int], list[int]] | None:
    """(offset of the closing `)`, keyword -> offset of its value, the argument commas) for the
    call whose arguments start at `start`, just after its `(`."""
    scanned = _scan_brackets(text, start - 1)
    if scanned is None:
        return None
    close, commas = scanned
    keywords: dict[str, int] = {}
    for begin, end in zip([start - 1, *commas], [*commas, close]):
        found = re.match(r"\s*([A-Za-z_]\w*)\s*=(?!=)", text[begin + 1:end])
        if found:
            keywords[found.group(1)] = begin + 1 + found.end()
    return close, keywords, commas


def _extend_list(text: str, bracket: int, tag: str, quote: str) -> str | None:
    """Append `tag` inside the list literal whose `[` is at `bracket`, in its layout."""
    close = matching_close(text, bracket)
    if close is None:
        return None
    inner = text[bracket + 1:close]
    body = inner.rstrip()
    trailing_comma = body.endswith(",")
    if not body.strip():
        return text[:bracket + 1] + _sql_str(tag, quote) + text[close:]
    item = _sql_str(tag, _quote_in(inner))
    if "\n" in body:  # one item per line: a new line at the items' indentation
        last_line = body[body.rfind("\n") + 1:]
        indent = last_line[: len(last_line) - len(last_line.lstrip())]
        addition = ("" if trailing_comma else ",") + "\n" + indent + item + ("," if trailing_comma else "")
    else:
        addition = (" " if trailing_comma else ", ") + item
    at = bracket + 1 + len(body)
    return text[:at] + addition + text[at:]


def _insert_keyword(text: str, open_end: int, close: int, keywords: dict[str, int],
                    argument: str) -> str:
    """`argument` as the first keyword of the call: on a line of its own when the call puts its
    arguments one per line, else inline."""
    inside = text[open_end:close]
    if not inside.strip():
        return text[:open_end] + argument + text[open_end:]
    head = inside[: len(inside) - len(inside.lstrip())]
    if "\n" in head:
        indent = head[head.rfind("\n") + 1:]
        return text[:open_end] + "\n" + indent + argument + "," + text[open_end:]
    at = open_end + len(head)
    return text[:at] + argument + ", " + text[at:]
