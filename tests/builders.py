"""Small builders for test trees: files as a dict, valid stream configs and source schemas."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_TREE = REPO_ROOT / "orchestration"

STREAMS = "orchestration/assets/streams"
SOURCES = "orchestration/assets/sources"
CORE = "orchestration/assets/core"
MARTS = "orchestration/assets/marts"

FileContent = str | bytes | dict | list


def write_tree(root: Path, files: dict[str, FileContent | None]) -> Path:
    """Write `files` (path -> text, bytes, or JSON data) below `root`; None deletes the file."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def git_init(root: Path, commit: bool = True) -> Path:
    git(root, "init", "-q", "-b", "main")
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial", "--allow-empty")
    return root


def copy_reference(dest: Path) -> Path:
    """A copy of the bundled reference tree at `dest/orchestration`; returns `dest`."""
    shutil.copytree(
        REFERENCE_TREE,
        dest / "orchestration",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "__pycache__"),
    )
    return dest


# The later Lotus Lake layout: folder in the reference tree -> folder in the `dag` layout.
DAG_FOLDERS = {
    "assets/streams": "dag/streams",
    "assets/sources": "dag/sources",
    "assets/core": "dag/processed",
    "assets/marts": "dag/enriched",
}


def copy_reference_dag(dest: Path, *, unlisted_source: str | None = None) -> Path:
    """A copy of the reference tree at `dest/orchestration` in the `dag` layout
    (`orchestration/dag/{streams,sources,processed,enriched}`; `dbt_project.yml` and the
    generator where they were), with every path that names a folder rewritten: the project's
    `model-paths`, the generator's and the Dagster factory's folders, Terraform's `file()` paths.
    With no config it is as clean as the reference tree. `unlisted_source` leaves that source's
    model folder out of `model-paths` (the mistake LL304 reports). Returns `dest`."""
    copy_reference(dest)
    base = dest / "orchestration"
    (base / "dag").mkdir()
    for old, new in DAG_FOLDERS.items():
        (base / old).rename(base / new)
    (base / "assets").rmdir()

    def rewrite(rel: str, *pairs: tuple[str, str]) -> None:
        path = base / rel
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            assert old in text, (rel, old)
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")

    listed = "".join(f"  - dag/processed/{s}\n" for s in ("shopify", "klaviyo", "stripe", "gorgias")
                     if s != unlisted_source)
    project = (base / "dbt_project.yml").read_text(encoding="utf-8")
    start = project.index("model-paths:\n")
    end = project.index("\n\n", start)
    project = project[:start] + "model-paths:\n" + listed + "  - dag/enriched" + project[end:]
    (base / "dbt_project.yml").write_text(project, encoding="utf-8")
    rewrite("airbyte/generate-catalog.py", ("'assets' / 'streams'", "'dag' / 'streams'"),
            ("'assets' / 'sources'", "'dag' / 'sources'"))
    rewrite("dag/processed/assets.py", ("'assets' / 'streams'", "'dag' / 'streams'"))
    rewrite("airbyte/terraform/connections.tf", ("/../../assets/streams/", "/../../dag/streams/"))
    rewrite("airbyte/terraform/backfill.tf", ("/../../assets/streams/", "/../../dag/streams/"))
    return dest


def field(type_: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, **extra}


def stream_config(name: str, fields: dict[str, Any] | None = None, **overrides: Any) -> dict:
    """A valid Airbyte stream config selecting `fields` (default: id, email, updated_at)."""
    config: dict[str, Any] = {
        "stream": name,
        "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup",
        "backfill": False,
        "primary_key": [["id"]],
        "cursor_field": ["updated_at"],
        "selected": True,
        "fields": fields
        if fields is not None
        else {
            "id": field("integer"),
            "email": field("string"),
            "updated_at": field("string", format="date-time"),
        },
    }
    config.update(overrides)
    return config


def source_schema(name: str, fields: dict[str, Any] | None = None, **overrides: Any) -> dict:
    """A valid source schema offering `fields` (default: id, email, name, updated_at)."""
    schema: dict[str, Any] = {
        "stream": name,
        "options": {
            "sync_modes": ["full_refresh", "incremental"],
            "destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
        "defaults": {"primary_key": [["id"]], "cursor_field": ["updated_at"]},
        "fields": fields
        if fields is not None
        else {
            "id": field("integer"),
            "email": field("string", description="Customer email"),
            "name": field("string"),
            "updated_at": field("string", format="date-time"),
        },
    }
    schema.update(overrides)
    return schema
