"""Meta-tests: the rule reference and the docs stay in step with the code."""

from __future__ import annotations

import re

from lotus_checks.checks import all_rules
from lotus_checks.core.rules import FAMILIES
from lotus_checks.output.docs import render_rules_markdown
from tests.builders import REPO_ROOT


def test_rules_md_is_generated_from_the_rules() -> None:
    committed = (REPO_ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == render_rules_markdown(), (
        "docs/rules.md is stale: run `python -m lotus_checks.output.docs > docs/rules.md`"
    )


def test_every_rule_is_documented_with_an_example_and_a_fix() -> None:
    for rule in all_rules().values():
        assert re.fullmatch(r"LL\d{3}", rule.code), rule.code
        assert rule.code[:3] in FAMILIES, rule.code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
        assert rule.summary and not rule.summary.endswith("."), rule.code
        text = rule.explanation.lower()
        assert "fix" in text, f"{rule.code} explanation does not say how to fix it"
        assert "fires" in text or "```" in text, f"{rule.code} explanation has no example"


def test_rule_names_are_unique() -> None:
    names = [rule.name for rule in all_rules().values()]
    assert len(names) == len(set(names))
