"""Find what keeps LangChain and LangGraph objects alive: ``track``, ``explain``, ``Monitor``.

:func:`track` records, with weak references only, every tool, retriever,
compiled graph and runnable (or instances of the types you name) created
inside a ``with`` block; :meth:`Tracker.alive` lists those still alive after a
full collection. :func:`explain` finds the shortest chain of references from a
root (a module global, an ``lru_cache``, a class attribute, a running frame, a
thread) to an object, with a readable label for each link. :class:`Monitor`
counts tracked instances periodically in a long-running service and logs the
types that grow, with the chains that keep a sample of the new instances alive.

Nothing here runs unless called: importing this module patches nothing.

How :func:`track` sees creations
    On entry it replaces ``__init__`` on each tracked class and on every
    existing subclass whose ``__init__`` is its own (or comes from outside the
    tracked hierarchy) with a wrapper that calls the original and then records
    a weak reference to ``self``. The originals are put back on exit, even on
    an exception; nested and concurrent blocks share the wrappers (counted per
    class), and a block only records what its own types match. Classes created
    inside the block inherit a wrapper; instances of new classes whose own
    ``__init__`` might not reach one are found by one scan of the heap at exit.
    Types whose ``__init__`` cannot be replaced (builtin and extension types)
    are found by a heap scan at entry and at exit instead. Instances that
    cannot be weakly referenced are recorded by ``id`` and type and looked up by
    a heap scan in :meth:`Tracker.alive` (an ``id`` reused by a later object of
    the same type can give a false positive). Instances built without calling
    ``__init__`` (pydantic's ``model_construct``, ``model_validate`` on a class
    without a custom ``__init__``, ``copy.copy``, unpickling) are not seen.
"""

from __future__ import annotations

import contextvars
import functools
import gc
import inspect
import logging
import sys
import threading
import time
import types as pytypes
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Explanation",
    "Growth",
    "Link",
    "Monitor",
    "MonitorReport",
    "Tracker",
    "default_types",
    "explain",
    "track",
]

_LOG = logging.getLogger("langgraph_fixed.diagnostics.leaks")

#: The attribute marking the ``__init__`` wrappers this module installs.
_MARK = "__langgraph_fixed_track__"
_OBJECT_INIT = object.__init__
_OBJECT_NEW: Any = object.__new__
#: ``Py_TPFLAGS_IMMUTABLETYPE`` (3.10+): a class whose attributes cannot be set.
_IMMUTABLE = 1 << 8


def default_types() -> tuple[type, ...]:
    """LangChain tools, retrievers, compiled graphs and runnables (those importable here)."""
    found: list[type] = []
    for module, name in (
        ("langchain_core.tools", "BaseTool"),
        ("langchain_core.retrievers", "BaseRetriever"),
        ("langgraph.pregel", "Pregel"),
        ("langchain_core.runnables", "Runnable"),
    ):
        try:
            found.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


# --- track -------------------------------------------------------------------


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _own_init(cls: type) -> Any:
    """``cls``'s own ``__init__`` (None when it inherits one), ignoring installed wrappers."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return None
    if getattr(init, _MARK, None) == "installed":
        return None
    return init


def _init_owner(cls: type) -> type:
    """The class whose own ``__init__`` a call to ``cls(...)`` runs first."""
    for klass in cls.__mro__:
        if _own_init(klass) is not None:
            return klass
    return object


def _hierarchy(root: type) -> list[type]:
    """``root`` and all its subclasses, each once."""
    seen: dict[type, None] = {root: None}
    stack = [root]
    while stack:
        try:
            subclasses: list[type] = type.__subclasses__(stack.pop())
        except TypeError:
            continue
        for sub in subclasses:
            if sub not in seen:
                seen[sub] = None
                stack.append(sub)
    return list(seen)


def _patchable(cls: type) -> bool:
    return not (cls.__flags__ & _IMMUTABLE)


def _to_wrap(roots: Iterable[type]) -> list[type]:
    """The classes of the roots' hierarchies on which ``__init__`` gets a wrapper.

    Every class with an ``__init__`` of its own, and, where a class's
    ``__init__`` comes from outside the hierarchies (``Runnable`` has none,
    pydantic runnables get theirs from ``Serializable``), the first class that
    inherits it: together, every ``__init__`` that creating an instance of a
    tracked class can start with, each wrapped once.
    """
    hierarchy: dict[type, None] = {}
    for root in roots:
        hierarchy.update(dict.fromkeys(_hierarchy(root)))
    chosen = []
    for cls in hierarchy:
        if not _patchable(cls):
            continue
        owner = _init_owner(cls)
        if owner is cls:
            chosen.append(cls)
            continue
        if owner in hierarchy:
            continue
        between = cls.__mro__[1 : cls.__mro__.index(owner)]
        if not any(klass in hierarchy for klass in between):
            chosen.append(cls)
    return chosen


def _first_init(cls: type) -> Any:
    """The ``__init__`` that ``cls(...)`` runs first, wrappers included."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            return init
    return _OBJECT_INIT


#: Trackers currently recording, in every thread (replaced, never mutated).
_ACTIVE: tuple[Tracker, ...] = ()
#: Context-scoped trackers entered in the current context.
_CONTEXT: contextvars.ContextVar[tuple[Tracker, ...]] = contextvars.ContextVar(
    "langgraph_fixed_track", default=()
)
_LOCK = threading.RLock()


@dataclass
class _Wrapped:
    original: Any  # the class's own __init__, or None when the wrapper was added
    wrapper: Any
    users: int = 0


#: class -> its wrapper, while at least one block uses it
_WRAPPED: dict[type, _Wrapped] = {}


def _record(obj: Any) -> None:
    context: tuple[Tracker, ...] | None = None
    for tracker in _ACTIVE:
        if tracker._context_only:
            if context is None:
                context = _CONTEXT.get()
            if tracker not in context:
                continue
        if isinstance(obj, tracker.types):
            tracker._add(obj)


def _wrapper_for(cls: type, original: Any) -> Any:
    if original is not None:

        @functools.wraps(original)
        def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if _ACTIVE:
                first = type(self).__init__
                # the outermost wrapper records; one reached through super() leaves it
                if first is wrapped_init or getattr(first, _MARK, None) is None:
                    _record(self)

        setattr(wrapped_init, _MARK, "own")
        return wrapped_init

    def added_init(self: Any, *args: Any, **kwargs: Any) -> None:
        # What ran before: the next __init__ in the MRO after ``cls``.
        init: Any = getattr(super(cls, type(self)), "__init__")  # noqa: B009
        if init is _OBJECT_INIT:
            if (args or kwargs) and type(self).__new__ is _OBJECT_NEW:
                raise TypeError(f"{type(self).__name__}() takes no arguments")
            init(self)
        else:
            init(self, *args, **kwargs)
        if _ACTIVE:
            first = type(self).__init__
            if first is added_init or getattr(first, _MARK, None) is None:
                _record(self)

    added_init.__name__ = "__init__"
    added_init.__qualname__ = f"{cls.__qualname__}.__init__"
    added_init.__module__ = cls.__module__
    setattr(added_init, _MARK, "installed")
    return added_init


def _install(classes: Iterable[type]) -> list[type]:
    """Wrap ``__init__`` on each class (or count one more user); returns those now used."""
    used = []
    with _LOCK:
        for cls in classes:
            entry = _WRAPPED.get(cls)
            if entry is None:
                original = _own_init(cls)
                wrapper = _wrapper_for(cls, original)
                try:
                    type.__setattr__(cls, "__init__", wrapper)
                except (TypeError, AttributeError):
                    continue
                entry = _WRAPPED[cls] = _Wrapped(original, wrapper)
            entry.users += 1
            used.append(cls)
    return used


def _uninstall(classes: Iterable[type]) -> None:
    with _LOCK:
        for cls in classes:
            entry = _WRAPPED.get(cls)
            if entry is None:
                continue
            entry.users -= 1
            if entry.users > 0:
                continue
            del _WRAPPED[cls]
            if cls.__dict__.get("__init__") is not entry.wrapper:
                continue  # someone replaced it since: theirs stays, ours is inert
            if entry.original is None:
                type.__delattr__(cls, "__init__")
            else:
                type.__setattr__(cls, "__init__", entry.original)


def _weak(obj: Any) -> weakref.ref[Any] | None:
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


class Tracker:
    """Records instances of ``types`` created while it is entered; holds them weakly.

    Use through :func:`track`. After the block, :meth:`alive` runs a full
    collection and returns the recorded instances still alive.
    """

    def __init__(self, types: tuple[type, ...], scope: Literal["process", "context"]) -> None:
        if not types:
            raise ValueError("track() found no types to track")
        for cls in types:
            if not isinstance(cls, type):
                raise TypeError(f"track() takes classes, not {cls!r}")
        if scope not in ("process", "context"):
            raise ValueError(f"scope must be 'process' or 'context', not {scope!r}")
        self.types = types
        self.scope = scope
        self._context_only = scope == "context"
        self._refs: dict[int, weakref.ref[Any]] = {}
        #: instances that cannot be weakly referenced: id -> exact type
        self._unrefable: dict[int, type] = {}
        self._prune_at = 1024
        self._lock = threading.Lock()
        self._wrapped: list[type] = []
        self._scanned: tuple[type, ...] = ()
        self._before: dict[int, weakref.ref[Any] | None] = {}
        self._classes_before: weakref.WeakSet[type] = weakref.WeakSet()
        self._token: contextvars.Token[tuple[Tracker, ...]] | None = None
        self._state = "new"
        #: how many creations were recorded (instances, duplicates excluded)
        self.created = 0

    # recording -------------------------------------------------------------

    def _add(self, obj: Any) -> None:
        key = id(obj)
        ref = _weak(obj)
        with self._lock:  # creations may come from several threads at once
            if ref is None:
                if self._unrefable.get(key) is not type(obj):
                    self._unrefable[key] = type(obj)
                    self.created += 1
                return
            if self._refs.get(key) is ref:  # already recorded (the exit scan)
                return
            self._refs[key] = ref
            self.created += 1
            if len(self._refs) > self._prune_at:
                self._refs = {k: r for k, r in self._refs.items() if r() is not None}
                self._prune_at = max(1024, 2 * len(self._refs))

    # the block ---------------------------------------------------------------

    def __enter__(self) -> Tracker:
        global _ACTIVE
        if self._state != "new":
            raise RuntimeError("a Tracker can be entered once; call track() again")
        self._state = "open"
        patchable = tuple(t for t in self.types if _patchable(t))
        self._scanned = tuple(t for t in self.types if not _patchable(t))
        for root in patchable:
            for cls in _hierarchy(root):
                self._classes_before.add(cls)
        classes = _to_wrap(patchable)
        if self._scanned:
            self._before = {
                id(o): _weak(o) for o in gc.get_objects() if isinstance(o, self._scanned)
            }
        with _LOCK:
            try:
                self._wrapped = _install(classes)
            except BaseException:
                self._state = "closed"
                raise
            if self._context_only:
                self._token = _CONTEXT.set((*_CONTEXT.get(), self))
            _ACTIVE = (*_ACTIVE, self)
        return self

    def __exit__(self, *exc: object) -> None:
        global _ACTIVE
        try:
            self._scan_at_exit()
        finally:
            with _LOCK:
                _ACTIVE = tuple(t for t in _ACTIVE if t is not self)
                if self._token is not None:
                    try:
                        _CONTEXT.reset(self._token)
                    except ValueError:  # exited in another context
                        _CONTEXT.set(tuple(t for t in _CONTEXT.get() if t is not self))
                    self._token = None
                _uninstall(self._wrapped)
                self._wrapped = []
            self._state = "closed"

    def _scan_at_exit(self) -> None:
        """Instances no ``__init__`` wrapper saw: scanned types, and classes made in the block."""
        uncovered: set[type] = set()
        for root in self.types:
            if not _patchable(root):
                continue
            for cls in _hierarchy(root):
                if cls in self._classes_before:
                    continue
                if getattr(_first_init(cls), _MARK, None) is None:
                    uncovered.add(cls)
        self._classes_before = weakref.WeakSet()
        if not uncovered and not self._scanned:
            return
        before = self._before
        self._before = {}
        for obj in gc.get_objects():
            kind = type(obj)
            if kind in uncovered or (self._scanned and isinstance(obj, self._scanned)):
                key = id(obj)
                if key in before:
                    old = before[key]
                    if old is None or old() is obj:
                        continue
                self._add(obj)

    # results -----------------------------------------------------------------

    def alive(self, *, collect: bool = True) -> list[Any]:
        """The recorded instances still alive (after ``gc.collect()`` unless ``collect=False``).

        The list holds strong references: drop it when done.
        """
        if collect:
            gc.collect()
        with self._lock:
            refs = list(self._refs.values())
            wanted = self._unrefable.copy()
        found = [obj for ref in refs if (obj := ref()) is not None]
        if wanted:
            found.extend(o for o in gc.get_objects() if wanted.get(id(o)) is type(o))
        return found

    def counts(self, *, collect: bool = True) -> dict[str, int]:
        """How many recorded instances are alive, by type (``module.QualName``)."""
        alive = self.alive(collect=collect)
        counted = Counter(_qualname(type(o)) for o in alive)
        del alive
        return dict(counted.most_common())

    def __repr__(self) -> str:
        names = ", ".join(t.__qualname__ for t in self.types)
        return f"<Tracker {self._state} types=({names}) created={self.created}>"


def track(*types: type, scope: Literal["process", "context"] = "process") -> Tracker:
    """Record the instances of ``types`` created inside a ``with`` block, weakly.

    ``types`` defaults to :func:`default_types` (tools, retrievers, compiled
    graphs, runnables). With ``scope="process"`` (the default) creations in
    every thread count while the block is open; with ``scope="context"`` only
    those in the block's own context: its thread, the asyncio tasks it starts
    and the threads that copy its context (LangChain's executors do)::

        with track() as tracker:
            handle_request()
        for obj in tracker.alive():
            print(explain(obj))
    """
    return Tracker(types or default_types(), scope)


# --- explain -----------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One reference of a chain: how the previous object holds the next one."""

    #: module_global, lru_cache, class_attribute, frame_local, thread, attribute,
    #: cached_property, closure_cell, item, dict_value, dict_key, ... (see ``explain``)
    kind: str
    #: how the reference is held, in words
    label: str
    #: the type of the object this link reaches
    type_name: str

    def __str__(self) -> str:
        return f"{self.label} -> {self.type_name}"


@dataclass(frozen=True)
class Explanation:
    """The shortest chain of references found from a root to one object.

    ``links`` starts at the root; the last link reaches the object. When no
    root was found within the bounds, ``found`` is false and ``note`` says
    what was searched.
    """

    target: str
    links: tuple[Link, ...]
    found: bool
    note: str = ""

    @property
    def root(self) -> str | None:
        return self.links[0].label if self.links else None

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and any(text in link.label for link in self.links)

    def __str__(self) -> str:
        if not self.found:
            return f"{self.target}: no root found ({self.note})"
        if not self.links:
            return f"{self.target} is itself a root"
        lines = [f"{self.target} is kept alive by:"]
        lines.extend(f"  {link}" for link in self.links)
        return "\n".join(lines)


def _short(obj: Any) -> str:
    if isinstance(obj, pytypes.FunctionType):
        return f"function {obj.__qualname__}"
    if isinstance(obj, pytypes.MethodType):
        return f"bound method {getattr(obj.__func__, '__qualname__', '?')}"
    if isinstance(obj, type):
        return f"class {obj.__qualname__}"
    if isinstance(obj, pytypes.ModuleType):
        return f"module {obj.__name__}"
    return type(obj).__qualname__


def _cache_name(wrapper: Any) -> str:
    module = getattr(wrapper, "__module__", "?")
    return f"{module}.{getattr(wrapper, '__qualname__', '?')}"


def _key_repr(key: Any) -> str:
    text = repr(key) if isinstance(key, (str, int, float, bytes, bool)) else _short(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _dict_of(obj: Any) -> Any:
    try:
        return object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return None


def _attribute_label(owner: Any, name: str) -> tuple[str, str]:
    cls = type(owner)
    descriptor = inspect.getattr_static(cls, name, None)
    if isinstance(descriptor, functools.cached_property):
        return "cached_property", f"{cls.__qualname__}.{name} (cached_property)"
    return "attribute", f"attribute `{name}` of {cls.__qualname__}"


def _find_in_dict(mapping: Any, child: Any) -> tuple[str, Any]:
    """('value', key) or ('key', key) for the first entry holding ``child``."""
    try:
        items = list(mapping.items())
    except Exception:
        return "", None
    for key, value in items:
        if value is child:
            return "value", key
    for key, _ in items:
        if key is child:
            return "key", key
    return "", None


def _frame_name(frame: pytypes.FrameType) -> str:
    code = frame.f_code
    name = getattr(code, "co_qualname", code.co_name)
    return f"{name}() ({code.co_filename}:{frame.f_lineno})"


def _local_name(frame: pytypes.FrameType | None, child: Any) -> str | None:
    if frame is None:
        return None
    try:
        local_vars = dict(frame.f_locals)
    except Exception:
        return None
    for name, value in local_vars.items():
        if value is child:
            return name
    if isinstance(child, pytypes.CellType):  # a frame shows its cells' contents
        code = frame.f_code
        names = set(code.co_cellvars) | set(code.co_freevars)
        try:
            contents = child.cell_contents
        except ValueError:
            return None
        for name, value in local_vars.items():
            if name in names and value is contents:
                return name
    return None


class _Labeller:
    """Turns a chain of objects (root first) into :class:`Link` s."""

    def __init__(self, module_dicts: dict[int, str], thread_of_frame: dict[int, str]) -> None:
        self.module_dicts = module_dicts
        self.thread_of_frame = thread_of_frame

    def links(self, chain: list[Any]) -> tuple[Link, ...]:
        links: list[Link] = []
        i = 0
        while i < len(chain) - 1:
            kind, label, step = self.label(chain, i)
            i += step
            links.append(Link(kind, label, _short(chain[i])))
        return tuple(links)

    def label(self, chain: list[Any], i: int) -> tuple[str, str, int]:
        holder, child = chain[i], chain[i + 1]
        after = chain[i + 2] if i + 2 < len(chain) else None
        after2 = chain[i + 3] if i + 3 < len(chain) else None

        if id(holder) in self.module_dicts and isinstance(holder, dict):
            _, key = _find_in_dict(holder, child)
            module = self.module_dicts[id(holder)]
            return "module_global", f"module global `{module}.{key}`", 1
        if type(holder).__name__ == "_lru_cache_wrapper":
            return "lru_cache", f"lru_cache of {_cache_name(holder)}", 1
        if isinstance(holder, pytypes.ModuleType) and child is _dict_of(holder):
            if after is not None:
                _, key = _find_in_dict(child, after)
                return "module_global", f"module global `{holder.__name__}.{key}`", 2
            return "module_dict", f"__dict__ of module {holder.__name__}", 1
        if isinstance(holder, type):
            if after is not None and isinstance(child, dict) and child == holder.__dict__:
                _, key = _find_in_dict(child, after)
                return "class_attribute", f"class attribute `{_qualname(holder)}.{key}`", 2
            if isinstance(child, dict):
                return "class_dict", f"__dict__ of class {_qualname(holder)}", 1
            return "class", f"referenced by class {_qualname(holder)}", 1
        if isinstance(holder, pytypes.FrameType):
            name = _local_name(holder, child) or "?"
            thread = self.thread_of_frame.get(id(holder))
            where = f" in thread {thread}" if thread else ""
            return "frame_local", f"local variable `{name}` of {_frame_name(holder)}{where}", 1
        if isinstance(holder, threading.Thread):
            _, label, step = self._instance(holder, child, after)
            return "thread", f"thread {holder.name!r}: {label}", step
        if isinstance(holder, pytypes.FunctionType):
            return self._function(holder, child, after, after2)
        if isinstance(holder, pytypes.MethodType):
            if child is holder.__self__:
                return "bound_self", f"__self__ of bound method {holder.__qualname__}", 1
            return "bound_func", f"__func__ of bound method {holder.__qualname__}", 1
        if isinstance(holder, pytypes.CellType):
            return "cell", "contents of a closure cell", 1
        coroutines = (pytypes.GeneratorType, pytypes.CoroutineType, pytypes.AsyncGeneratorType)
        if isinstance(holder, coroutines):
            frame = getattr(holder, "gi_frame", None) or getattr(holder, "cr_frame", None)
            frame = frame or getattr(holder, "ag_frame", None)
            name = _local_name(frame, child) or "?"
            what = f"{type(holder).__name__} {getattr(holder, '__qualname__', '?')}"
            return "frame_local", f"local variable `{name}` of suspended {what}", 1
        if isinstance(holder, functools.partial):
            if child is holder.func:
                return "partial", "function of functools.partial", 1
            return "partial", "argument of functools.partial", 1
        if isinstance(holder, (list, tuple)):
            index = next((n for n, item in enumerate(holder) if item is child), None)
            return "item", f"item [{index}] of {type(holder).__qualname__}", 1
        if isinstance(holder, (set, frozenset)):
            return "item", f"member of {type(holder).__qualname__}", 1
        if isinstance(holder, dict):
            where, key = _find_in_dict(holder, child)
            if where == "key":
                return "dict_key", f"key of {type(holder).__qualname__}", 1
            if where == "value":
                return "dict_value", f"value of {type(holder).__qualname__} key {_key_repr(key)}", 1
            return "dict", f"referenced by {type(holder).__qualname__}", 1
        return self._instance(holder, child, after)

    def _instance(self, holder: Any, child: Any, after: Any) -> tuple[str, str, int]:
        own = _dict_of(holder)
        if own is not None and child is own and after is not None:
            where, key = _find_in_dict(own, after)
            if where == "value" and isinstance(key, str):
                kind, label = _attribute_label(holder, key)
                return kind, label, 2
            return "instance_dict", f"__dict__ of {type(holder).__qualname__}", 1
        if own is not None:
            where, key = _find_in_dict(own, child)
            if where == "value" and isinstance(key, str):
                kind, label = _attribute_label(holder, key)
                return kind, label, 1
        for klass in type(holder).__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                try:
                    if getattr(holder, slot) is child:
                        kind, label = _attribute_label(holder, slot)
                        return kind, label, 1
                except Exception:
                    continue
        private = getattr(holder, "__pydantic_private__", None)
        if isinstance(private, dict):
            where, key = _find_in_dict(private, child)
            if where == "value":
                return "attribute", f"private attribute `{key}` of {type(holder).__qualname__}", 1
        return "referenced_by", f"referenced by {type(holder).__qualname__}", 1

    def _function(
        self, func: pytypes.FunctionType, child: Any, after: Any, after2: Any
    ) -> tuple[str, str, int]:
        name = func.__qualname__
        closure = func.__closure__
        if closure is not None and child is closure and after is not None:
            index = next((n for n, cell in enumerate(closure) if cell is after), None)
            var = func.__code__.co_freevars[index] if index is not None else "?"
            label = f"closure cell `{var}` of function {name}"
            if after2 is not None:
                return "closure_cell", label, 3
            return "closure_cell", label, 2
        if child is func.__defaults__ or child is func.__kwdefaults__:
            return "default", f"default argument of function {name}", 1
        if child is _dict_of(func):
            if after is not None:
                _, key = _find_in_dict(child, after)
                return "attribute", f"attribute `{key}` of function {name}", 2
            return "attribute", f"__dict__ of function {name}", 1
        return "referenced_by", f"referenced by function {name}", 1


def _held_by_frame(frames: list[pytypes.FrameType], frontier: tuple[Any, ...]) -> Any:
    """(frame, id of the object) for the first frame whose variables hold one in ``frontier``.

    A closure cell is matched through the variable it holds: a frame shows the
    contents of its cells, not the cells.
    """
    wanted = {id(item): id(item) for item in frontier}
    cells: dict[int, int] = {}
    for item in frontier:
        if isinstance(item, pytypes.CellType):
            try:
                cells[id(item.cell_contents)] = id(item)
            except ValueError:  # an empty cell
                continue
    for frame in frames:
        code = frame.f_code
        cell_names = set(code.co_cellvars) | set(code.co_freevars) if cells else set()
        try:
            items = list(frame.f_locals.items())
        except Exception:
            continue
        for name, value in items:
            if id(value) in wanted:
                return frame, wanted[id(value)]
            if name in cell_names and id(value) in cells:
                return frame, cells[id(value)]
    return None


def _importable(cls: type) -> bool:
    """Whether ``cls`` is found under its own name in its module (a class made per call is not)."""
    found: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
        if found is None:
            return False
    return found is cls


def _current_stack() -> tuple[set[int], set[int]]:
    """Ids of the frames on this thread's stack, and their code objects."""
    frames: set[int] = set()
    codes: set[int] = set()
    frame: pytypes.FrameType | None = sys._getframe(1)
    while frame is not None:
        frames.add(id(frame))
        codes.add(id(frame.f_code))
        frame = frame.f_back
    return frames, codes


def explain(
    obj: Any,
    *,
    max_depth: int = 20,
    timeout: float = 10.0,
    max_frontier: int = 20_000,
    ignore: Iterable[Any] = (),
) -> Explanation:
    """The shortest chain of references from a root to ``obj``.

    Roots are module globals, ``functools.lru_cache`` caches, attributes of
    classes importable under their own name (a class made per call is followed
    further, to what keeps it), the variables of frames running in other
    threads (read directly: the collector does not see them) and live
    ``threading.Thread`` objects. The search walks ``gc.get_referrers``
    breadth first, one pass over the heap per level, for at most ``max_depth``
    levels and ``timeout`` seconds, following at most ``max_frontier`` objects
    per level. It ignores its own containers, the frames of the calling
    thread's stack (they hold ``obj`` as an argument) and the containers in
    ``ignore``. Only references the garbage collector can see are followed: one
    held by C code, or by a frame's temporaries, ends the chain without a root.

    The result holds strings only: ``obj`` is not kept alive.
    """
    started = time.perf_counter()
    target = f"{_short(obj)} at {id(obj):#x}"
    stack_frames, stack_codes = _current_stack()
    ignored: set[int] = {id(item) for item in ignore}
    module_dicts: dict[int, str] = {}
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        # an alias (``__mp_main__``) names a module only when nothing better does
        if isinstance(namespace, dict) and (
            id(namespace) not in module_dicts or getattr(module, "__name__", None) == name
        ):
            module_dicts[id(namespace)] = name
    thread_names = {t.ident: t.name for t in threading.enumerate()}
    thread_of_frame: dict[int, str] = {}
    # Frames running in other threads: the collector does not see their locals
    # (CPython 3.11+ traverses a frame only once it has finished), so they are
    # searched directly at each level.
    running: list[pytypes.FrameType] = []
    for ident, top in sys._current_frames().items():
        frame: pytypes.FrameType | None = top
        while frame is not None:
            if id(frame) not in stack_frames:
                thread_of_frame[id(frame)] = thread_names.get(ident, str(ident))
                running.append(frame)
            frame = frame.f_back
    del top, frame

    def is_root(candidate: Any) -> bool:
        key = id(candidate)
        if key in module_dicts or isinstance(candidate, pytypes.ModuleType):
            return True
        if isinstance(candidate, type):
            return _importable(candidate)
        if type(candidate).__name__ == "_lru_cache_wrapper":
            return True
        if isinstance(candidate, pytypes.FrameType):
            return key in thread_of_frame
        return isinstance(candidate, threading.Thread) and candidate.is_alive()

    def excluded(candidate: Any) -> bool:
        key = id(candidate)
        if key in ignored or key in stack_frames:
            return True
        if isinstance(candidate, pytypes.FrameType):
            return id(candidate.f_code) in stack_codes and key in stack_frames
        frame = getattr(candidate, "gi_frame", None) or getattr(candidate, "cr_frame", None)
        if frame is None:
            frame = getattr(candidate, "ag_frame", None)
        return isinstance(frame, pytypes.FrameType) and id(frame) in stack_frames

    # The search keeps strong references to what it visits (ids stay valid), in
    # containers it ignores; all are dropped before returning.
    objects: dict[int, Any] = {id(obj): obj}
    parent: dict[int, int] = {}
    keep: list[Any] = [running]
    ignored.update((id(objects), id(keep), id(running)))
    frontier: tuple[Any, ...] = (obj,)
    root_id: int | None = None
    depth = 0
    note = ""
    try:
        if is_root(obj):
            root_id = id(obj)
        while root_id is None and frontier:
            if depth >= max_depth:
                note = f"searched {max_depth} levels"
                break
            if time.perf_counter() - started > timeout:
                note = f"stopped after {timeout:g} s at depth {depth}"
                break
            depth += 1
            keep.append(frontier)
            ignored.add(id(frontier))
            referrers = gc.get_referrers(*frontier)
            keep.append(referrers)
            ignored.add(id(referrers))
            wanted = {id(item) for item in frontier}
            held = _held_by_frame(running, frontier)
            if held is not None:
                root_id = id(held[0])
                objects[root_id] = held[0]
                parent[root_id] = held[1]
                break
            found: list[Any] = []
            ignored.add(id(found))
            keep.append(found)
            for ref in referrers:
                key = id(ref)
                if key in objects or key in ignored or excluded(ref):
                    continue
                child = next((c for c in gc.get_referents(ref) if id(c) in wanted), None)
                if child is None:
                    continue
                objects[key] = ref
                parent[key] = id(child)
                del child
                if is_root(ref):
                    root_id = key
                    break
                found.append(ref)
            del ref
            if len(found) > max_frontier:
                note = f"(frontier cut to {max_frontier} objects per level) "
                del found[max_frontier:]
            frontier = tuple(found)
        if root_id is None:
            elapsed = time.perf_counter() - started
            reason = note or (
                f"nothing but ignored references after {depth} levels"
                if not frontier
                else f"searched {depth} levels"
            )
            return Explanation(
                target,
                (),
                False,
                f"{reason}; {len(objects)} objects visited in {elapsed:.2f} s; it may be "
                "held by C code, the calling thread's own frames, or a frame not materialised",
            )
        chain = [objects[root_id]]
        key = root_id
        while key in parent:
            key = parent[key]
            chain.append(objects[key])
        labeller = _Labeller(module_dicts, thread_of_frame)
        try:
            links = labeller.links(chain)
        finally:
            chain.clear()
        elapsed = time.perf_counter() - started
        return Explanation(target, links, True, f"{depth} levels in {elapsed:.2f} s")
    finally:
        objects.clear()
        keep.clear()
        frontier = ()


# --- monitor -----------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    """One type whose live instance count grew between two checks."""

    type_name: str
    before: int
    now: int

    @property
    def delta(self) -> int:
        return self.now - self.before


@dataclass(frozen=True)
class MonitorReport:
    """What one :meth:`Monitor.check` found."""

    counts: dict[str, int]
    growth: tuple[Growth, ...]
    chains: tuple[Explanation, ...] = ()
    elapsed: float = 0.0
    first: bool = False

    def __str__(self) -> str:
        if self.first:
            total = sum(self.counts.values())
            return f"leak monitor baseline: {total} tracked instances ({self.elapsed:.2f} s)"
        if not self.growth:
            return f"leak monitor: no growth ({self.elapsed:.2f} s)"
        lines = ["leak monitor: tracked instances grew"]
        lines += [f"  {g.type_name}: {g.before} -> {g.now} (+{g.delta})" for g in self.growth]
        for chain in self.chains:
            lines.append("  " + str(chain).replace("\n", "\n  "))
        return "\n".join(lines)


class Monitor:
    """Counts tracked instances now and then, and logs the types that grow.

    Off until used: :meth:`check` runs one check in the calling thread;
    :meth:`start` runs it every ``interval`` seconds in a daemon thread until
    :meth:`stop`. A check is one full collection (unless ``collect=False``) and
    one pass over the heap, grouped by type; when a type grew since the
    previous check, up to ``top`` of its instances that appeared since then
    are explained (:func:`explain`, within ``explain_timeout`` seconds each)
    and the report is logged at WARNING; otherwise at DEBUG. Between checks it
    holds weak references only.
    """

    def __init__(
        self,
        types: Iterable[type] = (),
        *,
        interval: float = 60.0,
        top: int = 3,
        logger: logging.Logger | None = None,
        min_growth: int = 1,
        collect: bool = True,
        explain_timeout: float = 2.0,
        on_report: Callable[[MonitorReport], None] | None = None,
    ) -> None:
        self.types = tuple(types) or default_types()
        self.interval = interval
        self.top = top
        self.logger = logger or _LOG
        self.min_growth = min_growth
        self.collect = collect
        self.explain_timeout = explain_timeout
        self.on_report = on_report
        self._counts: dict[str, int] | None = None
        self._seen: dict[int, weakref.ref[Any] | None] = {}
        self._is_tracked: dict[type, bool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: MonitorReport | None = None

    def _tracked(self, kind: type) -> bool:
        verdict = self._is_tracked.get(kind)
        if verdict is None:
            try:
                verdict = issubclass(kind, self.types)
            except TypeError:
                verdict = False
            self._is_tracked[kind] = verdict
        return verdict

    def check(self) -> MonitorReport:
        """Count, compare with the previous check, explain and log the growth."""
        with self._lock:
            started = time.perf_counter()
            if self.collect:
                gc.collect()
            counts: Counter[str] = Counter()
            seen: dict[int, weakref.ref[Any] | None] = {}
            fresh: dict[str, list[weakref.ref[Any]]] = {}
            previous = self._seen
            for obj in gc.get_objects():
                if not self._tracked(type(obj)):
                    continue
                name = _qualname(type(obj))
                counts[name] += 1
                key = id(obj)
                ref = _weak(obj)
                seen[key] = ref
                if ref is not None and (key not in previous or previous[key] is not ref):
                    sample = fresh.setdefault(name, [])
                    if len(sample) < self.top:
                        sample.append(ref)
            del obj
            self._seen = seen
            first = self._counts is None
            before = self._counts or {}
            self._counts = dict(counts)
            growth = tuple(
                Growth(name, before.get(name, 0), now)
                for name, now in counts.most_common()
                if not first and now - before.get(name, 0) >= self.min_growth
            )
            chains: list[Explanation] = []
            for item in growth:
                for ref in fresh.get(item.type_name, ())[: self.top]:
                    if len(chains) >= self.top:
                        break
                    instance = ref()
                    if instance is not None:
                        chains.append(explain(instance, timeout=self.explain_timeout))
                    del instance
            report = MonitorReport(
                dict(counts.most_common()),
                growth,
                tuple(chains),
                time.perf_counter() - started,
                first,
            )
            self.last = report
        level = logging.WARNING if growth else logging.DEBUG
        self.logger.log(level, "%s", report)
        if self.on_report is not None:
            self.on_report(report)
        return report

    def start(self) -> Monitor:
        """Check every ``interval`` seconds in a daemon thread (the first check at once)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="langgraph-fixed-leak-monitor", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # a monitor must never take the service down
                self.logger.exception("leak monitor check failed")
            self._stop.wait(self.interval)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread (if any) and wait for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
