"""Performance levers that must not change behaviour: cache writes without fsync, memoised work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lotus_checks.cache import Cache
from lotus_checks.fsutil import atomic_write


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_atomic_write_is_durable_by_default(tmp_path: Path, fsyncs: list[int]) -> None:
    atomic_write(tmp_path / "model.sql", b"select 1\n")
    assert (tmp_path / "model.sql").read_bytes() == b"select 1\n"
    assert len(fsyncs) == 1


def test_cache_entries_are_written_without_fsync(tmp_path: Path, fsyncs: list[int]) -> None:
    cache = Cache(tmp_path / ".cache")
    cache.put("ns", "ab" * 32, {"a": [1, 2]})
    assert cache.get("ns", "ab" * 32) == {"a": [1, 2]}
    assert fsyncs == []
    assert not list((tmp_path / ".cache" / "ns").rglob("*.tmp"))
