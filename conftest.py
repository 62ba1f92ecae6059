"""Test-session settings shared by the unit tests and the notebooks nbval executes."""

import os
from pathlib import Path

# Notebooks save results as they run; a test run keeps them out of the learner's results/ folder.
os.environ.setdefault("COURSEKIT_RESULTS_DIR", str(Path(__file__).parent / "build" / "test-results"))
os.environ.setdefault("MPLBACKEND", "Agg")
