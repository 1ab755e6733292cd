"""LL304: every folder holding models is in `model-paths` of dbt_project.yml."""

from __future__ import annotations

import posixpath
from typing import Any
from collections.abc import Iterator
from typing import NamedTuple

from lotus_checks.checks.coverage.lake import Lake
from lotus_checks.core.finding import Finding
from lotus_checks.core.rules import Rule
from lotus_checks.repo.model import Model

LL304 = Rule(
    "LL304",
    "model-folder-not-in-model-paths",
    "Model folder is not in dbt_project.yml model-paths",
    fixable=True,
    explanation="""dbt only reads models under the folders listed in `model-paths` of
`dbt_project.yml` (relative to that file, scanned recursively). Models in any other folder are
never built, and `dbt parse` in CI cannot notice: it never sees them. This happened when a new
source folder was added without listing it.

Fires on (`assets/core/stripe/` holds models):
```yaml
model-paths:
  - assets/core/shopify
  - assets/marts
```
Fixed:
```yaml
model-paths:
  - assets/core/shopify
  - assets/core/stripe
  - assets/marts
```
One finding per uncovered folder, at the `model-paths` key. `--fix` appends the folder to
`model-paths` in the style the list is written in (block or flow, same quoting).""",
)


class Uncovered(NamedTuple):
    doc: Any  # dbt_project.yml (YamlDoc)
    paths: Any  # its model paths (dbt_project.ModelPaths)
    folders: dict[str, list[str]]  # folder -> the models in it dbt never sees


def uncovered_folders(lake: Lake) -> Uncovered | None:
    """The model folders dbt_project.yml leaves out; None when there is no usable one."""
    from lotus_checks.core.dbt_project import covers
    from lotus_checks.core.dbt_project import model_paths

    project = lake.config.dbt_project
    if not lake.repo.is_file(project):
        return None
    doc = lake.repo.yaml(project)
    paths = model_paths(project, doc.data) if doc is not None else None
    if doc is None or paths is None:
        return None
    covered_models = [m.path for m in lake.repo.models if covers(paths.folders, m.path)]
    uncovered: dict[str, list[str]] = {}
    for model in lake.repo.models:
        if not covers(paths.folders, model.path):
            folder = _uncovered_folder(model, covered_models)
            uncovered.setdefault(folder, []).append(model.path)
    return Uncovered(doc, paths, uncovered)


def check_model_paths(lake: Lake) -> Iterator[Finding]:
    from lotus_checks.core.dbt_project import relative_to_project

    found = uncovered_folders(lake)
    if found is None:
        return
    doc, paths, uncovered = found
    project = lake.config.dbt_project
    line, column = doc.position((paths.key,)) if paths.key else (1, 1)
    key = paths.key or "model-paths"
    for folder, models in sorted(uncovered.items()):
        listed = relative_to_project(project, folder)
        count = f"{len(models)} model{'s' if len(models) != 1 else ''}"
        yield lake.place(
            LL304,
            [(project, line, column), *((m, 1, 1) for m in models)],
            f"model folder `{folder}` is not in `{key}` of {project}: dbt never builds "
            f"its {count}",
            hint=f"add `- {listed}` to `{key}` in {project}",
        )


def _uncovered_folder(model: Model, covered_models: list[str]) -> str:
    """The widest folder above `model`, inside its model folder, holding no covered model: the
    folder one `model-paths` entry would fix."""
    parts = model.path[len(model.models_folder) + 1:].split("/")[:-1]
    folder = model.models_folder
    for part in [None, *parts]:
        if part is not None:
            folder = f"{folder}/{part}"
        if not any(path.startswith(folder + "/") for path in covered_models):
            return folder
    return posixpath.dirname(model.path)
