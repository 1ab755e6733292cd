"""The Jinja side of `render_model`: sandboxed environment, instrumentation, rendering.

The stand-in dbt context is in _dbt.py, the work budgets in _budget.py, the result types in
rendered.py.

How it works:
1. Lex the template and find the offset of every token (data chunks, `{{`, names).
2. Parse it and rewrite the AST: top-level literal text is wrapped in source-map markers,
   `{{ expr }}` output goes through `_lotus_out` (marker with the expression's position),
   `source`/`ref`/`var`/`this` go through `_lotus_at` (so the call knows its position), loops
   through `_lotus_iter` and `~` through `_lotus_concat` (both budgeted).
3. Render in a `SandboxedEnvironment` subclass that counts calls, checks sizes of string/list
   operations and a deadline, so hostile templates end with a problem instead of a hang.
4. Strip the markers (sourcemap.decode) and return the SQL, the config, relations, problems.

Literal text inside `{% macro %}`, `{% call %}` and `{% filter %}` bodies is left unmarked so
string comparisons on it keep working; such text maps to the `{{ ... }}` that outputs it. The
body of a `{% set x %}...{% endset %}` block (without a filter) and of a
`{% call statement(...) %}` is marked: the block's value is a `MarkedText`, a string whose value
is the clean text and which carries the markers to `run_query()` and `{{ x }}`, so the SQL in
it maps back to the block.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any
from typing import cast
from collections.abc import Iterable

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateSyntaxError
from jinja2.lexer import TokenStream
from jinja2.runtime import Macro
from jinja2.sandbox import SandboxedEnvironment

from lotus_checks.sql import sourcemap
from lotus_checks.sql._budget import FILTER_GUARDS
from lotus_checks.sql._budget import MAX_SECONDS
from lotus_checks.sql._budget import MAX_SIZE
from lotus_checks.sql._budget import BudgetExceeded
from lotus_checks.sql._budget import RenderOverMemory
from lotus_checks.sql._budget import RenderTimedOut
from lotus_checks.sql._budget import check_binop
from lotus_checks.sql._budget import check_call
from lotus_checks.sql._budget import guard_filter
from lotus_checks.sql._dbt import CURRENT
from lotus_checks.sql._dbt import LotusUndefined
from lotus_checks.sql._dbt import MacroReturn
from lotus_checks.sql._dbt import RenderState
from lotus_checks.sql._dbt import as_marked
from lotus_checks.sql._dbt import current_state
from lotus_checks.sql._dbt import dbt_context
from lotus_checks.sql.rendered import CompileQuery
from lotus_checks.sql.rendered import RenderedModel
from lotus_checks.sql.rendered import TemplateProblem

# Calls told where they are in the template (`_lotus_at`).
_RELATION_FUNCTIONS = frozenset({"source", "ref", "var", "env_var", "run_query", "statement"})
MARKED_FILTER = "_lotus_sql"  # the filter that turns a marked `{% set %}` body into MarkedText


class LotusSandbox(SandboxedEnvironment):
    """Jinja's sandbox plus work budgets and dbt's `return()`."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    # While `lex_and_parse` runs: the text and its raw tokens, for `_tokenize` to reuse.
    _lexed: tuple[str, list[tuple[int, str, str]]] | None = None

    def lex_and_parse(self, text: str) -> tuple[list[tuple[int, str, str]], nodes.Template]:
        """The raw tokens of `text` (as `lex` gives them) and its syntax tree, from one pass of
        the lexer: Jinja's `parse` would lex again, and lexing is half of parsing."""
        tokens = list(self.lexer.tokeniter(text, None))
        self._lexed = (text, tokens)
        try:
            return tokens, self.parse(text)
        finally:
            self._lexed = None

    def _tokenize(self, source: str, name: str | None, filename: str | None = None,
                  state: str | None = None) -> TokenStream:
        lexed = self._lexed
        if (lexed is None or lexed[0] is not source or state is not None
                or self.preprocess(source, name, filename) != source):
            return super()._tokenize(source, name, filename, state)
        stream = TokenStream(self.lexer.wrap(iter(lexed[1]), name, filename), name, filename)
        for extension in self.iter_extensions():  # as Environment._tokenize does
            stream = extension.filter_stream(stream)  # type: ignore[assignment]
            if not isinstance(stream, TokenStream):
                stream = TokenStream(stream, name, filename)
        return stream

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        state = current_state()
        if state is not None:
            state.tick("call")
        check_call(__obj, args, kwargs)
        if isinstance(__obj, LotusUndefined):
            return __obj(*args, **kwargs)  # an unknown macro: one problem, a neutral value
        if isinstance(__obj, Macro):
            try:
                return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
            except MacroReturn as returned:
                return returned.value
        return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)


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
    for name, function in list(env.filters.items()):
        env.filters[name] = guard_filter(function, FILTER_GUARDS.get(name))
    env.filters[MARKED_FILTER] = as_marked
    return env


# --------------------------------------------------------------------------------------------
# Instrumentation


@dataclass
class _Compiled:
    template: Any  # jinja2.Template
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
            # Output's children are expressions, and output_child returns one for each.
            node.nodes = [cast(nodes.Expr, self.output_child(child, marked))
                          for child in node.nodes]
            return node
        inner_marked = marked and (
            not isinstance(node, _UNMARKED_BODIES) or self.marks_body(node)
        )
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
        if isinstance(node, nodes.AssignBlock) and inner_marked and self.mark_output:
            node.filter = nodes.Filter(None, MARKED_FILTER, [], [], None, None, lineno=node.lineno)
        return self.rewrite(node)

    @staticmethod
    def marks_body(node: nodes.Node) -> bool:
        """A `{% set %}` block without a filter (its value becomes MarkedText) and the body of
        `{% call statement(...) %}` (the SQL dbt runs) keep their markers."""
        if isinstance(node, nodes.AssignBlock):
            return node.filter is None
        call = node.call if isinstance(node, nodes.CallBlock) else None
        return isinstance(call, nodes.Call) and isinstance(call.node, nodes.Name) and (
            call.node.name == "statement"
        )

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
                return _call("_lotus_at", [nodes.Const(offset), cast(nodes.Expr, node)], lineno)
            return node
        if isinstance(node, nodes.For):
            node.iter = _call("_lotus_iter", [cast(nodes.Expr, node.iter)], lineno)
            return node
        if isinstance(node, nodes.Concat):
            return _call("_lotus_concat", list(node.nodes), lineno)
        return node


def _call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    for arg in args:
        arg.set_lineno(lineno, override=False)
    return nodes.Call(nodes.Name(name, "load", lineno=lineno), args, [], None, None, lineno=lineno)


@functools.lru_cache(maxsize=128)
def _compile(text: str) -> _Compiled:
    """Lex, parse, instrument and compile; cached so the two renderings share the work.

    Raises TemplateSyntaxError (and, for pathological input, RecursionError/MemoryError).
    """
    env = environment()
    tokens, tree = env.lex_and_parse(text)
    index = _TokenIndex(text, tokens)
    mark_output = index.aligned and not sourcemap.has_markers(text)
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
    template = env.from_string(tree)
    return _Compiled(template, index.data, index.expressions, index.names, mark_output)


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
) -> RenderedModel:
    text = normalize_newlines(template)
    identity = sourcemap.SourceMap.identity(text)
    try:
        compiled = _compile(text)
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

    state = RenderState(
        model_name=model_name,
        incremental=incremental,
        project_vars=project_vars,
        name_offsets=compiled.name_offsets,
        offset_to_line_col=identity.line_col,
        deadline=time.monotonic() + MAX_SECONDS,
        template=text,
        expr_offsets=compiled.expr_offsets,
    )
    token = CURRENT.set(state)
    try:
        marked = _run(compiled.template, state)
    except Exception as error:  # noqa: BLE001 - every failure of the template is a problem
        state.problem(_describe(error), _error_offset(error, compiled, identity))
        state.timed_out = isinstance(error, (RenderTimedOut, RenderOverMemory))
        marked = None
    finally:
        CURRENT.reset(token)

    config = dict(state.config)
    problems = tuple(state.problems.values())
    if marked is None:
        return RenderedModel(None, config, dict(state.relations), problems, identity,
                             timed_out=state.timed_out)
    queries = _queries(state, compiled, text)
    if not compiled.instrumented:
        return RenderedModel(marked, config, dict(state.relations), problems, identity,
                             queries=queries)
    sql, source_map = sourcemap.decode(
        marked, compiled.data_offsets, compiled.expr_offsets, text
    )
    return RenderedModel(sql, config, dict(state.relations), problems, source_map,
                         queries=queries)


def _queries(state: RenderState, compiled: _Compiled, text: str) -> tuple[CompileQuery, ...]:
    """The SQL run at compile time, each with a map into the template: from its markers (a
    `{% set %}` block, a statement body), else by finding its literal pieces after the call."""
    out = []
    for query, offset in state.queries:
        if sourcemap.has_markers(query):
            sql, source_map = sourcemap.decode(
                query, compiled.data_offsets, compiled.expr_offsets, text
            )
        else:
            sql, source_map = query, sourcemap.locate(query, text, offset or 0)
        out.append(CompileQuery(sql, source_map))
    return tuple(out)


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


def _run(template: Any, state: RenderState) -> str:
    context = template.new_context(dbt_context(state))
    pieces = []
    size = 0
    # What the template's own text supplies is not work it does: a long model written out by
    # hand renders to about its own size (the CPU budget bounds what parsing it costs).
    limit = MAX_SIZE + 2 * len(state.template)
    for piece in template.root_render_func(context):
        size += len(piece)
        if size > limit:
            raise BudgetExceeded(f"rendered SQL is larger than {limit} characters")
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
    if isinstance(error, MacroReturn):
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
