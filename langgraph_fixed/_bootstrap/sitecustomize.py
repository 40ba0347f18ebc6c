"""Put on PYTHONPATH by ``langgraph-fixed run``: applies the fixes where the .pth cannot.

The wheel's ``langgraph_fixed_startup.pth`` does this job wherever the package
is installed in site-packages; this file covers a package found through
PYTHONPATH (a source checkout). Both are harmless together. It then runs the
``sitecustomize`` module it shadows, if there is one.
"""

import importlib.machinery
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))

try:
    from langgraph_fixed._startup import from_environment

    from_environment()
except Exception:  # never take the host process down at start-up
    pass

for _entry in sys.path:
    if os.path.abspath(_entry or os.curdir) == _here:
        continue
    _spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [_entry])
    if _spec is not None and _spec.loader is not None:
        _module = importlib.util.module_from_spec(_spec)
        sys.modules["sitecustomize"] = _module
        _spec.loader.exec_module(_module)
        break
