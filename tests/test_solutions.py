"""Every solution notebook runs, and every one of its checks passes."""

import pytest

from coursekit.course import course_notebooks
from helpers import ROOT, check_ids, execute_with_check_log, notebook_params

SOLUTIONS = [p for p in course_notebooks(ROOT) if p.parts[0] == "solutions"]


@pytest.mark.parametrize("rel", notebook_params(SOLUTIONS))
def test_solution_notebook_passes_every_check(rel, tmp_path):
    expected = check_ids(ROOT / rel)
    assert len(expected) >= 5, f"{rel}: a module has at least five exercises per framework"
    verdicts = execute_with_check_log(ROOT / rel, tmp_path / "checks.jsonl")
    assert [v["exercise"] for v in verdicts] == expected, f"{rel}: not every check ran"
    not_passed = [f"{v['exercise']}: {v['status']} ({v['message']})" for v in verdicts if v["status"] != "passed"]
    assert not not_passed, f"{rel}: a solutions notebook must solve every exercise:\n" + "\n".join(not_passed)
