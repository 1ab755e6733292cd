"""A tree that links to a folder the replay digest does not enter is never replayed stale."""

from __future__ import annotations

import os
from pathlib import Path

from lotus_checks.core.config import load_config
from lotus_checks.engine import run
from tests.builders import STREAMS
from tests.builders import copy_reference
from tests.conftest import codes


def _runs(root: Path) -> tuple[list, list]:
    cached = run(load_config(root), use_cache=True)
    fresh = run(load_config(root), use_cache=False)
    return codes(cached), codes(fresh)


def test_stream_configs_behind_a_link_into_a_hidden_folder_are_never_replayed_stale(
        tmp_path: Path) -> None:
    root = copy_reference(tmp_path / "lake")
    shopify = root / STREAMS / "shopify"
    hidden = root / ".shared" / "shopify"
    hidden.parent.mkdir()
    shopify.rename(hidden)
    os.symlink(os.path.relpath(hidden, shopify.parent), shopify)
    first, fresh = _runs(root)
    assert first == fresh
    orders = hidden / "orders.json"
    orders.write_text(orders.read_text("utf-8").replace('"sync_mode"', '"sync_mood"', 1), "utf-8")
    second, fresh = _runs(root)
    assert second == fresh != first


def test_a_venv_link_leaves_replay_on(tmp_path: Path) -> None:
    """The neighbour: a link named like a folder nothing reads (`.venv`) changes nothing."""
    root = copy_reference(tmp_path / "lake")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / ".venv")
    run(load_config(root), use_cache=True)
    assert list((root / ".lotus_check_cache").rglob("result/**/*.json"))
