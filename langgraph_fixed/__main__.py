"""``python -m langgraph_fixed doctor``."""

import sys

from langgraph_fixed.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports it
    sys.exit(main())
