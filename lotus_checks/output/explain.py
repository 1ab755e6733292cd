"""`lotus-check rules` and `lotus-check explain CODE`: the rule table and one rule's docs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lotus_checks.checks import all_rules
from lotus_checks.core.rules import RETIRED
from lotus_checks.core.rules import Rule


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lotus-check")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rules", help="list every rule")
    explain = sub.add_parser("explain", help="print one rule's documentation")
    explain.add_argument("code")
    args = parser.parse_args(list(argv))
    rules = all_rules()
    if args.command == "rules":
        for rule in rules.values():
            fix = f" ({rule.fix_label})" if rule.fixable else ""
            print(f"{rule.code}  {rule.severity.value:<7}  {rule.name:<32} {rule.summary}{fix}")
        return 0
    code = args.code.upper()
    if code in RETIRED and code not in rules:
        print(f"lotus-check: error: {code} is retired; its check is {RETIRED[code]} now "
              f"(`lotus-check explain {RETIRED[code]}`)", file=sys.stderr)
        return 2
    if code not in rules:
        print(f"lotus-check: error: no rule {args.code!r} (see `lotus-check rules`)", file=sys.stderr)
        return 2
    print(render_rule(rules[code]))
    return 0


def render_rule(rule: Rule, level: int = 2) -> str:
    marks = "#" * level
    header = f"{marks} {rule.code} {rule.name}\n\n{rule.summary}\n\nSeverity: {rule.severity.value}"
    if rule.unsafe_fix:
        header += "; fixable with `--fix --unsafe-fixes` (review what it writes)"
    elif rule.fixable:
        header += "; fixable with `--fix`"
    return header + ("\n\n" + rule.explanation.strip() if rule.explanation else "") + "\n"
