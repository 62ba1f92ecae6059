"""Test-session settings shared by the unit tests and the notebooks nbval executes."""

import os
from pathlib import Path

# TensorFlow's C++ start-up logs would bury the test output. (Never TF_ENABLE_ONEDNN_OPTS=0: it
# switches off oneDNN and makes TensorFlow on CPU many times slower.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Notebooks save results as they run; a test run keeps them out of the learner's results/ folder.
os.environ.setdefault("COURSEKIT_RESULTS_DIR", str(Path(__file__).parent / "build" / "test-results"))
os.environ.setdefault("MPLBACKEND", "Agg")
