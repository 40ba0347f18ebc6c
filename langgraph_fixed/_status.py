"""What a status report says: the state of each fix, and the warning and error types.

Plain data, no behaviour: the engine fills it in, the CLI, the diagnostics and
users read it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "FixNotApplied",
    "FixState",
    "LangGraphFixedWarning",
    "PatchStatus",
    "StatusReport",
]


class LangGraphFixedWarning(UserWarning):
    """A fix could not be applied; the library still works, unpatched."""


class FixState(enum.Enum):
    """What happened to one fix."""

    APPLIED = "applied"
    NOT_NEEDED = "not needed"
    #: needed on this install, its module not imported yet: applied when it is
    WAITING = "waiting"
    #: bound, but a module global still reaches upstream's object (``leaks`` says where)
    PARTIAL = "partial"
    SKIPPED = "skipped"
    FAILED = "failed"
    INACTIVE = "not applied"


class PatchStatus(NamedTuple):
    """The state of one fix, with the reason and the versions it was judged on.

    (A named tuple rather than a dataclass: it is made at start-up, where a
    dataclass costs ten times as much to define.)
    """

    fix: str
    state: FixState
    reason: str
    target: str
    #: read-only: the installed versions the fix was judged on
    versions: dict[str, str | None] = {}  # noqa: RUF012
    rebound: tuple[str, ...] = ()
    #: for ``WAITING``: the module whose import applies the fix
    waiting_for: str | None = None
    #: for ``PARTIAL``: the module globals still bound to upstream's object
    leaks: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.state is FixState.APPLIED

    @property
    def problem(self) -> bool:
        """True when the fix is needed here but is not active and will not be."""
        return self.state in (FixState.SKIPPED, FixState.FAILED, FixState.PARTIAL)


class StatusReport(tuple[PatchStatus, ...]):
    """The status of every registered fix, in registry order."""

    def __new__(cls, statuses: Sequence[PatchStatus] = ()) -> StatusReport:
        return super().__new__(cls, statuses)

    def get(self, fix: str) -> PatchStatus:
        """The status of the fix called ``fix`` (``KeyError`` if there is none)."""
        for item in self:
            if item.fix == fix:
                return item
        raise KeyError(fix)

    @property
    def problems(self) -> tuple[PatchStatus, ...]:
        return tuple(s for s in self if s.problem)

    @property
    def ok(self) -> bool:
        """True when no needed fix is left inactive by a skip or a failure."""
        return not self.problems

    def format(self) -> str:
        rows = [f"{s.fix:<28} {s.state.value:<12} {s.reason}" for s in self]
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.format()


class FixNotApplied(RuntimeError):
    """Raised by ``apply(strict=True)`` when a needed fix is not active."""

    def __init__(self, report: StatusReport) -> None:
        self.report = report
        problems = "; ".join(f"{s.fix}: {s.state.value} ({s.reason})" for s in report.problems)
        super().__init__(f"langgraph-fixed could not apply every needed fix: {problems}")
