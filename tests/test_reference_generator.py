"""The bundled generator's `--check` compares the way LL201/LL205 do: content, then bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import copy_reference

GENERATOR = "orchestration/airbyte/generate-catalog.py"
CATALOG = "orchestration/assets/streams/shopify/_catalog.json"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, GENERATOR, "--check"], cwd=root, capture_output=True, text=True
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copy_reference(tmp_path)


def test_committed_catalogs_are_current(tree: Path) -> None:
    result = _check(tree)
    assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: text.replace('"selected": true', '"selected": 1', 1), "content differs"),
        (lambda text: text.replace('"full_refresh"', '"incremental"', 1), "content differs"),
        (lambda text: text.replace("\n", "\r\n"), "formatting only, same JSON"),
        (lambda text: text[: len(text) // 2], "not valid JSON"),
    ],
)
def test_check_names_the_kind_of_difference(tree: Path, edit, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = tree / CATALOG
    before = path.read_bytes()
    path.write_bytes(edit(before.decode()).encode())
    result = _check(tree)
    assert result.returncode == 1
    assert f"shopify/_catalog.json is out of date ({reason})" in result.stdout
    assert path.read_bytes() != before  # --check wrote nothing back


def test_check_reports_a_missing_catalog(tree: Path) -> None:
    (tree / CATALOG).unlink()
    result = _check(tree)
    assert result.returncode == 1
    assert "(missing)" in result.stdout
    assert not (tree / CATALOG).exists()


def _generated_property(root: Path, source: str, stream: str, field: str) -> object:
    catalog = json.loads((root / f"orchestration/assets/streams/{source}/_catalog.json").read_text())
    entry = next(e for e in catalog["streams"] if e["stream"]["name"] == stream)
    return json.loads(entry["stream"]["json_schema"]["properties"])[field]


def test_discovery_shapes_become_json_schema(tree: Path) -> None:
    """An `items` field map becomes an object schema, keyword-named fields stay fields, `anyOf`
    keeps its alternatives without a made-up type, and tuple `items` do not crash it."""
    for folder in ("streams", "sources"):
        path = tree / f"orchestration/assets/{folder}/shopify/orders.json"
        data = json.loads(path.read_text())
        data["fields"]["point"] = {"type": "array", "items": [{"type": "number"}, {"type": "number"}]}
        path.write_text(json.dumps(data, indent=2) + "\n")
    done = subprocess.run([sys.executable, GENERATOR], cwd=tree, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _generated_property(tree, "shopify", "orders", "discount_codes")["items"] == {
        "type": ["null", "object"],
        "properties": {"code": {"type": ["null", "string"]}, "amount": {"type": ["null", "number"]},
                       "type": {"type": ["null", "string"]}},
    }
    assert _generated_property(tree, "shopify", "orders", "point")["items"] == [
        {"type": ["null", "number"]}, {"type": ["null", "number"]}]
    invoice = _generated_property(tree, "stripe", "charges", "invoice")
    assert isinstance(invoice, dict) and "type" not in invoice and len(invoice["anyOf"]) == 3
