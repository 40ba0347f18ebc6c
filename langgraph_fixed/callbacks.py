"""``langgraph.callbacks``, with langgraph-fixed's fixes applied first."""

from langgraph_fixed._mirror import mirror

mirror(__name__)

from langgraph.callbacks import *  # noqa: E402, F403
