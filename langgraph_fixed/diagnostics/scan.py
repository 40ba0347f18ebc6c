"""Every cache in the installed LangGraph and LangChain sources, and what we know of each.

``langgraph-fixed scan`` reads the sources of the installed distributions with
:mod:`ast` (it imports none of them) and lists every cache it finds, with the
verdict: fixed by one of our fixes, known safe
(:data:`langgraph_fixed.diagnostics.caches.KNOWN_SAFE`, with the reason), safe by its signature, or
*new*: it may receive user objects and nobody has looked at it yet. With
``--fail-on-new`` the last kind fails the command, so CI notices the day an
upstream release adds a leak site.

What counts as a cache (a heuristic: it finds what the README's table lists,
and may miss caches built in unusual ways):

- a function or method decorated with ``functools.lru_cache`` (bare, called,
  with ``maxsize`` positional or by keyword) or ``functools.cache``, under any
  import form (``import functools as ft``, ``from functools import lru_cache
  as memo``); also ``name = lru_cache(...)(function)`` at module or class level.
  A name is only taken for ``functools``'s when the module imported it from
  ``functools``;
- a module-level name bound to an *empty* container (``{}``, ``dict()``,
  ``set()``, ``defaultdict(...)``, ``OrderedDict()``, ``Counter()``,
  ``WeakKeyDictionary()``, ``WeakValueDictionary()``, ``WeakSet()``) that some
  function of the module writes to: ``NAME[key] = ...`` (also
  ``NAME[a][b] = ...``), or ``NAME.setdefault / update / add / append / extend``
  (also on ``NAME[key]``), where the function does not bind ``NAME`` locally;
- the same for a class attribute, written through ``cls.NAME``,
  ``Class.NAME`` or ``self.NAME`` (unless some method assigns ``self.NAME``,
  which makes it per instance).

``functools.cached_property`` is not listed: it stores the value on the
instance, and it goes with it.

Whether a cache may receive user objects is judged from the parameters (for a
container: the parts it holds strongly, from its annotation):

- ``self`` / ``cls`` of a method, an un-annotated parameter, ``Any``,
  ``object``, ``type``, ``Callable``, classes (``BaseModel``, ...), anything
  unknown: *may receive user objects*;
- ``str``, ``int``, ``float``, ``bool``, ``bytes``, ``None``, ``Literal[...]``,
  enums defined in the same module, and ``Optional`` / unions / tuples /
  frozensets of those: *hashable scalars only*.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import importlib.util
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_fixed.diagnostics.caches import known_safe
from langgraph_fixed.fixes import FIXES, Fix

__all__ = [
    "DEFAULT_DISTRIBUTIONS",
    "FoundCache",
    "Parameter",
    "ScanResult",
    "distribution_sources",
    "format_table",
    "judge",
    "path_sources",
    "scan",
    "scan_source",
]

#: What ``langgraph-fixed scan`` reads when no distribution is named (absent ones skipped).
DEFAULT_DISTRIBUTIONS = (
    "langgraph",
    "langgraph-prebuilt",
    "langgraph-checkpoint",
    "langchain-core",
    "langchain",
    "langsmith",
)

#: Verdicts, from best known to unknown; only ``new`` fails ``--fail-on-new``.
FIXED, SAFE, NO_ARGUMENTS, SCALARS, WEAK, NEW = (
    "fixed",
    "safe",
    "no arguments",
    "scalars only",
    "weak only",
    "new",
)

_LRU_DEFAULT_MAXSIZE = 128
_CACHE_DECORATORS = frozenset({"lru_cache", "cache"})
_CONTAINERS = frozenset(
    {
        "dict",
        "set",
        "defaultdict",
        "OrderedDict",
        "Counter",
        "WeakKeyDictionary",
        "WeakValueDictionary",
        "WeakSet",
    }
)
_MUTATORS = frozenset({"setdefault", "update", "add", "append", "extend", "__setitem__"})
_SCALAR_NAMES = frozenset(
    {
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "complex",
        "None",
        "NoneType",
        "LiteralString",
        "Ellipsis",
    }
)
#: Generic types whose arguments decide (all scalar: scalar).
_TRANSPARENT_GENERICS = frozenset(
    {"Optional", "Union", "tuple", "Tuple", "frozenset", "FrozenSet", "list", "List", "set", "Set"}
)


@dataclass(frozen=True)
class Parameter:
    """One input of a cache: a parameter of the cached function, or a part a container holds."""

    name: str
    annotation: str | None
    user_objects: bool

    def __str__(self) -> str:
        return self.name if self.annotation is None else f"{self.name}: {self.annotation}"


@dataclass(frozen=True)
class FoundCache:
    """A cache found in the sources, with the verdict on it."""

    module: str
    qualname: str
    line: int
    file: str
    #: ``lru_cache``, ``cache``, or the container (``dict``, ``WeakKeyDictionary``, ...)
    kind: str
    #: None: unbounded; an int; or the text of a non-literal expression
    maxsize: int | str | None
    parameters: tuple[Parameter, ...]
    #: for containers: the lines that write to it
    written_at: tuple[int, ...] = ()
    distribution: str | None = None
    verdict: str = ""
    fix: str | None = None
    reason: str = ""

    @property
    def location(self) -> str:
        return f"{self.module}:{self.qualname}:{self.line}"

    @property
    def user_objects(self) -> bool:
        """Whether the cache may hold an object the caller passed in (the heuristic)."""
        return any(p.user_objects for p in self.parameters)

    @property
    def new(self) -> bool:
        return self.verdict == NEW

    def as_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "module": self.module,
            "qualname": self.qualname,
            "line": self.line,
            "file": self.file,
            "distribution": self.distribution,
            "kind": self.kind,
            "maxsize": self.maxsize,
            "parameters": [dataclasses.asdict(p) for p in self.parameters],
            "written_at": list(self.written_at),
            "may_receive_user_objects": self.user_objects,
            "verdict": self.verdict,
            "fix": self.fix,
            "reason": self.reason,
        }


@dataclass
class ScanResult:
    """Everything one scan found, and what it could not read."""

    caches: list[FoundCache] = field(default_factory=list)
    #: distribution name -> version (None: not installed)
    distributions: dict[str, str | None] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    #: files that could not be parsed, with the reason
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0

    @property
    def new(self) -> list[FoundCache]:
        return [c for c in self.caches if c.new]

    def as_json(self) -> dict[str, Any]:
        return {
            "distributions": self.distributions,
            "paths": self.paths,
            "files": self.files,
            "caches": [c.as_json() for c in self.caches],
            "new": [c.location for c in self.new],
            "unreadable": [{"file": f, "reason": r} for f, r in self.unreadable],
            "ok": not self.new,
        }


# --- reading one module ------------------------------------------------------


def _last_name(node: ast.expr) -> str | None:
    """``x`` for ``x``, ``a.b.x`` and ``x[...]``: the name a type or callee ends with."""
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _text(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


class _ModuleReader:
    """Finds the caches of one parsed module."""

    def __init__(self, module: str, tree: ast.Module, file: str) -> None:
        self.module = module
        self.tree = tree
        self.file = file
        self.functools: set[str] = set()  # names bound to the functools module
        self.decorators: dict[str, str] = {}  # local name -> "lru_cache" | "cache"
        self.enums: set[str] = set()
        self.found: list[FoundCache] = []
        self._read_imports()

    def _read_imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "functools":
                        self.functools.add(alias.asname or "functools")
            elif isinstance(node, ast.ImportFrom) and node.module == "functools" and not node.level:
                for alias in node.names:
                    if alias.name in _CACHE_DECORATORS:
                        self.decorators[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ClassDef) and any(
                (_last_name(base) or "").endswith(("Enum", "Flag")) for base in node.bases
            ):
                self.enums.add(node.name)

    # -- lru_cache / cache ----------------------------------------------------

    def _cache_callee(self, node: ast.expr) -> str | None:
        """``lru_cache`` or ``cache`` if ``node`` names functools's, else None."""
        if isinstance(node, ast.Name):
            return self.decorators.get(node.id)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.functools
            and node.attr in _CACHE_DECORATORS
        ):
            return node.attr
        return None

    def _decorator(self, node: ast.expr) -> tuple[str, int | str | None] | None:
        """(kind, maxsize) if ``node`` is a functools cache decorator, else None."""
        kind = self._cache_callee(node)
        if kind is not None:
            return kind, (_LRU_DEFAULT_MAXSIZE if kind == "lru_cache" else None)
        if isinstance(node, ast.Call):
            kind = self._cache_callee(node.func)
            if kind == "lru_cache":
                given: ast.expr | None = node.args[0] if node.args else None
                for keyword in node.keywords:
                    if keyword.arg == "maxsize":
                        given = keyword.value
                return kind, self._maxsize(given)
        return None

    @staticmethod
    def _maxsize(node: ast.expr | None) -> int | str | None:
        if node is None:
            return _LRU_DEFAULT_MAXSIZE
        if isinstance(node, ast.Constant) and (node.value is None or type(node.value) is int):
            return node.value
        return ast.unparse(node)

    def _applied_cache(self, value: ast.expr) -> tuple[str, int | str | None, str | None] | None:
        """For ``lru_cache(...)(f)``, ``lru_cache(f)``, ``cache(f)``: (kind, maxsize, ``f``)."""
        if not isinstance(value, ast.Call) or len(value.args) != 1 or value.keywords:
            return None
        arg = value.args[0]
        if isinstance(value.func, ast.Call):
            found = self._decorator(value.func)
        else:
            kind = self._cache_callee(value.func)
            if kind is None or isinstance(arg, ast.Constant):  # lru_cache(256): a decorator
                return None
            found = kind, (_LRU_DEFAULT_MAXSIZE if kind == "lru_cache" else None)
        if found is None:
            return None
        return found[0], found[1], arg.id if isinstance(arg, ast.Name) else None

    # -- parameters -------------------------------------------------------------

    def scalar(self, node: ast.expr | None, depth: int = 0) -> bool:
        """Whether an annotation admits only hashable scalars (see the module docstring)."""
        if node is None or depth > 12:
            return False
        if isinstance(node, ast.Constant):
            if node.value is None or node.value is Ellipsis:
                return True
            if isinstance(node.value, str):  # a forward reference
                try:
                    parsed = ast.parse(node.value, mode="eval").body
                except SyntaxError:
                    return False
                return self.scalar(parsed, depth + 1)
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.scalar(node.left, depth + 1) and self.scalar(node.right, depth + 1)
        if isinstance(node, ast.Subscript):
            base = _last_name(node.value)
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if base == "Literal":
                return True
            if base == "Annotated":
                return self.scalar(args[0], depth + 1)
            if base in _TRANSPARENT_GENERICS:
                return all(self.scalar(arg, depth + 1) for arg in args)
            return False
        name = _last_name(node)
        return name is not None and (name in _SCALAR_NAMES or name in self.enums)

    def _parameters(
        self, func: ast.FunctionDef | ast.AsyncFunctionDef, method: bool
    ) -> list[Parameter]:
        args = func.args
        ordered = [*args.posonlyargs, *args.args]
        names = {_last_name(d) for d in func.decorator_list}
        params = []
        for index, arg in enumerate([*ordered, args.vararg, *args.kwonlyargs, args.kwarg]):
            if arg is None:
                continue
            if index == 0 and method and "staticmethod" not in names and ordered:
                # the instance (or the class): whatever the caller made
                params.append(Parameter(arg.arg, _text(arg.annotation), True))
                continue
            params.append(
                Parameter(arg.arg, _text(arg.annotation), not self.scalar(arg.annotation))
            )
        return params

    def _add(
        self,
        qualname: str,
        node: ast.stmt,
        kind: str,
        maxsize: int | str | None,
        params: Sequence[Parameter],
        written_at: Sequence[int] = (),
    ) -> None:
        self.found.append(
            FoundCache(
                self.module,
                qualname,
                node.lineno,
                self.file,
                kind,
                maxsize,
                tuple(params),
                tuple(written_at),
            )
        )

    # -- the walk ---------------------------------------------------------------

    def read(self) -> list[FoundCache]:
        self._walk(self.tree.body, prefix="", cls=None)
        self._containers(self.tree.body, owner=None, prefix="")
        return self.found

    def _walk(self, body: Sequence[ast.stmt], prefix: str, cls: ast.ClassDef | None) -> None:
        defs = {
            stmt.name: stmt
            for stmt in body
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = prefix + stmt.name
                for decorator in stmt.decorator_list:
                    found = self._decorator(decorator)
                    if found is not None:
                        params = self._parameters(stmt, method=cls is not None)
                        self._add(qualname, stmt, found[0], found[1], params)
                        break
                self._walk(stmt.body, f"{qualname}.<locals>.", None)
            elif isinstance(stmt, ast.ClassDef):
                qualname = prefix + stmt.name
                self._walk(stmt.body, f"{qualname}.", stmt)
                self._containers(stmt.body, owner=stmt, prefix=f"{qualname}.")
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                applied = self._applied_cache(stmt.value)
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if applied is None:
                    continue
                kind, maxsize, wrapped = applied
                func = defs.get(wrapped or "")
                params = (
                    self._parameters(func, method=cls is not None)
                    if func is not None
                    else [Parameter("*args", None, True)]
                )
                for target in targets:
                    if isinstance(target, ast.Name):
                        self._add(prefix + target.id, stmt, kind, maxsize, params)
            elif isinstance(stmt, (ast.If, ast.Try, ast.With)):
                # definitions under `if TYPE_CHECKING`/version checks/`try: import`
                for block in _blocks(stmt):
                    self._walk(block, prefix, cls)

    # -- containers -------------------------------------------------------------

    def _container_kind(self, value: ast.expr | None) -> str | None:
        if isinstance(value, ast.Dict) and not value.keys:
            return "dict"
        if isinstance(value, ast.Call):
            name = _last_name(value.func)
            if name in _CONTAINERS and (not value.args or name == "defaultdict"):
                return name
        return None

    def _containers(
        self, body: Sequence[ast.stmt], owner: ast.ClassDef | None, prefix: str
    ) -> None:
        candidates: dict[str, tuple[ast.stmt, str, ast.expr | None]] = {}
        for stmt in _flatten(body):
            if isinstance(stmt, ast.Assign):
                kind = self._container_kind(stmt.value)
                for target in stmt.targets:
                    if kind and isinstance(target, ast.Name):
                        candidates[target.id] = (stmt, kind, None)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                kind = self._container_kind(stmt.value)
                if kind:
                    candidates[stmt.target.id] = (stmt, kind, stmt.annotation)
        if not candidates:
            return
        if owner is None:
            writes = self._module_writes(set(candidates))
        else:
            writes = self._class_writes(owner, set(candidates))
        for name, (stmt, kind, annotation) in candidates.items():
            lines = writes.get(name)
            if lines:
                self._add(
                    prefix + name,
                    stmt,
                    kind,
                    None,
                    self._held(kind, annotation),
                    sorted(set(lines)),
                )

    def _held(self, kind: str, annotation: ast.expr | None) -> list[Parameter]:
        """What a container holds strongly, from its annotation: keys, values or items."""
        if kind == "WeakSet":
            return []
        mapping = kind not in ("set",)
        parts = ["key", "value"] if mapping else ["item"]
        strong = {"WeakKeyDictionary": ["value"], "WeakValueDictionary": ["key"]}.get(kind, parts)
        args: list[ast.expr | None] = [None] * len(parts)
        if isinstance(annotation, ast.Subscript):
            sub = annotation.slice
            given = list(sub.elts) if isinstance(sub, ast.Tuple) else [sub]
            if len(given) == len(parts):
                args = list(given)
        return [
            Parameter(part, _text(arg), not self.scalar(arg))
            for part, arg in zip(parts, args, strict=True)
            if part in strong
        ]

    def _module_writes(self, names: set[str]) -> dict[str, list[int]]:
        helpers = _mutating_helpers(self.tree)
        writes: dict[str, list[int]] = {}
        for func in _functions(self.tree):
            local = _local_names(func) - _global_names(func)
            found = [*_writes(func, _name_of), *_passed_to_helpers(func, helpers)]
            for name, line in found:
                if name in names and name not in local:
                    writes.setdefault(name, []).append(line)
        return writes

    def _class_writes(self, owner: ast.ClassDef, names: set[str]) -> dict[str, list[int]]:
        per_instance = {
            target.attr
            for func in _functions(owner)
            for node in ast.walk(func)
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
        }
        receivers = {"cls", "self", owner.name}

        def attribute_of(base: ast.expr) -> str | None:
            if (
                isinstance(base, ast.Attribute)
                and isinstance(base.value, ast.Name)
                and base.value.id in receivers
            ):
                return base.attr
            return None

        writes: dict[str, list[int]] = {}
        for func in [*_functions(owner), *_functions(self.tree)]:
            for name, line in _writes(func, attribute_of):
                if name in names and name not in per_instance:
                    writes.setdefault(name, []).append(line)
        return writes


def _blocks(stmt: ast.If | ast.Try | ast.With) -> list[list[ast.stmt]]:
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, ast.Try):
        return [stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody]
    return [stmt.body]


def _flatten(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a body, looking into ``if`` / ``try`` / ``with`` blocks."""
    for stmt in body:
        if isinstance(stmt, (ast.If, ast.Try, ast.With)):
            for block in _blocks(stmt):
                yield from _flatten(block)
        else:
            yield stmt


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _local_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names ``func`` binds itself (parameters and plain assignments), not in nested defs."""
    args = func.args
    names = {
        a.arg
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        if a is not None
    }
    for node in _own_nodes(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _global_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {n for node in _own_nodes(func) if isinstance(node, ast.Global) for n in node.names}


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of functions or classes nested in it."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _name_of(base: ast.expr) -> str | None:
    return base.id if isinstance(base, ast.Name) else None


def _root(node: ast.expr) -> ast.expr:
    """``x`` for ``x[a][b]``: the container a chain of subscripts starts from."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return node


def _writes(func: ast.AST, resolve: Callable[[ast.expr], str | None]) -> Iterator[tuple[str, int]]:
    """(container name, line) for each write in ``func``'s own body (see the module docs)."""
    for node in _own_nodes(func):
        line: int = getattr(node, "lineno", 0)
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript):
                name = resolve(_root(target))
                if name is not None:
                    yield name, line
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATORS
        ):
            name = resolve(_root(node.func.value))
            if name is not None:
                yield name, line


def _mutating_helpers(tree: ast.Module) -> dict[str, tuple[list[str], set[str]]]:
    """Module-level functions that write to a parameter: name -> (parameters, written ones).

    So that ``_warn_once(_seen, key)`` counts as a write to ``_seen`` when
    ``_warn_once`` does ``seen.add(key)``.
    """
    helpers = {}
    for stmt in _flatten(tree.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = stmt.args
            params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
            written = {name for name, _ in _writes(stmt, _name_of) if name in params}
            if written:
                helpers[stmt.name] = (params, written)
    return helpers


def _passed_to_helpers(
    func: ast.AST, helpers: dict[str, tuple[list[str], set[str]]]
) -> Iterator[tuple[str, int]]:
    """(name, line) for each name ``func`` passes where a helper writes to its parameter."""
    for node in _own_nodes(func):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        helper = helpers.get(node.func.id)
        if helper is None:
            continue
        params, written = helper
        passed = [*zip(params, node.args, strict=False), *((k.arg, k.value) for k in node.keywords)]
        for param, value in passed:
            if param in written and isinstance(value, ast.Name):
                yield value.id, node.lineno


def scan_source(source: str, module: str, file: str = "<string>") -> list[FoundCache]:
    """The caches found in one module's source (without verdicts; see :func:`judge`)."""
    tree = ast.parse(source, filename=file)
    return _ModuleReader(module, tree, file).read()


# --- verdicts ------------------------------------------------------------------


def judge(cache: FoundCache, fixes: Iterable[Fix[Any]] = FIXES) -> FoundCache:
    """``cache`` with its verdict: fixed, safe, no arguments, scalars only, weak only or new."""
    for fix in fixes:
        if fix.module == cache.module and cache.qualname in fix.covers:
            return dataclasses.replace(
                cache, verdict=FIXED, fix=fix.name, reason=f"fixed by {fix.name}: {fix.summary}"
            )
    why = known_safe(cache.module, cache.qualname)
    if why is not None:
        return dataclasses.replace(cache, verdict=SAFE, reason=why)
    if cache.maxsize == 0:
        return dataclasses.replace(cache, verdict=SAFE, reason="maxsize=0 stores nothing")
    if not cache.parameters:
        if cache.kind in ("lru_cache", "cache"):
            return dataclasses.replace(cache, verdict=NO_ARGUMENTS, reason="one entry")
        return dataclasses.replace(cache, verdict=WEAK, reason="holds nothing strongly")
    if not cache.user_objects:
        return dataclasses.replace(
            cache, verdict=SCALARS, reason="hashable scalars only (from the annotations)"
        )
    receives = ", ".join(str(p) for p in cache.parameters if p.user_objects)
    return dataclasses.replace(
        cache,
        verdict=NEW,
        reason=f"may receive user objects ({receives}); neither fixed nor known safe",
    )


# --- where the sources are -----------------------------------------------------


def _module_name(parts: Sequence[str]) -> str | None:
    """``a.b`` for ``a/b.py`` and ``a/b/__init__.py``; None for what is not importable."""
    if not parts or not parts[-1].endswith(".py"):
        return None
    names = [*parts[:-1], parts[-1][: -len(".py")]]
    if names[-1] == "__init__":
        names.pop()
    if not names or not all(n.isidentifier() for n in names):
        return None
    return ".".join(names)


def _is_test(module: str) -> bool:
    return any(part in ("tests", "test") for part in module.split("."))


def distribution_sources(name: str) -> tuple[str | None, list[tuple[str, Path]]]:
    """(version or None if not installed, [(module, file)]) for a distribution's sources."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None, []
    sources: list[tuple[str, Path]] = []
    for file in dist.files or ():
        module = _module_name(file.parts)
        if module is None or _is_test(module):
            continue
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            sources.append((module, path))
    if not sources:  # an editable install: follow the import system instead
        top_level = (dist.read_text("top_level.txt") or "").split() or [name.replace("-", "_")]
        for package in top_level:
            sources.extend(_spec_sources(package))
    return dist.version, sources


def _spec_sources(package: str) -> list[tuple[str, Path]]:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        found = []
        for location in spec.submodule_search_locations:
            found.extend(path_sources(Path(location), package))
        return found
    return [(package, Path(spec.origin))] if spec.origin and spec.origin.endswith(".py") else []


def path_sources(root: Path, package: str | None = None) -> list[tuple[str, Path]]:
    """(module, file) for every ``.py`` file under ``root``.

    A package directory (with ``__init__.py``) is named after itself; any other
    directory is read as an entry of ``sys.path``, its children as top-level
    modules and packages.
    """
    root = root.resolve()
    if root.is_file():
        return [(root.stem, root)] if root.suffix == ".py" else []
    if package is None and (root / "__init__.py").exists():
        package = root.name
    prefix = package.split(".") if package else []
    sources = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).parts
        if "__pycache__" in relative:
            continue
        module = _module_name([*prefix, *relative])
        if module is not None and not _is_test(module):
            sources.append((module, path))
    return sources


def scan(
    distributions: Sequence[str] | None = None,
    paths: Sequence[str | Path] = (),
    fixes: Iterable[Fix[Any]] = FIXES,
) -> ScanResult:
    """Read the sources of ``distributions`` (default: :data:`DEFAULT_DISTRIBUTIONS`,
    unless only ``paths`` are given) and of ``paths``; every cache, judged."""
    if distributions is None:
        distributions = () if paths else DEFAULT_DISTRIBUTIONS
    fixes = tuple(fixes)
    result = ScanResult(paths=[str(p) for p in paths])
    work: list[tuple[str | None, str, Path]] = []
    for name in distributions:
        version, sources = distribution_sources(name)
        result.distributions[name] = version
        work.extend((name, module, path) for module, path in sources)
    for root in paths:
        work.extend((None, module, path) for module, path in path_sources(Path(root)))
    seen: set[Path] = set()
    for dist, module, path in work:
        if path in seen:
            continue
        seen.add(path)
        result.files += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                found = scan_source(path.read_text(encoding="utf-8"), module, str(path))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError, RecursionError) as exc:
            result.unreadable.append((str(path), f"{type(exc).__name__}: {str(exc)[:200]}"))
            continue
        for cache in found:
            result.caches.append(judge(dataclasses.replace(cache, distribution=dist), fixes))
    result.caches.sort(key=lambda c: (c.module, c.line))
    return result


def format_table(result: ScanResult) -> str:
    """The scan as a plain-text table, with a summary."""
    header = ("location", "kind", "maxsize", "parameters", "user objects", "verdict")
    rows = [header]
    for c in result.caches:
        maxsize = "unbounded" if c.maxsize is None else str(c.maxsize)
        params = ", ".join(str(p) for p in c.parameters) or "-"
        verdict = c.verdict.upper() if c.new else c.verdict
        if c.verdict == FIXED:
            verdict = f"fixed ({c.fix})"
        rows.append(
            (c.location, c.kind, maxsize, params, "may" if c.user_objects else "no", verdict)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    sources = [f"{n} {v}" for n, v in result.distributions.items() if v]
    sources += [f"path {path}" for path in result.paths]
    absent = [n for n, v in result.distributions.items() if v is None]
    summary = [
        "",
        f"Scanned {result.files} files: {', '.join(sources) or 'nothing'}"
        + (f" (not installed: {', '.join(absent)})" if absent else ""),
    ]
    counts: dict[str, int] = {}
    for c in result.caches:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    order = (FIXED, SAFE, NO_ARGUMENTS, SCALARS, WEAK, NEW)
    summary.append(
        f"{len(result.caches)} caches: "
        + ", ".join(f"{counts[v]} {v}" for v in order if v in counts)
    )
    for path, reason in result.unreadable:
        summary.append(f"could not read {path}: {reason}")
    if result.new:
        summary.append("\nNew caches that may receive user objects (neither fixed nor known safe):")
        summary.extend(f"  {c.location}  ({c.file}:{c.line}): {c.reason}" for c in result.new)
    return "\n".join(lines + summary)
