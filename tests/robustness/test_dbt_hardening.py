"""`--dbt` on hostile trees: dbt is never started on a project it would block on (a FIFO among
its files) or read outside the repository through (a link out, a link to a folder above); the
project's own manifest is read only inside the root and never blocks or reads without end; dbt
runs under a time limit that kills everything it started; and no environment value that dbt
resolved through `env_var()` appears in an LL308 message (or the cache).

Most tests stand in for dbt (`_parse`, `_run_dbt`) so they take milliseconds; one runs real dbt
on the small lake to show a secret tag is redacted end to end.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lotus_checks.lake import dbt_parse
from lotus_checks.lake.dbt_parse import DbtView
from tests.conftest import check_tree
from tests.robustness.helpers import CORE
from tests.robustness.helpers import ORDERS_MODEL
from tests.robustness.helpers import PROJECT
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import no_hang

SECRET = "s3cr3t-V4lue-0f-th3-t0ken"


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return build_lake(tmp_path / "lake")


def ll308(root: Path) -> list[tuple[str, str]]:
    with no_hang(60):
        result = check_tree(root, use_dbt=True, use_cache=False)
    return [(f.path, f.message) for f in result.findings if f.code == "LL308"]


@pytest.fixture
def no_dbt(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """dbt stands in: `_parse` records that it ran and agrees with everything."""
    ran: list[str] = []

    def fake_parse(ctx: object, project: dict, project_dir: Path) -> DbtView:
        ran.append(str(project_dir))
        return DbtView(error="stand-in")

    monkeypatch.setattr(dbt_parse, "_parse", fake_parse)
    return ran


# ---- files dbt would block on or read outside the root ----------------------------------------------


@pytest.mark.parametrize("name", ["x.sql", "schema.yml", "seed.csv", "docs.md", "model.py"])
def test_fifo_in_the_dbt_project_is_a_finding_and_dbt_is_not_run(lake: Path, no_dbt: list[str], name: str) -> None:
    os.mkfifo(lake / CORE / name)
    started = time.monotonic()
    found = ll308(lake)
    assert time.monotonic() - started < 30
    assert no_dbt == []
    assert len(found) == 1 and found[0][0] == PROJECT
    assert found[0][1].startswith("dbt was not run: ") and "not a regular file" in found[0][1]


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/hostname"])
def test_link_out_of_the_root_among_dbt_files_is_a_finding(lake: Path, no_dbt: list[str], target: str) -> None:
    (lake / CORE / "linked.sql").symlink_to(target)
    found = ll308(lake)
    assert no_dbt == []
    assert [message for _path, message in found] == [
        f"dbt was not run: {CORE}/linked.sql links outside the repository, and dbt would read it"
    ]


@pytest.mark.parametrize("target", ["outside", "above"])
def test_folder_link_dbt_would_follow_out_or_in_circles_is_a_finding(
    lake: Path, tmp_path: Path, no_dbt: list[str], target: str
) -> None:
    (tmp_path / "outside").mkdir()
    (lake / CORE / "more").symlink_to(tmp_path / "outside" if target == "outside" else lake / "orchestration")
    found = ll308(lake)
    assert no_dbt == []
    assert len(found) == 1 and "links to a folder outside the repository or above itself" in found[0][1]


def test_ordinary_links_inside_the_project_still_run_dbt(lake: Path, no_dbt: list[str]) -> None:
    """The neighbour: a file link and a folder link that stay inside the root are dbt's business."""
    (lake / CORE / "copy.sql").symlink_to(lake / ORDERS_MODEL)
    (lake / "orchestration" / "more_models").symlink_to(lake / CORE)
    ll308(lake)
    assert no_dbt != []


# ---- the project's own manifest ---------------------------------------------------------------------


def _set_target_path(lake: Path, value: str) -> None:
    path = lake / PROJECT
    path.write_text(path.read_text() + f"target-path: {json.dumps(value)}\n")


@pytest.mark.parametrize("where", ["absolute", "dotdot", "link"])
def test_target_path_outside_the_root_is_not_read(
    lake: Path, tmp_path: Path, no_dbt: list[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A target-path outside the repository is valid for dbt; lotus-check does not follow it:
    the manifest there is never opened, dbt parses afresh instead."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "manifest.json").write_text('{"nodes": {}, "sources": {}}')
    future = time.time() + 3600
    os.utime(outside / "manifest.json", (future, future))  # newer than every project file
    if where == "absolute":
        _set_target_path(lake, str(outside))
    elif where == "dotdot":
        _set_target_path(lake, "../../elsewhere")
    else:
        (lake / "orchestration" / "target").symlink_to(outside)
    opened: list[str] = []
    real = dbt_parse._read_manifest
    monkeypatch.setattr(dbt_parse, "_read_manifest",
                        lambda path, size: opened.append(str(path)) or real(path, size))
    ll308(lake)
    assert opened == []
    assert no_dbt != []


def test_target_path_inside_the_root_is_still_reused(
    lake: Path, no_dbt: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The neighbour: a fresh manifest under the project's own target-path is read, no parse."""
    _set_target_path(lake, "build/dbt")
    target = lake / "orchestration" / "build" / "dbt"
    target.mkdir(parents=True)
    (target / "manifest.json").write_text('{"nodes": {}, "sources": {}}')
    future = time.time() + 3600
    os.utime(target / "manifest.json", (future, future))
    opened: list[str] = []
    real = dbt_parse._read_manifest
    monkeypatch.setattr(dbt_parse, "_read_manifest",
                        lambda path, size: opened.append(str(path)) or real(path, size))
    ll308(lake)
    assert opened == [str(target / "manifest.json")]
    assert no_dbt == []


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "garbage-shape"])
def test_manifest_that_is_a_fifo_a_device_or_of_another_shape_is_parsed_afresh(
    lake: Path, no_dbt: list[str], kind: str
) -> None:
    target = lake / "orchestration" / "target"
    target.mkdir()
    manifest = target / "manifest.json"
    if kind == "fifo":
        os.mkfifo(manifest)
    elif kind == "dev-zero":
        manifest.symlink_to("/dev/zero")
    else:
        manifest.write_text('{"nodes": [1, 2], "sources": 5}')
    future = time.time() + 3600
    if kind != "dev-zero":
        os.utime(manifest, (future, future))
    started = time.monotonic()
    ll308(lake)
    assert time.monotonic() - started < 30
    if kind != "dev-zero":  # /dev/zero is older than the project: never a candidate
        assert no_dbt != []


# ---- the time limit ---------------------------------------------------------------------------------


def test_dbt_past_its_time_limit_is_killed_with_everything_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    monkeypatch.setattr(dbt_parse, "PARSE_TIMEOUT", 1.0)
    monkeypatch.setattr(dbt_parse, "_RUNNER", (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '120'])\n"  # holds our stdout and stderr
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    ))
    started = time.monotonic()
    with no_hang(60):
        outcome = dbt_parse._run_dbt(["parse"], tmp_path)
    assert time.monotonic() - started < 15
    assert outcome == {"error": "dbt parse did not finish within 1 s"}
    grandchild = int(pid_file.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{grandchild}").exists() or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]


# ---- env_var() values ---------------------------------------------------------------------------------


def test_secret_values_and_redaction() -> None:
    environ = {"DB_TOKEN": "abcd", "DBT_ENV_SECRET_X": "hush", "PLAIN": "production-eu",
               "SHORT": "prod", "HOME": "/home/someone", "LC_ALL": "C.UTF-8", "EMPTY_KEY": "   "}
    secrets = dbt_parse.secret_values(environ)
    assert sorted(name for _value, name in secrets) == ["DBT_ENV_SECRET_X", "DB_TOKEN", "PLAIN"]
    text = "tags ['abcd', 'production-eu', 'prod'] in /home/someone/x and hush"
    assert dbt_parse.redact(text, secrets) == (
        "tags ['${DB_TOKEN}', '${PLAIN}', 'prod'] in /home/someone/x and ${DBT_ENV_SECRET_X}"
    )


def test_env_var_value_in_a_dbt_error_is_redacted(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOTUS_TEST_TOKEN", SECRET)
    monkeypatch.setattr(dbt_parse, "_run_dbt",
                        lambda args, work: {"error": f"Compilation Error: bad value {SECRET}"})
    found = ll308(lake)
    assert found == [(PROJECT, "dbt parse fails: Compilation Error: bad value ${LOTUS_TEST_TOKEN}")]


def test_env_var_value_dbt_resolved_into_a_tag_is_redacted_end_to_end(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real dbt: the tag comes from env_var(); lotus-check's own rendering cannot know it, so the
    tags differ (LL308), and the message names the variable, never its value. The summary is
    not cached while it holds a value. An environment value that is also a name in the project
    (a tag of the other models here) makes no difference to the comparison: only what is shown
    is redacted."""
    monkeypatch.setenv("LOTUS_TEST_TOKEN", SECRET)
    monkeypatch.setenv("LOTUS_TEST_PLAIN", "shopify__customers")
    model = lake / ORDERS_MODEL
    model.write_text(model.read_text().replace("tags=[", "tags=[env_var('LOTUS_TEST_TOKEN'), ", 1))
    with no_hang(300):
        result = check_tree(lake, use_dbt=True, use_cache=True)
    found = [f for f in result.findings if f.code == "LL308"]
    assert [f.path for f in found] == [ORDERS_MODEL]
    assert "${LOTUS_TEST_TOKEN}" in found[0].message
    assert not any(SECRET in f.message + f.hint for f in result.findings)
    cache = lake / ".lotus_check_cache"
    assert not list((cache / dbt_parse.CACHE_NAMESPACE).glob("**/*.json"))
    for entry in cache.rglob("*"):
        if entry.is_file():
            assert SECRET.encode() not in entry.read_bytes(), entry


def test_links_and_pipes_where_dbt_does_not_look_are_not_its_business(
    lake: Path, tmp_path: Path, no_dbt: list[str]
) -> None:
    """The neighbour: a folder link out in the streams folder (not one of dbt's search paths)
    and a FIFO under target/ do not keep dbt from running."""
    (lake / "orchestration/assets/streams/linked").symlink_to(tmp_path)
    (lake / "orchestration/target").mkdir()
    os.mkfifo(lake / "orchestration/target/run.sql")
    ll308(lake)
    assert no_dbt != []


def test_fifo_at_the_top_of_the_project_and_search_path_outside_are_findings(
    lake: Path, tmp_path: Path, no_dbt: list[str]
) -> None:
    os.mkfifo(lake / "orchestration" / "packages.yml")
    assert "packages.yml is not a regular file" in ll308(lake)[0][1]
    (lake / "orchestration" / "packages.yml").unlink()
    project = lake / PROJECT
    project.write_text(project.read_text() + f"macro-paths: [{json.dumps(str(tmp_path))}]\n")
    assert "lies outside the repository" in ll308(lake)[0][1]
    assert no_dbt == []
