"""LL2xx: catalogs against a fresh, sandboxed run of the repo's own generator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from typing import Callable

import pytest

from lotus_checks.checks import catalog as catalog_family
from lotus_checks.core.config import load_config
from lotus_checks.core.config import with_overrides
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.engine import RunResult
from lotus_checks.engine import run
from lotus_checks.lake import generator as generator_module
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import git
from tests.builders import source_schema
from tests.builders import stream_config
from tests.builders import write_tree
from tests.conftest import check_family
from tests.conftest import check_tree
from tests.conftest import codes_of

GENERATOR = "orchestration/airbyte/generate-catalog.py"
SHOPIFY_CATALOG = f"{STREAMS}/shopify/_catalog.json"
SHOPIFY_CUSTOMERS = f"{STREAMS}/shopify/customers.json"
SHOPIFY_CUSTOMERS_SCHEMA = f"{SOURCES}/shopify/customers.json"


# ---- helpers -------------------------------------------------------------------------------


def check_catalogs(root: Path, targets: list[str] | None = None, **kwargs: Any) -> RunResult:
    """Only the LL2 family, through the engine the CLI uses, with the session's fact cache
    (the generator runs once per set of inputs: most tests here edit a catalog, not what it
    is generated from). `use_cache=` instead runs without it (False) or with the tree's own."""
    if "use_cache" in kwargs:
        config = with_overrides(load_config(root), select=["LL2"])
        return run(config, frozenset(targets) if targets is not None else None, **kwargs)
    return check_tree(root, targets, select=["LL2"], shared_cache=True, **kwargs)


def catalog_findings(root: Path, shared_cache: bool = True) -> list[Finding]:
    """What the catalog family's check (LL2xx, selected alone as in `check_catalogs`) finds on
    `root`, in the engine's order, with the session's fact cache unless `shared_cache=False`
    (no cache: tests of time limits and of patched internals)."""
    found = check_family(catalog_family, root, select=["LL2"], shared_cache=shared_cache)
    return sorted(found, key=Finding.sort_key)


def findings_of(result: RunResult | list[Finding]) -> list[Finding]:
    return result.findings if isinstance(result, RunResult) else result


def codes(result: RunResult | list[Finding]) -> list[tuple[str, str, int | None, int | None]]:
    return codes_of(findings_of(result))


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file below `root` (.git included): nothing may change."""
    out = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


def read_json(root: Path, rel: str) -> Any:
    return json.loads((root / rel).read_text(encoding="utf-8"))


def write_json(root: Path, rel: str, data: Any) -> None:
    (root / rel).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def line_of(root: Path, rel: str, needle: str, after: str | None = None) -> int:
    lines = (root / rel).read_text(encoding="utf-8").splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def generate_in_copy(root: Path, tmp: Path) -> Path:
    """Run the reference generator for real in a separate copy; returns that copy's root."""
    copy = tmp / "regenerated"
    shutil.copytree(root / "orchestration", copy / "orchestration")
    subprocess.run([sys.executable, str(copy / GENERATOR)], check=True, capture_output=True)
    return copy


def only(result: RunResult | list[Finding]) -> Finding:
    found = findings_of(result)
    assert len(found) == 1, [f.to_dict() for f in found]
    return found[0]


@pytest.fixture
def lake(reference_repo: Path) -> Path:
    return reference_repo


# ---- the reference tree ----------------------------------------------------------------------


def test_reference_tree_is_clean(lake: Path) -> None:
    before = snapshot(lake)
    assert codes(catalog_findings(lake)) == []
    assert snapshot(lake) == before


def test_reference_generator_check_agrees(lake: Path) -> None:
    done = subprocess.run([sys.executable, str(lake / GENERATOR), "--check"], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


# ---- LL201 -----------------------------------------------------------------------------------


def test_hand_edit_of_a_catalog_value(lake: Path) -> None:
    catalog = read_json(lake, SHOPIFY_CATALOG)
    index = next(i for i, e in enumerate(catalog["streams"]) if e["stream"]["name"] == "customers")
    catalog["streams"][index]["config"]["sync_mode"] = "full_refresh"
    write_json(lake, SHOPIFY_CATALOG, catalog)
    before = snapshot(lake)

    finding = only(catalog_findings(lake))

    line = line_of(lake, SHOPIFY_CATALOG, '"sync_mode"', after='"name": "customers"')
    assert (finding.code, finding.path, finding.line, finding.column) == (
        "LL201", SHOPIFY_CATALOG, line, 9)
    assert finding.message == (
        'stream customers: config.sync_mode is "full_refresh" in the catalog but the generator '
        'gives "incremental"'
    )
    assert "hand edit" in finding.hint
    assert f"python {GENERATOR}" in finding.hint and "lotus-check --fix" in finding.hint
    assert snapshot(lake) == before


def test_stream_config_field_added_without_regenerating(lake: Path) -> None:
    config = read_json(lake, SHOPIFY_CUSTOMERS)
    config["fields"]["phone"] = {"type": "string"}
    write_json(lake, SHOPIFY_CUSTOMERS, config)
    before = snapshot(lake)

    finding = only(catalog_findings(lake))

    assert finding.code == "LL201" and finding.path == SHOPIFY_CATALOG
    assert finding.line == line_of(lake, SHOPIFY_CATALOG, '"selected_fields"')
    assert finding.message.startswith("stream customers: regenerating adds phone to selected_fields")
    assert "json_schema changed (regenerating adds properties.phone)" in finding.message
    assert finding.hint.startswith(f"stale catalog: {SHOPIFY_CUSTOMERS} changed")
    assert snapshot(lake) == before


def test_source_schema_description_changed_without_regenerating(lake: Path) -> None:
    schema = read_json(lake, SHOPIFY_CUSTOMERS_SCHEMA)
    schema["fields"]["email"]["description"] = "Where we send receipts."
    write_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, schema)
    before = snapshot(lake)

    finding = only(catalog_findings(lake))

    assert finding.code == "LL201" and finding.path == SHOPIFY_CATALOG
    assert finding.line == line_of(lake, SHOPIFY_CATALOG, '"properties"', after='"name": "customers"')
    assert finding.message == (
        "stream customers: json_schema changed (properties.email.description is \"The unique "
        "email address of the customer.\" in the catalog but the generator gives \"Where we send "
        "receipts.\")"
    )
    assert finding.hint.startswith(f"stale catalog: {SHOPIFY_CUSTOMERS_SCHEMA} changed")
    assert snapshot(lake) == before


def test_stream_field_description_does_not_reach_the_catalog(lake: Path) -> None:
    """Negative control: with a source schema, the config's descriptions are not used."""
    config = read_json(lake, SHOPIFY_CUSTOMERS)
    config["fields"]["email"]["description"] = "Edited in the stream config only."
    write_json(lake, SHOPIFY_CUSTOMERS, config)
    assert codes(catalog_findings(lake)) == []


def test_selected_field_removed_by_hand_points_at_it(lake: Path) -> None:
    catalog = read_json(lake, SHOPIFY_CATALOG)
    entry = next(e for e in catalog["streams"] if e["stream"]["name"] == "customers")
    entry["config"]["selected_fields"] = [
        f for f in entry["config"]["selected_fields"] if f["field_path"] != ["email"]
    ]
    write_json(lake, SHOPIFY_CATALOG, catalog)
    finding = only(catalog_findings(lake))
    assert finding.message == "stream customers: regenerating adds email to selected_fields"


def test_stale_catalog_is_reported_on_the_listed_stream_config(lake: Path) -> None:
    """pre-commit passes only the staged stream config: the finding lands on it."""
    config = read_json(lake, SHOPIFY_CUSTOMERS)
    config["fields"]["phone"] = {"type": "string"}
    write_json(lake, SHOPIFY_CUSTOMERS, config)

    finding = only(check_catalogs(lake, [SHOPIFY_CUSTOMERS]))

    assert (finding.code, finding.path) == ("LL201", SHOPIFY_CUSTOMERS)
    assert (finding.line, finding.column) == (line_of(lake, SHOPIFY_CUSTOMERS, '"phone"', after='"longitude"'), 5)
    assert finding.message.startswith(f"{SHOPIFY_CATALOG} is out of date: stream customers:")
    assert finding.hint.startswith("stale catalog")


def hand_edit(root: Path) -> None:
    catalog = read_json(root, SHOPIFY_CATALOG)
    catalog["streams"][0]["config"]["selected"] = False
    write_json(root, SHOPIFY_CATALOG, catalog)


def test_hint_from_the_file_list_pre_commit_passes(lake: Path) -> None:
    hand_edit(lake)
    assert only(check_catalogs(lake, [SHOPIFY_CATALOG])).hint.startswith("looks like a hand edit")
    both = only(check_catalogs(lake, [SHOPIFY_CATALOG, SHOPIFY_CUSTOMERS]))
    assert both.path == SHOPIFY_CATALOG
    assert both.hint.startswith("the catalog and its stream configs both changed")


def test_hint_without_git_or_file_list(lake: Path) -> None:
    shutil.rmtree(lake / ".git")
    hand_edit(lake)
    finding = only(catalog_findings(lake))
    assert finding.hint == (f"the catalog is generated: run `python {GENERATOR}` (or "
                            "`lotus-check --fix`) and commit the result")


def test_reordered_keys_are_formatting_only(lake: Path) -> None:
    catalog = read_json(lake, SHOPIFY_CATALOG)
    (lake / SHOPIFY_CATALOG).write_text(json.dumps(catalog, indent=4) + "\n", encoding="utf-8")
    result = catalog_findings(lake)
    assert codes(result) == [("LL205", SHOPIFY_CATALOG, 2, 1)]
    assert result[0].severity.value == "warning"
    assert "first difference on line 2" in result[0].message


def test_boolean_is_not_a_number(lake: Path) -> None:
    """`"selected": 1` equals `True` in Python, not in JSON: drift, not formatting."""
    text = (lake / SHOPIFY_CATALOG).read_text(encoding="utf-8")
    assert '"selected": true' in text
    (lake / SHOPIFY_CATALOG).write_text(text.replace('"selected": true', '"selected": 1', 1),
                                        encoding="utf-8")
    finding = only(catalog_findings(lake))
    assert finding.code == "LL201"
    assert "config.selected is 1 in the catalog but the generator gives true" in finding.message


# ---- LL202 / LL203 -----------------------------------------------------------------------------


def test_deleted_catalog(lake: Path) -> None:
    (lake / SHOPIFY_CATALOG).unlink()
    before = snapshot(lake)
    result = catalog_findings(lake)
    assert codes(result) == [("LL202", SHOPIFY_CATALOG, None, None)]
    assert "source shopify has Airbyte stream configs but no _catalog.json" in (
        result[0].message)
    assert snapshot(lake) == before


def test_orphan_catalog(lake: Path) -> None:
    orphan = f"{STREAMS}/legacy_crm/_catalog.json"
    write_tree(lake, {orphan: {"streams": []}})
    finding = only(catalog_findings(lake))
    assert (finding.code, finding.path) == ("LL203", orphan)
    assert "has no stream configs" in finding.message


def test_catalog_for_a_dlt_only_source_is_an_orphan(lake: Path) -> None:
    """gorgias is loaded by dlt: a catalog there would make Terraform sync it a second time."""
    dlt_catalog = f"{STREAMS}/gorgias/_catalog.json"
    shutil.copy(lake / SHOPIFY_CATALOG, lake / dlt_catalog)
    finding = only(catalog_findings(lake))
    assert (finding.code, finding.path) == ("LL203", dlt_catalog)
    assert "loaded by dlt" in finding.message


# ---- LL204 and the sandbox ----------------------------------------------------------------------


def minimal_tree(make_repo: Callable[..., Path], script: str, **config: Any) -> Path:
    toml = "".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items())
    files: dict[str, Any] = {
        f"{STREAMS}/shop/customers.json": stream_config("customers"),
        f"{SOURCES}/shop/customers.json": source_schema("customers"),
        f"{STREAMS}/shop/_catalog.json": {"streams": []},
        GENERATOR: script,
    }
    if toml:
        files["lotus-check.toml"] = toml
    return make_repo(files, git=True)


def test_generator_that_raises(make_repo: Callable[..., Path]) -> None:
    root = minimal_tree(make_repo, "raise KeyError('sync_mode')\n")
    before = snapshot(root)
    finding = only(catalog_findings(root))
    assert (finding.code, finding.path, finding.line) == ("LL204", GENERATOR, None)
    assert finding.message == (
        "catalog generator failed, so the catalogs were not checked: the generator exited with "
        "status 1: KeyError: 'sync_mode'"
    )
    assert "Traceback" in finding.hint
    assert snapshot(root) == before


def test_generator_dying_on_a_missing_key_is_reported_at_the_stream_config(lake: Path) -> None:
    """The reference generator raises KeyError: 'sync_mode'; LL501 names the stream config that
    lacks it, and LL204 does not say the same thing again."""
    config = read_json(lake, SHOPIFY_CUSTOMERS)
    del config["sync_mode"]
    write_json(lake, SHOPIFY_CUSTOMERS, config)
    found = check_tree(lake, shared_cache=True).findings
    assert [(f.code, f.path) for f in found if f.severity == Severity.ERROR] == [
        ("LL501", SHOPIFY_CUSTOMERS)]
    # with LL501 not selected, the generator's failure is the one finding
    assert [f.code for f in check_catalogs(lake).findings] == ["LL204"]


def test_generator_that_finds_nothing_after_the_folders_moved(lake: Path) -> None:
    """The streams moved to dag/streams; the reference generator still looks in assets/."""
    (lake / "orchestration/dag").mkdir()
    for folder in ("streams", "sources"):
        (lake / f"orchestration/assets/{folder}").rename(lake / f"orchestration/dag/{folder}")
    (lake / "lotus-check.toml").write_text(
        'streams = "orchestration/dag/streams"\nsources = "orchestration/dag/sources"\n'
    )
    before = snapshot(lake)
    finding = only(catalog_findings(lake))
    assert (finding.code, finding.path) == ("LL204", GENERATOR)
    assert finding.message.endswith("exited with status 1: No stream definitions found")
    assert snapshot(lake) == before


def test_generator_that_exits_0_but_writes_nothing(make_repo: Callable[..., Path]) -> None:
    root = minimal_tree(make_repo, "print('nothing to do')\n")
    finding = only(catalog_findings(root))
    assert finding.code == "LL204"
    assert "exited 0 but wrote no catalog: nothing to do" in finding.message


def test_generator_past_the_time_limit(make_repo: Callable[..., Path]) -> None:
    root = minimal_tree(
        make_repo,
        "import subprocess, sys, time\n"
        # a child of its own too: the whole process group must go
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "time.sleep(30)\n",
        **{"generator-timeout": 0.5},
    )
    before = snapshot(root)
    finding = only(catalog_findings(root, shared_cache=False))
    assert finding.code == "LL204"
    assert "did not finish within 0.5 s (generator-timeout)" in finding.message
    assert snapshot(root) == before


def test_missing_generator(make_repo: Callable[..., Path]) -> None:
    """None configured, none found: the default is missing. (A configured generator that does
    not exist is a configuration error, exit 2: tests/test_layout.py.)"""
    root = minimal_tree(make_repo, "")
    (root / GENERATOR).unlink()
    finding = only(catalog_findings(root))
    assert (finding.code, finding.path) == ("LL204", GENERATOR)
    assert f"{GENERATOR} does not exist" in finding.message


ESCAPING_GENERATOR = """\
import json, os
from pathlib import Path
here = Path(__file__).resolve()
# Climb above the repo root, as a generator computing paths from its own location might.
(here.parents[2] / '..' / 'escaped.txt').write_text('x')
(here.parents[3] / '..' / 'escaped.txt').write_text('x')
# An environment variable that named the real tree.
target = Path(os.environ.get('LAKE_ROOT', '.')) / 'orchestration' / 'assets' / 'streams' / 'shop'
target.mkdir(parents=True, exist_ok=True)
(target / 'customers.json').write_text('{}')
(target / '_catalog.json').write_text(json.dumps({'streams': []}, indent=2) + '\\n')
"""


def test_generator_writing_outside_its_copy_cannot_touch_the_tree(
    make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = minimal_tree(make_repo, ESCAPING_GENERATOR)
    write_tree(root, {f"{STREAMS}/shop/_catalog.json": "{\"streams\": []}\n"})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "catalog")
    monkeypatch.setenv("LAKE_ROOT", str(root))
    before = snapshot(root)
    outside = snapshot(root.parent)

    result = catalog_findings(root, shared_cache=False)

    assert codes(result) == [("LL205", f"{STREAMS}/shop/_catalog.json", 1, 1)]
    assert snapshot(root) == before
    assert snapshot(root.parent) == outside  # nothing escaped next to the repo either


def test_generator_holding_the_absolute_path_is_not_run(make_repo: Callable[..., Path]) -> None:
    root = minimal_tree(make_repo, "")
    generator = root / GENERATOR
    generator.write_text(f"open({str(root / 'pwned.txt')!r}, 'w').write('x')\n")
    before = snapshot(root)
    finding = only(catalog_findings(root))
    assert finding.code == "LL204"
    assert "contains this repo's absolute path" in finding.message
    assert snapshot(root) == before


def test_generator_imports_its_neighbours(make_repo: Callable[..., Path]) -> None:
    root = minimal_tree(make_repo, "import helpers\nhelpers.main()\n")
    write_tree(root, {
        "orchestration/airbyte/helpers.py": (
            "from pathlib import Path\n"
            "def main():\n"
            "    out = Path(__file__).resolve().parent.parent / 'assets/streams/shop/_catalog.json'\n"
            "    out.write_text('{\"streams\": []}\\n')\n"
        ),
        f"{STREAMS}/shop/_catalog.json": "{\"streams\": []}\n",
    })
    assert codes(catalog_findings(root)) == []


# ---- scope and cost --------------------------------------------------------------------------


def test_sql_only_change_does_not_run_the_generator(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the generator ran")

    monkeypatch.setattr(generator_module, "run_generator", refuse)
    sql = "orchestration/assets/core/shopify/int_shopify__customers.sql"
    assert codes(check_catalogs(lake, [sql], use_cache=False)) == []
    with pytest.raises(Exception, match="the generator ran"):
        check_catalogs(lake, [SHOPIFY_CUSTOMERS], use_cache=False)


def test_fix_and_check_share_one_generator_run(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (lake / SHOPIFY_CATALOG).unlink()
    runs = []
    real = generator_module._start_in_copy

    def counting(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(generator_module, "_start_in_copy", counting)
    result = check_catalogs(lake, fix=True, use_cache=True)
    assert result.fixed == [SHOPIFY_CATALOG] and codes(result) == []
    assert len(runs) == 1
    check_catalogs(lake, use_cache=True)
    assert len(runs) == 1  # same inputs: the cached output is used


def test_the_copy_is_made_from_the_bytes_the_run_checks(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The inputs come from the repo model (the bytes the run checks, within max-file-size), not
    # from a second read of the disk that an edit in between could make differ.
    read_again: list[str] = []
    real = Path.read_bytes

    def recording(path: Path) -> bytes:
        read_again.append(path.name)
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", recording)
    assert codes(catalog_findings(lake, shared_cache=False)) == []
    assert "_catalog.json" in read_again  # what the generator wrote is read back from the copy
    assert not [name for name in read_again if name.endswith(".json") and name != "_catalog.json"]


def test_a_copy_that_cannot_be_written_anywhere_is_a_finding(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(copy_root: Path, contents: dict[str, bytes]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generator_module, "_write_copy", full_disk)
    findings = catalog_findings(lake, shared_cache=False)
    assert {f.code for f in findings} == {"LL204"}
    assert "cannot copy the generator's inputs to a temporary folder" in findings[0].message
    assert "No space left on device" in findings[0].message


# ---- --fix -----------------------------------------------------------------------------------


def test_fix_rewrites_drifted_and_missing_catalogs_only(lake: Path, tmp_path: Path) -> None:
    stripe = f"{STREAMS}/stripe/_catalog.json"
    klaviyo = f"{STREAMS}/klaviyo/_catalog.json"
    catalog = read_json(lake, SHOPIFY_CATALOG)
    catalog["streams"][0]["config"]["selected"] = False
    write_json(lake, SHOPIFY_CATALOG, catalog)
    (lake / stripe).unlink()
    (lake / klaviyo).write_text(json.dumps(read_json(lake, klaviyo), indent=4), encoding="utf-8")
    before = snapshot(lake)

    result = check_catalogs(lake, fix=True)

    assert sorted(result.fixed) == sorted([SHOPIFY_CATALOG, stripe, klaviyo])
    assert codes(result) == []
    after = snapshot(lake)
    assert {k: v for k, v in after.items() if k not in result.fixed} == {
        k: v for k, v in before.items() if k not in result.fixed}
    expected = generate_in_copy(lake, tmp_path)
    for path in result.fixed:
        assert (lake / path).read_bytes() == (expected / path).read_bytes()
    assert codes(check_catalogs(lake)) == []


def test_fix_through_the_cli(lake: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    catalog = read_json(lake, SHOPIFY_CATALOG)
    catalog["streams"][0]["config"]["sync_mode"] = "full_refresh"
    write_json(lake, SHOPIFY_CATALOG, catalog)
    code, out, _ = cli("--root", str(lake), "--select", "LL2", "--no-cache", "--fix")
    assert code == 1 and f"Fixed {SHOPIFY_CATALOG}" in out
    code, out, _ = cli("--root", str(lake), "--select", "LL2", "--no-cache", "--fix")
    assert code == 0, out


def test_fix_repairs_a_catalog_with_merge_conflict_markers(lake: Path) -> None:
    text = (lake / SHOPIFY_CATALOG).read_text(encoding="utf-8")
    (lake / SHOPIFY_CATALOG).write_text("<<<<<<< HEAD\n" + text, encoding="utf-8")
    # The catalog is reported as invalid JSON (LL002): the fix resolves that finding.
    result = check_tree(lake, select=["LL2", "LL002"], shared_cache=True, fix=True)
    assert result.fixed == [SHOPIFY_CATALOG]
    assert (lake / SHOPIFY_CATALOG).read_text(encoding="utf-8") == text


def test_fix_leaves_ignored_rules_alone(lake: Path) -> None:
    (lake / SHOPIFY_CATALOG).unlink()
    config = with_overrides(load_config(lake), select=["LL2"], ignore=["LL202"])
    result = run(config, None, fix=True, use_cache=False)
    assert result.fixed == [] and not (lake / SHOPIFY_CATALOG).exists()


# ---- LL206 / LL207 / LL208: what the generated catalog hands to Airbyte and the destination ----


def regenerate(root: Path) -> None:
    """Run the tree's own generator in place (the tree is a test copy): LL201 stays silent."""
    subprocess.run([sys.executable, str(root / GENERATOR)], check=True, capture_output=True)


def validation(root: Path, targets: list[str] | None = None) -> RunResult | list[Finding]:
    """The catalog family's check, or the engine when the run is scoped to `targets`."""
    return catalog_findings(root) if targets is None else check_catalogs(root, targets)


def edit_json(root: Path, rel: str, edit: Callable[[Any], None]) -> None:
    data = read_json(root, rel)
    edit(data)
    write_json(root, rel, data)


def test_selected_field_typed_unknown_is_an_error_at_its_definition(lake: Path) -> None:
    def unknown(schema: Any) -> None:
        schema["fields"]["email"]["type"] = "unknown"  # selected
        schema["fields"]["note"]["type"] = "unknown"  # not selected: never reaches the catalog

    edit_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, unknown)
    regenerate(lake)
    finding = only(validation(lake))
    line = line_of(lake, SHOPIFY_CUSTOMERS_SCHEMA, '"unknown"', after='"email"')
    assert (finding.code, finding.path, finding.line, finding.column, finding.severity) == (
        "LL207", SHOPIFY_CUSTOMERS_SCHEMA, line, 7, Severity.ERROR)
    assert finding.message.startswith(
        "stream `shopify/customers`: field `email` has type `unknown`, which the destination "
        "cannot write")
    assert SHOPIFY_CUSTOMERS_SCHEMA in finding.hint and f"python {GENERATOR}" in finding.hint


def test_the_same_mistake_in_one_file_is_one_finding(lake: Path) -> None:
    def unknown(schema: Any) -> None:
        for name in ("email", "first_name", "last_name", "state", "tags"):
            schema["fields"][name]["type"] = "unknown"

    edit_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, unknown)
    regenerate(lake)
    finding = only(validation(lake))
    assert finding.line == line_of(lake, SHOPIFY_CUSTOMERS_SCHEMA, '"unknown"')
    assert "the same in 4 more place(s) in this file: `first_name` (line" in finding.message
    assert finding.message.endswith("and 1 more")


def test_unknown_type_without_source_schema_is_at_the_stream_config(lake: Path) -> None:
    (lake / SHOPIFY_CUSTOMERS_SCHEMA).unlink()
    edit_json(lake, SHOPIFY_CUSTOMERS, lambda c: c["fields"]["tags"].update(type="unknown"))
    regenerate(lake)
    finding = only(validation(lake))
    assert (finding.code, finding.path, finding.line) == (
        "LL207", SHOPIFY_CUSTOMERS, line_of(lake, SHOPIFY_CUSTOMERS, '"unknown"'))


def test_unknown_type_inside_an_items_map_and_a_paused_stream(lake: Path) -> None:
    items_map = {"type": "array", "items": {"type": {"type": "string"}, "code": {"type": "unknown"}}}

    def add(data: Any) -> None:
        data["fields"]["tax_exemptions"] = items_map

    edit_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, add)
    edit_json(lake, SHOPIFY_CUSTOMERS, add)
    regenerate(lake)
    finding = only(validation(lake))
    assert (finding.code, finding.path, finding.line, finding.severity) == (
        "LL207", SHOPIFY_CUSTOMERS_SCHEMA,
        line_of(lake, SHOPIFY_CUSTOMERS_SCHEMA, '"unknown"'), Severity.ERROR)
    assert "field `tax_exemptions[].code`" in finding.message
    # a stream that is not selected does not sync: a warning
    edit_json(lake, SHOPIFY_CUSTOMERS, lambda c: c.update(selected=False))
    regenerate(lake)
    assert only(validation(lake)).severity == Severity.WARNING


def test_reported_on_the_listed_file_pre_commit_passes(lake: Path) -> None:
    edit_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, lambda s: s["fields"]["email"].update(type="unknown"))
    regenerate(lake)
    assert only(validation(lake, [SHOPIFY_CUSTOMERS_SCHEMA])).path == SHOPIFY_CUSTOMERS_SCHEMA
    assert codes(validation(lake, [f"{STREAMS}/stripe/charges.json"])) == []


def test_invalid_json_schema_once_per_root_cause(lake: Path) -> None:
    def broken(schema: Any) -> None:
        address = schema["fields"]["default_address"]
        address["required"] = True  # Draft 7: a list of names
        address["properties"]["zip"]["required"] = "yes"  # the same mistake again: counted
        # below a wrong type: only the type is reported
        schema["fields"]["email"] = {"type": "unknown", "properties": {"x": {"enum": 1}}}

    edit_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, broken)
    regenerate(lake)
    found = sorted(findings_of(validation(lake)), key=lambda f: f.code)
    assert [(f.code, f.path, f.line) for f in found] == [
        ("LL206", SHOPIFY_CUSTOMERS_SCHEMA, line_of(lake, SHOPIFY_CUSTOMERS_SCHEMA, '"required"')),
        ("LL207", SHOPIFY_CUSTOMERS_SCHEMA, line_of(lake, SHOPIFY_CUSTOMERS_SCHEMA, '"unknown"')),
    ]
    assert "Airbyte rejects it" in found[0].message and "is not of type 'array'" in found[0].message
    assert "the same in 1 more place(s) in this file: `default_address` (line" in found[0].message


def test_every_json_schema_keyword_and_discovery_shape_is_silent(lake: Path) -> None:
    shapes = {
        "line_items": {"type": "array", "items": {
            "type": {"type": "string"}, "properties": {"type": "object"},
            "items": {"type": "array", "items": {"sku": {"type": "string"}}},
            "format": {"type": "string"}}},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "state": {"type": ["null", "string"], "enum": ["enabled", "disabled", None],
                  "pattern": "^[a-z]+$", "airbyte_type": "string"},
        "total_spent": {"type": "number", "multipleOf": 0.01},
        "point": {"type": "array", "items": [{"type": "number"}, {"type": "number"}]},
        "attributes": {"type": "object", "additionalProperties": False, "required": ["name"],
                       "properties": {"name": {"type": "string"}}},
    }

    def add(data: Any) -> None:
        data["fields"].update(shapes)

    edit_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, add)
    edit_json(lake, SHOPIFY_CUSTOMERS, add)
    regenerate(lake)
    result = check_tree(lake, shared_cache=True)
    assert [f for f in result.findings if f.code[2] in "25"] == []


def test_generator_writing_a_shape_airbyte_rejects(lake: Path) -> None:
    script = lake / GENERATOR
    text = script.read_text(encoding="utf-8")
    bad = text.replace("[{'field_path': [f]} for f in", "[f for f in")
    assert bad != text
    script.write_text(bad, encoding="utf-8")
    found = [f for f in findings_of(validation(lake)) if f.code == "LL208"]
    # one root cause, one finding at the generator: the same mistake in every stream is counted
    [finding] = found
    assert (finding.path, finding.line, finding.severity) == (GENERATOR, None, Severity.ERROR)
    assert finding.message.startswith("stream `klaviyo/campaigns`: in the generated catalog, "
                                      "`config.selected_fields` is [")
    assert "the same in 14 more stream(s): `klaviyo/events`," in finding.message
    assert finding.hint.startswith("fix what the generator writes")


def test_a_value_copied_from_the_stream_config_is_reported_there_only(lake: Path) -> None:
    edit_json(lake, SHOPIFY_CUSTOMERS, lambda c: c.update(selected="yes"))
    regenerate(lake)
    result = check_tree(lake, shared_cache=True)
    assert [(f.code, f.path) for f in result.findings] == [("LL501", SHOPIFY_CUSTOMERS)]


def test_select_ll207_alone_runs_the_catalog_family(lake: Path) -> None:
    edit_json(lake, SHOPIFY_CUSTOMERS_SCHEMA, lambda s: s["fields"]["email"].update(type="unknown"))
    regenerate(lake)
    assert [f.code for f in check_tree(lake, select=["LL207"], shared_cache=True).findings] == [
        "LL207"]
    # the stream config family alone does not report it
    assert check_tree(lake, select=["LL5"], shared_cache=True).findings == []


# ---- round trip with random trees -------------------------------------------------------------

from hypothesis import HealthCheck  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SCALAR_TYPES = ("string", "integer", "number", "boolean")


def field_definitions(depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    scalar = st.fixed_dictionaries(
        {"type": st.sampled_from(SCALAR_TYPES)},
        optional={"description": TEXT, "format": st.sampled_from(["date-time", "email"])},
    )
    if depth >= 2:
        return scalar
    nested = st.fixed_dictionaries(
        {"type": st.just("object"),
         "properties": st.dictionaries(NAMES, field_definitions(depth + 1), max_size=3)},
        optional={"description": TEXT},
    )
    array = st.fixed_dictionaries({"type": st.just("array"), "items": scalar})
    return st.one_of(scalar, nested, array)


@st.composite
def lake_trees(draw: st.DrawFn) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for source in draw(st.lists(NAMES, min_size=1, max_size=2, unique=True)):
        for stream in draw(st.lists(NAMES, min_size=1, max_size=3, unique=True)):
            offered = draw(st.dictionaries(NAMES, field_definitions(), min_size=1, max_size=5))
            selected = draw(st.lists(st.sampled_from(sorted(offered)), min_size=1, unique=True))
            fields = {name: offered[name] for name in selected}
            if draw(st.booleans()):  # the config's own definitions differ: must not matter
                fields = {name: {"type": "string", "description": "ours"} for name in selected}
            files[f"{STREAMS}/{source}/{stream}.json"] = stream_config(
                stream,
                fields,
                sync_mode=draw(st.sampled_from(["full_refresh", "incremental"])),
                destination_sync_mode=draw(st.sampled_from(["overwrite", "append", "append_dedup"])),
                primary_key=[[selected[0]]],
                cursor_field=[selected[-1]],
                selected=draw(st.booleans()),
            )
            if draw(st.booleans()):
                files[f"{SOURCES}/{source}/{stream}.json"] = source_schema(stream, offered)
            else:  # no source schema: the stream config's definitions are used
                files[f"{STREAMS}/{source}/{stream}.json"]["fields"] = {
                    name: offered[name] for name in selected}
    return files


def generate_in_place(root: Path) -> None:
    """Run the reference generator's own code on `root` (in process: it is the same code the
    check runs in a subprocess, and a second subprocess per example would make this slow)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_catalog", root / GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([]) == 0


MUTATIONS = ("sync_mode", "destination_sync_mode", "selected", "primary_key",
             "selected_fields", "json_schema")


def mutate(entry: dict[str, Any], how: str) -> str:
    """Change one value of a catalog entry; returns what the message must name."""
    config = entry["config"]
    if how == "sync_mode":
        config["sync_mode"] = {"incremental": "full_refresh"}.get(config["sync_mode"], "incremental")
        return "config.sync_mode"
    if how == "destination_sync_mode":
        config["destination_sync_mode"] = "merge"
        return "config.destination_sync_mode"
    if how == "selected":
        config["selected"] = not config["selected"]
        return "config.selected"
    if how == "primary_key":
        config["primary_key"] = [["not_a_field"]]
        return "config.primary_key"
    if how == "selected_fields":
        dropped = config["selected_fields"].pop(0)["field_path"][0]
        return f"regenerating adds {dropped} to selected_fields"
    properties = json.loads(entry["stream"]["json_schema"]["properties"])
    name = next(iter(properties))
    properties[name]["description"] = "edited by hand!"
    entry["stream"]["json_schema"]["properties"] = json.dumps(properties)
    return f"properties.{name}.description"


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tree=lake_trees(), data=st.data())
def test_round_trip(tree: dict[str, Any], data: st.DataObject) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lake"
        write_tree(root, {**tree, GENERATOR: (Path(__file__).resolve().parents[2] / GENERATOR)
                          .read_text(encoding="utf-8")})
        generate_in_place(root)
        generated = {p: (root / p).read_bytes() for p in map(str, _catalog_paths(root))}
        assert generated
        assert codes(check_catalogs(root, use_cache=True)) == []

        path = data.draw(st.sampled_from(sorted(generated)))
        catalog = json.loads(generated[path])
        index = data.draw(st.integers(0, len(catalog["streams"]) - 1))
        entry = catalog["streams"][index]
        expected = mutate(entry, data.draw(st.sampled_from(MUTATIONS)))
        write_json(root, path, catalog)

        finding = only(check_catalogs(root, use_cache=True))
        assert (finding.code, finding.path) == ("LL201", path)
        assert finding.message.startswith(f"stream {entry['stream']['name']}: ")
        assert expected in finding.message

        fixed = check_catalogs(root, fix=True, use_cache=True)
        assert fixed.fixed == [path] and codes(fixed) == []
        assert {p: (root / p).read_bytes() for p in generated} == generated


def _catalog_paths(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / STREAMS).glob("*/_catalog.json"))


# ---- the comparison itself ---------------------------------------------------------------------

from lotus_checks.lake.catalog_diff import diff_catalogs  # noqa: E402
from lotus_checks.lake.catalog_diff import same  # noqa: E402


def entry(name: str, **config: Any) -> dict[str, Any]:
    properties = {"id": {"type": ["null", "integer"]}}
    return {
        "stream": {"name": name, "json_schema": {"properties": json.dumps(properties)}},
        "config": {"sync_mode": "incremental", "selected": True,
                   "selected_fields": [{"field_path": ["id"]}], **config},
    }


def test_same_is_strict_about_booleans_and_strings() -> None:
    assert same({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not same(True, 1) and not same([0], [False]) and not same("1", 1)
    assert not same({"a": 1}, {"a": 1, "b": None})


def test_streams_added_removed_and_reordered() -> None:
    old = {"streams": [entry("b"), entry("a"), entry("gone")]}
    new = {"streams": [entry("a"), entry("b"), entry("new")]}
    found = {(d.stream, d.path, d.describe()) for d in diff_catalogs(old, new)}
    assert found == {
        ("new", ("streams",), "stream new: missing from the catalog (the generator writes it)"),
        ("gone", ("streams", 2), "stream gone: in the catalog but the generator does not write it "
                                 "(no Airbyte stream config of that name)"),
        (None, ("streams",), "the streams are in a different order than the generator writes "
                             "them (a, b)"),
    }


def test_selected_fields_removed_points_at_the_item() -> None:
    old = {"streams": [entry("s", selected_fields=[{"field_path": ["id"]},
                                                   {"field_path": ["email"]}])]}
    new = {"streams": [entry("s", selected_fields=[{"field_path": ["id"]},
                                                   {"field_path": ["phone"]}])]}
    (drift,) = diff_catalogs(old, new)
    assert drift.describe() == ("stream s: regenerating adds phone to and removes email from "
                                "selected_fields")
    assert drift.path == ("streams", 0, "config", "selected_fields", 1)
    assert drift.fields == ("phone", "email")


def test_json_schema_reencoded_without_change() -> None:
    old = {"streams": [entry("s")]}
    new = {"streams": [entry("s")]}
    old["streams"][0]["stream"]["json_schema"]["properties"] = '{"id":{"type":["null","integer"]}}'
    (drift,) = diff_catalogs(old, new)
    assert "json_schema.properties is encoded differently" in drift.describe()


def test_not_a_catalog_shape_still_says_where() -> None:
    (drift,) = diff_catalogs({"streams": {}}, {"streams": []})
    assert drift.describe() == "streams is {} in the catalog but the generator gives []"
    assert drift.path == ("streams",)


# ---- the repo's own formats, generated and mapped back (property tests) --------------------------


def reference_generator() -> Any:
    """The bundled generator's module, loaded from its file (its functions, not its `main`)."""
    import importlib.util

    from tests.builders import REFERENCE_TREE

    path = REFERENCE_TREE / "airbyte" / "generate-catalog.py"
    spec = importlib.util.spec_from_file_location("reference_generate_catalog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR_MODULE = reference_generator()
# Field names a discovery step writes that are JSON Schema keywords too.
FIELD_NAMES = st.one_of(NAMES, st.sampled_from(["type", "properties", "items", "format", "enum"]))


def discovery_fields(depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Field definitions in every form seen in real source schemas; a leaf may be `unknown`."""
    leaf = st.fixed_dictionaries(
        {"type": st.just("unknown") | st.sampled_from(SCALAR_TYPES).flatmap(
            lambda t: st.sampled_from([t, ["null", t]]))},
        optional={"description": TEXT, "airbyte_type": st.just("integer"),
                  "enum": st.just(["a", "b"]), "multipleOf": st.just(0.5)},
    )
    if depth >= 2:
        return leaf
    children = st.dictionaries(FIELD_NAMES, discovery_fields(depth + 1), min_size=1, max_size=3)
    return st.one_of(
        leaf,
        st.builds(lambda p: {"type": "object", "properties": p, "additionalProperties": True},
                  children),
        st.builds(lambda m: {"type": "array", "items": m}, children),  # an items field map
        st.builds(lambda d: {"type": "array", "items": d}, discovery_fields(depth + 1)),
        st.builds(lambda d: {"type": "array", "items": [d, {"type": "string"}]},
                  discovery_fields(depth + 1)),  # tuple items
        st.builds(lambda d: {"anyOf": [d, {"type": "null"}]}, discovery_fields(depth + 1)),
    )


def unknown_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        out = [path + ("type",)] if node.get("type") == "unknown" else []
        if out:
            return out  # what is below a wrong type is not reported
        return out + [p for k, v in node.items() for p in unknown_paths(v, path + (k,))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in unknown_paths(v, path + (i,))]
    return []


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(FIELD_NAMES, discovery_fields(), min_size=1, max_size=4))
def test_every_shape_generates_valid_json_schema_and_maps_back(fields: dict[str, Any]) -> None:
    """Whatever form the definitions take, the generated schema is valid Draft 7 apart from the
    `unknown` types, and each of those is traced back to the `type` key that says `unknown`."""
    from jsonschema import Draft7Validator

    from lotus_checks.checks.catalog import _input_path
    from lotus_checks.lake.catalog_schema import catalog_problems

    config = stream_config("orders", fields, primary_key=[], cursor_field=[])
    catalog = {"streams": [GENERATOR_MODULE.build_entry(config, None)]}
    problems = catalog_problems(json.loads(json.dumps(catalog)))
    assert {p.kind for p in problems} <= {"type"}
    # one per `unknown` in the input, not fewer (below one, nothing else is reported)
    expected = {(("fields",) + p) for name, d in fields.items()
                for p in unknown_paths(d, (name,))}
    found = set()
    for problem in problems:
        assert problem.field is not None and problem.schema_path is not None
        path = _input_path(config, ("fields", problem.field), problem.schema_path[2:])
        found.add(path)
    assert found == expected
    if not problems:
        schema = json.loads(catalog["streams"][0]["stream"]["json_schema"]["properties"])
        Draft7Validator.check_schema({"type": "object", "properties": schema})


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(
        ["", "string", "unknown", "object", "array", "[\"null\", \"object\"]", "{\"a\": 1}"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["streams", "stream", "config", "name", "json_schema", "type",
                         "properties", "items", "anyOf", "required", "selected_fields",
                         "field_path", "supportedSyncModes", "sync_mode", "x"]),
        children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(catalog=ANY_JSON, schema=ANY_JSON)
def test_any_generator_output_gives_problems_never_an_exception(catalog: Any, schema: Any) -> None:
    from lotus_checks.lake.catalog_schema import catalog_problems

    for data in (catalog, {"streams": [{"stream": {"name": "s", "json_schema": schema},
                                        "config": {"selected": True}}]}):
        for problem in catalog_problems(data):
            assert problem.kind in ("shape", "type", "schema") and problem.detail
        assert_stored_problems_read_back(data)


class JsonStore:
    """The store protocol in memory, through JSON text as the cache on disk keeps it."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get(self, namespace: str, key: str) -> Any | None:
        text = self.entries.get((namespace, key))
        return None if text is None else json.loads(text)

    def has(self, namespace: str, key: str) -> bool:
        return (namespace, key) in self.entries

    def put(self, namespace: str, key: str, value: Any) -> bool:
        self.entries[(namespace, key)] = json.dumps(value)
        return True


def assert_stored_problems_read_back(catalog: Any) -> None:
    """The problems of a catalog read back from the store equal the ones judged."""
    from lotus_checks.lake import catalog_schema

    data = json.dumps(catalog).encode()
    store = JsonStore()
    judged = catalog_schema.catalog_problems_cached(data, catalog, store)
    assert judged == catalog_schema.catalog_problems(catalog) and len(store.entries) == 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog_schema, "catalog_problems", None)  # a hit judges nothing
        assert catalog_schema.catalog_problems_cached(data, catalog, store) == judged


def test_stored_problems_are_keyed_by_the_bytes_and_a_bad_entry_is_judged_again() -> None:
    from lotus_checks.lake.catalog_schema import catalog_problems_cached

    unknown = {"streams": [{"stream": {"name": "s", "supportedSyncModes": ["full_refresh"],
                                       "json_schema": {"properties": '{"a": {"type": "unknown"}}'}},
                            "config": {"sync_mode": "full_refresh",
                                       "destination_sync_mode": "append"}}]}
    fixed = json.loads(json.dumps(unknown).replace("unknown", "string"))
    store = JsonStore()
    found = catalog_problems_cached(json.dumps(unknown).encode(), unknown, store)
    assert [(p.kind, p.schema_path) for p in found] == [("type", ("properties", "a", "type"))]
    assert catalog_problems_cached(json.dumps(fixed).encode(), fixed, store) == []
    assert len(store.entries) == 2
    for entry in store.entries:
        store.entries[entry] = '[{"kind": 1}]'
    assert catalog_problems_cached(json.dumps(unknown).encode(), unknown, store) == found
    assert catalog_problems_cached(json.dumps(fixed).encode(), fixed, store) == []


SCHEMA_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.floats(-1, 2) | st.sampled_from(
        ["", "string", "unknown", "object", "^a$", "x"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "properties", "items", "anyOf", "oneOf", "required", "enum",
                         "multipleOf", "minimum", "maxLength", "pattern", "uniqueItems",
                         "examples", "format", "additionalProperties", "definitions", "not",
                         "dependencies", "airbyte_type", "id"]),
        children, max_size=4),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(schema=SCHEMA_VALUES)
def test_certainly_valid_only_when_draft7_agrees(schema: Any) -> None:
    """The quick walk never calls a schema valid that the Draft 7 metaschema rejects (the only
    answer that must never be wrong), and the type names it reports are the ones that are not
    JSON types."""
    from jsonschema import Draft7Validator

    from lotus_checks.lake.catalog_schema import JSON_TYPES
    from lotus_checks.lake.catalog_schema import _scan

    types: list[Any] = []
    if _scan(schema, None, types):
        assert Draft7Validator(Draft7Validator.META_SCHEMA).is_valid(schema)
    for _, bad in types:
        assert bad and all(name not in JSON_TYPES for name in bad)


def test_a_generator_importing_a_package_lotus_check_lacks_is_a_warning(lake: Path) -> None:
    """`python generate-catalog.py` works in the user's environment; lotus-check's Python
    (pre-commit's hook environment) lacks the package: nothing breaks on a push."""
    generator = lake / "orchestration/airbyte/generate-catalog.py"
    text = generator.read_text(encoding="utf-8")
    generator.write_text(text.replace("import argparse\n", "import argparse\nimport lotus_no_such_pkg\n", 1),
                         encoding="utf-8")
    result = catalog_findings(lake)
    [finding] = result
    assert (finding.code, finding.severity) == ("LL204", Severity.WARNING)
    assert "`lotus_no_such_pkg`" in finding.message and "additional_dependencies" in finding.hint
    # The neighbour: a generator that fails on its own is still an error.
    generator.write_text(text.replace("import argparse\n", "import argparse\nraise SystemExit(3)\n", 1),
                         encoding="utf-8")
    [finding] = catalog_findings(lake)
    assert (finding.code, finding.severity) == ("LL204", Severity.ERROR)
