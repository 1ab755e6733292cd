"""The registry: one module per rule family, listed explicitly.

Each module defines `RULES` (a tuple of `Rule`) and `check(ctx) -> Iterable[Finding]`, and may
define `fix(ctx) -> dict[str, bytes]`: the files it would write (path -> new bytes) to resolve
the findings the run reported (`ctx.is_reported`); the engine writes them. Modules import heavy libraries (sqlglot,
jsonschema, hcl2) inside their functions, so listing rules stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lotus_checks.core.rules import Rule

# In the order they run. On a cold run the engine's pool computes the models' facts meanwhile:
# the families that need none come first (the catalog family's generator and dbt parse run in
# processes of their own), then columns, which takes the facts one by one as the pool delivers
# them, then coverage, which needs every model's tags and source() calls at once.
FAMILY_MODULES = (
    "input",  # LL0xx
    "naming",  # LL1xx
    "stream_config",  # LL5xx
    "hygiene",  # LL6xx
    "catalog",  # LL2xx
    "dbt_parse",  # LL308, only with --dbt
    "columns",  # LL4xx
    "coverage",  # LL3xx
)


def family_modules() -> list[ModuleType]:
    return [importlib.import_module(f"lotus_checks.checks.{name}") for name in FAMILY_MODULES]


def all_rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for module in family_modules():
        for rule in module.RULES:
            assert rule.code not in rules, f"duplicate rule code {rule.code}"
            rules[rule.code] = rule
    return dict(sorted(rules.items()))
