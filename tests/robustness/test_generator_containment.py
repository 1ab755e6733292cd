"""The repo's catalog generator is the user's own code; these are the guarantees lotus-check still
keeps against accidents in it (docs/reliability.md, "Threat model"):

- it cannot change the real tree: where Linux namespaces work, the tree is read-only for it (a
  write fails, LL204 says so); everywhere, the tree's input files are compared before and after
  the run and a change is LL210 naming the files (never "All checks passed");
- no process it starts outlives the run, `setsid()` children included, at exit and at the time
  limit;
- `max-file-size` bounds what is copied for it and what is read back; its output is capped;
- it gets a minimal environment, and no environment value shows in a finding;
- findings show the repo's paths, never the temporary copy's;
- `--fix` never replaces a link, FIFO or folder at a catalog's path, and a failure names the file
  and what was already rewritten; a catalog of 100,000 entries is a few findings, quickly.

Tests that can run both ways run with namespaces (skipped where the kernel refuses them) and
without (`generator.USE_NAMESPACES = False`: the fallback every other system gets).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lotus_checks.lake import generator as generator_module
from lotus_checks.lake.contain import tree_state
from tests.robustness.helpers import CATALOG
from tests.robustness.helpers import GENERATOR
from tests.robustness.helpers import SOURCES
from tests.robustness.helpers import STREAMS
from tests.robustness.helpers import assert_clean_end
from tests.robustness.helpers import assert_gone
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import build_lake
from tests.robustness.helpers import no_hang
from tests.robustness.helpers import original
from tests.robustness.helpers import run_cli
from tests.robustness.helpers import running
from tests.robustness.helpers import sleeper
from tests.robustness.helpers import snapshot

REFERENCE = "orchestration/airbyte/reference_generator.py"
RUN_REFERENCE = (
    "import pathlib, runpy\n"
    "runpy.run_path(str(pathlib.Path(__file__).with_name('reference_generator.py')), "
    "run_name='__main__')\n"
)
PWNED = f"{STREAMS}/pwned.json"


# Named, not detected: with the reference generator kept beside it (`with_prelude`), or a source
# folder moved elsewhere, layout detection would pick another generator or streams folder.
NAMED_GENERATOR = (f'generator = "{GENERATOR}"\n'
                   f'streams = "{os.path.dirname(STREAMS)}"\n'
                   f'sources = "{os.path.dirname(SOURCES)}"\n')


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = build_lake(tmp_path / "lake")
    config(root, "")
    return root


def namespaces_work() -> bool:
    """Whether contain.py gets the tree read-only on this machine."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        status = Path(folder) / "status.json"
        subprocess.run(
            [sys.executable, "-I", "-S", str(generator_module.CONTAIN_SCRIPT),
             "--status", str(status),
             "--timeout", "20", "--namespaces", "--readonly", folder, "--",
             sys.executable, "-c", "pass"],
            capture_output=True, timeout=30, check=False,
        )
        try:
            return bool(json.loads(status.read_text())["readonly"])
        except (OSError, ValueError, KeyError):
            return False


@pytest.fixture(params=["namespaces", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "namespaces":
        if not sys.platform.startswith("linux") or not namespaces_work():
            pytest.skip("the kernel does not allow user and mount namespaces here")
    else:
        monkeypatch.setattr(generator_module, "USE_NAMESPACES", False)
    return str(request.param)


def with_prelude(lake: Path, prelude: str) -> None:
    """The generator: `prelude`, then the reference generator (kept beside it) as it is."""
    (lake / REFERENCE).write_bytes(original(GENERATOR))
    (lake / GENERATOR).write_text(prelude + "\n" + RUN_REFERENCE)


def config(lake: Path, text: str) -> None:
    (lake / "lotus-check.toml").write_text(NAMED_GENERATOR + text)


def cli(lake: Path, *args: str) -> tuple[int, list[dict]]:
    outcome = run_cli("--root", str(lake), "--no-cache", "--output-format", "json", *args)
    assert_clean_end(outcome)
    return outcome.code, json.loads(outcome.out)["findings"]


def summary(findings: list[dict]) -> list[tuple[str, str]]:
    return [(f["code"], f["path"]) for f in findings]


# ---- 1. the real tree cannot be changed ----------------------------------------------------------


def escape_by_concatenation(lake: Path, catch: bool) -> str:
    """A generator that builds the repo's absolute path at run time (no string in it names the
    root, so the refusal cannot see it) and writes a file into the real streams folder."""
    parts = str(lake).split(os.sep)
    write = f"open(os.path.join(os.sep.join({parts!r}), {PWNED!r}), 'w').write('{{}}')"
    if catch:
        write = f"try:\n    {write}\nexcept OSError:\n    pass"
    return "import os\n" + write


def test_generator_writing_into_the_tree_is_read_only_or_reported(lake: Path, mode: str) -> None:
    with_prelude(lake, escape_by_concatenation(lake, catch=False))
    before = snapshot(lake)
    code, findings = cli(lake)
    assert code == 1
    if mode == "namespaces":
        assert summary(findings) == [("LL204", GENERATOR)]
        assert f"may have tried to write into the working tree ({PWNED})" \
            in findings[0]["message"]
        assert_unchanged(before, snapshot(lake))
    else:
        assert summary(findings) == [("LL210", GENERATOR)]
        assert PWNED in findings[0]["message"]
        assert "the catalogs were not compared" in findings[0]["message"]


def test_a_write_it_hides_from_us_is_still_caught(lake: Path, mode: str) -> None:
    """It catches its own error and goes on: with namespaces nothing was written (and the run
    is clean); without, the write happened and LL210 names it."""
    with_prelude(lake, escape_by_concatenation(lake, catch=True))
    before = snapshot(lake)
    code, findings = cli(lake)
    if mode == "namespaces":
        assert (code, findings) == (0, [])
        assert_unchanged(before, snapshot(lake))
    else:
        assert code == 1 and summary(findings) == [("LL210", GENERATOR)]
        assert PWNED in findings[0]["message"]


def during_the_run(action: object, started: Path) -> threading.Thread:
    """`action()` from another thread once the generator has written `started` (outside the
    tree): another program at work while the generator (waiting for it) runs. Then `acted`
    beside it lets the generator go on."""
    def wait_then_act() -> None:
        end = time.monotonic() + 30
        while not started.exists() and time.monotonic() < end:
            time.sleep(0.02)
        try:
            action()  # type: ignore[operator]
        finally:
            started.with_name("acted").touch()

    thread = threading.Thread(target=wait_then_act)
    thread.start()
    return thread


def slow_generator(started: Path) -> str:
    """Writes `started`, then waits until the other program has acted (`during_the_run`)."""
    acted = str(started.with_name("acted"))
    return (f"open({str(started)!r}, 'w').close()\nimport os, time\nend = time.monotonic() + 30\n"
            f"while not os.path.exists({acted!r}) and time.monotonic() < end:\n"
            "    time.sleep(0.02)\n")


def test_a_touch_during_the_run_is_not_a_change(lake: Path, outside: Path, mode: str) -> None:
    """Content is compared, not status: an editor or `touch` changing no byte is no finding."""
    started = outside / "started"
    with_prelude(lake, slow_generator(started))
    config_path = lake / STREAMS / "orders.json"
    thread = during_the_run(lambda: os.utime(config_path, (1, 1)), started)
    assert cli(lake) == (0, [])
    thread.join()
    assert os.stat(config_path).st_mtime == 1  # it did happen


def test_another_programs_edit_during_the_run(lake: Path, outside: Path, mode: str) -> None:
    """With namespaces the generator could not have written it: no finding. Without, the edit
    cannot be told from the generator's own: LL210, worded so."""
    started = outside / "started"
    with_prelude(lake, slow_generator(started))
    notes = lake / STREAMS / "notes.txt"
    thread = during_the_run(lambda: notes.write_text("edited while lotus-check ran\n"), started)
    code, findings = cli(lake)
    thread.join()
    if mode == "namespaces":
        assert (code, findings) == (0, [])
    else:
        assert summary(findings) == [("LL210", GENERATOR)]
        assert f"{STREAMS}/notes.txt" in findings[0]["message"]
        assert "(by it or another program)" in findings[0]["message"]


def test_a_change_while_the_generator_runs_is_seen(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor compares the tree before the run and when the generator is done."""
    monkeypatch.setattr(generator_module, "USE_NAMESPACES", False)
    layout = generator_module.Layout(lake, GENERATOR, os.path.dirname(STREAMS),
                                     os.path.dirname(SOURCES))
    assert generator_module.run_generator(layout, 30).changed == ()
    with_prelude(lake, escape_by_concatenation(lake, catch=True))
    assert generator_module.run_generator(layout, 30).changed == (PWNED,)


def test_the_comparison_skips_version_control_and_build_folders(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "index").write_text("a")
    (tmp_path / "target").mkdir()
    (tmp_path / "gen.py").write_text("pass\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.json").write_text("{}")
    top = tree_state(str(tmp_path), [[".", False]], [], 1000)
    assert sorted(top) == ["gen.py", "sub"]  # no "./" prefix, nothing below sub, no .git
    before = tree_state(str(tmp_path), [["sub", True]], [], 1000)
    os.utime(tmp_path / "sub" / "deep.json", (1, 1))
    (tmp_path / ".git" / "index").write_text("b")
    assert tree_state(str(tmp_path), [["sub", True]], [], 1000) == before
    (tmp_path / "sub" / "deep.json").write_text("{ }")  # the neighbour: a byte changed
    assert tree_state(str(tmp_path), [["sub", True]], [], 1000) != before


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_generator_finding_the_tree_through_proc_cwd(
    lake: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree found as the working folder of another process (lotus-check's own). The
    generator writes only into a working folder that is this test's lake (compared with the
    path built from its parts): never into another process's folder on this machine."""
    monkeypatch.chdir(lake)
    parts = str(lake).split(os.sep)
    with_prelude(lake, (
        "import os\n"
        f"lake = os.sep.join({parts!r})\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    try:\n"
        "        if os.readlink(f'/proc/{pid}/cwd') == lake:\n"
        f"            open(os.path.join(lake, {PWNED!r}), 'w').write('{{}}')\n"
        "    except OSError:\n"
        "        pass\n"
    ))
    before = snapshot(lake)
    code, findings = cli(lake)
    if mode == "namespaces":  # it sees no process outside its own namespace
        assert (code, findings) == (0, [])
        assert_unchanged(before, snapshot(lake))
    else:
        assert code == 1 and summary(findings) == [("LL210", GENERATOR)]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_its_parents_command_line_does_not_name_the_tree(lake: Path, mode: str) -> None:
    parts = str(lake).split(os.sep)
    with_prelude(lake, (
        "import os\n"
        f"lake = os.sep.join({parts!r}).encode()\n"
        "with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:\n"
        "    if lake in f.read():\n"
        "        raise SystemExit('found the tree in the command line of my parent')\n"
    ))
    assert cli(lake) == (0, [])


def test_generator_finding_the_tree_through_the_interpreter_inside_it(
    lake: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's quick start puts the virtualenv in the repo: `sys.executable` leads there."""
    python = lake / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(os.path.realpath(sys.executable))
    monkeypatch.setattr(sys, "executable", str(python))
    with_prelude(lake, (
        "import os, sys\n"
        "root = os.path.dirname(os.path.dirname(os.path.dirname(sys.executable)))\n"
        f"open(os.path.join(root, {PWNED!r}), 'w').write('{{}}')\n"
    ))
    before = snapshot(lake)
    code, findings = cli(lake)
    assert code == 1
    if mode == "namespaces":
        assert summary(findings) == [("LL204", GENERATOR)]
        assert_unchanged(before, snapshot(lake))
    else:
        assert summary(findings) == [("LL210", GENERATOR)]


def test_the_absolute_path_refusal_compares_paths_not_substrings(lake: Path) -> None:
    """Root `/x/lake`: a comment naming it, and the sibling `/x/lake2`, are not the tree."""
    sibling = str(lake) + "2"
    with_prelude(lake, f"# generated for {lake}\nSIBLING = {sibling!r}\n")
    assert cli(lake) == (0, [])
    with_prelude(lake, f"OUT = {str(lake / 'x')!r}\n")  # the neighbour: a path below the root
    code, findings = cli(lake)
    assert code == 1 and "contains this repo's absolute path" in findings[0]["message"]


def test_the_absolute_path_refusal_sees_f_strings() -> None:
    """Python 3.12 tokenizes f-strings apart (FSTRING_MIDDLE); before, one token (STRING)."""
    root = Path("/home/alice/lake")
    assert generator_module._refers_to_root(b'p = f"/home/alice/lake/{x}"\n', root)
    assert not generator_module._refers_to_root(b'p = f"/home/alice/lake2/{x}"\n', root)


# ---- 2. nothing it starts outlives the run -------------------------------------------------------


@pytest.mark.parametrize("setsid", [False, True], ids=["child", "setsid-child"])
def test_children_of_a_generator_that_exits_0_are_killed(
    lake: Path, outside: Path, mode: str, setsid: bool
) -> None:
    token = outside / "child"
    with_prelude(lake, sleeper(token, setsid))
    assert cli(lake) == (0, [])
    assert_gone(token)


def test_setsid_children_are_killed_at_the_time_limit(
    lake: Path, outside: Path, mode: str
) -> None:
    token = outside / "child"
    with_prelude(lake, sleeper(token, True) + "import time\ntime.sleep(30)\n")
    config(lake, "generator-timeout = 2\n")  # time for the child to start on a loaded machine
    _code, findings = cli(lake)
    assert summary(findings) == [("LL204", GENERATOR)]
    assert "did not finish within 2 s" in findings[0]["message"]
    assert_gone(token)


LOTUS_CHECK = (
    "import sys\n"
    "from lotus_checks.lake import generator\n"
    "generator.USE_NAMESPACES = sys.argv[1] == 'namespaces'\n"
    "from lotus_checks.cli import main\n"
    "raise SystemExit(main(sys.argv[2:]))\n"
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_killing_lotus_check_mid_run_leaves_nothing_running(
    lake: Path, outside: Path, mode: str, how: signal.Signals
) -> None:
    """`kill -9` (the supervisor gets SIGTERM from the kernel) or SIGTERM (a CI cancel,
    `timeout`: handled as Ctrl-C) while the generator runs: its children, `setsid()` ones too,
    are killed with it."""
    started = outside / "started"
    child, setsid_child = outside / "child", outside / "setsid-child"
    with_prelude(lake, (
        sleeper(child, False) + sleeper(setsid_child, True)  # both run once the generator goes on
        + f"open({str(started)!r}, 'w').close()\nimport time\ntime.sleep(30)\n"
    ))
    temp = outside / "temp"  # the run's temporary folder: the generator's copy is made there
    temp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", LOTUS_CHECK, mode, "--root", str(lake), "--no-cache"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        end = time.monotonic() + 30
        while not started.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert started.exists(), "the generator did not start"
        assert running(child) and running(setsid_child)
        process.send_signal(how)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if how == signal.SIGTERM:
        assert process.returncode == 130
        assert err.strip() == "lotus-check: interrupted; nothing was half-written"
    assert_gone(child, setsid_child)
    # Nor is the copy left behind: lotus-check removes it, or after kill -9 the supervisor.
    end = time.monotonic() + 10
    while any(temp.iterdir()) and time.monotonic() < end:
        time.sleep(0.05)
    assert list(temp.iterdir()) == []


# ---- 8. bounded inputs and outputs ---------------------------------------------------------------


def recorded_copy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The relative paths the generator's copy gets, filled in by the next run."""
    copied: list[str] = []
    real = generator_module._write_copy

    def recording(copy_root: Path, contents: dict[str, bytes]) -> None:
        copied.extend(contents)
        real(copy_root, contents)

    monkeypatch.setattr(generator_module, "_write_copy", recording)
    return copied


def test_what_is_copied_is_bounded_by_max_file_size(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = recorded_copy(monkeypatch)
    config(lake, "max-file-size = 200000\n")
    (lake / STREAMS / "notes.bin").write_bytes(b"\0" * 300_000)
    (lake / SOURCES / "README.md").write_text("how the schemas were discovered\n")
    (lake / "orchestration/airbyte/big_helper.py").write_text("#" * 300_000 + "\n")
    (lake / STREAMS / ".secret.env").write_text("TOKEN=x\n")
    _code, findings = cli(lake)
    assert [f for f in findings if f["code"].startswith("LL2")] == []
    assert GENERATOR in copied and f"{STREAMS}/orders.json" in copied
    assert f"{SOURCES}/orders.json" in copied and f"{SOURCES}/README.md" in copied
    for name in (f"{STREAMS}/notes.bin", CATALOG, "orchestration/airbyte/big_helper.py",
                 f"{STREAMS}/.secret.env"):
        assert name not in copied


def test_the_copy_stops_at_its_total_bound(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copied = recorded_copy(monkeypatch)
    monkeypatch.setattr(generator_module, "INPUT_TOTAL_LIMIT", 3)
    config(lake, "max-file-size = 200000\n")
    for n in range(5):  # 5 x 150 kB: only 4 fit in 3 x 200 kB
        (lake / SOURCES / f"extra{n}.txt").write_text("x" * 150_000)
    cli(lake)
    extras = [name for name in copied if "/extra" in name]
    assert 0 < len(extras) < 5


# The reference generator, reading one more input file first: what real generators do.
READS = (
    "import pathlib\n"
    "here = pathlib.Path(__file__).resolve().parent\n"
    "print(pathlib.Path(here, {rel!r}).read_text())\n"
)


@pytest.mark.parametrize("rel", [
    "naming.yaml",  # a YAML config beside the generator
    "templates/stream.txt",  # a template in a folder beside it
    "../assets/streams/_common.json",  # shared settings at the top of the streams folder
    "../assets/streams/shopify/_defaults.yaml",  # defaults of one source
    "../assets/sources/shopify/nested/notes.md",  # deeper below a source
])
def test_files_the_generator_reads_beside_it_or_under_streams_are_copied(
    lake: Path, rel: str
) -> None:
    target = (lake / "orchestration/airbyte" / rel).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("settings: 1\n")
    with_prelude(lake, READS.format(rel=rel))
    assert cli(lake) == (0, [])
    target.unlink()  # the neighbour: the file is really read (its absence fails the run)
    code, findings = cli(lake)
    assert code == 1 and summary(findings) == [("LL204", GENERATOR)]
    assert "FileNotFoundError" in findings[0]["message"]


def test_a_generator_at_the_root_gets_only_the_roots_own_files(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = recorded_copy(monkeypatch)
    (lake / "gen.py").write_text(RUN_REFERENCE.replace(
        "with_name('reference_generator.py')",
        "parent / 'orchestration/airbyte/reference_generator.py'"))
    (lake / REFERENCE).write_bytes(original(GENERATOR))
    (lake / "lotus-check.toml").write_text('generator = "gen.py"\n')
    cli(lake)
    assert "gen.py" in copied and "lotus-check.toml" in copied
    assert not any(name.startswith("orchestration/airbyte/") for name in copied)


def test_a_generator_over_max_file_size_is_not_read(lake: Path) -> None:
    config(lake, "max-file-size = 200000\n")
    (lake / GENERATOR).write_text(original(GENERATOR).decode() + "#" * 300_000 + "\n")
    _code, findings = cli(lake)
    assert summary(findings) == [("LL204", GENERATOR)]
    assert "cannot read the generator" in findings[0]["message"]
    assert "max-file-size" in findings[0]["message"]


def test_the_generators_output_is_capped(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = generator_module._tail

    def measuring(log: Path) -> str:
        sizes.append(log.stat().st_size)
        return real(log)

    monkeypatch.setattr(generator_module, "_tail", measuring)
    (lake / GENERATOR).write_text(
        "import sys\n"
        "for _ in range(400):\n"
        "    sys.stdout.write('x' * 100_000 + '\\n')\n"
        "print('the last line')\n"
        "raise SystemExit(3)\n"
    )
    _code, findings = cli(lake)
    assert summary(findings) == [("LL204", GENERATOR)]
    assert findings[0]["message"].endswith("exited with status 3: the last line")
    assert sizes and sizes[0] <= generator_module.OUTPUT_CAP_BYTES  # not 40 MB


def test_a_generated_catalog_over_max_file_size_is_ll008(lake: Path) -> None:
    config(lake, "max-file-size = 200000\n")
    (lake / GENERATOR).write_text(
        "import json, pathlib\n"
        "out = pathlib.Path(__file__).resolve().parents[1] / 'assets/streams/shopify/_catalog.json'\n"
        "out.write_text(json.dumps({'streams': [], 'pad': 'x' * 300_000}))\n"
    )
    code, findings = cli(lake)
    assert code == 1 and summary(findings) == [("LL008", CATALOG)]
    assert "over max-file-size" in findings[0]["message"]


# ---- 9. a huge catalog is a few findings ---------------------------------------------------------


def test_a_catalog_of_100000_entries_is_a_few_findings_quickly(lake: Path) -> None:
    catalog = json.loads((lake / CATALOG).read_text())
    catalog["streams"] += [{"stream": {"name": f"s{i}"}} for i in range(100_000)]
    (lake / CATALOG).write_text(json.dumps(catalog))
    started = time.process_time()
    code, findings = cli(lake, "--select", "LL2")
    spent = time.process_time() - started
    assert code == 1 and len(findings) == 1
    assert findings[0]["message"].startswith("100,000 streams (s0, s1, s2 and 99,997 more): "
                                             "in the catalog but the generator does not write it")
    assert spent < 10, spent  # was 17-19 s and 100,006 findings


# ---- 5, 12, 16, 17. --fix and odd things at the catalog's or generator's path --------------------


def drift(lake: Path, rel: str = CATALOG) -> None:
    catalog = json.loads((lake / rel).read_text())
    catalog["streams"][0]["config"]["selected"] = not catalog["streams"][0]["config"]["selected"]
    (lake / rel).write_text(json.dumps(catalog, indent=2) + "\n")


def test_fix_does_not_replace_a_linked_catalog(lake: Path) -> None:
    target = lake / "orchestration" / "shopify-catalog.json"
    (lake / CATALOG).rename(target)
    (lake / CATALOG).symlink_to(target)
    drift(lake, "orchestration/shopify-catalog.json")
    drifted = target.read_bytes()
    outcome = run_cli("--root", str(lake), "--no-cache", "--fix", "--output-format", "json")
    assert_clean_end(outcome)
    assert (lake / CATALOG).is_symlink() and target.read_bytes() == drifted
    findings = json.loads(outcome.out)["findings"]
    assert summary(findings) == [("LL201", CATALOG)]
    assert "does not write through links" in findings[0]["hint"]


@pytest.mark.parametrize("kind", ["fifo", "folder", "dangling link"])
def test_fix_leaves_a_catalog_that_is_not_a_file_alone_and_reports_it(
    lake: Path, kind: str
) -> None:
    (lake / CATALOG).unlink()
    if kind == "fifo":
        os.mkfifo(lake / CATALOG)
    elif kind == "folder":
        (lake / CATALOG).mkdir()
    else:
        (lake / CATALOG).symlink_to("nowhere.json")
    before = snapshot(lake)
    for args in ((), ("--fix",)):
        with no_hang(30):
            code, findings = cli(lake, *args)
        catalog_family = [f for f in findings if f["code"][:3] in ("LL0", "LL2")]
        assert code == 1 and summary(catalog_family) == [("LL001", CATALOG)], findings
        assert_unchanged(before, snapshot(lake))


def test_a_fix_that_fails_halfway_names_the_file_and_what_was_rewritten(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = STREAMS.replace("shopify", "shop2")
    for folder in (STREAMS, SOURCES):
        other = lake / folder.replace("shopify", "shop2")
        other.mkdir()
        for path in (lake / folder).glob("*.json"):
            (other / path.name).write_bytes(path.read_bytes())
    drift(lake)
    drift(lake, f"{second}/_catalog.json")
    from lotus_checks.core import fsutil

    real = fsutil.atomic_write
    calls: list[Path] = []

    def full_after_one(path: Path, data: bytes, **kwargs: object) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(fsutil, "atomic_write", full_after_one)
    outcome = run_cli("--root", str(lake), "--no-cache", "--fix")
    assert_clean_end(outcome, allow_usage_error=True)
    assert outcome.code == 2
    assert f"--fix could not write {STREAMS}/_catalog.json: No space left on device" in outcome.err
    assert f"already rewritten: {second}/_catalog.json" in outcome.err


@pytest.mark.parametrize("folder", [STREAMS, SOURCES])
def test_a_source_folder_linked_inside_the_root_is_checked_like_any_other(
    lake: Path, folder: str
) -> None:
    moved = lake / "orchestration" / "elsewhere" / Path(folder).parent.name
    moved.parent.mkdir()
    (lake / folder).rename(moved)
    (lake / folder).symlink_to(moved, target_is_directory=True)
    assert cli(lake) == (0, [])
    drift(lake)  # the catalog checks still run for it
    _code, findings = cli(lake)
    assert summary(findings) == [("LL201", CATALOG)]


@pytest.mark.parametrize(("kind", "said"), [
    ("folder", "is a folder, not a script"),
    ("fifo", "is not a regular file (a named pipe)"),
    ("dangling link", "is a link to nothing (gone.py)"),
])
def test_a_generator_that_is_not_a_file_says_what_it_is(lake: Path, kind: str, said: str) -> None:
    # Detected, not named: a `generator` key naming a non-file is a configuration error (exit 2).
    (lake / "lotus-check.toml").unlink()
    (lake / GENERATOR).unlink()
    if kind == "folder":
        (lake / GENERATOR).mkdir()
    elif kind == "fifo":
        os.mkfifo(lake / GENERATOR)
    else:
        (lake / GENERATOR).symlink_to("gone.py")
    with no_hang(30):
        _code, findings = cli(lake)
    assert summary(findings) == [("LL204", GENERATOR)]
    assert f"the catalog generator {GENERATOR} {said}" in findings[0]["message"]


# ---- 18. environment -----------------------------------------------------------------------------

SECRET = "tok-3f9a8b7c6d5e4f"


def test_the_generator_gets_a_minimal_environment(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.setenv("AIRBYTE_WORKSPACE", "ws-1")
    (lake / GENERATOR).write_text(
        "import os\n"
        "print('seen:', ' '.join(sorted(os.environ)))\n"
        "print('workspace:', os.environ.get('AIRBYTE_WORKSPACE'))\n"
        "raise SystemExit(1)\n"
    )
    code, findings = cli(lake)
    assert code == 1
    text = findings[0]["message"] + findings[0]["hint"]
    assert "DEPLOY_TOKEN" not in text and SECRET not in text
    assert "PATH" in text and "workspace: None" in text
    config(lake, 'generator-env = ["AIRBYTE_WORKSPACE"]\n')  # the neighbour: asked for by name
    _code, findings = cli(lake)
    assert "workspace: ws-1" in findings[0]["message"] + findings[0]["hint"]


def test_path_is_kept_when_it_lists_a_virtualenv_in_the_repo(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's quick start: `.venv` inside the repo, first in PATH. A generator running
    `python` (or dbt, terraform) finds it."""
    venv_bin = lake / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(os.path.realpath(sys.executable))
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    with_prelude(lake, (
        "import subprocess\n"
        "subprocess.run(['python', '-c', 'pass'], check=True)\n"
    ))
    assert cli(lake) == (0, [])


def test_a_variable_it_is_not_given_is_named_in_the_hint(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRBYTE_WORKSPACE_ID", "ws-1")
    with_prelude(lake, "import os\nos.environ['AIRBYTE_WORKSPACE_ID']\n")
    _code, findings = cli(lake)
    assert summary(findings) == [("LL204", GENERATOR)]
    assert "add it to `generator-env`" in findings[0]["hint"]
    assert "AIRBYTE_WORKSPACE_ID is set here" in findings[0]["hint"]
    # The neighbours: a variable set nowhere, and one already passed, get no such hint.
    monkeypatch.delenv("AIRBYTE_WORKSPACE_ID")
    _code, findings = cli(lake)
    assert "generator-env" not in findings[0]["hint"]
    monkeypatch.setenv("AIRBYTE_WORKSPACE_ID", "ws-1")
    config(lake, 'generator-env = ["AIRBYTE_WORKSPACE_ID"]\n')
    assert cli(lake) == (0, [])


def test_redaction_leaves_ordinary_output_alone(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only secrets are redacted, and only as whole tokens: a row count, a shop name and the word
    "runners" are the program's output, not environment values."""
    monkeypatch.setenv("HISTSIZE", "100000")
    monkeypatch.setenv("SHOP", "shopify-prod")
    monkeypatch.setenv("USER", "runner")
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    (lake / GENERATOR).write_text(
        "import sys\n"
        "sys.exit('expected 100000 rows from shopify-prod on runners; "
        f"{SECRET}x is not {SECRET}')\n"
    )
    _code, findings = cli(lake)
    text = findings[0]["message"]
    assert "expected 100000 rows from shopify-prod on runners" in text
    assert f"{SECRET}x is not [redacted $DEPLOY_TOKEN]" in text


def test_environment_values_in_its_output_are_redacted(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    config(lake, 'generator-env = ["DEPLOY_TOKEN"]\n')
    (lake / GENERATOR).write_text(
        "import os\n"
        "raise SystemExit('bad token ' + os.environ['DEPLOY_TOKEN'])\n"
    )
    for output_format in ("json", "github", "sarif", "text"):
        outcome = run_cli("--root", str(lake), "--no-cache", "--output-format", output_format)
        assert outcome.code == 1
        assert SECRET not in outcome.out
        assert "bad token [redacted $DEPLOY_TOKEN]" in outcome.out


def test_a_secret_cut_by_the_output_tail_is_not_shown_in_part(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the end of the output is kept: a value cut in two there is no longer recognisable,
    so the cut line is dropped, not shown."""
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    config(lake, 'generator-env = ["DEPLOY_TOKEN"]\n')
    kept = generator_module.OUTPUT_TAIL_BYTES
    (lake / GENERATOR).write_text(
        "import os, sys\n"
        "print('token', os.environ['DEPLOY_TOKEN'])\n"
        f"print('y' * {kept - 10})\n"  # the tail starts 8 characters before the token's end
        "raise SystemExit(1)\n"
    )
    outcome = run_cli("--root", str(lake), "--no-cache", "--output-format", "json")
    assert outcome.code == 1 and "yyyy" in outcome.out
    assert SECRET[-8:] not in outcome.out


def test_generator_env_must_be_a_list_of_names(lake: Path) -> None:
    config(lake, 'generator-env = "AIRBYTE_WORKSPACE"\n')
    outcome = run_cli("--root", str(lake), "--no-cache")
    assert_clean_end(outcome, allow_usage_error=True)
    assert outcome.code == 2 and "generator-env must be a list" in outcome.err


# ---- 15. the repo's paths, never the temporary copy's ---------------------------------------------


def test_a_failing_generator_shows_the_repos_paths(lake: Path) -> None:
    (lake / GENERATOR).write_text(
        "from pathlib import Path\n"
        "print('reading', Path(__file__).resolve().parents[1] / 'assets')\n"
        "raise KeyError('sync_mode')\n"
    )
    _code, findings = cli(lake)
    text = findings[0]["message"] + findings[0]["hint"]
    assert f'File "{GENERATOR}", line 3' in text
    assert "reading orchestration/assets" in text
    assert "lotus-check-generator-" not in text and "sandbox" not in text


def test_a_copy_that_cannot_be_written_names_no_temporary_path(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(copy_root: Path, contents: dict[str, bytes]) -> None:
        raise OSError(28, "No space left on device", str(copy_root / GENERATOR))

    monkeypatch.setattr(generator_module, "_write_copy", full_disk)
    _code, findings = cli(lake)
    assert summary(findings) == [("LL204", GENERATOR)]
    assert findings[0]["message"].endswith(
        "cannot copy the generator's inputs to a temporary folder: No space left on device")


# ---- namespaces refused ----------------------------------------------------------------------

REFUSING = (
    "import json, sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import contain\n"
    "what = sys.argv[2]\n"
    "if what == 'unshare':\n"
    "    def refuse(libc):\n"
    "        raise contain.Refused('unshare: Operation not permitted')\n"
    "    contain._enter_namespaces = refuse\n"
    "elif what == 'uid_map':\n"
    "    real = contain._write\n"
    "    def write(path, text):\n"
    "        if path.endswith('uid_map'):\n"
    "            raise PermissionError(1, 'Operation not permitted')\n"
    "        real(path, text)\n"
    "    contain._write = write\n"
    "else:\n"
    "    def mount(libc, source, target, kind, flags):\n"
    "        raise contain.Refused(f'mount {target}: Operation not permitted')\n"
    "    contain._mount = mount\n"
    "raise SystemExit(contain.main(json.loads(sys.argv[3])))\n"
)
PID_AND_UID = "import os; print(os.getpid(), os.getuid())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces")
@pytest.mark.parametrize("refused", ["unshare", "uid_map", "mount"])
def test_a_refused_namespace_step_falls_back_cleanly(tmp_path: Path, refused: str) -> None:
    """The unshare or the uid map refused (AppArmor on Ubuntu 24.04): the command runs without
    namespaces, as our own user, not as PID 1's child in a half-made namespace. A refused mount:
    it runs in the namespaces, the tree writable, and the status says why."""
    if refused == "mount" and not namespaces_work():
        pytest.skip("the kernel does not allow user and mount namespaces here")
    status = tmp_path / "status.json"
    arguments = ["--status", str(status), "--timeout", "20", "--namespaces",
                 "--readonly", str(tmp_path), "--", sys.executable, "-c", PID_AND_UID]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", REFUSING, str(generator_module.CONTAIN_SCRIPT.parent),
         refused, json.dumps(arguments)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    told = json.loads(status.read_text())
    assert told["code"] == 0 and told["readonly"] is False
    assert "Operation not permitted" in told["why"]
    pid, uid = (int(n) for n in done.stdout.split())
    assert uid == os.getuid()
    if refused == "mount":
        assert pid == 2  # in its own PID namespace, under the init
    else:
        assert pid > 2 and told["why"].startswith("no namespaces here (")


def test_debug_says_why_the_tree_was_not_read_only(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generator_module, "USE_NAMESPACES", False)
    said = "the working tree was not read-only for the generator: namespaces not asked for"
    outcome = run_cli("--root", str(lake), "--no-cache", "--debug")
    assert outcome.code == 0 and said in outcome.err
    outcome = run_cli("--root", str(lake), "--no-cache")  # the neighbour: without --debug
    assert outcome.code == 0 and outcome.err == ""


# ---- waiting for the generator -------------------------------------------------------------


def child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)


def test_waiting_returns_the_exit_status_or_times_out() -> None:
    ended = child("import sys; sys.exit(3)")
    assert generator_module.wait_for_exit(ended, 30) == 3
    assert generator_module.wait_for_exit(ended, 30) == 3  # reaped already: the same status
    # A limit longer than poll() can wait at once (about 24 days in milliseconds).
    assert generator_module.wait_for_exit(child("pass"), 1e12) == 0
    running_child = child("import time; time.sleep(60)")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            generator_module.wait_for_exit(running_child, 0.2)
        assert running_child.poll() is None
    finally:
        running_child.kill()
        running_child.wait()


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux's")
def test_waiting_is_woken_by_the_exit_not_by_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Popen.wait with a timeout sleeps up to 50 ms between looks: each run that starts the
    generator would wait that long on top of it."""
    if not pidfds_work():
        pytest.skip("this kernel or sandbox refuses pidfd_open")
    process = child("import time; time.sleep(0.3)")
    asked: list[float | None] = []
    wait = process.wait

    def recording_wait(timeout: float | None = None) -> int:
        asked.append(timeout)
        return wait(timeout=timeout)

    monkeypatch.setattr(process, "wait", recording_wait)
    assert generator_module.wait_for_exit(process, 30) == 0
    assert asked == [0]  # only to reap it, once the kernel said it exited


def pidfds_work() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True
