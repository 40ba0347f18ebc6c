"""``langgraph.utils``, with langgraph-fixed's fixes applied first."""

from langgraph_fixed._mirror import mirror

mirror(__name__)

from langgraph.utils import *  # noqa: E402, F403
