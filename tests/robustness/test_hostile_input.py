"""Input that used to end in "internal error": integers past Python's 4,300-digit limit in any
JSON, YAML, TOML or baseline file, and config values of the right type that cannot work (name
patterns with other braces, a cache folder that is the root or a layout folder). Each is now a
finding on the file or one line naming the file and the key (exit 2); the correct neighbours
still pass.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.robustness.helpers import CATALOG
from tests.robustness.helpers import CONNECTIONS_TF
from tests.robustness.helpers import ORDERS_CONFIG
from tests.robustness.helpers import ORDERS_SCHEMA
from tests.robustness.helpers import PROJECT
from tests.robustness.helpers import SOURCES_YML
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import json_findings
from tests.robustness.helpers import run_cli
from tests.robustness.helpers import run_process

HUGE = "1" * 5000  # over sys.get_int_max_str_digits() (4,300)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return build_lake(tmp_path / "lake")




# ---- integers over 4,300 digits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "text", "code", "line", "column"),
    [
        (ORDERS_CONFIG, '{"stream": "orders",\n "x": ' + HUGE + "}", "LL002", 2, 7),
        (ORDERS_SCHEMA, '{"a": [' + HUGE + "]}", "LL002", 1, 8),
        (CATALOG, '{"streams": ' + HUGE + "}", "LL002", 1, 13),
        (SOURCES_YML, "version: 2\nx: " + HUGE + "\n", "LL005", 2, 4),
        (PROJECT, "name: " + HUGE + "\n", "LL005", 1, 7),
    ],
)
def test_integer_over_the_digit_limit_is_a_load_finding(
    lake: Path, rel: str, text: str, code: str, line: int, column: int
) -> None:
    (lake / rel).write_text(text)
    found = [(f["code"], f["line"], f["column"], f["message"]) for f in json_findings(lake) if f["path"] == rel]
    assert [f[:3] for f in found if f[0].startswith("LL0")] == [(code, line, column)]
    assert "4,300 digits" in found[0][3]


def test_integer_just_under_the_digit_limit_still_loads(lake: Path) -> None:
    """The neighbour: 4,300 digits is a valid (if odd) number, not a load error."""
    data = json.loads((lake / ORDERS_SCHEMA).read_text())
    data["x_big"] = int("1" * 4300)
    (lake / ORDERS_SCHEMA).write_text(json.dumps(data))
    assert not [f for f in json_findings(lake) if f["code"].startswith("LL0")]


def test_integer_over_the_digit_limit_in_terraform_ends_cleanly(lake: Path) -> None:
    (lake / CONNECTIONS_TF).write_text((lake / CONNECTIONS_TF).read_text() + "\nlocals {\n  x = " + HUGE + "\n}\n")
    json_findings(lake)  # a clean end: Terraform keeps such a number as text


def test_integer_over_the_digit_limit_in_the_config_is_one_line(lake: Path) -> None:
    (lake / "lotus-check.toml").write_text("max-file-size = " + HUGE + "\n")
    outcome = run_cli("--root", str(lake))
    assert_clean_end(outcome, allow_usage_error=True)
    assert outcome.code == 2
    assert "lotus-check.toml" in outcome.err and "4,300 digits" in outcome.err


def test_integer_over_the_digit_limit_in_a_baseline_is_one_line(lake: Path) -> None:
    baseline = lake / "baseline.json"
    baseline.write_text('{"lotus-check-baseline": 1, "findings": [{"path": "a", "code": "LL001", '
                        '"fingerprint": "x", "count": ' + HUGE + "}]}")
    outcome = run_cli("--root", str(lake), "--baseline", str(baseline))
    assert_clean_end(outcome, allow_usage_error=True)
    assert outcome.code == 2
    assert "baseline.json" in outcome.err and "4,300 digits" in outcome.err


# ---- config values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('stream-tag = "{0}{source}"', "stream-tag"),
        ('stream-tag = "{source:>999999999}"', "stream-tag"),
        ('stream-tag = "{source!r}__{stream}"', "stream-tag"),
        ('stream-tag = "{source}__{stream"', "stream-tag"),
        ('stream-tag = "{{source}}__{stream}"', "stream-tag"),
        ('sources-file = "_{source}__{stream}.yml"', "sources-file"),
        ('sources-file = "_{name}.yml"', "sources-file"),
        ('raw-path = "raw/{source}/{stream}/{date}/"', "raw-path"),
        ('cache-dir = "."', "cache-dir"),
        ('cache-dir = "./"', "cache-dir"),
        ('cache-dir = "orchestration"', "cache-dir"),
        ('cache-dir = "orchestration/assets/streams"', "cache-dir"),
        ('cache-dir = "orchestration/assets/core"', "cache-dir"),
        ('cache-dir = "orchestration/assets/sources/cache"', "cache-dir"),
    ],
)
def test_config_value_that_cannot_work_is_exit_2_naming_the_key(lake: Path, line: str, key: str) -> None:
    (lake / "lotus-check.toml").write_text(line + "\n")
    started = time.monotonic()
    outcome = run_cli("--root", str(lake))
    assert time.monotonic() - started < 5
    assert_clean_end(outcome, allow_usage_error=True)
    assert outcome.code == 2
    assert f"lotus-check.toml: {key} = " in outcome.err
    assert not (lake / ".gitignore").exists()
    assert not list(lake.rglob(".gitignore"))  # no cache folder was made anywhere


@pytest.mark.parametrize(
    "line",
    [
        'stream-tag = "{source}__{stream}"',
        'stream-tag = "dagster/{source}.{stream}"',
        'sources-file = "_{source}__sources.yml"',
        'raw-path = "landing/{source}/{stream}/"',
        'cache-dir = ".cache/lotus"',
        'cache-dir = "orchestration/.lotus_cache"',
    ],
)
def test_config_values_of_the_usual_shapes_are_accepted(lake: Path, line: str) -> None:
    (lake / "lotus-check.toml").write_text(line + "\n")
    outcome = run_cli("--root", str(lake), "--select", "LL0")
    assert_clean_end(outcome)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_config_file_that_is_a_fifo_or_a_device_is_one_line(lake: Path, tmp_path: Path, kind: str) -> None:
    """`--config` read through the loaders' reader: it neither blocks nor reads without end."""
    config = tmp_path / "lotus-check.toml"
    if kind == "fifo":
        os.mkfifo(config)
    else:
        config.symlink_to("/dev/zero")
    outcome = run_process("--root", str(lake), "--config", str(config), timeout=30)
    assert_clean_end(outcome, allow_usage_error=True)
    assert outcome.code == 2
    assert f"cannot read config file {config}: is not a regular file" in outcome.err


@pytest.mark.parametrize("kind", ["fifo", "dangling-link"])
def test_dbt_project_that_is_a_fifo_or_a_dangling_link_is_ll001(lake: Path, kind: str) -> None:
    """It used to be taken for a missing project: no finding at all."""
    (lake / PROJECT).unlink()
    if kind == "fifo":
        os.mkfifo(lake / PROJECT)
    else:
        (lake / PROJECT).symlink_to(lake / "nowhere.yml")
    assert ("LL001", PROJECT) in [(f["code"], f["path"]) for f in json_findings(lake)]
