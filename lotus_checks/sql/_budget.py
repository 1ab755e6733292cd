"""Work budgets for rendering: hostile templates end with a problem, never a hang.

Jinja's sandbox stops attribute access to Python internals but not work: `'x' * 10**10`,
`{% set x = x ~ x %}` in a loop, a macro that calls itself twice. These checks run before the
expensive operation (a string is never built to find out it is too large); the loop/call
counters and the deadline live in the render state (_dbt.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

# Budgets per rendering. Real models use a few hundred calls and loop iterations at most.
MAX_CALLS = 50_000
MAX_ITERATIONS = 50_000
MAX_SIZE = 2_000_000  # characters in the output, items in a list, characters in a string
MAX_INT_BITS = 100_000
MAX_FILTER_INPUT = 200_000  # characters a filter may work on (some, like striptags, are slow)
MAX_SECONDS = 2.0
# Memory a rendering may add to the process (resident set, sampled every MEMORY_SAMPLE_TICKS
# calls and loop iterations). Every single operation is bounded by the size checks below (a few
# MB at most), so between two samples the growth stays far below a gigabyte.
MAX_MEMORY = 512 * 2**20
MEMORY_SAMPLE_TICKS = 16
# Pool workers also get an address-space limit this far above what they use at start, for an
# allocation no check here foresaw (a MemoryError there is a problem of that one model). Only
# in workers: the main process runs other threads (the pool's) that must never see one.
WORKER_MEMORY_HEADROOM = 4 * 2**30
# CPU seconds for everything about one model (rendering both ways, parsing, resolving). Real
# models use a small fraction of it (bench/README.md); sqlglot on a pathological file (a long
# chain of `or`s, deeply nested parentheses) can run long enough to stall a commit.
MODEL_SECONDS = 5.0


class BudgetExceeded(Exception):
    """The template does too much work; reported as a problem."""


class RenderTimedOut(BudgetExceeded):
    """A rendering ran past its wall-clock limit: unlike the other limits this depends on the
    machine, so what comes of it is never cached or replayed."""


class RenderOverMemory(BudgetExceeded):
    """A rendering grew the process by more than MAX_MEMORY: like the wall-clock limit it
    depends on the machine (the allocator, the garbage collector), so it is never cached."""


class TimeLimitExceeded(BaseException):
    """The CPU budget of one file ran out.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` in the renderer or a
    parser on the way mistakes it for a problem of the input and carries on."""


@contextlib.contextmanager
def cpu_time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded in the block once it used `seconds` of CPU time.

    A virtual-time interval timer (SIGVTALRM) interrupts any pure-Python work, however it is
    nested, without a worker process. CPU time rather than wall time: a loaded machine does not
    make a model "too complex". Signals only reach the main thread, and Windows has no interval
    timers: elsewhere the block runs unbounded by time (max-file-size and the render budgets
    still hold)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    active = [True]
    previous_hook = sys.unraisablehook

    def drop_time_limit(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, TimeLimitExceeded):
            previous_hook(unraisable)

    def expire(signum: int, frame: Any) -> None:
        if active[0] and not _runs(drop_time_limit.__code__, frame):
            raise TimeLimitExceeded()

    # Repeating: an exception raised where Python swallows it (a gc callback, a __del__) would
    # otherwise spend the only shot and leave the work unbounded. Python hands a swallowed one to
    # sys.unraisablehook, which prints "Exception ignored in" with a traceback: the hook below
    # drops it (the next tick ends the work), and no tick raises inside the hook itself.
    previous = signal.signal(signal.SIGVTALRM, expire)
    sys.unraisablehook = drop_time_limit
    try:
        signal.setitimer(signal.ITIMER_VIRTUAL, seconds, _RETRY_SECONDS)
        yield
    finally:
        active[0] = False  # first: a tick from here on does nothing
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
        sys.unraisablehook = previous_hook


_RETRY_SECONDS = 0.05


def _runs(code: Any, frame: Any) -> bool:
    """Whether `code` is running in `frame` or any frame that called it."""
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def memory_in_use() -> int:
    """The process's resident memory in bytes (Linux: /proc/self/statm; elsewhere the peak so
    far, which only ever grows, so growth past it is still seen); 0 when unknown."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:
        return _peak_memory()
    try:
        fields = os.read(fd, 200).split()
    finally:
        os.close(fd)
    try:
        return int(fields[1]) * _PAGE_SIZE
    except (IndexError, ValueError):
        return _peak_memory()


def _peak_memory() -> int:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def cap_worker_memory() -> None:
    """Limit this process's address space to what it uses now plus WORKER_MEMORY_HEADROOM: the
    initializer of the facts pool's workers (single-threaded, forked for this work only).
    Linux only (the virtual size is read from /proc), and never raised above an existing limit."""
    try:
        import resource

        with open("/proc/self/statm", "rb") as f:
            virtual = int(f.read().split()[0]) * _PAGE_SIZE
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = virtual + WORKER_MEMORY_HEADROOM
        if soft == resource.RLIM_INFINITY or soft > wanted:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (ImportError, OSError, ValueError, IndexError):
        pass  # no limit where it cannot be set: the render budgets still hold


def str_size(value: Any, cap: int = MAX_SIZE) -> int:
    """An upper-bound-ish estimate of len(str(value)), walking at most `cap` nodes."""
    total = 0
    stack = [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


def check_size(*values: Any) -> None:
    if sum(str_size(value) for value in values) > MAX_SIZE:
        raise BudgetExceeded(f"a value larger than {MAX_SIZE} characters")


def bounded_str(value: Any) -> str:
    check_size(value)
    return str(value)


_FORMAT_WIDTH = re.compile(r"[0-9]{7,}")


def check_binop(operator: str, left: Any, right: Any) -> None:
    sized = (str, list, tuple, bytes)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, sized) and isinstance(times, int):
                if len(seq) * max(times, 0) > MAX_SIZE:
                    raise BudgetExceeded("a repeated string or list is too large")
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise BudgetExceeded("an integer is too large")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
            if right * max(left.bit_length(), 1) > MAX_INT_BITS:
                raise BudgetExceeded("an integer power is too large")
    elif operator == "+":
        if isinstance(left, sized) and isinstance(right, sized):
            if len(left) + len(right) > MAX_SIZE:
                raise BudgetExceeded("a concatenated string or list is too large")
    elif operator == "%" and isinstance(left, str):
        _check_format(left, right)


def _check_format(template: str, args: Any) -> None:
    if _FORMAT_WIDTH.search(template):
        raise BudgetExceeded("a format width is too large")
    values = args if isinstance(args, (tuple, list)) else [args]
    if any(isinstance(v, int) and abs(v) > MAX_SIZE for v in values if not isinstance(v, bool)):
        raise BudgetExceeded("a format width is too large")
    check_size(template, values)


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Size checks for str/list methods that can blow up: 'x'.ljust(10**9), l.extend(l)."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, (str, bytes)):
        if name in _WIDTH_METHODS:
            _check_width(args, kwargs, len(owner))
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if not isinstance(old, type(owner)) or not isinstance(new, type(owner)):
                return  # str.replace raises TypeError on its own
            count = owner.count(old) if old else len(owner) + 1
            if len(owner) + count * len(new) > MAX_SIZE:
                raise BudgetExceeded("str.replace() result is too large")
        elif name == "translate" and args:
            _check_translate(owner, args[0])
        elif name == "join" and args:
            check_size(owner, args[0])
            if isinstance(args[0], (list, tuple)) and len(owner) * len(args[0]) > MAX_SIZE:
                raise BudgetExceeded("str.join() result is too large")
    elif isinstance(owner, list) and name in ("extend", "append", "insert", "__iadd__"):
        growth = sum(len(a) if hasattr(a, "__len__") else 1 for a in args)  # range() too
        if len(owner) + growth > MAX_SIZE:
            raise BudgetExceeded("a list grows too large")
    elif isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if isinstance(length, int) and length > MAX_SIZE:
            raise BudgetExceeded("int.to_bytes() result is too large")
    wrapped_owner = getattr(getattr(obj, "__wrapped__", None), "__self__", None)
    if name in ("format", "format_map") and isinstance(wrapped_owner, str):
        _check_format(wrapped_owner, list(args) + list(kwargs.values()))


def _check_translate(owner: str | bytes, table: Any) -> None:
    """str.translate maps each character to a string of any length: 'x' * 10**6 with
    {120: 'y' * 1000} is a gigabyte."""
    if isinstance(table, dict):
        values: Any = table.values()
    elif isinstance(table, (list, tuple)):
        values = table
    else:
        return  # a str table (bytes.translate) maps to one character each
    longest = max((len(v) for v in values if isinstance(v, (str, bytes))), default=1)
    if len(owner) * max(longest, 1) > MAX_SIZE:
        raise BudgetExceeded("str.translate() result is too large")


def _check_width(args: tuple[Any, ...], kwargs: dict[str, Any], base: int) -> None:
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SIZE:
            raise BudgetExceeded("a width is too large")
        if isinstance(value, int) and not isinstance(value, bool) and value * base > MAX_SIZE:
            raise BudgetExceeded("a width is too large")


def guard_filter(
    function: Callable[..., Any], check: Callable[..., None] | None
) -> Callable[..., Any]:
    from jinja2.utils import _PassArg

    passes_context = _PassArg.from_obj(function) is not None

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        inputs = args[1:] if passes_context else args
        if inputs and str_size(inputs[0], MAX_FILTER_INPUT) > MAX_FILTER_INPUT:
            raise BudgetExceeded(f"a filter input larger than {MAX_FILTER_INPUT} characters")
        if check is not None:
            check(*args, **kwargs)
        return function(*args, **kwargs)

    return guarded


def _args_without_context(args: tuple[Any, ...]) -> tuple[Any, ...]:
    from jinja2.environment import Environment
    from jinja2.nodes import EvalContext
    from jinja2.runtime import Context

    context_types = (EvalContext, Environment, Context)
    return args[1:] if args and isinstance(args[0], context_types) else args


def _check_join_filter(*args: Any, **kwargs: Any) -> None:
    values = _args_without_context(args)
    if values:
        check_size(*values, *kwargs.values())
        if isinstance(values[0], (list, tuple)) and len(values) > 1:
            if len(str(values[1])) * len(values[0]) > MAX_SIZE:
                raise BudgetExceeded("join() result is too large")


def _check_width_filter(*args: Any, **kwargs: Any) -> None:
    value, *rest = _args_without_context(args) or ("",)
    args = tuple(rest)
    lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
    _check_width(args, kwargs, lines)
    check_size(value)


def _check_replace_filter(*args: Any, **kwargs: Any) -> None:
    values = _args_without_context(args)
    if len(values) >= 3:
        check_call(str(values[0]).replace, (values[1], values[2]), {})


def _check_format_filter(*args: Any, **kwargs: Any) -> None:
    value, *rest = _args_without_context(args) or ("",)
    _check_format(str(value), list(rest) + list(kwargs.values()))


def _check_value_filter(*args: Any, **kwargs: Any) -> None:
    check_size(*_args_without_context(args))


def _check_count_filter(name: str, keyword: str) -> Callable[..., None]:
    """batch(n, fill) pads its last group to n items, slice(n) makes n groups: both allocate
    what `n` says, whatever the input."""

    def check(*args: Any, **kwargs: Any) -> None:
        values = _args_without_context(args)
        count = values[1] if len(values) > 1 else kwargs.get(keyword)
        if isinstance(count, int) and not isinstance(count, bool) and count > MAX_ITERATIONS:
            raise BudgetExceeded(f"{name}() of more than {MAX_ITERATIONS} items")

    return check


def _check_tojson_filter(*args: Any, **kwargs: Any) -> None:
    """tojson(indent=n) writes n spaces per nesting level on every line."""
    values = _args_without_context(args)
    check_size(*values)
    indent = values[1] if len(values) > 1 else kwargs.get("indent")
    if indent is None or not values:
        return
    width = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    if width > MAX_SIZE or str_size(values[0]) * (1 + width * _depth(values[0])) > MAX_SIZE:
        raise BudgetExceeded("tojson() output with this indent is too large")


def _depth(value: Any, cap: int = 1000) -> int:
    """How deeply `value` nests (lists, tuples, dicts), counted up to `cap`."""
    deepest = 0
    stack = [(value, 1)]
    while stack and deepest < cap:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
        else:
            continue
        deepest = max(deepest, depth)
    return deepest


FILTER_GUARDS: dict[str, Callable[..., None]] = {
    "join": _check_join_filter,
    "center": _check_width_filter,
    "indent": _check_width_filter,
    "wordwrap": _check_width_filter,
    "truncate": _check_width_filter,
    "replace": _check_replace_filter,
    "format": _check_format_filter,
    "string": _check_value_filter,
    "tojson": _check_tojson_filter,
    "batch": _check_count_filter("batch", "linecount"),
    "slice": _check_count_filter("slice", "slices"),
    "pprint": _check_value_filter,
    "sum": _check_value_filter,
}
