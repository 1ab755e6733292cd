"""LL5xx: stream configs and source schemas, for what the generator and the platform read.

A stream config (`<streams>/<source>/<stream>.json`) says what is synced; the source schema
(`<sources>/<source>/<stream>.json`) says what the source offers. Both are the repo's own format:
its catalog generator decides what a field definition means, so field definitions are not judged
here (the catalog family judges what the generator makes of them, LL206/LL207). Here: the keys
the generator, Terraform and the dlt pipeline read (LL501), mode values per connector, keys among
the selected fields, agreement with the source schema, and what the repo's Terraform does with
`backfill`. Streams with `"connector": "dlt"` are loaded by a dlt pipeline: no catalog, no
Airbyte keys needed, and what only the pipeline's code can decide is a warning.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import TYPE_CHECKING

from lotus_checks.checks.stream_config.flags import backfill
from lotus_checks.checks.stream_config.flags import flags
from lotus_checks.checks.stream_config.modes import keys_for_modes
from lotus_checks.checks.stream_config.modes import keys_selected
from lotus_checks.checks.stream_config.modes import modes
from lotus_checks.checks.stream_config.rules import RULES
from lotus_checks.checks.stream_config.schema import SOURCE_SCHEMA_SCHEMA
from lotus_checks.checks.stream_config.schema import STREAM_CONFIG_SCHEMA
from lotus_checks.checks.stream_config.schema import document_findings
from lotus_checks.checks.stream_config.source import against_source
from lotus_checks.checks.stream_config.source import missing_source_schema
from lotus_checks.checks.stream_config.stream import AIRBYTE
from lotus_checks.checks.stream_config.stream import StreamFile
from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.repo.model import Stream

if TYPE_CHECKING:
    from lotus_checks.lake.terraform import KeyReader

__all__ = ["RULES", "check"]


def check(ctx: CheckContext) -> Iterator[Finding]:
    # The Terraform resources that read `backfill`: parsed once per run, and only when a
    # stream in scope has it true.
    readers = functools.cache(lambda: ctx.repo.terraform_key_readers("backfill"))
    for stream in ctx.repo.streams:
        if ctx.in_scope(stream.config_path):
            yield from _check_stream(ctx, stream, readers)
    for schema in ctx.repo.source_schemas:
        if ctx.in_scope(schema.path):
            doc = ctx.repo.json(schema.path)
            if doc is not None:  # else LL0xx already reported
                yield from document_findings(schema.path, doc, SOURCE_SCHEMA_SCHEMA)


def _check_stream(
    ctx: CheckContext, stream: Stream, readers: Callable[[], list[KeyReader]]
) -> Iterator[Finding]:
    doc = ctx.repo.json(stream.config_path)
    if doc is None:
        return  # LL0xx already reported
    yield from document_findings(stream.config_path, doc, STREAM_CONFIG_SCHEMA)
    if not isinstance(doc.data, dict):
        return
    config = StreamFile(stream, doc, ctx.config.generator)
    source = _source_doc(ctx, stream)
    yield from modes(config)
    yield from keys_selected(config)
    if source is not None:
        yield from against_source(config, source, stream.schema_path or "")
    elif stream.schema_path is None and config.connector == AIRBYTE:
        yield missing_source_schema(config, ctx.config.sources)
    yield from keys_for_modes(config, source)
    yield from flags(config)
    if config.data.get("backfill") is True:
        yield from backfill(config, readers())


def _source_doc(ctx: CheckContext, stream: Stream) -> dict[str, Any] | None:
    if stream.schema_path is None:
        return None
    doc = ctx.repo.json(stream.schema_path)
    return doc.data if doc is not None and isinstance(doc.data, dict) else None

