"""GitHub Actions: the workflow file is valid and `--output-format github` annotates the right
file, line and column."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any
from typing import Callable

import check_jsonschema
import jsonschema
import pytest
import yaml

from lotus_checks.core.finding import Finding
from lotus_checks.engine import RunResult
from lotus_checks.output.report import report_github
from tests.builders import CORE
from tests.builders import REPO_ROOT
from tests.builders import STREAMS
from tests.builders import write_tree

CliRunner = Callable[..., tuple[int, str, str]]

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "lint.yml"
ANNOTATION = re.compile(
    r"^::(?P<level>error|warning) file=(?P<file>[^,]+)(?:,line=(?P<line>\d+))?"
    r"(?:,col=(?P<col>\d+))?,title=(?P<code>LL\d{3})::(?P<message>.+)$"
)
CUSTOMERS_MODEL = f"{CORE}/shopify/int_shopify__customers.sql"


def _workflow_schema() -> dict[str, Any]:
    """The GitHub workflow schema check-jsonschema vendors (works offline)."""
    path = Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/github-workflows.json"
    return json.loads(path.read_text("utf-8"))


def _load_workflow(path: Path) -> Any:
    # YAML 1.1 reads the key `on` as True; GitHub (and check-jsonschema) read it as "on".
    data = yaml.safe_load(path.read_text("utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def _annotations(out: str) -> list[dict[str, str]]:
    found = []
    for line in out.splitlines():
        if line.startswith("::"):
            match = ANNOTATION.match(line)
            assert match, f"malformed workflow command: {line!r}"
            found.append(match.groupdict())
    return found


def test_workflow_validates_against_the_github_workflow_schema() -> None:
    schema = _workflow_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = list(validator_class(schema).iter_errors(_load_workflow(WORKFLOW)))
    assert errors == []


def test_the_schema_check_can_fail() -> None:
    """Control: a workflow with a misspelled key is rejected by the same validation."""
    schema = _workflow_schema()
    broken = _load_workflow(WORKFLOW)
    broken["jobs"]["lotus-check"]["runs_on"] = broken["jobs"]["lotus-check"].pop("runs-on")
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_workflow_runs_this_repos_action_on_pull_requests() -> None:
    workflow = _load_workflow(WORKFLOW)
    assert "pull_request" in workflow["on"]
    steps = workflow["jobs"]["lotus-check"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert uses[0].startswith("actions/checkout@")
    assert "./" in uses  # action.yml from this checkout: the code under review
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text("utf-8"))
    action_steps = action["runs"]["steps"]
    setup = next(s for s in action_steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    assert action["inputs"]["python-version"]["default"] == "3.11"
    runs = [step.get("run", "") for step in action_steps]
    assert any('"$LOTUS_CHECKS_SOURCE"' in r and "pip install" in r for r in runs)
    assert any('"--output-format", "github", *args' in r for r in runs)


def test_docs_snippet_is_a_valid_workflow() -> None:
    """The users' workflows in docs/integration.md validate too."""
    text = (REPO_ROOT / "docs" / "integration.md").read_text("utf-8")
    blocks = re.findall(r"```yaml\n(# \.github/workflows/.*?)```", text, re.S)
    assert blocks, "no GitHub workflow snippet in docs/integration.md"
    schema = _workflow_schema()
    for block in blocks:
        data = yaml.safe_load(block)
        if True in data:
            data["on"] = data.pop(True)
        assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(data)) == []
        assert re.search(r"lotus-check --output-format sarif|uses: <owner>/lotus-checks@", block)


def test_annotations_point_at_file_line_and_column(reference_repo: Path, cli: CliRunner) -> None:
    write_tree(reference_repo, {f"{STREAMS}/shopify/bad.json": '{\n  "stream": "bad",,\n}\n'})
    code, out, err = cli("--root", str(reference_repo), "--output-format", "github", "--no-cache",
                         "--select", "LL0")
    assert (code, err) == (1, "")
    found = _annotations(out)
    assert [(a["level"], a["file"], a["line"], a["col"], a["code"]) for a in found] == [
        ("error", f"{STREAMS}/shopify/bad.json", "2", "19", "LL002")
    ]
    assert out.splitlines()[-1].startswith("Found 1 error")


def test_warnings_are_warning_annotations(reference_repo: Path, cli: CliRunner) -> None:
    model = reference_repo / CUSTOMERS_MODEL
    model.write_text(model.read_text("utf-8").replace(
        "    first_name,\n", "    first_name,  -- noqa\n", 1), "utf-8")
    code, out, _ = cli("--root", str(reference_repo), "--output-format", "github", "--no-cache")
    assert code == 0  # warnings alone do not fail the job
    assert [(a["level"], a["file"], a["line"], a["col"], a["code"]) for a in _annotations(out)] \
        == [("warning", CUSTOMERS_MODEL, "18", "18", "LL602")]


def test_misspelled_column_is_an_ll401_annotation(reference_repo: Path, cli: CliRunner) -> None:
    model = reference_repo / CUSTOMERS_MODEL
    model.write_text(model.read_text("utf-8").replace(
        "    orders_count,\n", "    order_count,\n", 1), "utf-8")
    code, out, _ = cli("--root", str(reference_repo), "--output-format", "github", "--no-cache")
    assert code == 1
    found = [a for a in _annotations(out) if a["code"] == "LL401"]
    assert [(a["level"], a["file"], a["line"], a["col"]) for a in found] == [
        ("error", CUSTOMERS_MODEL, "29", "5")
    ]
    assert "order_count" in found[0]["message"]


@pytest.mark.parametrize(
    ("message", "escaped"),
    [("a: b, c", "a: b, c"), ("100%\nnext", "100%25%0Anext")],
)
def test_messages_are_escaped_to_one_line(message: str, escaped: str) -> None:
    stream = io.StringIO()
    finding = Finding("a,b:c.sql", 3, 4, "LL401", message)
    report_github(RunResult([finding], 1), stream, Path("."), {}, False)
    first = stream.getvalue().splitlines()[0]
    assert first == f"::error file=a%2Cb%3Ac.sql,line=3,col=4,title=LL401::{escaped}"
