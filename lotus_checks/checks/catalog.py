"""LL2xx: every `_catalog.json` against a fresh run of the repo's own generator.

The generator (config key `generator`) is the source of truth for the exact bytes. It runs once
per lotus-check run at most, on a temporary copy of its inputs (see `lotus_checks.lake.generator`), and
only when something that can change a catalog is being checked. The committed catalog is compared
as parsed JSON first (LL201, what Terraform hands to Airbyte), then as bytes (LL205, formatting).

With a file list (pre-commit), a finding about a catalog that is not in the list is reported on
the listed file that made it stale (the stream config or source schema), so that a stream config
committed without regenerating is caught at that commit.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from posixpath import dirname
from typing import TYPE_CHECKING
from collections.abc import Iterator

from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.loaders import JsonDoc
from lotus_checks.core.loaders import LoadError
from lotus_checks.core.rules import Rule

if TYPE_CHECKING:
    from lotus_checks.lake.catalog_diff import Drift
    from lotus_checks.lake.catalog_schema import Problem

LL201 = Rule(
    "LL201",
    "catalog-drift",
    "`_catalog.json` differs from what the catalog generator produces",
    fixable=True,
    explanation="""The committed `_catalog.json` does not hold what the repo's own catalog
generator (config key `generator`) writes from the stream configs and source schemas today.
Terraform reads this file to configure the production Airbyte connection, so a hand edit changes
production behind the stream configs' back, and a stream config committed without regenerating
changes nothing at all.

lotus-check runs the generator on a temporary copy of the stream configs, source schemas and the
generator itself (never on the working tree) and compares the parsed JSON. The message names the
stream and the key that differ; the hint says whether it looks like a hand edit (only the catalog
changed) or a stale catalog (a stream config or source schema changed, the catalog did not),
using pre-commit's file list or `git status`.

Fires on: `streams/shopify/customers.json` says `"sync_mode": "full_refresh"`, but the catalog
was hand-edited:

```json
{"stream": {"name": "customers", ...},
 "config": {"sync_mode": "incremental", ...}}
```

```text
_catalog.json:42:9: LL201 stream customers: config.sync_mode is "incremental" in the catalog
but the generator gives "full_refresh"
```

Other messages: `stream customers: regenerating adds email to selected_fields` (a field was added
to the stream config without regenerating), `stream customers: json_schema changed
(properties.email.description ...)` (a source schema changed).

Fix: make the change in the stream config (or source schema), then regenerate:
`python orchestration/airbyte/generate-catalog.py`, or `lotus-check --fix`, which writes the
generator's bytes to the drifted catalogs (atomically) and touches nothing else.""",
)

LL202 = Rule(
    "LL202",
    "catalog-missing",
    "source with Airbyte stream configs has no `_catalog.json`",
    fixable=True,
    explanation="""A source folder under the streams folder has stream configs synced by Airbyte,
but no `_catalog.json`. Terraform's `airbyte_connection` reads the catalog with
`jsondecode(file(...))`: without it the plan fails (or, for a new source, the connection is never
created).

Streams loaded by dlt (`"connector": "dlt"`) have no catalog; a source whose streams are all dlt
is not expected to have one.

Fires on: `streams/stripe/charges.json` exists, `streams/stripe/_catalog.json` does not.

Fix: run the generator (`python orchestration/airbyte/generate-catalog.py`) or
`lotus-check --fix`, and commit the new catalog.""",
)

LL203 = Rule(
    "LL203",
    "catalog-orphan",
    "`_catalog.json` for a source with no Airbyte stream configs",
    severity=Severity.WARNING,
    explanation="""A `_catalog.json` sits in a source folder that has no stream configs (they
were deleted or moved), or whose stream configs are all loaded by dlt (`"connector": "dlt"`).
The generator no longer writes this file, so it never changes again, and any Terraform
connection still reading it keeps syncing streams nobody configures (for a dlt source: the same
data loaded twice). A warning: the apply still succeeds and no data is lost; what remains is a
leftover that costs syncs and misleads readers.

Fires on: `streams/legacy_crm/_catalog.json` with no other `.json` file in `streams/legacy_crm/`.

Fix: delete the catalog (and the Terraform connection that reads it), or restore the stream
configs if the source is still wanted.""",
)

LL204 = Rule(
    "LL204",
    "catalog-generator-failed",
    "the catalog generator failed, so the catalogs cannot be checked",
    explanation="""Running the configured generator (config key `generator`) on a temporary copy
of the stream configs and source schemas failed: it does not exist, exited non-zero, raised, ran
past `generator-timeout` seconds, or ran but wrote no catalog for a source that has Airbyte
stream configs. Real generators break when folders move: a generator still looking in
`assets/streams` after the streams moved to `dag/streams` prints "No stream definitions found".
The message carries the last line of its output, the hint the tail (paths in the temporary copy
shown relative to the root, secret values shown as `[redacted $NAME]`). On Linux, where the
kernel allows namespaces, the working tree is read-only for the generator: one that writes there
instead of below its own location fails with "may have tried to write into the working tree"
and the path it tried.

An error: until the generator runs, no change to a stream config can reach Airbyte (the
catalogs cannot be regenerated), and nothing about the catalogs is checked. When it dies with a
`KeyError` on a key an Airbyte stream config lacks (`sync_mode`), LL501 reports that stream
config instead (one root cause, one finding). A warning instead when the generator imports a
package the Python running lotus-check does not have (`ModuleNotFoundError`: pre-commit's and
the Action's environments hold only lotus-check's packages): the repo is fine, the catalogs are
just not checked there; install the package where lotus-check runs.

Fires on: a generator that raises on a stream config it cannot read, or
`generator = "orchestration/airbyte/generate-catalog.py"` when the script was renamed (or is
a folder). A generator that needs an environment variable gets it through `generator-env` (when
it dies on `KeyError: 'NAME'` for a variable set in lotus-check's environment, the hint says so).

Fix: run the generator yourself to see the whole error (`python <generator>`), fix the stream
config or the generator's paths, or point `generator` in `lotus-check.toml` at the right script.
""",
)

LL205 = Rule(
    "LL205",
    "catalog-formatting",
    "`_catalog.json` holds the generator's content but not its exact bytes",
    severity=Severity.WARNING,
    fixable=True,
    explanation="""The committed catalog parses to the same JSON the generator produces, but its
bytes differ: key order, indentation, whitespace, a missing final newline or a byte-order mark.
Terraform sees no difference, so this is a warning; but the next regeneration rewrites the whole
file, burying the real change of that commit in a formatting diff.

Fires on: a catalog re-indented by an editor (`"streams": [` with 4 spaces where the generator
writes 2).

Fix: `python orchestration/airbyte/generate-catalog.py` or `lotus-check --fix`; keep editors and
formatters (prettier, IDE JSON formatting) away from `_catalog.json`.""",
)

LL206 = Rule(
    "LL206",
    "catalog-invalid-json-schema",
    "a stream's generated `json_schema` is not valid JSON Schema",
    explanation="""The generator copies each selected field's definition (from the source schema
when there is one, else from the stream config) into the catalog's `json_schema`, which Terraform
hands to Airbyte. Airbyte rejects a catalog whose schema is not valid JSON Schema (Draft 7), so
the Terraform apply fails. lotus-check validates what the repo's own generator writes (decoding
the JSON-encoded strings) and reports each problem at the line of the field definition that
produced it. Any JSON Schema keyword is fine (`anyOf` without `type`, `additionalProperties`,
`enum`, type lists, `airbyte_type`, tuple `items`); only a keyword with a value of the wrong
shape is reported, once per branch (nothing is reported below it).

Fires on (`required` must be a list of names in Draft 7):
```json
"customer": {"type": "object", "required": true, "properties": {"id": {"type": "integer"}}}
```
Fix: `"required": ["id"]` (or drop it), then regenerate the catalog.""",
)

LL207 = Rule(
    "LL207",
    "field-type-rejected",
    "a selected field's type is one the destination cannot write",
    explanation="""Checked on the catalog the repo's own generator writes, which is what the
destination receives: every type name in a selected field's schema must be a JSON type
(`string`, `integer`, `number`, `boolean`, `object`, `array`, `null`). Discovery sometimes yields
`unknown`; on a selected field the destination cannot map it (the S3 Parquet destination fails
the sync), so no data lands. A field whose type is wrong is reported alone (nothing nested in
it), at the line of its definition in the source schema (or the stream config when the stream
has no source schema); the same mistake repeated in one file is one finding that gives the count.
A stream with `"selected": false` gets a warning (it does not sync). Fields nobody selects do
not reach the catalog and are not reported; a field without any `type` is what the generator
makes of it (the reference generator writes `string`).

Fires on:
```json
"metadata": {"type": "unknown"}
```
Fix: `"metadata": {"type": "object"}` (the type the data really has), or stop selecting the
field; then regenerate the catalog.""",
)

LL208 = Rule(
    "LL208",
    "catalog-shape",
    "the generated catalog does not have the shape Airbyte reads",
    explanation="""The generated `_catalog.json` is the `sync_catalog` Terraform hands to the
Airbyte provider: `{"streams": [{"stream": {...}, "config": {...}}]}`, each `stream` with a
`name`, a `json_schema` object and non-empty `supportedSyncModes`, each `config` with string
modes, `cursor_field` a list of names, `primary_key` a list of field paths, `selected` a
boolean, and `selected_fields` naming fields of the schema. Anything else fails the apply. A
value copied unchanged from a stream config is reported there (LL501/LL502), not again here, so
this rule speaks about what the generator itself writes.

Fires on: a generator that writes `"selected_fields": ["id"]` instead of
`[{"field_path": ["id"]}]`.

Fix: fix the generator (or the stream config key it reads), then regenerate.""",
)

LL210 = Rule(
    "LL210",
    "catalog-generator-changed-tree",
    "files the catalog generator could write changed while lotus-check ran it",
    explanation="""lotus-check runs the repo's generator on a temporary copy of its inputs and
reads the catalogs back from the copy. This generator wrote into the working tree instead (or
as well): it found the tree through its parent process's working folder, an absolute path built
at run time, or the location of the Python interpreter when the virtualenv sits in the repo.
Then every lint run changes files behind the user's back (a hand edit in a catalog is
overwritten; a half-written file is committed), and the comparison means nothing: the files
checked are no longer the files committed. The catalogs are not compared in such a run.

On Linux, where the kernel allows unprivileged namespaces, the working tree is read-only for the
generator, so such a write fails instead (LL204: "may have tried to write into the working
tree"). Where it is not read-only, lotus-check compares the content of every file in the
generator's folder and below the streams and sources folders before the run and as soon as the
generator and all it started are gone; this finding names what changed. It cannot tell the
generator's write from another program's in that window (an editor saving a stream config at
that moment): the message says "by it or another program".

Fires on: a generator that writes to
`Path(os.readlink(f"/proc/{os.getppid()}/cwd")) / "orchestration/assets/streams/..."`.

Fix: make the generator find its files from its own location
(`Path(__file__).resolve().parents[1] / "assets" / "streams"`), then look at `git diff` for what
it changed and restore what it should not have.""",
)

RULES = (LL201, LL202, LL203, LL204, LL205, LL206, LL207, LL208, LL210)

# Rules that need the generator's output (LL202 and LL203 only need the file inventory).
_GENERATED_RULES = ("LL201", "LL204", "LL205", "LL206", "LL207", "LL208", "LL210")
# The findings rewriting a catalog resolves (LL002: a catalog that is not JSON, as after a merge).
_REPAIRED_RULES = ("LL201", "LL202", "LL205", "LL002")
# Findings about one catalog's drift: past this many, one more finding gives the count of the
# rest (a catalog of 100,000 hand-made entries is one mistake, not 100,000).
MAX_DRIFT_FINDINGS = 20
# Streams named in a finding that groups several with the same difference.
SHOWN_STREAMS = 3
_VALIDATION_RULES = {"schema": LL206, "type": LL207, "shape": LL208}
# Stream config keys LL501 reports as missing on an Airbyte stream.
_READ_KEYS = frozenset({"stream", "fields", "sync_mode", "destination_sync_mode"})
# How many positions a finding for a repeated mistake lists.
SHOWN_REPEATS = 3


def check(ctx: CheckContext) -> Iterator[Finding]:
    return iter(_Evaluation(ctx, fixing=False).findings)


def fix(ctx: CheckContext) -> dict[str, bytes]:
    """The generator's bytes for the drifted or missing catalogs the run reported (path ->
    bytes)."""
    evaluation = _Evaluation(ctx, fixing=True)
    return {
        path: data for path, data in evaluation.repairs.items()
        if ctx.is_reported(_REPAIRED_RULES, path, *evaluation.repair_places[path])
    }


def _unpassed_variable(last_line: str, passed: tuple[str, ...]) -> str | None:
    """The environment variable a generator died on (`KeyError: 'AIRBYTE_WORKSPACE_ID'`) when
    lotus-check has it but does not pass it: the generator works in the user's shell."""
    import os
    import re

    found = re.fullmatch(r"KeyError: '([A-Za-z_][A-Za-z0-9_]*)'", last_line)
    if found is None:
        return None
    name = found.group(1)
    return name if name in os.environ and name not in passed else None


@dataclass
class _Source:
    name: str
    catalog: str
    # "airbyte": at least one Airbyte stream config; "dlt": all dlt; "empty": no stream configs;
    # "unknown": a stream config does not load (its LL0xx finding says why).
    kind: str
    inputs: list[str] = field(default_factory=list)


class _Evaluation:
    """One look at every catalog: the findings, and what --fix would write."""

    def __init__(self, ctx: CheckContext, fixing: bool):
        self.ctx = ctx
        self.config = ctx.config
        self.findings: list[Finding] = []
        self.repairs: dict[str, bytes] = {}
        # catalog -> the inputs its findings may be placed on instead (what a fix resolves)
        self.repair_places: dict[str, list[str]] = {}
        # LL206-LL208 problems of the generated catalogs by (file, code, kind of mistake)
        self._problems: dict[tuple[str, str, str], list[_Located]] = {}
        if not self._touches_catalogs():
            return
        sources = self._sources()
        wanted = fixing or any(ctx.enabled(code) for code in _GENERATED_RULES)
        airbyte = [s for s in sources if s.kind == "airbyte"]
        compare = wanted and airbyte and self._inputs_load()
        self._inventory_findings(sources)
        if compare:
            self._compare(airbyte, fixing)

    # ---- scope -------------------------------------------------------------------------------

    def _touches_catalogs(self) -> bool:
        """Only stream configs, source schemas, catalogs and the generator can change a finding."""
        targets = self.ctx.targets
        return targets is None or any(self._affects_catalogs(path) for path in targets)

    def _affects_catalogs(self, path: str) -> bool:
        config = self.config
        if path.startswith((config.streams + "/", config.sources + "/")):
            return True
        folder = dirname(config.generator)  # every file there is copied for it (lake/generator.py)
        return path in self._generator_files or bool(folder) and path.startswith(folder + "/")

    @cached_property
    def _generator_files(self) -> list[str]:
        """The generator and the Python files beside it (it may import them)."""
        folder = dirname(self.config.generator)
        files = [self.config.generator]
        names = self.ctx.repo.files_in(folder, ".py")
        files += [f"{folder}/{n}" if folder else n for n in names]
        return list(dict.fromkeys(files))

    def _generator_home(self, sources: list[_Source]) -> str | None:
        """Where a finding about the generator's run goes: the generator, else the first of the
        catalogs and stream configs it worked on that the run reports on."""
        return self._home(self.config.generator,
                          [p for s in sources for p in [s.catalog, *s.inputs]])

    def _home(self, preferred: str, candidates: list[str]) -> str | None:
        """Where a finding is reported: `preferred` when it is in scope, else the first in-scope
        candidate (a listed stream config made the catalog stale), else nowhere."""
        if self.ctx.in_scope(preferred):
            return preferred
        return next((c for c in candidates if self.ctx.in_scope(c)), None)

    # ---- inventory ---------------------------------------------------------------------------

    def _sources(self) -> list[_Source]:
        repo = self.ctx.repo
        schemas: dict[str, list[str]] = {}
        for schema in repo.source_schemas:
            schemas.setdefault(schema.source, []).append(schema.path)
        out = []
        for name in repo.stream_sources:
            streams = repo.streams_of(name)
            catalog = f"{self.config.streams}/{name}/_catalog.json"
            inputs = [s.config_path for s in streams] + schemas.get(name, [])
            out.append(_Source(name, catalog, _kind(self.ctx, streams), inputs))
        return out

    def _inventory_findings(self, sources: list[_Source]) -> None:
        for source in sources:
            # Anything at the path (a folder, a FIFO, a dangling link) has its LL001 instead.
            exists = source.name in self.ctx.repo.catalogs
            if source.kind == "airbyte" and not exists and self.ctx.enabled("LL202"):
                self._add_missing(source)
            elif source.kind in ("empty", "dlt") and exists and self.ctx.enabled("LL203"):
                self._add_orphan(source)

    def _add_missing(self, source: _Source) -> None:
        home = self._home(source.catalog, source.inputs)
        if home is None:
            return
        where = "" if home == source.catalog else f" ({source.catalog})"
        self.findings.append(
            LL202.finding(
                home,
                message=f"source {source.name} has Airbyte stream configs but no "
                f"_catalog.json{where}; Terraform reads it to configure the connection",
                hint=f"run {self._command} (or `lotus-check --fix`) and commit the catalog",
            )
        )

    def _add_orphan(self, source: _Source) -> None:
        if source.kind == "dlt":
            why = f"every stream of {source.name} is loaded by dlt (\"connector\": \"dlt\")"
        else:
            why = f"{self.config.streams}/{source.name}/ has no stream configs"
        self.findings.append(
            LL203.finding(
                source.catalog,
                message=f"catalog for a source with no Airbyte streams: {why}; the generator "
                "no longer writes this file",
                hint="delete it (and any Terraform connection that reads it), or restore the "
                "stream configs",
            )
        )

    def _inputs_load(self) -> bool:
        """A stream config or source schema that does not parse already has its LL0xx finding;
        the generator would only crash on it."""
        repo = self.ctx.repo
        paths = [s.config_path for s in repo.streams] + [s.path for s in repo.source_schemas]
        return all(repo.json(path) is not None for path in paths)

    # ---- comparison --------------------------------------------------------------------------

    def _compare(self, sources: list[_Source], fixing: bool) -> None:
        result = self.ctx.repo.generator_run()
        if result.changed:
            self._add_tree_changed(result.changed, sources)
            return
        if not result.ok:
            if not self._missing_key_reported(result.output):
                self._add_failure(result.error or "", result.output, sources)
            return
        if not result.catalogs and not result.oversized:
            self._add_failure("the generator exited 0 but wrote no catalog", result.output,
                              sources)
            return
        for source in sources:
            generated = result.catalogs.get(source.name)
            if source.name in result.oversized:
                self._add_oversized(source, result.oversized[source.name])
                continue
            if generated is None:
                self._add_failure(
                    f"the generator wrote no catalog for {source.name}, which has Airbyte "
                    "stream configs", result.output, [source])
                continue
            self._compare_source(source, generated, fixing)
        self._add_problems()

    def _compare_source(self, source: _Source, generated: bytes, fixing: bool) -> None:
        repo = self.ctx.repo
        self.repair_places[source.catalog] = source.inputs + self._generator_files
        if self._home(source.catalog, source.inputs + self._generator_files) is None:
            return
        # A catalog committed as generated (most are) was parsed already, by the input checks.
        up_to_date = self._committed_doc(source, generated)
        try:
            new = up_to_date.data if up_to_date is not None else json.loads(generated)
        except (ValueError, RecursionError):
            self._add_failure(f"the generator wrote invalid JSON for {source.name}", "", [source])
            return
        if not fixing:
            self._validate(source, generated, new)
        if up_to_date is not None:
            return
        if source.name not in self.ctx.repo.catalogs:
            if fixing and self.ctx.enabled("LL202"):
                self.repairs[source.catalog] = generated
            return
        if not self.ctx.repo.is_file(source.catalog):
            return  # a folder, a FIFO, a dangling link: LL001 says so; --fix leaves it alone
        # Through the repo model first: it refuses links out of the repo and oversized files.
        doc = self.ctx.repo.json(source.catalog)
        if doc is None:  # unparseable (LL002 says so): regenerating is the fix, e.g. after a merge
            if fixing and self.ctx.enabled("LL201") and not repo.is_link(source.catalog):
                self.repairs[source.catalog] = generated
            return
        try:
            committed = repo.raw_bytes(source.catalog)
        except LoadError:
            return  # the input checks report unreadable files
        if committed == generated:
            return
        from lotus_checks.lake.catalog_diff import diff_catalogs

        drifts = diff_catalogs(doc.data, new)
        code = "LL201" if drifts else "LL205"
        if fixing:
            if self.ctx.enabled(code) and not repo.is_link(source.catalog):
                self.repairs[source.catalog] = generated
            return
        if drifts:
            self._add_drifts(source, drifts)
        else:
            self._add_formatting(source, committed, generated)

    def _committed_doc(self, source: _Source, generated: bytes) -> JsonDoc | None:
        """The committed catalog, parsed, when its bytes are the generated ones; else None."""
        repo = self.ctx.repo
        if source.name not in repo.catalogs or not repo.is_file(source.catalog):
            return None
        doc = repo.json(source.catalog)
        if doc is None:
            return None
        try:
            return doc if repo.raw_bytes(source.catalog) == generated else None
        except LoadError:
            return None

    # ---- what the platform receives ------------------------------------------------------------

    def _validate(self, source: _Source, generated: bytes, catalog: object) -> None:
        """LL206-LL208 on one generated catalog (`catalog` is the bytes `generated` parsed), at
        the inputs' lines (collected: a mistake repeated in one file, the generator's included,
        becomes one finding)."""
        for problem in self.ctx.repo.catalog_problems(generated, catalog):
            rule = _VALIDATION_RULES[problem.kind]
            if not self.ctx.enabled(rule.code):
                continue
            located = self._locate(source, problem, catalog)
            if located is not None:
                key = (located.home, rule.code, problem.same_as)
                self._problems.setdefault(key, []).append(located)

    def _add_problems(self) -> None:
        codes = {rule.code: rule for rule in _VALIDATION_RULES.values()}
        for (home, code, _), found in self._problems.items():
            found.sort(key=lambda f: (f.line or 0, f.column or 0))
            first = found[0]
            message = first.message
            if len(found) > 1:
                shown = ", ".join(f"`{f.label}`" + (f" (line {f.line})" if f.line else "")
                                  for f in found[1:1 + SHOWN_REPEATS])
                more = len(found) - 1 - SHOWN_REPEATS
                places = "stream(s)" if home == self.config.generator else "place(s) in this file"
                message += (f"; the same in {len(found) - 1} more {places}: {shown}"
                            + (f" and {more} more" if more > 0 else ""))
            severity = first.severity if all(f.severity == first.severity for f in found) \
                else Severity.ERROR
            self.findings.append(codes[code].finding(
                home, first.line, first.column, message, hint=first.hint, severity=severity))

    def _locate(self, source: _Source, problem: Problem, catalog: object) -> _Located | None:
        """Where a problem of the generated catalog comes from: the field definition (source
        schema, else stream config), the stream config key, or the generator itself."""
        from lotus_checks.lake.catalog_diff import same

        repo = self.ctx.repo
        stream = repo.stream(source.name, problem.stream) if problem.stream else None
        label = problem.stream or source.name
        selected = _entry_selected(catalog, problem.catalog_path)
        severity = Severity.ERROR if selected else Severity.WARNING
        regenerate = f"then regenerate: {self._command}"
        config_doc = repo.json(stream.config_path) if stream is not None else None
        config = config_doc.data if config_doc is not None and isinstance(config_doc.data, dict) \
            else None
        preferred, json_path = self.config.generator, None
        field = problem.field
        if stream is not None and config_doc is not None and field is not None:
            preferred, doc = stream.config_path, config_doc
            schema_doc = repo.json(stream.schema_path) if stream.schema_path else None
            offered = schema_doc.data.get("fields") if schema_doc is not None \
                and isinstance(schema_doc.data, dict) else None
            if schema_doc is not None and isinstance(offered, dict) and field in offered:
                preferred, doc = stream.schema_path or preferred, schema_doc
            json_path = _input_path(doc.data, ("fields", field), (problem.schema_path or ())[2:])
        elif config is not None and problem.config_key is not None:
            key = problem.config_key
            if key in config and same(config[key], _at(catalog, problem.catalog_path[:3] + (key,))):
                return None  # copied unchanged: LL501/LL502 report it on the stream config
            # otherwise the generator wrote it: reported at the generator
        home = self._home(preferred, [source.catalog] + source.inputs + self._generator_files)
        if home is None:
            return None
        line = column = None
        if json_path is not None and home == preferred:
            at = repo.json(preferred)
            line, column = at.position(json_path) if at is not None else (None, None)
        shown = _field_label(problem.schema_path) if field is not None else None
        where = f"stream `{source.name}/{label}`" if problem.stream else f"source `{source.name}`"
        where += f": field `{shown}`" if shown else ""
        elsewhere = "" if home == preferred else f" (from {preferred})"
        if problem.kind == "type":
            message = (f"{where} has {problem.detail}, which the destination cannot write (the "
                       f"S3 Parquet destination fails the sync){elsewhere}")
            hint = (f"set the type its data has (`string`, `object`, ...) in {preferred}, or stop "
                    f"selecting the field in {stream.config_path if stream else 'its stream config'}; "
                    + regenerate)
        elif problem.kind == "schema":
            message = (f"{where}: the generated json_schema is not valid JSON Schema (Draft 7), "
                       f"Airbyte rejects it: {problem.detail}{elsewhere}")
            hint = (f"fix the definition in {preferred} (the generator copies it into the "
                    f"catalog); {regenerate}" if field is not None
                    else f"fix what the generator writes; {regenerate}")
        else:  # the catalog's shape: what the generator itself writes
            message = f"{where}: in the generated catalog, {problem.detail}, which Airbyte " \
                f"rejects{elsewhere}"
            hint = f"fix what the generator writes; {regenerate}"
        label = shown or (label if home != self.config.generator else f"{source.name}/{label}")
        return _Located(home, line, column, label, message, hint, severity)

    def _add_drifts(self, source: _Source, drifts: list[Drift]) -> None:
        """One finding per difference; streams with the very same difference share one finding
        (their count and first names), and past MAX_DRIFT_FINDINGS one more gives the rest."""
        from lotus_checks.lake.catalog_diff import Drift

        groups: dict[object, list[Drift]] = {}
        for drift in drifts:
            key = drift.changes if drift.stream is not None else (id(drift),)
            groups.setdefault(key, []).append(drift)
        shown = list(groups.values())[:MAX_DRIFT_FINDINGS]
        for group in shown:
            self._add_drift(source, group[0], others=group[1:])
        rest = sum(len(group) for group in list(groups.values())[MAX_DRIFT_FINDINGS:])
        if rest:
            more = (f"and {rest:,} more difference(s) in this catalog (run the generator to see "
                    "the whole change)")
            self._add_drift(source, Drift(None, ("streams",), (more,)))

    def _add_drift(self, source: _Source, drift: Drift, others: list[Drift] | None = None) -> None:
        from lotus_checks.lake.catalog_diff import Drift

        assert isinstance(drift, Drift)
        if others:
            names = [d.stream for d in [drift, *others]]
            more = len(names) - SHOWN_STREAMS
            listed = ", ".join(str(n) for n in names[:SHOWN_STREAMS]) + (
                f" and {more:,} more" if more > 0 else "")
            drift = Drift(None, drift.path, (f"{len(names):,} streams ({listed}): "
                                             + Drift(None, drift.path, drift.changes).describe(),),
                          drift.fields, drift.config_keys)
        stream = self.ctx.repo.stream(source.name, drift.stream) if drift.stream else None
        near = [stream.config_path] if stream else []
        if stream and stream.schema_path:
            near.append(stream.schema_path)
        home = self._home(source.catalog, near + source.inputs + self._generator_files)
        if home is None:
            return
        if home == source.catalog:
            doc = self.ctx.repo.json(source.catalog)
            line, column = doc.position(drift.path) if doc else (None, None)
            message = drift.describe()
        else:
            line, column = self._position_in_input(home, drift)
            message = f"{source.catalog} is out of date: {drift.describe()}"
        self.findings.append(
            LL201.finding(home, line, column, message, hint=self._drift_hint(source))
        )

    def _position_in_input(self, path: str, drift: object) -> tuple[int | None, int | None]:
        """The stream config key (or source schema field) a drift comes from."""
        from lotus_checks.lake.catalog_diff import Drift

        assert isinstance(drift, Drift)
        doc = self.ctx.repo.json(path) if path.endswith(".json") else None
        if doc is None:
            return None, None
        is_config = path.startswith(self.config.streams + "/")
        if drift.fields:
            return doc.position(("fields", drift.fields[0]))
        if is_config and drift.config_keys:
            return doc.position((drift.config_keys[0],))
        return None, None

    def _add_formatting(self, source: _Source, committed: bytes, generated: bytes) -> None:
        if not self.ctx.enabled("LL205"):
            return
        home = self._home(source.catalog, source.inputs + self._generator_files)
        if home is None:
            return
        line = _first_different_line(committed, generated)
        at_catalog = home == source.catalog
        self.findings.append(
            LL205.finding(
                home,
                line if at_catalog else None,
                1 if at_catalog else None,
                "same content as the generator's output but different bytes (key order, "
                f"indentation or whitespace; first difference on line {line})"
                + ("" if at_catalog else f" in {source.catalog}"),
                hint=f"run {self._command} (or `lotus-check --fix`); keep formatters away from "
                "generated catalogs",
            )
        )

    def _add_tree_changed(self, changed: tuple[str, ...], sources: list[_Source]) -> None:
        if not self.ctx.enabled("LL210"):
            return
        home = self._generator_home(sources)
        if home is None:
            return
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5:,} more"
                                          if len(changed) > 5 else "")
        self.findings.append(LL210.finding(
            home,
            message=f"files the catalog generator could write changed while lotus-check ran it "
            f"on a copy (by it or another program): {shown}; the catalogs were not compared",
            hint="if nothing else was editing these files, make the generator find its files "
            "from its own location (`Path(__file__).resolve().parents[1]`), not from its "
            "parent's working folder, an absolute path or the interpreter's location; see "
            "`git status` / `git diff` for what changed, then run lotus-check again",
        ))

    def _add_oversized(self, source: _Source, size: int) -> None:
        from lotus_checks.checks.input import LL008

        if not self.ctx.enabled("LL008"):
            return
        home = self._home(source.catalog, source.inputs + self._generator_files)
        if home is None:
            return
        limit = self.config.max_file_size
        self.findings.append(LL008.finding(
            home,
            message=f"the generator writes a {size:,}-byte catalog for {source.name}, over "
            f"max-file-size ({limit:,} bytes); it was not compared",
            hint="check the stream configs and source schemas for what makes it this large, or "
            "raise `max-file-size` in lotus-check.toml if it is legitimate",
        ))

    def _missing_key_reported(self, output: str) -> bool:
        """Whether the generator died on a key an Airbyte stream config does not have
        (`KeyError: 'sync_mode'`), which LL501 reports at that stream config: one root cause,
        one finding."""
        import re

        if not self.ctx.enabled("LL501"):
            return False
        found = re.search(r"KeyError: '([^'\n]+)'\s*$", output)
        if found is None:
            return False
        key = found.group(1)
        for stream in self.ctx.repo.streams:
            doc = self.ctx.repo.json(stream.config_path)
            data = doc.data if doc is not None else None
            if isinstance(data, dict) and data.get("connector") != "dlt" and key not in data \
                    and key in _READ_KEYS:
                return True
        return False

    def _add_failure(self, error: str, output: str, sources: list[_Source]) -> None:
        if not self.ctx.enabled("LL204"):
            return
        home = self._generator_home(sources)
        if home is None:
            return
        last = output.strip().splitlines()[-1].strip() if output.strip() else ""
        message = f"catalog generator failed, so the catalogs were not checked: {error}"
        if last:
            message += f": {last}"
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-5:])
        hint = f"run {self._command} to see the whole output"
        if tail:
            hint = f"its output ended with: {tail}; " + hint
        variable = _unpassed_variable(last, self.config.generator_env)
        if variable is not None:
            hint = (f"{variable} is set here but the generator does not get it: add it to "
                    f"`generator-env` in lotus-check.toml (generator-env = [\"{variable}\"]); "
                    + hint)
        hint += "; if the generator moved, set `generator` in lotus-check.toml"
        missing = _MISSING_MODULE.search(last)
        if missing is not None:
            # Usually the repo's code is fine: the Python running lotus-check lacks a package
            # the generator imports (pre-commit's and the Action's environments hold only
            # lotus-check's). Nothing breaks on a push; the catalogs are not checked here.
            module = missing.group(1)
            self.findings.append(LL204.finding(
                home,
                message=f"the catalog generator imports `{module}`, which the Python running "
                f"lotus-check ({sys.executable}) does not have, so the catalogs were not checked",
                hint=f"install `{module}` where lotus-check runs (pre-commit: "
                f"`additional_dependencies: [{module.split('.')[0]}]` on the hook; the Action: "
                "in the job before it); if it is a module of the repo's own, it must sit beside "
                "the generator",
                severity=Severity.WARNING,
            ))
            return
        self.findings.append(LL204.finding(home, message=message, hint=hint))

    # ---- hints -------------------------------------------------------------------------------

    @cached_property
    def _command(self) -> str:
        return f"`python {shlex.quote(self.config.generator)}`"

    @cached_property
    def _changed(self) -> frozenset[str] | None:
        """Files changed in this commit: pre-commit's list, else `git status`, else unknown."""
        if self.ctx.targets is not None:
            return self.ctx.targets
        return self.ctx.repo.git_changed()

    def _drift_hint(self, source: _Source) -> str:
        fix_it = f"run {self._command} (or `lotus-check --fix`)"
        if self.ctx.repo.is_link(source.catalog):
            fix_it = f"run {self._command} (`lotus-check --fix` does not write through links)"
        changed = self._changed
        if changed is None:
            return f"the catalog is generated: {fix_it} and commit the result"
        inputs = [p for p in source.inputs + self._generator_files if p in changed]
        if source.catalog in changed and not inputs:
            return ("looks like a hand edit: the catalog is generated and the next regeneration "
                    "undoes it; make the change in the stream config (or source schema), then "
                    + fix_it)
        if inputs and source.catalog not in changed:
            shown = ", ".join(inputs[:2]) + (" and more" if len(inputs) > 2 else "")
            return f"stale catalog: {shown} changed but the catalog was not regenerated; {fix_it} " \
                "and commit the catalog"
        if inputs:
            return ("the catalog and its stream configs both changed but disagree (edited by "
                    f"hand, or regenerated before the last change); {fix_it}")
        return f"the catalog is generated: {fix_it} and commit the result"


@dataclass(frozen=True)
class _Located:
    """A problem of the generated catalog at the input that produced it."""

    home: str
    line: int | None
    column: int | None
    label: str
    message: str
    hint: str
    severity: Severity


def _at(data: object, path: tuple[object, ...]) -> object:
    """The value at `path` in JSON data, or None where the path does not lead."""
    for step in path:
        found = (isinstance(data, dict) and step in data) or (
            isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data))
        if not found:
            return None
        data = data[step]  # type: ignore[index]
    return data


def _entry_selected(catalog: object, path: tuple[object, ...]) -> bool:
    """Whether the stream entry a path is in is selected (a stream not selected does not sync)."""
    return _at(catalog, tuple(path[:2]) + ("config", "selected")) is not False


def _input_path(data: object, base: tuple[object, ...], rest: tuple[object, ...]) -> tuple[object, ...]:
    """The path, in a stream config or source schema, of what the generator wrote at `rest`
    below the field `base`: the same keys, except that an `items` field map became an object
    schema (a `properties` step the input does not have). As deep as the input goes."""
    from lotus_checks.lake.catalog_schema import is_field_map

    node = _at(data, base)
    out = list(base)
    in_map = False  # at a map of field names (the next step is a name, never a keyword)
    steps = list(rest)
    while steps:
        step = steps[0]
        if not in_map and step == "properties" and is_field_map(node):
            steps.pop(0)  # the generator's object wrapper around an `items` field map
            in_map = True
            continue
        found = (isinstance(node, dict) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node))
        if not found:
            break
        node = node[step]  # type: ignore[index]  # a key of the dict, or an index of the list
        out.append(step)
        steps.pop(0)
        in_map = not in_map and step == "properties"
    return tuple(out)


def _field_label(path: tuple[object, ...] | None) -> str:
    """("properties", "lines", "items", "properties", "price") -> `lines[].price`."""
    out = ""
    steps = list(path or ())
    while steps:
        step = steps.pop(0)
        if step == "properties" and steps:
            name = str(steps.pop(0))
            out += f".{name}" if out else name
        elif step == "items":
            out += "[]"
    return out


def _kind(ctx: CheckContext, streams: list) -> str:
    if not streams:
        return "empty"
    kinds = set()
    for stream in streams:
        doc = ctx.repo.json(stream.config_path)
        if doc is None:
            kinds.add("unknown")
        elif isinstance(doc.data, dict) and doc.data.get("connector") == "dlt":
            kinds.add("dlt")
        else:
            kinds.add("airbyte")
    if "airbyte" in kinds:
        return "airbyte"
    return "unknown" if "unknown" in kinds else "dlt"


def _first_different_line(a: bytes, b: bytes) -> int:
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    for number, (x, y) in enumerate(zip(a_lines, b_lines), start=1):
        if x != y:
            return number
    # One file is a prefix of the other: the first line only one of them has (within `a`).
    return max(1, min(len(a_lines), len(b_lines) + 1))


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([A-Za-z0-9_.]+)'")
