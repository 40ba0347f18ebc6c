"""``python -m langgraph_fixed doctor``."""

import sys

from langgraph_fixed.cli import main

sys.exit(main())
