"""Generate docs/rules.md from the rules themselves: `python -m lotus_checks.output.docs > docs/rules.md`.

A test keeps the committed file in step, so the reference can't drift from the code."""

from __future__ import annotations

from lotus_checks.checks import all_rules
from lotus_checks.output.explain import render_rule

HEADER = """# Rule reference

Generated from the rule definitions by `python -m lotus_checks.output.docs > docs/rules.md`; do not edit
by hand. `lotus-check explain CODE` prints the same text for one rule.

Codes are `LL` + three digits, grouped by family. Select or ignore them by prefix
(`--select LL4`, `--ignore LL303`, `per-file-ignores`), suppress one line in SQL with
`-- noqa: LL401` (or `-- noqa` for every code), and change a rule's severity with the `severity`
table in the config (see [configuration.md](configuration.md)).

## Severity

An **error** means that pushing the change breaks the platform or silently loses data, and the
rule's explanation says how: the Terraform/tofu apply fails, Airbyte rejects the catalog, the
destination rejects a type, `dbt parse`/`dbt build` fails, a column never lands, a model is never
built, Dagster never runs it. Errors exit 1. Style and smells (what works but misleads, or costs
later) are **warnings**, which exit 0. Stream configs and source schemas are the repo's own
format: what their definitions mean is judged on the catalog the repo's own generator writes, the
one Airbyte and the destination receive. One root cause gives one finding: a wrong parent hides
its children's findings, and the same mistake repeated in one file is one finding with the count.
"""

FAMILY_TITLES = {
    "input": "LL0xx: input that cannot be read or parsed",
    "naming": "LL1xx: naming conventions",
    "catalog": "LL2xx: generated catalogs",
    "coverage": "LL3xx: coverage from stream to source, model, tag, dbt and Terraform",
    "columns": "LL4xx: SQL columns and references",
    "stream-config": "LL5xx: stream configs and source schemas",
    "hygiene": "LL6xx: repository hygiene",
}


def render_rules_markdown() -> str:
    rules = all_rules()
    parts = [HEADER, "\n| code | name | severity | summary |\n|---|---|---|---|\n"]
    for rule in rules.values():
        fix = f" ({rule.fix_label})" if rule.fixable else ""
        parts.append(
            f"| [{rule.code}](#{rule.code.lower()}-{rule.name}) | {rule.name} "
            f"| {rule.severity.value} | {rule.summary}{fix} |\n"
        )
    family = None
    for rule in rules.values():
        if rule.family != family:
            family = rule.family
            parts.append(f"\n## {FAMILY_TITLES[family]}\n")
        parts.append("\n" + render_rule(rule, level=3))
    return "".join(parts)


def main() -> int:
    print(render_rules_markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
