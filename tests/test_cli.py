from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from tests.builders import STREAMS
from tests.builders import stream_config

CliRunner = Callable[..., tuple[int, str, str]]

BROKEN = {
    f"{STREAMS}/shopify/orders.json": '{"stream": "orders",,}\n',
    f"{STREAMS}/shopify/customers.json": "{\n  \"stream\": \"customers\"\n",
}


def test_version_and_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lotus_checks", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.startswith("lotus-check ")


def test_version_and_help_do_not_import_heavy_libraries() -> None:
    # ...nor the layout detection, which walks the tree
    heavy = ("sqlglot", "jinja2", "dbt", "jsonschema", "hcl2", "duckdb", "yaml",
             "lotus_checks.core.layout", "lotus_checks.adoption.settings", "lotus_checks.core.config")
    script = (
        "import sys\n"
        "from lotus_checks.cli import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_no_layout_exits_2_naming_folder_and_key(tmp_path: Path, cli: CliRunner) -> None:
    code, out, err = cli("--root", str(tmp_path))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "orchestration/assets/streams" in err and "`streams`" in err
    assert "Traceback" not in err


def test_unknown_config_key_exits_2_with_one_line(make_repo: Callable[..., Path], cli: CliRunner) -> None:
    root = make_repo({"lotus-check.toml": 'modles = ["x"]\n', f"{STREAMS}/.keep": ""})
    code, _, err = cli("--root", str(root))
    assert code == 2
    assert err.strip() == (
        "lotus-check: error: lotus-check.toml: unknown config key 'modles' (did you mean 'models'?)"
    )


def test_bad_flag_is_a_usage_error(cli: CliRunner) -> None:
    try:
        cli("--output-format", "xml")
    except SystemExit as exc:
        assert exc.code == 2
    else:  # pragma: no cover
        raise AssertionError("argparse should exit 2")


def test_json_output_contract(make_repo: Callable[..., Path], cli: CliRunner) -> None:
    root = make_repo(BROKEN)
    code, out, _ = cli("--root", str(root), "--output-format", "json", "--select", "LL0")
    assert code == 1
    payload = json.loads(out)
    assert set(payload) == {"findings", "files_checked"}
    assert payload["files_checked"] == 2
    first = payload["findings"][0]
    assert set(first) == {"path", "line", "column", "code", "severity", "message", "hint"}
    assert [(f["path"], f["line"], f["column"], f["code"]) for f in payload["findings"]] == [
        (f"{STREAMS}/shopify/customers.json", 3, 1, "LL002"),
        (f"{STREAMS}/shopify/orders.json", 1, 21, "LL002"),
    ]
    assert first["severity"] == "error"


def test_paths_limit_findings_to_those_files(make_repo: Callable[..., Path], cli: CliRunner) -> None:
    root = make_repo(BROKEN)
    code, out, _ = cli(
        "--root", str(root), "--output-format", "json", "--select", "LL0",
        str(root / STREAMS / "shopify" / "orders.json"),
    )
    assert code == 1
    assert [f["path"] for f in json.loads(out)["findings"]] == [f"{STREAMS}/shopify/orders.json"]


def test_select_ignore_and_exit_codes(make_repo: Callable[..., Path], cli: CliRunner) -> None:
    root = make_repo(BROKEN)
    assert cli("--root", str(root), "--select", "LL0")[0] == 1
    assert cli("--root", str(root), "--select", "LL0", "--ignore", "LL002")[0] == 0
    assert cli("--root", str(root), "--select", "LL0", "--exit-zero")[0] == 0


def test_warnings_alone_exit_0(make_repo: Callable[..., Path], cli: CliRunner) -> None:
    root = make_repo({**BROKEN, "lotus-check.toml": 'severity = {LL002 = "warning"}\n'})
    code, out, _ = cli("--root", str(root), "--select", "LL0", "--output-format", "json")
    assert code == 0
    assert {f["severity"] for f in json.loads(out)["findings"]} == {"warning"}


def test_internal_error_is_one_line_without_traceback(
    make_repo: Callable[..., Path], cli: CliRunner, monkeypatch
) -> None:
    from lotus_checks.checks import hygiene

    def explode(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(hygiene, "check", explode)
    root = make_repo({f"{STREAMS}/.keep": ""})
    code, _, err = cli("--root", str(root), "--select", "LL6")
    assert code == 2
    assert err.strip() == "lotus-check: error: internal error in the hygiene checks: RuntimeError('boom')"


def test_noqa_in_yaml_suppresses_only_its_line(
    make_repo: Callable[..., Path], cli: CliRunner
) -> None:
    sources = "orchestration/assets/core/shopify/_shopify__sources.yml"
    plain = make_repo({f"{STREAMS}/.keep": "", sources: "a: b: c\n"})
    code, out, _ = cli("--root", str(plain), "--select", "LL0", "--output-format", "json")
    assert [(f["code"], f["line"], f["column"]) for f in json.loads(out)["findings"]] == [
        ("LL005", 1, 5)
    ]
    assert code == 1
    waived = make_repo({f"{STREAMS}/.keep": "", sources: "a: b: c  # noqa: LL005\n"})
    code, out, _ = cli("--root", str(waived), "--select", "LL0", "--output-format", "json")
    assert json.loads(out)["findings"] == []
    assert code == 0


def test_closed_pipe_is_quiet() -> None:
    """`lotus-check rules | head -1`: no traceback, no error line when the reader goes away."""
    with subprocess.Popen(
        [sys.executable, "-m", "lotus_checks", "rules"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=30)
    assert "Traceback" not in err and "Broken pipe" not in err


# ---- the command's exit (cli.console_main) ----------------------------------------------------

# What the `lotus-check` script runs (`python -m lotus_checks` returns from main instead).
COMMAND = [sys.executable, "-c", "from lotus_checks.cli import console_main; console_main()"]
# As a user's shell runs it: a report to a file or pipe stays buffered until the end.
BUFFERED = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}


def test_command_output_is_complete_through_a_pipe(make_repo: Callable[..., Path]) -> None:
    # What is still buffered when the run ends reaches the reader.
    root = make_repo(BROKEN)
    out = subprocess.run(
        [*COMMAND, "--root", str(root), "--output-format", "json", "--select", "LL0"],
        capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    assert [f["code"] for f in json.loads(out.stdout)["findings"]] == ["LL002", "LL002"]


def test_command_exit_runs_exit_handlers_and_waits_for_threads(tmp_path: Path) -> None:
    # Exit handlers (pools, temporary folders) run, and a thread still working is waited for.
    script = (
        "import atexit, sys, threading, time\n"
        "from pathlib import Path\n"
        f"folder = Path({str(tmp_path)!r})\n"
        "atexit.register(lambda: (folder / 'handler').write_text('ran'))\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        "    (folder / 'thread').write_text('done')\n"
        "if sys.argv[1] == 'thread':\n"
        "    threading.Thread(target=late).start()\n"
        "sys.argv = ['lotus-check', 'rules']\n"
        "from lotus_checks.cli import console_main\n"
        "console_main()\n"
    )
    for case in ("alone", "thread"):
        out = subprocess.run([sys.executable, "-c", script, case], capture_output=True,
                             text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert "LL001" in out.stdout
        assert (tmp_path / "handler").read_text() == "ran"
        (tmp_path / "handler").unlink()
    assert (tmp_path / "thread").read_text() == "done"


def test_command_output_that_cannot_be_written_is_exit_2(make_repo: Callable[..., Path]) -> None:
    # Written while running (the long rule list) or only at the final flush (one short line):
    # one line on stderr and exit 2 (1 with error findings), never a traceback, never a silent
    # exit 0, never Python's own complaint (and exit 120) about a flush failing at exit.
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    clean = make_repo({f"{STREAMS}/shopify/orders.json": json.dumps(stream_config("orders"))})
    broken = make_repo(BROKEN)
    for args, code in ((["rules"], 2), (["--root", str(clean), "--select", "LL0"], 2),
                       (["--root", str(broken), "--select", "LL0"], 1)):
        with open("/dev/full", "w") as full:
            out = subprocess.run([*COMMAND, *args], stdout=full, stderr=subprocess.PIPE,
                                 text=True, check=False, env=BUFFERED)
        assert out.returncode == code, (args, out.stderr)
        [line] = out.stderr.splitlines()
        assert line.startswith("lotus-check: error:") and "No space left" in line, line


def test_the_command_collects_garbage_less_often_and_main_leaves_it_alone() -> None:
    script = (
        "import atexit, gc, sys\n"
        "default = gc.get_threshold()\n"
        "from lotus_checks.cli import main, console_main\n"
        "main(['rules'])\n"
        "assert gc.get_threshold() == default, 'main changed the thresholds'\n"
        "atexit.register(lambda: sys.stderr.write(repr(gc.get_threshold())))\n"
        "sys.argv = ['lotus-check', 'rules']\n"
        "console_main()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "(50000, 20, 20)"
