"""Reading Terraform (HCL) files with a real HCL parser (python-hcl2's Lark grammar).

Only what the coverage checks need, with positions: top-level blocks with their labels and
attributes, and every call of a file-reading function whose path argument is a string literal.
The raw Lark tree is walked (not hcl2's dict output) because the tree keeps line numbers.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any
from typing import TYPE_CHECKING
from collections.abc import Iterator

if TYPE_CHECKING:
    from lotus_checks.core.store import Store

# Terraform functions whose first argument is a path read at plan time. `fileexists` is left out
# on purpose: it is how a configuration asks whether a file is there.
FILE_FUNCTIONS = frozenset(
    {
        "file",
        "filebase64",
        "filemd5",
        "filesha1",
        "filesha256",
        "filesha512",
        "templatefile",
    }
)
FOLDER_FUNCTIONS = frozenset({"fileset"})

# In a path template: the `${path.module}` part, and any other interpolation (unknown value).
MODULE = "\0module"
UNKNOWN = "\0unknown"


class HclError(Exception):
    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class PathCall:
    """`file("${path.module}/x")` and friends. `parts` is the string's template: literal text,
    `MODULE` or `UNKNOWN`; None when the argument is not a string (a variable, `format()`)."""

    function: str
    parts: tuple[str, ...] | None
    line: int
    column: int

    @property
    def from_module(self) -> bool:
        """The path is `${path.module}` followed by literal text only (so it can be resolved)."""
        return self.parts is not None and len(self.parts) > 0 and self.parts[0] == MODULE

    @property
    def is_folder(self) -> bool:
        return self.function in FOLDER_FUNCTIONS


@dataclass(frozen=True)
class Attribute:
    name: str
    line: int
    column: int
    calls: tuple[PathCall, ...]


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...]
    line: int
    column: int
    attributes: tuple[Attribute, ...]

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


@dataclass(frozen=True)
class HclFile:
    blocks: tuple[Block, ...]
    calls: tuple[PathCall, ...]  # every path call in the file, nested blocks included


def parse_hcl(text: str) -> HclFile:
    """Parse HCL text; HclError (with the position when the parser gives one) if invalid."""
    import hcl2
    from lark.exceptions import LarkError
    from lark.exceptions import UnexpectedCharacters
    from lark.exceptions import UnexpectedEOF
    from lark.exceptions import UnexpectedToken

    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedToken as exc:
        token = exc.token
        what = "end of file" if token.type == "$END" else f"`{_short(str(token))}`"
        raise HclError(f"invalid HCL: unexpected {what}", *_position(exc)) from None
    except UnexpectedCharacters as exc:
        raise HclError(f"invalid HCL: unexpected character {exc.char!r}", *_position(exc)) from None
    except UnexpectedEOF:
        raise HclError("invalid HCL: unexpected end of file") from None
    except RecursionError:
        raise HclError("invalid HCL: nested too deeply to read") from None
    except LarkError as exc:
        raise HclError(f"invalid HCL: {_short(str(exc))}") from None
    body = _child(tree, "body")
    blocks = tuple(_block(node) for node in _children(body, "block")) if body else ()
    return HclFile(blocks=blocks, calls=tuple(_path_calls(tree)))


def _position(exc: Any) -> tuple[int | None, int | None]:
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    if not isinstance(line, int) or line < 1:
        return None, None
    return line, column if isinstance(column, int) and column >= 1 else None


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else repr(text)
    if not first.isprintable():
        first = repr(first)[1:-1]
    return first if len(first) <= 60 else first[:57] + "..."


# ---- tree walking -------------------------------------------------------------------------


def _is_tree(node: Any, name: str | None = None) -> bool:
    return hasattr(node, "data") and (name is None or node.data == name)


def _children(node: Any, name: str) -> list[Any]:
    return [c for c in node.children if _is_tree(c, name)]


def _child(node: Any, name: str) -> Any:
    return next(iter(_children(node, name)), None)


def _line_col(node: Any) -> tuple[int, int]:
    meta = getattr(node, "meta", None)
    line = getattr(meta, "line", None) if meta is not None and not meta.empty else None
    column = getattr(meta, "column", None) if line is not None else None
    return (line or 1), (column or 1)


def _name(node: Any) -> str:
    """Text of an identifier/keyword/literal node (a block type, label or attribute name)."""
    if _is_tree(node, "string"):
        return "".join(str(t) for part in _children(node, "string_part") for t in part.children
                       if not _is_tree(t))
    return "".join(str(t) for t in node.scan_values(lambda v: True))


def _block(node: Any) -> Block:
    names = [c for c in node.children if _is_tree(c) and c.data in ("identifier", "keyword",
                                                                     "literal_value", "string")]
    body = _child(node, "body")
    attributes = []
    for attr in _children(body, "attribute") if body is not None else []:
        name_node = next(c for c in attr.children if _is_tree(c))
        line, column = _line_col(attr)
        attributes.append(Attribute(_name(name_node), line, column, tuple(_path_calls(attr))))
    line, column = _line_col(node)
    return Block(
        type=_name(names[0]) if names else "",
        labels=tuple(_name(n) for n in names[1:]),
        line=line,
        column=column,
        attributes=tuple(attributes),
    )


def _path_calls(tree: Any) -> Iterator[PathCall]:
    for node in tree.iter_subtrees_topdown():
        if node.data != "function_call":
            continue
        ident = _child(node, "identifier")
        name = _name(ident) if ident is not None else ""
        # Provider-namespaced calls (`provider::x::file`) are not Terraform's file().
        if (name not in FILE_FUNCTIONS and name not in FOLDER_FUNCTIONS) or len(
            _children(node, "identifier")
        ) > 1:
            continue
        arguments = _child(node, "arguments")
        first = next((c for c in arguments.children if _is_tree(c)), None) if arguments else None
        line, column = _line_col(first if first is not None else node)
        yield PathCall(name, _template(first), line, column)


def _template(expr: Any) -> tuple[str, ...] | None:
    """The parts of a string-literal expression, or None for anything else."""
    if expr is None:
        return None
    if _is_tree(expr, "expr_term") and len([c for c in expr.children if _is_tree(c)]) == 1:
        inner = next(c for c in expr.children if _is_tree(c))
        if _is_tree(inner, "string"):
            expr = inner
    if not _is_tree(expr, "string"):
        return None
    from hcl2.utils import process_escape_sequences

    parts: list[str] = []
    for part in _children(expr, "string_part"):
        for piece in part.children:
            if _is_tree(piece, "interpolation"):
                parts.append(MODULE if _is_path_module(piece) else UNKNOWN)
            elif _is_tree(piece):
                parts.append(UNKNOWN)  # template directives (%{ if }): value unknown
            else:
                text = str(piece)
                if text.startswith("$${"):
                    text = text[1:]
                parts.append(process_escape_sequences(text))
    return tuple(parts)


def _is_path_module(interpolation: Any) -> bool:
    values = [str(v) for v in interpolation.scan_values(lambda v: True)]
    return "".join(values[1:-1]).replace(" ", "") == "path.module"


def resolve(call: PathCall, module_folder: str) -> str | None:
    """The POSIX path `call` reads, relative to the repo root, when it is `${path.module}` plus
    literal text; None when any part is only known at plan time."""
    if not call.from_module or call.parts is None or UNKNOWN in call.parts[1:]:
        return None
    if MODULE in call.parts[1:]:
        return None
    import posixpath

    rest = "".join(call.parts[1:])
    joined = posixpath.normpath(f"{module_folder}/{rest}") if rest else module_folder
    return joined


def resolve_glob(call: PathCall, module_folder: str) -> str | None:
    """Like `resolve`, with each unknown interpolation as `*` (for matching, never for reading)."""
    if not call.from_module or call.parts is None or MODULE in call.parts[1:]:
        return None
    import posixpath

    rest = "".join("*" if p == UNKNOWN else p for p in call.parts[1:])
    return posixpath.normpath(f"{module_folder}/{rest}") if rest else module_folder


# ---- cache --------------------------------------------------------------------------------------

# Loading hcl2's Lark grammar and parsing is slow per file; a warm run reads the result back.
CACHE_NAMESPACE = "hcl"
CACHE_FORMAT = "1"


def parse_hcl_cached(text: str, cache: Store | None) -> HclFile:
    """`parse_hcl`, with the result (or the syntax error) cached by the file's content (when
    there is a cache)."""
    if cache is None:
        return parse_hcl(text)
    from lotus_checks import __version__
    from lotus_checks.core.store import content_key

    key = content_key(CACHE_FORMAT, __version__, text)
    hit = cache.get(CACHE_NAMESPACE, key)
    if isinstance(hit, dict):
        try:
            if "error" in hit:
                message, line, column = hit["error"]
                raise HclError(message, line, column)
            return _from_json(hit)
        except (KeyError, TypeError, ValueError):
            pass  # an entry from a bad write: parse again
    try:
        parsed = parse_hcl(text)
    except HclError as exc:
        cache.put(CACHE_NAMESPACE, key, {"error": [exc.message, exc.line, exc.column]})
        raise
    cache.put(CACHE_NAMESPACE, key, asdict(parsed))
    return parsed


def _from_json(data: dict[str, Any]) -> HclFile:
    def call(item: dict[str, Any]) -> PathCall:
        parts = item["parts"]
        return PathCall(
            item["function"], tuple(parts) if parts is not None else None,
            item["line"], item["column"],
        )

    blocks = tuple(
        Block(
            block["type"], tuple(block["labels"]), block["line"], block["column"],
            tuple(
                Attribute(a["name"], a["line"], a["column"], tuple(call(c) for c in a["calls"]))
                for a in block["attributes"]
            ),
        )
        for block in data["blocks"]
    )
    return HclFile(blocks=blocks, calls=tuple(call(c) for c in data["calls"]))


# ---- what reads a stream config key ------------------------------------------------------------


@dataclass(frozen=True)
class KeyReader:
    """A resource whose existence or arguments depend on a key of the stream configs (such as
    `backfill`), read by Terraform through `jsondecode(file(...))`.

    `resource` is `type.name`; `connections` maps each source folder to the `airbyte_connection`
    the resource refers to (through its catalog's path; directly or through locals); `sources`
    the source folders it concerns (whose stream configs it reads, or whose connection it
    refers to), empty when they cannot be told;
    `every_apply` is true when its trigger changes on every apply (`timestamp()`, `uuid()`), so
    it runs again each time rather than once."""

    path: str
    line: int
    resource: str
    connections: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]
    every_apply: bool


def key_readers(files: dict[str, str], key: str) -> list[KeyReader]:
    """The resources of `files` (path -> HCL text) that depend on `key`, directly or through
    locals. Files that do not parse are skipped (the input checks report them)."""
    import json
    import re

    word = re.compile(rf"\b{re.escape(key)}\b")
    local_exprs: dict[str, str] = {}
    resources: list[tuple[str, str, str, dict[str, Any]]] = []
    catalogs: dict[str, str] = {}  # connection name -> source folder of its catalog
    for path, text in files.items():
        data = _loads(text)
        for block in data.get("locals", []) if isinstance(data.get("locals"), list) else []:
            for name, value in block.items() if isinstance(block, dict) else ():
                if not name.startswith("__"):
                    local_exprs[name] = json.dumps(value)
        for block in data.get("resource", []) if isinstance(data.get("resource"), list) else []:
            for rtype, named in block.items() if isinstance(block, dict) else ():
                for rname, body in named.items() if isinstance(named, dict) else ():
                    if not isinstance(body, dict):
                        continue
                    kind, name = rtype.strip('"'), rname.strip('"')
                    resources.append((path, kind, name, body))
                    found = re.search(r"([^/\"\\]+)/_catalog\.json", json.dumps(body))
                    if kind == "airbyte_connection" and found:
                        catalogs[name] = found.group(1)

    def uses(expr: str, names: set[str] | dict[str, str]) -> set[str]:
        return {n for n in names if re.search(rf"\blocal\.{re.escape(n)}\b", expr)}

    def closure(start: set[str]) -> set[str]:
        """`start` and the locals they are built from."""
        seen, todo = set(start), list(start)
        while todo:
            more = uses(local_exprs[todo.pop()], local_exprs) - seen
            seen |= more
            todo.extend(more)
        return seen

    reading = {name for name, expr in local_exprs.items() if word.search(expr)}
    while True:  # locals built from locals that read the key
        more = {n for n, e in local_exprs.items() if n not in reading and uses(e, reading)}
        if not more:
            break
        reading |= more
    out = []
    for path, kind, name, body in resources:
        text = json.dumps(body)
        if not word.search(text) and not uses(text, reading):
            continue
        behind = "".join(local_exprs[n] for n in sorted(closure(uses(text, local_exprs))))
        connections = dict.fromkeys(re.findall(r"\bairbyte_connection\.([\w-]+)", text + behind))
        triggers = json.dumps([body.get("triggers"), body.get("triggers_replace")])
        known = tuple((catalogs[c], c) for c in connections if c in catalogs)
        read = re.findall(r'streams/([\w-]+)[/\\"]', text + behind)
        out.append(KeyReader(
            path=path,
            line=_resource_line(files[path], kind, name),
            resource=f"{kind}.{name}",
            connections=known,
            sources=tuple(dict.fromkeys(read + [source for source, _ in known])),
            every_apply=bool(re.search(r"\b(timestamp|uuid)\(\)", triggers)),
        ))
    return out


def _loads(text: str) -> dict[str, Any]:
    import hcl2
    from hcl2.utils import SerializationOptions

    try:
        data = hcl2.loads(text, serialization_options=SerializationOptions(with_comments=False))
    except Exception:  # noqa: BLE001 - any parser failure: the input checks report the file
        return {}
    return data if isinstance(data, dict) else {}


def _resource_line(text: str, kind: str, name: str) -> int:
    import re

    found = re.search(rf'resource\s+"{re.escape(kind)}"\s+"{re.escape(name)}"', text)
    return text.count("\n", 0, found.start()) + 1 if found else 1
