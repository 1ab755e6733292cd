"""A loaded stream config, and the connector and mode names the family compares it with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lotus_checks.core.finding import Severity
from lotus_checks.core.loaders import JsonDoc
from lotus_checks.core.loaders import JsonPath
from lotus_checks.repo.model import Stream

AIRBYTE = "airbyte"
DLT = "dlt"
SYNC_MODES = ("full_refresh", "incremental")
DESTINATION_MODES = {
    AIRBYTE: ("overwrite", "append", "append_dedup"),
    DLT: ("append", "merge", "replace"),
}
# The same intent under each connector's name: used to suggest the right spelling.
EQUIVALENT_MODE = {"merge": "append_dedup", "append_dedup": "merge", "replace": "overwrite",
                   "overwrite": "replace"}
DEDUP_MODES = frozenset({"append_dedup", "merge"})


@dataclass(frozen=True)
class StreamFile:
    """A loaded stream config: its data (a dict, maybe malformed inside) and where it is."""

    stream: Stream
    doc: JsonDoc
    generator: str

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    @property
    def path(self) -> str:
        return self.stream.config_path

    @property
    def label(self) -> str:
        return f"stream `{self.stream.source}/{self.stream.name}`"

    @property
    def connector(self) -> str | None:
        """`airbyte` or `dlt`; None for an unknown connector (LL501 reports it)."""
        value = self.data.get("connector", AIRBYTE)
        return value if value in (AIRBYTE, DLT) else None

    @property
    def severity(self) -> Severity:
        """Of the rules about Airbyte's modes and keys: for a dlt stream only the pipeline's code
        could read them, so a problem there is a warning."""
        return Severity.WARNING if self.connector == DLT else Severity.ERROR

    @property
    def fields(self) -> dict[str, Any]:
        fields = self.data.get("fields")
        return fields if isinstance(fields, dict) else {}

    def at(self, path: JsonPath) -> tuple[int | None, int | None]:
        return self.doc.position(path)

    def regenerate(self) -> str:
        """What to run after editing: dlt streams have no catalog."""
        if self.connector == DLT:
            return ""
        return f", then regenerate the catalog: python {self.generator}"
