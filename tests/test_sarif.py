"""`--output-format sarif` validates against the SARIF 2.1.0 schema (vendored, see
tests/data/README.md) and says the same as the other formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from typing import Callable

import jsonschema
import pytest

from tests.builders import CORE
from tests.builders import STREAMS
from tests.builders import write_tree

CliRunner = Callable[..., tuple[int, str, str]]

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text("utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _sarif(cli: CliRunner, root: Path) -> dict[str, Any]:
    code, out, err = cli("--root", str(root), "--output-format", "sarif", "--no-cache")
    assert code in (0, 1) and err == "", err
    return json.loads(out)


def _errors(validator: jsonschema.protocols.Validator, document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_clean_tree_is_valid_sarif(reference_repo: Path, cli: CliRunner, sarif_validator) -> None:  # type: ignore[no-untyped-def]
    sarif = _sarif(cli, reference_repo)
    assert _errors(sarif_validator, sarif) == []
    run = sarif["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["name"] == "lotus-check"
    assert len(run["tool"]["driver"]["rules"]) > 10


def test_findings_are_valid_sarif_with_locations(
    reference_repo: Path, cli: CliRunner, sarif_validator  # type: ignore[no-untyped-def]
) -> None:
    write_tree(reference_repo, {
        f"{STREAMS}/shopify/orders.json": '{\n  "stream": "orders",,\n}\n',  # LL002 at 2:22
        f"{STREAMS}/stripe/_catalog.json": None,  # a file-level finding: no region
    })
    model = reference_repo / CORE / "shopify/int_shopify__customers.sql"
    model.write_text(model.read_text("utf-8").replace(  # LL602, a warning
        "    first_name,\n", "    first_name,  -- noqa\n", 1), "utf-8")
    sarif = _sarif(cli, reference_repo)
    assert _errors(sarif_validator, sarif) == []

    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_code: dict[str, list[dict[str, Any]]] = {}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        by_code.setdefault(result["ruleId"], []).append(result)

    (invalid,) = by_code["LL002"]
    location = invalid["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": f"{STREAMS}/shopify/orders.json",
                                            "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 2, "startColumn": 22}
    assert invalid["level"] == "error"
    (unused,) = by_code["LL602"]
    assert unused["level"] == "warning"
    assert unused["locations"][0]["physicalLocation"]["region"]["startLine"] == 18
    places = [r["locations"][0]["physicalLocation"] for r in run["results"]]
    whole_file = [p["artifactLocation"]["uri"] for p in places if "region" not in p]
    assert f"{STREAMS}/stripe/_catalog.json" in whole_file, by_code.keys()
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")


def test_the_schema_rejects_broken_sarif(sarif_validator) -> None:  # type: ignore[no-untyped-def]
    """Control: the validation can fail."""
    assert _errors(sarif_validator, {"version": "2.1.0", "runs": [{"results": []}]})
    assert _errors(sarif_validator, {"version": "2.0.0", "runs": []})
