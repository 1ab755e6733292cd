"""LL3xx: every stream reaches a dbt source table, a model, the model's Dagster tag, dbt's
model-paths and a Terraform connection; and nothing in those places names a stream that is gone.

These gaps fail silently in production: data lands and nothing is built. The checks are
cross-file, so each finding is placed on the file that is in the run's scope when it can be: a
pre-commit run that only passes the renamed model still reports the stream it left behind.

One module per subject: `sources` (LL301, LL305), `models` (LL302, LL303, LL306), `model_paths`
(LL304), `terraform` (LL307); `lake` holds what they share, `conventions` what the columns
family asks of them, `fix` (with `edits` and `new_model`) what --fix writes.
"""

from __future__ import annotations

from collections.abc import Iterator

from lotus_checks.checks.coverage.conventions import Conventions
from lotus_checks.checks.coverage.fix import fix
from lotus_checks.checks.coverage.lake import Lake
from lotus_checks.checks.coverage.model_paths import LL304
from lotus_checks.checks.coverage.model_paths import check_model_paths
from lotus_checks.checks.coverage.models import LL302
from lotus_checks.checks.coverage.models import LL303
from lotus_checks.checks.coverage.models import LL306
from lotus_checks.checks.coverage.models import check_orphan_models
from lotus_checks.checks.coverage.models import check_stream_models
from lotus_checks.checks.coverage.sources import LL301
from lotus_checks.checks.coverage.sources import LL305
from lotus_checks.checks.coverage.sources import check_dbt_sources
from lotus_checks.checks.coverage.terraform import LL307
from lotus_checks.checks.coverage.terraform import check_terraform
from lotus_checks.checks.coverage.terraform import terraform_in_scope
from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding

__all__ = ["RULES", "Conventions", "check", "fix"]

RULES = (LL301, LL302, LL303, LL304, LL305, LL306, LL307)


def check(ctx: CheckContext) -> Iterator[Finding]:
    lake = Lake(ctx)
    if ctx.enabled("LL301") or ctx.enabled("LL305"):
        yield from check_dbt_sources(lake)
    if (ctx.enabled("LL307") or ctx.enabled("LL007")) and terraform_in_scope(ctx):
        yield from check_terraform(lake)
    if ctx.enabled("LL302") or ctx.enabled("LL303"):
        yield from check_stream_models(lake)
    if ctx.enabled("LL306"):
        yield from check_orphan_models(lake)
    if ctx.enabled("LL304"):
        yield from check_model_paths(lake)
