"""`lotus-check --dbt`: the static repo model against real `dbt parse` (LL308)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from lotus_checks.checks.dbt_parse import ModelView
from lotus_checks.checks.dbt_parse import compare_models
from lotus_checks.lake import dbt_parse
from lotus_checks.lake.dbt_parse import DbtView
from tests.builders import CORE
from tests.builders import REPO_ROOT
from tests.builders import git
from tests.conftest import check_tree
from tests.conftest import codes

STRIPE = f"{CORE}/stripe"
SUBSCRIPTIONS = f"{STRIPE}/int_stripe__subscriptions.sql"
CHARGES = f"{STRIPE}/int_stripe__charges.sql"


def _dbt_codes(root: Path, **kwargs: object) -> list[tuple[str, str, int | None, int | None]]:
    kwargs.setdefault("use_dbt", True)
    return [c for c in codes(check_tree(root, **kwargs)) if c[0] == "LL308"]


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_reference_tree_agrees_with_dbt_without_importing_it_or_writing(reference_repo: Path) -> None:
    """The lotus-dbt hook's entry (.pre-commit-hooks.yaml) on the clean reference tree."""
    [hook] = [h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
              if h["id"] == "lotus-dbt"]
    argv = shlex.split(hook["entry"])[1:]
    assert "--dbt" in argv
    before = git(reference_repo, "status", "--porcelain", "--ignored")
    script = (
        "import sys; from lotus_checks.cli import main; "
        f"code = main(['--root', {str(reference_repo)!r}, '--no-cache', *{argv!r}]); "
        "print(code, sorted(m for m in sys.modules if m == 'dbt' or m.startswith('dbt.')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # Exit 0, and dbt ran in its own process: the checker never imports it.
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert done.stderr == "", done.stderr
    # dbt ran on the user's tree, yet nothing appeared in it: no target/, logs/, .user.yml, db.
    assert git(reference_repo, "status", "--porcelain", "--ignored") == before


def test_disagreements_are_reported_where_they_are(reference_repo: Path) -> None:
    root = reference_repo
    # 1. A model dbt does not read (disabled), though it lies in model-paths.
    _edit(root, CHARGES, "{{ config(tags=", "{{ config(enabled=false, tags=")
    # 2. A ref only inside is_incremental(): dbt's parse renders it false, so no DAG edge.
    _edit(
        root,
        SUBSCRIPTIONS,
        "    where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})\n",
        "    where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})\n"
        "      and customer in (select customer_id from {{ ref('int_stripe__customers') }})\n",
    )
    # 3. A source table dbt does not declare (disabled in its properties).
    _edit(
        root,
        f"{STRIPE}/_stripe__sources.yml",
        "      - name: subscriptions\n",
        "      - name: subscriptions\n      - name: legacy_refunds\n        config:\n          enabled: false\n",
    )
    # 4. Models dbt builds but lotus-check is not configured to see (the marts folder).
    (root / "lotus-check.toml").write_text('models = ["orchestration/assets/core"]\n', encoding="utf-8")

    findings = [f for f in check_tree(root, use_dbt=True).findings if f.code == "LL308"]
    found = [(f.code, f.path, f.line, f.column) for f in findings]
    assert found == sorted(
        [
            ("LL308", CHARGES, None, None),
            ("LL308", SUBSCRIPTIONS, 15, 51),
            ("LL308", f"{STRIPE}/_stripe__sources.yml", None, None),
            ("LL308", "orchestration/assets/marts/marketing/dim_customers.sql", None, None),
            ("LL308", "orchestration/assets/marts/sales/fct_sales.sql", None, None),
        ],
        key=lambda c: (c[1], c[2] or 0, c[3] or 0),
    )
    by_path = {f.path: f for f in findings}
    assert "depends_on" in by_path[SUBSCRIPTIONS].hint
    assert "enabled=false" in by_path[CHARGES].hint


def test_dbt_parse_failure_is_one_finding_on_the_project(reference_repo: Path) -> None:
    _edit(reference_repo, CHARGES, "from {{ source('stripe', 'charges') }}", "from {{ ref('int_stripe__charge') }}")
    findings = [f for f in check_tree(reference_repo, use_dbt=True).findings if f.code == "LL308"]
    assert [(f.path, f.line, f.column) for f in findings] == [
        ("orchestration/dbt_project.yml", None, None)
    ]
    finding = findings[0]
    assert "int_stripe__charge" in finding.message and "\n" not in finding.message


def test_without_dbt_flag_nothing_runs(reference_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dbt(*args: object) -> None:
        raise AssertionError("dbt must not run without --dbt")

    monkeypatch.setattr(dbt_parse, "dbt_view", no_dbt)
    _edit(reference_repo, CHARGES, "{{ config(tags=", "{{ config(enabled=false, tags=")
    assert _dbt_codes(reference_repo, use_dbt=False) == []


def test_summary_is_cached_and_a_fresh_manifest_is_reused(
    reference_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The manifest.json dbt parse writes on the first run: the project's own target/ holds
    # one like it below.
    written: list[dict] = []
    read_manifest = dbt_parse._read_manifest

    def keeping(path: Path, max_size: int) -> dict:
        written.append(read_manifest(path, max_size))
        return written[-1]

    monkeypatch.setattr(dbt_parse, "_read_manifest", keeping)
    assert _dbt_codes(reference_repo, use_cache=True) == []
    monkeypatch.undo()
    assert len(written) == 1 and written[0]["nodes"], "dbt parse ran once and wrote a manifest"

    def no_parse(*args: object) -> DbtView:
        raise AssertionError("dbt parse must not run again")

    monkeypatch.setattr(dbt_parse, "_parse", no_parse)
    # Unchanged project: the cached summary answers.
    assert _dbt_codes(reference_repo, use_cache=True) == []
    # No cache, but the project's own target/manifest.json is newer than every project file.
    target = reference_repo / "orchestration" / "target"
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps(written[0]), encoding="utf-8")
    assert _dbt_codes(reference_repo, use_cache=False) == []
    # A model edited after the manifest was written makes it stale: dbt parses again.
    _edit(reference_repo, CHARGES, "{{ config(tags=", "{{ config(enabled=false, tags=")
    with pytest.raises(Exception, match="must not run again"):
        _dbt_codes(reference_repo, use_cache=False)


def test_comparison_reports_tags_and_refs_dbt_sees_differently() -> None:
    ours = {
        "m": ModelView(
            path="models/m.sql",
            tags=frozenset({"core"}),
            refs={"a": (3, 10, False)},
            tags_position=(1, 12),
        )
    }
    theirs = DbtView(
        models={"m": {"path": "models/m.sql", "tags": ["core", "shop__orders"], "refs": ["a", "b"], "sources": []}}
    )
    found = [(f.path, f.line, f.column, f.message) for f in compare_models(ours, theirs)]
    assert [(p, line, col) for p, line, col, _ in found] == [("models/m.sql", 1, 12), ("models/m.sql", None, None)]
    assert "shop__orders" in found[0][3] and "ref('b')" in found[1][3]
    # The correct neighbour: the same view on both sides gives nothing.
    same = DbtView(models={"m": {"path": "models/m.sql", "tags": ["core"], "refs": ["a"], "sources": []}})
    assert list(compare_models(ours, same)) == []


def test_dbt_missing_exits_2_with_one_line(
    reference_repo: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbt_parse, "dbt_available", lambda: False)
    code, out, err = cli("--root", str(reference_repo), "--dbt")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "pip install 'dbt-core~=1.11.0' 'dbt-duckdb~=1.11.0'" in err
