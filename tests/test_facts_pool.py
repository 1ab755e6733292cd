"""The engine's facts pool on a cold run: the families run while it computes the models' facts,
each family asking for a model's facts waits for that one, and the result is the one a run in a
single process gives. The pool starts only past POOL_THRESHOLD models; the tests lower it so the
reference tree's models go to the pool."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lotus_checks.core.config import load_config
from lotus_checks.incremental import model_facts
from lotus_checks.lake import generator
from lotus_checks.repo.model import Repo
from tests.builders import CORE
from tests.conftest import check_tree
from tests.conftest import codes
from tests.interrupt import interrupt_once_started

CUSTOMERS = f"{CORE}/shopify/int_shopify__customers.sql"


@pytest.fixture
def pooled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every model's facts go to the pool; what the pool hands in is recorded (model paths)."""
    monkeypatch.setattr(model_facts, "POOL_THRESHOLD", 0)
    handed: list[str] = []
    real = model_facts.FactsPool._hand_in_next

    def hand_in_next(self: model_facts.FactsPool) -> bool:
        before = set(self.handed)
        more = real(self)
        handed.extend(self.handed - before)
        return more

    monkeypatch.setattr(model_facts.FactsPool, "_hand_in_next", hand_in_next)
    return handed


def _break_a_model(root: Path) -> None:
    path = root / CUSTOMERS
    text = path.read_text("utf-8")
    assert "    orders_count,\n" in text
    path.write_text(text.replace("    orders_count,\n", "    order_count,\n", 1), "utf-8")


def test_pooled_run_finds_what_one_process_finds(reference_repo: Path, pooled: list[str]) -> None:
    _break_a_model(reference_repo)
    alone = codes(check_tree(reference_repo, jobs=1))
    assert pooled == []  # one process: no pool
    assert alone and any(code.startswith("LL4") for code, *_ in alone)
    assert codes(check_tree(reference_repo, jobs=2)) == alone
    assert sorted(pooled) == sorted(m.path for m in Repo(load_config(reference_repo)).models)


def test_the_generator_runs_while_the_pool_computes(reference_repo: Path, pooled: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog family needs no model facts: it runs before any is waited for, so the
    generator's run overlaps the pool's work."""
    handed_when_run: list[int] = []
    real = generator.run_generator

    def run_generator(*args, **kwargs):  # type: ignore[no-untyped-def]
        handed_when_run.append(len(pooled))
        return real(*args, **kwargs)

    monkeypatch.setattr(generator, "run_generator", run_generator)
    assert codes(check_tree(reference_repo, jobs=2)) == []
    assert handed_when_run == [0]
    assert len(pooled) > 0


@pytest.mark.parametrize("select", [["LL4"], ["LL202", "LL203", "LL4"]])
def test_no_generator_when_no_rule_needs_it(reference_repo: Path, pooled: list[str],
                                            monkeypatch: pytest.MonkeyPatch,
                                            select: list[str]) -> None:
    started: list[object] = []
    real = generator._start_in_copy

    def start(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(generator, "_start_in_copy", start)
    _break_a_model(reference_repo)
    found = codes(check_tree(reference_repo, select=select, jobs=2))
    assert found and all(code.startswith("LL4") for code, *_ in found)
    assert pooled and started == []
    check_tree(reference_repo, select=["LL201"], jobs=2)
    assert len(started) == 1  # the patch does see a run


def test_a_broken_pool_leaves_the_facts_to_this_process(reference_repo: Path,
                                                        pooled: list[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool that breaks (a worker killed by the system) hands in nothing more: the models
    left are computed in this process, with the same findings."""
    _break_a_model(reference_repo)
    alone = codes(check_tree(reference_repo, jobs=1))

    def broken(self: model_facts.FactsPool) -> bool:
        self.close()
        return False

    monkeypatch.setattr(model_facts.FactsPool, "_hand_in_next", broken)
    assert codes(check_tree(reference_repo, jobs=2)) == alone


def test_ctrl_c_while_the_pool_works_and_the_generator_runs(reference_repo: Path,
                                                            tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal sends it, while the pool's workers are
    alive and the catalog family waits for the generator: exit 130 with one line (no worker's
    traceback), the workers and the generator's supervisor gone."""
    started = tmp_path / "generator-started"  # outside the tree: the generator may write there
    gen = reference_repo / "orchestration/airbyte/generate-catalog.py"
    gen.write_text(f"open({str(started)!r}, 'w').close()\nimport time\ntime.sleep(60)\n",
                   "utf-8")
    script = (
        "import sys\n"
        "from lotus_checks.incremental import model_facts\n"
        "model_facts.POOL_THRESHOLD = 0\n"
        f"sys.argv = ['lotus-check', '--root', {str(reference_repo)!r}, '--no-cache',"
        " '--jobs', '2']\n"
        "from lotus_checks.cli import console_main\n"
        "console_main()\n"
    )
    children: list[int] = []

    def note_children(pid: int) -> None:
        # The pool's workers and the generator's supervisor (which ends the generator).
        children.extend(_children(pid))
        assert len(children) >= 3, children

    code, err, took = interrupt_once_started([sys.executable, "-c", script], started,
                                             note_children)
    assert code == 130, err
    assert err == "lotus-check: interrupted; nothing was half-written\n"
    assert took < 15
    assert [pid for pid in children if _alive(pid)] == []


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        pytest.skip("no /proc children list here")
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
