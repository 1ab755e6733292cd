"""Every command and configuration example in README.md and docs/ works as written: lotus-check
commands run against a copy of the reference tree, TOML goes through the config loader, YAML
through pre-commit's own validation or the GitHub workflow schema, and action.yml through the
GitHub action schema (check-jsonschema's vendored schemas: no network)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from typing import Iterator

import pytest
import yaml

from lotus_checks.cli import SUBCOMMANDS
from lotus_checks.cli import build_parser
from lotus_checks.cli import main
from lotus_checks.core.config import load_config
from tests.builders import CORE
from tests.builders import REPO_ROOT
from tests.builders import copy_reference
from tests.builders import git
from tests.builders import git_init

# rules.md is generated from the rules' explanations; its blocks show files that fire a rule.
DOCS = [REPO_ROOT / "README.md", REPO_ROOT / "CHANGELOG.md"] + sorted(
    p for p in (REPO_ROOT / "docs").glob("*.md") if p.name != "rules.md")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
# Commands in the docs that are not lotus-check's to run: installers, editors, other tools.
OTHER_TOOLS = ("python3 -m venv", "pip", "git", "kubectl", "vim", "pre-commit")
PLACEHOLDER = re.compile(r"^<[^<>]+>$")


def _blocks(language: str) -> list[tuple[str, str]]:
    return [(f"{doc.relative_to(REPO_ROOT)}#{n}", m.group(2))
            for doc in DOCS
            for n, m in enumerate(FENCE.finditer(doc.read_text("utf-8")))
            if m.group(1) == language]


def _commands(script: str) -> Iterator[str]:
    """Each command of a bash block: comments dropped, `a && b` split."""
    for line in script.splitlines():
        code = line.split(" #", 1)[0].strip()
        if code.startswith("#") or not code:
            continue
        yield from (part.strip() for part in code.split("&&"))


def _lotus_argv(command: str) -> list[str] | None:
    argv = shlex.split(command)
    if argv and argv[0].endswith("lotus-check"):
        return argv[1:]
    return None


def _parses(argv: list[str]) -> None:
    """The command's own parser accepts these arguments (subcommands have their own)."""
    if argv and argv[0] in SUBCOMMANDS:
        return
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            if exc.code == 0:  # --help, --version
                return
            raise AssertionError(f"lotus-check {shlex.join(argv)}: {err.getvalue()}") from None


def test_the_docs_have_examples_to_check() -> None:
    assert len(_blocks("bash")) >= 8 and _blocks("toml") and len(_blocks("yaml")) >= 5


# ---- bash -------------------------------------------------------------------------------------


@pytest.fixture
def docs_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repo holding the reference tree on `main`, with `origin/main` fetched, as the
    current folder: where a reader of the docs types the commands."""
    root = git_init(copy_reference(tmp_path / "lake"))
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    monkeypatch.chdir(root)
    return root


def test_every_lotus_check_command_runs_as_written(
    docs_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the clean reference tree every documented command exits 0 (in document order: the
    baseline is written before it is used)."""
    ran = []
    for where, script in _blocks("bash"):
        for command in _commands(script):
            argv = _lotus_argv(command)
            if argv is None:
                assert command.startswith(OTHER_TOOLS + ("python", "cat", ".venv/bin/")), (
                    f"{where}: `{command}`: not a command this test knows how to check")
                continue
            if "--dbt" in argv:
                # Runs `dbt parse` (seconds): tests/dbt/test_crosscheck.py runs `--dbt` on this
                # clean tree, and the commands here run every other rule on it.
                _parses(argv)
                continue
            code = main(argv)
            out, err = capsys.readouterr()
            assert code == 0, f"{where}: `{command}` exited {code}:\n{out}{err}"
            ran.append(command)
    assert len(ran) >= 15


def _doc_quote(pattern: str) -> str:
    """The one `...` span of docs/integration.md that `pattern` matches."""
    text = " ".join((REPO_ROOT / "docs" / "integration.md").read_text("utf-8").split())
    found = re.findall(rf"`({pattern})`", text)
    assert len(found) == 1, (pattern, found)
    return found[0]


def _as_pattern(quote: str) -> str:
    """A quoted output line as a regex: numbers stand for any number, `...` for any text."""
    parts = re.split(r"(\d+|\.\.\.)", quote)
    return "".join(r"\d+" if p.isdigit() else ".+" if p == "..." else re.escape(p)
                   for p in parts)


def test_the_adoption_steps_print_what_the_docs_say(
    docs_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/integration.md's "Adopting on an existing repo", on a tree with a misspelled column
    and a hand-edited catalog: the commands of each step, and the lines the text quotes."""
    catalog = docs_tree / "orchestration/assets/streams/shopify/_catalog.json"
    model = docs_tree / CORE / "shopify/int_shopify__customers.sql"
    catalog.write_text(catalog.read_text("utf-8").replace(
        '"sync_mode": "incremental"', '"sync_mode": "full_refresh"', 1), "utf-8")
    model.write_text(model.read_text("utf-8").replace("    orders_count,\n",
                                                      "    order_count,\n", 1), "utf-8")
    # 1. The findings by rule (count, code, name, severity, fixable), exit 0 despite errors.
    assert main(shlex.split(_doc_quote("lotus-check --statistics --exit-zero"))[1:]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+1\s+LL201\s+catalog-drift\s+error\s+1 fixable$", out, re.MULTILINE), out
    assert re.search(r"^\s+1\s+LL401\s+unknown-column\s+error$", out, re.MULTILINE), out
    # 2. The unified diff of what --fix would write, nothing written, exit 1.
    before = catalog.read_bytes()
    assert main(shlex.split(_doc_quote("lotus-check --fix --dry-run"))[1:]) == 1
    out, err = capsys.readouterr()
    rel = catalog.relative_to(docs_tree).as_posix()
    assert out.startswith(f"--- a/{rel}\n+++ b/{rel}\n@@ ")
    assert '-        "sync_mode": "full_refresh",\n+        "sync_mode": "incremental",\n' in out
    assert catalog.read_bytes() == before
    # 4.-6. Recorded, hidden ("... N in the baseline"), then gone once fixed.
    assert main(["--write-baseline", ".lotus-check-baseline.json"]) == 0
    capsys.readouterr()
    assert main(["--baseline", ".lotus-check-baseline.json"]) == 0
    out = capsys.readouterr().out
    hidden = _doc_quote(r"\.\.\. \d+ in the baseline")
    assert re.search(_as_pattern(hidden), out), out
    model.write_text(model.read_text("utf-8").replace("    order_count,\n",
                                                      "    orders_count,\n", 1), "utf-8")
    assert main(["--baseline", ".lotus-check-baseline.json"]) == 0
    err = capsys.readouterr().err
    gone = _doc_quote(r"lotus-check: \d+ baselined findings are gone; rewrite with [^`]*")
    assert re.fullmatch(_as_pattern(gone) + "\n", err), err


def test_readme_sample_output_is_what_the_command_prints(
    docs_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first example: a misspelled and an unselected column in the orders model."""
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    sample = re.search(r"^```\n\$ lotus-check\n(.*?)^```", readme, re.S | re.M)
    assert sample is not None
    model = docs_tree / CORE / "shopify/int_shopify__orders.sql"
    text = model.read_text("utf-8")
    assert "    lower(email) as email,\n" in text
    model.write_text(text.replace("    lower(email) as email,\n",
                                  "    lower(emial) as email,\n    note,\n", 1), "utf-8")
    assert main(["--no-cache"]) == 1
    assert capsys.readouterr().out == sample.group(1)


def test_every_python_script_and_file_the_docs_name_exists(docs_tree: Path) -> None:
    for where, script in _blocks("bash"):
        for command in _commands(script):
            argv = shlex.split(command)
            if argv[0] in ("cat", "vim"):
                assert (docs_tree / argv[1]).is_file(), f"{where}: {command}"
            elif argv[0] in ("python", "python3") and argv[1].startswith("bench/"):
                # The benchmarks take minutes (bench/README.md; tests/test_bench.py runs the
                # quick one): the script named must be this repo's.
                assert (REPO_ROOT / argv[1]).is_file(), f"{where}: {command}"
            elif argv[0] in ("python", "python3") and argv[1].endswith(".py"):
                done = subprocess.run([sys.executable, *argv[1:]], capture_output=True,
                                      text=True, timeout=120)
                assert done.returncode == 0, f"{where}: {command}\n{done.stderr}"
                assert git(docs_tree, "status", "--porcelain") == "", where  # already current


def test_pip_extras_in_the_docs_exist() -> None:
    import tomllib

    extras = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))
                 ["project"]["optional-dependencies"])
    for where, script in _blocks("bash"):
        for named in re.findall(r"\.\[([a-z,]+)\]", script):
            assert set(named.split(",")) <= extras, where


# Inline commands the docs show as mistakes (what a typo gets): they must exit 2.
DOCUMENTED_MISTAKES = {"lotus-check rule"}


def test_every_inline_lotus_check_command_parses(
    docs_tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lotus-check ...` in running text too: a renamed or removed option fails here, a PATH
    must exist in the tree (or be a placeholder in capitals, `PATHS`), subcommands run (in the
    tree: `init` writes its config there), and the documented typos are still errors."""
    monkeypatch.chdir(docs_tree)
    seen = 0
    for doc in DOCS:
        for span in re.findall(r"`(lotus-check(?: [^`]*)?)`", doc.read_text("utf-8")):
            argv = _lotus_argv(span.replace("...", ""))
            if argv is None:
                continue
            seen += 1
            if argv and argv[0] in SUBCOMMANDS and any(a.isupper() for a in argv[1:]):
                continue  # a subcommand shown with a placeholder (`init --root DIR`)
            if span in DOCUMENTED_MISTAKES or (argv and argv[0] in SUBCOMMANDS):
                code = main(argv)
                err = capsys.readouterr().err
                assert code == (2 if span in DOCUMENTED_MISTAKES else 0), f"{doc.name}: {span}: {err}"
                if argv[0] == "init":  # each mention of `init` starts from a tree without config
                    (docs_tree / "lotus-check.toml").unlink()
                continue
            _parses(argv)
            if "--version" in argv or "--help" in argv:
                continue
            for path in build_parser().parse_args(argv).paths:
                assert path.isupper() or (docs_tree / path).exists(), f"{doc.name}: {span}"
    assert seen >= 10


# ---- TOML -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "text"), _blocks("toml"))
def test_toml_examples_configure_a_real_tree_of_that_layout(where: str, text: str,
                                                            tmp_path: Path) -> None:
    """Each example, as the whole configuration of the reference tree moved to the layout it
    describes (orchestration/dag/...): every folder and file it names exists there (a missing
    one is exit 2), and the run is clean."""
    import tomllib

    from tests.builders import copy_reference_dag

    data = tomllib.loads(text)
    (tmp_path / "lake").mkdir()
    root = git_init(copy_reference_dag(tmp_path / "lake"))
    name = "pyproject.toml" if "tool" in data else "lotus-check.toml"
    (root / name).write_text(text, "utf-8")
    assert load_config(root).source != "defaults", where
    assert main(["--root", str(root), "--no-cache", "--output-format", "concise"]) == 0, where


# ---- YAML -------------------------------------------------------------------------------------


def _hooks() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    return {hook["id"]: hook for hook in data}


def _check_hook_entries(where: str, hooks: list[dict[str, Any]]) -> None:
    known = _hooks()
    for hook in hooks:
        assert hook["id"] in known, f"{where}: no hook {hook['id']!r}"
        entry = shlex.split(known[hook["id"]]["entry"])[1:]
        _parses(entry + [str(arg) for arg in hook.get("args", [])])


def _check_workflow(where: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "workflow.yml"
    path.write_text(text, "utf-8")
    _schema("vendor.github-workflows", path, where)
    for job in yaml.safe_load(text)["jobs"].values():
        for step in job["steps"]:
            for command in _commands(step.get("run", "")):
                argv = _lotus_argv(command.split(" > ")[0])
                if argv is not None:
                    _parses(argv)
            if step.get("uses", "").endswith("lotus-checks@<commit SHA or tag>"):
                _parses(shlex.split(step.get("with", {}).get("args", "")))


def _schema(builtin: str, path: Path, where: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", builtin,
         str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{where}:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize(("where", "text"), _blocks("yaml"))
def test_yaml_examples_are_valid(where: str, text: str, tmp_path: Path) -> None:
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "repos" in data:  # a .pre-commit-config.yaml
        from pre_commit.clientlib import load_config as load_pre_commit_config

        path = tmp_path / ".pre-commit-config.yaml"
        path.write_text(text, "utf-8")
        load_pre_commit_config(str(path))
        for repo in data["repos"]:
            _check_rev(where, repo["rev"])
            _check_hook_entries(where, repo["hooks"])
    elif isinstance(data, list) and all("id" in item for item in data):  # hooks to add
        _check_hook_entries(where, data)
    elif isinstance(data, dict) and "jobs" in data:
        _check_workflow(where, text, tmp_path)
    else:
        raise AssertionError(f"{where}: a YAML example this test does not know how to check")


def _check_rev(where: str, rev: str) -> None:
    """A placeholder, or a tag that exists: never a pin to a release that was never made."""
    if PLACEHOLDER.match(rev):
        return
    tags = subprocess.run(["git", "tag", "--list"], cwd=REPO_ROOT, capture_output=True,
                          text=True).stdout.split()
    assert rev in tags, f"{where}: rev {rev!r} is not a tag of this repository"


def test_no_doc_pins_a_release_that_does_not_exist() -> None:
    tags = set(subprocess.run(["git", "tag", "--list"], cwd=REPO_ROOT, capture_output=True,
                              text=True).stdout.split())
    for doc in DOCS + [REPO_ROOT / ".pre-commit-hooks.yaml", REPO_ROOT / "action.yml"]:
        for rev in re.findall(r"(?:rev: |lotus-checks@)(v\d[\w.]*)", doc.read_text("utf-8")):
            assert rev in tags, f"{doc.name}: {rev}"


# ---- the GitHub Action and this repo's workflows -----------------------------------------------


def test_action_and_workflows_match_their_schemas(tmp_path: Path) -> None:
    _schema("vendor.github-actions", REPO_ROOT / "action.yml", "action.yml")
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    for path in workflows:
        _check_workflow(path.name, path.read_text("utf-8"), tmp_path)


def test_documented_workflow_restores_the_cache_and_uses_the_action() -> None:
    text = (REPO_ROOT / "docs" / "integration.md").read_text("utf-8")
    workflows = [yaml.safe_load(block) for _, block in _blocks("yaml") if "jobs:" in block]
    steps = [step for flow in workflows for job in flow["jobs"].values() for step in job["steps"]]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    # Restored before the run, saved after it even when it failed (actions/cache alone saves
    # only after a successful job: a pull request with findings would never warm its next run).
    restore = steps[uses.index("actions/cache/restore")]
    save = steps[uses.index("actions/cache/save")]
    assert uses.index("actions/cache/restore") < uses.index("<owner>/lotus-checks") \
        < uses.index("actions/cache/save")
    assert restore["with"]["path"] == save["with"]["path"] == ".lotus_check_cache"
    assert restore["with"]["key"] == save["with"]["key"]
    assert restore["with"]["restore-keys"] and save["if"] == "always()"
    assert "actions/cache" not in uses
    # A cache saved by pull requests only is scoped to each; main's runs save the shared one.
    flow = next(f for f in workflows if "<owner>/lotus-checks@" in yaml.safe_dump(f))
    assert flow[True]["push"] == {"branches": ["main"]} and "pull_request" in flow[True]
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text("utf-8"))
    for name in action["inputs"]:
        assert f"| `{name}` |" in text, name


def _action_step(name: str) -> dict[str, Any]:
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text("utf-8"))
    return next(s for s in action["runs"]["steps"] if s.get("name") == name)


def _run_action_step(root: Path, args: str) -> subprocess.CompletedProcess[str]:
    """The action's lotus-check step, its script run by bash as the runner does, with the
    inputs in the environment and this venv standing for the one its install step makes."""
    step = _action_step("lotus-check")
    assert step["shell"] == "bash"
    assert step["env"] == {"LOTUS_CHECK_VENV": VENV, "LOTUS_CHECK_ARGS": "${{ inputs.args }}"}
    env = {k: v for k, v in os.environ.items() if k not in ("PRE_COMMIT", "CI")}
    env["LOTUS_CHECK_VENV"] = sys.prefix
    env["LOTUS_CHECK_ARGS"] = args
    return subprocess.run(["bash", "-e", "-c", step["run"]], check=False, cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


VENV = "${{ runner.temp }}/lotus-check-venv"


def test_action_runs_lotus_check_with_github_annotations(tmp_path: Path) -> None:
    root = git_init(copy_reference(tmp_path / "lake"))
    done = _run_action_step(root, "--no-cache --select LL4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("All checks passed")
    model = root / CORE / "shopify/int_shopify__customers.sql"
    model.write_text(model.read_text("utf-8").replace("    orders_count,\n",
                                                      "    order_count,\n", 1), "utf-8")
    done = _run_action_step(root, "--no-cache --select LL4")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(
        f"::error file={CORE}/shopify/int_shopify__customers.sql,line=29,col=5,title=LL401::")


def test_action_args_are_split_like_shell_words_without_globbing(tmp_path: Path) -> None:
    """Quotes group a PATH with a space; a `*` reaches lotus-check as written (a glob expanded
    by the runner's shell would check other files, or none)."""
    root = git_init(copy_reference(tmp_path / "lake"))
    spaced = root / CORE / "shopify" / "a model.sql"
    spaced.write_text("select 1\n", "utf-8")
    done = _run_action_step(root, f"--no-cache --select LL4 '{CORE}/shopify/a model.sql'")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(1 file checked)" in done.stdout or "1 file" in done.stdout, done.stdout
    done = _run_action_step(root, f"--no-cache --select LL4 {CORE}/*")
    assert done.returncode == 2
    assert f"no file or folder '{CORE}/*'" in done.stderr
    done = _run_action_step(root, "--no-cache 'unbalanced")
    assert done.returncode == 1 and "lotus-check action: args: No closing quotation" in done.stderr


@pytest.mark.parametrize("args", ["--output-format sarif", "--output-format=json",
                                  "--output-f concise"])
def test_action_refuses_another_output_format(tmp_path: Path, args: str) -> None:
    done = _run_action_step(tmp_path, args)
    assert done.returncode == 1 and done.stdout == ""
    assert "lotus-check action: the output format is github" in done.stderr


STUB_PYTHON = """#!/bin/sh
# `python -m venv DIR` makes DIR/bin/python, which logs its arguments instead of running pip.
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\nprintf "%%s\\n" "$@" > "%s"\n' "$LOG" > "$3/bin/python"
  chmod +x "$3/bin/python"
fi
"""


def _run_install_step(tmp_path: Path, version: str = "", index_url: str = ""
                      ) -> tuple[subprocess.CompletedProcess[str], list[str] | None]:
    """The action's install step, with a stand-in Python: what pip would be asked to install."""
    step = _action_step("Install lotus-checks")
    assert step["env"]["LOTUS_CHECK_PYTHON"] == "${{ steps.python.outputs.python-path }}"
    stub = tmp_path / "python"
    stub.write_text(STUB_PYTHON, "utf-8")
    stub.chmod(0o755)
    log = tmp_path / "pip-args"
    env = dict(os.environ, LOG=str(log), LOTUS_CHECK_PYTHON=str(stub),
               LOTUS_CHECK_VENV=str(tmp_path / "venv"), LOTUS_CHECKS_VERSION=version,
               LOTUS_CHECKS_INDEX_URL=index_url, LOTUS_CHECKS_SOURCE="/actions/lotus-checks")
    done = subprocess.run(["bash", "-e", "-c", step["run"]], check=False, env=env,
                          capture_output=True, text=True, timeout=60)
    return done, log.read_text("utf-8").splitlines() if log.exists() else None


def test_action_installs_its_own_checkout_into_a_venv(tmp_path: Path) -> None:
    done, pip = _run_install_step(tmp_path)
    assert done.returncode == 0, done.stderr
    assert pip == ["-m", "pip", "install", "--disable-pip-version-check", "/actions/lotus-checks"]


def test_action_installs_a_version_only_from_the_given_index(tmp_path: Path) -> None:
    done, pip = _run_install_step(tmp_path, "0.2.0", "https://pypi.example.com/simple")
    assert done.returncode == 0, done.stderr
    assert pip == ["-m", "pip", "install", "--disable-pip-version-check", "--index-url",
                   "https://pypi.example.com/simple", "lotus-checks==0.2.0"]


def test_action_refuses_a_version_without_an_index(tmp_path: Path) -> None:
    """Nothing is published on a public index: a name there is anyone's (dependency confusion)."""
    done, pip = _run_install_step(tmp_path, "0.2.0")
    assert done.returncode == 2 and pip is None
    assert "version needs index-url" in done.stdout


def test_action_leaves_the_jobs_python_alone() -> None:
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text("utf-8"))
    setup = next(s for s in action["runs"]["steps"]
                 if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["update-environment"] is False
    assert setup["id"] == "python"


def test_action_inputs_reach_scripts_only_through_the_environment() -> None:
    """`${{ inputs.x }}` pasted into a script would run a quote in an input as shell code."""
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text("utf-8"))
    assert set(action["inputs"]) == {"args", "version", "index-url", "python-version"}
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
