"""What the graph factory made, shared by the graph module and the routes.

langgraph-api loads ``graphs.py`` and ``routes.py`` by file path, each under a
name of its own choosing: the state lives in one module registered under a
fixed name, so both see the same payloads.
"""

from __future__ import annotations

import sys
import types
import weakref
from typing import Any

NAME = "lgf_server_probe"


def probe() -> Any:
    module = sys.modules.get(NAME)
    if module is None:
        module = types.ModuleType(NAME)
        module.payloads = weakref.WeakSet()
        module.created = 0
        sys.modules[NAME] = module
    return module
