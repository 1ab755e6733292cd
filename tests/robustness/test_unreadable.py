"""A folder of the layout that cannot be read (`chmod 000`) is LL001 on that folder, never an
internal error, and the rest of the repo is still checked.

Permissions mean nothing to root, which this suite usually runs as: each run here is a child
process under an unprivileged user (`nobody`, or the current user when it is not root). The lake
lives in a folder of its own under the system's temporary folder, which that user can reach.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.robustness.helpers import CORE
from tests.robustness.helpers import SOURCES
from tests.robustness.helpers import STREAMS
from tests.robustness.helpers import TERRAFORM
from tests.robustness.helpers import build_lake


def _unprivileged() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None  # already unprivileged: run as ourselves
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no `nobody` user to drop to")
    return nobody.pw_uid, nobody.pw_gid


@pytest.fixture
def lake() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="lotus-unreadable-"))
    try:
        root = build_lake(base / "lake")
        who = _unprivileged()
        for folder, dirs, names in os.walk(base):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + names)]:
                os.chmod(name, 0o755 if os.path.isdir(name) else 0o644)
                if who is not None:
                    os.chown(name, *who)  # the user's own tree: the cache can be written
        yield root
    finally:
        for folder, dirs, _names in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(folder, d), 0o755)
        shutil.rmtree(base, ignore_errors=True)


def run_unprivileged(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    who = _unprivileged()
    prefix: list[str] = []
    if who is not None:
        # setpriv (util-linux) rather than subprocess's user=: the interpreter may sit behind a
        # link into root's home, which only setpriv's way of switching lets us execute.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is not installed to drop to `nobody`")
        prefix = [setpriv, f"--reuid={who[0]}", f"--regid={who[1]}", "--clear-groups"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "lotus_checks", "--root", str(root), "--output-format",
         "json", "--ignore", "LL204", *args],  # LL204: the generator may not be runnable for it
        capture_output=True, text=True, timeout=120, cwd=root, stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(root)},
    )


def findings(done: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    return [(f["code"], f["path"]) for f in json.loads(done.stdout)["findings"]]


@pytest.mark.parametrize("folder", [CORE, STREAMS, SOURCES, TERRAFORM, "orchestration/assets/core"])
@pytest.mark.parametrize("cache", [False, True])
def test_unreadable_folder_is_ll001_on_the_folder(lake: Path, folder: str, cache: bool) -> None:
    (lake / folder).chmod(0)
    args = () if cache else ("--no-cache",)
    for _ in range(2 if cache else 1):  # cold, then warm (replayed) with a cache
        found = findings(run_unprivileged(lake, *args))
        assert ("LL001", folder) in found
        assert [f for f in found if f[0] == "LL001"] == [("LL001", folder)]


def test_unreadable_file_is_ll001_on_the_file(lake: Path) -> None:
    """The neighbour one level down: a file without read permission (was already LL001)."""
    (lake / STREAMS / "orders.json").chmod(0)
    found = findings(run_unprivileged(lake, "--no-cache"))
    assert ("LL001", f"{STREAMS}/orders.json") in found


def test_readable_tree_is_clean_for_the_unprivileged_user(lake: Path) -> None:
    """The neighbour: the same user on the same tree with nothing unreadable finds nothing."""
    assert findings(run_unprivileged(lake, "--no-cache")) == []


def test_streams_folder_out_of_reach_is_one_line(lake: Path) -> None:
    """The streams folder itself cannot be reached: nothing can be checked, exit 2 naming it."""
    (lake / "orchestration/assets").chmod(0)
    done = run_unprivileged(lake, "--no-cache")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'orchestration/assets/streams'" in lines[0], done.stderr
    assert "permission denied" in lines[0]
