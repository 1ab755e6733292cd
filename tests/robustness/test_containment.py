"""Containment: lotus-check reads, runs and writes nothing outside the root.

- configured *and default* layout paths that resolve outside the root (`../`, absolute, a link
  out) are refused with exit 2 and one line, through the CLI;
- a file reached through a link (the file itself, or any folder on its way) that leaves the root
  is an LL001 finding, and its content is never read;
- the cache never writes through a link that leaves the cache folder;
- the generator runs in a temporary copy with a time limit (its process group is killed, children
  included) and cannot modify the real tree (more in tests/checks/test_catalog.py: see
  test_generator_writing_outside_its_copy_cannot_touch_the_tree,
  test_generator_holding_the_absolute_path_is_not_run, test_generator_past_the_time_limit);
- Jinja renders in a sandbox: hostile templates are LL004 findings, never code execution.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lotus_checks.lake import generator as generator_module
from tests.robustness.helpers import CACHE_DIR
from tests.robustness.helpers import GENERATOR
from tests.robustness.helpers import ORDERS_CONFIG
from tests.robustness.helpers import ORDERS_MODEL
from tests.robustness.helpers import STREAMS
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import assert_gone
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import json_findings
from tests.robustness.helpers import run_cli
from tests.robustness.helpers import sleeper
from tests.robustness.helpers import snapshot


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return build_lake(tmp_path / "lake")




def usage_error(lake: Path, *args: str) -> str:
    outcome = run_cli("--root", str(lake), "--no-cache", *args)
    assert outcome.code == 2, (outcome.code, outcome.out, outcome.err)
    assert_clean_end(outcome, allow_usage_error=True)
    return outcome.err


# ---- configured and default paths ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("streams", "../outside", "resolves outside the root"),
        ("sources", "orchestration/../../outside", "resolves outside the root"),
        ("models", ["orchestration/assets/core", "../outside"], "resolves outside the root"),
        ("terraform", "/etc", "must be relative to the root"),
        ("generator", "/usr/bin/python3", "must be relative to the root"),
        ("dbt-project", "../outside/dbt_project.yml", "resolves outside the root"),
        ("cache-dir", "../outside/cache", "resolves outside the root"),
    ],
)
def test_configured_path_outside_the_root_is_exit_2(
    lake: Path, outside: Path, key: str, value: object, expected: str
) -> None:
    (lake / "lotus-check.toml").write_text(f"{key} = {json.dumps(value)}\n")
    before = snapshot(outside.parent)
    err = usage_error(lake)
    assert f"{key} = " in err and expected in err
    assert_unchanged(before, snapshot(outside.parent))


def test_configured_path_through_a_link_out_is_exit_2(lake: Path, outside: Path) -> None:
    (lake / "linked").symlink_to(outside, target_is_directory=True)
    (lake / "lotus-check.toml").write_text('streams = "linked/streams"\n')
    assert "streams = 'linked/streams' resolves outside the root" in usage_error(lake)


@pytest.mark.parametrize(
    "folder", ["orchestration/airbyte", "orchestration/assets/core", "orchestration/assets/sources"]
)
def test_default_path_through_a_link_out_is_exit_2(lake: Path, outside: Path, folder: str) -> None:
    """No config at all: the default layout paths are held to the same rule."""
    (lake / folder).rename(outside / "moved")
    (lake / folder).symlink_to(outside / "moved", target_is_directory=True)
    err = usage_error(lake)
    assert "(default)" in err and "resolves outside the root" in err


def test_cache_folder_linked_out_is_exit_2_and_nothing_is_written(lake: Path, outside: Path) -> None:
    (lake / CACHE_DIR).symlink_to(outside, target_is_directory=True)
    outcome = run_cli("--root", str(lake))
    assert outcome.code == 2 and "cache-dir (default)" in outcome.err
    assert list(outside.iterdir()) == []


# ---- files reached through links --------------------------------------------------------------


def test_stream_config_linked_out_is_ll001_and_not_read(lake: Path, outside: Path) -> None:
    secret = outside / "orders.json"
    secret.write_text('{"stream": "orders", "broken": ')  # would be LL002 if it were read
    (lake / ORDERS_CONFIG).unlink()
    (lake / ORDERS_CONFIG).symlink_to(secret)
    on_file = [f for f in json_findings(lake) if f["path"] == ORDERS_CONFIG]
    assert [f["code"] for f in on_file if f["code"].startswith("LL0")] == ["LL001"]
    assert "outside the repository" in on_file[0]["message"]


def test_source_folder_linked_out_is_ll001_per_file_and_not_read(lake: Path, outside: Path) -> None:
    """The files are not links themselves; the folder holding them is (the hole this closes:
    only the file itself used to be checked, so `streams/evil -> /elsewhere` was read)."""
    (outside / "leak.json").write_text('{"stream": "leak", "broken": ')
    (lake / STREAMS).parent.joinpath("evil").symlink_to(outside, target_is_directory=True)
    leaked = "orchestration/assets/streams/evil/leak.json"
    on_file = [f for f in json_findings(lake) if f["path"] == leaked]
    assert [f["code"] for f in on_file if f["code"].startswith("LL0")] == ["LL001"]
    assert on_file[0]["line"] is None  # nothing in it was read, so nothing points into it


def test_model_linked_to_a_device_is_ll001(lake: Path) -> None:
    (lake / ORDERS_MODEL).unlink()
    (lake / ORDERS_MODEL).symlink_to("/dev/zero")
    found = [(f["code"], f["path"]) for f in json_findings(lake) if f["code"].startswith("LL0")]
    assert found == [("LL001", ORDERS_MODEL)]


def test_link_inside_the_root_is_followed(lake: Path) -> None:
    """The correct neighbour: a link to another file of the repo is an ordinary file."""
    moved = lake / "orchestration" / "orders-config.json"
    (lake / ORDERS_CONFIG).rename(moved)
    (lake / ORDERS_CONFIG).symlink_to(moved)
    assert [f for f in json_findings(lake) if f["code"].startswith("LL0")] == []


# ---- the cache ---------------------------------------------------------------------------------


def test_cache_namespace_linked_out_is_not_written_through(lake: Path, outside: Path) -> None:
    """A link inside the cache folder (`sql-facts -> /elsewhere`) is not followed for writes."""
    cache = lake / CACHE_DIR
    cache.mkdir()
    (cache / "sql-facts").symlink_to(outside, target_is_directory=True)
    outcome = run_cli("--root", str(lake))
    assert_clean_end(outcome)
    assert outcome.code == 0, outcome.out
    assert list(outside.iterdir()) == []


# ---- the generator ------------------------------------------------------------------------------


def test_generator_children_die_with_it_at_the_time_limit(lake: Path, outside: Path) -> None:
    """A generator that starts a child and hangs: at generator-timeout the whole process group
    is killed, so the child never gets to write (anywhere), and the run ends with LL204."""
    token = outside / "child"
    (lake / GENERATOR).write_text(sleeper(token, False) + "time.sleep(60)\n")
    (lake / "lotus-check.toml").write_text("generator-timeout = 2\n")  # the child starts first
    before = snapshot(lake)
    findings = json_findings(lake)
    assert [f["code"] for f in findings] == ["LL204"]
    assert "did not finish within 2 s" in findings[0]["message"]
    assert_unchanged(before, snapshot(lake))
    assert_gone(token)


def test_generator_writing_relative_to_its_working_folder_stays_in_the_copy(lake: Path) -> None:
    """cwd is the copy: `open('orchestration/...', 'w')` and `os.chdir('..')` land in scratch.
    Up to the temporary folder the copy is made in, no further: above it is not ours to litter
    (it wrote into the system's temporary folder and `/`)."""
    levels = len(generator_module.PADDING) + 2  # from the copy's root up to its scratch folder
    (lake / GENERATOR).write_text(
        "import os\n"
        f"for _ in range({levels}):\n"
        "    open('pwned.txt', 'w').write('x')\n"
        "    os.chdir('..')\n"
        "raise SystemExit(3)\n"
    )
    before = snapshot(lake.parent)
    findings = json_findings(lake)
    assert [f["code"] for f in findings] == ["LL204"]
    assert_unchanged(before, snapshot(lake.parent))


def test_generator_linked_out_of_the_root_is_not_run(lake: Path, outside: Path) -> None:
    script = outside / "gen.py"
    script.write_text(f"open({str(outside / 'ran.txt')!r}, 'w').write('x')\n")
    (lake / GENERATOR).unlink()
    (lake / GENERATOR).symlink_to(script)
    err = usage_error(lake)
    assert "generator (default)" in err
    assert not (outside / "ran.txt").exists()


# ---- Jinja sandbox -------------------------------------------------------------------------------

MALICIOUS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ joiner.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__.__builtins__.open('MARKER', 'w') }}",
    "{{ lipsum.__globals__.os.system('touch MARKER') }}",
    "{{ config.__class__.__init__.__globals__ }}",
    "{{ ref.__globals__.__builtins__.open('MARKER', 'w') }}",
    "{{ source.__func__.__globals__ }}",
    "{{ ''|attr('__cla' ~ 'ss__') }}",
    "{{ exceptions.raise_compiler_error.__globals__ }}",
    "{% for x in range(10**12) %}{{ x }}{% endfor %}",
    "{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}",
    "{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}"
    "{% endfor %}{{ ns.x }}",
    "{{ 'a' * 10**10 }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os.system('touch MARKER') }}",
]


@pytest.mark.parametrize("payload", MALICIOUS)
def test_malicious_jinja_is_ll004_not_code_execution(lake: Path, tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "pwned"
    model = lake / ORDERS_MODEL
    template = model.read_text() + "\n-- " + payload.replace("MARKER", str(marker)) + "\n"
    model.write_text(template)
    before = snapshot(lake)
    findings = json_findings(lake)
    on_model = [f for f in findings if f["path"] == ORDERS_MODEL]
    assert "LL004" in [f["code"] for f in on_model], on_model
    assert not marker.exists()
    assert_unchanged(before, snapshot(lake))


def test_small_lake_is_clean(lake: Path) -> None:
    """Sanity for the fixtures above: every finding in these tests is the test's own doing."""
    assert json_findings(lake) == []
