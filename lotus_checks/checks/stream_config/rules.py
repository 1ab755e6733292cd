"""The LL5xx rules: what each one guards and how the platform breaks without it."""

from __future__ import annotations

from lotus_checks.core.finding import Severity
from lotus_checks.core.rules import Rule

LL501 = Rule(
    "LL501",
    "schema-violation",
    "Stream config or source schema key missing, of the wrong type, or unknown",
    explanation="""Checks the keys the catalog generator, Terraform and the dlt pipeline read,
against the JSON Schemas that ship with lotus-checks
(`lotus_checks/schemas/stream_config.schema.json` and `source_schema.schema.json`), at the line
of the offending key.

An **error** when the platform breaks: a missing `stream` or `fields`, or, for an Airbyte stream,
a missing `sync_mode` or `destination_sync_mode` (the generator cannot write the stream's catalog
entry, or Airbyte rejects the catalog); a value of the wrong type (`"backfill": "no"` fails the
Terraform apply that reads it, `"selected": "yes"` is rejected by Airbyte); a field definition
that is not an object. A **warning** for a key nothing reads that looks like a typo of one that is
read (the generator and Terraform ignore it, so the key it was meant to be keeps its default).
Other keys are the repo's own additions (`owner`, `description`) and are not reported.

Field definitions are the repo's own format, which the generator decides the meaning of: any
JSON Schema keyword, an `items` written as a map of field names, fields named `type` or
`properties` are all accepted here; what reaches the platform is judged on the generated catalog
(LL206, LL207). dlt streams (`"connector": "dlt"`) need no sync modes.

Fires on (`backfill` must be a boolean; `selcted` is a typo, a warning):
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "backfill": "no", "selcted": true, "fields": {"id": {"type": "integer"}}}
```
Fix:
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "backfill": false, "selected": true, "fields": {"id": {"type": "integer"}}}
```
Mode values have their own rule (LL502), so they are not reported twice.""",
)
LL502 = Rule(
    "LL502",
    "invalid-sync-mode",
    "Invalid `sync_mode` or `destination_sync_mode`",
    explanation="""`sync_mode` must be `full_refresh` or `incremental`. `destination_sync_mode`
must be `overwrite`, `append` or `append_dedup` for Airbyte streams: anything else is copied into
the catalog and Airbyte rejects it, so the Terraform apply after the push fails.

dlt streams (`"connector": "dlt"`) set their write disposition in the pipeline's code; their
stream config may omit both keys. When it carries them, `append`, `merge` or `replace` are dlt's
names; another value is a **warning** there (only the repo's dlt pipeline could read it).

Fires on (an Airbyte stream using dlt's name for deduplication):
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "merge", ...}
```
Fix: `"destination_sync_mode": "append_dedup"` (or add `"connector": "dlt"` if a dlt pipeline
loads this stream).""",
)
LL503 = Rule(
    "LL503",
    "key-not-selected",
    "`cursor_field` or `primary_key` is not among the selected fields",
    explanation="""Only the fields listed in `fields` are synced. A cursor or primary key that is
not among them is not in the catalog's selected fields: Airbyte rejects the connection (the
apply fails), or deduplication and incremental loads break. Nested paths (`[["customer", "id"]]`)
are checked against the nested fields when the stream config lists them (in `properties`, or in
an `items` field map). For dlt streams this is a warning (the pipeline's code decides).

Fires on:
```json
{"stream": "orders", "cursor_field": ["updated_at"], "primary_key": [["id"]],
 "fields": {"id": {"type": "integer"}}, ...}
```
Fix: select the cursor as well:
```json
{"stream": "orders", "cursor_field": ["updated_at"], "primary_key": [["id"]],
 "fields": {"id": {"type": "integer"}, "updated_at": {"type": "string", "format": "date-time"}}, ...}
```
then regenerate the catalog.""",
)
LL504 = Rule(
    "LL504",
    "field-not-in-source",
    "Selected field does not exist in the source schema",
    explanation="""Every field a stream config selects must be offered by the source (its source
schema, from discovery). A field the source does not have never lands: its column is missing or
always NULL, and every model reading it fails or reads nothing. Nested fields are compared too
(in `properties`, or in an `items` field map).

Fires on (source schema offers `email`):
```json
{"stream": "customers", "fields": {"id": {"type": "integer"}, "emial": {"type": "string"}}, ...}
```
Fix: `"email": {"type": "string"}`, then regenerate the catalog.""",
)
LL505 = Rule(
    "LL505",
    "field-type-mismatch",
    "Selected field has a different type than in the source schema",
    severity=Severity.WARNING,
    explanation="""The catalog takes each selected field's definition from the source schema, so
the type written in the stream config never reaches Airbyte or the destination: nothing breaks,
but a reader of the stream config (or a model written from it) expects the wrong type. A
warning. `"null"` in a type list is ignored (`["null", "string"]` equals `"string"`).

Fires on (the source schema says `"type": "number"`):
```json
"total_price": {"type": "string"}
```
Fix: `"total_price": {"type": "number"}`.""",
)
LL506 = Rule(
    "LL506",
    "sync-mode-not-offered",
    "Sync mode not offered by the source",
    explanation="""The source schema's `options` list the `sync_modes` and
`destination_sync_modes` the source supports; the generator writes them into the catalog as
`supportedSyncModes`. Asking for another one makes Airbyte reject the connection, so the apply
fails (for example `incremental` on a source without a cursor). dlt streams are not judged
against these options: Airbyte's discovery lists them, and a dlt pipeline sets its own write
disposition (`merge`, `replace`, `append`).

Fires on (source options: `"sync_modes": ["full_refresh"]`):
```json
{"stream": "lists", "sync_mode": "incremental", ...}
```
Fix: `"sync_mode": "full_refresh"` (with `"destination_sync_mode": "overwrite"`).""",
)
LL507 = Rule(
    "LL507",
    "missing-key-for-mode",
    "Deduplication needs a primary key; incremental needs a cursor",
    explanation="""`append_dedup` deduplicates on the primary key, and `incremental` reads only
records past the cursor. Without them Airbyte rejects the connection and the apply fails. A key
defined by the source (`defaults` in the source schema) counts. For dlt streams (`merge`) a
warning: the pipeline's code may set the key.

Fires on:
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "primary_key": [], "cursor_field": [], ...}
```
Fix:
```json
{"stream": "orders", "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
 "primary_key": [["id"]], "cursor_field": ["updated_at"], ...}
```""",
)
LL509 = Rule(
    "LL509",
    "selected-missing",
    "Stream config has no `selected` key",
    severity=Severity.WARNING,
    explanation="""Without `selected` the generator treats the stream as selected, which hides
the intent. Nothing breaks (a warning); say it explicitly: `true` to sync the stream, `false` to
pause it.

Fires on:
```json
{"stream": "orders", "sync_mode": "incremental", ...}
```
Fix: `{"stream": "orders", "selected": true, "sync_mode": "incremental", ...}`.""",
)
LL510 = Rule(
    "LL510",
    "backfill-enabled",
    "`backfill` is true, and the repo's Terraform resets a connection on it",
    severity=Severity.WARNING,
    explanation="""`backfill` means what the repo's own Terraform makes of it, so lotus-check
reads the Terraform files that consume it and says what happens there. In a typical Lotus Lake
repo a `null_resource` (or `terraform_data`) exists while any stream of a source has
`"backfill": true`; creating it resets the whole Airbyte connection once (every stream of the
source re-syncs its history, not only this one). Its trigger is stable, so later applies do
nothing more; the reset runs again only after every stream is set back to `false` (the resource
is destroyed) and one is set to `true` again. A trigger such as `timestamp()` resets on every
apply instead, and the message says so. A warning: the reset is what was asked for, but it costs
a full re-sync of the connection. Nothing is reported when no Terraform reads `backfill`.

Fires on: `"backfill": true` in `streams/shopify/orders.json`, with Terraform such as
```hcl
resource "null_resource" "shopify_backfill" {
  count    = local.shopify_backfill ? 1 : 0
  triggers = { connection_id = airbyte_connection.shopify.connection_id }
  ...
}
```

Fix: once the re-sync has completed, `"backfill": false` and push again, so that the next
backfill triggers a reset.""",
)
LL511 = Rule(
    "LL511",
    "duplicate-key",
    "Duplicate key in a stream config or source schema",
    severity=Severity.WARNING,
    explanation="""JSON parsers (the generator's, Terraform's) keep only the last of two equal
keys, so the first is silently ignored. A top-level key given twice (two `destination_sync_mode`s
after a merge) is an **error**: the platform runs with whichever came last, and
`"overwrite"` winning over the `"append"` that was meant drops the stream's history. A key
repeated deeper (a field listed twice in `fields`) is a **warning**: the field still lands, with
its last definition, but the file no longer says one thing.

Fires on:
```json
"fields": {"email": {"type": "string"}, "id": {"type": "integer"}, "email": {"type": "object"}}
```
Fix: keep one `email`.""",
)

LL512 = Rule(
    "LL512",
    "missing-source-schema",
    "Airbyte stream has no source schema",
    severity=Severity.WARNING,
    explanation="""An Airbyte stream config without its source schema
(`<sources>/<source>/<stream>.json`, the discovery output) cannot be checked against what the
source offers (LL504-LL506), and the generator then writes the catalog's field definitions from
the hand-written stream config. Nothing breaks by itself (a warning). Usually the discovery
output was not committed. dlt streams (`"connector": "dlt"`) need no source schema and are not
reported.

Fires on: `streams/shopify/orders.json` with no `sources/shopify/orders.json`.

Fix: commit the source schema of the stream (from Airbyte discovery) at
`sources/shopify/orders.json`.""",
)

RULES = (LL501, LL502, LL503, LL504, LL505, LL506, LL507, LL509, LL510, LL511, LL512)
