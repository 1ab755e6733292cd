"""Text edits that `--fix` makes to files people write by hand: YAML lists and dbt `config()`.

Each edit inserts text where a person would and leaves every other byte alone (comments, key
order, quoting, flow or block style), then proves itself: the edited text is parsed again and
must hold exactly the old data plus the one new item. An edit that cannot be made that way
returns None, and the finding stays for a person to fix.
"""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Sequence

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


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _append_flow(text: str, node: yaml.SequenceNode, item: Any) -> str | None:
    rendered = _item_text(item, _scalar_style(node), flow=True)
    if rendered is None:
        return None
    if not node.value:
        at = node.start_mark.index + 1  # just inside `[`
        return text[:at] + rendered + text[at:]
    last = node.value[-1]
    at = last.end_mark.index
    if "\n" not in text[node.start_mark.index:node.end_mark.index]:
        return text[:at] + ", " + rendered + text[at:]
    # One item per line: the new one on a line of its own, trailing comma kept if there is one.
    after = text[at:node.end_mark.index]
    indent = " " * last.start_mark.column
    if after.lstrip().startswith(","):
        at += after.index(",") + 1
        return text[:at] + _newline(text) + indent + rendered + "," + text[at:]
    return text[:at] + "," + _newline(text) + indent + rendered + text[at:]


def _append_block(text: str, node: yaml.SequenceNode, item: Any) -> str | None:
    """A new `- item` line after the last item, at the column of the other dashes."""
    last = node.value[-1]
    dash_column = node.start_mark.column
    content_column = last.start_mark.column
    quote = _scalar_style(node)
    pad = " " * dash_column + "-" + " " * max(content_column - dash_column - 1, 1)
    if isinstance(item, dict) and isinstance(last, yaml.MappingNode) and last.flow_style:
        rendered = _item_text(item, quote, flow=True)  # items written `- {name: a}`
        if rendered is None:
            return None
        lines = [pad + rendered]
    elif isinstance(item, dict):
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
    newline = _newline(text)
    if at == len(text) and not text.endswith("\n"):
        block = newline + newline.join(lines)
    else:
        block = newline.join(lines) + newline
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
# Jinja that never runs: a config() inside is not the model's.
_INERT = re.compile(r"\{#.*?#\}|\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.DOTALL)


def add_model_tag(text: str, tag: str, model_name: str) -> str | None:
    """`text` (a dbt model) with `tag` added to its tags: appended to the `tags=[...]` of its
    config() call (a `tags='x'` string becomes a list), `tags=` added to its first config() when
    none sets tags, or a config() call added at the top when the model has none. The edit is
    rendered before it is accepted: the tags must be the old ones plus `tag` and nothing else in
    the config may change. None when that cannot be done (tags given by a variable, a config()
    with positional arguments, a template that does not render)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    inert = [m.span() for m in _INERT.finditer(text)]
    calls = []
    for match in _CONFIG_CALL.finditer(text):
        if any(start <= match.start() < end for start, end in inert):
            continue
        arguments = _call_arguments(text, match.end())
        if arguments is None:
            return None
        calls.append((match.end(), arguments))
    if not calls:
        edited: str | None = "{{ config(tags=['" + tag + "']) }}" + newline + newline + text
    else:
        open_end, (close, keywords, commas) = next(
            (call for call in calls if "tags" in call[1][1]), calls[0])
        edited = _tag_call(text, open_end, close, keywords, commas, tag, newline)
    return edited if edited is not None and _only_adds_tag(text, edited, tag, model_name) else None


def _tag_call(text: str, open_end: int, close: int, keywords: dict[str, int], commas: list[int],
              tag: str, newline: str) -> str | None:
    quote = _quote_in(text[open_end:close])
    if "tags" not in keywords:
        return _insert_keyword(text, open_end, close, f"tags=[{_sql_str(tag, quote)}]", newline)
    start = keywords["tags"]
    value_end = next((c for c in commas if c > start), close)
    value = text[start:value_end].strip()
    if value.startswith("["):
        return _extend_list(text, start + text[start:value_end].index("["), tag, newline)
    if re.fullmatch(r"'[^'\\]*'|\"[^\"\\]*\"", value):
        at = start + text[start:value_end].index(value)
        return text[:at] + f"[{value}, {_sql_str(tag, value[0])}]" + text[at + len(value):]
    return None


def _only_adds_tag(before: str, after: str, tag: str, model_name: str) -> bool:
    """The edit's proof: rendered, the model has the old tags plus `tag`, the rest unchanged."""
    from lotus_checks.sql.render import render_model

    old = render_model(before, model_name=model_name)
    new = render_model(after, model_name=model_name)
    if new.sql is None or len(new.problems) > len(old.problems):
        return False

    def tags(config: dict[str, Any]) -> list[Any]:
        value = config.get("tags", [])
        return [value] if isinstance(value, str) else list(value)

    rest = {k: v for k, v in old.config.items() if k != "tags"}
    return tag not in tags(old.config) and tags(new.config) == [*tags(old.config), tag] and \
        {k: v for k, v in new.config.items() if k != "tags"} == rest


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
        argument = text[begin + 1:end]
        found = re.match(r"\s*([A-Za-z_]\w*)\s*=(?!=)", argument)
        if found:
            keywords[found.group(1)] = begin + 1 + found.end()
        elif argument.strip():
            return None  # a positional argument (a dict of settings): not edited
    return close, keywords, commas


def _extend_list(text: str, bracket: int, tag: str, newline: str) -> str | None:
    """Append `tag` inside the list literal whose `[` is at `bracket`, in its layout."""
    close = matching_close(text, bracket)
    if close is None:
        return None
    inner = text[bracket + 1:close]
    body = inner.rstrip()
    trailing_comma = body.endswith(",")
    item = _sql_str(tag, _quote_in(inner))
    if not body.strip():
        return text[:bracket + 1] + item + text[close:]
    if "\n" in body:  # one item per line: a new line at the items' indentation
        last_line = body[body.rfind("\n") + 1:]
        indent = last_line[: len(last_line) - len(last_line.lstrip())]
        addition = ("" if trailing_comma else ",") + newline + indent + item + ("," if trailing_comma else "")
    else:
        addition = (" " if trailing_comma else ", ") + item
    at = bracket + 1 + len(body)
    return text[:at] + addition + text[at:]


def _insert_keyword(text: str, open_end: int, close: int, argument: str, newline: str) -> str:
    """`argument` as the first keyword of the call: on a line of its own when the call puts its
    arguments one per line, else inline."""
    inside = text[open_end:close]
    if not inside.strip():
        return text[:open_end] + argument + text[open_end:]
    head = inside[: len(inside) - len(inside.lstrip())]
    if "\n" in head:
        indent = head[head.rfind("\n") + 1:]
        return text[:open_end] + newline + indent + argument + "," + text[open_end:]
    at = open_end + len(head)
    return text[:at] + argument + ", " + text[at:]
