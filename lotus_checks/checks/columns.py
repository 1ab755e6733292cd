"""Placeholder: this family is being written (see the issue tracker)."""

from __future__ import annotations

from typing import Iterator

from lotus_checks.context import CheckContext
from lotus_checks.finding import Finding
from lotus_checks.rules import Rule

RULES: tuple[Rule, ...] = ()


def check(ctx: CheckContext) -> Iterator[Finding]:
    return iter(())
