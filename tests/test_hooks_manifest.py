"""`.pre-commit-hooks.yaml`: every hook selects rules that exist, runs once over the whole repo,
and is triggered by exactly the files that can change its verdict (default layout)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from typing import Callable

import pytest
import yaml

from lotus_checks.checks import all_rules
from lotus_checks.config import Config
from lotus_checks.config import split_codes
from lotus_checks.repo import Repo
from tests.builders import REPO_ROOT
from tests.builders import copy_reference

HOOK_IDS = (
    "lotus-check",
    "lotus-naming",
    "lotus-catalog",
    "lotus-coverage",
    "lotus-columns",
    "lotus-config",
    "lotus-dbt",
)

# One sample path per kind of file in the default layout.
SAMPLES = {
    "stream": "orchestration/assets/streams/shopify/orders.json",
    "catalog": "orchestration/assets/streams/shopify/_catalog.json",
    "schema": "orchestration/assets/sources/shopify/orders.json",
    "model": "orchestration/assets/core/shopify/int_shopify__orders.sql",
    "mart": "orchestration/assets/marts/sales/fct_sales.sql",
    "sources_yml": "orchestration/assets/core/shopify/_shopify__sources.yml",
    "dbt_project": "orchestration/dbt_project.yml",
    "generator": "orchestration/airbyte/generate-catalog.py",
    "terraform": "orchestration/airbyte/terraform/connections.tf",
    "tfstate": "orchestration/airbyte/terraform/terraform.tfstate",
    "tfstate_backup": "terraform.tfstate.backup",
    "config": "pyproject.toml",
    "own_config": "lotus-check.toml",
}
# Files no check reads: no hook may run for them.
UNRELATED = (
    "README.md",
    "orchestration/README.md",
    "orchestration/profiles.yml",
    "orchestration/assets/core/assets.py",
    "orchestration/assets/streams/orders.json",
    "orchestration/assets/streams/shopify/orders.json.bak",
    "orchestration/assets/core/shopify/int_shopify__orders.sql.orig",
    "orchestration/airbyte/terraform/README.md",
    "lotus_checks/cli.py",
    "sub/pyproject.toml",
    "docs/pyproject.toml.md",
)
TRIGGERS = {
    "lotus-check": set(SAMPLES),
    "lotus-naming": {"stream", "catalog", "schema", "model", "mart", "sources_yml",
                     "dbt_project", "config", "own_config"},
    "lotus-catalog": {"stream", "catalog", "schema", "generator", "config", "own_config"},
    "lotus-coverage": {"stream", "catalog", "schema", "model", "mart", "sources_yml",
                       "dbt_project", "terraform", "config", "own_config"},
    "lotus-columns": {"stream", "schema", "model", "mart", "sources_yml", "dbt_project",
                      "config", "own_config"},
    "lotus-config": {"stream", "schema", "terraform", "config", "own_config"},
    "lotus-dbt": {"model", "mart", "sources_yml", "dbt_project", "config", "own_config"},
}


def _hooks() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    return {hook["id"]: hook for hook in data}


def _selected_prefixes(hook: dict[str, Any]) -> list[str]:
    argv = shlex.split(hook["entry"])
    assert argv[0] == "lotus-check"
    if "--select" not in argv:
        return ["ALL"]
    return split_codes(argv[argv.index("--select") + 1])


def _matches(hook: dict[str, Any]) -> Callable[[str], bool]:
    # pre-commit's own semantics: re.search on the path relative to the repo root.
    files = re.compile(hook.get("files", ""))
    exclude = re.compile(hook["exclude"]) if "exclude" in hook else None
    return lambda path: bool(files.search(path)) and not (exclude and exclude.search(path))


def test_manifest_has_exactly_the_documented_hooks() -> None:
    assert tuple(_hooks()) == HOOK_IDS


def test_manifest_and_own_config_pass_pre_commits_validation() -> None:
    from pre_commit.clientlib import load_config
    from pre_commit.clientlib import load_manifest

    manifest = load_manifest(str(REPO_ROOT / ".pre-commit-hooks.yaml"))
    assert [hook["id"] for hook in manifest] == list(HOOK_IDS)
    load_config(str(REPO_ROOT / ".pre-commit-config.yaml"))


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_every_selected_code_names_existing_rules(hook_id: str) -> None:
    rules = all_rules()
    for prefix in _selected_prefixes(_hooks()[hook_id]):
        matching = [code for code in rules if prefix == "ALL" or code.startswith(prefix)]
        assert matching, f"{hook_id}: --select {prefix} matches no rule"


def test_family_hooks_together_run_every_rule_but_hygiene() -> None:
    hooks = _hooks()
    selected = [p for hook_id in HOOK_IDS[1:] for p in _selected_prefixes(hooks[hook_id])]
    for code in all_rules():
        if code.startswith("LL6"):
            continue  # repo hygiene (Terraform state, unused noqa) runs in `lotus-check` only
        assert any(code.startswith(p) for p in selected), f"no family hook runs {code}"


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_hook_runs_once_over_the_whole_repo(hook_id: str) -> None:
    hook = _hooks()[hook_id]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert hook["require_serial"] is True
    assert hook["name"] and hook["description"]


@pytest.mark.parametrize("hook_id", HOOK_IDS)
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_files_pattern_matches_exactly_what_can_change_the_verdict(hook_id: str, kind: str) -> None:
    matches = _matches(_hooks()[hook_id])
    assert matches(SAMPLES[kind]) == (kind in TRIGGERS[hook_id]), SAMPLES[kind]


@pytest.mark.parametrize("hook_id", HOOK_IDS)
@pytest.mark.parametrize("path", UNRELATED)
def test_files_pattern_ignores_files_no_check_reads(hook_id: str, path: str) -> None:
    assert not _matches(_hooks()[hook_id])(path)


def test_stream_config_change_triggers_catalog_coverage_and_columns() -> None:
    hooks = _hooks()
    for hook_id in ("lotus-catalog", "lotus-coverage", "lotus-columns", "lotus-config"):
        assert _matches(hooks[hook_id])(SAMPLES["stream"]), hook_id


def test_all_hook_covers_every_file_the_default_layout_reads(tmp_path: Path) -> None:
    """Derived from the code, not from the sample table: every inventory file of the reference
    tree, the generator and the Terraform files trigger `lotus-check`."""
    config = Config(root=copy_reference(tmp_path))
    repo = Repo(config)
    paths = list(repo.inventory()) + [config.generator]
    paths += [p.relative_to(tmp_path).as_posix()
              for p in (tmp_path / config.terraform).glob("*.tf")]
    assert len(paths) > 40
    matches = _matches(_hooks()["lotus-check"])
    assert [p for p in paths if not matches(p)] == []


def test_readme_lists_every_hook() -> None:
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    for hook_id in HOOK_IDS:
        assert f"`{hook_id}`" in readme, hook_id


def test_integration_docs_list_every_hook() -> None:
    docs = (REPO_ROOT / "docs" / "integration.md").read_text("utf-8")
    for hook_id in HOOK_IDS:
        assert hook_id in docs, hook_id


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_hook_entry_passes_on_the_reference_tree(
    hook_id: str, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """The entry's arguments are valid and the clean reference tree passes (in process; the
    real pre-commit run is tests/test_precommit.py)."""
    root = copy_reference(tmp_path)
    argv = shlex.split(_hooks()[hook_id]["entry"])[1:]
    code, out, err = cli(*argv, "--root", str(root), "--no-cache")
    assert (code, err) == (0, ""), out
