"""Run one command so that it cannot write below given folders and leaves no process behind.

This file runs as a script of its own (`python -I -S contain.py`, its arguments as a JSON list on
stdin, or on the command line), between lotus-check and the
repo's catalog generator: it imports only the standard library, and it is a process of its own
so that it can change its namespaces, reap orphans and read the command's output while the
lotus-check process goes on with other work (it may fork its worker pool later).

On Linux, where the kernel allows an unprivileged user namespace (or we are root), the command
runs in new user, mount and PID namespaces, entered by a forked helper (a refused step leaves
this process as it was, and it falls back to the way below):

- each `--readonly` folder is bind-mounted onto itself read-only, with every mount below it (a
  write there fails with "Read-only file system"); a `--writable` folder below one stays writable;
- a fresh /proc shows only the command's own processes: `/proc/<parent>/cwd` or `/root` cannot
  lead back into lotus-check's view of the tree, where it is writable;
- the command runs as PID 2 under a small init (PID 1) that reaps orphans; when the command
  exits, the init exits and the kernel kills every process left in the namespace, including
  those that called `setsid()`;
- the capability bounding set is emptied before the command starts, so it cannot undo the mounts.

Elsewhere (namespaces refused, other POSIX systems) the command runs in its own process group,
with this process as its child subreaper on Linux: when it exits, its group and every descendant
left (found through /proc, where orphans are reparented to us) are killed.

The command's stdout and stderr go through a pipe; only the last `--tail` bytes are kept and
written to our stdout at the end, so a command printing gigabytes costs no memory or disk.

If lotus-check (`--parent`) dies, the kernel sends us SIGTERM, which ends the command and all it
started as at the time limit.

At the end, a JSON status goes to the `--status` file: `{"code": N}` (`waitstatus_to_exitcode`:
negative for a signal) or `{"code": null}` when the `--timeout` passed, plus `"readonly": true`
when the folders were read-only for the command, and `"why"` when they were not; then also
`"after"`, the `tree_state` of the `--watch` folders once the command and all it started are
gone.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

# Flags a remount inside a user namespace must keep (the kernel locks them): from mountinfo.
_LOCKED_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                 "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
                 "strictatime": MS_STRICTATIME}
CHUNK = 65536


class Refused(Exception):
    """The kernel (or the platform) does not allow this step."""


class Stopped(Exception):
    """lotus-check asked us to stop (SIGTERM): end as at the time limit."""


def _stop(*_: object) -> None:
    raise Stopped


def _libc() -> ctypes.CDLL:
    # The C library is already loaded into the interpreter; `find_library` would run `ldconfig`.
    return ctypes.CDLL(None, use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise Refused(f"{what}: {os.strerror(errno)}")


def _prctl(libc: ctypes.CDLL, option: int, value: int) -> None:
    _call(libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                     ctypes.c_ulong(0)), "prctl")


def _mount(libc: ctypes.CDLL, source: str | None, target: str, kind: str | None,
           flags: int) -> None:
    def encode(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _call(libc.mount(encode(source), encode(target), encode(kind), ctypes.c_ulong(flags), None),
          f"mount {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _unescape(field: str) -> str:
    r"""A mountinfo path: spaces and the like are written as octal escapes (`\040`)."""
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts_below(folder: str) -> list[tuple[str, int]]:
    """Mount points at or below `folder` in our mount namespace, with their locked flags."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            point = _unescape(fields[4])
            if point == folder or point.startswith(folder.rstrip("/") + "/"):
                flags = 0
                for option in fields[5].split(","):
                    flags |= _LOCKED_FLAGS.get(option, 0)
                out.append((point, flags))
    return out


def _enter_namespaces(libc: ctypes.CDLL) -> None:
    """New user (when we can), mount and PID namespaces; our uid and gid map to themselves."""
    uid, gid = os.getuid(), os.getgid()
    try:
        _call(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), "unshare")
    except Refused:
        if os.geteuid() != 0:
            raise
        # Root where user namespaces are off: mount and PID namespaces need no user namespace.
        _call(libc.unshare(CLONE_NEWNS | CLONE_NEWPID), "unshare")
        return
    try:
        _write("/proc/self/setgroups", "deny")
    except FileNotFoundError:
        pass
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _make_readonly(libc: ctypes.CDLL, readonly: list[str], writable: list[str]) -> None:
    # Nothing we mount may reach the parent's namespace.
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    for folder in readonly:
        _mount(libc, folder, folder, None, MS_BIND | MS_REC)
        for point, locked in _mounts_below(folder):
            _mount(libc, None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | locked)
    for folder in writable:
        if any(folder == r or folder.startswith(r.rstrip("/") + "/") for r in readonly):
            _mount(libc, folder, folder, None, MS_BIND | MS_REC)
            for point, locked in _mounts_below(folder):
                _mount(libc, None, point, None, MS_BIND | MS_REMOUNT | locked)


def _drop_privileges(libc: ctypes.CDLL) -> None:
    """Before the command starts: no capability survives exec (it cannot remount), and nothing
    it runs can gain one."""
    for capability in range(64):
        try:
            _prctl(libc, PR_CAPBSET_DROP, capability)
        except Refused:
            break  # past the last capability this kernel knows
    try:
        _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
    except Refused:
        pass


def _exec(command: list[str], out_write: int) -> None:
    """In a forked child: the command, with its output into the pipe. Never returns."""
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_write, 1)
        os.dup2(out_write, 2)
        os.execv(command[0], command)
    except OSError as exc:
        os.write(2, f"could not start {command[0]}: {exc.strerror}\n".encode())
    finally:
        # After a fork: leave without returning into the supervisor's code or running its
        # exit handlers (sys.exit would do both).
        os._exit(127)


class Tail:
    """The last `size` bytes of a stream, whatever its length."""

    def __init__(self, size: int):
        self.size = size
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.size:
            del self.data[: len(self.data) - self.size]

    def value(self) -> bytes:
        return bytes(self.data[-self.size:])


def _pump(fd: int, tail: Tail, wait: float) -> bool:
    """Read what is there within `wait` seconds; False at end of file."""
    ready, _, _ = select.select([fd], [], [], max(0.0, wait))
    if not ready:
        return True
    chunk = os.read(fd, CHUNK)
    if not chunk:
        return False
    tail.add(chunk)
    return True


def _drain(fd: int, tail: Tail, seconds: float) -> None:
    """Read to the end of the output (every writer is gone), within `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and _pump(fd, tail, end - time.monotonic()):
        pass


# ---- with namespaces -------------------------------------------------------------------------


def _run_init(libc: ctypes.CDLL, command: list[str], out_write: int, report: int) -> None:
    """PID 1 of the new namespace: mount its /proc, start the command as PID 2, reap every
    orphan, and exit when the command does (taking every other process of the namespace with
    it). Writes the command's exit code to `report`. Never returns."""
    code = 127
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
        try:
            _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except Refused:  # a /proc with parts hidden (containers): hide all of it instead
            try:
                _mount(libc, "none", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except Refused:
                pass
        child = os.fork()
        if child == 0:
            _drop_privileges(libc)
            _exec(command, out_write)
        os.close(out_write)
        while True:
            pid, status = os.wait()
            if pid == child:
                code = os.waitstatus_to_exitcode(status)
                break
        os.write(report, f"{code}\n".encode())
    finally:
        # After a fork: leave without returning into the supervisor's code or running its
        # exit handlers (sys.exit would do both).
        os._exit(0)


def _run_helper(libc: ctypes.CDLL, command: list[str], readonly: list[str],
                writable: list[str], setup: int, out_write: int, report: int) -> None:
    """In a forked child: enter the namespaces, make the folders read-only, start the init (PID 1
    of the new PID namespace) and wait for it. Writes a JSON status to `setup` once the init runs,
    or `{"refused": why}` when the kernel refuses the namespaces (the supervisor, untouched,
    then runs the command itself). SIGTERM kills the init, and with it the namespace. Never
    returns."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
        try:
            _enter_namespaces(libc)
        except (Refused, OSError) as exc:
            os.write(setup, json.dumps({"refused": str(exc)}).encode())
            return
        status: dict[str, object] = {"readonly": False}
        try:
            _make_readonly(libc, readonly, writable)
            status["readonly"] = True
        except (Refused, OSError) as exc:
            status["why"] = str(exc)
        init = os.fork()
        if init == 0:
            os.close(setup)
            _run_init(libc, command, out_write, report)
        os.close(out_write)
        os.close(report)
        os.write(setup, json.dumps(status).encode())
        os.close(setup)
        signal.signal(signal.SIGTERM, lambda *_: os.kill(init, signal.SIGKILL))
        os.waitpid(init, 0)  # returns once the kernel has killed the whole namespace
    finally:
        # A forked child must not return into (or run the exit handlers of) the supervisor's
        # code: os._exit, not sys.exit.
        os._exit(0)


def _read_to_end(fd: int, deadline: float) -> bytes:
    data = bytearray()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            continue
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _end_helper(helper: int, seconds: float = 5.0) -> None:
    """Ask the helper to kill the namespace and wait for it; kill it if it does not end soon
    (its init then dies with it: PDEATHSIG)."""
    try:
        os.kill(helper, signal.SIGTERM)
    except OSError:
        pass
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if os.waitpid(helper, os.WNOHANG)[0] == helper:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)
    try:
        os.kill(helper, signal.SIGKILL)
        os.waitpid(helper, 0)
    except OSError:
        pass


def _run_in_namespaces(libc: ctypes.CDLL, command: list[str], readonly: list[str],
                       writable: list[str], deadline: float, tail: Tail) -> dict[str, object]:
    """Raises Refused, with nothing started and this process as it was, when the kernel refuses
    the namespaces."""
    setup_read, setup_write = os.pipe()
    out_read, out_write = os.pipe()
    report_read, report_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        os.close(setup_read)
        os.close(out_read)
        os.close(report_read)
        _run_helper(libc, command, readonly, writable, setup_write, out_write, report_write)
    os.close(setup_write)
    os.close(out_write)
    os.close(report_write)
    code: int | None = None
    status: dict[str, object] = {"readonly": False}
    refused = ""
    try:
        setup = _read_to_end(setup_read, deadline)
        os.close(setup_read)
        try:
            told = json.loads(setup)
        except ValueError:
            told = {"refused": "the namespaces could not be set up"}
        if not isinstance(told, dict) or "refused" in told:
            why = told.get("refused") if isinstance(told, dict) else None
            refused = str(why) if why else "the namespaces could not be set up"
        else:
            status.update(told)
        reported = bytearray()
        open_fds = {out_read, report_read} if not refused else set()
        while open_fds and time.monotonic() < deadline:
            wait = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(list(open_fds), [], [], wait)
            for fd in ready:
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == out_read:
                    tail.add(chunk)
                else:
                    reported += chunk
            if report_read not in open_fds:
                break  # the init is done: the namespace is going away
        if reported.strip():
            code = int(reported.decode().strip())
    except Stopped:
        status["stopped"] = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup below must run to its end
    # The namespace ends with its init, and the helper waits for it: at the time limit, the
    # helper kills it. Either way, waiting for the helper waits until the kernel has killed
    # every process of the namespace.
    if code is None:
        _end_helper(helper)
    else:
        _wait_helper(helper)
    if refused:
        signal.signal(signal.SIGTERM, _stop)
        os.close(out_read)
        os.close(report_read)
        raise Refused(refused)
    _drain(out_read, tail, 1.0)
    os.close(report_read)
    status["code"] = code
    return status


def _wait_helper(helper: int) -> None:
    try:
        os.waitpid(helper, 0)
    except ChildProcessError:
        pass


# ---- without namespaces ----------------------------------------------------------------------


def _children() -> list[int]:
    """Our child processes (orphans of the command are reparented to us, its subreaper)."""
    me = os.getpid()
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{task}/children") as f:
                found.update(int(p) for p in f.read().split())
        return sorted(found)
    except OSError:
        pass
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.add(int(name))
    return sorted(found)


def _kill_descendants(group: int, seconds: float = 5.0) -> None:
    """Kill the command's group and every process reparented to us, until none is left."""
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for pid in _children():
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return
        time.sleep(0.01)


def _run_as_subreaper(libc: ctypes.CDLL | None, command: list[str], deadline: float,
                      tail: Tail, why: str) -> dict[str, object]:
    status: dict[str, object] = {"readonly": False, "why": why}
    if libc is not None:
        try:
            _prctl(libc, PR_SET_CHILD_SUBREAPER, 1)
        except Refused:
            pass
    out_read, out_write = os.pipe()
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(out_read)
        os.setpgid(0, 0)
        if libc is not None:
            try:
                _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
            except Refused:
                pass
        _exec(command, out_write)
    code: int | None = None
    reading = True
    try:
        os.close(out_write)
        try:
            os.setpgid(child, child)
        except OSError:
            pass  # it already did (or already ran exec)
        while time.monotonic() < deadline:
            pid, wait_status = os.waitpid(child, os.WNOHANG)
            if pid == child:
                code = os.waitstatus_to_exitcode(wait_status)
                break
            if reading:
                reading = _pump(out_read, tail, min(0.05, deadline - time.monotonic()))
            else:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
    except Stopped:
        status["stopped"] = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup below must run to its end
    _kill_descendants(child)
    _drain(out_read, tail, 1.0)
    status["code"] = code
    return status


# ---- the tree, before and after -------------------------------------------------------------

# Folders never compared (version control, build output, caches) and names editors and tools
# write beside a file while a user works (`.orders.json.swp`, `orders.json~`).
SKIPPED_NAMES = frozenset({".git", "target", "dbt_packages", "logs", "node_modules", "__pycache__"})


def tree_state(root: str, folders: list[list[object]], skip: list[str],
               max_size: int) -> dict[str, str]:
    """What each entry below `folders` (`[relative folder, recursive]`) of `root` holds: a
    file's content hash (size and modification time for one over `max_size`), a link's target,
    "folder". Links to folders inside the root are followed once; `skip` (real paths) are not
    entered; hidden and backup names are left out. lotus-check takes it before the command runs,
    this script after (both call this function), and compares the two."""
    import hashlib

    real_root = os.path.realpath(root)
    skipped = set(skip)
    out: dict[str, str] = {}
    seen: set[str] = set()

    def digest(path: str, info: os.stat_result) -> str:
        if info.st_size > max_size:
            return f"size {info.st_size} mtime {info.st_mtime_ns}"
        with open(path, "rb") as f:
            return hashlib.sha256(f.read(max_size + 1)).hexdigest()

    def visit(rel: str, recursive: bool) -> None:
        full = os.path.join(root, rel) if rel else root
        real = os.path.realpath(full)
        if real in seen or real in skipped or not (real == real_root
                                                    or real.startswith(real_root + os.sep)):
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(full), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            name = entry.name
            if name in SKIPPED_NAMES or name.startswith(".") or name.endswith("~"):
                continue
            child = f"{rel}/{name}" if rel else name
            try:
                if entry.is_symlink():
                    out[child] = "link " + os.readlink(entry.path)
                    if recursive and os.path.isdir(entry.path):
                        visit(child, True)
                elif entry.is_dir():
                    out[child] = "folder"
                    if recursive:
                        visit(child, True)
                elif entry.is_file():
                    out[child] = digest(entry.path, entry.stat())
                else:
                    out[child] = "special"
            except OSError:
                out[child] = "unreadable"

    for folder, recursive in folders:
        visit(str(folder).strip("/") if folder not in ("", ".") else "", bool(recursive))
    return out


# ---- entry -----------------------------------------------------------------------------------


class Arguments:
    """`--status FILE --timeout SECONDS [--tail BYTES] [--parent PID] [--watch JSON]
    [--namespaces] [--readonly DIR]... [--writable DIR]... -- COMMAND...`, parsed by hand:
    argparse and what it imports would be start-up time of every generator run."""

    def __init__(self, argv: list[str]):
        self.status = ""
        self.timeout = 0.0
        self.tail = 65536
        self.namespaces = False
        self.readonly: list[str] = []
        self.writable: list[str] = []
        self.parent = 0
        # Bare `dict` (of Any): typing is not imported here, to keep start-up short.
        self.watch: dict | None = None
        items = iter(argv)
        for item in items:
            if item == "--":
                break
            if item == "--namespaces":
                self.namespaces = True
                continue
            value = next(items, None)
            if value is None:
                raise SystemExit(f"contain.py: {item} needs a value")
            if item == "--status":
                self.status = value
            elif item == "--timeout":
                self.timeout = float(value)
            elif item == "--tail":
                self.tail = int(value)
            elif item == "--parent":
                self.parent = int(value)
            elif item == "--watch":
                self.watch = json.loads(value)
            elif item in ("--readonly", "--writable"):
                getattr(self, item[2:]).append(value)
            else:
                raise SystemExit(f"contain.py: unknown option {item}")
        self.command = list(items)
        if not self.status or not self.command:
            raise SystemExit("contain.py: --status and a command are required")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        # The arguments come as a JSON list on stdin when there are none on the command line:
        # a command line is readable by every process of the user (/proc/<pid>/cmdline), and
        # ours would name the folders the command must not find.
        argv = sys.argv[1:] or json.load(sys.stdin)
    args = Arguments(argv)
    command = args.command
    deadline = time.monotonic() + args.timeout
    tail = Tail(args.tail)
    # Opened now: once the folders are read-only for us too, its folder may be one of them.
    report = open(args.status, "w", encoding="utf-8")  # noqa: SIM115 - closed at the end
    signal.signal(signal.SIGTERM, _stop)
    libc = None
    if sys.platform.startswith("linux"):
        try:
            libc = _libc()
            # lotus-check killed (kill -9, a CI cancel): SIGTERM, which ends the command and all
            # it started as at the time limit (Stopped). Our own children get SIGKILL instead.
            _prctl(libc, PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, Refused):
            libc = None
    if args.parent and os.getppid() != args.parent:
        return 0  # lotus-check died before the prctl took effect: it wants nothing any more
    status: dict[str, object] | None = None
    why = "not Linux" if libc is None else "namespaces not asked for"
    if libc is not None and args.namespaces:
        try:
            status = _run_in_namespaces(libc, command, [os.path.realpath(p) for p in args.readonly],
                                        [os.path.realpath(p) for p in args.writable], deadline,
                                        tail)
        except (Refused, OSError) as exc:
            why = f"no namespaces here ({exc})"
    if status is None:
        status = _run_as_subreaper(libc, command, deadline, tail, why)
    if args.watch is not None and not status.get("readonly") and not status.get("stopped"):
        # Taken as soon as the command and everything it started are gone, so the window in
        # which another program's write could be blamed on it is the command's run only.
        watch = args.watch
        status["after"] = tree_state(str(watch["root"]), list(watch["folders"]),
                                     list(watch["skip"]), int(watch["max_size"]))
    if args.parent and os.getppid() != args.parent:
        # lotus-check died (kill -9, a cancelled CI job): nobody will read the status or the
        # copy, so the folders it made for us go too, rather than pile up in the temp folder.
        import shutil

        report.close()
        for folder in args.writable:
            shutil.rmtree(folder, ignore_errors=True)
        return 0
    sys.stdout.buffer.write(tail.value())
    sys.stdout.flush()
    with report:
        report.write(json.dumps(status))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
