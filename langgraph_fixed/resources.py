"""Close what a graph's tools hold (connections, files, pools) when the graph or request ends.

Fixing the reference leak lets a dropped graph be freed, but freeing is not
closing: CPython frees objects caught in reference cycles only at the next
collection, and nothing closes a database connection because the graph that
used it was dropped. A retriever tool built per request needs its connection
closed at a known point. Two tools here make that explicit:

- :func:`on_release` ties a closer to an object's life: it runs once, when the
  object is garbage-collected or at interpreter exit, whichever comes first;
- :func:`closing` is a ``with`` / ``async with`` block that, on exit, closes
  every resource reachable from a graph, tool node, tool or retriever.

What :func:`closing` walks (and nothing else):

- ``list``, ``tuple``, ``set``, ``frozenset`` items and ``dict`` values (not a
  module's namespace);
- a compiled graph's ``nodes`` and each node's ``bound`` runnable, so subgraphs
  used as nodes are walked too; ``ToolNode.tools_by_name``;
  ``RunnableSequence.steps``, ``RunnableParallel.steps__``,
  ``RunnableBinding.bound``, ``RunnableWithFallbacks.runnable`` / ``fallbacks``,
  ``RunnableAssign.mapper``, ``RouterRunnable.runnables``, configurable
  ``default`` / ``alternatives``, ``RunnableLambda`` / node ``func`` and ``afunc``;
- a function's closure cells and default arguments (never its globals: those are
  module-level and shared; and never ``RunnableLambda.deps``, which parses source
  through the very cache this package fixes); a ``functools.partial``'s function
  and arguments; a bound method's ``__self__``;
- the pydantic fields, private attributes and extras of tools (``BaseTool``) and
  retrievers (``BaseRetriever``), except ``callbacks``, ``callback_manager``,
  ``tags`` and ``metadata``.

Anything else reached is a leaf: closed if it is a resource, never looked into.
Modules, classes, code objects, generators, documents and messages are never
visited. A compiled graph's ``checkpointer``, ``store`` and ``cache`` are not
walked: they are usually shared by every request.
"""

from __future__ import annotations

import builtins
import enum
import functools
import inspect
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final, Generic, TypeVar

from langgraph_fixed._status import LangGraphFixedWarning
from langgraph_fixed.weakcache import WeakKeyCache, weak_key_cache

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_OBJECTS",
    "CloseErrorGroup",
    "ReleaseHandle",
    "closing",
    "on_release",
]

_T = TypeVar("_T")

#: How many links :func:`closing` follows from its target (a container counts as one).
DEFAULT_MAX_DEPTH: Final = 32
#: How many objects :func:`closing` examines before it stops and warns.
DEFAULT_MAX_OBJECTS: Final = 10_000

# Method names that close the object they are bound to: a closer that is one of
# these is treated as closing that object (see _Plan.add_handle).
_CLOSING_METHOD_NAMES: Final = frozenset({"close", "aclose", "__exit__", "__aexit__"})
# Fields of tools and retrievers that hold configuration shared with other runs.
_SKIPPED_FIELDS: Final = frozenset({"callbacks", "callback_manager", "tags", "metadata"})
# Runnable attributes that lead to the runnables, tools and functions it runs.
_RUNNABLE_LINKS: Final = (
    "nodes",
    "bound",
    "steps",
    "steps__",
    "func",
    "afunc",
    "tools_by_name",
    "runnable",
    "fallbacks",
    "mapper",
    "runnables",
    "default",
    "alternatives",
)
# How far on_release() looks for references from a closer back to its object.
_CAPTURE_DEPTH: Final = 3
_CAPTURE_ITEMS: Final = 64

# Never visited: data, code and namespaces, which hold no resource of a request.
_ATOMIC: Final[tuple[type, ...]] = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    bytearray,
    memoryview,
    range,
    slice,
    type,
    types.ModuleType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    weakref.ReferenceType,
    weakref.ProxyType,
    weakref.CallableProxyType,
)
_ATOMIC_TYPES: Final = frozenset(_ATOMIC)  # the exact types, for a fast first check


if sys.version_info >= (3, 11):

    class CloseErrorGroup(builtins.ExceptionGroup[Exception]):
        """Closers that raised in :func:`closing`; the others still ran.

        One failing close must not leave every other connection open, so
        :func:`closing` runs them all and raises this at the end. On Python
        3.11+ it is an ``ExceptionGroup`` (``except*`` works).
        """

else:  # pragma: no cover - Python 3.10

    class CloseErrorGroup(Exception):
        """Closers that raised in :func:`closing`; the others still ran.

        Python 3.10 has no ``ExceptionGroup`` and this package adds no
        dependency for it (not even the ``exceptiongroup`` backport), so here it
        is a plain exception with the same ``message`` and ``exceptions``
        attributes; ``except CloseErrorGroup`` works on every version.
        """

        def __init__(self, message: str, exceptions: Iterable[Exception]) -> None:
            self.message = message
            self.exceptions = tuple(exceptions)
            super().__init__(message, self.exceptions)

        def __str__(self) -> str:
            count = len(self.exceptions)
            return f"{self.message} ({count} sub-exception{'s' if count != 1 else ''})"


# --- on_release --------------------------------------------------------------


class ReleaseHandle:
    """A closer registered with :func:`on_release` (which makes these): run it early, or cancel it.

    The handle holds the closer, never the object: dropping the object runs the
    closer; dropping the handle changes nothing.
    """

    __slots__ = ("__weakref__", "_finalizer", "_key", "_label")

    def __init__(self, obj: object, closer: Callable[[], object]) -> None:
        self._key = id(obj)
        # Text only: the handle must not hold the object, yet name it once it is gone.
        name = getattr(closer, "__qualname__", None) or type(closer).__qualname__
        self._label = f"{name} on {_describe(obj)}"
        self._finalizer = weakref.finalize(obj, self._fire, closer)

    def _fire(self, closer: Callable[[], object]) -> object:
        _REGISTRY.remove(self._key, self)
        return closer()

    def _run(self) -> object:
        """Run the closer now if it has not run; return what it returned."""
        return self._finalizer()

    @property
    def alive(self) -> bool:
        """True until the closer has run or the handle was detached."""
        return self._finalizer.alive

    def close(self) -> None:
        """Run the closer now, if it has not run yet; it will not run again."""
        _settle_sync(self._run(), self)

    def detach(self) -> Callable[[], object] | None:
        """Cancel the closer without running it; return it (``None`` if it already ran)."""
        info = self._finalizer.detach()
        if info is None:
            return None
        _REGISTRY.remove(self._key, self)
        closer: Callable[[], object] = info[2][0]
        return closer

    def _object(self) -> object | None:
        info = self._finalizer.peek()
        return None if info is None else info[0]

    def _closer(self) -> Callable[[], object] | None:
        info = self._finalizer.peek()
        if info is None:
            return None
        closer: Callable[[], object] = info[2][0]
        return closer

    def _closed_resource(self) -> object | None:
        """The object the closer closes when it is that object's ``close``-like method."""
        closer = self._closer()
        if (
            isinstance(closer, (types.MethodType, types.BuiltinMethodType))
            and closer.__name__ in _CLOSING_METHOD_NAMES
            and not isinstance(closer.__self__, (type, types.ModuleType))
        ):
            resource: object = closer.__self__
            return resource
        return None

    def __repr__(self) -> str:
        state = "pending" if self.alive else "done"
        return f"<ReleaseHandle {state}: {self._label}>"


class _Registry:
    """Handles per object, keyed by identity: tools and retrievers are unhashable.

    Holds handles only, never the objects; a handle leaves when its closer runs
    or it is detached, so an entry never outlives its object. The lock is
    re-entrant because a closer can fire from a garbage collection that starts
    while this thread holds it.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._handles: dict[int, list[ReleaseHandle]] = {}

    def add(self, key: int, handle: ReleaseHandle) -> None:
        with self._lock:
            self._handles.setdefault(key, []).append(handle)

    def remove(self, key: int, handle: ReleaseHandle) -> None:
        with self._lock:
            handles = self._handles.get(key)
            if handles is None:
                return
            for index, candidate in enumerate(handles):
                if candidate is handle:
                    del handles[index]
                    break
            if not handles:
                del self._handles[key]

    def handles_for(self, obj: object) -> list[ReleaseHandle]:
        if id(obj) not in self._handles:  # the common case, without the lock
            return []
        with self._lock:
            handles = list(self._handles.get(id(obj), ()))
        return [h for h in handles if h._object() is obj]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(handles) for handles in self._handles.values())


_REGISTRY: Final = _Registry()


def on_release(obj: object, closer: Callable[[], object], /) -> ReleaseHandle:
    """Run ``closer()`` once, when ``obj`` is garbage-collected or at exit, whichever is first.

    Ties a resource's life to its owner's: ``on_release(retriever, conn.close)``
    closes the connection when the retriever goes, without keeping the
    retriever alive. :func:`closing` also runs the closers registered on the
    objects it reaches, so a closer runs at the end of a ``closing()`` block,
    or at collection, or at exit: once.

    ``closer`` must not reference ``obj``: the registration would keep ``obj``
    alive until exit. A ``TypeError`` rejects the cases that can be seen cheaply:
    ``obj`` itself, a method bound to ``obj`` (or to an object whose attributes
    hold it), and a ``functools.partial``, closure cell, default argument or
    container that holds ``obj``, followed three links deep. References through
    globals, deeper nesting or objects without ``__dict__`` are not detected.

    ``closer`` must be synchronous: a garbage collection cannot await. Close
    async resources with ``async with closing(...)`` (which awaits ``aclose()``).
    ``obj`` must support weak references (tools and retrievers do;
    ``sqlite3.Connection`` does not, so register on what owns it).
    """
    if not callable(closer):
        raise TypeError(f"on_release(): closer must be callable, not {type(closer).__name__}")
    if inspect.iscoroutinefunction(closer):
        raise TypeError(
            "on_release(): closer is a coroutine function, which a garbage collection "
            "cannot await; use 'async with closing(...)' for resources that close "
            "asynchronously"
        )
    path = _capture_path(closer, obj, "closer", _CAPTURE_DEPTH)
    if path == "closer":
        path = "the closer being the object itself"
    if path is not None:
        raise TypeError(
            f"on_release(): the closer references the object it is registered on "
            f"(through {path}); that would keep the {type(obj).__qualname__} alive until "
            f"exit, so the closer could not run before then. Register a closer of what "
            f"the object holds instead, e.g. on_release(retriever, connection.close)"
        )
    try:
        handle = ReleaseHandle(obj, closer)
    except TypeError:
        raise TypeError(
            f"on_release(): {type(obj).__qualname__} objects do not support weak "
            f"references, so their release cannot be observed; register the closer on "
            f"the object that owns this one (e.g. the retriever that holds the connection)"
        ) from None
    _REGISTRY.add(id(obj), handle)
    return handle


def _capture_path(value: object, obj: object, path: str, depth: int) -> str | None:
    """How ``value`` reaches ``obj`` through strong references, if it does within ``depth``."""
    if value is obj:
        return path
    if depth == 0 or isinstance(value, _ATOMIC):
        return None
    for label, part in _capture_parts(value):
        found = _capture_path(part, obj, f"{path}{label}", depth - 1)
        if found is not None:
            return found
    return None


def _capture_parts(value: object) -> list[tuple[str, object]]:
    """The strong references a closer keeps, labelled for the error message."""
    try:
        if isinstance(value, types.FunctionType):
            parts: list[tuple[str, object]] = []
            names = value.__code__.co_freevars
            for name, cell in zip(names, value.__closure__ or (), strict=False):
                try:
                    parts.append((f" (closure variable {name!r})", cell.cell_contents))
                except ValueError:  # an empty cell
                    continue
            for index, default in enumerate(value.__defaults__ or ()):
                parts.append((f" (default #{index})", default))
            for name, default in (value.__kwdefaults__ or {}).items():
                parts.append((f" (default {name!r})", default))
            return parts
        if isinstance(value, (types.MethodType, types.BuiltinMethodType, types.MethodWrapperType)):
            return [(".__self__", value.__self__)]
        if isinstance(value, functools.partial):
            return [
                (".func", value.func),
                *((f".args[{i}]", arg) for i, arg in enumerate(value.args)),
                *((f".keywords[{k!r}]", arg) for k, arg in value.keywords.items()),
            ]
        if isinstance(value, (tuple, list, set, frozenset)):
            return [(f"[{i}]", item) for i, item in enumerate(islice(value, _CAPTURE_ITEMS))]
        if isinstance(value, dict):
            return [(f"[{k!r}]", item) for k, item in islice(value.items(), _CAPTURE_ITEMS)]
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict):
            return [(f".{k}", item) for k, item in islice(attributes.items(), _CAPTURE_ITEMS)]
    except RuntimeError:  # another thread resized a container while we read it
        return []
    return []


# --- closing -----------------------------------------------------------------


# Lower-case like contextlib.closing, whose job it extends to everything reachable.
class closing(Generic[_T]):
    """On exit, close every resource reachable from ``target``: connections, files, pools.

    A graph built per request can own connections (a retriever's database
    connection, an HTTP client in a tool); dropping the graph frees memory but
    closes nothing. ``with closing(graph):`` (or ``async with``) closes them
    when the request ends, whatever the garbage collector does.

    ``target`` may be a compiled graph, a ``ToolNode``, a tool, a retriever, any
    other runnable, or a list, tuple or dict of them. At exit the walk described
    in this module's docstring finds, and this closes:

    - objects with ``close()`` (or, without one, ``__exit__``); in ``async with``
      ``aclose()`` and ``__aexit__`` come first and awaitables are awaited;
    - closers registered with :func:`on_release` on any object reached.

    Each resource is closed at most once, even when reached by several paths (a
    closer that is a resource's own ``close`` counts as that resource), and by
    several blocks (nested over the same resource, or one after the other): a
    resource closed by any block is not closed again, as long as it takes weak
    references (one that does not is closed once per block that reaches it). The
    order unwinds like ``contextlib.ExitStack``: a resource is pushed once the
    walk is done with what it holds, a registered closer after its object's
    contents, and the stack is closed in reverse, so an owner closes before
    what it holds and later nodes before earlier ones. Every closer runs even
    when some raise; the failures are raised together as
    :class:`CloseErrorGroup`. A ``KeyboardInterrupt`` or a cancellation does not
    stop the unwinding either (as with ``ExitStack``): the rest are closed, then
    it propagates, with the failures, if any, as its ``__cause__``. Under anyio's
    cancellation (Starlette, FastAPI) every later ``await`` in a cancelled task
    is cancelled too, so only the synchronous closes still complete; shield the
    block (``anyio.CancelScope(shield=True)``) if async closes must finish.

    Everything reachable is closed, including what a node's closure captured
    from outside the request: pass app-wide resources (a pool, a shared client)
    in ``keep``; they are neither closed nor walked into. Locks, semaphores,
    conditions, generator-based context managers and the standard streams are
    never closed. The walk stops at ``max_depth`` links and ``max_objects``
    objects, with a :class:`~langgraph_fixed.LangGraphFixedWarning`.

    ``close()`` and ``aclose()`` do the same as leaving the block (once), for
    use without ``with``, e.g. as a Starlette background task.
    """

    def __init__(
        self,
        target: _T,
        *,
        keep: Iterable[object] = (),
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_objects: int = DEFAULT_MAX_OBJECTS,
    ) -> None:
        self._target: list[_T] = [target]  # emptied once closed, so nothing is kept alive
        self._keep = tuple(keep)
        self._max_depth = max_depth
        self._max_objects = max_objects

    @property
    def target(self) -> _T:
        """What is closed on exit (``RuntimeError`` once that has happened)."""
        if not self._target:
            raise RuntimeError("closing(): the target was already closed")
        return self._target[0]

    def __enter__(self) -> _T:
        return self.target

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> _T:
        return self.target

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        await self.aclose()

    def close(self) -> None:
        """Close everything reachable from the target now (only the first call does)."""
        plan = self._plan()
        if plan is None:
            return
        outcome = _Outcome(plan)
        for step in reversed(plan.steps):
            try:
                step.close()
            except BaseException as error:
                outcome.failed(error, step)
            finally:
                step.detach_duplicates()
        outcome.raise_if_failed()

    async def aclose(self) -> None:
        """Close everything reachable, awaiting ``aclose()`` where present (only once)."""
        plan = self._plan()
        if plan is None:
            return
        outcome = _Outcome(plan)
        for step in reversed(plan.steps):
            try:
                await step.aclose()
            except BaseException as error:
                outcome.failed(error, step)
            finally:
                step.detach_duplicates()
        outcome.raise_if_failed()

    def _plan(self) -> _Plan | None:
        if not self._target:
            return None
        target = self._target.pop()
        plan = _Plan(self._keep, self._max_depth, self._max_objects)
        plan.visit(target, 0)
        plan.warn_if_truncated()
        return plan


class _Outcome:
    """The failures of one unwinding, raised once every step has run."""

    def __init__(self, plan: _Plan) -> None:
        self._steps = len(plan.steps)
        self._errors: list[Exception] = []
        self._interrupt: BaseException | None = None

    def failed(self, error: BaseException, step: _Step) -> None:
        if isinstance(error, Exception):
            if sys.version_info >= (3, 11):
                error.add_note(f"while closing {step.describe()}")
            self._errors.append(error)
        elif self._interrupt is None:  # KeyboardInterrupt, cancellation, SystemExit
            self._interrupt = error

    def raise_if_failed(self) -> None:
        group = None
        if self._errors:
            count = len(self._errors)
            message = f"closing(): {count} of {self._steps} resources failed to close"
            group = CloseErrorGroup(message, self._errors)
        if self._interrupt is not None and group is not None:
            raise self._interrupt from group
        if self._interrupt is not None:
            raise self._interrupt
        if group is not None:
            raise group


#: Every resource a closing() block closed (by identity, held weakly): blocks nested
#: over the same resource, or run one after the other, close it once between them.
_CLOSED: WeakKeyCache[object, bool] = WeakKeyCache()
_closed_lock = threading.Lock()


def _first_close(resource: object) -> bool:
    """Whether ``resource`` is closed for the first time here (then it is recorded).

    A resource that takes no weak reference cannot be recorded: each block that
    reaches it closes it (once per block)."""
    with _closed_lock:
        if resource in _CLOSED:
            return False
        _CLOSED.put(resource, True)
        return True


@dataclass
class _Step:
    """One thing to close: a resource, or a closer registered with on_release()."""

    resource: object
    handle: ReleaseHandle | None = None
    duplicates: list[ReleaseHandle] = field(default_factory=list)

    def close(self) -> None:
        if self.handle is not None:
            _settle_sync(self.handle._run(), self.handle)
        elif _first_close(self.resource):
            _settle_sync(_close_sync(self.resource), self.resource)

    async def aclose(self) -> None:
        if self.handle is not None:
            result = self.handle._run()
            if inspect.isawaitable(result):
                await result
        elif _first_close(self.resource):
            await _close_async(self.resource)

    def detach_duplicates(self) -> None:
        for handle in self.duplicates:
            handle.detach()

    def describe(self) -> str:
        return _describe(self.resource if self.handle is None else self.handle)


class _Plan:
    """The walk from a target: what to close, in the order found."""

    def __init__(self, keep: tuple[object, ...], max_depth: int, max_objects: int) -> None:
        self._keep = {id(k) for k in keep}
        self._max_depth = max_depth
        self._max_objects = max_objects
        self._seen: dict[int, object] = {}  # also keeps each id unique during the walk
        self._steps: dict[int, _Step] = {}
        self._too_deep = 0
        self._over_budget = 0
        self._streams = _standard_streams()

    @property
    def steps(self) -> list[_Step]:
        return list(self._steps.values())

    def visit(self, obj: object, depth: int) -> None:
        if type(obj) in _ATOMIC_TYPES:
            return
        profile = _profile(type(obj))
        if profile.kind is _Kind.SKIP:
            return
        key = id(obj)
        if key in self._seen or key in self._keep:
            return
        if depth > self._max_depth:
            self._too_deep += 1
            return
        if len(self._seen) >= self._max_objects:
            self._over_budget += 1
            return
        self._seen[key] = obj
        if profile.kind is not _Kind.LEAF:
            for child in _links(obj, profile):
                self.visit(child, depth + 1)
        for handle in _REGISTRY.handles_for(obj):
            self._add_handle(handle)
        if profile.closeable and all(obj is not stream for stream in self._streams):
            # A registered closer already closing this object keeps its place.
            self._steps.setdefault(key, _Step(obj))

    def _add_handle(self, handle: ReleaseHandle) -> None:
        resource = handle._closed_resource()
        if resource is None:
            self._steps.setdefault(id(handle), _Step(handle, handle))
            return
        if id(resource) in self._keep:
            return
        existing = self._steps.get(id(resource))
        if existing is None:
            self._steps[id(resource)] = _Step(resource, handle)
        elif existing.handle is not handle:
            existing.duplicates.append(handle)

    def warn_if_truncated(self) -> None:
        if self._too_deep or self._over_budget:
            warnings.warn(
                f"closing() stopped walking ({self._too_deep} objects deeper than "
                f"max_depth={self._max_depth}, {self._over_budget} beyond "
                f"max_objects={self._max_objects}); resources there stay open. Raise the "
                f"limit, pass large data in keep=, or register closers with on_release()",
                LangGraphFixedWarning,
                stacklevel=4,
            )


class _Kind(enum.Enum):
    """How the walk treats instances of a type."""

    SKIP = enum.auto()  # data, code, namespaces: never visited
    LEAF = enum.auto()  # visited (closed if a resource, closers run), not looked into
    ITEMS = enum.auto()  # list, tuple, set, frozenset
    VALUES = enum.auto()  # dict
    FUNCTION = enum.auto()
    METHOD = enum.auto()
    PARTIAL = enum.auto()
    FIELDS = enum.auto()  # tools and retrievers: pydantic fields
    RUNNABLE = enum.auto()  # runnables and langgraph nodes: _RUNNABLE_LINKS


@dataclass(frozen=True)
class _TypeProfile:
    kind: _Kind
    closeable: bool = False
    #: FIELDS: the field names to follow; RUNNABLE: the links that are properties
    names: tuple[str, ...] = ()


@weak_key_cache(maxsize=None)
def _profile(cls: type) -> _TypeProfile:
    """What the walk does with instances of ``cls``; cached weakly, per class.

    Classes made per request (a retriever defined in a function) are held
    weakly, so this cache keeps none of them alive.
    """
    if issubclass(cls, _ATOMIC) or issubclass(cls, _data_types()):
        return _TypeProfile(_Kind.SKIP)
    closeable = not issubclass(cls, _never_closed_types()) and any(
        callable(getattr(cls, name, None)) for name in _CLOSING_METHOD_NAMES
    )
    kind = _Kind.LEAF
    names: tuple[str, ...] = ()
    tools_and_retrievers, runnables = _walked_types()
    if issubclass(cls, (list, tuple, set, frozenset)):
        kind = _Kind.ITEMS
    elif issubclass(cls, dict):
        kind = _Kind.VALUES
    elif issubclass(cls, types.FunctionType):
        kind = _Kind.FUNCTION
    elif issubclass(cls, (types.MethodType, types.BuiltinMethodType)):
        kind = _Kind.METHOD
    elif issubclass(cls, functools.partial):
        kind = _Kind.PARTIAL
    elif issubclass(cls, tools_and_retrievers):
        kind = _Kind.FIELDS
        fields: dict[str, Any] = getattr(cls, "model_fields", {})
        names = tuple(name for name in fields if name not in _SKIPPED_FIELDS)
    elif issubclass(cls, runnables) or _is_pregel_node(cls):
        kind = _Kind.RUNNABLE
        names = tuple(
            name
            for name in _RUNNABLE_LINKS
            if isinstance(
                inspect.getattr_static(cls, name, None), (property, functools.cached_property)
            )
        )
    return _TypeProfile(kind, closeable, names)


def _links(obj: Any, profile: _TypeProfile) -> Iterator[object]:
    """What the walk follows from ``obj`` (see the module docstring)."""
    kind = profile.kind
    try:
        if kind is _Kind.ITEMS:
            yield from list(obj)
        elif kind is _Kind.VALUES:
            if not _is_namespace(obj):
                yield from list(obj.values())
        elif kind is _Kind.FUNCTION:
            for cell in obj.__closure__ or ():
                try:
                    yield cell.cell_contents
                except ValueError:  # an empty cell
                    continue
            yield from obj.__defaults__ or ()
            yield from (obj.__kwdefaults__ or {}).values()
        elif kind is _Kind.METHOD:
            yield obj.__self__
        elif kind is _Kind.PARTIAL:
            yield obj.func
            yield from obj.args
            yield from obj.keywords.values()
        elif kind is _Kind.FIELDS:
            attributes = getattr(obj, "__dict__", {})
            yield from (attributes[name] for name in profile.names if name in attributes)
            for extra in (
                getattr(obj, "__pydantic_private__", None),
                getattr(obj, "__pydantic_extra__", None),
            ):
                if isinstance(extra, dict):
                    yield from list(extra.values())
        elif kind is _Kind.RUNNABLE:
            attributes = getattr(obj, "__dict__", {})
            yield from (attributes[name] for name in _RUNNABLE_LINKS if name in attributes)
            for name in profile.names:
                try:
                    yield getattr(obj, name)
                except Exception:  # a property that cannot be computed here
                    continue
    except RuntimeError:  # another thread resized a container while we read it
        return


def _is_pregel_node(cls: type) -> bool:
    # langgraph's node wrapper (a runnable before 0.4, a plain class since); its
    # module moved between releases, so it is recognised by name and package.
    return cls.__name__ == "PregelNode" and cls.__module__.partition(".")[0] == "langgraph"


def _is_namespace(mapping: dict[Any, Any]) -> bool:
    """A module's globals (or builtins): never walked, it would reach the whole program."""
    if "__builtins__" in mapping:
        return True
    name = mapping.get("__name__")
    module = sys.modules.get(name) if isinstance(name, str) else None
    return module is not None and getattr(module, "__dict__", None) is mapping


@functools.cache
def _walked_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable
    from langchain_core.tools import BaseTool

    return (BaseTool, BaseRetriever), (Runnable,)


@functools.cache
def _data_types() -> tuple[type, ...]:
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage

    return (Document, BaseMessage)


@functools.cache
def _never_closed_types() -> tuple[type, ...]:
    """Types with close() or __exit__ that a request must not close."""
    import asyncio
    import contextlib

    return (
        type(threading.Lock()),
        type(threading.RLock()),
        threading.Condition,
        threading.Semaphore,
        asyncio.Lock,
        asyncio.Semaphore,
        asyncio.Condition,
        contextlib._GeneratorContextManager,
        contextlib._AsyncGeneratorContextManager,
        contextlib.nullcontext,
        contextlib.suppress,
        contextlib.redirect_stdout,
        contextlib.redirect_stderr,
    )


def _standard_streams() -> tuple[object, ...]:
    streams = (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)
    return tuple(s for s in streams if s is not None)


def _has_method(cls: type, name: str) -> bool:
    return callable(getattr(cls, name, None))


def _close_sync(obj: Any) -> object:
    cls = type(obj)
    if _has_method(cls, "close"):
        return obj.close()
    if _has_method(cls, "__exit__"):
        return obj.__exit__(None, None, None)
    raise TypeError(
        f"{_describe(obj)} can only be closed asynchronously (it has aclose() or "
        f"__aexit__ but no close()); use 'async with closing(...)'"
    )


async def _close_async(obj: Any) -> None:
    cls = type(obj)
    if _has_method(cls, "aclose"):
        await obj.aclose()
    elif _has_method(cls, "__aexit__"):
        await obj.__aexit__(None, None, None)
    else:
        result = _close_sync(obj)
        if inspect.isawaitable(result):
            await result


def _settle_sync(result: object, what: object) -> None:
    """A synchronous close cannot await: refuse an awaitable instead of dropping it."""
    if inspect.isawaitable(result):
        if isinstance(result, types.CoroutineType):
            result.close()
        raise TypeError(
            f"closing {_describe(what)} returned an awaitable, which a synchronous close "
            f"cannot await; use 'async with closing(...)'"
        )


def _describe(obj: object) -> str:
    if isinstance(obj, ReleaseHandle):
        return repr(obj)
    cls = type(obj)
    return f"<{cls.__module__}.{cls.__qualname__} object at {id(obj):#x}>"
