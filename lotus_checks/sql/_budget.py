"""Work budgets for rendering: hostile templates end with a problem, never a hang.

Jinja's sandbox stops attribute access to Python internals but not work: `'x' * 10**10`,
`{% set x = x ~ x %}` in a loop, a macro that calls itself twice. These checks run before the
expensive operation (a string is never built to find out it is too large); the loop/call
counters and the deadline live in the render state (_dbt.py).
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import threading
from typing import Any
from typing import Callable
from typing import Iterator

# Budgets per rendering. Real models use a few hundred calls and loop iterations at most.
MAX_CALLS = 50_000
MAX_ITERATIONS = 50_000
MAX_SIZE = 2_000_000  # characters in the output, items in a list, characters in a string
MAX_INT_BITS = 100_000
MAX_FILTER_INPUT = 200_000  # characters a filter may work on (some, like striptags, are slow)
MAX_SECONDS = 2.0
# CPU seconds for everything about one model (rendering both ways, parsing, resolving). Real
# models take milliseconds; sqlglot on a pathological file (a 1 MB chain of `or`s, 20k nested
# parentheses) can take minutes, which would stall a commit.
MODEL_SECONDS = 5.0


class BudgetExceeded(Exception):
    """The template does too much work; reported as a problem."""


class RenderTimedOut(BudgetExceeded):
    """A rendering ran past its wall-clock limit: unlike the other limits this depends on the
    machine, so what comes of it is never cached or replayed."""


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

    def expire(signum: int, frame: object) -> None:
        if active[0]:
            raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGVTALRM, expire)
    # Repeating: an exception raised where Python swallows it (a gc callback, a __del__) would
    # otherwise spend the only shot and leave the work unbounded.
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds, _RETRY_SECONDS)
    try:
        yield
    finally:
        active[0] = False  # first: a tick from here on does nothing
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


_RETRY_SECONDS = 0.05


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
    if isinstance(owner, str):
        if name in _WIDTH_METHODS:
            _check_width(args, kwargs, len(owner))
        elif name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            count = owner.count(old) if old else len(owner) + 1
            if len(owner) + count * len(new) > MAX_SIZE:
                raise BudgetExceeded("str.replace() result is too large")
        elif name == "join" and args:
            check_size(owner, args[0])
            if isinstance(args[0], (list, tuple)) and len(owner) * len(args[0]) > MAX_SIZE:
                raise BudgetExceeded("str.join() result is too large")
    elif isinstance(owner, list) and name in ("extend", "append", "insert", "__iadd__"):
        growth = sum(len(a) if isinstance(a, (list, tuple, str)) else 1 for a in args)
        if len(owner) + growth > MAX_SIZE:
            raise BudgetExceeded("a list grows too large")
    wrapped = getattr(obj, "__wrapped__", None)
    if name in ("format", "format_map") and isinstance(getattr(wrapped, "__self__", None), str):
        _check_format(wrapped.__self__, list(args) + list(kwargs.values()))


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


FILTER_GUARDS: dict[str, Callable[..., None]] = {
    "join": _check_join_filter,
    "center": _check_width_filter,
    "indent": _check_width_filter,
    "wordwrap": _check_width_filter,
    "truncate": _check_width_filter,
    "replace": _check_replace_filter,
    "format": _check_format_filter,
    "string": _check_value_filter,
    "tojson": _check_value_filter,
    "pprint": _check_value_filter,
    "sum": _check_value_filter,
}
