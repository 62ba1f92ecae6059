"""Test-session settings shared by the unit tests and the notebooks nbval executes."""

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent
# Notebooks save results as they run; a test run keeps them out of the learner's results/ folder.
os.environ.setdefault("COURSEKIT_RESULTS_DIR", str(ROOT / "build" / "test-results"))
os.environ.setdefault("MPLBACKEND", "Agg")


def _group(item: pytest.Item) -> str:
    """One xdist group per file (nbval runs a notebook's cells in order, on one worker), except that a
    module's two lessons and its twins test share one, so the test can read what the lessons saved."""
    path = Path(str(item.path)).resolve().relative_to(ROOT)
    if path.parts[0] == "notebooks" and len(path.parts) == 3:
        return f"lessons-{path.parts[1]}"
    callspec = getattr(item, "callspec", None)
    if path.name == "test_twins.py" and callspec is not None and "module" in callspec.params:
        return f"lessons-{callspec.params['module']}"
    return path.as_posix()


def pytest_itemcollected(item):
    item.add_marker(pytest.mark.xdist_group(_group(item)))


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name == "test_twins.py")  # stable: within a group, the twins test last


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
