"""Dagster assets for the core dbt layer: one asset group per stream.

Every stream config in assets/streams/<source>/<stream>.json gets a dbt asset that selects the
models tagged `<source>__<stream>` and runs them on the files that landed for that stream.
A model without that tag is never selected (the `core` tag alone is not enough).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext
from dagster import AssetsDefinition
from dagster import Definitions
from dagster import EnvVar
from dagster_dbt import DbtCliResource
from dagster_dbt import DbtProject
from dagster_dbt import dbt_assets

ORCHESTRATION_DIR = Path(__file__).resolve().parents[2]
STREAMS_DIR = ORCHESTRATION_DIR / 'assets' / 'streams'
RAW_ROOT = 's3://landing/raw'

dbt_project = DbtProject(project_dir=ORCHESTRATION_DIR, profiles_dir=ORCHESTRATION_DIR)
dbt_project.prepare_if_dev()


def discover_streams(streams_dir: Path = STREAMS_DIR) -> list[tuple[str, str, dict[str, Any]]]:
    """(source, stream, config) for every stream config; `_catalog.json` and friends are skipped."""
    found = []
    for path in sorted(streams_dir.glob('*/*.json')):
        if path.name.startswith('_'):
            continue
        config = json.loads(path.read_text(encoding='utf-8'))
        found.append((path.parent.name, path.stem, config))
    return found


def landed_files(context: AssetExecutionContext, source: str, stream: str) -> list[str]:
    """The Parquet files this run should process (set by the sensor that saw them land)."""
    tagged = context.run.tags.get('lotus/files')
    if tagged:
        return json.loads(tagged)
    return [f'{RAW_ROOT}/{source}/{stream}/**/*.parquet']


def landed_path(files: list[str], source: str, stream: str) -> str:
    """One path for the models that read `var("file")`: the file that landed, or the stream's
    whole folder (a glob DuckDB expands) when several did."""
    return files[0] if len(files) == 1 else f'{RAW_ROOT}/{source}/{stream}/**/*.parquet'


def build_dbt_assets(source: str, stream: str, connector: str = 'airbyte') -> AssetsDefinition:
    """dbt assets for one stream: every model tagged `<source>__<stream>`."""
    select = f'tag:{source}__{stream}'

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        select=select,
        name=f'dbt_{source}__{stream}',
        op_tags={'lotus/source': source, 'lotus/stream': stream, 'lotus/connector': connector},
    )
    def _stream_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        files = landed_files(context, source, stream)
        dbt_vars = {'files': files, 'file': landed_path(files, source, stream)}
        args = ['build', '--select', select, '--vars', json.dumps(dbt_vars)]
        yield from dbt.cli(args, context=context).stream()

    return _stream_assets


@dbt_assets(manifest=dbt_project.manifest_path, select='tag:marts', name='dbt_marts')
def marts_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    yield from dbt.cli(['build', '--select', 'tag:marts'], context=context).stream()


stream_assets = [
    build_dbt_assets(source, stream, config.get('connector', 'airbyte'))
    for source, stream, config in discover_streams()
]

defs = Definitions(
    assets=[*stream_assets, marts_assets],
    resources={
        'dbt': DbtCliResource(
            project_dir=dbt_project,
            profiles_dir=str(ORCHESTRATION_DIR),
            target=EnvVar('LOTUS_DBT_TARGET').get_value('dev'),
        ),
    },
)
