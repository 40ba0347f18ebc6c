"""The doctor's live check: every scenario without the fixes and with them, side by side.

Each side runs in a worker process of its own (spawned: a fresh interpreter),
so that neither shares the other's caches and the two use both cores. The
plain side starts with ``LANGGRAPH_FIXED=0`` (so that a ``langgraph-fixed
run`` parent does not fix it); the fixed side calls ``apply()``, or, with
``apply=False``, keeps what the environment gives a new process (the start-up
hook under ``langgraph-fixed run``). Each scenario is run as many times as it
takes to go past the bound of the cache it shows (read from the cache itself:
257 for a 256-entry cache), and the results come back as each scenario ends.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "plan", "run"]

#: Runs of a scenario whose caches have no bound (enough to show each one is kept).
UNBOUNDED = 50
#: Runs of a scenario none of whose fixes is needed here (it shows 0 and 0).
NOTHING_TO_SHOW = 20
#: How often a side reports how far it is in a scenario.
PROGRESS_EVERY = 32
#: The longest a side may go without a word before it counts as stuck.
SILENCE_SECONDS = 300.0


@dataclass
class Outcome:
    """One scenario, both sides: payloads alive (or why it could not run)."""

    name: str
    requests: int
    without_fix: int | str | None = None
    with_fix: int | str | None = None

    @property
    def done(self) -> bool:
        return self.without_fix is not None and self.with_fix is not None


def plan(names: Sequence[str], requests: int | None) -> list[tuple[str, int]]:
    """(scenario, runs) for each name: ``requests`` if given, else the bound of the
    caches its fixes cover, plus one (their modules must be imported already)."""
    from langgraph_fixed._engine import DEFAULT
    from langgraph_fixed.diagnostics.scenarios import SCENARIOS

    if requests is not None:
        return [(name, requests) for name in names]
    bounds: dict[str, list[int | None]] = {}
    for size in DEFAULT.cache_sizes():
        if size.kind == "upstream" and size.fix is not None:
            bounds.setdefault(size.fix, []).append(size.maxsize)
    by_name = {s.name: s for s in SCENARIOS}
    planned = []
    for name in names:
        found = [b for fix in by_name[name].fixes for b in bounds.get(fix, [])]
        if not found:
            planned.append((name, NOTHING_TO_SHOW))
        elif None in found:
            planned.append((name, UNBOUNDED))
        else:
            planned.append((name, max(b for b in found if b is not None) + 1))
    return planned


def _side(messages: Any, fixed: bool, apply: bool, planned: list[tuple[str, int]]) -> None:
    """A worker: run every planned scenario on one side, saying how it goes."""
    warnings.simplefilter("ignore")
    from langgraph_fixed.diagnostics.caches import upstream_caches_cleared
    from langgraph_fixed.diagnostics.scenarios import SCENARIOS, run_requests

    if fixed and apply:
        from langgraph_fixed._engine import DEFAULT
        from langgraph_fixed.diagnostics.caches import import_targets

        import_targets()
        DEFAULT.apply()
    by_name = {s.name: s for s in SCENARIOS}
    for name, requests in planned:
        messages.put(("progress", fixed, name, 0))
        try:
            scenario = by_name[name]

            def said(done: int, name: str = name) -> None:
                if done % PROGRESS_EVERY == 0:
                    messages.put(("progress", fixed, name, done))

            with upstream_caches_cleared():
                refs = run_requests(scenario.run, requests, progress=said)
                result: int | str = sum(ref() is not None for ref in refs)
        except Exception as exc:  # an install without, say, langgraph-prebuilt
            result = f"could not run: {type(exc).__name__}: {str(exc)[:120]}"
        messages.put(("done", fixed, name, result))
    messages.put(("end", fixed, None, None))


def run(
    planned: list[tuple[str, int]], *, apply: bool = True
) -> Iterator[tuple[str, Outcome | tuple[str, bool, int]]]:
    """Run both sides; yields ``("progress", (scenario, fixed, runs done))`` as they go
    and ``("row", outcome)`` for each scenario once both sides have it, in order."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    outcomes = {name: Outcome(name, requests) for name, requests in planned}
    workers = []
    for fixed in (False, True):
        saved = os.environ.get("LANGGRAPH_FIXED")
        if not fixed:
            os.environ["LANGGRAPH_FIXED"] = "0"  # the plain side stays plain under `run`
        try:
            worker = context.Process(target=_side, args=(messages, fixed, apply, planned))
            worker.start()
        finally:
            if saved is None:
                os.environ.pop("LANGGRAPH_FIXED", None)
            else:
                os.environ["LANGGRAPH_FIXED"] = saved
        workers.append(worker)
    order = [name for name, _ in planned]
    shown = 0
    ended: set[bool] = set()
    try:
        while len(ended) < 2:
            try:
                kind, fixed, name, value = messages.get(timeout=SILENCE_SECONDS)
            except queue.Empty:
                break  # a side is stuck or gone: what is missing counts as not run
            if kind == "end":
                ended.add(fixed)
            elif kind == "progress":
                yield "progress", (name, fixed, value)
            else:
                outcome = outcomes[name]
                if fixed:
                    outcome.with_fix = value
                else:
                    outcome.without_fix = value
            while shown < len(order) and outcomes[order[shown]].done:
                yield "row", outcomes[order[shown]]
                shown += 1
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    for name in order[shown:]:
        outcome = outcomes[name]
        if outcome.without_fix is None:
            outcome.without_fix = "could not run: the worker stopped"
        if outcome.with_fix is None:
            outcome.with_fix = "could not run: the worker stopped"
        yield "row", outcome
