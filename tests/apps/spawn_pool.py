"""Runs graphs in a multiprocessing pool whose start method is argv[1].

Prints one JSON line per task: the child's pid, whether the fix is active
there, and how many of the payloads it created are still alive.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any


def serve(count: int) -> dict[str, Any]:
    from tests.apps import tracker

    for _ in range(count):
        tracker.serve_one()
    time.sleep(0.5)  # so that the other child takes the other task
    return tracker.report()


def main() -> None:
    context = multiprocessing.get_context(sys.argv[1])
    with context.Pool(2) as pool:
        reports = pool.map(serve, [300, 300], chunksize=1)
    for report in reports:
        print(json.dumps(report))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    main()
