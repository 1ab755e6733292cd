"""A direct interpreter for the small Jinja subset most dbt models use.

Compiling a template to Python (Jinja's code generator plus `compile()`) costs ~8 ms; parsing
costs ~1 ms. Models that only use `{{ config(...) }}`, `{{ source/ref/var(...) }}`, `{{ this }}`
and `{% if is_incremental() %}` are evaluated straight from the (instrumented) AST instead, with
the same stand-in context, so a run over 2000 models stays fast. Anything outside the subset
(loops, macros, filters, attribute access, assignments, ...) takes the compiled path; a
differential test checks both paths agree on the subset.
"""

from __future__ import annotations

from typing import Any
from typing import Callable
from typing import Mapping

from jinja2 import nodes

_SIMPLE_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Const,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Name,
    nodes.Call,
    nodes.Keyword,
)


def supported(tree: nodes.Node) -> bool:
    """True if every node of `tree` is one `interpret` evaluates exactly like Jinja."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if type(node) not in _SIMPLE_NODES:
            return False
        if isinstance(node, nodes.Name) and node.ctx != "load":
            return False
        if isinstance(node, nodes.Tuple) and node.ctx != "load":
            return False
        if isinstance(node, nodes.Call) and (node.dyn_args or node.dyn_kwargs):
            return False
        stack.extend(node.iter_child_nodes())
    return True


class Interpreter:
    """Evaluates a `supported` tree; `call` is the sandbox's call (budgets, macro return)."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        undefined: Callable[[str], Any],
        call: Callable[..., Any],
    ) -> None:
        self.variables = variables
        self.undefined = undefined
        self.call = call

    def render(self, tree: nodes.Template) -> str:
        pieces: list[str] = []
        self.run(tree.body, pieces)
        return "".join(pieces)

    def run(self, body: list[nodes.Node], pieces: list[str]) -> None:
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    if isinstance(child, nodes.TemplateData):
                        pieces.append(child.data)
                    else:
                        pieces.append(str(self.eval(child)))
            elif isinstance(node, nodes.If):
                self.run_if(node, pieces)

    def run_if(self, node: nodes.If, pieces: list[str]) -> None:
        if self.eval(node.test):
            self.run(node.body, pieces)
            return
        for branch in node.elif_:
            if self.eval(branch.test):
                self.run(branch.body, pieces)
                return
        self.run(node.else_, pieces)

    def eval(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.Name):
            if node.name in self.variables:
                return self.variables[node.name]
            return self.undefined(node.name)
        if isinstance(node, nodes.Call):
            function = self.eval(node.node)
            args = [self.eval(arg) for arg in node.args]
            kwargs = {keyword.key: self.eval(keyword.value) for keyword in node.kwargs}
            return self.call(function, *args, **kwargs)
        if isinstance(node, nodes.Not):
            return not self.eval(node.node)
        if isinstance(node, nodes.And):
            return self.eval(node.left) and self.eval(node.right)
        if isinstance(node, nodes.Or):
            return self.eval(node.left) or self.eval(node.right)
        if isinstance(node, nodes.List):
            return [self.eval(item) for item in node.items]
        if isinstance(node, nodes.Tuple):
            return tuple(self.eval(item) for item in node.items)
        if isinstance(node, nodes.Dict):
            return {self.eval(pair.key): self.eval(pair.value) for pair in node.items}
        raise TypeError(f"unsupported node {type(node).__name__}")  # guarded by supported()
