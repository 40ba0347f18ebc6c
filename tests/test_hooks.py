"""The post-import hook (``langgraph_fixed._hooks``): real imports of real files, real threads."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from langgraph_fixed import _hooks
from langgraph_fixed._status import LangGraphFixedWarning


@pytest.fixture
def make_module(tmp_path: Path) -> Iterator[Any]:
    """Write a module (or a package) with a fresh name on ``sys.path``; forget them after."""
    sys.path.insert(0, str(tmp_path))
    made: list[str] = []

    def make(source: str = "VALUE = 1\n", *, package: bool = False) -> str:
        name = f"lgf_hook_probe_{uuid.uuid4().hex[:8]}"
        path = tmp_path / name / "__init__.py" if package else tmp_path / f"{name}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(source)
        made.append(name)
        return name

    yield make
    sys.path.remove(str(tmp_path))
    for name in made:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        for key in list(_hooks.pending()):
            if key.startswith(name):
                _hooks._callbacks.pop(key, None)


def test_a_callback_runs_right_after_the_first_import_with_the_real_loader(
    make_module: Any,
) -> None:
    name = make_module("VALUE = 41\n")
    seen: list[tuple[int, Any]] = []
    _hooks.when_imported(name, lambda m: seen.append((m.VALUE, m.__loader__)))
    assert name not in sys.modules, "registering imports nothing"
    assert _hooks.pending()[name] == 1
    module = importlib.import_module(name)
    assert len(seen) == 1 and seen[0][0] == 41
    loader = seen[0][1]
    assert type(loader).__module__ != _hooks.__name__, "the module sees the real loader"
    assert module.__spec__ is not None and module.__spec__.loader is loader
    assert name not in _hooks.pending()
    importlib.reload(module)  # a reload is not a first import
    assert len(seen) == 1


def test_a_module_already_imported_runs_the_callback_at_once(make_module: Any) -> None:
    name = make_module()
    module = importlib.import_module(name)
    seen: list[ModuleType] = []
    _hooks.when_imported(name, seen.append)
    assert seen == [module]
    assert name not in _hooks.pending()


def test_the_same_callback_is_registered_once_and_can_be_cancelled(make_module: Any) -> None:
    name = make_module()
    seen: list[ModuleType] = []
    _hooks.when_imported(name, seen.append)
    _hooks.when_imported(name, seen.append)
    assert _hooks.pending()[name] == 1
    _hooks.cancel(name, seen.append)
    assert name not in _hooks.pending()
    importlib.import_module(name)
    assert seen == []


def test_a_failing_callback_warns_and_never_breaks_the_import(make_module: Any) -> None:
    name = make_module()
    seen: list[ModuleType] = []

    def boom(module: ModuleType) -> None:
        raise RuntimeError("boom")

    _hooks.when_imported(name, boom)
    _hooks.when_imported(name, seen.append)
    with pytest.warns(LangGraphFixedWarning, match="boom"):
        module = importlib.import_module(name)
    assert seen == [module], "the other callbacks still run"


def test_a_module_that_fails_to_import_keeps_its_callbacks(make_module: Any) -> None:
    name = make_module("raise ImportError('not today')\n")
    seen: list[ModuleType] = []
    _hooks.when_imported(name, seen.append)
    with pytest.raises(ImportError, match="not today"):
        importlib.import_module(name)
    assert seen == [] and _hooks.pending()[name] == 1


def test_submodules_and_packages(make_module: Any, tmp_path: Path) -> None:
    package = make_module("", package=True)
    (tmp_path / package / "child.py").write_text("X = 2\n")
    seen: list[str] = []
    _hooks.when_imported(f"{package}.child", lambda m: seen.append(m.__name__))
    _hooks.when_imported(package, lambda m: seen.append(m.__name__))
    importlib.import_module(f"{package}.child")
    assert seen == [package, f"{package}.child"]


def test_threads_importing_at_once_are_all_served(make_module: Any) -> None:
    """Eight threads import 80 watched modules at once: every callback runs exactly
    once, every import succeeds, and the finder never leaves ``sys.meta_path`` (a
    finder that steps off it while it searches makes another thread's import,
    iterating the list at that moment, skip a finder)."""
    names = [make_module(f"VALUE = {i}\n") for i in range(80)]
    seen: list[str] = []
    lock = threading.Lock()

    def record(module: ModuleType) -> None:
        with lock:
            seen.append(module.__name__)

    for name in names:
        _hooks.when_imported(name, record)
    stop = threading.Event()
    absent: list[int] = []

    def watch() -> None:
        while not stop.is_set():
            if not any(isinstance(f, _hooks._Finder) for f in list(sys.meta_path)):
                absent.append(1)

    errors: list[BaseException] = []

    def importer(chunk: list[str]) -> None:
        try:
            for name in chunk:
                importlib.import_module(name)
        except BaseException as exc:
            errors.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=importer, args=(names[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    watcher.join(10)
    assert errors == []
    assert sorted(seen) == sorted(names), "each module's callback ran exactly once"
    assert absent == [], "the finder was off sys.meta_path while imports ran"


class _AskingAgainFinder(importlib.abc.MetaPathFinder):
    """Finds specs by asking the import system again, as wrapt's finder does."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.busy = False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname != self.name or self.busy:
            return None
        self.busy = True
        try:
            return importlib.util.find_spec(fullname)
        finally:
            self.busy = False


def test_a_finder_that_asks_the_import_system_again_does_not_loop(make_module: Any) -> None:
    name = make_module()
    asking = _AskingAgainFinder(name)
    seen: list[str] = []
    _hooks.when_imported(name, lambda m: seen.append(m.__name__))
    sys.meta_path.insert(1, asking)
    try:
        importlib.import_module(name)
    finally:
        sys.meta_path.remove(asking)
    assert seen == [name], "served once"
