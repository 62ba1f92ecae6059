"""Test-session settings shared by the unit tests and the notebooks nbval executes."""

import os
import time
from pathlib import Path

import pytest

# TensorFlow's C++ start-up logs would bury the test output. (Never TF_ENABLE_ONEDNN_OPTS=0: it
# switches off oneDNN and makes TensorFlow on CPU many times slower.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Notebooks save results as they run; a test run keeps them out of the learner's results/ folder.
os.environ.setdefault("COURSEKIT_RESULTS_DIR", str(Path(__file__).parent / "build" / "test-results"))
os.environ.setdefault("MPLBACKEND", "Agg")

# Every results file the notebooks write during this run must follow coursekit's schema. save_results
# already refuses a bad record; this also catches a file written by other means. Checked once, in the
# process that ran (or, under xdist, controlled) the session, after every notebook has finished.
_session_started = time.time()
_results_problems: list[str] = []


def pytest_sessionstart(session):
    global _session_started
    _session_started = time.time()


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller checks once, at the end
        return
    from coursekit.results import load_record, results_dir

    folder = results_dir()
    written = [p for p in sorted(folder.glob("*.json")) if p.stat().st_mtime >= _session_started]
    _results_problems[:] = []
    for path in written:
        try:
            load_record(path)
        except ValueError as err:
            _results_problems.append(str(err))
    if _results_problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _results_problems:
        terminalreporter.section("results files that break coursekit's schema", red=True)
        for problem in _results_problems:
            terminalreporter.write_line(problem, red=True)
