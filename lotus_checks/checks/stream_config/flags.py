"""LL509 and LL510: the `selected` and `backfill` flags. What `backfill` does is what the repo's
own Terraform makes of it, so LL510 reads the Terraform files that consume it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lotus_checks.checks.stream_config.rules import LL509
from lotus_checks.checks.stream_config.rules import LL510
from lotus_checks.checks.stream_config.stream import StreamFile
from lotus_checks.core.finding import Finding

if TYPE_CHECKING:
    from lotus_checks.lake.terraform import KeyReader


def flags(config: StreamFile) -> Iterator[Finding]:
    if "selected" not in config.data:
        line, column = config.at(())
        yield LL509.finding(
            config.path, line, column,
            f"{config.label} has no `selected` key (the generator treats it as selected)",
            hint='add "selected": true (or false to pause the stream)',
        )


def backfill(config: StreamFile, readers: list[KeyReader]) -> Iterator[Finding]:
    """LL510: what the repo's Terraform does with `backfill: true`; nothing when no Terraform
    reads it for this stream's source."""
    source = config.stream.source
    mine = [r for r in readers if source in r.sources] or [r for r in readers if not r.sources]
    if not mine:
        return
    reader = mine[0]
    where = f"`{reader.resource}` ({reader.path}:{reader.line})"
    connection = dict(reader.connections).get(source)
    if connection is not None:
        target = (f"the whole `{connection}` connection (every stream of it re-syncs its history, "
                  "not only this one)")
    else:
        target = "what it runs"
    line, column = config.at(("backfill",))
    if reader.every_apply:
        message = (f"{config.label} has `backfill: true`: Terraform's {where} resets {target} on "
                   "every apply while it stays true (its trigger changes each time)")
        hint = 'set "backfill": false as soon as the re-sync has started, and push again'
    else:
        message = (f"{config.label} has `backfill: true`: Terraform's {where} exists while a "
                   f"stream of {source} has it, and resets {target} once, on the apply that "
                   "creates it")
        hint = ('once the re-sync has completed, set "backfill": false and push, so that a later '
                "backfill resets again")
    yield LL510.finding(config.path, line, column, message, hint=hint)
