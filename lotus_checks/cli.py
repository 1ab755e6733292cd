"""The `lotus-check` command. Heavy imports happen after argument parsing, so --version and
--help stay fast."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Sequence
from typing import TextIO

from lotus_checks import __version__

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Iterable

    from lotus_checks.core.config import Config
    from lotus_checks.core.finding import RunResult

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C

# text: code frames for the first findings, one line each after that (output/report.py); full: frames
# for every finding; concise: one line per finding.
OUTPUT_FORMATS = ("text", "full", "concise", "json", "github", "sarif")
SUBCOMMANDS = ("rules", "explain", "init")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lotus-check",
        description="Static checks for a Lotus Lake repo: stream configs, catalogs, dbt models "
        "and the columns they read. Subcommands: `lotus-check rules` lists every rule, "
        "`lotus-check explain CODE` documents one, `lotus-check init` writes the detected "
        "layout to a config file.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="report findings for these files only (whole-repo context is still used); "
        "default: the whole repo",
    )
    parser.add_argument("--root", type=Path, help="repo root (default: the git top level, else .)")
    parser.add_argument("--config", type=Path, help="config file (default: <root>/lotus-check.toml "
                        "or [tool.lotus-check] in <root>/pyproject.toml)")
    parser.add_argument("--select", action="append", metavar="CODES",
                        help="comma-separated codes or prefixes to check (e.g. LL4,LL101)")
    parser.add_argument("--ignore", action="append", metavar="CODES",
                        help="comma-separated codes or prefixes to skip")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="text",
                        help="text: code frames for the first findings, then one line each; "
                        "full: frames for all; concise: one line each; json, github, sarif")
    parser.add_argument("--fix", action="store_true",
                        help="apply the safe fixes (catalogs, sources tables, stream tags, "
                        "model-paths; atomic writes); exits 1 if any file changed")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix, also the fixes to review before pushing (a new model "
                        "for a stream without one)")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --fix: print the unified diff of what --fix would write, "
                        "write nothing, exit 1 if anything would change")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--jobs", "-j", type=_positive_int, metavar="N",
                        help="processes for parsing many models at once (default and most: one "
                        "per CPU core; 1: all work in this process)")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even with error findings")
    parser.add_argument("--statistics", action="store_true",
                        help="the findings by rule (count, code, name, severity, fixable) "
                        "instead of one by one (on stderr after json, github, sarif)")
    # `--diff` is the option's first name, kept as an alias: a ruff user reads `--diff` as
    # "show the fix as a diff" (that is `--fix --dry-run` here).
    parser.add_argument("--changed-since", "--diff", dest="changed_since", metavar="REV",
                        help="report on what changed since the merge base of REV and HEAD "
                        "(commits, uncommitted and untracked files) and the files those changes "
                        "affect; context is still the whole repo (alias: --diff)")
    parser.add_argument("--baseline", type=Path, metavar="FILE",
                        help="do not report findings recorded in FILE (see --write-baseline)")
    parser.add_argument("--write-baseline", type=Path, metavar="FILE",
                        help="record every current finding in FILE and exit 0")
    parser.add_argument("--progress", action="store_true",
                        help="show progress on stderr even when it is not a terminal")
    parser.add_argument("--dbt", action="store_true",
                        help="also cross-check against dbt's own parse (needs the dbt extra: "
                        "dbt-core, dbt-duckdb)")
    parser.add_argument("--show-settings", action="store_true",
                        help="print every resolved setting and where it came from (detected, "
                        "config file and line, default), then exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--version", action="version", version=f"lotus-check {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_output()
    previous = _interrupt_on_sigterm()
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        # Every write is a temporary file renamed over the target (fsutil.atomic_write), which
        # an interrupt deletes: each file holds its old bytes or its new ones.
        print("lotus-check: interrupted; nothing was half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`lotus-check rules | head`): stop quietly, as a filter should.
        # Output still buffered would fail again at interpreter exit, so point stdout nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FINDINGS
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def _interrupt_on_sigterm() -> object:
    """SIGTERM (`timeout`, a cancelled CI job) ends the run as Ctrl-C does: the generator and
    what it started are stopped, temporary files removed. Only in this process: a forked worker
    still dies of it at once. Returns the handler to put back (None: not the main thread)."""
    me = os.getpid()

    def interrupt(signum: int, frame: object) -> None:
        if os.getpid() != me:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return None


def console_main() -> None:
    """The `lotus-check` command: `main` with the garbage collector tuned, then its exit code.
    Tests call `main`, which returns, and leaves the collector alone.

    Before the interpreter exits, every object still tracked is frozen (`gc.freeze`): its last
    collections at exit then skip them, instead of walking and freeing the run's syntax trees
    one by one when the process is about to end anyway (a noticeable part of a pre-commit run
    after one edit: bench/exit_gc.py). Exit handlers run as usual."""
    import gc

    tune_gc()
    code = _flushed(main())
    gc.freeze()
    raise SystemExit(code)


def tune_gc() -> None:
    """Collect garbage less often, in the command's own process (and the pool workers it forks),
    not in a program that calls `main`.

    A cold run allocates millions of short-lived objects (syntax trees) next to a large,
    long-lived repo model; at Python's default thresholds the collector's full passes walk the
    whole repo model again and again (bench/exit_gc.py)."""
    import gc

    gc.set_threshold(50_000, 20, 20)


def _flushed(code: int) -> int:
    """`code` once what is still buffered is written. When it cannot be (a full disk, a closed
    stream), one line on stderr says so, and a run without error findings exits EXIT_ERROR
    (its report did not get out); one with error findings still exits 1.
    A stream that failed is pointed at the null device, so the interpreter's own flush at exit
    has nothing left to fail on (it would print an ignored exception and exit 120)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            _discard(stream)  # the reader went away: as in main
        except (OSError, ValueError) as exc:
            _discard(stream)
            if stream is sys.stdout:
                print(f"lotus-check: error: the report was not written: {_one_line(exc)}",
                      file=sys.stderr)
            code = code or EXIT_ERROR
    return code


def _discard(stream: TextIO) -> None:
    """Send what `stream` still holds to the null device."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):
        return  # closed, or not a file: the interpreter skips or reports it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)
    try:
        stream.flush()
    except (OSError, ValueError):
        pass


def _tolerant_output() -> None:
    """A file name that is not UTF-8 (`\\xff.json`) reaches our strings as surrogates; a strict
    UTF-8 stdout would fail on them and turn a report into exit 2. Write the original bytes
    back on a UTF-8 stream, an escape on any other."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape" if encoding == "utf8" else "backslashreplace")


def _main(args_list: list[str]) -> int:
    if args_list and args_list[0] == "init":
        from lotus_checks.adoption.settings import init_main

        return init_main(args_list[1:])
    if args_list and args_list[0] in SUBCOMMANDS:
        from lotus_checks.output.explain import main as explain_main

        try:
            return explain_main(args_list)
        except BrokenPipeError:
            raise
        except OSError as exc:  # the list could not be written (a full disk): one line, exit 2
            print(f"lotus-check: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_ERROR
    args = build_parser().parse_args(args_list)
    _debug_messages(args.debug)
    try:
        _check_paths_exist(args.paths)
        return _check(args)
    except BrokenPipeError:
        raise
    except Exception as exc:
        if args.debug:
            raise
        print(f"lotus-check: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _debug_messages(on: bool) -> None:
    """--debug: lotus-check's own debug messages (why the generator's tree was not read-only)
    on stderr; off again for a later run in the same process (tests)."""
    if not on and "logging" not in sys.modules:
        return
    import logging

    class Stderr(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            print(f"lotus-check: debug: {record.getMessage()}", file=sys.stderr)

    logger = logging.getLogger("lotus_checks")
    if on and not any(type(h).__name__ == "Stderr" for h in logger.handlers):
        logger.addHandler(Stderr())
    logger.setLevel(logging.DEBUG if on else logging.WARNING)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _one_line(exc: BaseException) -> str:
    from lotus_checks.core.finding import printable

    text = str(exc) or type(exc).__name__
    return printable(" ".join(text.split()))  # a path or value in it may hold escape sequences


def _check(args: argparse.Namespace) -> int:
    from lotus_checks.checks import all_rules
    from lotus_checks.core.config import find_root
    from lotus_checks.core.config import load_config
    from lotus_checks.core.config import split_codes
    from lotus_checks.core.config import with_overrides
    from lotus_checks.output.report import REPORTERS
    from lotus_checks.output.report import report_statistics
    from lotus_checks.output.report import statistics_table

    _check_combinations(args)
    if args.dbt:
        from lotus_checks.lake.dbt_parse import require_dbt

        require_dbt()  # exit 2 with the install hint before any work
    root = args.root.resolve() if args.root else find_root(Path.cwd())
    config = load_config(root, args.config)
    select = [c for group in args.select or [] for c in split_codes(group)]
    ignore = [c for group in args.ignore or [] for c in split_codes(group)]
    for option, given, codes in (("--select", args.select, select),
                                 ("--ignore", args.ignore, ignore)):
        if given is not None and not codes:
            # `--select "$CODES"` with CODES empty would run every rule (or ignore none).
            raise UsageError(f"{option} needs at least one code (like LL401 or LL4)")
    config = with_overrides(config, select=select, ignore=ignore)
    _check_codes_match_rules(config, select, ignore, all_rules())
    if args.show_settings:
        from lotus_checks.adoption.settings import show_settings

        show_settings(config, sys.stdout, frozenset(
            key for key in ("select", "ignore") if getattr(args, key)))
        return EXIT_OK
    targets = _targets(root, args.paths) if args.paths else None
    if args.changed_since is not None:
        from lotus_checks.adoption.diffscope import diff_targets
        from lotus_checks.adoption.gitutil import changed_files

        changed = changed_files(root, args.changed_since)
        if not changed:
            print(f"lotus-check: --changed-since {args.changed_since}: no file changed, nothing "
                  "to check", file=sys.stderr)
        targets = diff_targets(config, changed)
    baseline = None
    if args.baseline:
        from lotus_checks.adoption.baseline import load_baseline

        args.baseline = _baseline_path(root, args.baseline)
        baseline = load_baseline(args.baseline)
    if args.dry_run:
        return _preview_fixes(args, config, targets)
    result = _run_with_progress(args, config, targets)
    if args.write_baseline:
        from lotus_checks.adoption.baseline import write_baseline

        write_baseline(args.write_baseline, result.findings, root)
        count = len(result.findings)
        print(f"lotus-check: recorded {count} finding{'s' if count != 1 else ''} in "
              f"{args.write_baseline}", file=sys.stderr)
        return EXIT_OK
    gone = 0
    if baseline is not None:
        result, unmatched = baseline.match(result, root)
        gone = _gone(unmatched, config, targets, args.dbt)
    human = args.output_format in ("text", "full", "concise")
    colour = human and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    # --statistics in a human format shows the findings by rule instead of one by one (ruff's
    # way); after a machine-readable report it goes to stderr, leaving stdout parseable.
    reporter = report_statistics if args.statistics and human else REPORTERS[args.output_format]
    reporter(result, sys.stdout, root, all_rules(), colour)
    if args.statistics and not human:
        print(statistics_table(result, all_rules()), end="", file=sys.stderr)
    if os.environ.get("PRE_COMMIT"):
        _warn_untracked(config)
    if gone:
        print(f"lotus-check: {gone} baselined finding{'s are' if gone != 1 else ' is'} gone; "
              f"rewrite with --write-baseline {args.baseline}", file=sys.stderr)
    if result.fixed:
        return EXIT_FINDINGS
    if result.errors and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


class UsageError(Exception):
    """Options that cannot go together (exit 2)."""


def _check_combinations(args: argparse.Namespace) -> None:
    if args.changed_since is not None and not args.changed_since.strip():
        raise UsageError("--changed-since needs a revision (for example origin/main)")
    if args.changed_since is not None and args.paths:
        raise UsageError("--changed-since chooses the files itself; drop the PATH arguments")
    if args.write_baseline and (args.paths or args.changed_since is not None):
        raise UsageError("--write-baseline records the whole repo; drop the PATH arguments and "
                         "--changed-since")
    if args.unsafe_fixes and not args.fix:
        raise UsageError("--unsafe-fixes goes with --fix")
    if args.write_baseline and args.fix:
        raise UsageError("--write-baseline and --fix do not go together; fix first")
    if args.dry_run and not args.fix:
        raise UsageError("--dry-run previews what --fix would write: add --fix")
    if args.dry_run and args.output_format not in ("text", "full", "concise"):
        raise UsageError("--fix --dry-run prints a diff; drop --output-format "
                         f"{args.output_format}")


def _baseline_path(root: Path, path: Path) -> Path:
    """--baseline FILE, relative to the current folder, else to the root: the hooks and CI name
    the repo's baseline from the root, and a person runs the same command in a subfolder."""
    if path.is_absolute() or os.path.lexists(path) or not os.path.lexists(root / path):
        return path
    return Path(os.path.relpath(root / path))


def _check_paths_exist(paths: list[str]) -> None:
    """A PATH that does not exist is a typo (or a misspelled subcommand), never a clean pass."""
    import difflib

    for raw in paths:
        if os.path.lexists(raw):
            continue
        close = difflib.get_close_matches(raw, SUBCOMMANDS, n=1, cutoff=0.6)
        if close and raw == paths[0]:
            raise UsageError(f"no file or folder {raw!r}; did you mean `lotus-check {close[0]}`?")
        raise UsageError(f"no file or folder {raw!r} (PATH arguments name files or folders "
                         "to report on)")


def _check_codes_match_rules(
    config: Config, select: list[str], ignore: list[str], rules: Iterable[str]
) -> None:
    """A code or prefix that matches no rule selects or ignores nothing: a typo (`LL9`) would
    otherwise pass silently. A retired code (rules.RETIRED) is a warning naming its successor,
    unless it was all a selection named (then nothing would run)."""
    from lotus_checks.core.rules import RETIRED

    where = [("--select", c) for c in select] + [("--ignore", c) for c in ignore]
    where += [(f"{config.source}: select", c) for c in config.select if c not in select]
    where += [(f"{config.source}: ignore", c) for c in config.ignore if c not in ignore]
    where += [(f"{config.source}: per-file-ignores {glob!r}", c)
              for glob, codes in config.per_file_ignores for c in codes]
    codes = list(rules)
    for option, code in where:
        if code == "ALL" or any(rule.startswith(code) for rule in codes):
            continue
        if code in RETIRED:
            print(f"lotus-check: warning: {option} {code}: {code} is retired, its check is "
                  f"{RETIRED[code]} now; replace or remove it", file=sys.stderr)
            continue
        raise UsageError(f"{option} {code} matches no rule (`lotus-check rules` lists them)")
    if not config.select:
        raise UsageError(f"{config.source}: select is empty, so no rule would run")
    if all(c in RETIRED for c in config.select):
        raise UsageError(f"select {', '.join(config.select)} names only retired codes, so no "
                         "rule would run; select their successors")


def _gone(
    unmatched: Counter[tuple[str, str, str]], config: Config, targets: frozenset[str] | None,
    use_dbt: bool,
) -> int:
    """Baseline entries this run could have matched and did not: the finding was fixed (or its
    line edited). Entries for files, rules or `--dbt` checks outside this run do not count."""
    from lotus_checks.checks import all_rules
    from lotus_checks.core.selection import Selection

    rules = all_rules()
    selection = Selection(config)
    return sum(
        count for (path, code, _), count in unmatched.items()
        if (targets is None or path in targets) and selection.enabled(code, path)
        and (use_dbt or code not in rules or not rules[code].requires_dbt)
    )


def _warn_untracked(config: Config) -> None:
    """pre-commit stashes unstaged edits but leaves untracked files in place, and the checks read
    the tree: a model that was never `git add`ed (or was `git rm --cached`) is checked, yet a
    clone of the commit lacks it. Say so in one line (it shows when the hook fails, or with
    `verbose: true`)."""
    from lotus_checks.adoption.gitutil import GitError
    from lotus_checks.adoption.gitutil import untracked_files

    folders = [config.streams, config.sources, *config.models, config.terraform,
               config.dbt_project, config.generator]
    try:
        names = untracked_files(config.root, folders)
    except GitError:
        return  # not a git work tree (or no git): nothing to compare with
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        print(f"lotus-check: warning: checked the working tree, where {len(names)} untracked "
              f"file{'s are' if len(names) != 1 else ' is'} not part of this commit: {shown} "
              "(git add, or move away, for a result that holds in a clone)", file=sys.stderr)


def _cpu_count() -> int:
    """The processors this process may run on (a container or `taskset` may allow fewer than
    the machine has)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return len(affinity(0)) or 1
    return os.cpu_count() or 1


def _preview_fixes(
    args: argparse.Namespace, config: Config, targets: frozenset[str] | None
) -> int:
    """--fix --dry-run: the unified diff of every file --fix would write; nothing is written."""
    from lotus_checks.engine import planned_fixes
    from lotus_checks.output.report import fix_diff

    planned = planned_fixes(config, targets, unsafe_fixes=args.unsafe_fixes,
                            use_cache=not args.no_cache, jobs=_jobs(args.jobs))
    for path in sorted(planned):
        sys.stdout.write(fix_diff(config.root, path, planned[path]))
    count = len(planned)
    if not count:
        # Only what --fix writes: a catalog the generator cannot make is a finding of a
        # normal run, not a fix.
        print("lotus-check: --fix would change nothing (--dry-run shows fixes, not findings)",
              file=sys.stderr)
        return EXIT_OK
    print(f"lotus-check: --fix would rewrite {count} file{'s' if count != 1 else ''} "
          "(--dry-run: nothing written)", file=sys.stderr)
    return EXIT_FINDINGS


def _jobs(requested: int | None) -> int | None:
    """--jobs, at most one process per processor: more only adds memory and switching."""
    return None if requested is None else min(requested, _cpu_count())


def _run_with_progress(
    args: argparse.Namespace, config: Config, targets: frozenset[str] | None
) -> RunResult:
    from lotus_checks.engine import run
    from lotus_checks.output.progress import Progress
    from lotus_checks.output.progress import wants_progress

    progress = Progress(sys.stderr) if wants_progress(sys.stderr, args.progress) else None
    try:
        return run(config, targets, fix=args.fix, unsafe_fixes=args.unsafe_fixes,
                   use_cache=not args.no_cache, use_dbt=args.dbt, progress=progress,
                   jobs=_jobs(args.jobs))
    finally:
        if progress is not None:
            progress.close()


def _targets(root: Path, paths: list[str]) -> frozenset[str]:
    """Command-line paths (relative to the current folder) as POSIX paths relative to the root.

    A folder stands for every file below it. A path outside the root is a usage error: nothing
    there can be checked, and dropping it would report a clean pass. Under pre-commit
    (`pass_filenames: true` with `--root SUBDIR` in a monorepo) it is skipped with a note: the
    staged files of other folders are not this root's business."""
    out: set[str] = set()
    outside: list[str] = []
    for raw in paths:
        path = Path(os.path.abspath(raw))
        try:
            rel = path.relative_to(root)
        except ValueError:
            if os.environ.get("PRE_COMMIT"):
                outside.append(raw)
                continue
            raise UsageError(f"{raw!r} is outside the root {root} (set --root, or drop the "
                             "PATH)") from None
        if os.path.isdir(path):
            for folder, _dirs, names in os.walk(path):
                base = Path(folder).relative_to(root)
                out.update((base / n).as_posix() for n in names)
        else:
            out.add(rel.as_posix())
    if outside:
        count = len(outside)
        print(f"lotus-check: note: {count} file{'s' if count != 1 else ''} outside the root "
              f"{root} not checked ({outside[0]!r}{', ...' if count > 1 else ''})",
              file=sys.stderr)
    return frozenset(out)


if __name__ == "__main__":
    raise SystemExit(main())
