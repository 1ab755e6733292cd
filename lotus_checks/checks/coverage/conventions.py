"""How the repo runs its models, as the coverage checks see it, for the columns family."""

from __future__ import annotations

from functools import cached_property

from lotus_checks.checks.coverage.lake import Lake
from lotus_checks.checks.coverage.models import names_stream_models
from lotus_checks.checks.coverage.models import stream_model_gaps
from lotus_checks.core.context import CheckContext
from lotus_checks.repo.model import Model


class Conventions:
    """How the repo runs its models, as the coverage checks see it, for another family (make
    one per run of that family: what it reads is then tracked for that family)."""

    def __init__(self, ctx: CheckContext):
        self._lake = Lake(ctx)
        self._config = ctx.config

    @cached_property
    def models_run_per_stream(self) -> bool:
        """Whether Dagster runs each stream's models on its own (so a model whose stream cannot
        be told is given no stream's files): its code selects by stream tag, or, where the code
        does not say, the repo's models follow the stream tag or the `<layer>_<source>__<stream>`
        naming."""
        lake = self._lake
        decided = lake.dagster_selects_by_stream_tag
        if decided is not None:
            return decided
        return bool(lake.sources_with_stream_tags) or names_stream_models(stream_model_gaps(lake))

    def passed_vars(self, model: Model) -> frozenset[str] | None:
        """The var() names the orchestrator passes at run time (`dbt build --vars`) when it runs
        `model`: config key `runtime-vars`, else what the Dagster code passes in the dbt
        commands that select the model (all it passes when no command can be told to select
        it); None when that cannot be told (no Dagster code, or vars it cannot read)."""
        if self._config.runtime_vars is not None:
            return frozenset(self._config.runtime_vars)
        code = self._lake.dagster_code
        if not code.found or code.passed_vars is None or not (code.selections or code.runs):
            return None  # no Dagster code that runs dbt: it runs elsewhere
        tags = self._lake.model_view(model).tags
        if tags is None:
            return code.passed_vars
        runs = [names for selection, names in code.runs if self._lake.selects(selection, tags)]
        if not runs:
            return code.passed_vars
        if any(names is None for names in runs):
            return None
        return frozenset().union(*(names for names in runs if names is not None))
