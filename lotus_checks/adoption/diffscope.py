"""Which files `--diff` reports on: the changed files plus the files whose findings they can change.

Checks are cross-file: dropping a field from `streams/shopify/orders.json` breaks a column in
`core/shopify/int_shopify__orders.sql`, a file the pull request never touched. Reporting only on
changed files would hide exactly the mistakes this tool exists for, so a change is widened to its
source (every stream config, source schema, catalog, model and sources file of that source) and
to the models outside source folders (marts), which read those models through `ref()`. A change
to a file every source depends on (the config, `dbt_project.yml`, the catalog generator, the
Terraform folder) checks the whole repo.
"""

from __future__ import annotations

from lotus_checks.core.config import Config
from lotus_checks.repo.model import Repo

CONFIG_FILES = ("lotus-check.toml", "pyproject.toml")


def diff_targets(config: Config, changed: frozenset[str]) -> frozenset[str] | None:
    """Targets for a run over `changed`; None means the whole repo."""
    if any(_is_global(config, path) for path in changed):
        return None
    repo = Repo(config)
    by_source = _files_by_source(config, repo)
    touched = {s for s in repo.sources if any(_under_source(config, p, s) for p in changed)}
    if not touched:
        return changed
    out = set(changed)
    for source in touched:
        out |= by_source.get(source, set())
    out |= {m.path for m in repo.models if m.source is None}
    return frozenset(out)


def _is_global(config: Config, path: str) -> bool:
    if path in CONFIG_FILES or path in (config.dbt_project, config.generator):
        return True
    return path.startswith(config.terraform.rstrip("/") + "/")


def _under_source(config: Config, path: str, source: str) -> bool:
    """`path` lies in one of `source`'s folders (also true for files that no longer exist)."""
    folders = [config.streams, config.sources, *config.models]
    return any(path.startswith(f"{folder.rstrip('/')}/{source}/") for folder in folders)


def _files_by_source(config: Config, repo: Repo) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {source: set() for source in repo.sources}
    for stream in repo.streams:
        out[stream.source].add(stream.config_path)
    for schema in repo.source_schemas:
        out[schema.source].add(schema.path)
    for source, catalog in repo.catalogs.items():
        out[source].add(catalog)
    for model in repo.models:
        if model.source is not None:
            out[model.source].add(model.path)
    for path in repo.model_yaml_files:
        for source in out:
            if _under_source(config, path, source):
                out[source].add(path)
    return out
