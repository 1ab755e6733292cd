"""`.pre-commit-hooks.yaml`: every hook selects rules that exist, runs once over the whole repo on
every commit (no layout in a `files:` pattern), and the family hooks never overlap."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from typing import Callable

import pytest
import yaml

from lotus_checks.checks import all_rules
from lotus_checks.cli import build_parser
from lotus_checks.core.config import Config
from lotus_checks.core.config import split_codes
from lotus_checks.core.config import with_overrides
from lotus_checks.core.selection import Selection
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

def _hooks() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    return {hook["id"]: hook for hook in data}


def _enabled(hook: dict[str, Any]) -> set[str]:
    """The rules a hook's entry reports on, through the command's own parser and selection."""
    argv = shlex.split(hook["entry"])
    assert argv[0] == "lotus-check"
    args = build_parser().parse_args(argv[1:])
    config = with_overrides(
        Config(root=REPO_ROOT),
        select=[c for group in args.select or [] for c in split_codes(group)],
        ignore=[c for group in args.ignore or [] for c in split_codes(group)],
    )
    selection = Selection(config)
    return {code for code, rule in all_rules().items()
            if selection.enabled(code) and (args.dbt or not rule.requires_dbt)}


def test_manifest_has_exactly_the_documented_hooks() -> None:
    assert tuple(_hooks()) == HOOK_IDS


def test_manifest_and_own_config_pass_pre_commits_validation() -> None:
    from pre_commit.clientlib import load_config
    from pre_commit.clientlib import load_manifest

    manifest = load_manifest(str(REPO_ROOT / ".pre-commit-hooks.yaml"))
    assert [hook["id"] for hook in manifest] == list(HOOK_IDS)
    load_config(str(REPO_ROOT / ".pre-commit-config.yaml"))


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_every_hook_reports_on_some_rule(hook_id: str) -> None:
    assert _enabled(_hooks()[hook_id]), hook_id


def test_family_hooks_split_the_rules_without_overlap() -> None:
    """Any set of family hooks prints each finding once; together they run every rule but repo
    hygiene (LL6xx, in `lotus-check` only), and `lotus-check` runs what they run."""
    hooks = _hooks()
    families = [hook_id for hook_id in HOOK_IDS if hook_id != "lotus-check"]
    everything = _enabled(hooks["lotus-check"])
    for code, rule in all_rules().items():
        runs = [hook_id for hook_id in families if code in _enabled(hooks[hook_id])]
        if code.startswith("LL6"):
            assert runs == [], code
        else:
            assert len(runs) == 1, (code, runs)
        if not rule.requires_dbt:
            assert code in everything, code


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_hook_runs_once_over_the_whole_repo_on_every_commit(hook_id: str) -> None:
    """No `files:`/`types:` filter can know the repo's layout (and pre-commit never passes a
    deleted file): every hook runs on every commit, once, over the whole repo."""
    hook = _hooks()[hook_id]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert hook["require_serial"] is True
    assert hook["always_run"] is True
    assert not {"files", "exclude", "types", "types_or", "exclude_types"} & set(hook), hook_id
    assert hook["name"] and hook["description"]


# The git hooks pre-commit runs around a commit or a push. With always_run and no `stages:`, a
# hook runs in every git hook the user installs: commit-msg (twice per commit), post-checkout
# (every `git checkout`), post-merge...
COMMIT_STAGES = ["pre-commit", "pre-merge-commit", "pre-push", "manual"]


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_hook_runs_only_at_commit_and_push_stages(hook_id: str) -> None:
    hook = _hooks()[hook_id]
    expected = ["manual"] if hook_id == "lotus-dbt" else COMMIT_STAGES
    assert hook.get("stages") == expected, hook_id
    assert hook["minimum_pre_commit_version"] == "3.2.0"  # where these stage names begin


def test_readme_lists_every_hook() -> None:
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    for hook_id in HOOK_IDS:
        assert f"`{hook_id}`" in readme, hook_id


def test_integration_docs_list_every_hook() -> None:
    docs = (REPO_ROOT / "docs" / "integration.md").read_text("utf-8")
    for hook_id in HOOK_IDS:
        assert hook_id in docs, hook_id


# lotus-dbt's entry (a dbt parse) runs in tests/dbt/test_crosscheck.py, in a child process that
# also shows the checker never imports dbt.
@pytest.mark.parametrize("hook_id", [h for h in HOOK_IDS if h != "lotus-dbt"])
def test_hook_entry_passes_on_the_reference_tree(
    hook_id: str, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """The entry's arguments are valid and the clean reference tree passes (in process; the
    real pre-commit run is tests/test_precommit.py)."""
    root = copy_reference(tmp_path)
    argv = shlex.split(_hooks()[hook_id]["entry"])[1:]
    code, out, err = cli(*argv, "--root", str(root), "--no-cache")
    assert (code, err) == (0, ""), out
