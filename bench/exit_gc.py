#!/usr/bin/env python3
"""What the command's two garbage-collector settings (lotus_checks/cli.py) are worth.

    python bench/exit_gc.py --root /tmp/lake-m --rounds 3 -- --no-cache --jobs 1
    python bench/exit_gc.py --root /tmp/lake-m --rounds 3 --edit-one-model

Runs `lotus-check` in a fresh process per variant and round: the collector at Python's default
thresholds or raised (`tune_gc`), and at exit everything frozen (`gc.freeze`, as the command
does) or not. For each run: the CPU of the collections during `main`, the CPU until `main`
returns (children included), and the CPU after it (the interpreter's exit). `--jobs 1` keeps
the whole run in one process, so the figures are its own. `--edit-one-model` appends a comment
to one model before each run: a whole-repo run after one edit, as the hooks run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {  # name: (tune the collector, freeze at exit)
    "command": (True, True),
    "no tune_gc": (False, True),
    "no freeze": (True, False),
}


def child(tune: bool, freeze: bool, report: str, argv: list[str]) -> None:
    from lotus_checks import cli

    if tune:
        cli.tune_gc()
    spent = [0.0]
    began = [0.0]

    def timed(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.process_time()
        else:
            spent[0] += time.process_time() - began[0]

    gc.callbacks.append(timed)
    code = cli.main(argv)
    gc.callbacks.remove(timed)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    main_cpu = time.process_time() + children.ru_utime + children.ru_stime
    sys.stdout.flush()
    Path(report).write_text(json.dumps({"main": main_cpu, "gc": spent[0]}))
    if freeze:
        gc.freeze()
    raise SystemExit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edit-one-model", action="store_true")
    parser.add_argument("args", nargs="*", help="more lotus-check arguments (after --)")
    options = parser.parse_args()
    model = next(options.root.rglob("int_*.sql")) if options.edit_one_model else None
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        report = str(Path(folder) / "report.json")
        for round_ in range(options.rounds):
            for name, (tune, freeze) in VARIANTS.items():
                if model is not None:
                    with model.open("a") as f:
                        f.write(f"\n-- bench edit {round_} {name}\n")
                command = [sys.executable, __file__, "--child", str(int(tune)), str(int(freeze)),
                           report, "--root", str(options.root), *options.args]
                proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
                _, _, usage = os.wait4(proc.pid, 0)
                inside = json.loads(Path(report).read_text())
                total = usage.ru_utime + usage.ru_stime
                rows[name].append({"gc": inside["gc"], "main": inside["main"],
                                   "exit": total - inside["main"], "total": total})
    print(f"{'variant':12} {'gc in main':>10} {'main':>8} {'exit':>8} {'total':>8}  (CPU s, medians)")
    for name, runs in rows.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(f"{name:12} {med['gc']:10.3f} {med['main']:8.2f} {med['exit']:8.3f} "
              f"{med['total']:8.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4], sys.argv[5:])
    else:
        main()
