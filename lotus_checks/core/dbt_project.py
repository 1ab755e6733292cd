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


# Folders dbt and tools create inside a project; never part of the checked tree.
SKIPPED_FOLDERS = frozenset({"target", "dbt_packages", "logs", "node_modules", "__pycache__"})

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


def project_tags(data: Any, model_path: str, folders: tuple[str, ...]) -> tuple[str, ...]:
    """Tags `dbt_project.yml` gives a model through `models:` (`+tags` at the project, at each
    folder of the model's path inside its model-path, and at the model itself). dbt adds these to
    the model's own tags."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return ()
    base = next((f for f in folders if f == "." or model_path.startswith(f + "/")), None)
    if base is None:
        return ()
    inside = model_path if base == "." else model_path[len(base) + 1:]
    *dirs, file_name = inside.split("/")
    node: Any = data["models"]
    found = list(_config_tags(node))
    steps = [data.get("name"), *dirs, file_name.rsplit(".", 1)[0]]
    for step in steps:
        node = node.get(step) if isinstance(node, dict) and isinstance(step, str) else None
        if not isinstance(node, dict):
            break
        found.extend(_config_tags(node))
    return tuple(found)


def _config_tags(node: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in ("+tags", "tags"):
        value = node.get(key)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
    return out


def property_tags(data: Any) -> dict[str, tuple[str, ...]]:
    """model name -> tags set in a YAML properties file (`models: - name: x, config: {tags}`)."""
    out: dict[str, tuple[str, ...]] = {}
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return out
    for entry in models:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        config = entry.get("config")
        tags = _config_tags({"tags": entry.get("tags")})
        tags += _config_tags(config) if isinstance(config, dict) else []
        if tags:
            out[entry["name"]] = out.get(entry["name"], ()) + tuple(tags)
    return out
