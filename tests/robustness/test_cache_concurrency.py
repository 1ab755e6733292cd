"""The cache is safe when runs overlap (pre-commit runs hooks in parallel, editors run on save).

Every entry is written to a temporary file and renamed into place, so a reader sees a whole
entry or none; two runs computing the same entry both write the same bytes. Tested with real
`lotus-check` processes started together on one tree (the small lake) and one cache, several
rounds from cold and warm caches: both give identical findings, the same as a run without the cache, and no partial
or temporary file is left in the cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lotus_checks.incremental import cache as cache_module
from lotus_checks.incremental.cache import Cache
from tests.robustness.helpers import CACHE_DIR
from tests.robustness.helpers import Outcome
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import run_cli
from tests.robustness.helpers import snapshot

MODEL = "orchestration/assets/core/shopify/int_shopify__orders.sql"
CONFIG = "orchestration/assets/streams/shopify/orders.json"
SCHEMA = "orchestration/assets/sources/shopify/customers.json"


def with_findings(root: Path) -> Path:
    """The small lake with findings from several families (columns, catalog, input)."""
    model = root / MODEL
    model.write_text(model.read_text().replace("    currency,", "    currency_code,"))
    config = json.loads((root / CONFIG).read_text())
    config["selected"] = not config.get("selected", True)
    (root / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    (root / SCHEMA).write_text('{"stream": ')
    return root


def run_together(root: Path, count: int = 2) -> list[subprocess.CompletedProcess[str]]:
    argv = [sys.executable, "-m", "lotus_checks", "--root", str(root), "--output-format", "json"]
    processes = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]
    done = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return done


def assert_cache_whole(cache: Path) -> None:
    assert not list(cache.rglob("*.tmp")), "temporary files left in the cache"
    entries = [p for p in cache.rglob("*.json")]
    assert entries
    for entry in entries:
        json.loads(entry.read_text(encoding="utf-8"))  # every entry complete


def test_parallel_runs_share_the_cache_safely(tmp_path: Path) -> None:
    root = with_findings(build_lake(tmp_path / "lake"))
    expected = run_cli("--root", str(root), "--no-cache", "--output-format", "json")
    assert expected.code == 1 and json.loads(expected.out)["findings"]
    before = snapshot(root)
    cache = root / CACHE_DIR
    for round_ in range(4):
        if round_ in (0, 2):
            shutil.rmtree(cache, ignore_errors=True)  # cold: both runs compute and write
        results = run_together(root, count=3 if round_ == 2 else 2)
        for result in results:
            assert_clean_end(_outcome(result))
            assert result.returncode == 1
            assert result.stdout == expected.out, f"round {round_}: findings differ"
        assert_cache_whole(cache)
    assert_unchanged(before, snapshot(root))


def _outcome(result: subprocess.CompletedProcess[str]) -> Outcome:
    return Outcome(result.returncode, result.stdout, result.stderr)


# ---- writes are atomic ---------------------------------------------------------------------------


def test_failed_entry_write_leaves_no_entry_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache(tmp_path / "cache")

    def failing_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("lotus_checks.core.fsutil.os.replace", failing_replace)
    cache.put("ns", "ab" * 32, {"facts": [1, 2, 3]})  # swallowed: a cache is only an optimisation
    assert cache.get("ns", "ab" * 32) is None
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_entry_round_trip_and_overwrite(tmp_path: Path) -> None:
    """The correct neighbour of the above: entries are read back as written, last writer wins."""
    cache = Cache(tmp_path / "cache")
    key = "cd" * 32
    cache.put("ns", key, {"a": [1, "x", None]})
    assert cache.get("ns", key) == {"a": [1, "x", None]}
    cache.put("ns", key, {"a": 2})
    assert cache.get("ns", key) == {"a": 2}
    assert (tmp_path / "cache" / ".gitignore").read_text().endswith("*\n")
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_an_entry_folder_removed_during_the_run_is_made_again(tmp_path: Path) -> None:
    # The cache remembers the folders it made; another run clearing the cache meanwhile
    # must not turn this run's later writes into misses.
    cache = Cache(tmp_path / "cache")
    cache.put("ns", "ab" + "0" * 62, {"a": 1})
    shutil.rmtree(tmp_path / "cache" / "ns")
    assert cache.put("ns", "ab" + "1" * 62, {"a": 2}) is True
    assert Cache(tmp_path / "cache").get("ns", "ab" + "1" * 62) == {"a": 2}


def test_a_link_out_of_the_cache_is_not_written_through(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "ns").symlink_to(elsewhere, target_is_directory=True)
    cache = Cache(tmp_path / "cache")
    assert cache.put("ns", "cd" * 32, {"a": 1}) is False
    assert cache.put("ns", "cd" * 32, {"a": 1}) is False  # refused again, not remembered as made
    assert list(elsewhere.iterdir()) == []


def test_disabled_cache_touches_nothing(tmp_path: Path) -> None:
    cache = Cache(None)
    cache.put("ns", "ef" * 32, {"a": 1})
    assert cache.get("ns", "ef" * 32) is None
    assert list(tmp_path.iterdir()) == []
    assert cache_module.MAX_ENTRY_BYTES > 5_000_000  # an entry may describe a max-size file
