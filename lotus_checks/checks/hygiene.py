"""LL6xx: repository hygiene."""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Callable
from collections.abc import Iterator

from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.rules import Rule
from lotus_checks.core.selection import noqa_comment

LL601 = Rule(
    "LL601",
    "terraform-state-in-repo",
    "Terraform state committed to the repository",
    explanation="""Terraform state (`*.tfstate`, `*.tfstate.backup`) or a `.terraform/` folder
inside the repo. State belongs to the backend tofu-controller uses; a committed copy holds
secrets in clear text and, once applied from, overwrites production with stale state (this caused
a production incident on the real platform).

Fires on: `orchestration/airbyte/terraform/terraform.tfstate`.

Fix: `git rm --cached` the file, add `*.tfstate*` and `.terraform/` to `.gitignore`.""",
)

LL602 = Rule(
    "LL602",
    "unused-noqa",
    "`noqa` comment that suppresses nothing",
    severity=Severity.WARNING,
    explanation="""A `-- noqa` (SQL) or `# noqa` (YAML) comment on a line where no finding was
suppressed. Suppressions outlive the problem they hid: once the column is fixed or renamed, a
stale `-- noqa: LL401` silently hides the *next* mistake on that line.

It is reported only when every code the comment names was checked on that file (so
`--select LL4` judges `-- noqa: LL401` but not a bare `-- noqa`), and not on files that could not
be parsed (LL0xx), whose findings were never computed. A code that runs only with `--dbt`
(LL308) is judged only in `--dbt` runs; a bare `-- noqa` is judged against the other rules, so
one kept for LL308 should name it: `-- noqa: LL308`.

Fires on (the column `email` exists):
```sql
select email  -- noqa: LL401
from {{ source('shopify', 'customers') }}
```
Fix: remove the comment, or the codes in it that no longer fire:
```sql
select email
from {{ source('shopify', 'customers') }}
```""",
)

RULES = (LL601, LL602)
# Files whose comments LL602 reads: where `noqa` suppresses findings.
NOQA_SUFFIXES = (".sql", ".yml", ".yaml")
_MENTIONS_NOQA = re.compile("noqa", re.IGNORECASE)


def _is_state(name: str) -> bool:
    return name.endswith(".tfstate") or ".tfstate." in name


def check(ctx: CheckContext) -> Iterator[Finding]:
    for entry in ctx.repo.tree:
        name = entry.path.rsplit("/", 1)[-1]
        if name == ".terraform" and entry.is_dir:
            yield LL601.finding(
                entry.path,
                message="`.terraform/` folder (provider cache and possibly state) in the repo",
                hint="delete it and add `.terraform/` to .gitignore",
            )
        elif not entry.is_dir and _is_state(name):
            yield LL601.finding(
                entry.path,
                message=f"Terraform state file `{name}` in the repo",
                hint="remove it (`git rm --cached`), add `*.tfstate*` to .gitignore; "
                "state lives in the tofu-controller backend",
            )


# path -> [[line, column, [codes]], ...] of its `noqa` comments.
NoqaComments = dict[str, list[list[Any]]]


def noqa_comments(ctx: CheckContext) -> NoqaComments:
    """Every `noqa` comment in the files in scope whose comments LL602 judges."""
    out: NoqaComments = {}
    for path in ctx.repo.inventory():
        if not path.endswith(NOQA_SUFFIXES) or not ctx.in_scope(path):
            continue
        text = ctx.repo.text(path)
        if not text or not _MENTIONS_NOQA.search(text):
            continue  # most files: no line to look at
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            comment = noqa_comment(path, line)
            if comment is not None:
                found.append([number, comment[0], sorted(comment[1])])
        if found:
            out[path] = found
    return out


def unused_noqa(
    ctx: CheckContext,
    enabled: Callable[[str, str], bool],
    suppressed: dict[tuple[str, int], set[str]],
    skipped_paths: set[str],
    comments: NoqaComments,
) -> Iterator[Finding]:
    """LL602 findings. Runs in the engine's filtering step, where suppression happens.

    `enabled(code, path)` is the run's selection; `suppressed` maps (path, line) to the codes of
    the findings a comment there suppressed; `skipped_paths` are files whose findings were not
    all computed (they failed to load or parse); `comments` is `noqa_comments(ctx)`."""
    from lotus_checks.checks import all_rules

    rules = [rule for code, rule in all_rules().items() if code != LL602.code]
    for path, found in sorted(comments.items()):
        if not ctx.in_scope(path) or path in skipped_paths or not enabled(LL602.code, path):
            continue

        def checked(prefix: str, path: str = path) -> bool:
            """Every rule under `prefix` ran on `path`, so its silence means something.

            A bare `noqa` (prefix "LL") is judged by the rules that run without `--dbt`: it
            would otherwise never be judged on a commit. Its hint says how to keep one that is
            there for a --dbt rule."""
            matching = [r for r in rules if r.code.startswith(prefix)
                        and (prefix != "LL" or not r.requires_dbt)]
            return bool(matching) and all(
                enabled(r.code, path) and (ctx.use_dbt or not r.requires_dbt) for r in matching
            )

        for number, column, codes in found:
            hit = suppressed.get((path, number), set())
            yield from _unused(path, number, column, frozenset(codes), hit, checked)


def _unused(
    path: str,
    line: int,
    column: int,
    codes: frozenset[str],
    hit: set[str],
    checked: Callable[[str], bool],
) -> Iterator[Finding]:
    if not codes:
        if not hit and checked("LL"):
            yield LL602.finding(
                path, line, column, "unused `noqa`: no finding on this line to suppress",
                hint="remove the comment (one kept for a rule that runs only with --dbt must "
                "name it, e.g. `-- noqa: LL308`)",
            )
        return
    stale = sorted(c for c in codes if checked(c) and not any(h.startswith(c) for h in hit))
    if stale:
        names = ", ".join(stale)
        whole = " (or the whole comment)" if len(stale) == len(codes) else ""
        yield LL602.finding(
            path, line, column, f"unused `noqa` for {names}: no such finding on this line",
            hint=f"remove {names} from the comment{whole}",
        )
