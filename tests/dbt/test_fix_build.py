"""`lotus-check --fix --unsafe-fixes` alone finishes the add-a-stream checklist, and real dbt
agrees: the fixed project parses and the new model builds on fixture data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lotus_checks.cli import main
from lotus_checks.core.config import load_config
from tests.builders import CORE
from tests.builders import git
from tests.checks.test_coverage_fix import PROJECT
from tests.checks.test_coverage_fix import REFUND_FIELDS
from tests.checks.test_coverage_fix import SHOPIFY_SOURCES
from tests.checks.test_coverage_fix import _add_stream
from tests.checks.test_coverage_fix import _edit
from tests.dbt.conftest import copy_project
from tests.dbt.conftest import invoke
from tests.dbt.fixtures import write_fixture_data

pytestmark = pytest.mark.slow


def test_fix_finishes_the_checklist_and_dbt_builds_the_new_model(
    reference_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = reference_repo
    # A new stream, and the other steps of the checklist undone elsewhere.
    _add_stream(root, "stripe", "refunds", REFUND_FIELDS)
    _edit(root, SHOPIFY_SOURCES,
          "      - name: fulfillments\n        description: Fulfillments and their tracking information.\n",
          "")
    _edit(root, f"{CORE}/stripe/int_stripe__charges.sql",
          "tags=['core', 'stripe__charges']", "tags=['core']")
    _edit(root, PROJECT, "  - assets/core/gorgias\n", "")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a new stream, half done")

    args = ["--root", str(root), "--no-cache"]
    assert main([*args, "--fix", "--unsafe-fixes"]) == 1  # files changed
    assert main(args) == 0, capsys.readouterr().out
    assert (root / CORE / "stripe" / "int_stripe__refunds.sql").is_file()

    raw_root = tmp_path / "raw"
    write_fixture_data(load_config(root), raw_root)
    project = copy_project(tmp_path / "dbt", raw_root, root / "orchestration")
    database = tmp_path / "lake.duckdb"
    monkeypatch.setenv("LOTUS_DUCKDB_PATH", str(database))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    variables = {"raw_root": raw_root.as_posix()}
    parse, manifest = invoke(project, ["parse"], variables)
    assert parse.success, parse.error
    models = {n.name: n for n in manifest.nodes.values() if n.resource_type == "model"}
    assert "stripe__charges" in models["int_stripe__charges"].tags
    assert "int_gorgias__tickets" in models  # its folder is back in model-paths

    build, _ = invoke(project, ["build", "--select", "int_stripe__refunds"], variables)
    assert build.success, build.error
    with duckdb.connect(str(database)) as connection:
        rows = connection.execute("select count(*) from int_stripe__refunds").fetchone()
    assert rows is not None and rows[0] > 0
