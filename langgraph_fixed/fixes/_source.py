"""Reading upstream's source: the fingerprints that tell a fix the code is the code it knows.

A fingerprint hashes a function's syntax tree with docstrings, annotations,
decorators and formatting left out, written out the same way on every Python
(3.10 - 3.13), so one known value covers every release whose body is the same.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import linecache
import textwrap
from collections.abc import Container, Iterator
from types import CodeType
from typing import Any

from langgraph_fixed.weakcache import WeakKeyCache

__all__ = ["canonical", "function_node", "init_guard", "single_return_call", "source_fingerprint"]

#: Fingerprints already computed in this process, per code object (held weakly):
#: apply() after revert(), and every doctor run, read no source again.
_FINGERPRINTS: WeakKeyCache[CodeType, str] = WeakKeyCache()


def canonical(node: Any) -> str:
    """An AST as text, the same on every Python: fields sorted, empty ones left out.

    ``ast.unparse`` and ``ast.dump`` both vary between Python versions (tuple
    targets in parentheses, new fields such as ``type_params``, omitted
    defaults); leaving out ``None`` and ``[]`` fields makes fields that newer
    Pythons add invisible.
    """
    if isinstance(node, ast.AST):
        fields = []
        for name in sorted(node._fields):
            value = getattr(node, name, None)
            if value is None or value == []:
                continue
            fields.append(f"{name}={canonical(value)}")
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(canonical(item) for item in node) + "]"
    return repr(node)


def _last_lines(code: CodeType) -> Iterator[int]:
    """The source lines ``code`` and the code nested in it were compiled from."""
    positions = getattr(code, "co_positions", None)  # Python 3.11+: where each expression ends
    if positions is not None:
        yield from (end for _, end, _, _ in positions() if end is not None)
    else:
        yield from (line for _, _, line in code.co_lines() if line is not None)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _last_lines(const)


def _from_line_table(func: Any) -> ast.AST | None:
    """The parsed ``def`` of ``func`` from the lines its code was compiled from, without
    the tokenizer that ``inspect.getsource`` runs (the cheap path); None if those
    lines are not a whole ``def`` of that name."""
    code = getattr(func, "__code__", None)
    if not isinstance(code, CodeType):
        return None
    lines = linecache.getlines(code.co_filename, getattr(func, "__globals__", None))
    end = max(_last_lines(code), default=0)
    try:
        node = ast.parse(textwrap.dedent("".join(lines[code.co_firstlineno - 1 : end]))).body[0]
    except (SyntaxError, IndexError):
        return None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
        return node
    return None


def function_node(func: Any, *, cheap: bool = True) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The parsed ``def`` of ``func``, docstring left out (``TypeError`` if not a def).

    With ``cheap``, the text comes from the code object's line table when that
    gives a whole ``def``; a statement that compiles to nothing after the last
    one that does (``pass``, dead code) is then left out. ``cheap=False`` reads
    ``inspect.getsource``, which has it all.
    """
    node = _from_line_table(func) if cheap else None
    if node is None:
        node = ast.parse(textwrap.dedent(inspect.getsource(func))).body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"{func!r} is not a def")
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        node.body = body[1:]
    return node


class _DropAnnotations(ast.NodeTransformer):
    def visit_AnnAssign(self, stmt: ast.AnnAssign) -> ast.AST:
        if stmt.value is None:
            return ast.Pass()
        return ast.Assign(targets=[stmt.target], value=stmt.value)


def _fingerprint(func: Any, cheap: bool = True) -> str:
    node = function_node(func, cheap=cheap)
    node.decorator_list = []
    node.returns = None
    for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
        arg.annotation = None
    text = canonical(_DropAnnotations().visit(node))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_fingerprint(func: Any, known: Container[str] = ()) -> str:
    """A short hash of a function's code, blind to docstrings, annotations and decorators.

    Read the cheap way first (:func:`function_node`); when that is not one of
    ``known``, from ``inspect.getsource``, so that a known fingerprint is only
    ever the fingerprint of the whole source.
    """
    code = getattr(func, "__code__", None)
    if not isinstance(code, CodeType):
        return _fingerprint(func, cheap=False)
    fingerprint = _FINGERPRINTS.get_or_compute(code, _fingerprint, func)
    if fingerprint not in known:
        fingerprint = _fingerprint(func, cheap=False)
        _FINGERPRINTS.put(code, fingerprint)
    return fingerprint


def single_return_call(func: Any) -> str | None:
    """The name called by a body that is one ``return name(...)``, else None."""
    body = function_node(func).body
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    call = body[0].value
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return None
    return call.func.id


def init_guard(init: Any) -> str | None:
    """The attribute an ``__init__`` checks first to run only once (``if hasattr(self, X):
    return``), or None."""
    body = function_node(init).body
    first = body[0] if body else None
    if not (
        isinstance(first, ast.If)
        and isinstance(first.test, ast.Call)
        and isinstance(first.test.func, ast.Name)
        and first.test.func.id == "hasattr"
        and len(first.test.args) == 2
        and isinstance(first.test.args[1], ast.Constant)
        and len(first.body) == 1
        and isinstance(first.body[0], ast.Return)
    ):
        return None
    return str(first.test.args[1].value)
