"""Rendering a model is bounded in memory, not only in CPU time: one-line templates that used to
allocate gigabytes in a single operation (`batch`, `slice`, `tojson(indent=...)`,
`str.translate`, `int.to_bytes`, `bytes.ljust`) or a little at a time in a loop end quickly as
LL004, with the process's peak memory far below a gigabyte.

Each case runs the CLI in a child process under an address-space limit (so a regression fails
with a MemoryError, or the peak check, instead of taking the machine's memory) and reports the
child's peak resident memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lotus_checks.sql import _budget
from tests.robustness.helpers import ORDERS_MODEL
from tests.robustness.helpers import build_lake

HEADER = "{{ config(tags=['core', 'shopify__orders']) }}\nselect id from {{ source('shopify', 'orders') }}\n"

# Run the CLI with the address space limited to 3 GB, then print the peak resident memory (KiB).
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))
from lotus_checks.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"exit": code, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}),
      file=sys.stderr)
"""

PEAK_LIMIT_KIB = 900 * 1024  # the renderer's own cap is 512 MB above what the run uses anyway


def run_measured(root: Path) -> tuple[list[dict], dict]:
    done = subprocess.run(
        # Only the LL0 rules (LL004 among them): the rendering is the whole point, the
        # generator and the other families would only add to each case's time.
        [sys.executable, "-c", CHILD, "--root", str(root), "--no-cache", "--output-format", "json",
         "--select", "LL0"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr, done.stderr
    measured = json.loads(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout)["findings"], measured


@pytest.mark.parametrize(
    "template",
    [
        "{{ range(10)|batch(10**9, 'x')|list|length }}",
        "{{ range(10)|slice(10**9)|list|length }}",
        "{{ {'a': [1, [2]]}|tojson(indent=10**9) }}",
        "{{ {'a': [1, [2, [3]]]}|tojson(indent=' ' * 10**6) }}",
        "{% set s = 'x' * 1000000 %}{{ s.translate({120: 'y' * 1000})[:5] }}",
        "{{ (1).to_bytes(10**9, 'big')|length }}",
        "{{ 'x'.encode().ljust(10**9)|length }}",
        # many allocations each inside the size limits, kept alive in a list or a dict
        ("{% set l = [] %}{% for i in range(50000) %}{% do l.append(['x'.rjust(1999999)]) %}"
         "{% endfor %}{{ l|length }}"),
        ("{% set d = {} %}{% for i in range(50000) %}{% do d.update({i: 'x'.rjust(1999999)}) %}"
         "{% endfor %}{{ d|length }}"),
        "{% set l = [] %}{% for i in range(50000) %}{% do l.extend(range(100000)) %}{% endfor %}",
    ],
)
def test_memory_hungry_template_is_ll004_with_bounded_memory(tmp_path: Path, template: str) -> None:
    lake = build_lake(tmp_path / "lake")
    (lake / ORDERS_MODEL).write_text(HEADER + "-- " + template + "\n")
    started = time.monotonic()
    findings, measured = run_measured(lake)
    elapsed = time.monotonic() - started
    on_model = [(f["code"], f["message"]) for f in findings if f["path"] == ORDERS_MODEL]
    assert any(code == "LL004" and "too much work" in message for code, message in on_model), on_model
    assert measured["peak_kib"] < PEAK_LIMIT_KIB, measured
    assert elapsed < 30


def test_the_same_filters_with_ordinary_arguments_render(tmp_path: Path) -> None:
    """The neighbour: batch, slice, tojson(indent), translate and a growing list of modest size
    render as before."""
    from lotus_checks.sql.render import render_model

    template = (
        "select {{ range(10)|batch(3, 0)|list|length }} as a, {{ range(10)|slice(3)|list|length }} as b,"
        " '{{ {'k': [1, [2]]}|tojson(indent=2)|length }}' as c, '{{ 'abc'.translate({97: 'xy'}) }}' as d,"
        " {% set l = [] %}{% for i in range(2000) %}{% do l.append('x' * 10) %}{% endfor %}"
        "{{ l|length }} as e"
    )
    rendered = render_model(template, model_name="m", incremental=False, project_vars={})
    assert rendered.problems == ()
    assert rendered.sql == "select 4 as a, 3 as b, '43' as c, 'xybc' as d, 2000 as e"


def test_memory_cap_ends_a_rendering_and_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_MEMORY the rendering stops with a problem and counts as machine-dependent (like
    the wall-clock limit), so its facts are never cached or replayed."""
    from lotus_checks.sql.render import render_model

    monkeypatch.setattr("lotus_checks.sql._dbt.MAX_MEMORY", 16 * 2**20)
    template = ("{% set l = [] %}{% for i in range(50000) %}{% do l.append(['x'.rjust(100000)]) %}"
                "{% endfor %}{{ l|length }}")
    rendered = render_model(template, model_name="m", incremental=False, project_vars={})
    assert [p.message for p in rendered.problems] == [
        "template does too much work, not rendered: rendering needed over 16 MB of memory"
    ]
    assert rendered.timed_out


def test_pool_workers_get_an_address_space_limit() -> None:
    """The facts pool's workers start with RLIMIT_AS set a few GB above their use; the main
    process is left alone (it runs the pool's own threads)."""
    code = (
        "import resource\n"
        "from lotus_checks.sql._budget import cap_worker_memory, WORKER_MEMORY_HEADROOM\n"
        "before = resource.getrlimit(resource.RLIMIT_AS)[0]\n"
        "cap_worker_memory()\n"
        "after = resource.getrlimit(resource.RLIMIT_AS)[0]\n"
        "print(before == resource.RLIM_INFINITY, 0 < after - WORKER_MEMORY_HEADROOM < 2**31)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stderr
    assert _budget.WORKER_MEMORY_HEADROOM >= 2**31
