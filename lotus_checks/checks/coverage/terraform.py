"""LL307 (and LL007, Terraform that does not parse): every Airbyte source has a connection
reading its catalog, and every file path Terraform reads exists."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from lotus_checks.checks.coverage.lake import Lake
from lotus_checks.checks.coverage.lake import Place
from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.core.rules import Rule
from lotus_checks.repo.model import CATALOG_NAME

LL307 = Rule(
    "LL307",
    "terraform-coverage",
    "Airbyte source has no connection reading its catalog, or a Terraform file path is missing",
    explanation="""Two ways Terraform silently stops syncing what the repo says:

- an Airbyte source with stream configs has no `airbyte_connection` whose `sync_catalog` reads
  its `_catalog.json` (`jsondecode(file("${path.module}/.../<source>/_catalog.json"))`), so its
  streams are never synced. dlt sources (every stream `"connector": "dlt"`) have no connection and
  are skipped. When a connection's catalog path cannot be worked out statically (a variable, a
  local), this part is skipped rather than guessed.
- a `file(...)`, `templatefile(...)` or `fileset(...)` path built from `${path.module}` does not
  exist. A folder move breaks these, and the plan fails only after the push.

Fires on (the streams folder moved from `assets/streams` to `dag/streams`):
```hcl
sync_catalog = jsondecode(file("${path.module}/../../assets/streams/shopify/_catalog.json"))
```
Fixed:
```hcl
sync_catalog = jsondecode(file("${path.module}/../../dag/streams/shopify/_catalog.json"))
```""",
)


@dataclass(frozen=True)
class _Connection:
    path: str
    line: int
    reads: tuple[str, ...]  # catalog paths (or globs) its sync_catalog reads
    known: bool  # False: sync_catalog is built in a way that cannot be followed statically


def check_terraform(lake: Lake) -> Iterator[Finding]:
    from lotus_checks.checks.input import LL007
    from lotus_checks.lake.terraform import HclError

    parsed = []
    # Unreadable files are left out: reported by the repo as LL0xx.
    for path, hcl in lake.repo.terraform().items():
        if not isinstance(hcl, HclError):
            parsed.append((path, hcl))
        elif lake.ctx.enabled("LL007"):
            yield LL007.finding(
                path, hcl.line, hcl.column, hcl.message,
                hint="fix the syntax (`tofu validate` shows the same error)",
            )
    if lake.ctx.enabled("LL307"):
        yield from _missing_paths(lake, parsed)
        yield from _missing_connections(lake, parsed)


def terraform_in_scope(ctx: CheckContext) -> bool:
    """Terraform findings sit on .tf files, catalogs or stream configs: a run on other files
    (a commit touching only models) need not parse Terraform."""
    if ctx.targets is None:
        return True
    folders = (ctx.config.terraform + "/", ctx.config.streams + "/")
    return any(t.startswith(folders) for t in ctx.targets)


def _missing_paths(lake: Lake, parsed: list[tuple[str, Any]]) -> Iterator[Finding]:
    from lotus_checks.lake.terraform import resolve

    for path, hcl in parsed:
        module = posixpath.dirname(path)
        for call in hcl.calls:
            target = resolve(call, module)
            if target is None:
                continue
            outside = target == ".." or target.startswith("../")
            probe = lake.repo.is_dir if call.is_folder else lake.repo.is_file
            exists = not outside and probe(target)
            if exists:
                continue
            kind = "folder" if call.is_folder else "file"
            where = "outside the repository" if outside else "which does not exist"
            yield LL307.finding(
                path,
                call.line,
                call.column,
                f"`{call.function}()` reads {kind} `{target}`, {where}",
                hint=_path_hint(lake, module, target),
            )


def _path_hint(lake: Lake, module: str, target: str) -> str:
    """For a moved catalog, the path that reads it now; else a generic fix."""
    if posixpath.basename(target) == CATALOG_NAME:
        source = posixpath.basename(posixpath.dirname(target))
        if source in lake.repo.catalogs:
            rel = posixpath.relpath(lake.repo.catalogs[source], module)
            return f'the catalog of `{source}` is at {lake.repo.catalogs[source]}: read "${{path.module}}/{rel}"'
    return "fix the path (relative to the .tf file's folder) or restore the file"


def _connections(parsed: list[tuple[str, Any]]) -> list[_Connection]:
    from lotus_checks.lake.terraform import resolve_glob

    out = []
    for path, hcl in parsed:
        module = posixpath.dirname(path)
        for block in hcl.blocks:
            if block.type != "resource" or block.labels[:1] != ("airbyte_connection",):
                continue
            attribute = block.attribute("sync_catalog")
            if attribute is None:
                out.append(_Connection(path, block.line, (), known=True))
                continue
            reads = tuple(
                g for g in (resolve_glob(c, module) for c in attribute.calls if not c.is_folder)
                if g is not None
            )
            out.append(_Connection(path, block.line, reads, known=bool(reads)))
    return out


def _missing_connections(lake: Lake, parsed: list[tuple[str, Any]]) -> Iterator[Finding]:
    import fnmatch

    connections = _connections(parsed)
    if not all(c.known for c in connections):
        return  # some connection's catalog cannot be followed: do not guess which it reads
    reads = [r for c in connections for r in c.reads]
    for source in lake.repo.stream_sources:
        streams = lake.repo.streams_of(source)
        if not streams or all(lake.is_dlt(s) for s in streams):
            continue
        catalog = f"{lake.config.streams}/{source}/{CATALOG_NAME}"
        if any(r == catalog or fnmatch.fnmatchcase(catalog, r) for r in reads):
            continue
        # A connection reading a moved catalog already has its own finding (the path is gone).
        if any(r.endswith(f"/{source}/{CATALOG_NAME}") for r in reads):
            continue
        places = _source_blocks(parsed, source)
        if catalog in lake.repo.catalogs.values():
            places.append((catalog, None, None))
        places += [lake.stream_place(s) for s in streams]
        folder = lake.config.terraform
        rel = posixpath.relpath(catalog, folder)
        yield lake.place(
            LL307,
            places,
            f"Airbyte source `{source}` has stream configs but no `airbyte_connection` in "
            f"{folder} reads its catalog {catalog}: its streams are never synced",
            hint=f'add `resource "airbyte_connection" "{source}"` with '
            f'`sync_catalog = jsondecode(file("${{path.module}}/{rel}"))`',
        )


def _source_blocks(parsed: list[tuple[str, Any]], source: str) -> list[Place]:
    """The `airbyte_source_*` resource of a source (labelled with its name), if any."""
    out: list[Place] = []
    for path, hcl in parsed:
        for block in hcl.blocks:
            if (
                block.type == "resource"
                and len(block.labels) == 2
                and block.labels[0].startswith("airbyte_source_")
                and source in (block.labels[1], block.labels[0][len("airbyte_source_"):])
            ):
                out.append((path, block.line, block.column))
    return out
