"""What differs between a committed `_catalog.json` and the generator's, in words a data engineer
reads: which stream, which key, which fields, rather than a raw blob.

Streams are matched by name (by position when names are missing or repeated). Inside a stream,
`config.selected_fields` is compared as a set of field names, and the JSON-encoded strings of
`stream.json_schema` are decoded so that a changed property shows as `properties.email.description`.
JSON values are compared strictly: `true` is not `1` (Python's `==` would say it is).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JsonPath = tuple[Any, ...]

# Keys of a catalog entry's `config` that come straight from the stream config's same-named keys.
STREAM_CONFIG_KEYS = frozenset(
    {"sync_mode", "cursor_field", "destination_sync_mode", "primary_key", "selected"}
)
SHOWN_CHANGES = 4
SHOWN_VALUE_LENGTH = 60


@dataclass(frozen=True)
class Drift:
    """One stream's differences (or catalog-wide ones when `stream` is None).

    `path` is where it shows in the committed catalog (for `JsonDoc.position`); `changes` are
    phrases such as `config.sync_mode is "incremental" in the catalog but the generator gives
    "full_refresh"`; `fields` and `config_keys` name the stream-config fields and keys involved."""

    stream: str | None
    path: JsonPath
    changes: tuple[str, ...]
    fields: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()

    def describe(self) -> str:
        shown = list(self.changes[:SHOWN_CHANGES])
        if len(self.changes) > SHOWN_CHANGES:
            shown.append(f"and {len(self.changes) - SHOWN_CHANGES} more difference(s)")
        text = "; ".join(shown)
        return f"stream {self.stream}: {text}" if self.stream is not None else text


def same(a: Any, b: Any) -> bool:
    """JSON equality: like `==`, but booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    return a == b  # numbers and null: 1 and 1.0 are the same JSON number


def diff_catalogs(committed: Any, generated: Any) -> list[Drift]:
    """Every difference, grouped per stream; empty when `same(committed, generated)`."""
    if same(committed, generated):
        return []
    if not (_is_catalog(committed) and _is_catalog(generated)):
        return [_generic_drift(None, (), committed, generated)]
    out: list[Drift] = []
    rest_old = {k: v for k, v in committed.items() if k != "streams"}
    rest_new = {k: v for k, v in generated.items() if k != "streams"}
    if not same(rest_old, rest_new):
        out.append(_generic_drift(None, (), rest_old, rest_new))
    out.extend(_diff_streams(committed["streams"], generated["streams"]))
    return out


def _is_catalog(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("streams"), list)


def _stream_name(entry: Any) -> str | None:
    if isinstance(entry, dict) and isinstance(entry.get("stream"), dict):
        name = entry["stream"].get("name")
        return name if isinstance(name, str) else None
    return None


def _diff_streams(old: list[Any], new: list[Any]) -> list[Drift]:
    old_names = [n for n in map(_stream_name, old) if n is not None]
    new_names = [n for n in map(_stream_name, new) if n is not None]
    by_name = (len(old_names) == len(old) and len(new_names) == len(new)) and (
        len(set(old_names)) == len(old_names) and len(set(new_names)) == len(new_names)
    )
    if not by_name:
        return _diff_streams_by_position(old, new)
    out: list[Drift] = []
    old_index = {name: i for i, name in enumerate(old_names)}
    new_index = {name: i for i, name in enumerate(new_names)}
    for name in new_names:
        if name not in old_index:
            out.append(
                Drift(name, ("streams",), ("missing from the catalog (the generator writes it)",))
            )
    for i, name in enumerate(old_names):
        if name not in new_index:
            out.append(
                Drift(
                    name,
                    ("streams", i),
                    (
                        (
                            "in the catalog but the generator does not write it "
                            "(no Airbyte stream config of that name)"
                        ),
                    ),
                )
            )
            continue
        drift = _entry_drift(name, i, old[i], new[new_index[name]])
        if drift is not None:
            out.append(drift)
    common_old = [n for n in old_names if n in new_index]
    common_new = [n for n in new_names if n in old_index]
    if common_old != common_new:
        out.append(
            Drift(
                None,
                ("streams",),
                (
                    (
                        "the streams are in a different order than the generator writes them "
                        f"({', '.join(common_new)})"
                    ),
                ),
            )
        )
    return out


def _diff_streams_by_position(old: list[Any], new: list[Any]) -> list[Drift]:
    out: list[Drift] = []
    for i, (a, b) in enumerate(zip(old, new)):
        drift = _entry_drift(_stream_name(a) or f"#{i + 1}", i, a, b)
        if drift is not None:
            out.append(drift)
    if len(old) != len(new):
        out.append(
            Drift(
                None,
                ("streams",),
                (f"the catalog has {len(old)} stream(s), the generator writes {len(new)}",),
            )
        )
    return out


def _entry_drift(name: str, index: int, old: Any, new: Any) -> Drift | None:
    if same(old, new):
        return None
    base: JsonPath = ("streams", index)
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return _generic_drift(name, base, old, new)
    changes: list[str] = []
    paths: list[JsonPath] = []
    fields: list[str] = []
    keys: list[str] = []

    old_selected = _get(old, "config", "selected_fields")
    new_selected = _get(new, "config", "selected_fields")
    if isinstance(old_selected, list) and isinstance(new_selected, list):
        if not same(old_selected, new_selected):
            text, where, names = _selected_fields_change(old_selected, new_selected)
            changes.append(text)
            paths.append(base + ("config", "selected_fields") + where)
            fields += names
        old, new = _without(old, "config", "selected_fields"), _without(new, "config", "selected_fields")

    old_schema = _get(old, "stream", "json_schema")
    new_schema = _get(new, "stream", "json_schema")
    if isinstance(old_schema, dict) and isinstance(new_schema, dict):
        if not same(old_schema, new_schema):
            text, first_key, names = _json_schema_change(old_schema, new_schema)
            changes.append(text)
            paths.append(base + ("stream", "json_schema", first_key))
            fields += names
        old, new = _without(old, "stream", "json_schema"), _without(new, "stream", "json_schema")

    for path, kind, a, b in _leaf_diffs(old, new):
        changes.append(_phrase(path, kind, a, b))
        paths.append(base + path)
        if len(path) >= 2 and path[0] == "config" and path[1] in STREAM_CONFIG_KEYS:
            keys.append(path[1])
        if path[:2] in (("config", "alias_name"), ("stream", "name")):
            keys.append("stream")
    if not changes:  # pragma: no cover - `same` said they differ, so something above did too
        return _generic_drift(name, base, old, new)
    return Drift(name, paths[0], tuple(changes), tuple(dict.fromkeys(fields)), tuple(dict.fromkeys(keys)))


def _selected_fields_change(old: list[Any], new: list[Any]) -> tuple[str, JsonPath, list[str]]:
    old_names = [_field_path(item) for item in old]
    new_names = [_field_path(item) for item in new]
    added = [n for n in dict.fromkeys(new_names) if n not in old_names]
    removed = [n for n in dict.fromkeys(old_names) if n not in new_names]
    where: JsonPath = (old_names.index(removed[0]),) if removed else ()
    names = [n.split(".", 1)[0] for n in added + removed]
    if added and removed:
        return (
            f"regenerating adds {_names(added)} to and removes {_names(removed)} from "
            "selected_fields"
        ), where, names
    if added:
        return f"regenerating adds {_names(added)} to selected_fields", where, names
    if removed:
        return f"regenerating removes {_names(removed)} from selected_fields", where, names
    return (
        "selected_fields list the same fields in a different order (or with repeats) than "
        "the generator writes"
    ), where, names


def _field_path(item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("field_path"), list):
        parts = item["field_path"]
        if parts and all(isinstance(p, str) for p in parts):
            return ".".join(parts)
    return json.dumps(item, ensure_ascii=False)


def _json_schema_change(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, str, list[str]]:
    """json_schema values are JSON-encoded strings: compare what they encode."""
    old_decoded = {k: _decoded(v) for k, v in old.items()}
    new_decoded = {k: _decoded(v) for k, v in new.items()}
    leaves = _leaf_diffs(old_decoded, new_decoded)
    first_key = next((k for k in list(new) + list(old) if not same(old.get(k), new.get(k))), "")
    if not leaves:
        return (f"json_schema.{first_key} is encoded differently (the schema it holds is the same)",
                first_key, [])
    names = [str(p[1]) for p, *_ in leaves if len(p) >= 2 and p[0] == "properties"]
    if leaves[0][0]:
        first_key = str(leaves[0][0][0])
    detailed = len(leaves) <= 2
    parts = []
    for path, kind, a, b in leaves[:SHOWN_CHANGES]:
        dotted = _dotted(path)
        if kind == "missing":
            parts.append(f"regenerating adds {dotted}")
        elif kind == "extra":
            parts.append(f"regenerating removes {dotted}")
        elif detailed and not isinstance(a, (dict, list)) and not isinstance(b, (dict, list)):
            parts.append(f"{dotted} is {_show(a)} in the catalog but the generator gives {_show(b)}")
        else:
            parts.append(dotted)
    if len(leaves) > SHOWN_CHANGES:
        parts.append(f"{len(leaves) - SHOWN_CHANGES} more")
    return f"json_schema changed ({'; '.join(parts)})", first_key, list(dict.fromkeys(names))


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _generic_drift(stream: str | None, base: JsonPath, old: Any, new: Any) -> Drift:
    leaves = _leaf_diffs(old, new)
    changes = tuple(_phrase(path, kind, a, b) for path, kind, a, b in leaves)
    first = base + leaves[0][0] if leaves else base
    return Drift(stream, first, changes or ("differs from the generator's output",))


def _leaf_diffs(old: Any, new: Any, path: JsonPath = ()) -> list[tuple[JsonPath, str, Any, Any]]:
    """(path, "changed" | "missing" | "extra", old, new) for each differing leaf; objects are
    walked, anything else (lists included) is compared whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(new) + [k for k in old if k not in new]:
            if key not in old:
                out.append((path + (key,), "missing", None, new[key]))
            elif key not in new:
                out.append((path + (key,), "extra", old[key], None))
            elif not same(old[key], new[key]):
                out.extend(_leaf_diffs(old[key], new[key], path + (key,)))
        return out
    return [] if same(old, new) else [(path, "changed", old, new)]


def _phrase(path: JsonPath, kind: str, old: Any, new: Any) -> str:
    dotted = _dotted(path) or "the catalog"
    if kind == "missing":
        return f"{dotted} is missing from the catalog (the generator gives {_show(new)})"
    if kind == "extra":
        return f"{dotted} is in the catalog but the generator does not write it"
    return f"{dotted} is {_show(old)} in the catalog but the generator gives {_show(new)}"


def _dotted(path: JsonPath) -> str:
    return ".".join(str(p) for p in path)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_VALUE_LENGTH else text[: SHOWN_VALUE_LENGTH - 1] + "…"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:6])
    return shown + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _get(entry: dict[str, Any], section: str, key: str) -> Any:
    part = entry.get(section)
    return part.get(key) if isinstance(part, dict) else None


def _without(entry: dict[str, Any], section: str, key: str) -> dict[str, Any]:
    copy = dict(entry)
    copy[section] = {k: v for k, v in entry[section].items() if k != key}
    return copy
