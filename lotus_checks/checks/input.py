"""LL0xx: input that cannot be read or parsed. One broken file is one finding; every other check
keeps running on the rest of the repo."""

from __future__ import annotations

from collections.abc import Iterator

from lotus_checks.core.context import CheckContext
from lotus_checks.core.finding import Finding
from lotus_checks.core.rules import Rule

LL001 = Rule(
    "LL001",
    "unreadable-file",
    "File cannot be read",
    explanation="""A file the checks need cannot be opened: missing permissions, a folder where a
file should be, or a symbolic link that leaves the repository.

Fires on: `streams/shopify/orders.json` with mode `000`, or a folder named `orders.json`, or a
link `orders.json -> /etc/passwd`.

Fix: make the file readable, or move it out of the configured folders.""",
)
LL002 = Rule(
    "LL002",
    "invalid-json",
    "Invalid JSON",
    explanation="""A stream config, source schema or catalog is not valid JSON. Terraform's
`jsondecode(file(...))` and the catalog generator would fail on it after the push.

Fires on:
```json
{"stream": "orders", "selected": true,}
```
Fix: remove the trailing comma, `{"stream": "orders", "selected": true}`. The finding points at
the line and column where the JSON parser gave up.""",
)
LL003 = Rule(
    "LL003",
    "sql-parse-error",
    "SQL cannot be parsed",
    explanation="""After rendering its Jinja, the model is not valid DuckDB SQL, so dbt would fail
on it in production.

Fires on:
```sql
select id, from {{ source('shopify', 'orders') }} where
```
Fix: complete the statement. The position is mapped back to the `.sql` file.""",
)
LL004 = Rule(
    "LL004",
    "template-error",
    "Jinja template cannot be rendered",
    explanation="""The model's Jinja has a syntax error, calls an unknown macro, or uses an
undefined name, so its SQL cannot be checked (and dbt may fail on it).

Fires on:
```sql
{{ config(tags=['core', 'shopify__orders'] }}
```
Fix: close the parenthesis. For project macros the checker does not know, columns are still
checked where the rest of the model allows.

A `var()` without a default that the project does not set is not a template error when the
orchestrator passes it at run time (`dbt build --vars`): `dbt parse` renders it as None and
passes. The names passed are read from the `--vars` of the Dagster code's dbt commands that
select the model, or set with the config key `runtime-vars`; any other such var fails `dbt build` ("Required var 'x' not found") and is
reported here. Inside a raw read (`read_parquet('{{ var("file") }}')`) it is the model's own
stream's files. A var as the argument of `ref()` or `source()` is reported too: dbt resolves
them when it parses the project, where no var is passed.""",
)
LL005 = Rule(
    "LL005",
    "invalid-yaml",
    "Invalid YAML",
    explanation="""A dbt sources file or `dbt_project.yml` is not valid YAML (or expands, through
aliases, to an unreasonable size), so dbt cannot parse the project.

Fires on:
```yaml
sources:
  - name: shopify
     tables: []
```
Fix: correct the indentation.""",
)
LL006 = Rule(
    "LL006",
    "not-utf8",
    "File is not UTF-8 text",
    explanation="""dbt, Terraform and the catalog generator read files as UTF-8. A binary file or
one saved in another encoding (Latin-1, UTF-16) breaks them.

Fires on: a model saved as Latin-1 with `-- Kundenübersicht` in a comment (byte `0xfc`).

Fix: re-save the file as UTF-8. The position is the first byte that is not UTF-8.""",
)
LL007 = Rule(
    "LL007",
    "invalid-hcl",
    "Terraform file cannot be parsed",
    explanation="""A `.tf` file in the Terraform folder is not valid HCL, so tofu-controller's
plan fails after the push and blocks every later apply.

Fires on:
```hcl
resource "airbyte_connection" "shopify" {
  name = "shopify"
```
Fix: correct the syntax at the reported position (`tofu validate` locally).""",
)
LL008 = Rule(
    "LL008",
    "file-too-large",
    "File too large or too complex to check",
    explanation="""The file is over `max-file-size` bytes, or checking it exceeded the per-file
time budget. It is skipped so the commit is not stalled; nothing in it was checked.

Fires on: a 40 MB source schema dumped with every enum value inlined.

Fix: split the file, or raise `max-file-size` in the config if it is legitimate.""",
)

RULES = (LL001, LL002, LL003, LL004, LL005, LL006, LL007, LL008)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


def check(ctx: CheckContext) -> Iterator[Finding]:
    """Load every input file in scope; the repo keeps what failed as findings."""
    for path in ctx.repo.inventory():
        if not ctx.in_scope(path):
            continue
        if path.endswith(".json"):
            ctx.repo.json(path)
        elif path.endswith((".yml", ".yaml")):
            ctx.repo.yaml(path)
        else:
            ctx.repo.text(path)
    return iter(())
