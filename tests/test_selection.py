from __future__ import annotations

from pathlib import Path

import pytest

from lotus_checks.core.config import Config
from lotus_checks.core.finding import Finding
from lotus_checks.core.finding import Severity
from lotus_checks.core.selection import Selection
from lotus_checks.core.selection import noqa_codes
from lotus_checks.core.selection import suppressed_by_noqa


@pytest.mark.parametrize(
    ("select", "ignore", "code", "enabled"),
    [
        (("ALL",), (), "LL401", True),
        (("LL4",), (), "LL401", True),
        (("LL4",), (), "LL101", False),
        (("ALL",), ("LL4",), "LL401", False),
        (("LL401",), ("LL4",), "LL401", True),  # more specific select wins
        (("LL4",), ("LL4",), "LL401", False),  # tie: ignore wins
        (("LL4",), ("LL402",), "LL401", True),
        ((), (), "LL401", False),
    ],
)
def test_most_specific_prefix_wins(
    tmp_path: Path, select: tuple[str, ...], ignore: tuple[str, ...], code: str, enabled: bool
) -> None:
    selection = Selection(Config(root=tmp_path, select=select, ignore=ignore))
    assert selection.enabled(code) is enabled


def test_per_file_ignores(tmp_path: Path) -> None:
    config = Config(root=tmp_path, per_file_ignores=(("models/legacy/*", ("LL3",)),))
    selection = Selection(config)
    assert not selection.enabled("LL303", "models/legacy/int_a__b.sql")
    assert selection.enabled("LL401", "models/legacy/int_a__b.sql")
    assert selection.enabled("LL303", "models/core/int_a__b.sql")


def test_severity_override(tmp_path: Path) -> None:
    selection = Selection(Config(root=tmp_path, severity=(("LL303", "warning"),)))
    finding = Finding("a.sql", 1, 1, "LL303", "m")
    assert selection.apply_severity(finding).severity is Severity.WARNING
    other = Finding("a.sql", 1, 1, "LL401", "m")
    assert selection.apply_severity(other) is other


@pytest.mark.parametrize(
    ("path", "line", "expected"),
    [
        ("m.sql", "select emial -- noqa: LL401", frozenset({"LL401"})),
        ("m.sql", "select emial -- NOQA:LL401,LL4", frozenset({"LL401", "LL4"})),
        ("m.sql", "select emial -- noqa", frozenset()),
        ("m.sql", "select emial", None),
        ("m.sql", "select emial # noqa", None),  # not a SQL comment
        ("s.yml", "  - name: orderz  # noqa: LL305", frozenset({"LL305"})),
        ("s.json", '"a": 1 -- noqa', None),  # JSON has no comments
    ],
)
def test_noqa_comments(path: str, line: str, expected: frozenset[str] | None) -> None:
    assert noqa_codes(path, line) == expected


def test_noqa_prefix_suppresses_family() -> None:
    finding = Finding("m.sql", 3, 8, "LL402", "m")
    assert suppressed_by_noqa(finding, "x -- noqa: LL4")
    assert not suppressed_by_noqa(finding, "x -- noqa: LL401")
    assert suppressed_by_noqa(finding, "x -- noqa")
