"""Callables of every shape ``get_function_nonlocals`` meets, for the differential test.

Kept in a real module file so that ``inspect.getsource`` works on them the way
it does on user code. ``CORPUS`` maps a readable name to a callable.
"""

from __future__ import annotations

import functools
import linecache
import types
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableLambda, RunnablePassthrough

# ---- module-level values the functions read --------------------------------

CONFIG = types.SimpleNamespace(
    retriever=types.SimpleNamespace(index=types.SimpleNamespace(name="idx"), k=3),
    nothing=None,
    chain=RunnableLambda(lambda x: x) | RunnablePassthrough(),
)
SUB = RunnablePassthrough()
NUMBER = 42
OPTIONAL: Any = None


class Service:
    """An object whose bound methods are analysed (like ``ToolNode._func``)."""

    factor = 2

    def __init__(self, runnable: Any) -> None:
        self.runnable = runnable
        self.inner = types.SimpleNamespace(deeper=types.SimpleNamespace(leaf="leaf"))

    def method(self, x: int) -> Any:
        return self.runnable.invoke(x) + self.factor + NUMBER

    def chained(self, x: int) -> Any:
        return self.inner.deeper.leaf, CONFIG.retriever.index.name

    @classmethod
    def klass(cls, x: int) -> Any:
        return cls.factor + NUMBER

    @staticmethod
    def static(x: int) -> Any:
        return SUB.invoke(x)

    async def amethod(self, x: int) -> Any:
        return await self.runnable.ainvoke(x)

    def __call__(self, x: int) -> Any:
        return self.method(x)


# ---- plain functions ---------------------------------------------------------


def reads_globals(x: int) -> Any:
    return SUB.invoke(x) + NUMBER


def reads_attribute_chains(x: int) -> Any:
    return CONFIG.retriever.index.name, CONFIG.retriever.k, CONFIG.nothing.missing


def reads_missing_attribute(x: int) -> Any:
    return CONFIG.retriever.does_not_exist.deeper


def reads_none_global_chain(x: int) -> Any:
    return OPTIONAL.attribute


def reads_call_chain(x: int) -> Any:
    return CONFIG.chain.invoke(x).upper(), len(str(x)).bit_length()


def stores_and_loads(x: int) -> Any:
    NUMBER = 1  # a local shadowing a global is the point
    return NUMBER + x


def reads_builtins_only(x: int) -> Any:
    return len(str(x)) + sum([x])


async def async_function(x: int) -> Any:
    return await SUB.ainvoke(x)


def generator_function(x: int) -> Any:
    yield SUB.invoke(x)


def with_comprehension(xs: list[int]) -> Any:
    return [SUB.invoke(x) for x in xs if x > NUMBER]


def with_inner_def(x: int) -> Any:
    def inner(y: int) -> Any:
        return CONFIG.retriever.k + y

    return inner(x)


lambda_global = lambda x: SUB.invoke(x) + NUMBER  # noqa: E731
lambda_chain = lambda x: CONFIG.retriever.index.name  # noqa: E731
two_lambdas_one_line = (lambda x: SUB), (lambda y: CONFIG.chain)


# ---- closures ----------------------------------------------------------------


def make_closure(runnable: Any, payload: Any) -> Callable[[int], Any]:
    def node(x: int) -> Any:
        return runnable.invoke(x), payload.data, NUMBER

    return node


def make_lambda(runnable: Any) -> Callable[[int], Any]:
    return lambda x: runnable.invoke(x)


def make_nested(runnable: Any) -> Callable[[int], Any]:
    def middle(x: int) -> Any:
        def innermost(y: int) -> Any:
            return runnable.invoke(y)

        return innermost(x)

    return middle


def make_recursive() -> Callable[[int], Any]:
    def fact(n: int) -> Any:
        return 1 if n <= 1 else n * fact(n - 1)

    return fact


def make_with_empty_cell() -> Callable[[int], Any]:
    def uses_later(x: int) -> Any:
        return later(x)

    return uses_later
    later = SUB.invoke  # never runs: the cell stays empty


def make_overlap(data: Any) -> Callable[[int], Any]:
    """``data`` is a free variable and, as an attribute name, in co_names too."""

    def node(x: int) -> Any:
        return data, CONFIG.retriever.data if x else SUB.data

    return node


class _GlobalsWithMissing(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> Any:
        return f"missing {key}"


def _with_dict_subclass_globals() -> Any:
    filename = "<langgraph-fixed corpus: dict subclass globals>"
    source = "def f(x):\n    return SUB.invoke(x), UNDEFINED.attr, NUMBER\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = _GlobalsWithMissing(SUB=SUB)
    exec(compile(source, filename, "exec"), namespace)
    return namespace["f"]


def make_shadowing(NUMBER: Any) -> Callable[[int], Any]:
    def node(x: int) -> Any:
        return NUMBER.value + x

    return node


# ---- decorated -----------------------------------------------------------------


def plain_decorator(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


@plain_decorator
def decorated(x: int) -> Any:
    return SUB.invoke(x) + CONFIG.retriever.k


@plain_decorator
@plain_decorator
def doubly_decorated(x: int) -> Any:
    return CONFIG.retriever.index.name


def make_decorated_closure(runnable: Any) -> Callable[..., Any]:
    @plain_decorator
    def node(x: int) -> Any:
        return runnable.invoke(x)

    return node


class WrapsInstance:
    """A callable instance that says it wraps a function."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.__wrapped__ = func

    def __call__(self, *args: Any) -> Any:
        return self.__wrapped__(*args)


class WrapsNonCallable:
    def __init__(self) -> None:
        self.__wrapped__ = "not callable"

    def __call__(self, x: int) -> Any:
        return SUB.invoke(x)


def _wrapper_loop() -> Any:
    def a() -> None: ...

    def b() -> None: ...

    a.__wrapped__ = b  # type: ignore[attr-defined]
    b.__wrapped__ = a  # type: ignore[attr-defined]
    return a


def _wrapped_is_none() -> Any:
    def node(x: int) -> Any:
        return SUB.invoke(x)

    node.__wrapped__ = None  # type: ignore[attr-defined]
    return node


def _without_source() -> Any:
    namespace: dict[str, Any] = {"SUB": SUB}
    exec("def no_source(x):\n    return SUB.invoke(x)\n", namespace)
    return namespace["no_source"]


_service = Service(SUB)

CORPUS: dict[str, Any] = {
    "global reads": reads_globals,
    "attribute chains": reads_attribute_chains,
    "missing attribute": reads_missing_attribute,
    "None global chain": reads_none_global_chain,
    "call chains": reads_call_chain,
    "stores and loads": stores_and_loads,
    "builtins only": reads_builtins_only,
    "async function": async_function,
    "generator": generator_function,
    "comprehension": with_comprehension,
    "inner def": with_inner_def,
    "lambda reading globals": lambda_global,
    "lambda reading a chain": lambda_chain,
    "two lambdas on one line": two_lambdas_one_line[1],
    "closure": make_closure(SUB, types.SimpleNamespace(data=b"x")),
    "closure over a lambda": make_lambda(SUB),
    "nested closure": make_nested(SUB),
    "recursive closure": make_recursive(),
    "empty closure cell": make_with_empty_cell(),
    "closure shadowing a global": make_shadowing(types.SimpleNamespace(value=1)),
    "free variable also an attribute name": make_overlap(types.SimpleNamespace(data=1)),
    "globals dict with __missing__": _with_dict_subclass_globals(),
    "decorated": decorated,
    "doubly decorated": doubly_decorated,
    "decorated closure": make_decorated_closure(SUB),
    "bound method": _service.method,
    "bound method with chains": _service.chained,
    "async bound method": _service.amethod,
    "classmethod": Service.klass,
    "staticmethod": Service.static,
    "unbound function from class": Service.method,
    "callable instance": _service,
    "class": Service,
    "callable instance wrapping a function": WrapsInstance(reads_globals),
    "non-callable __wrapped__": WrapsNonCallable(),
    "functools.partial": functools.partial(reads_globals, 1),
    "partial of a closure": functools.partial(make_closure(SUB, None), 1),
    "builtin function": len,
    "builtin method": [].append,
    "method descriptor": str.upper,
    "type": int,
    "wrapper loop": _wrapper_loop(),
    "__wrapped__ set to None": _wrapped_is_none(),
    "function without source": _without_source(),
    "RunnableLambda instance": RunnableLambda(reads_globals),
    "None": None,
    "an int": 3,
}
