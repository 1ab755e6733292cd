"""The whole CLI against broken and hostile trees: every run ends with exit 0/1 and findings (an
LL0xx finding on whatever cannot be loaded), or exit 2 with one line; never a traceback, never a
hang, and never a write to the tree (every run here is snapshotted before and after).

Hypothesis runs derandomized with a fixed number of examples, so CI is reproducible and needs no
stored example database. Runs are in process (fast); a hang still fails the suite through the
watchdog in helpers.no_hang, and the special-file cases that used to hang run as child processes
with a timeout as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robustness.helpers import CATALOG
from tests.robustness.helpers import ORDERS_CONFIG
from tests.robustness.helpers import ORDERS_MODEL
from tests.robustness.helpers import PROJECT
from tests.robustness.helpers import SOURCES_YML
from tests.robustness.helpers import CONNECTIONS_TF
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import run_process
from tests.robustness.helpers import snapshot

# ---- special files: FIFOs and devices ------------------------------------------------------------

SPECIAL_TARGETS = (ORDERS_CONFIG, CATALOG, SOURCES_YML, PROJECT, ORDERS_MODEL, CONNECTIONS_TF)
# dbt_project.yml is looked up with is_file(): a FIFO there is "no project file", as if missing.
SILENT_TARGETS = (PROJECT,)


@pytest.mark.parametrize("target", SPECIAL_TARGETS)
def test_fifo_in_place_of_an_input_file_is_ll001_not_a_hang(tmp_path: Path, target: str) -> None:
    """Opening a FIFO for reading waits for a writer: one `mkfifo` in the tree used to stall every
    commit. It is opened non-blocking now and refused by type (LL001)."""
    lake = build_lake(tmp_path / "lake")
    (lake / target).unlink()
    os.mkfifo(lake / target)
    before = snapshot(lake)
    outcome = run_process("--root", str(lake), "--no-cache", "--output-format", "json", timeout=60)
    assert_clean_end(outcome)
    found = [(f["code"], f["path"]) for f in json.loads(outcome.out)["findings"]]
    if target not in SILENT_TARGETS:
        assert ("LL001", target) in found
    assert_unchanged(before, snapshot(lake))


def test_fifo_next_to_the_inputs_with_an_input_name(tmp_path: Path) -> None:
    """A new stream config that is a FIFO (not replacing anything)."""
    lake = build_lake(tmp_path / "lake")
    fifo = "orchestration/assets/streams/shopify/pipe.json"
    os.mkfifo(lake / fifo)
    outcome = run_process("--root", str(lake), "--no-cache", "--output-format", "json", timeout=60)
    assert_clean_end(outcome)
    findings = json.loads(outcome.out)["findings"]
    on_fifo = [f for f in findings if f["path"] == fifo and f["code"].startswith("LL0")]
    assert [(f["code"], f["message"]) for f in on_fifo] == [
        ("LL001", "is not a regular file (a named pipe)")
    ]


# ---- file names that are not UTF-8 ---------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["text", "json", "github", "sarif"])
def test_file_name_that_is_not_utf8_is_reported_on_a_strict_stdout(
    tmp_path: Path, output_format: str
) -> None:
    """Such a name reaches our strings as surrogates; a strict UTF-8 stdout (PYTHONIOENCODING,
    or any locale Python does not relax) used to turn the whole report into exit 2."""
    lake = build_lake(tmp_path / "lake")
    name = os.fsencode(lake / "orchestration/assets/streams/shopify") + b"/\xff\xfe.json"
    with open(name, "wb") as f:
        f.write(b"{")
    done = subprocess.run(
        [sys.executable, "-m", "lotus_checks", "--root", str(lake), "--no-cache",
         "--output-format", output_format],
        capture_output=True, timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr and done.stderr == b""
    if output_format == "text":
        assert b"shopify/\xff\xfe.json:1:2: LL002" in done.stdout  # the name as it is on disk
    else:
        assert b"LL002" in done.stdout
