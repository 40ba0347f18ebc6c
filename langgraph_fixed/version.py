"""``langgraph.version``, with langgraph-fixed's fixes applied first."""

from langgraph_fixed._mirror import mirror

mirror(__name__)

from langgraph.version import *  # noqa: E402, F403
