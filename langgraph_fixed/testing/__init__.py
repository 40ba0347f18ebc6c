"""pytest plugins: ``leakcheck`` (registered, inert unless asked) and ``apply`` (by name)."""
