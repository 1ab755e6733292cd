"""--fix for the coverage family: the mechanical steps of adding a stream.

Safe (what a person would write, nothing lost): LL301 adds the table to the dbt sources file,
LL303 adds the stream tag to the model's config(), LL304 adds the folder to model-paths.
Unsafe (--unsafe-fixes; a starting point to review): LL302 writes the stream's model
(new_model.py). Each edit of a hand-written file is one of edits.py's.
"""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Callable
from collections.abc import Iterator

from lotus_checks.checks.coverage.lake import Lake
from lotus_checks.checks.coverage.model_paths import uncovered_folders
from lotus_checks.checks.coverage.models import model_stream
from lotus_checks.checks.coverage.models import streams_without_model
from lotus_checks.checks.coverage.models import tagged_under_another_name
from lotus_checks.checks.coverage.models import untagged_models
from lotus_checks.checks.coverage.sources import undeclared_streams
from lotus_checks.core.context import CheckContext
from lotus_checks.repo.model import Stream


def fix(ctx: CheckContext) -> dict[str, bytes]:
    """The files --fix would write (path -> new bytes) for the enabled fixable rules."""
    lake = Lake(ctx)
    texts: dict[str, str] = {}

    def current(path: str) -> str | None:
        return texts[path] if path in texts else lake.repo.text(path)

    if ctx.enabled("LL302") and ctx.unsafe_fixes:
        for stream, name in streams_without_model(lake):
            path = f"{lake.source_folder(stream.source)}/{name}.sql"
            tagged = tagged_under_another_name(lake, lake.stream_tag(stream.source, stream.name))
            if not ctx.is_reported("LL302", stream.config_path, *(m.path for m in tagged)):
                continue
            if not lake.repo.is_file(path) and path not in texts:
                texts[path] = _new_model(lake, stream)
    if ctx.enabled("LL301"):
        for path, edit in _sources_file_edits(lake, current):
            texts[path] = edit
    if ctx.enabled("LL303"):
        from lotus_checks.checks.coverage.edits import add_model_tag

        for stream, model in untagged_models(lake):
            if not ctx.is_reported("LL303", model.path):
                continue
            text = current(model.path)
            tag = lake.stream_tag(stream.source, stream.name)
            edited = add_model_tag(text, tag, model.name) if text else None
            if edited is not None:
                texts[model.path] = edited
    if ctx.enabled("LL304"):
        project_edit = _model_paths_edit(lake, current)
        if project_edit is not None:
            texts[project_edit[0]] = project_edit[1]
    return {path: text.encode("utf-8") for path, text in texts.items()}


def _model_paths_edit(lake: Lake, current: Callable[[str], str | None]) -> tuple[str, str] | None:
    """dbt_project.yml with every uncovered model folder added to its model-paths."""
    from lotus_checks.checks.coverage.edits import append_to_yaml_list
    from lotus_checks.core.dbt_project import relative_to_project

    found = uncovered_folders(lake)
    if found is None or found.paths.key is None:
        return None  # no model-paths key: dbt reads `models`; adding the key is a person's call
    project = lake.config.dbt_project
    text = current(project)
    for folder, models in sorted(found.folders.items()):
        if text is not None and lake.ctx.is_reported("LL304", project, *models):
            text = append_to_yaml_list(text, (found.paths.key,), relative_to_project(project, folder))
    return (project, text) if text is not None and text != current(project) else None


def _sources_file_edits(
    lake: Lake, current: Callable[[str], str | None]
) -> Iterator[tuple[str, str]]:
    """Each dbt sources file with the tables of its source's undeclared streams added, or the
    new sources file of a source that has none."""
    from lotus_checks.checks.coverage.edits import append_to_yaml_list

    for source in lake.repo.stream_sources:
        path, streams = undeclared_streams(lake, source)
        if not streams:
            continue
        streams = [s for s in streams if lake.ctx.is_reported("LL301", path, s.config_path)]
        text = current(path)
        if not streams:
            continue
        if text is None:
            yield path, _new_sources_file(lake, source, [s.name for s in streams])
            continue
        doc = lake.repo.yaml(path)
        entries = doc.data.get("sources") if doc is not None and isinstance(doc.data, dict) else None
        index = next(
            (i for i, e in enumerate(entries or [])
             if isinstance(e, dict) and e.get("name") == lake.dbt_source_name(source)),
            None,
        )
        edited: str | None = text
        if index is None or entries is None:
            continue  # the file declares other sources only: where this one goes is a person's call
        if not isinstance(entries[index].get("tables"), list):
            continue
        for stream in streams:
            if edited is not None and lake.ctx.is_reported("LL301", path, stream.config_path):
                edited = append_to_yaml_list(edited, ("sources", index, "tables"), {"name": stream.name})
        if edited is not None and edited != text:
            yield path, edited


def _new_sources_file(lake: Lake, source: str, tables: list[str]) -> str:
    """A dbt sources file declaring `source` and its tables, with the source-level settings
    (schema, external location) of another source's declaration, its name swapped for this one."""
    entry: dict[str, Any] = {"name": source}
    for name, declared in sorted(lake.dbt_sources.items()):
        if name == source or name not in lake.repo.sources:
            continue
        doc = lake.repo.yaml(declared[0].path)
        sources = doc.data.get("sources") if doc is not None and isinstance(doc.data, dict) else None
        model = next((e for e in sources or [] if isinstance(e, dict) and e.get("name") == name), None)
        if model is not None:
            for key, value in model.items():
                if key not in ("name", "tables", "description"):
                    entry[key] = _renamed(value, name, source)
        break
    entry["tables"] = [{"name": table} for table in tables]
    return "version: 2\n\n" + _dump_indented({"sources": [entry]})


def _renamed(value: Any, old: str, new: str) -> Any:
    """`value` with the source name `old` replaced by `new` in its strings (`raw_shopify`,
    `.../shopify/{name}/...`), where it stands as a whole word."""
    if isinstance(value, str):
        return re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, value)
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


def _dump_indented(data: Any) -> str:
    """YAML in the layout dbt projects use: sequences indented under their key."""
    import yaml

    class IndentedDumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    return yaml.dump(data, Dumper=IndentedDumper, sort_keys=False, default_flow_style=False,
                     width=10_000)


def _new_model(lake: Lake, stream: Stream) -> str:
    """The model --unsafe-fixes writes for a stream without one, in its siblings' style."""
    from lotus_checks.checks.coverage.new_model import Sibling
    from lotus_checks.checks.coverage.new_model import raw_read_kind
    from lotus_checks.checks.coverage.new_model import stream_model
    from lotus_checks.sql.render import render_model

    data = lake.stream_data(stream)
    connector = "dlt" if lake.is_dlt(stream) else "airbyte"
    fields = data.get("fields")
    key = data.get("primary_key")
    primary_key = [p[0] for p in key if isinstance(p, list) and p and isinstance(p[0], str)] \
        if isinstance(key, list) else []
    siblings = []
    for model in sorted(lake.repo.models, key=lambda m: m.path):
        named = model_stream(lake, model.name) if model.source == stream.source else None
        other = lake.repo.stream(*named) if named is not None else None
        text = lake.repo.text(model.path)
        if other is None or text is None or lake.is_dlt(other) != (connector == "dlt"):
            continue
        rendered = render_model(text, model_name=model.name)
        if rendered.sql is not None and not rendered.problems:
            siblings.append(Sibling(text=text, stream=other.name,
                                    tag=lake.stream_tag(stream.source, other.name),
                                    config=dict(rendered.config)))
    # The way most siblings read raw data (the first one's, on a tie).
    kinds = [raw_read_kind(s) for s in siblings]
    sibling = max(siblings, key=lambda s: kinds.count(raw_read_kind(s)), default=None)
    return stream_model(
        stream.source,
        stream.name,
        lake.stream_tag(stream.source, stream.name),
        _synced_definitions(lake, stream, fields),
        connector,
        primary_key,
        sibling,
    )


def _synced_definitions(lake: Lake, stream: Stream, fields: Any) -> dict[str, Any]:
    """name -> definition of each field the stream selects, from the source schema when it has
    the field (what the generator writes into the catalog), else from the stream config."""
    if not isinstance(fields, dict):
        return {}
    offered: Any = {}
    if stream.schema_path is not None:
        doc = lake.repo.json(stream.schema_path)
        offered = doc.data.get("fields") if doc is not None and isinstance(doc.data, dict) else {}
    offered = offered if isinstance(offered, dict) else {}
    return {name: offered.get(name, definition) for name, definition in fields.items()
            if isinstance(name, str)}
