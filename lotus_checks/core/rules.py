"""What a rule is. The rules themselves live beside their check, one module per family."""

from __future__ import annotations

from dataclasses import dataclass

from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity

FAMILIES = {
    "LL0": "input",
    "LL1": "naming",
    "LL2": "catalog",
    "LL3": "coverage",
    "LL4": "columns",
    "LL5": "stream-config",
    "LL6": "hygiene",
}

# Codes that named a rule in an earlier version -> the code that now does its job. A config or a
# command line that still names one gets a warning, not exit 2: bumping lotus-check's version
# must not block every commit of a repo whose `ignore` lists a code that has since moved.
RETIRED = {
    "LL508": "LL207",  # a selected field's type the destination cannot write: judged on the catalog
}


@dataclass(frozen=True)
class Rule:
    """A rule code with its documentation.

    `explanation` is Markdown: why it matters, an example that fires, the fixed version. It feeds
    `lotus-check explain CODE` and docs/rules.md.
    """

    code: str
    name: str
    summary: str
    severity: Severity = Severity.ERROR
    explanation: str = ""
    fixable: bool = False
    # The fix writes a starting point a person must review (applied only with --unsafe-fixes).
    unsafe_fix: bool = False
    # Runs only with `--dbt` (a run without it says nothing about this rule).
    requires_dbt: bool = False

    @property
    def fix_label(self) -> str:
        """How the rule is fixed, for tables: "" (by hand), "fixable", "unsafe fix"."""
        if not self.fixable:
            return ""
        return "unsafe fix" if self.unsafe_fix else "fixable"

    @property
    def family(self) -> str:
        return FAMILIES[self.code[:3]]

    def finding(
        self,
        path: str,
        line: int | None = None,
        column: int | None = None,
        message: str | None = None,
        *,
        hint: str = "",
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            path=path,
            line=line,
            column=column,
            code=self.code,
            message=message if message is not None else self.summary,
            severity=severity or self.severity,
            hint=hint,
        )
