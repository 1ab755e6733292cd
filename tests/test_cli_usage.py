"""The command on a first run: no silent passes (a missing PATH, a misspelled subcommand, a code
that matches no rule), the fix preview, --changed-since, --jobs, Ctrl-C, and baselines that say
when their entries are gone."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any
from typing import Callable

import pytest

from lotus_checks import engine
from tests.builders import CORE
from tests.builders import STREAMS
from tests.builders import git
from tests.builders import write_tree
from tests.interrupt import interrupt_once_started

CliRunner = Callable[..., tuple[int, str, str]]

CUSTOMERS = f"{CORE}/shopify/int_shopify__customers.sql"
SHOPIFY_CATALOG = f"{STREAMS}/shopify/_catalog.json"
FAST = ("--no-cache", "--select", "LL4")


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text("utf-8")
    assert old in text, (old, rel)
    path.write_text(text.replace(old, new, 1), "utf-8")


def _one_line_exit_2(result: tuple[int, str, str], *expected: str) -> str:
    code, out, err = result
    assert (code, out) == (2, ""), err
    assert len(err.splitlines()) == 1 and err.startswith("lotus-check: error: "), err
    for text in expected:
        assert text in err, err
    return err


# ---- no silent passes -----------------------------------------------------------------------


def test_misspelled_subcommand_suggests_the_subcommand(
    reference_repo: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(reference_repo)
    _one_line_exit_2(cli("rule"), "no file or folder 'rule'", "did you mean `lotus-check rules`?")
    _one_line_exit_2(cli("explian", "LL401"), "did you mean `lotus-check explain`?")


def test_a_file_named_like_a_subcommand_is_still_a_path(
    reference_repo: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    (reference_repo / "rule").write_text("notes\n", "utf-8")
    monkeypatch.chdir(reference_repo)
    code, out, err = cli(*FAST, "rule")
    assert (code, err) == (0, ""), err
    assert out == "All checks passed (0 files checked).\n"


def test_a_path_that_does_not_exist_exits_2(reference_repo: Path, cli: CliRunner,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(reference_repo)
    _one_line_exit_2(cli(*FAST, f"{CORE}/shopify/int_shopify__custmers.sql"),
                     "no file or folder", "int_shopify__custmers.sql")


def test_existing_and_renamed_file_paths_are_checked(
    reference_repo: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pre-commit passes a renamed file under its new name (never a deleted one): it is checked."""
    monkeypatch.chdir(reference_repo)
    code, out, _ = cli(*FAST, CUSTOMERS)
    assert (code, out) == (0, "All checks passed (1 file checked).\n")
    renamed = f"{CORE}/shopify/int_shopify__customers_v2.sql"
    git(reference_repo, "mv", CUSTOMERS, renamed)
    _edit(reference_repo, renamed, "    orders_count,\n", "    order_count,\n")
    code, out, _ = cli(*FAST, "--output-format", "concise", renamed)
    assert code == 1
    assert f"{renamed}:29:5: LL401 " in out


def test_a_path_outside_the_root_exits_2(reference_repo: Path, tmp_path: Path,
                                         cli: CliRunner) -> None:
    outside = tmp_path / "elsewhere.sql"
    outside.write_text("select 1\n", "utf-8")
    _one_line_exit_2(cli("--root", str(reference_repo), *FAST, str(outside)),
                     "is outside the root")


def test_under_pre_commit_paths_outside_the_root_are_skipped_with_a_note(
    reference_repo: Path, tmp_path: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monorepo hook with `--root data` and `pass_filenames: true`: pre-commit passes the staged
    files of every folder, and a commit that only touches README.md must not fail."""
    outside = tmp_path / "README.md"
    outside.write_text("# elsewhere\n", "utf-8")
    monkeypatch.setenv("PRE_COMMIT", "1")
    code, out, err = cli("--root", str(reference_repo), *FAST, str(outside))
    assert code == 0, out
    assert err == f"lotus-check: note: 1 file outside the root {reference_repo.resolve()} not " \
                  f"checked ({str(outside)!r})\n"
    # The files inside the root are still checked.
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n", "    order_count,\n")
    code, out, _ = cli("--root", str(reference_repo), *FAST, "--output-format", "concise",
                       str(outside), str(reference_repo / CUSTOMERS))
    assert code == 1 and f"{CUSTOMERS}:29:5: LL401 " in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "LL9"], "--select LL9 matches no rule"),
        (["--select", "LL4,LL499"], "--select LL499 matches no rule"),
        (["--ignore", "LL0,LL7"], "--ignore LL7 matches no rule"),
    ],
)
def test_codes_that_match_no_rule_exit_2(reference_repo: Path, cli: CliRunner, args: list[str],
                                         expected: str) -> None:
    _one_line_exit_2(cli("--root", str(reference_repo), "--no-cache", *args), expected,
                     "`lotus-check rules`")


def test_configured_codes_that_match_no_rule_exit_2_naming_the_file(
    reference_repo: Path, cli: CliRunner
) -> None:
    (reference_repo / "lotus-check.toml").write_text('ignore = ["LL4", "LL90"]\n', "utf-8")
    _one_line_exit_2(cli("--root", str(reference_repo), "--no-cache"),
                     "lotus-check.toml: ignore LL90 matches no rule")


def test_configured_per_file_ignores_codes_that_match_no_rule_exit_2(
    reference_repo: Path, cli: CliRunner
) -> None:
    (reference_repo / "lotus-check.toml").write_text(
        '[per-file-ignores]\n"orchestration/**" = ["LL401", "LL999"]\n', "utf-8")
    _one_line_exit_2(cli("--root", str(reference_repo), "--no-cache"),
                     "lotus-check.toml: per-file-ignores 'orchestration/**' LL999 matches no rule")


@pytest.mark.parametrize(
    "config",
    ['ignore = ["LL508"]\n', '[per-file-ignores]\n"orchestration/**" = ["LL508"]\n',
     'select = ["LL4", "LL508"]\n'],
)
def test_a_retired_code_in_the_config_warns_and_names_its_successor(
    reference_repo: Path, cli: CliRunner, config: str
) -> None:
    """A version bump that retires a code must not block every commit (exit 2 on every hook)."""
    (reference_repo / "lotus-check.toml").write_text(config, "utf-8")
    code, _, err = cli("--root", str(reference_repo), "--no-cache")
    assert code == 0, err
    assert err.count("\n") == 1 and err.startswith("lotus-check: warning: "), err
    assert "LL508 is retired, its check is LL207 now" in err


def test_a_retired_code_on_the_command_line_warns(reference_repo: Path, cli: CliRunner) -> None:
    code, _, err = cli("--root", str(reference_repo), "--no-cache", *FAST, "--ignore", "LL508")
    assert code == 0 and "--ignore LL508: LL508 is retired, its check is LL207 now" in err


def test_explain_names_the_successor_of_a_retired_code(cli: CliRunner) -> None:
    assert cli("explain", "LL508") == (2, "", "lotus-check: error: LL508 is retired; its check is "
                                       "LL207 now (`lotus-check explain LL207`)\n")


def test_retired_codes_name_live_successors_and_no_live_rule() -> None:
    from lotus_checks.checks import all_rules
    from lotus_checks.core.rules import RETIRED

    rules = all_rules()
    for old, new in RETIRED.items():
        assert old not in rules and new in rules, (old, new)


def test_selecting_only_retired_codes_exits_2(reference_repo: Path, cli: CliRunner) -> None:
    code, out, err = cli("--root", str(reference_repo), "--no-cache", "--select", "LL508")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1].startswith("lotus-check: error: select LL508 names only retired")


@pytest.mark.parametrize("option", ["--select", "--ignore"])
@pytest.mark.parametrize("value", ["", ",", " , "])
def test_an_empty_code_list_exits_2(reference_repo: Path, cli: CliRunner, option: str,
                                    value: str) -> None:
    """`--select "$CODES"` with CODES empty must not run every rule."""
    _one_line_exit_2(cli("--root", str(reference_repo), "--no-cache", option, value),
                     f"{option} needs at least one code")


def test_an_empty_configured_select_exits_2(reference_repo: Path, cli: CliRunner) -> None:
    (reference_repo / "lotus-check.toml").write_text("select = []\n", "utf-8")
    _one_line_exit_2(cli("--root", str(reference_repo), "--no-cache"),
                     "lotus-check.toml: select is empty")


def test_codes_and_prefixes_that_match_rules_pass(reference_repo: Path, cli: CliRunner) -> None:
    code, _, err = cli("--root", str(reference_repo), "--no-cache", "--select", "LL4,LL003",
                       "--ignore", "LL407")
    assert (code, err) == (0, "")


# ---- under pre-commit: the working tree is not the commit -----------------------------------


def test_under_pre_commit_untracked_files_in_checked_folders_get_a_warning(
    reference_repo: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pre-commit stashes unstaged edits, not untracked files: a model removed from the index
    with `git rm --cached` (or never added) is still on disk and checked, but a clone lacks it."""
    git(reference_repo, "rm", "-q", "--cached", CUSTOMERS)
    (reference_repo / "notes.txt").write_text("not in a checked folder\n", "utf-8")
    monkeypatch.setenv("PRE_COMMIT", "1")
    code, out, err = cli("--root", str(reference_repo), *FAST)
    assert code == 0, out
    assert err == ("lotus-check: warning: checked the working tree, where 1 untracked file is "
                   f"not part of this commit: {CUSTOMERS} (git add, or move away, for a result "
                   "that holds in a clone)\n")
    # Ignored files are not part of any commit: no warning for them.
    (reference_repo / ".gitignore").write_text(f"{CUSTOMERS}\n", "utf-8")
    assert cli("--root", str(reference_repo), *FAST) == (0, out, "")


def test_untracked_files_are_not_mentioned_outside_pre_commit(
    reference_repo: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    git(reference_repo, "rm", "-q", "--cached", CUSTOMERS)
    code, _, err = cli("--root", str(reference_repo), *FAST)
    assert (code, err) == (0, "")


def test_under_pre_commit_outside_git_there_is_no_warning(
    tmp_path: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.builders import copy_reference

    root = tmp_path / "lake"
    root.mkdir()
    copy_reference(root)
    monkeypatch.setenv("PRE_COMMIT", "1")
    code, _, err = cli("--root", str(root), *FAST)
    assert (code, err) == (0, "")


# ---- --fix --dry-run --------------------------------------------------------------------------


def test_fix_dry_run_prints_the_diff_writes_nothing_and_exits_1(
    reference_repo: Path, cli: CliRunner
) -> None:
    catalog = reference_repo / SHOPIFY_CATALOG
    _edit(reference_repo, SHOPIFY_CATALOG, '"sync_mode": "incremental"',
          '"sync_mode": "full_refresh"')
    before = catalog.read_bytes()
    listing = sorted(os.listdir(catalog.parent))

    code, out, err = cli("--root", str(reference_repo), "--no-cache", "--fix", "--dry-run")
    assert code == 1, err
    assert out.startswith(f"--- a/{SHOPIFY_CATALOG}\n+++ b/{SHOPIFY_CATALOG}\n@@ ")
    assert '-        "sync_mode": "full_refresh",\n' in out
    assert '+        "sync_mode": "incremental",\n' in out
    assert err == "lotus-check: --fix would rewrite 1 file (--dry-run: nothing written)\n"
    assert catalog.read_bytes() == before
    assert sorted(os.listdir(catalog.parent)) == listing

    # What the preview showed is what --fix writes.
    code, _, _ = cli("--root", str(reference_repo), "--no-cache", "--fix")
    assert code == 1
    new_side = [line[1:] for line in out.splitlines(keepends=True)[3:]
                if not line.startswith("-")]
    assert "".join(new_side) in catalog.read_text("utf-8")
    code, out, err = cli("--root", str(reference_repo), "--no-cache", "--fix", "--dry-run")
    assert (code, out) == (0, "")
    assert err == "lotus-check: --fix would change nothing (--dry-run shows fixes, not findings)\n"


def test_dry_run_needs_fix_and_a_human_format(reference_repo: Path, cli: CliRunner) -> None:
    _one_line_exit_2(cli("--root", str(reference_repo), "--dry-run"), "add --fix")
    _one_line_exit_2(cli("--root", str(reference_repo), "--fix", "--dry-run",
                         "--output-format", "json"), "drop --output-format json")


# ---- --changed-since (alias --diff) -----------------------------------------------------------


def test_changed_since_is_the_changed_files_option_and_diff_its_alias(
    reference_repo: Path, cli: CliRunner
) -> None:
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n", "    order_count,\n")
    outputs = []
    for option in ("--changed-since", "--diff"):
        code, out, _ = cli("--root", str(reference_repo), *FAST, "--output-format", "json",
                           option, "HEAD")
        assert code == 1
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1]
    assert {f["path"] for f in outputs[0]["findings"]} >= {CUSTOMERS}


def test_changed_since_messages_name_the_option_the_user_typed(
    reference_repo: Path, cli: CliRunner
) -> None:
    root = str(reference_repo)
    for result in (
        cli("--root", root, "--changed-since", "nope"),
        cli("--root", root, "--changed-since", "HEAD", CUSTOMERS),
        cli("--root", root, "--changed-since", "HEAD", "--write-baseline", "b.json"),
    ):
        err = _one_line_exit_2(result, "--changed-since")
        assert "--diff" not in err


@pytest.mark.parametrize("rev", ["", " "])
def test_an_empty_changed_since_revision_exits_2(reference_repo: Path, cli: CliRunner,
                                                 rev: str) -> None:
    """`--changed-since "$BASE"` with BASE unset would otherwise check nothing or everything."""
    _one_line_exit_2(cli("--root", str(reference_repo), "--changed-since", rev),
                     "--changed-since needs a revision")


# ---- --jobs -----------------------------------------------------------------------------------


def test_jobs_are_capped_at_the_processors(reference_repo: Path, cli: CliRunner,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int | None] = []
    real_run = engine.run

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["jobs"])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(engine, "run", spy)
    processors = len(os.sched_getaffinity(0))
    for requested in ("300", "1"):
        code, _, err = cli("--root", str(reference_repo), *FAST, "--jobs", requested)
        assert (code, err) == (0, "")
    assert seen == [processors, 1]


# ---- Ctrl-C -----------------------------------------------------------------------------------


def test_interrupt_is_one_line_and_exit_130(reference_repo: Path, cli: CliRunner,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run", interrupted)
    assert cli("--root", str(reference_repo), "--no-cache", "--fix") == (
        130, "", "lotus-check: interrupted; nothing was half-written\n")


def test_ctrl_c_during_fix_in_a_terminal_session(reference_repo: Path, tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal sends it, while --fix waits for the
    generator: one line on stderr, exit 130, the catalog untouched, no temporary files."""
    started = tmp_path / "generator-started"  # outside the tree: the generator may write there
    generator = reference_repo / "orchestration/airbyte/generate-catalog.py"
    generator.write_text(f"open({str(started)!r}, 'w').close()\nimport time\ntime.sleep(60)\n",
                         "utf-8")
    _edit(reference_repo, SHOPIFY_CATALOG, '"sync_mode": "incremental"',
          '"sync_mode": "full_refresh"')
    before = {p: p.read_bytes() for p in (reference_repo / STREAMS).rglob("*") if p.is_file()}
    code, err, _took = interrupt_once_started(
        [sys.executable, "-m", "lotus_checks", "--root", str(reference_repo), "--no-cache",
         "--fix"], started)
    assert (code, err) == (130, "lotus-check: interrupted; nothing was half-written\n"), err
    after = {p: p.read_bytes() for p in (reference_repo / STREAMS).rglob("*") if p.is_file()}
    assert after == before


# ---- baseline ---------------------------------------------------------------------------------


@pytest.fixture
def baselined(reference_repo: Path, cli: CliRunner) -> tuple[Path, Path]:
    """A tree whose two LL401 findings are recorded in a baseline at the root."""
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n", "    order_count,\n")
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", "    frist_name,\n")
    baseline = reference_repo / ".lotus-check-baseline.json"
    code, _, err = cli("--root", str(reference_repo), *FAST, "--write-baseline", str(baseline))
    assert code == 0, err
    return reference_repo, baseline


def test_gone_baseline_entries_are_reported(baselined: tuple[Path, Path], cli: CliRunner) -> None:
    root, baseline = baselined
    code, out, err = cli("--root", str(root), *FAST, "--baseline", str(baseline))
    assert (code, err) == (0, "")
    # Fixing `order_count` clears its LL401 and the LL405 of the mart that reads the column.
    _edit(root, CUSTOMERS, "    order_count,\n", "    orders_count,\n")
    code, out, err = cli("--root", str(root), *FAST, "--baseline", str(baseline))
    assert code == 0
    assert err == (f"lotus-check: 2 baselined findings are gone; rewrite with --write-baseline "
                   f"{baseline}\n")
    assert "in the baseline" in out
    code, _, _ = cli("--root", str(root), *FAST, "--write-baseline", str(baseline))
    code, out, err = cli("--root", str(root), *FAST, "--baseline", str(baseline))
    assert (code, err) == (0, "")


def test_entries_outside_the_run_are_not_gone(baselined: tuple[Path, Path],
                                              cli: CliRunner) -> None:
    root, baseline = baselined
    _edit(root, CUSTOMERS, "    order_count,\n", "    orders_count,\n")
    other = f"{CORE}/gorgias/int_gorgias__tickets.sql"
    for args in (["--select", "LL5"], [str(root / other)]):
        code, _, err = cli("--root", str(root), "--no-cache", "--baseline", str(baseline), *args)
        assert (code, err) == (0, ""), args


def test_baseline_paths_are_relative_to_the_root_wherever_it_runs(
    reference_repo: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n", "    order_count,\n")
    monkeypatch.chdir(reference_repo / CORE)  # written from deep inside the repo
    code, _, _ = cli(*FAST, "--write-baseline", "../../../b.json")
    assert code == 0
    entries = json.loads((reference_repo / "b.json").read_text("utf-8"))["findings"]
    assert {e["path"] for e in entries} == {
        CUSTOMERS, "orchestration/assets/marts/marketing/dim_customers.sql"}
    monkeypatch.chdir(reference_repo)  # read at the root, as pre-commit and CI do
    code, out, err = cli(*FAST, "--baseline", "b.json")
    assert (code, err) == (0, "")
    assert "All checks passed" in out and "in the baseline" in out


def test_a_root_relative_baseline_is_found_from_a_subfolder(
    baselined: tuple[Path, Path], cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command the hooks and CI run (`--baseline .lotus-check-baseline.json`), typed in a
    subfolder: the repo's baseline, not "does not exist" with a hint that makes a second one."""
    root, baseline = baselined
    monkeypatch.chdir(root / "orchestration")
    code, out, err = cli(*FAST, "--baseline", baseline.name)
    assert (code, err) == (0, ""), out
    assert "in the baseline" in out
    # The gone hint names the file that was read, from where the command runs.
    _edit(root, CUSTOMERS, "    order_count,\n", "    orders_count,\n")
    code, out, err = cli(*FAST, "--baseline", baseline.name)
    assert err == ("lotus-check: 2 baselined findings are gone; rewrite with --write-baseline "
                   f"../{baseline.name}\n")
    assert not (root / "orchestration" / baseline.name).exists()


def test_a_baseline_in_the_current_folder_wins(baselined: tuple[Path, Path], cli: CliRunner,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root, baseline = baselined
    here = root / "orchestration"
    (here / baseline.name).write_text("{}", "utf-8")  # not a baseline: proves which one is read
    monkeypatch.chdir(here)
    _one_line_exit_2(cli(*FAST, "--baseline", baseline.name),
                     f"{baseline.name} is not a lotus-check baseline")


def _non_regular(tmp_path: Path) -> list[tuple[str, Path]]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "target.json"
    target.write_text("keep\n", "utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    nodes = [("a FIFO", fifo), ("a symbolic link", link), ("a folder", folder)]
    device = tmp_path / "null"
    try:  # a character device like /dev/null, where the kernel lets us make one (root)
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        nodes.append(("a device", device))
    except OSError:
        pass
    return nodes


def test_write_baseline_never_replaces_a_non_regular_file(
    reference_repo: Path, tmp_path: Path, cli: CliRunner
) -> None:
    for kind, node in _non_regular(tmp_path):
        before = os.lstat(node)
        _one_line_exit_2(cli("--root", str(reference_repo), *FAST, "--write-baseline",
                             str(node)), f"it is {kind}, not a regular file")
        after = os.lstat(node)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino), kind
    assert (tmp_path / "target.json").read_text("utf-8") == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_a_fifo_baseline_exits_2_instead_of_blocking(reference_repo: Path, tmp_path: Path,
                                                     cli: CliRunner) -> None:
    fifo = tmp_path / "baseline.json"
    os.mkfifo(fifo)
    _one_line_exit_2(cli("--root", str(reference_repo), *FAST, "--baseline", str(fifo)),
                     "is not a regular file")


def test_a_regular_baseline_file_is_replaced(baselined: tuple[Path, Path], cli: CliRunner) -> None:
    root, baseline = baselined
    recorded = len(json.loads(baseline.read_text("utf-8"))["findings"])
    write_tree(root, {CUSTOMERS: (root / CUSTOMERS).read_text("utf-8").replace(
        "frist_name", "first_name")})
    code, _, err = cli("--root", str(root), *FAST, "--write-baseline", str(baseline))
    assert code == 0, err
    assert len(json.loads(baseline.read_text("utf-8"))["findings"]) == recorded - 1
    assert stat.S_ISREG(os.lstat(baseline).st_mode)
