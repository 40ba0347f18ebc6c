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
import sys
import textwrap
from collections.abc import Callable
from types import CodeType, FunctionType, MethodType, ModuleType
from typing import Any

from langgraph_fixed.fixes._base import Fix, Unrecognised, Versions
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

#: How many code objects' analyses to keep at most: no bound. An entry holds a
#: few strings and goes as soon as its code object is collected, so the cache
#: is as large as the set of live analysed ``def``s, never larger; unbounded,
#: a hit needs no lock.
ANALYSIS_CACHE_SIZE: int | None = None

#: ``inspect.getclosurevars`` semantics mirrored by ``_values`` were
#: checked on these Python versions; elsewhere the stdlib function is called.
_MIRRORED_PYTHONS = ((3, 10), (3, 13))

_UPSTREAM_ERRORS = (SyntaxError, TypeError, OSError, SystemError)
_MISSING = object()


#: What to take from one candidate value: each entry is an attribute path to
#: follow from it (``()``: the value itself), in upstream's order.
Actions = tuple[tuple[str, ...], ...]


class NonlocalsAnalysis:
    """What the source of one ``def`` reads from outside, as upstream's visitor sees it.

    Holds only strings: nothing here can reach a user object.
    """

    __slots__ = ("dotted", "names", "order", "own_plan")

    def __init__(self, order: tuple[str, ...]) -> None:
        #: upstream's set of names and dotted attribute chains, in its iteration order
        self.order = order
        self.names = frozenset(order)
        #: (chain, attribute parts after the first) for each dotted name, in order
        self.dotted = tuple((kk, tuple(kk.split(".")[1:])) for kk in order if "." in kk)
        #: the read plan for the analysed code object itself, made on first use
        self.own_plan: ReadPlan | None = None

    def actions(self, name: str) -> Actions:
        """What upstream takes from a global or free variable called ``name``.

        Upstream appends the value itself when ``name`` is in its set, then
        follows every dotted chain that *starts with* ``name`` (a plain string
        prefix test, kept as it is).
        """
        itself: Actions = ((),) if name in self.names else ()
        return itself + tuple(parts for kk, parts in self.dotted if kk.startswith(name))

    def plan(self, code: CodeType) -> ReadPlan:
        """Which globals and cells of ``code`` can contribute, and what each gives."""
        globals_ = tuple(
            (n, actions)
            for n in code.co_names
            if n not in ("None", "True", "False") and (actions := self.actions(n))
        )
        freevars = tuple(
            (i, actions) for i, n in enumerate(code.co_freevars) if (actions := self.actions(n))
        )
        # A name both global and free keeps its global position with the cell's
        # value in upstream's {**globals, **nonlocals}: rare, left to the stdlib.
        overlap = bool({n for n, _ in globals_} & set(code.co_freevars))
        return ReadPlan(globals_, freevars, overlap)


class ReadPlan:
    """Which globals (by name) and cells (by index) of one code object contribute."""

    __slots__ = ("freevars", "globals", "overlap")

    def __init__(
        self,
        globals: tuple[tuple[str, Actions], ...],
        freevars: tuple[tuple[int, Actions], ...],
        overlap: bool,
    ) -> None:
        self.globals = globals
        self.freevars = freevars
        #: whether a free variable name is also a global name of the code
        self.overlap = overlap


def _source_function(func: Any) -> FunctionType | None:
    """The function whose source ``inspect.getsource(func)`` reads, if it is one."""
    obj = inspect.unwrap(func)
    if isinstance(obj, MethodType):
        obj = obj.__func__
    return obj if isinstance(obj, FunctionType) else None


#: Whether ``_values`` reads globals and cells itself (checked Pythons) or
#: calls ``inspect.getclosurevars`` (any other Python).
_MIRROR_GETCLOSUREVARS = _MIRRORED_PYTHONS[0] <= sys.version_info[:2] <= _MIRRORED_PYTHONS[1]


def _candidates(target: FunctionType, plan: ReadPlan) -> list[tuple[Any, Actions]]:
    """The contributing entries of upstream's ``{**globals, **nonlocals}``, in its order.

    For a plain ``dict`` of globals and no name both global and free (the
    other cases go to the stdlib). Leaving out names that contribute nothing
    keeps the relative order of the rest. Every cell is read, as
    ``inspect.getclosurevars`` does, so an empty one raises ``ValueError``
    just the same.
    """
    pairs: list[tuple[Any, Actions]] = []
    global_ns = target.__globals__
    for name, actions in plan.globals:
        value = global_ns.get(name, _MISSING)  # a miss (a builtin: `len`) is common
        if value is not _MISSING:
            pairs.append((value, actions))
    closure = target.__closure__
    if closure is not None:
        contents = []
        for cell in closure:
            contents.append(cell.cell_contents)
        for index, actions in plan.freevars:
            pairs.append((contents[index], actions))
    return pairs


def _candidates_stdlib(
    target: FunctionType, analysis: NonlocalsAnalysis
) -> list[tuple[Any, Actions]]:
    """The same from ``inspect.getclosurevars`` itself: slower, exact by construction."""
    closure = inspect.getclosurevars(target)
    candidates = {**closure.globals, **closure.nonlocals}
    return [(v, actions) for k, v in candidates.items() if (actions := analysis.actions(k))]


def _values(target: FunctionType, analysis: NonlocalsAnalysis, plan: ReadPlan) -> list[Any]:
    """Upstream's values for ``target``: each candidate's own value and attribute chains."""
    if _MIRROR_GETCLOSUREVARS and not plan.overlap and type(target.__globals__) is dict:
        pairs = _candidates(target, plan)
    else:
        pairs = _candidates_stdlib(target, analysis)
    values: list[Any] = []
    for value, actions in pairs:
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
    return values


class FixedGetFunctionNonlocals:
    """Drop-in for ``get_function_nonlocals`` that keeps no reference to its input.

    ``cache_info()`` / ``cache_clear()`` describe the per-code-object analysis
    cache; ``__wrapped__`` is upstream's uncached function.
    """

    def __init__(
        self,
        original: Any,
        visitor: type[ast.NodeVisitor],
        *,
        closure_of_wrapped: bool = True,
    ) -> None:
        self.__langgraph_fixed__ = original  # what it replaced (see fixes._base.MARK)
        self.__wrapped__: Callable[[Any], list[Any]] = original.__wrapped__
        self._visitor = visitor
        self._closure_of_wrapped = closure_of_wrapped
        self._analyses: WeakKeyCache[CodeType, NonlocalsAnalysis | None] = WeakKeyCache(
            ANALYSIS_CACHE_SIZE
        )
        self.__name__ = "get_function_nonlocals"
        self.__qualname__ = "get_function_nonlocals"
        self.__module__ = original.__module__
        self.__doc__ = original.__doc__

    def _analyse_source(self, source: FunctionType) -> NonlocalsAnalysis | None:
        try:
            text = inspect.getsource(source)
            tree = ast.parse(textwrap.dedent(text))
            visitor: Any = self._visitor()
            visitor.visit(tree)
        except _UPSTREAM_ERRORS:
            return None
        return NonlocalsAnalysis(tuple(visitor.nonlocals))

    def _analysis(self, source: FunctionType) -> NonlocalsAnalysis | None:
        return self._analyses.get_or_compute(source.__code__, self._analyse_source, source)

    def __call__(self, func: Callable[..., Any]) -> list[Any]:
        kind = type(func)
        if (kind is FunctionType or kind is MethodType) and not hasattr(func, "__wrapped__"):
            # The common case (node functions, closures, bound methods): the
            # source read and the closure read are of the same function.
            source: Any = func if kind is FunctionType else func.__func__  # type: ignore[attr-defined]
            if type(source) is FunctionType:
                analysis = self._analyses.get_or_compute(
                    source.__code__, self._analyse_source, source
                )
                if analysis is None:
                    return []
                plan = analysis.own_plan
                if plan is None:
                    plan = analysis.own_plan = analysis.plan(source.__code__)
                try:
                    return _values(source, analysis, plan)
                except _UPSTREAM_ERRORS:
                    return []
        return self._call_general(func)

    def _call_general(self, func: Any) -> list[Any]:
        """Decorated functions, and everything that is not a function or method."""
        try:
            source = _source_function(func)
        except Exception:
            source = None
        if source is None:
            # Not a plain function or method (a partial, a builtin, a callable
            # instance, a class, a wrapper loop): upstream's own code decides,
            # and these inputs are cheap for it and leave nothing behind.
            return self.__wrapped__(func)
        analysis = self._analysis(source)
        if analysis is None:
            return []
        try:
            target: Any = func
            if self._closure_of_wrapped and hasattr(func, "__wrapped__"):
                wrapped = func.__wrapped__
                if callable(wrapped):
                    target = wrapped
            if isinstance(target, MethodType):
                target = target.__func__
            if not isinstance(target, FunctionType):
                return []  # inspect.getclosurevars raises TypeError: upstream returns []
            return _values(target, analysis, analysis.plan(target.__code__))
        except _UPSTREAM_ERRORS:
            return []

    def cache_info(self) -> CacheInfo:
        """Statistics of the per-code-object analysis cache."""
        return self._analyses.cache_info()

    def cache_clear(self) -> None:
        self._analyses.cache_clear()

    def cache_parameters(self) -> dict[str, Any]:
        return {"maxsize": self._analyses.maxsize, "typed": False, "weak_keys": True}

    def __repr__(self) -> str:
        return "<langgraph_fixed get_function_nonlocals (weak per-code-object cache)>"


class NonlocalsCacheFix(Fix[tuple[type[ast.NodeVisitor], bool]]):
    name = "get_function_nonlocals"
    summary = "source analysis cached per code object, values read afresh"
    module = "langchain_core.runnables.utils"
    attribute = "get_function_nonlocals"
    applies_to = Versions("langchain-core", since="0.3.19")
    tested = Versions("langchain-core", since="0.3.45", through="1.8.3")
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
    ) -> FixedGetFunctionNonlocals:
        visitor, closure_of_wrapped = recognised
        return FixedGetFunctionNonlocals(original, visitor, closure_of_wrapped=closure_of_wrapped)
