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


def _missing_framework(path: Path):
    """The framework a course notebook needs, if this environment lacks it (a one-framework install)."""
    from coursekit.course import NotebookId
    from coursekit.frameworks import available

    try:
        fw = NotebookId.parse(path.resolve().relative_to(ROOT)).framework
    except ValueError:
        return None
    return fw if fw is not None and not available(fw.key) else None


def pytest_ignore_collect(collection_path, config):
    """Notebooks of a framework that is not installed are not collected; the header says so. The scorecard
    is not collected by nbval either: tests/test_scorecard.py runs it once this run's lessons have saved."""
    if collection_path.suffix == ".ipynb" and _missing_framework(collection_path) is not None:
        return True
    if collection_path.resolve() == ROOT / "notebooks" / "scorecard.ipynb":
        return True
    return None


def _browser_header() -> list[str]:
    """One line when tests/test_browser.py will be skipped, saying what to install."""
    import runpy

    reason = runpy.run_path(str(ROOT / "tests" / "lab_browser.py"))["missing"]()
    return [f"coursekit: {reason}"] if reason else []


def pytest_report_header(config):
    from coursekit.course import FRAMEWORKS
    from coursekit.frameworks import available

    return [
        f"coursekit: {fw.title} is not installed here: its notebooks and tests are skipped (to run them: {fw.install})"
        for fw in FRAMEWORKS.values()
        if not available(fw.key)
    ] + _browser_header()


def pytest_itemcollected(item):
    item.add_marker(pytest.mark.xdist_group(_group(item)))


def pytest_collection_modifyitems(items):
    # Stable sorts: within a group the twins test comes last, and the scorecard's notebook test last of all,
    # so xdist hands it out when every lesson has been handed out (it then waits for the last ones to save).
    items.sort(
        key=lambda item: (
            item.path.name == "test_scorecard.py" and item.name.startswith("test_the_scorecard_notebook"),
            item.path.name == "test_twins.py",
        )
    )


# Every results file the notebooks write during this run must follow coursekit's schema. save_results
# already refuses a bad record; this also catches a file written by other means. Checked once, in the
# process that ran (or, under xdist, controlled) the session, after every notebook has finished.
_session_started = time.time()
_results_problems: list[str] = []


def pytest_sessionstart(session):
    global _session_started
    _session_started = time.time()
    if not hasattr(session.config, "workerinput"):  # results of an earlier run must not stand in for this one's
        for old in Path(os.environ["COURSEKIT_RESULTS_DIR"]).glob("*.json"):
            old.unlink()


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


# The frameworks as fixtures, for tests that take both in turn (parametrized by fixture name): a missing
# framework skips the test, with pytest's reason naming it.
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")
