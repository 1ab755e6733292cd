"""The content-keyed store the repo model and the lake modules keep computed facts in.

They see only this protocol: whether there is a store, and which (`cache.Cache` in the cache
folder, or none with `--no-cache`), is the engine's decision.
"""

from __future__ import annotations

import hashlib
from typing import Any
from typing import Protocol


class Store(Protocol):
    """What the repo model asks of a cache: JSON values by namespace and content key. `get`
    gives None for anything missing or unusable; `has` whether an entry is there, without
    reading it; `put` says whether the value was kept."""

    def get(self, namespace: str, key: str) -> Any | None: ...

    def has(self, namespace: str, key: str) -> bool: ...

    def put(self, namespace: str, key: str, value: Any) -> bool: ...


def content_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()
