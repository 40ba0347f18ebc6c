"""The doctor's live check: every scenario without the fixes and with them, side by side.

Each side runs in a worker process of its own (spawned: a fresh interpreter),
so that neither shares the other's caches and the two use both cores. The
plain side starts with ``LANGGRAPH_FIXED=0`` (so that a ``langgraph-fixed
run`` parent does not fix it); the fixed side calls ``apply()``, or, with
``apply=False``, keeps what the environment gives a new process (the start-up
hook under ``langgraph-fixed run``). Each scenario is run as many times as it
takes to go past the bound of the cache it shows (read from the cache itself:
257 for a 256-entry cache), and the results come back as each scenario ends.

Going past the bound is only worth it where the plain side shows a leak. Both
sides first run a scenario ``PROBE`` times: a cache that keeps payloads keeps
the last ones run, so when none of the first ``PROBE`` is alive on the plain
side, more runs cannot change its answer (0). The plain side says so through a
shared flag and both sides stop there; otherwise both go on past the bound.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "plan", "run"]

#: Runs of a scenario whose caches have no bound (enough to show each one is kept).
UNBOUNDED = 50
#: Runs of a scenario none of whose fixes is needed here (it shows 0 and 0).
NOTHING_TO_SHOW = 20
#: Runs after which a scenario stops when the plain side has kept none of them.
PROBE = 20
#: What the plain side says of a scenario after its probe (shared with the fixed side).
_UNKNOWN, _GO_ON, _STOP = 0, 1, 2
#: How often a side reports how far it is in a scenario.
PROGRESS_EVERY = 32
#: The longest a side may go without a word before it counts as stuck.
SILENCE_SECONDS = 300.0


@dataclass
class Outcome:
    """One scenario, both sides: payloads alive (or why it could not run), and how
    many times each side ran it."""

    name: str
    without_fix: int | str | None = None
    with_fix: int | str | None = None
    without_runs: int = 0
    with_runs: int = 0

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


def _side(
    messages: Any,
    fixed: bool,
    apply: bool,
    planned: list[tuple[str, int]],
    verdicts: Any,
    probe: bool,
) -> None:
    """A worker: run every planned scenario on one side, saying how it goes.

    With ``probe``, a scenario stops after ``PROBE`` runs when the plain side kept
    none of them: the plain side sets ``verdicts[i]``, the fixed side waits for it.
    """
    warnings.simplefilter("ignore")
    from langgraph_fixed.diagnostics.caches import upstream_caches_cleared
    from langgraph_fixed.diagnostics.scenarios import SCENARIOS, run_requests

    if fixed and apply:
        from langgraph_fixed._engine import DEFAULT
        from langgraph_fixed.diagnostics.caches import import_targets

        import_targets()
        DEFAULT.apply()
    by_name = {s.name: s for s in SCENARIOS}
    for index, (name, requests) in enumerate(planned):
        messages.put(("progress", fixed, name, 0))
        first = min(PROBE, requests) if probe else requests
        runs = 0
        try:
            scenario = by_name[name]
            with upstream_caches_cleared():
                said = _reporter(messages, fixed, name, 0)
                refs = run_requests(scenario.run, first, progress=said)
                runs = first
                if first < requests:
                    kept = any(ref() is not None for ref in refs)
                    if not fixed:
                        verdicts[index] = _GO_ON if kept else _STOP
                    if kept or _plain_verdict(verdicts, index) != _STOP:
                        refs += run_requests(
                            scenario.run,
                            requests - first,
                            progress=_reporter(messages, fixed, name, first),
                        )
                        runs = requests
                result: int | str = sum(ref() is not None for ref in refs)
        except Exception as exc:  # an install without, say, langgraph-prebuilt
            if not fixed:
                verdicts[index] = _GO_ON
            runs = runs or requests
            result = f"could not run: {type(exc).__name__}: {str(exc)[:120]}"
        messages.put(("done", fixed, name, (result, runs)))
    messages.put(("end", fixed, None, None))


def _reporter(messages: Any, fixed: bool, name: str, offset: int) -> Callable[[int], None]:
    """Tells the parent how far a side is, every ``PROGRESS_EVERY`` runs."""

    def said(done: int) -> None:
        if (offset + done) % PROGRESS_EVERY == 0:
            messages.put(("progress", fixed, name, offset + done))

    return said


def _plain_verdict(verdicts: Any, index: int) -> int:
    """The plain side's word on scenario ``index`` (``_GO_ON`` if it takes too long)."""
    deadline = time.monotonic() + SILENCE_SECONDS
    while verdicts[index] == _UNKNOWN and time.monotonic() < deadline:
        time.sleep(0.005)
    return int(verdicts[index]) if verdicts[index] != _UNKNOWN else _GO_ON


def run(
    planned: list[tuple[str, int]], *, apply: bool = True, probe: bool = True
) -> Iterator[tuple[str, Outcome | tuple[str, bool, int]]]:
    """Run both sides; yields ``("progress", (scenario, fixed, runs done))`` as they go
    and ``("row", outcome)`` for each scenario once both sides have it, in order.
    ``probe=False`` runs every scenario the planned number of times, leak or not."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    verdicts = context.Array("b", len(planned), lock=False)
    outcomes = {name: Outcome(name) for name, _ in planned}
    workers = []
    for fixed in (False, True):
        saved = os.environ.get("LANGGRAPH_FIXED")
        if not fixed:
            os.environ["LANGGRAPH_FIXED"] = "0"  # the plain side stays plain under `run`
        try:
            worker = context.Process(
                target=_side, args=(messages, fixed, apply, planned, verdicts, probe)
            )
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
                    outcome.with_fix, outcome.with_runs = value
                else:
                    outcome.without_fix, outcome.without_runs = value
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
            outcome.without_fix, outcome.without_runs = "could not run: the worker stopped", 0
        if outcome.with_fix is None:
            outcome.with_fix, outcome.with_runs = "could not run: the worker stopped", 0
        yield "row", outcome
