"""A quick "certainly valid" test for the shipped JSON Schemas, ahead of jsonschema.

jsonschema resolves every `$ref` through its registry on each use, which made validating a
stream config cost milliseconds: in a cold run over 500 streams it was a third of the CPU time.
Almost every document is valid, and a valid document has no findings, so this module compiles a
schema once into plain Python closures that answer one question: is this document certainly
valid? True means there is nothing to report and jsonschema is not asked. False means "not
certain": jsonschema validates it and words the findings, exactly as before.

So the only answer that must never be wrong is True. The compiler knows the keywords the shipped
schemas use (2020-12 semantics, each applying only to instances of its type); a schema with any
other keyword is not compiled and every document goes to jsonschema. Where JSON equality is
subtle (enum and uniqueItems over non-strings, where 1, 1.0 and true differ) the answer is False.
tests/test_schema_fast.py checks the verdicts against jsonschema's on generated documents.
"""

from __future__ import annotations

from typing import Any
from typing import Callable

Check = Callable[[Any], bool]

# Keywords that never change validity.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples",
                          "default", "$defs"})
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


class Unsupported(Exception):
    """The schema uses something this compiler does not know: use jsonschema for everything."""


def compile_schema(schema: Any) -> Check:
    """A function telling whether a document is certainly valid against `schema`."""
    defs = schema.get("$defs", {}) if isinstance(schema, dict) else {}
    compiled: dict[str, Check] = {}

    def ref(target: str) -> Check:
        prefix = "#/$defs/"
        if not target.startswith(prefix) or target[len(prefix):] not in defs:
            raise Unsupported(f"$ref {target}")
        name = target[len(prefix):]

        def follow(value: Any) -> bool:
            return compiled[name](value)  # bound late: definitions may refer to themselves

        return follow

    def build(node: Any) -> Check:
        if node is True:
            return lambda _v: True
        if node is False or not isinstance(node, dict):
            raise Unsupported(repr(node))
        checks = [check for key, value in node.items() if key not in _ANNOTATIONS
                  for check in [_keyword(key, value, node, build, ref)] if check is not None]
        return _all_of(checks)

    for name, definition in defs.items():
        compiled[name] = build(definition)
    return build(schema)


def _all_of(checks: list[Check]) -> Check:
    # Loops rather than all(genexpr): this runs a hundred thousand times in a cold run.
    if len(checks) == 1:
        return checks[0]

    def every(value: Any) -> bool:
        for check in checks:
            if not check(value):
                return False
        return True

    return every


def _keyword(key: str, value: Any, node: dict[str, Any], build: Callable[[Any], Check],
             ref: Callable[[str], Check]) -> Check | None:
    if key == "type":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(n in _TYPES for n in names):
            raise Unsupported(f"type {value!r}")
        tests = [_TYPES[n] for n in names]
        if len(tests) == 1:
            return tests[0]
        return lambda v: any(test(v) for test in tests)
    if key == "$ref":
        return ref(value)
    if key == "enum":
        if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
            raise Unsupported("enum of non-strings")
        allowed = frozenset(value)
        return lambda v: isinstance(v, str) and v in allowed
    if key == "anyOf":
        options = [build(option) for option in value]
        return lambda v: any(option(v) for option in options)
    if key == "required":
        names = frozenset(value)
        return lambda v: not isinstance(v, dict) or names.issubset(v)
    if key == "properties":
        props = {name: build(sub) for name, sub in value.items()}

        def properties(v: Any) -> bool:
            if isinstance(v, dict):
                for k, item in v.items():
                    check = props.get(k)
                    if check is not None and not check(item):
                        return False
            return True

        return properties
    if key == "additionalProperties":
        if "patternProperties" in node:
            raise Unsupported("patternProperties")
        known = frozenset(node.get("properties", {}))
        if value is False:
            return lambda v: not isinstance(v, dict) or known.issuperset(v)
        extra = build(value)

        def additional(v: Any) -> bool:
            if isinstance(v, dict):
                for k, item in v.items():
                    if k not in known and not extra(item):
                        return False
            return True

        return additional
    if key == "items":
        if "prefixItems" in node:
            raise Unsupported("prefixItems")
        each = build(value)

        def items(v: Any) -> bool:
            if isinstance(v, list):
                for item in v:
                    if not each(item):
                        return False
            return True

        return items
    if key in ("minItems", "minProperties"):
        kind = list if key == "minItems" else dict
        return lambda v: not isinstance(v, kind) or len(v) >= value
    if key == "minLength":
        return lambda v: not isinstance(v, str) or len(v) >= value
    if key == "uniqueItems":
        if value is not True:
            return None
        # Only strings are compared here: JSON equality of numbers, booleans and containers
        # (1 == 1.0, true != 1) is jsonschema's to judge.
        return lambda v: not isinstance(v, list) or (
            all(isinstance(item, str) for item in v) and len(set(v)) == len(v))
    raise Unsupported(key)
