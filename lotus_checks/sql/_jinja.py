"""The Jinja side of `render_model`: sandboxed environment, instrumentation, stand-in context.

How it works:
1. Lex the template and find the offset of every token (data chunks, `{{`, names).
2. Parse it and rewrite the AST: top-level literal text is wrapped in source-map markers,
   `{{ expr }}` output goes through `_lotus_out` (marker with the expression's position),
   `source`/`ref`/`var`/`this` go through `_lotus_at` (so the call knows its position), loops
   through `_lotus_iter` and `~` through `_lotus_concat` (both budgeted).
3. Render in a `SandboxedEnvironment` subclass that counts calls, checks sizes of string/list
   operations and a deadline, so hostile templates end with a problem instead of a hang.
4. Strip the markers (sourcemap.decode) and return the SQL, the config, relations, problems.

Literal text inside `{% macro %}`, `{% set %}...{% endset %}`, `{% call %}` and `{% filter %}`
bodies is left unmarked so string comparisons on it keep working; such text maps to the
`{{ ... }}` that outputs it.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
import re
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable
from typing import Iterable
from typing import Iterator

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateSyntaxError
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Macro
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from lotus_checks.sql import _interpret
from lotus_checks.sql import sourcemap
from lotus_checks.sql.render import RelationCall
from lotus_checks.sql.render import RenderedModel
from lotus_checks.sql.render import TemplateProblem

# Budgets per rendering. Real models use a few hundred calls and loop iterations at most.
MAX_CALLS = 50_000
MAX_ITERATIONS = 50_000
MAX_SIZE = 2_000_000  # characters in the output, items in a list, characters in a string
MAX_INT_BITS = 100_000
MAX_FILTER_INPUT = 200_000  # characters a filter may work on (some, like striptags, are slow)
MAX_SECONDS = 2.0
NEUTRAL_SQL = "NULL"  # what an unknown macro or undefined name renders as

_RELATION_FUNCTIONS = frozenset({"source", "ref", "var"})

# The state of the rendering in progress. Jinja creates `Undefined` objects without access to
# the render call, so they find the state here; a ContextVar keeps concurrent renders apart.
_CURRENT: contextvars.ContextVar[_RenderState | None] = contextvars.ContextVar(
    "lotus_render_state", default=None
)


class BudgetExceeded(Exception):
    """The template does too much work; reported as a problem."""


class _MacroReturn(Exception):
    """dbt's `{{ return(value) }}`: leaves the macro with a value."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


# --------------------------------------------------------------------------------------------
# Per-render state


@dataclass
class _RenderState:
    model_name: str
    incremental: bool
    project_vars: dict[str, Any]
    name_offsets: dict[str, list[int]]
    offset_to_line_col: Callable[[int], tuple[int, int]]
    deadline: float
    config: dict[str, Any] = field(default_factory=dict)
    relations: dict[str, RelationCall] = field(default_factory=dict)
    problems: dict[str, TemplateProblem] = field(default_factory=dict)
    calls: int = 0
    iterations: int = 0

    def tick(self, what: str) -> None:
        if what == "call":
            self.calls += 1
            if self.calls > MAX_CALLS:
                raise BudgetExceeded(f"more than {MAX_CALLS} calls (runaway recursion?)")
        else:
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise BudgetExceeded(f"more than {MAX_ITERATIONS} loop iterations")
        if (self.calls + self.iterations) % 256 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"rendering took longer than {MAX_SECONDS:g} s")

    def problem(self, message: str, offset: int | None = None, name: str | None = None) -> None:
        if message in self.problems:
            return
        if offset is None and name is not None:
            candidates = self.name_offsets.get(name)
            offset = candidates[0] if candidates else None
        line, column = self.offset_to_line_col(offset) if offset is not None else (None, None)
        self.problems[message] = TemplateProblem(message, line, column)

    def relation(self, kind: str, args: tuple[str, ...], offset: int | None) -> str:
        number = len(self.relations)
        if kind == "files":
            placeholder = f"__lotus_files_{number}__"
        else:
            placeholder = f"__lotus_rel_{number}"
        line, column = self.offset_to_line_col(offset) if offset is not None else (1, 1)
        self.relations[placeholder] = RelationCall(placeholder, kind, args, line, column)
        return placeholder


def _state() -> _RenderState | None:
    return _CURRENT.get()


# --------------------------------------------------------------------------------------------
# Undefined names and neutral values


# Attributes Jinja and its sandbox probe on any callable; never treat them as template names.
_PROTOCOL_ATTRIBUTES = frozenset({"jinja_pass_arg", "unsafe_callable", "alters_data"})


def _root(name: str) -> str:
    return name.split(".", 1)[0].split("[", 1)[0]


class LotusUndefined(Undefined):
    """Undefined that never crashes: each unknown name becomes one problem and renders NULL.

    Undefined values made by the sandbox for unsafe attributes (`''.__class__`) keep Jinja's
    strict behaviour: any use raises `SecurityError`, which ends the rendering with a problem.
    """

    __slots__ = ("_lotus_silent",)

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[Exception] = UndefinedError,
        silent: bool = False,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        self._lotus_silent = silent

    def _unsafe(self) -> bool:
        return issubclass(self._undefined_exception, SecurityError)

    def _dotted(self) -> str:
        name = self._undefined_name or "?"
        owner = self._undefined_obj
        if isinstance(owner, LotusUndefined):
            return f"{owner._dotted()}.{name}"
        if owner is missing:
            return name
        return f"{getattr(owner, 'lotus_name', type(owner).__name__)}.{name}"

    def _report_use(self) -> None:
        state = _state()
        if state is None or self._lotus_silent:
            return
        owner = self._undefined_obj
        if owner is missing or isinstance(owner, LotusUndefined):
            root = _root(self._dotted())
            state.problem(f"undefined name `{root}`", name=root)
        else:
            state.problem(
                f"unknown attribute `{self._dotted()}`", name=self._undefined_name or None
            )

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        if self._unsafe():
            return super()._fail_with_undefined_error(*args, **kwargs)
        self._report_use()
        return LotusUndefined(name=self._undefined_name, silent=True)

    # Every operator Jinja's Undefined fails on goes through _fail_with_undefined_error above.
    __add__ = __radd__ = __sub__ = __rsub__ = _fail_with_undefined_error
    __mul__ = __rmul__ = __div__ = __rdiv__ = _fail_with_undefined_error
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _fail_with_undefined_error
    __mod__ = __rmod__ = __pos__ = __neg__ = _fail_with_undefined_error
    __lt__ = __le__ = __gt__ = __ge__ = __int__ = _fail_with_undefined_error
    __float__ = __complex__ = __pow__ = __rpow__ = _fail_with_undefined_error

    def __getattr__(self, name: str) -> Any:
        if name in _PROTOCOL_ATTRIBUTES:
            raise AttributeError(name)
        if name[:2] == "__" or self._unsafe():
            return super().__getattr__(name)
        return LotusUndefined(obj=self, name=name, silent=self._lotus_silent)

    def __getitem__(self, key: Any) -> Any:
        if self._unsafe():
            return self._fail_with_undefined_error()
        return LotusUndefined(obj=self, name=str(key), silent=self._lotus_silent)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._unsafe():
            return self._fail_with_undefined_error()
        state = _state()
        if state is not None and not self._lotus_silent:
            dotted = self._dotted()
            state.problem(f"unknown macro `{dotted}`", name=_root(dotted))
        return LotusUndefined(name=self._undefined_name, silent=True)

    def __str__(self) -> str:
        if self._unsafe():
            return str(self._fail_with_undefined_error())
        self._report_use()
        return NEUTRAL_SQL

    def __iter__(self) -> Iterator[Any]:
        if self._unsafe():
            self._fail_with_undefined_error()
        self._report_use()
        return iter(())

    def __bool__(self) -> bool:
        if self._unsafe():
            self._fail_with_undefined_error()
        self._report_use()
        return False

    def __len__(self) -> int:
        if self._unsafe():
            self._fail_with_undefined_error()
        self._report_use()
        return 0

    def __hash__(self) -> int:
        return id(type(self))


class _Neutral:
    """A stand-in for dbt objects we do not model (run_query results, adapter.dispatch, ...):
    any attribute or call gives another neutral value, it iterates as empty and renders NULL."""

    def __init__(self, lotus_name: str = "value") -> None:
        self.lotus_name = lotus_name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in _PROTOCOL_ATTRIBUTES:
            raise AttributeError(name)
        return _Neutral(f"{self.lotus_name}.{name}")

    def __getitem__(self, key: Any) -> _Neutral:
        return _Neutral(self.lotus_name)

    def __call__(self, *args: Any, **kwargs: Any) -> _Neutral:
        return _Neutral(self.lotus_name)

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return NEUTRAL_SQL


# --------------------------------------------------------------------------------------------
# The stand-in dbt context


@dataclass(frozen=True)
class _Relation:
    """What ref()/source()/this return: renders as its placeholder identifier."""

    placeholder: str
    identifier: str
    schema: str = "main"
    database: str = "lotus"
    lotus_name: str = "relation"

    @property
    def name(self) -> str:
        return self.identifier

    @property
    def table(self) -> str:
        return self.identifier

    def render(self) -> str:
        return self.placeholder

    def include(self, *args: Any, **kwargs: Any) -> _Relation:
        return self

    def __str__(self) -> str:
        return self.placeholder


class _Config:
    lotus_name = "config"

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        for arg in args:
            if isinstance(arg, dict):
                self._values.update(arg)
        self._values.update(kwargs)
        return ""

    def get(self, name: str, default: Any = None, *args: Any, **kwargs: Any) -> Any:
        return self._values.get(name, default)

    def require(self, name: str) -> Any:
        return self._values.get(name, _Neutral(f"config.{name}"))


class _Target:
    lotus_name = "target"
    name = "dev"
    schema = "main"
    type = "duckdb"
    database = "lotus"
    profile_name = "lotus"
    target_name = "dev"
    threads = 1
    user = "lotus"


class _Exceptions:
    lotus_name = "exceptions"

    def raise_compiler_error(self, message: Any = "", *args: Any, **kwargs: Any) -> str:
        state = _state()
        if state is not None:
            state.problem(f"raise_compiler_error: {message}", name="raise_compiler_error")
        return ""

    def raise_not_implemented(self, message: Any = "", *args: Any, **kwargs: Any) -> str:
        state = _state()
        if state is not None:
            state.problem(f"raise_not_implemented: {message}", name="raise_not_implemented")
        return ""

    def warn(self, *args: Any, **kwargs: Any) -> str:
        return ""


class _Adapter(_Neutral):
    def quote(self, identifier: Any) -> str:
        return f'"{identifier}"'

    def get_relation(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_columns_in_relation(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


class _Positioned:
    """`source` etc. bound to the template offset of the call (see `_lotus_at`)."""

    __slots__ = ("_function", "_offset")

    def __init__(self, function: Callable[..., Any], offset: int) -> None:
        self._function = function
        self._offset = offset

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, _lotus_at=self._offset, **kwargs)


class _Functions:
    """The dbt functions whose results we record; bound to one rendering's state."""

    def __init__(self, state: _RenderState) -> None:
        self._state = state
        self.this = _This()

    def _text_args(self, what: str, args: tuple[Any, ...], offset: int | None) -> tuple[str, ...]:
        texts = []
        for arg in args:
            if not isinstance(arg, str):
                self._state.problem(f"{what}() expects string arguments, got {arg!s}", offset)
            texts.append(str(arg))
        return tuple(texts)

    def source(self, *args: Any, _lotus_at: int | None = None, **kwargs: Any) -> _Relation:
        names = self._text_args("source", args, _lotus_at)
        if len(names) != 2:
            self._state.problem(
                f"source() takes a source and a table name, got {len(names)} argument(s)",
                _lotus_at,
            )
        placeholder = self._state.relation("source", names, _lotus_at)
        return _Relation(placeholder, names[-1] if names else "")

    def ref(self, *args: Any, _lotus_at: int | None = None, **kwargs: Any) -> _Relation:
        names = self._text_args("ref", args, _lotus_at)
        if len(names) not in (1, 2):
            self._state.problem(
                f"ref() takes a model name (and optionally a package), got {len(names)} "
                "argument(s)",
                _lotus_at,
            )
        placeholder = self._state.relation("ref", names, _lotus_at)
        return _Relation(placeholder, names[-1] if names else "")

    def var(self, name: Any = None, *args: Any, _lotus_at: int | None = None, **kw: Any) -> Any:
        if name == "files":
            # Dagster passes the landed files of the model's own stream at run time.
            placeholder = self._state.relation("files", (), _lotus_at)
            return f"['{placeholder}']"
        if name in self._state.project_vars:
            return self._state.project_vars[name]
        if args:
            return args[0]
        if "default" in kw:
            return kw["default"]
        self._state.problem(
            f"`var('{name}')` has no default and is not set in the dbt project's vars", _lotus_at
        )
        return LotusUndefined(name=str(name), silent=True)

    def this_relation(self, offset: int | None) -> _Relation:
        placeholder = self._state.relation("this", (), offset)
        return _Relation(placeholder, self._state.model_name, lotus_name="this")

    def is_incremental(self) -> bool:
        return self._state.incremental

    def env_var(self, name: Any = None, default: Any = None, *args: Any) -> Any:
        return NEUTRAL_SQL if default is None else default

    def dbt_return(self, value: Any = None) -> str:
        raise _MacroReturn(value)

    def at(self, offset: int, value: Any) -> Any:
        """`_lotus_at(offset, value)`: tell source/ref/var/this where in the template they are."""
        if isinstance(value, _This):
            return self.this_relation(offset)
        function = getattr(value, "__func__", None)
        if getattr(value, "__self__", None) is self and function in (
            _Functions.source,
            _Functions.ref,
            _Functions.var,
        ):
            return _Positioned(value, offset)
        return value

    def out(self, index: int, value: Any) -> str:
        """`_lotus_out(index, value)`: a `{{ ... }}` at top level, marked for the source map."""
        if isinstance(value, _This):
            value = self.this_relation(None)
        return sourcemap.expr_marker(index, _bounded_str(value))

    def iterate(self, iterable: Any) -> Iterator[Any]:
        state = self._state
        for item in iterable:
            state.tick("iteration")
            yield item

    def concat(self, *values: Any) -> str:
        return "".join(_bounded_str(value) for value in values)


class _This:
    """`this` before it is positioned; `_lotus_at` turns it into a relation."""

    lotus_name = "this"

    def __str__(self) -> str:
        state = _state()
        if state is None:
            return "this"
        return str(_Functions(state).this_relation(None))


def _context(state: _RenderState) -> dict[str, Any]:
    functions = _Functions(state)
    return {
        "config": _Config(state.config),
        "source": functions.source,
        "ref": functions.ref,
        "var": functions.var,
        "this": functions.this,
        "is_incremental": functions.is_incremental,
        "env_var": functions.env_var,
        "run_query": _Neutral("run_query"),
        "statement": _Neutral("statement"),
        "load_result": _Neutral("load_result"),
        "adapter": _Adapter("adapter"),
        "target": _Target(),
        "exceptions": _Exceptions(),
        "log": lambda *args, **kwargs: "",
        "print": lambda *args, **kwargs: "",
        "return": functions.dbt_return,
        "execute": True,
        "flags": _Neutral("flags"),
        "graph": _Neutral("graph"),
        "modules": _Neutral("modules"),
        "api": _Neutral("api"),
        "builtins": _Neutral("builtins"),
        "model": {"name": state.model_name, "alias": state.model_name, "config": state.config},
        "project_name": "lotus",
        "schema": "main",
        "database": "lotus",
        "dbt_version": "1.11.0",
        "invocation_id": "00000000-0000-0000-0000-000000000000",
        "run_started_at": _Neutral("run_started_at"),
        "selected_resources": [],
        "should_full_refresh": lambda: False,
        "fromjson": _fromjson,
        "tojson": _tojson,
        "fromyaml": _Neutral("fromyaml"),
        "toyaml": _Neutral("toyaml"),
        "zip": zip,
        "set": set,
        "local_md5": lambda text: hashlib.md5(str(text).encode()).hexdigest(),
        "_lotus_at": functions.at,
        "_lotus_out": functions.out,
        "_lotus_iter": functions.iterate,
        "_lotus_concat": functions.concat,
    }


def _fromjson(text: Any, default: Any = None) -> Any:
    if isinstance(text, str) and len(text) > MAX_SIZE:
        raise BudgetExceeded("fromjson() input too large")
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _tojson(value: Any, default: Any = None, **kwargs: Any) -> Any:
    _check_size(value)
    try:
        return json.dumps(value, sort_keys=kwargs.get("sort_keys", False))
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------------------------
# Size checks (so a template cannot build a gigabyte string before the deadline is looked at)


def _str_size(value: Any, cap: int = MAX_SIZE) -> int:
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


def _check_size(*values: Any) -> None:
    if sum(_str_size(value) for value in values) > MAX_SIZE:
        raise BudgetExceeded(f"a value larger than {MAX_SIZE} characters")


def _bounded_str(value: Any) -> str:
    _check_size(value)
    return str(value)


_FORMAT_WIDTH = re.compile(r"[0-9]{7,}")


def _check_binop(operator: str, left: Any, right: Any) -> None:
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
    _check_size(template, values)


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
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
            _check_size(owner, args[0])
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


# --------------------------------------------------------------------------------------------
# The environment


class LotusSandbox(SandboxedEnvironment):
    """Jinja's sandbox plus work budgets and dbt's `return()`."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        state = _state()
        if state is not None:
            state.tick("call")
        _check_call(__obj, args, kwargs)
        if isinstance(__obj, LotusUndefined):
            return __obj(*args, **kwargs)  # an unknown macro: one problem, a neutral value
        if isinstance(__obj, Macro):
            try:
                return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
            except _MacroReturn as returned:
                return returned.value
        return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)


def _guard_filter(
    function: Callable[..., Any], check: Callable[..., None] | None
) -> Callable[..., Any]:
    from jinja2.utils import _PassArg

    passes_context = _PassArg.from_obj(function) is not None

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        inputs = args[1:] if passes_context else args
        if inputs and _str_size(inputs[0], MAX_FILTER_INPUT) > MAX_FILTER_INPUT:
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
        _check_size(*values, *kwargs.values())
        if isinstance(values[0], (list, tuple)) and len(values) > 1:
            if len(str(values[1])) * len(values[0]) > MAX_SIZE:
                raise BudgetExceeded("join() result is too large")


def _check_width_filter(*args: Any, **kwargs: Any) -> None:
    value, *rest = _args_without_context(args) or ("",)
    args = tuple(rest)
    lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
    _check_width(args, kwargs, lines)
    _check_size(value)


def _check_replace_filter(*args: Any, **kwargs: Any) -> None:
    values = _args_without_context(args)
    if len(values) >= 3:
        _check_call(str(values[0]).replace, (values[1], values[2]), {})


def _check_format_filter(*args: Any, **kwargs: Any) -> None:
    value, *rest = _args_without_context(args) or ("",)
    _check_format(str(value), list(rest) + list(kwargs.values()))


def _check_value_filter(*args: Any, **kwargs: Any) -> None:
    _check_size(*_args_without_context(args))


@functools.lru_cache(maxsize=1)
def environment() -> LotusSandbox:
    """One sandboxed environment per process (creating it is the expensive part)."""
    env = LotusSandbox(
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        undefined=LotusUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals.pop("lipsum", None)  # generates arbitrarily much text; dbt does not offer it
    guards = {
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
    for name, function in list(env.filters.items()):
        env.filters[name] = _guard_filter(function, guards.get(name))
    return env


# --------------------------------------------------------------------------------------------
# Instrumentation


@dataclass
class _Compiled:
    template: Any  # jinja2.Template, or None when `tree` is interpreted directly
    tree: Any  # the instrumented jinja2.nodes.Template
    data_offsets: list[int]
    expr_offsets: list[int]
    name_offsets: dict[str, list[int]]
    instrumented: bool


class _TokenIndex:
    """Offsets of the template's tokens, found by walking the lexer's token stream."""

    def __init__(self, text: str, tokens: Iterable[tuple[int, str, str]]) -> None:
        self.data: list[int] = []  # offsets of non-empty data chunks, in order
        self.expressions: list[int] = []  # offsets of the first token inside each `{{ }}`
        self.names: dict[str, list[int]] = {}
        self.names_by_line: dict[tuple[int, str], list[int]] = {}
        self.aligned = True
        cursor = 0
        in_variable = False
        for lineno, kind, value in tokens:
            if not value:
                continue
            found = text.find(value, cursor)
            if found < 0:
                self.aligned = False
                break
            cursor = found + len(value)
            if kind == "data":
                self.data.append(found)
            elif kind == "variable_begin":
                in_variable = True
            elif kind == "whitespace":
                continue
            elif in_variable:
                self.expressions.append(found)
                in_variable = False
            if kind == "name":
                self.names.setdefault(value, []).append(found)
                self.names_by_line.setdefault((lineno, value), []).append(found)


_UNMARKED_BODIES = (nodes.Macro, nodes.CallBlock, nodes.AssignBlock, nodes.FilterBlock)


class _Instrumenter:
    def __init__(self, index: _TokenIndex, mark_output: bool) -> None:
        self.index = index
        self.mark_output = mark_output
        self.data_count = 0
        self.expr_count = 0
        self.name_used: dict[tuple[int, str], int] = {}
        self.consistent = True

    def name_offset(self, node: nodes.Name) -> int | None:
        key = (node.lineno, node.name)
        candidates = self.index.names_by_line.get(key)
        if not candidates:
            return None
        used = self.name_used.get(key, 0)
        self.name_used[key] = used + 1
        return candidates[min(used, len(candidates) - 1)]

    def visit(self, node: nodes.Node, marked: bool) -> nodes.Node:
        """Rewrite `node`'s children in place (in source order); return the replacement."""
        if isinstance(node, nodes.Output):
            node.nodes = [self.output_child(child, marked) for child in node.nodes]
            return node
        inner_marked = marked and not isinstance(node, _UNMARKED_BODIES)
        for field_name, value in node.iter_fields():
            if isinstance(value, list):
                setattr(
                    node,
                    field_name,
                    [self.visit(item, inner_marked) if isinstance(item, nodes.Node) else item
                     for item in value],
                )
            elif isinstance(value, nodes.Node):
                setattr(node, field_name, self.visit(value, inner_marked))
        return self.rewrite(node)

    def output_child(self, child: nodes.Node, marked: bool) -> nodes.Node:
        if isinstance(child, nodes.TemplateData):
            index = self.data_count
            self.data_count += 1
            if marked and self.mark_output:
                child.data = sourcemap.data_marker(index, child.data)
            return child
        index = self.expr_count
        self.expr_count += 1
        child = self.visit(child, marked)
        if not (marked and self.mark_output):
            return child
        return nodes.Call(
            nodes.Name("_lotus_out", "load", lineno=child.lineno),
            [nodes.Const(index, lineno=child.lineno), child],
            [],
            None,
            None,
            lineno=child.lineno,
        )

    def rewrite(self, node: nodes.Node) -> nodes.Node:
        lineno = node.lineno
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            if node.node.name in _RELATION_FUNCTIONS and node.node.ctx == "load":
                offset = self.name_offset(node.node)
                if offset is not None:
                    node.node = _call("_lotus_at", [nodes.Const(offset), node.node], lineno)
            return node
        if isinstance(node, nodes.Name) and node.name == "this" and node.ctx == "load":
            offset = self.name_offset(node)
            if offset is not None:
                return _call("_lotus_at", [nodes.Const(offset), node], lineno)
            return node
        if isinstance(node, nodes.For):
            node.iter = _call("_lotus_iter", [node.iter], lineno)
            return node
        if isinstance(node, nodes.Concat):
            return _call("_lotus_concat", list(node.nodes), lineno)
        return node


def _call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    for arg in args:
        arg.set_lineno(lineno, override=False)
    return nodes.Call(nodes.Name(name, "load", lineno=lineno), args, [], None, None, lineno=lineno)


@functools.lru_cache(maxsize=128)
def _compile(text: str, fast: bool = True) -> _Compiled:
    """Lex, parse, instrument and compile; cached so the two renderings share the work.

    With `fast`, templates in the simple subset are not compiled to Python but interpreted
    (see _interpret.py). Raises TemplateSyntaxError (and, for pathological input,
    RecursionError/MemoryError).
    """
    env = environment()
    index = _TokenIndex(text, env.lex(text))
    mark_output = index.aligned and not sourcemap.has_markers(text)
    tree = env.parse(text)
    instrumenter = _Instrumenter(index, mark_output)
    instrumenter.visit(tree, marked=True)
    counts_match = instrumenter.data_count == len(index.data) and (
        instrumenter.expr_count == len(index.expressions)
    )
    if mark_output and not counts_match:
        # Token and AST disagree (should not happen): compile without output markers.
        tree = env.parse(text)
        instrumenter = _Instrumenter(index, mark_output=False)
        instrumenter.visit(tree, marked=True)
        mark_output = False
    template = None if fast and _interpret.supported(tree) else env.from_string(tree)
    return _Compiled(template, tree, index.data, index.expressions, index.names, mark_output)


# --------------------------------------------------------------------------------------------
# Rendering


def normalize_newlines(template: str) -> str:
    return template.replace("\r\n", "\n").replace("\r", "\n")


def render(
    template: str,
    *,
    model_name: str,
    incremental: bool,
    project_vars: dict[str, Any],
    fast: bool = True,
) -> RenderedModel:
    text = normalize_newlines(template)
    identity = sourcemap.SourceMap.identity(text)
    try:
        compiled = _compile(text, fast)
    except TemplateSyntaxError as error:
        line = _unclosed_block_line(text, error) or error.lineno
        problem = TemplateProblem(f"template syntax error: {error.message}", line, None)
        return RenderedModel(None, {}, {}, (problem,), identity)
    except (RecursionError, MemoryError):
        problem = TemplateProblem("template is nested too deeply to render", None, None)
        return RenderedModel(None, {}, {}, (problem,), identity)
    except Exception as error:  # noqa: BLE001 - any compile failure of user input is a problem
        problem = TemplateProblem(f"template cannot be compiled: {error}", None, None)
        return RenderedModel(None, {}, {}, (problem,), identity)

    state = _RenderState(
        model_name=model_name,
        incremental=incremental,
        project_vars=project_vars,
        name_offsets=compiled.name_offsets,
        offset_to_line_col=identity.line_col,
        deadline=time.monotonic() + MAX_SECONDS,
    )
    token = _CURRENT.set(state)
    try:
        if compiled.template is None:
            marked = _interpret_tree(compiled.tree, state)
        else:
            marked = _run(compiled.template, state)
    except Exception as error:  # noqa: BLE001 - every failure of the template is a problem
        state.problem(_describe(error), _error_offset(error, compiled, identity))
        marked = None
    finally:
        _CURRENT.reset(token)

    config = dict(state.config)
    problems = tuple(state.problems.values())
    if marked is None:
        return RenderedModel(None, config, dict(state.relations), problems, identity)
    if not compiled.instrumented:
        return RenderedModel(marked, config, dict(state.relations), problems, identity)
    sql, source_map = sourcemap.decode(
        marked, compiled.data_offsets, compiled.expr_offsets, text
    )
    return RenderedModel(sql, config, dict(state.relations), problems, source_map)


_INNERMOST = re.compile(r"innermost block that needs to be closed is '(\w+)'")
_BLOCK_TAGS = frozenset(
    {"if", "for", "macro", "call", "filter", "block", "with", "set", "raw", "autoescape"}
)


def _unclosed_block_line(text: str, error: TemplateSyntaxError) -> int | None:
    """For "block never closed" errors, the line of the opening tag (Jinja names the end).

    Walks the block tags with a stack; a `{% set %}` is a block only without `=`.
    """
    match = _INNERMOST.search(error.message or "")
    if match is None:
        return None
    wanted = match.group(1)
    stack: list[tuple[str, int]] = []
    tag: str | None = None
    tag_line = 0
    has_equals = False
    try:
        for lineno, kind, value in environment().lex(text):
            if error.lineno and lineno > error.lineno:
                break
            if kind == "block_begin":
                tag, has_equals = None, False
            elif kind == "name" and tag is None:
                tag, tag_line = value, lineno
            elif kind == "operator" and value == "=":
                has_equals = True
            elif kind == "block_end" and tag is not None:
                if tag in _BLOCK_TAGS and not (tag == "set" and has_equals):
                    stack.append((tag, tag_line))
                elif tag.startswith("end") and stack and stack[-1][0] == tag[3:]:
                    stack.pop()
                tag = ""
    except TemplateSyntaxError:
        return None
    lines = [line for opened, line in stack if opened == wanted]
    return lines[-1] if lines else None


def _interpret_tree(tree: Any, state: _RenderState) -> str:
    env = environment()
    variables = {**env.globals, **_context(state)}

    def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        state.tick("call")
        _check_call(function, args, kwargs)
        if isinstance(function, LotusUndefined):
            return function(*args, **kwargs)
        if not env.is_safe_callable(function):
            raise SecurityError(f"{function!r} is not safely callable")
        return function(*args, **kwargs)

    undefined = functools.partial(LotusUndefined, None, missing)
    return _interpret.Interpreter(variables, lambda name: undefined(name), call).render(tree)


def _run(template: Any, state: _RenderState) -> str:
    context = template.new_context(_context(state))
    pieces = []
    size = 0
    for piece in template.root_render_func(context):
        size += len(piece)
        if size > MAX_SIZE:
            raise BudgetExceeded(f"rendered SQL is larger than {MAX_SIZE} characters")
        state.tick("call")
        pieces.append(piece)
    return "".join(pieces)


def _describe(error: BaseException) -> str:
    if isinstance(error, SecurityError):
        return f"unsafe template, not rendered: {error}"
    if isinstance(error, BudgetExceeded):
        return f"template does too much work, not rendered: {error}"
    if isinstance(error, RecursionError):
        return "template recursion too deep (does a macro call itself?)"
    if isinstance(error, MemoryError):
        return "template needs too much memory, not rendered"
    if isinstance(error, _MacroReturn):
        return "return() used outside a macro"
    message = getattr(error, "message", None) or str(error)
    return f"template error: {type(error).__name__}: {message}"


def _error_offset(
    error: BaseException, compiled: _Compiled, identity: sourcemap.SourceMap
) -> int | None:
    """Offset of the start of the template line where `error` was raised, if known."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            try:
                line = compiled.template.get_corresponding_lineno(traceback.tb_lineno)
            except Exception:  # noqa: BLE001 - best effort only
                line = None
        traceback = traceback.tb_next
    if line is None or line < 1 or line > len(identity.template_line_starts):
        return None
    return identity.template_line_starts[line - 1]
