"""Finding leaks and caches: the tools around the fix, never needed by it.

- :mod:`~langgraph_fixed.diagnostics.leaks`: ``track``, ``explain``, ``Monitor``
  (re-exported by the package);
- :mod:`~langgraph_fixed.diagnostics.scan`: every cache in the installed sources;
- :mod:`~langgraph_fixed.diagnostics.caches`: the known caches' live sizes;
- :mod:`~langgraph_fixed.diagnostics.scenarios`: the leak scenarios the doctor runs.
"""
