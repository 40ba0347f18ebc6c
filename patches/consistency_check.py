"""The patched ``get_function_nonlocals`` returns what upstream's and ours return.

Run by ``nox -s patches`` in a virtualenv holding a patched langchain-core and
no langgraph-fixed. For every callable of the differential corpus
(``tests/corpus.py``) it compares three functions, each called twice (the
second call is served from the analysis cache where there is one):

- the installed, patched ``langchain_core.runnables.utils.get_function_nonlocals``;
- upstream's uncached function (``__wrapped__`` of the lru-cached original),
  loaded from the *unpatched* sdist's ``langchain_core/runnables/utils.py``;
- langgraph-fixed's runtime replacement ``fixed_get_function_nonlocals`` built on
  that original, imported from the source tree for this comparison only
  (``apply()`` is never called; nothing is patched at run time).

Results must be identical: the same values in the same order (identical
objects, or equal objects of one type where an attribute chain makes a new
object per read, such as a bound method), or the same exception type. Also
checks per-request closures of one ``def`` and a rebound global::

    python patches/consistency_check.py --unpatched path/to/unpacked-sdist
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# patches/ holds folders named langchain/ and langgraph/ (the series): never
# let `import langchain` find them as namespace packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

Outcome = tuple[str, Any]


def outcome(func: Any, arg: Any) -> Outcome:
    try:
        return ("ok", func(arg))
    except Exception as exc:
        return ("raised", type(exc))


def same(a: Outcome, b: Outcome) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "raised":
        return a[1] is b[1]
    if len(a[1]) != len(b[1]):
        return False
    return all(x is y or (type(x) is type(y) and x == y) for x, y in zip(a[1], b[1], strict=True))


def load_unpatched(tree: Path) -> types.ModuleType:
    """The unpatched sdist's ``runnables/utils.py``, as a module of its own."""
    path = tree / "langchain_core" / "runnables" / "utils.py"
    spec = importlib.util.spec_from_file_location("unpatched_runnables_utils", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unpatched", type=Path, required=True, help="unpacked sdist")
    args = parser.parse_args(argv)

    if importlib.util.find_spec("langgraph_fixed") is not None:
        print("langgraph_fixed is installed: this check must run without it", file=sys.stderr)
        return 2
    from langchain_core.runnables import utils as patched

    if hasattr(patched.get_function_nonlocals, "cache_info"):
        print("the installed langchain-core is not patched", file=sys.stderr)
        return 2
    unpatched = load_unpatched(args.unpatched)
    uncached = unpatched.get_function_nonlocals.__wrapped__

    sys.path.insert(0, str(ROOT))  # langgraph_fixed and tests.corpus, from the source tree
    from langgraph_fixed.fixes._source import source_fingerprint
    from langgraph_fixed.fixes.nonlocals import KNOWN_FINGERPRINTS, fixed_get_function_nonlocals
    from tests import corpus

    ours = fixed_get_function_nonlocals(
        unpatched.get_function_nonlocals,
        unpatched.FunctionNonLocals,
        closure_of_wrapped=KNOWN_FINGERPRINTS[source_fingerprint(uncached)],
    )
    functions = {
        "patched upstream": patched.get_function_nonlocals,
        "langgraph-fixed": ours,
    }
    cases = dict(corpus.CORPUS)
    for i in range(20):  # closures of one def made per request: cache hits from the second
        cases[f"per-request closure {i}"] = corpus.make_closure(corpus.SUB, object())
    mismatches = []
    for name, arg in cases.items():
        expected = outcome(uncached, arg)
        for label, func in functions.items():
            for call in ("first", "second"):
                got = outcome(func, arg)
                if not same(got, expected):
                    mismatches.append(f"{name}: {label} ({call} call) {got} != uncached {expected}")

    # a rebound global is seen at once (the lru cache returned the old value)
    old = corpus.SUB
    corpus.SUB = types.SimpleNamespace(invoke=lambda x: x)  # type: ignore[assignment]
    try:
        expected = outcome(uncached, corpus.reads_globals)
        for label, func in functions.items():
            if not same(outcome(func, corpus.reads_globals), expected):
                mismatches.append(f"rebound global: {label} returned a stale value")
    finally:
        corpus.SUB = old

    kinds = [outcome(uncached, arg)[0] for arg in cases.values()]
    print(
        f"{len(cases)} callables ({kinds.count('ok')} ok, {kinds.count('raised')} raising), "
        f"each called twice: patched upstream and langgraph-fixed against the unpatched "
        f"uncached function: {len(mismatches)} mismatches"
    )
    for line in mismatches:
        print("  " + line)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
