"""Test-session settings shared by the unit tests and the notebooks nbval executes."""

import os
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
