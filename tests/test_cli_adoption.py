"""The CLI a team adopts: --diff, --exit-zero, --statistics, `rules`, `explain`, LL602 (unused
noqa) and progress on a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from typing import Callable

import pytest

from lotus_checks import engine
from lotus_checks.adoption.gitutil import changed_files
from lotus_checks.checks import all_rules
from lotus_checks.core.config import load_config
from lotus_checks.core.rules import Rule
from lotus_checks.output.progress import Progress
from lotus_checks.output.progress import wants_progress
from tests.builders import CORE
from tests.builders import STREAMS
from tests.builders import copy_reference
from tests.builders import git
from tests.builders import git_init
from tests.builders import write_tree

CliRunner = Callable[..., tuple[int, str, str]]

CUSTOMERS = f"{CORE}/shopify/int_shopify__customers.sql"
TICKETS = f"{CORE}/gorgias/int_gorgias__tickets.sql"
SHOPIFY_SOURCES = f"{CORE}/shopify/_shopify__sources.yml"


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text("utf-8")
    assert old in text, (old, rel)
    path.write_text(text.replace(old, new, 1), "utf-8")


def _findings(cli: CliRunner, root: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    code, out, err = cli("--root", str(root), "--no-cache", "--output-format", "json", *args)
    assert code in (0, 1), err
    return code, json.loads(out)["findings"]


def _where(findings: list[dict[str, Any]]) -> list[tuple[str, str, int | None, int | None]]:
    return [(f["code"], f["path"], f["line"], f["column"]) for f in findings]


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


# ---- --diff ---------------------------------------------------------------------------------


@pytest.fixture
def lake_with_old_finding(reference_repo: Path) -> Path:
    """main holds an old, unrelated mistake in the gorgias tickets model."""
    _edit(reference_repo, TICKETS, "    messages_count,\n", "    message_count,\n")
    _commit(reference_repo, "old mistake")
    return reference_repo


def test_diff_reports_the_branch_change_not_old_findings(
    lake_with_old_finding: Path, cli: CliRunner
) -> None:
    root = lake_with_old_finding
    git(root, "checkout", "-q", "-b", "feature")
    _edit(root, CUSTOMERS, "    orders_count,\n", "    order_count,\n")
    _commit(root, "feature")

    _, found = _findings(cli, root, "--select", "LL4", "--diff", "main")
    assert ("LL401", CUSTOMERS, 29, 5) in _where(found)
    # The mart that reads the changed model is in scope too (widened by --diff).
    assert [f["path"] for f in found if f["code"] == "LL405"] == [
        "orchestration/assets/marts/marketing/dim_customers.sql"]
    assert TICKETS not in {f["path"] for f in found}
    # Control: the whole repo has the old finding.
    _, everything = _findings(cli, root, "--select", "LL4")
    assert TICKETS in {f["path"] for f in everything}


def test_diff_covers_uncommitted_and_untracked_files(reference_repo: Path, cli: CliRunner) -> None:
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n", "    order_count,\n")  # unstaged
    write_tree(reference_repo, {f"{STREAMS}/klaviyo/broken.json": "{,}\n"})  # untracked
    _, found = _findings(cli, reference_repo, "--select", "LL0,LL4", "--diff", "HEAD")
    where = _where(found)
    assert ("LL401", CUSTOMERS, 29, 5) in where
    assert ("LL002", f"{STREAMS}/klaviyo/broken.json", 1, 2) in where


def test_diff_of_a_stream_config_reports_the_unchanged_model_it_breaks(
    reference_repo: Path, cli: CliRunner
) -> None:
    config = reference_repo / STREAMS / "shopify/customers.json"
    data = json.loads(config.read_text("utf-8"))
    del data["fields"]["total_spent"]
    config.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    _, found = _findings(cli, reference_repo, "--select", "LL4", "--diff", "HEAD")
    assert ("LL402", CUSTOMERS, 30, 5) in _where(found)


def test_diff_of_a_file_every_source_uses_checks_the_whole_repo(
    lake_with_old_finding: Path, cli: CliRunner
) -> None:
    dbt_project = lake_with_old_finding / "orchestration/dbt_project.yml"
    dbt_project.write_text(dbt_project.read_text("utf-8") + "# touched\n", "utf-8")
    _, found = _findings(cli, lake_with_old_finding, "--select", "LL4", "--diff", "HEAD")
    assert TICKETS in {f["path"] for f in found}


def test_diff_with_nothing_changed_reports_nothing(
    lake_with_old_finding: Path, cli: CliRunner
) -> None:
    code, out, _ = cli("--root", str(lake_with_old_finding), "--no-cache", "--select", "LL4",
                       "--diff", "HEAD")
    assert code == 0
    assert out.strip() == "All checks passed (0 files checked)."


def test_changed_files_are_measured_from_the_merge_base(reference_repo: Path) -> None:
    git(reference_repo, "checkout", "-q", "-b", "feature")
    _edit(reference_repo, CUSTOMERS, "    tags,\n", "    tags,\n    tags as tag_list,\n")
    _commit(reference_repo, "feature change")
    git(reference_repo, "checkout", "-q", "main")
    _edit(reference_repo, TICKETS, "    status,\n", "    status,\n    status as state,\n")
    _commit(reference_repo, "main moved on")
    git(reference_repo, "checkout", "-q", "feature")
    git(reference_repo, "rm", "-q", f"{STREAMS}/stripe/_catalog.json")  # deletions count
    assert changed_files(reference_repo, "main") == {
        CUSTOMERS, f"{STREAMS}/stripe/_catalog.json"}


def test_changed_files_are_relative_to_a_root_below_the_git_top(tmp_path: Path) -> None:
    top = tmp_path / "monorepo"
    lake = copy_reference(top / "data")
    git_init(top)
    _edit(lake, CUSTOMERS, "    tags,\n", "    tags ,\n")
    (top / "elsewhere.txt").write_text("x\n", "utf-8")
    assert changed_files(lake.resolve(), "HEAD") == {CUSTOMERS}


def test_diff_outside_git_exits_2(make_repo: Callable[..., Path], cli: CliRunner) -> None:
    root = make_repo({f"{STREAMS}/shopify/orders.json": {"stream": "orders"}})
    code, out, err = cli("--root", str(root), "--diff", "main")
    assert (code, out) == (2, "")
    assert err == f"lotus-check: error: --changed-since needs a git repository, and {root.resolve()} is " \
                  "not in one\n"


def test_diff_unknown_revision_exits_2(reference_repo: Path, cli: CliRunner) -> None:
    code, out, err = cli("--root", str(reference_repo), "--diff", "origin/nope")
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and "unknown revision 'origin/nope'" in err


def test_diff_and_paths_exit_2(reference_repo: Path, cli: CliRunner) -> None:
    code, _, err = cli("--root", str(reference_repo), "--diff", "HEAD", CUSTOMERS)
    assert code == 2 and "drop the PATH arguments" in err


# ---- --exit-zero, --statistics, rules, explain ------------------------------------------------


@pytest.fixture
def two_broken_configs(reference_repo: Path) -> Path:
    write_tree(reference_repo, {
        f"{STREAMS}/shopify/orders.json": "{,}\n",
        f"{STREAMS}/shopify/customers.json": "[\n",
    })
    return reference_repo


def test_exit_zero_reports_but_exits_0(two_broken_configs: Path, cli: CliRunner) -> None:
    code, out, _ = cli("--root", str(two_broken_configs), "--no-cache", "--select", "LL0")
    assert code == 1
    code_zero, out_zero, _ = cli("--root", str(two_broken_configs), "--no-cache", "--select",
                                 "LL0", "--exit-zero")
    assert code_zero == 0
    assert out_zero == out and "LL002" in out


def test_statistics_counts_per_code(two_broken_configs: Path, cli: CliRunner) -> None:
    code, out, _ = cli("--root", str(two_broken_configs), "--no-cache", "--select", "LL0",
                       "--statistics")
    assert code == 1
    # The findings by rule instead of one by one (ruff's --statistics), then the summary.
    assert out == ("     2  LL002  invalid-json  error\n"
                   "Found 2 errors in 2 files (72 files checked).\n")


def test_statistics_keep_machine_output_parseable(two_broken_configs: Path, cli: CliRunner) -> None:
    code, out, err = cli("--root", str(two_broken_configs), "--no-cache", "--select", "LL0",
                         "--statistics", "--output-format", "json")
    assert code == 1
    assert len(json.loads(out)["findings"]) == 2
    assert err == "     2  LL002  invalid-json  error\n"


def test_rules_lists_every_rule(cli: CliRunner) -> None:
    code, out, _ = cli("rules")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == list(all_rules())
    ll602 = next(line for line in out.splitlines() if line.startswith("LL602"))
    assert "warning" in ll602 and "unused-noqa" in ll602


def test_explain_prints_the_rule_documentation(cli: CliRunner) -> None:
    code, out, _ = cli("explain", "ll401")
    assert code == 0
    rule = all_rules()["LL401"]
    assert out.startswith(f"## LL401 {rule.name}\n")
    assert rule.explanation.strip() in out


def test_explain_unknown_code_exits_2(cli: CliRunner) -> None:
    code, out, err = cli("explain", "LL999")
    assert (code, out) == (2, "")
    assert err == "lotus-check: error: no rule 'LL999' (see `lotus-check rules`)\n"


# ---- LL602 unused noqa ----------------------------------------------------------------------


def _ll602(cli: CliRunner, root: Path, *args: str) -> list[tuple[str, str, int | None, int | None]]:
    _, found = _findings(cli, root, *args)
    return [w for w in _where(found) if w[0] == "LL602"]


def test_unused_bare_noqa_is_a_warning_at_the_comment(reference_repo: Path, cli: CliRunner) -> None:
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", "    first_name,  -- noqa\n")
    code, found = _findings(cli, reference_repo)
    assert code == 0
    assert _where(found) == [("LL602", CUSTOMERS, 18, 18)]
    assert found[0]["severity"] == "warning"


def test_noqa_that_suppresses_is_not_reported(reference_repo: Path, cli: CliRunner) -> None:
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n", "    order_count,  -- noqa: LL401\n")
    _, found = _findings(cli, reference_repo, "--select", "LL4,LL6")
    assert [w for w in _where(found) if w[1] == CUSTOMERS] == []


def test_only_the_unused_codes_of_a_comment_are_reported(
    reference_repo: Path, cli: CliRunner
) -> None:
    _edit(reference_repo, CUSTOMERS, "    orders_count,\n",
          "    order_count,  -- noqa: LL401, LL402\n")
    _, found = _findings(cli, reference_repo, "--select", "LL4,LL6")
    (unused,) = [f for f in found if f["code"] == "LL602"]
    assert (unused["line"], unused["column"]) == (29, 19)
    assert "LL402" in unused["message"] and "LL401" not in unused["message"]


def test_noqa_is_judged_only_when_its_codes_ran(reference_repo: Path, cli: CliRunner) -> None:
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", "    first_name,  -- noqa: LL401\n")
    _edit(reference_repo, CUSTOMERS, "    last_name,\n", "    last_name,  -- noqa\n")
    assert _ll602(cli, reference_repo, "--select", "LL4,LL6") == [("LL602", CUSTOMERS, 18, 18)]
    assert _ll602(cli, reference_repo, "--select", "LL1,LL6") == []
    assert _ll602(cli, reference_repo, "--select", "LL4,LL6", "--ignore", "LL401") == []
    assert _ll602(cli, reference_repo, "--select", "LL4", "--ignore", "LL602") == []


def test_noqa_in_an_unparsable_model_is_not_judged(reference_repo: Path, cli: CliRunner) -> None:
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", "    first_name,  -- noqa: LL401\n")
    _edit(reference_repo, CUSTOMERS, "from latest\n", "from latest where (\n")  # LL003
    code, found = _findings(cli, reference_repo, "--select", "LL0,LL4,LL6")
    assert code == 1 and [f for f in found if f["code"].startswith("LL0")]
    assert [w for w in _where(found) if w[0] == "LL602"] == []


def test_noqa_under_per_file_ignores_is_not_judged(reference_repo: Path, cli: CliRunner) -> None:
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", "    first_name,  -- noqa: LL401\n")
    write_tree(reference_repo, {
        "lotus-check.toml": '[per-file-ignores]\n"orchestration/assets/core/shopify/*" = ["LL4"]\n'
    })
    assert _ll602(cli, reference_repo, "--select", "LL4,LL6") == []


def test_noqa_outside_the_reported_files_is_not_reported(
    reference_repo: Path, cli: CliRunner
) -> None:
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", "    first_name,  -- noqa\n")
    root = str(reference_repo)
    assert _ll602(cli, reference_repo, "--select", "LL4,LL6", f"{root}/{TICKETS}") == []
    assert _ll602(cli, reference_repo, f"{root}/{CUSTOMERS}") == [("LL602", CUSTOMERS, 18, 18)]


def test_unused_yaml_noqa_is_reported(reference_repo: Path, cli: CliRunner) -> None:
    _edit(reference_repo, SHOPIFY_SOURCES, "      - name: orders\n",
          "      - name: orders  # noqa: LL301\n")
    assert _ll602(cli, reference_repo, "--select", "LL3,LL6") == [
        ("LL602", SHOPIFY_SOURCES, 11, 23)]


def test_ll602_is_documented_with_the_other_hygiene_rules() -> None:
    rule = all_rules()["LL602"]
    assert isinstance(rule, Rule) and rule.family == "hygiene"
    assert "-- noqa: LL401" in rule.explanation


# ---- progress -------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_silent_for_the_first_second_then_redraws_one_line() -> None:
    stream, clock = io.StringIO(), _Clock()
    progress = Progress(stream, clock=clock)
    progress(1, 40)
    clock.now += 0.5
    progress(10, 40)
    assert stream.getvalue() == ""  # a fast run prints nothing
    clock.now += 0.6
    progress(20, 40)
    assert stream.getvalue() == "\rlotus-check: 20/40 files parsed"
    clock.now += 0.01
    progress(21, 40)  # too soon to redraw
    progress(40, 40)  # but the last one always shows
    assert stream.getvalue().endswith("\rlotus-check: 40/40 files parsed")
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * len("lotus-check: 40/40 files parsed") + "\r")


def test_progress_close_after_a_fast_run_writes_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(stream, clock=_Clock())
    progress(5, 5)
    progress.close()
    assert stream.getvalue() == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "forced", "environ", "expected"),
    [
        (_Tty(), False, {}, True),
        (io.StringIO(), False, {}, False),  # piped, redirected, CI logs
        (_Tty(), False, {"PRE_COMMIT": "1"}, False),  # pre-commit gives hooks a pty for colour
        (_Tty(), False, {"CI": "true"}, False),
        (_Tty(), False, {"TERM": "dumb"}, False),
        (io.StringIO(), True, {"PRE_COMMIT": "1"}, True),  # --progress
    ],
)
def test_progress_only_for_a_person_at_a_terminal(
    stream: io.StringIO, forced: bool, environ: dict[str, str], expected: bool
) -> None:
    assert wants_progress(stream, forced, environ) is expected


def test_checks_report_progress_through_the_context(
    reference_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook a long-running check calls: ctx.progress(done, total)."""
    def check(ctx):  # type: ignore[no-untyped-def]
        for done, _model in enumerate(ctx.repo.models, start=1):
            ctx.progress(done, len(ctx.repo.models))
        return iter(())

    family = SimpleNamespace(__name__="lotus_checks.checks.fake", RULES=(Rule("LL699", "x", "x"),),
                             check=check)
    monkeypatch.setattr(engine, "family_modules", lambda: [family])
    calls: list[tuple[int, int]] = []
    engine.run(load_config(reference_repo), use_cache=False,
               progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] == len(calls)
    # Without a callback, checks can still call it.
    engine.run(load_config(reference_repo), use_cache=False)


def test_cli_progress_flag_keeps_stdout_clean(reference_repo: Path, cli: CliRunner) -> None:
    code, out, err = cli("--root", str(reference_repo), "--no-cache", "--select", "LL0",
                         "--progress", "--output-format", "json")
    assert code == 0
    assert json.loads(out)["findings"] == []
    assert "Traceback" not in err


def test_noqa_for_a_dbt_only_rule_is_judged_only_with_dbt(
    reference_repo: Path, cli: CliRunner
) -> None:
    """LL308 runs only with --dbt: without it, `-- noqa: LL308` (or `LL3`) cannot be judged."""
    assert all_rules()["LL308"].requires_dbt
    _edit(reference_repo, CUSTOMERS, "    first_name,\n", "    first_name,  -- noqa: LL308\n")
    _edit(reference_repo, CUSTOMERS, "    last_name,\n", "    last_name,  -- noqa: LL3\n")
    assert _ll602(cli, reference_repo, "--select", "LL3,LL6") == []
