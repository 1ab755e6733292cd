"""LL501 and LL511: the keys of a stream config or source schema against the JSON Schemas that
ship with lotus-checks, and keys given twice.

jsonschema words the findings. Almost every document is valid, and jsonschema is slow to say so,
so a quick pass comes first: fastjsonschema compiles each shipped schema into Python once per
process; a document it accepts has no LL501 error, and one it rejects is validated by jsonschema,
whose errors become the findings. The quick pass may only ever be the stricter of the two
(tests/checks/test_stream_config_schema.py compares them on generated documents).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from collections.abc import Iterator
from functools import cache
from typing import Any
from typing import NamedTuple
from typing import cast
from typing import TYPE_CHECKING

from lotus_checks.checks.stream_config.rules import LL501
from lotus_checks.checks.stream_config.rules import LL511
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.loaders import JsonDoc
from lotus_checks.core.loaders import JsonPath

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

STREAM_CONFIG_SCHEMA = "stream_config"
SOURCE_SCHEMA_SCHEMA = "source_schema"
# How many places a finding for a repeated mistake lists.
SHOWN_REPEATS = 3


class KeyProblem(NamedTuple):
    """An LL501 problem: the path of the offending key, `$.json.path: message`, the hint."""

    path: JsonPath
    message: str
    hint: str
    severity: Severity


def document_findings(path: str, doc: JsonDoc, name: str) -> Iterator[Finding]:
    """LL511 and LL501 for one document, checked against the shipped schema `name`."""
    for key_path, key in duplicate_keys(doc):
        line, column = doc.position(key_path)
        top = len(key_path) == 1
        yield LL511.finding(
            path, line, column,
            f"{_json_path(key_path)}: key `{key}` appears more than once; only the last counts"
            + (" (the generator and Terraform use it)" if top else ""),
            hint=f"keep one `{key}`, the one meant",
            severity=Severity.ERROR if top else Severity.WARNING,
        )
    # The same mistake repeated in one map of field names (`"fields": {"id": "integer", ...}`)
    # is one finding that gives the count and the first places.
    groups: dict[tuple[Any, ...], list[tuple[JsonPath, str]]] = {}
    for problem in schema_errors(doc.data, name) + typo_keys(doc.data, name):
        key_path, message, hint, severity = problem
        parent = key_path[:-1] if severity == Severity.ERROR and key_path else None
        group = (parent, hint, severity) if parent else (key_path, message, hint, severity)
        groups.setdefault(group, []).append((key_path, message))
    for group, found in groups.items():
        placed = sorted(((doc.position(p), p, m) for p, m in found),
                        key=lambda f: (f[0][0] or 0, f[0][1] or 0))
        ((line, column), key_path, message), rest = placed[0], placed[1:]
        if rest:
            shown = ", ".join(f"{_json_path(p)} (line {at[0]})" for at, p, _ in rest[:SHOWN_REPEATS])
            more = f" and {len(rest) - SHOWN_REPEATS} more" if len(rest) > SHOWN_REPEATS else ""
            message += f"; the same in {len(rest)} more place(s): {shown}{more}"
        yield LL501.finding(path, line, column, message, hint=group[-2], severity=group[-1])


def schema_errors(data: Any, name: str) -> list[KeyProblem]:
    """An error for every violation of the shipped schema `name`: what the generator or
    Terraform reads is missing or malformed."""
    if quick_pass(name)(data):
        return []
    return [KeyProblem(*_described(error), Severity.ERROR)
            for error in _validator(name).iter_errors(data)]


def typo_keys(data: Any, name: str) -> list[KeyProblem]:
    """A warning for each key that nothing reads but looks like a typo of a key that is read
    (`selcted`), at that key, with the did-you-mean: the platform runs as if the meant key were
    absent. Other keys are the repo's own additions (an `owner`, a `description`): nothing reads
    them, and nothing is reported. (In code, not in the shipped schema, which accepts any extra
    key: a schema cannot say "close to a known key".)"""
    out: list[KeyProblem] = []
    stack: list[tuple[Any, Any, JsonPath]] = [(_schema(name), data, ())]
    while stack:
        schema, value, path = stack.pop()
        known = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(known, dict) or not isinstance(value, dict):
            continue
        for key, item in value.items():
            if key in known:
                stack.append((known[key], item, path + (key,)))
                continue
            close = difflib.get_close_matches(str(key), list(known), n=1)
            if close:
                message = (f"{_json_path(path + (key,))}: unexpected key `{key}`, which nothing "
                           f"reads (`{close[0]}` keeps its default)")
                out.append(KeyProblem(path + (key,), message, f"did you mean `{close[0]}`?",
                                      Severity.WARNING))
    return sorted(out)


@cache
def schema_text(name: str) -> str:
    """The text of a shipped schema (`stream_config` or `source_schema`)."""
    from importlib.resources import files

    resource = files("lotus_checks") / "schemas" / f"{name}.schema.json"
    return resource.read_text(encoding="utf-8")


@cache
def _schema(name: str) -> Any:
    return json.loads(schema_text(name))


@cache
def _validator(name: str) -> Validator:
    """jsonschema's validator of a shipped schema, built once per process."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema(name))


@cache
def quick_pass(name: str) -> Callable[[Any], bool]:
    """The shipped schema compiled by fastjsonschema, once per process: True for a document it
    accepts (valid: nothing to report); False sends the document to jsonschema."""
    import fastjsonschema

    validate = fastjsonschema.compile(_schema(name))

    def accepts(data: Any) -> bool:
        try:
            validate(data)
        except Exception:  # noqa: BLE001 - whatever the reason, jsonschema decides and words it
            return False
        return True

    return accepts


def _described(error: ValidationError) -> tuple[JsonPath, str, str]:
    from jsonschema.exceptions import best_match

    # anyOf/oneOf: the sub-error closest to what was meant says more than "not valid under any".
    shown = best_match(error.context) if error.context else error
    path = tuple(shown.absolute_path)
    hint = ""
    if shown.validator == "required":
        hint = "add the missing key"
    elif shown.validator == "type":
        hint = f"use a value of type {shown.validator_value}"
    elif shown.validator == "enum":
        hint = "use one of: " + ", ".join(map(str, cast("list[Any]", shown.validator_value)))
    return path, f"{_json_path(path)}: {shown.message}", hint


def _json_path(path: JsonPath) -> str:
    """`$.fields.email.type`, `$.primary_key[0]` (check-jsonschema style)."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def duplicate_keys(doc: JsonDoc) -> list[tuple[JsonPath, str]]:
    """(path of the repeated key, the key) for every key that appears twice in one object."""
    if doc.repeats_keys is False:
        return []  # the parse that made the document saw no repeated key
    duplicates: list[tuple[str, dict[str, Any]]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    duplicates.append((key, obj))
                seen.add(key)
        return obj

    try:
        data = json.loads(doc.text, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return []
    if not duplicates:
        return []
    where = _object_paths(data)
    return [(where.get(id(obj), ()) + (key,), key) for key, obj in duplicates]


def _object_paths(data: Any) -> dict[int, JsonPath]:
    out: dict[int, JsonPath] = {}
    stack: list[tuple[Any, JsonPath]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            out[id(value)] = path
            stack.extend((v, path + (k,)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, path + (i,)) for i, v in enumerate(value))
    return out

