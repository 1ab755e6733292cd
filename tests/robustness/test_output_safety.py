"""Output that a file name or a file's content cannot forge, and that stays bounded.

- text and github: control characters (C0, DEL, C1, decoded or as raw bytes of a name),
  line separators and bidi overrides in paths, messages, hints and source lines are escaped
  (`\\x1b`, `\\u202e`): a file name cannot erase a line and print a green "All checks passed";
- JSON and SARIF are valid UTF-8 for any file name: a byte that is not UTF-8 is written `\\xNN`
  in text fields, and SARIF's `uri` is percent-encoded from the name's bytes;
- at most 200 findings per file are shown (its errors first), with a count of the rest; the exit
  code and the summary's counts include them all.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.finding import printable
from lotus_checks.core.finding import utf8_safe
from lotus_checks.output.report import MAX_PER_FILE
from lotus_checks.output.report import shown
from tests.robustness.helpers import ORDERS_MODEL
from tests.robustness.helpers import STREAMS
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import run_strict_utf8

FORGED = b"x\x1b[2K\r\x1b[32mAll checks passed (9 files checked).\x1b[0m\x9b2J\xe2\x80\xae.json"


def run_bytes(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The run's output bytes on a strict UTF-8 stdout (in process; tests/robustness/
    test_fuzz_cli.py runs the command itself on such streams)."""
    return run_strict_utf8("--root", str(root), "--no-cache", *args)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return build_lake(tmp_path / "lake")


@pytest.mark.parametrize("output_format", ["text", "github"])
def test_file_name_with_escape_sequences_is_printed_escaped(lake: Path, output_format: str) -> None:
    with open(os.fsencode(lake / STREAMS) + b"/" + FORGED, "wb") as f:
        f.write(b'{"stream": "\x1b]0;title\x07", ')  # invalid JSON: LL002 on the file
    done = run_bytes(lake, "--output-format", output_format)
    assert done.returncode == 1, done.stderr
    for byte in (b"\x1b", b"\r", b"\x9b", b"\x07", "\u202e".encode()):
        assert byte not in done.stdout
    assert b"x\\x1b[2K\\x0d\\x1b[32mAll checks passed" in done.stdout
    assert b"\\x9b2J\\u202e.json" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith(b"Found ")


def test_message_and_source_line_with_control_characters_are_escaped(lake: Path) -> None:
    """A message quotes file content (a stream name), and the text format shows the source line."""
    config = lake / STREAMS / "orders.json"
    data = json.loads(config.read_text())
    data["stream"] = "orders\u001b[2K\u2028"
    config.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    done = run_bytes(lake, "--output-format", "text")
    assert done.returncode == 1, done.stderr
    assert b"\x1b" not in done.stdout and "\u2028".encode() not in done.stdout
    assert b"orders\\x1b[2K\\u2028" in done.stdout


@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_json_and_sarif_are_valid_utf8_for_any_file_name(lake: Path, output_format: str) -> None:
    name = b"\xff\x9b odd#%.json"
    with open(os.fsencode(lake / STREAMS) + b"/" + name, "wb") as f:
        f.write(b"{")
    done = run_bytes(lake, "--output-format", output_format)
    assert done.returncode == 1, done.stderr
    text = done.stdout.decode("utf-8")  # strict: no undecodable byte
    document = json.loads(text)
    strings = _strings(document)
    assert not [s for s in strings if any("\ud800" <= c <= "\udfff" for c in s)]
    if output_format == "json":
        paths = [f["path"] for f in document["findings"] if f["code"] == "LL002"]
        assert paths == [f"{STREAMS}/\\xff\\x9b odd#%.json"]
    else:
        uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for r in document["runs"][0]["results"] if r["ruleId"] == "LL002"]
        assert uris == [f"{STREAMS}/%FF%9B%20odd%23%25.json"]


def test_plain_names_are_unchanged_in_every_format(lake: Path) -> None:
    """The neighbour: an ordinary path and message print exactly as before."""
    (lake / ORDERS_MODEL).write_text(
        "{{ config(tags=['core', 'shopify__orders']) }}\nselect nope from {{ source('shopify', 'orders') }}\n"
    )
    text = run_bytes(lake, "--output-format", "text").stdout.decode()
    assert f"{ORDERS_MODEL}:2:8: LL401 column `nope` does not exist in stream shopify.orders" in text
    sarif = json.loads(run_bytes(lake, "--output-format", "sarif").stdout)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]}
    assert uris == {ORDERS_MODEL}


def test_printable_and_utf8_safe() -> None:
    assert printable("tab\tstays, é and 漢字 too") == "tab\tstays, é and 漢字 too"
    assert printable("\x00\x1b\x7f\x85\u200f\u202a\u2066") == "\\x00\\x1b\\x7f\\x85\u200f\\u202a\\u2066"
    assert printable("a\r\nb", newlines=True) == "a\r\nb"
    assert printable("\udcff\udc9b") == "\udcff\\x9b"  # raw byte 0xff kept, C1 byte 0x9b escaped
    assert utf8_safe("ok \x1b \udcff \ud800") == "ok \x1b \\xff \\ud800"


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# ---- findings per file -------------------------------------------------------------------------------


def test_findings_per_file_are_capped_with_a_count_of_the_rest(lake: Path) -> None:
    columns = ", ".join(f"nope{i}" for i in range(MAX_PER_FILE + 50))
    (lake / ORDERS_MODEL).write_text(
        "{{ config(tags=['core', 'shopify__orders']) }}\nselect " + columns
        + " from {{ source('shopify', 'orders') }}\n"
    )
    document = json.loads(run_bytes(lake, "--output-format", "json").stdout)
    assert len([f for f in document["findings"] if f["path"] == ORDERS_MODEL]) == MAX_PER_FILE
    assert document["not_shown"] == 50
    done = run_bytes(lake, "--output-format", "text")
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert f"{ORDERS_MODEL}: 50 more findings not shown (at most {MAX_PER_FILE} per file)" in lines
    assert lines[-1].startswith(f"Found {MAX_PER_FILE + 50} errors in 1 file (")
    assert lines[-1].endswith(f"; 50 not shown, at most {MAX_PER_FILE} per file).")
    github = run_bytes(lake, "--output-format", "github").stdout.decode().splitlines()
    assert len([line for line in github if line.startswith("::")]) == MAX_PER_FILE


def test_cap_keeps_a_files_errors_before_its_warnings() -> None:
    warnings = [Finding("a.sql", i, 1, "LL999", "w", Severity.WARNING) for i in range(1, MAX_PER_FILE + 1)]
    error = Finding("a.sql", MAX_PER_FILE + 5, 1, "LL998", "e")
    other = Finding("b.sql", 1, 1, "LL998", "e")
    kept, not_shown = shown([*warnings, error, other])
    assert error in kept and other in kept and len(kept) == MAX_PER_FILE + 1
    assert not_shown == {"a.sql": 1}
    assert kept == sorted(kept, key=lambda f: (f.path, f.line))  # still in order
    assert shown(warnings) == (warnings, {})  # the neighbour: at the cap, nothing is hidden
