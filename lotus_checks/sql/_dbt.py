"""The dbt stand-in context for rendering models without dbt or a warehouse.

`config` records its kwargs; `source`/`ref`/`this` and runtime `var()`s (no default, no project
value, e.g. `var("files")`) render placeholders recorded as `RelationCall`s; unknown names and
macros become one problem each and render NULL; objects we do not model (`run_query` results,
`adapter.dispatch`, ...) are neutral values. The SQL handed to `run_query()` and
`{% call statement(...) %}` is recorded (`RenderState.queries`), with the source-map markers of a
`{% set %}` block or a statement body it comes from (`MarkedText`).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from collections.abc import Callable
from collections.abc import Iterator

from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateRuntimeError
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Undefined
from jinja2.utils import missing

from lotus_checks.sql import sourcemap
from lotus_checks.sql._budget import MAX_CALLS
from lotus_checks.sql._budget import MAX_ITERATIONS
from lotus_checks.sql._budget import MAX_MEMORY
from lotus_checks.sql._budget import MEMORY_SAMPLE_TICKS
from lotus_checks.sql._budget import MAX_SECONDS
from lotus_checks.sql._budget import MAX_SIZE
from lotus_checks.sql._budget import BudgetExceeded
from lotus_checks.sql._budget import RenderOverMemory
from lotus_checks.sql._budget import RenderTimedOut
from lotus_checks.sql._budget import bounded_str
from lotus_checks.sql._budget import check_size
from lotus_checks.sql._budget import memory_in_use
from lotus_checks.sql.raw_paths import RUNTIME_MARK
from lotus_checks.sql.rendered import RelationCall
from lotus_checks.sql.rendered import TemplateProblem

NEUTRAL_SQL = "NULL"  # what an unknown macro or undefined name renders as


# The state of the rendering in progress. Jinja creates `Undefined` objects without access to
# the render call, so they find the state here; a ContextVar keeps concurrent renders apart.
CURRENT: contextvars.ContextVar[RenderState | None] = contextvars.ContextVar(
    "lotus_render_state", default=None
)


class MacroReturn(Exception):
    """dbt's `{{ return(value) }}`: leaves the macro with a value."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


@dataclass
class RenderState:
    model_name: str
    incremental: bool
    project_vars: dict[str, Any]
    name_offsets: dict[str, list[int]]
    offset_to_line_col: Callable[[int], tuple[int, int]]
    deadline: float
    config: dict[str, Any] = field(default_factory=dict)
    relations: dict[str, RelationCall] = field(default_factory=dict)
    problems: dict[str, TemplateProblem] = field(default_factory=dict)
    template: str = ""  # the template text (where a runtime var() sits: in quotes or not)
    expr_offsets: list[int] = field(default_factory=list)  # where each `{{ }}` is, by index
    calls: int = 0
    iterations: int = 0
    timed_out: bool = False  # a machine-dependent limit ran out (time or memory): not cached
    # The process's resident memory at the first sample (taken after MEMORY_SAMPLE_TICKS
    # calls, so the usual model with a handful of calls never pays for reading it).
    memory_start: int | None = None
    # SQL run at compile time: (text, with markers when it has them; template offset of the call)
    queries: list[tuple[str, int | None]] = field(default_factory=list)

    def tick(self, what: str) -> None:
        if what == "call":
            self.calls += 1
            if self.calls > MAX_CALLS:
                raise BudgetExceeded(f"more than {MAX_CALLS} calls (runaway recursion?)")
        else:
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise BudgetExceeded(f"more than {MAX_ITERATIONS} loop iterations")
        ticks = self.calls + self.iterations
        if ticks % 256 == 0 and time.monotonic() > self.deadline:
            raise RenderTimedOut(f"rendering took longer than {MAX_SECONDS:g} s")
        if ticks % MEMORY_SAMPLE_TICKS == 0:
            in_use = memory_in_use()
            if self.memory_start is None:
                self.memory_start = in_use
            elif in_use - self.memory_start > MAX_MEMORY:
                raise RenderOverMemory(f"rendering needed over {MAX_MEMORY // 2**20} MB of memory")

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
            placeholder = f"{RUNTIME_MARK}{number}__"  # raw_paths.py recognises it
        else:
            placeholder = f"__lotus_rel_{number}"
        line, column = self.offset_to_line_col(offset) if offset is not None else (1, 1)
        self.relations[placeholder] = RelationCall(placeholder, kind, args, line, column)
        return placeholder


def current_state() -> RenderState | None:
    return CURRENT.get()


class MarkedText(str):
    """Rendered text (a `{% set %}` block's body) that remembers its source-map markers: as a
    string it is the clean text, so comparisons and filters behave; `run_query()`, `{{ }}` and
    `~` use the markers, so the SQL in it maps back to the block."""

    _lotus_marked: str


def with_markers(marked: str) -> MarkedText:
    """MarkedText for `marked` (rendered text with its markers)."""
    text = MarkedText(sourcemap.strip(marked))
    text._lotus_marked = marked
    return text


def marked_text(value: Any) -> str:
    """`value` as text with its markers, if it has any."""
    if isinstance(value, MarkedText):
        return value._lotus_marked
    return bounded_str(value)


def as_marked(value: Any) -> MarkedText:
    """The `_lotus_sql` filter on a `{% set %}` block: keep the body's markers."""
    return with_markers(value if isinstance(value, str) else bounded_str(value))


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
        exc: type[TemplateRuntimeError] = UndefinedError,
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
        state = current_state()
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
        state = current_state()
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
        state = current_state()
        if state is not None:
            state.problem(f"raise_compiler_error: {message}", name="raise_compiler_error")
        return ""

    def raise_not_implemented(self, message: Any = "", *args: Any, **kwargs: Any) -> str:
        state = current_state()
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

    def __init__(self, state: RenderState) -> None:
        self._state = state
        self.this = _This()

    def _text_args(self, what: str, args: tuple[Any, ...], offset: int | None) -> tuple[str, ...] | None:
        """The names a ref()/source() call gives; None when one is a runtime var(): dbt resolves
        ref() and source() when it parses the project, before `--vars` are passed."""
        runtime = [arg for arg in args if isinstance(arg, _RuntimeValue)]
        if runtime:
            for arg in runtime:  # one finding for the call, not another for its var()
                call = self._state.relations.pop(arg.placeholder, None)
                name = call.args[0] if call is not None and call.args else "..."
                self._state.problem(
                    f"{what}() of var('{name}'), a value passed at run time: dbt resolves "
                    f"{what}() when it parses the project, where the var is not set", offset)
            return None
        texts = []
        for arg in args:
            if not isinstance(arg, str):
                self._state.problem(f"{what}() expects string arguments, got {arg!s}", offset)
            texts.append(str(arg))
        return tuple(texts)

    def source(self, *args: Any, _lotus_at: int | None = None, **kwargs: Any) -> _Relation:
        given = self._text_args("source", args, _lotus_at)
        names = given or ()
        if given is not None and len(names) != 2:
            self._state.problem(
                f"source() takes a source and a table name, got {len(names)} argument(s)",
                _lotus_at,
            )
        placeholder = self._state.relation("source", names, _lotus_at)
        return _Relation(placeholder, names[-1] if names else "")

    def ref(self, *args: Any, _lotus_at: int | None = None, **kwargs: Any) -> _Relation:
        given = self._text_args("ref", args, _lotus_at)
        names = given or ()
        if given is not None and len(names) not in (1, 2):
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
            return self.runtime_var(_lotus_at, name)
        if name in self._state.project_vars:
            return self._state.project_vars[name]
        if args:
            return args[0]
        if "default" in kw:
            return kw["default"]
        if not isinstance(name, str):
            self._state.problem(f"var() expects a variable name, got {name!s}", _lotus_at)
            return LotusUndefined(name=str(name), silent=True)
        return self.runtime_var(_lotus_at, name)

    def runtime_var(self, offset: int | None, name: str | None = None) -> _RuntimeValue:
        """A var() with no default and no project value: passed at run time (`dbt run --vars`);
        `dbt parse` renders it as None and passes. Inside an SQL string (`'{{ var("file") }}'`)
        it renders a placeholder path, a raw read of the model's own stream; elsewhere a list of
        one placeholder path (`read_parquet({{ var("paths") }})`), which is also a neutral
        value where SQL expects one. The var's name is recorded (the checks compare it with
        what the orchestrator passes); an env_var() has none."""
        placeholder = self._state.relation("files", (name,) if name is not None else (), offset)
        if offset is not None and _in_sql_string(self._state.template, offset):
            return _RuntimeValue(placeholder, placeholder)
        return _RuntimeValue(f"['{placeholder}']", placeholder)

    def this_relation(self, offset: int | None) -> _Relation:
        placeholder = self._state.relation("this", (), offset)
        return _Relation(placeholder, self._state.model_name, lotus_name="this")

    def is_incremental(self) -> bool:
        return self._state.incremental

    def env_var(
        self, name: Any = None, default: Any = None, *args: Any, _lotus_at: int | None = None
    ) -> Any:
        if default is not None:
            return default
        # Set where dbt runs (CI, the orchestrator); like a runtime var() inside a path.
        if _lotus_at is not None and _in_sql_string(self._state.template, _lotus_at):
            return self.runtime_var(_lotus_at)
        return NEUTRAL_SQL

    def dbt_return(self, value: Any = None) -> str:
        raise MacroReturn(value)

    def run_query(self, sql: Any = None, *args: Any, _lotus_at: int | None = None,
                  **kwargs: Any) -> Any:
        """dbt runs the SQL at compile time: recorded, so its columns are checked too."""
        if isinstance(sql, str):
            self._state.queries.append((marked_text(sql), _lotus_at))
        return _Neutral("run_query")

    def statement(self, name: Any = None, *args: Any, caller: Any = None,
                  _lotus_at: int | None = None, **kwargs: Any) -> str:
        """`{% call statement('name', fetch_result=True) %} SQL {% endcall %}`: as run_query()."""
        if caller is not None:
            self.run_query(caller(), _lotus_at=_lotus_at)
        return ""

    def at(self, offset: int, value: Any) -> Any:
        """`_lotus_at(offset, value)`: tell source/ref/var/this where in the template they are."""
        if isinstance(value, _This):
            return self.this_relation(offset)
        function = getattr(value, "__func__", None)
        if getattr(value, "__self__", None) is self and function in (
            _Functions.source,
            _Functions.ref,
            _Functions.var,
            _Functions.env_var,
            _Functions.run_query,
            _Functions.statement,
        ):
            return _Positioned(value, offset)
        return value

    def out(self, index: int, value: Any) -> str:
        """`_lotus_out(index, value)`: a `{{ ... }}` at top level, marked for the source map."""
        if isinstance(value, _This):
            value = self.this_relation(None)
        elif isinstance(value, _RuntimeValue) and self._printed_in_sql_string(index):
            # `{% set d = var('start_date') %} ... '{{ d }}'`: quoting is decided where the
            # value is printed, not where var() was called.
            value = value.placeholder
        return sourcemap.expr_marker(index, marked_text(value))

    def _printed_in_sql_string(self, index: int) -> bool:
        offsets = self._state.expr_offsets
        return index < len(offsets) and _in_sql_string(self._state.template, offsets[index])

    def iterate(self, iterable: Any) -> Iterator[Any]:
        state = self._state
        for item in iterable:
            state.tick("iteration")
            yield item

    def concat(self, *values: Any) -> str:
        if any(isinstance(value, MarkedText) for value in values):
            return with_markers("".join(marked_text(value) for value in values))
        return "".join(bounded_str(value) for value in values)


class _RuntimeValue(str):
    """A runtime var()'s rendering; false in a test, as the None `dbt parse` renders is.
    `placeholder` is its bare form, printed inside an SQL string."""

    placeholder: str

    def __init__(self, text: str, placeholder: str) -> None:
        super().__init__()
        self.placeholder = placeholder

    def __new__(cls, text: str, placeholder: str) -> _RuntimeValue:
        return super().__new__(cls, text)

    def __bool__(self) -> bool:
        return False


def _in_sql_string(template: str, offset: int) -> bool:
    """Whether the `{{ ... }}` around `offset` sits inside a single-quoted SQL string: an odd
    number of quotes between the start of its line and its `{{` (SQL strings rarely span
    lines; Jinja blocks on the line do not hold quotes in practice)."""
    start = template.rfind("{{", 0, offset)
    if start < 0:
        return False
    line_start = template.rfind("\n", 0, start) + 1
    return template.count("'", line_start, start) % 2 == 1


class _This:
    """`this` before it is positioned; `_lotus_at` turns it into a relation."""

    lotus_name = "this"

    def __str__(self) -> str:
        state = current_state()
        if state is None:
            return "this"
        return str(_Functions(state).this_relation(None))


def dbt_context(state: RenderState) -> dict[str, Any]:
    functions = _Functions(state)
    return {
        "config": _Config(state.config),
        "source": functions.source,
        "ref": functions.ref,
        "var": functions.var,
        "this": functions.this,
        "is_incremental": functions.is_incremental,
        "env_var": functions.env_var,
        "run_query": functions.run_query,
        "statement": functions.statement,
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
    check_size(value)
    try:
        return json.dumps(value, sort_keys=kwargs.get("sort_keys", False))
    except (TypeError, ValueError):
        return default
