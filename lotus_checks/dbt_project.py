"""What `dbt_project.yml` says about where models live.

dbt reads `model-paths` (before dbt 1.0: `source-paths`), relative to the folder of
`dbt_project.yml`, and scans each listed folder recursively; with neither key it reads `models`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

DEFAULT_MODEL_PATHS = ("models",)
MODEL_PATH_KEYS = ("model-paths", "source-paths")


@dataclass(frozen=True)
class ModelPaths:
    key: str | None  # the key they came from; None when dbt's default applies
    folders: tuple[str, ...]  # POSIX paths relative to the repo root, normalised


def model_paths(project_path: str, data: Any) -> ModelPaths | None:
    """The folders dbt scans for models, relative to the repo root; None when the file says
    something dbt would reject (not a mapping, or model-paths not a list of strings)."""
    if not isinstance(data, dict):
        return None
    key = next((k for k in MODEL_PATH_KEYS if k in data), None)
    listed = data[key] if key is not None else list(DEFAULT_MODEL_PATHS)
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        return None
    project_dir = posixpath.dirname(project_path)
    folders = tuple(_join(project_dir, p) for p in listed)
    return ModelPaths(key=key, folders=folders)


def relative_to_project(project_path: str, folder: str) -> str:
    """`folder` (relative to the root) as it would be written in the project's model-paths."""
    project_dir = posixpath.dirname(project_path) or "."
    return posixpath.relpath(folder, project_dir)


def covers(folders: tuple[str, ...], path: str) -> bool:
    """Whether a file at `path` lies inside one of `folders` (dbt scans them recursively)."""
    return any(folder == "." or path.startswith(folder + "/") for folder in folders)


def _join(project_dir: str, listed: str) -> str:
    joined = posixpath.normpath(posixpath.join(project_dir, listed.strip().rstrip("/") or "."))
    return joined
