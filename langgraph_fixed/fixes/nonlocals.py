"""langchain-core's ``get_function_nonlocals`` cache.

The leak
    ``langchain_core.runnables.utils.get_function_nonlocals`` is wrapped in
    ``functools.lru_cache(maxsize=256)``. The key is the callable (a closure
    keeps its cells alive, a bound method its ``__self__``), the result is the
    list of values the function reads. So the last 256 callables analysed stay
    alive with everything they reach. It is called by ``RunnableLambda.deps``
    (``config_specs``, ``get_graph()``, LangGraph's subgraph discovery at
    ``compile()``) on every version, and directly by LangGraph's
    ``find_subgraph_pregel`` for every node on langgraph 0.3.0 - 0.3.15.

The fix
    What does not change between closures of one ``def`` is its code object and
    its source. The replacement caches the source analysis (which names and
    attribute chains the function reads) per code object, held weakly and
    compared by identity, and reads the values afresh from the function's own
    closure and globals at each call. It keeps nothing alive once it returns,
    a new closure of an analysed ``def`` is a cache hit, and the values are
    never stale. It returns what the original uncached function returns, in the
    same order, with the same fallbacks, because it runs upstream's own AST
    visitor and mirrors the rest of the function statement by statement; the
    fingerprints below pin the upstream code it mirrors.
"""

from __future__ import annotations

import ast
import inspect
import keyword
import sys
import textwrap
from collections.abc import Callable
from types import CodeType, FunctionType, MethodType, ModuleType
from typing import Any

from langgraph_fixed.fixes._base import Fix, Unrecognised, Versions, dress, state_of
from langgraph_fixed.weakcache import CacheInfo, WeakKeyCache

#: Normalised source fingerprints (see ``source_fingerprint``; the same on every
#: Python) of the bodies of ``get_function_nonlocals`` this module mirrors, read
#: from every langchain-core release from 0.3.0 to 1.8.4. The value says whether that body reads the
#: closure of ``func.__wrapped__`` (True) or of ``func`` itself (False).
#: 0.3.0 - 0.3.18 had no cache; 0.3.19 - 0.3.31 read ``func``'s closure;
#: 0.3.32 - 0.3.50 and 0.3.51 - 1.8.4 differ only in the shape of one loop.
KNOWN_FINGERPRINTS: dict[str, bool] = {
    "1db57d93b995da1c": False,
    "3daec7c3fb9875ba": True,
    "ced39912c12d32ee": True,
}


#: ``inspect.getclosurevars`` semantics mirrored by ``_values`` were
#: checked on these Python versions; elsewhere the stdlib function is called.
_MIRRORED_PYTHONS = ((3, 10), (3, 13))

_UPSTREAM_ERRORS = (SyntaxError, TypeError, OSError, SystemError)
_MISSING = object()


#: What to take from one candidate value: each entry is an attribute path to
#: follow from it (``()``: the value itself), in upstream's order.
Actions = tuple[tuple[str, ...], ...]
#: The commonest actions: the value itself and nothing else.
_ITSELF: Actions = ((),)

#: Whether the analyses' readers mirror ``inspect.getclosurevars`` (checked
#: Pythons) or every call takes the exact path (any other Python).
_MIRROR_GETCLOSUREVARS = _MIRRORED_PYTHONS[0] <= sys.version_info[:2] <= _MIRRORED_PYTHONS[1]


class NonlocalsAnalysis:
    """What the source of one ``def`` reads from outside, as upstream's visitor
    sees it, and a reader of those values for a function of that ``def``.

    Holds only strings and code made from them: nothing here reaches a user object.
    """

    __slots__ = ("dotted", "names", "order", "read")

    def __init__(self, order: tuple[str, ...], code: CodeType) -> None:
        #: upstream's set of names and dotted attribute chains, in its iteration order
        self.order = order
        self.names = frozenset(order)
        #: (chain, attribute parts after the first) for each dotted name, in order
        self.dotted = tuple((kk, tuple(kk.split(".")[1:])) for kk in order if "." in kk)
        #: ``read(func) -> values`` for a function or method of this code, or
        #: ``None`` when the general or exact path must tell (see :func:`_reader`)
        self.read: Callable[[Any], list[Any] | None] = _no_reader
        if _MIRROR_GETCLOSUREVARS:
            self.read = self._reader_for(code)

    def actions(self, name: str) -> Actions:
        """What upstream takes from a global or free variable called ``name``.

        Upstream appends the value itself when ``name`` is in its set, then
        follows every dotted chain that *starts with* ``name`` (a plain string
        prefix test, kept as it is).
        """
        itself: Actions = _ITSELF if name in self.names else ()
        return itself + tuple(parts for kk, parts in self.dotted if kk.startswith(name))

    def _reader_for(self, code: CodeType) -> Callable[[Any], list[Any] | None]:
        """Which globals and cells of ``code`` contribute, and a reader for them."""
        globals_ = tuple(
            (n, actions)
            for n in code.co_names
            if n not in ("None", "True", "False") and (actions := self.actions(n))
        )
        freevars = tuple(
            (i, actions) for i, n in enumerate(code.co_freevars) if (actions := self.actions(n))
        )
        if {n for n, _ in globals_} & set(code.co_freevars):
            # A name both global and free keeps its global position with the
            # cell's value in upstream's {**globals, **nonlocals}: rare, exact path.
            return _no_reader
        return _reader(globals_, freevars, len(code.co_freevars))


def _no_reader(target: Any) -> None:
    """The reader of an analysis only the exact path can read."""
    return None


def _reader(
    globals: tuple[tuple[str, Actions], ...],
    freevars: tuple[tuple[int, Actions], ...],
    cells: int,
) -> Callable[[Any], list[Any] | None]:
    """A function reading, for one code object, what upstream's function returns.

    It takes what the replacement was called with and answers ``None`` (the
    general path decides) unless that is an undecorated function of the code,
    or a method of one. It reads the contributing entries of upstream's
    ``{**globals, **nonlocals}`` in its order (leaving out what contributes
    nothing keeps the order of the rest), each followed along its actions;
    every cell is read, as ``inspect.getclosurevars`` does, so an empty one
    raises ``ValueError`` just the same. Globals that are not a plain ``dict``
    (whose lookups can run user code) answer ``None`` too. A ``KeyError`` means
    a global went between two reads of it (another thread, free-threaded
    builds only): the caller takes the exact path.

    Written out and compiled once per analysed ``def``, because in a build
    each bytecode on this path costs about as much as a whole ``lru_cache``
    hit; for ``def node(state): return len(p.data)`` it reads::

        def read(target):
            if type(target) is not FUNCTION:
                if type(target) is not METHOD:
                    return None
                target = target.__func__
                if type(target) is not FUNCTION:
                    return None
            if getattr(target, '__wrapped__', MISSING) is not MISSING:
                return None
            namespace = target.__globals__
            if type(namespace) is not dict:
                return None
            closure = target.__closure__
            values = []
            if 'len' in namespace:
                values.append(namespace['len'])
            value = closure[0].cell_contents
            if value is not None:
                try:
                    found = value.data
                except AttributeError:
                    pass
                else:
                    values.append(found)
            return values

    A decorated function's source is another function's, hence the
    ``__wrapped__`` test; a function's only ``__wrapped__`` is in its own
    ``__dict__``, and ``getattr`` with a default neither raises nor creates
    that dict. Names and attributes are identifiers read from the source by
    upstream's visitor, written as string literals (``repr``) or, checked to
    be identifiers, as attribute reads; nothing else comes from outside.
    """
    lines = [
        "def read(target):",
        "    if type(target) is not FUNCTION:",
        "        if type(target) is not METHOD:",
        "            return None",
        "        target = target.__func__",
        "        if type(target) is not FUNCTION:",
        "            return None",
        "    if getattr(target, '__wrapped__', MISSING) is not MISSING:",
        "        return None",
        "    namespace = target.__globals__",
        "    if type(namespace) is not dict:",
        "        return None",
    ]
    if cells:
        lines.append("    closure = target.__closure__")
    contributing = {index for index, _ in freevars}
    lines += [f"    closure[{i}].cell_contents" for i in range(cells) if i not in contributing]
    lines.append("    values = []")
    actions_table: list[Actions] = []

    def take(actions: Actions, read: str, indent: str) -> list[str]:
        if actions == _ITSELF:
            return [f"{indent}values.append({read})"]
        if len(actions) == 1 and len(actions[0]) == 1 and _plain_attribute(actions[0][0]):
            return [
                f"{indent}value = {read}",
                f"{indent}if value is not None:",
                f"{indent}    try:",
                f"{indent}        found = value.{actions[0][0]}",
                f"{indent}    except AttributeError:",
                f"{indent}        pass",
                f"{indent}    else:",
                f"{indent}        values.append(found)",
            ]
        actions_table.append(actions)
        follow = f"follow(value, ACTIONS[{len(actions_table) - 1}], values)"
        return [f"{indent}value = {read}", f"{indent}{follow}"]

    for name, actions in globals:
        lines.append(f"    if {name!r} in namespace:")
        lines += take(actions, f"namespace[{name!r}]", "        ")
    for index, actions in freevars:
        lines += take(actions, f"closure[{index}].cell_contents", "    ")
    lines.append("    return values")
    namespace: dict[str, Any] = {
        "FUNCTION": FunctionType,
        "METHOD": MethodType,
        "MISSING": _MISSING,
        "follow": _follow,
        "ACTIONS": tuple(actions_table),
    }
    exec(compile("\n".join(lines), "<langgraph_fixed nonlocals reader>", "exec"), namespace)
    return namespace["read"]  # type: ignore[no-any-return]


def _plain_attribute(name: str) -> bool:
    """Whether ``value.<name>`` written out reads the attribute ``name`` itself."""
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")


def _follow(value: Any, actions: Actions, values: list[Any]) -> None:
    """Append what each of ``actions`` reaches from ``value``, as upstream does."""
    for parts in actions:
        vv = value
        for part in parts:
            if vv is None:
                break
            try:
                vv = getattr(vv, part)
            except AttributeError:
                break
        else:
            values.append(vv)


def _exact_values(target: FunctionType, analysis: NonlocalsAnalysis) -> list[Any]:
    """Upstream's values for ``target`` through ``inspect.getclosurevars`` itself:
    slower, exact by construction (dict subclasses as globals, a name both
    global and free, a Python whose ``getclosurevars`` is not mirrored)."""
    closure = inspect.getclosurevars(target)
    values: list[Any] = []
    for name, value in {**closure.globals, **closure.nonlocals}.items():
        actions = analysis.actions(name)
        if actions:
            _follow(value, actions, values)
    return values


class NonlocalsAnalyser:
    """The state behind the replacement: upstream's visitor, the analyses held
    per code object, and the path for everything the hot path leaves."""

    def __init__(
        self,
        uncached: Callable[[Any], list[Any]],
        visitor: type[ast.NodeVisitor],
        closure_of_wrapped: bool,
    ) -> None:
        #: upstream's uncached function, for what is not a function or method
        self.uncached = uncached
        self.visitor = visitor
        self.closure_of_wrapped = closure_of_wrapped
        # No bound: an entry holds a few strings and code made from them, and
        # goes as soon as its code object is collected, so the cache is as
        # large as the set of live analysed defs; unbounded, the hot path can
        # read it by id with no lock (identity_index).
        self.analyses: WeakKeyCache[CodeType, NonlocalsAnalysis | None] = WeakKeyCache()

    def cache_info(self) -> CacheInfo:
        """Statistics of the per-code-object analysis cache."""
        return self.analyses.cache_info()

    def cache_clear(self) -> None:
        self.analyses.cache_clear()

    def cache_parameters(self) -> dict[str, Any]:
        return {"maxsize": self.analyses.maxsize, "typed": False, "weak_keys": True}

    def _analyse(self, source: FunctionType) -> NonlocalsAnalysis | None:
        try:
            text = inspect.getsource(source)
            tree = ast.parse(textwrap.dedent(text))
            visitor: Any = self.visitor()
            visitor.visit(tree)
        except _UPSTREAM_ERRORS:
            return None
        return NonlocalsAnalysis(tuple(visitor.nonlocals), source.__code__)

    def values(self, func: Any) -> list[Any]:
        """Upstream's answer for any ``func``: the first call of a ``def``,
        decorated functions, and everything that is not a function or method."""
        try:
            source = _source_function(func)
        except Exception:
            source = None
        if source is None:
            # Not a plain function or method (a partial, a builtin, a callable
            # instance, a class, a wrapper loop): upstream's own code decides,
            # and these inputs are cheap for it and leave nothing behind.
            return self.uncached(func)
        analysis = self.analyses.get_or_compute(source.__code__, self._analyse, source)
        if analysis is None:
            return []
        try:
            target: Any = func
            if self.closure_of_wrapped and hasattr(func, "__wrapped__"):
                wrapped = func.__wrapped__
                if callable(wrapped):
                    target = wrapped
            if isinstance(target, MethodType):
                target = target.__func__
            if not isinstance(target, FunctionType):
                return []  # inspect.getclosurevars raises TypeError: upstream returns []
            if target.__code__ is source.__code__:
                try:
                    found = analysis.read(target)
                except KeyError:  # a global went while read: the exact path
                    found = None
                if found is not None:
                    return found
            return _exact_values(target, analysis)
        except _UPSTREAM_ERRORS:
            return []


def _source_function(func: Any) -> FunctionType | None:
    """The function whose source ``inspect.getsource(func)`` reads, if it is one."""
    obj = inspect.unwrap(func)
    if isinstance(obj, MethodType):
        obj = obj.__func__
    return obj if isinstance(obj, FunctionType) else None


def fixed_get_function_nonlocals(
    original: Any, visitor: type[ast.NodeVisitor], *, closure_of_wrapped: bool = True
) -> Callable[[Any], list[Any]]:
    """The drop-in for upstream's ``get_function_nonlocals`` (``original``):
    a plain function (the cheapest thing to call) that keeps no reference to
    its input. Its ``cache_info()`` / ``cache_clear()`` describe the
    per-code-object analysis cache; ``__wrapped__`` is upstream's uncached
    function."""
    analyser = NonlocalsAnalyser(original.__wrapped__, visitor, closure_of_wrapped)
    index, hits = analyser.analyses.identity_index()
    values = analyser.values

    def get_function_nonlocals(func: Callable[..., Any]) -> list[Any]:
        # The hot path of compile(): the reader of the analysed code answers
        # for a function or bound method of an undecorated def, and None for
        # anything else. Nothing on it but a dict read, builtins and the
        # reader itself: in a build, each bytecode here costs about as much
        # as a whole lru_cache hit.
        try:
            read = index[id(func.__code__)].read  # type: ignore[union-attr]
        except Exception:
            # not analysed yet (KeyError), no analysis (None), no __code__, or
            # a callable whose attribute lookup fails: the general path
            return values(func)
        try:
            found = read(func)
        except _UPSTREAM_ERRORS:
            return []
        except KeyError:
            return values(func)
        if found is None:
            return values(func)
        next(hits)
        return found

    return dress(get_function_nonlocals, original, analyser)


def is_replacement(obj: Any) -> bool:
    """Whether ``obj`` is a function made by :func:`fixed_get_function_nonlocals`."""
    return isinstance(state_of(obj), NonlocalsAnalyser)


class NonlocalsCacheFix(Fix[tuple[type[ast.NodeVisitor], bool]]):
    name = "get_function_nonlocals"
    summary = "source analysis cached per code object, values read afresh"
    module = "langchain_core.runnables.utils"
    attribute = "get_function_nonlocals"
    applies_to = Versions("langchain-core", since="0.3.19")
    tested = Versions("langchain-core", since="0.3.22", through="1.8.3")
    lru = True
    fingerprints = KNOWN_FINGERPRINTS

    def check(
        self, original: Any, module: ModuleType, variant: bool
    ) -> tuple[type[ast.NodeVisitor], bool]:
        visitor = getattr(module, "FunctionNonLocals", None)
        if not (isinstance(visitor, type) and issubclass(visitor, ast.NodeVisitor)):
            raise Unrecognised("the FunctionNonLocals visitor is missing")
        return visitor, variant

    def build(
        self, original: Any, recognised: tuple[type[ast.NodeVisitor], bool]
    ) -> Callable[[Any], list[Any]]:
        visitor, closure_of_wrapped = recognised
        return fixed_get_function_nonlocals(
            original, visitor, closure_of_wrapped=closure_of_wrapped
        )
